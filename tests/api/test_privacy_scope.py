"""Grid scope across every endpoint that can return residents: worker_a (grid A) gets none of grid B.

A table, one row per way of asking: add a row when a new endpoint can return residents (tiles,
new exports...). A row is a request and a reader that turns the response into the resident ids
it discloses. Every row runs twice: as worker_a, who must get no resident of grid B (and only
residents of grid A), and as admin, who must get grid B's residents from the same request; the
admin run proves that the row could see a leak if there were one.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import api_world
import pytest
from fastapi.testclient import TestClient


@dataclass(frozen=True)
class ScopeCase:
    """One request that could disclose residents, and how to read resident ids from its response."""

    name: str
    path: Callable[[dict], str]
    disclosed: Callable[[Any, dict], set[int]]
    params: Callable[[dict], dict[str, Any]] = field(default=lambda w: {})


def _items(response: Any, _world: dict) -> set[int]:
    return {item["id"] for item in response.json()["items"]} if response.status_code == 200 else set()


def _features(response: Any, _world: dict) -> set[int]:
    return {f["id"] for f in response.json()["features"]} if response.status_code == 200 else set()


def _one(response: Any, _world: dict) -> set[int]:
    return {response.json()["id"]} if response.status_code == 200 else set()


def _csv(response: Any, _world: dict) -> set[int]:
    if response.status_code != 200:
        return set()
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    return {int(r[0]) for r in rows[1:]}


def _households(response: Any, world: dict) -> set[int]:
    """Households disclose the people who live in them: their residents' ids."""
    if response.status_code != 200:
        return set()
    body = response.json()
    households = [body] if "residents" in body else body["items"]
    members = {world["households"][b]: set(world["residents"][b]) for b in "NQR"}
    return set().union(*(members[h["id"]] for h in households)) if households else set()


B = api_world.GRID_B
CASES = [
    ScopeCase("list", lambda w: "/residents", _items),
    ScopeCase("list filtered to grid B", lambda w: "/residents", _items, lambda w: {"grid_code": B}),
    ScopeCase("search by name", lambda w: "/residents", _items, lambda w: {"q": "居民Q"}),
    ScopeCase("search by tag", lambda w: "/residents", _items, lambda w: {"tag": "elderly_alone"}),
    ScopeCase("search by age", lambda w: "/residents", _items, lambda w: {"min_age": 60}),
    ScopeCase("filter by B's building", lambda w: "/residents", _items, lambda w: {"building_id": w["Q"]}),
    ScopeCase("filter by B's household", lambda w: "/residents", _items,
              lambda w: {"household_id": w["households"]["Q"]}),
    ScopeCase("detail of a B resident", lambda w: f"/residents/{w['residents']['Q'][0]}", _one),
    ScopeCase("residents of B's building", lambda w: f"/buildings/{w['Q']}/residents", _items),
    ScopeCase("households", lambda w: "/households", _households),
    ScopeCase("households filtered to grid B", lambda w: "/households", _households, lambda w: {"grid_code": B}),
    ScopeCase("detail of B's household", lambda w: f"/households/{w['households']['Q']}", _households),
    ScopeCase("CSV export", lambda w: "/residents/export", _csv),
    ScopeCase("CSV export filtered to grid B", lambda w: "/residents/export", _csv, lambda w: {"grid_code": B}),
    ScopeCase("GeoJSON", lambda w: "/residents", _features, lambda w: {"format": "geojson"}),
    ScopeCase("GeoJSON filtered to grid B", lambda w: "/residents", _features,
              lambda w: {"format": "geojson", "grid_code": B}),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_grid_a_worker_gets_no_resident_of_grid_b(client: TestClient, as_user, world: dict,
                                                    case: ScopeCase) -> None:
    response = client.get(case.path(world), params=case.params(world), headers=as_user("worker_a"))
    assert response.status_code in (200, 404), response.text[:300]
    disclosed = case.disclosed(response, world)
    assert disclosed.isdisjoint(world["residents"]["Q"]), f"{case.name}: grid B residents {disclosed}"
    assert disclosed <= set(world["residents"]["N"]), f"{case.name}: residents outside grid A {disclosed}"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_the_same_request_as_admin_does_return_grid_b(client: TestClient, as_user, world: dict,
                                                      case: ScopeCase) -> None:
    response = client.get(case.path(world), params=case.params(world), headers=as_user("admin"))
    assert response.status_code == 200, response.text[:300]
    assert case.disclosed(response, world) & set(world["residents"]["Q"]), case.name


def test_the_worker_of_grid_b_gets_grid_b_and_nothing_of_grid_a(client: TestClient, as_user, world: dict) -> None:
    for case in CASES:
        response = client.get(case.path(world), params=case.params(world), headers=as_user("worker_b"))
        disclosed = case.disclosed(response, world)
        assert disclosed <= set(world["residents"]["Q"]), f"{case.name}: {disclosed}"
