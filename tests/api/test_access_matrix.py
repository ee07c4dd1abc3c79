"""Every route, every role: the status each gets follows the one access table in api/access.py."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import access_examples
import api_world
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.access import ACCESS
from api.routes import ROUTERS


def _all_examples() -> dict:
    """The base examples and every family's ``access_examples_<family>`` module beside them."""
    found = dict(access_examples.EXAMPLES)
    for module in pkgutil.iter_modules([str(Path(access_examples.__file__).parent)]):
        if module.name.startswith("access_examples_"):
            found.update(importlib.import_module(module.name).EXAMPLES)
    return found


EXAMPLES = _all_examples()
ROUTE_KEYS = sorted(f"{method} {route.path}" for router in ROUTERS for route in router.routes
                    if isinstance(route, APIRoute) for method in route.methods)
CALLERS = [*api_world.ROLE_USERS, None]  # None: no token


def test_every_route_has_an_access_entry_and_an_example() -> None:
    assert sorted(set(ROUTE_KEYS) - set(ACCESS)) == []
    assert sorted(set(ACCESS) - set(ROUTE_KEYS)) == [], "ACCESS names routes that do not exist"
    assert sorted(set(ROUTE_KEYS) - set(EXAMPLES)) == []


@pytest.mark.parametrize("role", CALLERS, ids=lambda r: r or "anonymous")
@pytest.mark.parametrize("key", ROUTE_KEYS)
def test_route_answers_each_role_as_the_table_says(client: TestClient, tokens: dict, world: dict, key: str,
                                                   role: str | None) -> None:
    method, _path = key.split(" ", 1)
    example = EXAMPLES[key](world)
    headers = dict(example.headers)
    if role is not None:
        headers["Authorization"] = f"Bearer {tokens[api_world.ROLE_USERS[role]]}"
    response = client.request(method, example.path, json=example.json, data=example.data, params=example.params,
                              headers=headers)
    allowed = ACCESS[key]
    if not allowed:
        expected = example.ok
    elif role is None:
        expected = 401
    else:
        expected = example.ok if role in allowed else 403
    assert response.status_code == expected, f"{key} as {role}: {response.text[:300]}"
