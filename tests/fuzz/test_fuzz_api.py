"""Schemathesis fuzzing of the whole API against its own OpenAPI schema, as each role and anonymously.

Every operation is fuzzed by every caller (each role of ``api_world.ROLE_USERS``, and no token) on
a small derandomized budget of generated requests, valid and invalid. Each response must not be a
server error, must have a status the schema declares for the operation, must match the schema
declared for that status and must carry a content type declared for it (every 4xx and 5xx is
declared as the one error body, api.errors.ErrorBody); a caller the access table refuses must
never get a success.

Budget (``pytest tests/fuzz``: about three minutes on two cores):

- the admin, whom the access table lets call every operation, gets the schema's examples,
  Schemathesis' coverage phase (boundary values, missing and wrongly typed parameters) and
  ``MAX_EXAMPLES`` generated cases per operation;
- every other caller the access table allows gets ``MAX_EXAMPLES`` generated cases: input
  validation is the same for every caller, so what differs is the services' grid scoping;
- a caller the table refuses gets ``REFUSED_EXAMPLES``: the request is refused before its
  parameters are read, so a few cases show that nothing reaches past the refusal.

Random ids and codes rarely name a row of the world, so generated path, query and body values
are swapped, half of the time, for ones that do (``KNOWN``): the requests then reach the code
that reads and writes real rows. Shrinking is off: a failure is reported as found, and with
``derandomize`` the same run finds it again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import api_world
import coverage_town as town
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.generation.hypothesis.builder import ApiOperationMark
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.access import ACCESS
from api.app import openapi_document
from gis.settings import Settings

MAX_EXAMPLES = 6  # generated cases per operation and allowed caller (fewer where the inputs run out)
REFUSED_EXAMPLES = 2  # generated cases per operation and refused caller
CALLERS: list[str | None] = [*api_world.ROLE_USERS, None]  # None: no token
CHECKS: list[CheckFunction] = [not_a_server_error, status_code_conformance, response_schema_conformance,
                               content_type_conformance]
FUZZ_SETTINGS: dict[str, Any] = dict(derandomize=True, database=None, deadline=None,
                                     suppress_health_check=list(HealthCheck))


# Built without a database, so that collecting the tests needs none.
SCHEMA = schemathesis.openapi.from_dict(
    openapi_document(Settings(database_url=None, secret_key=api_world.SECRET)),
    config=schemathesis.Config.from_dict({"phases": {"stateful": {"enabled": False}}}))


# --- values that name rows of the world -----------------------------------------------------------

# Parameter or field name -> values naming rows of the world (or geometries in it). Filled from the
# ``world`` fixture before any case is drawn; ``KNOWN_CODES`` narrows ``code`` to the path's level.
KNOWN: dict[str, list[Any]] = {}
KNOWN_CODES = {"/streets/": [town.STREET], "/communities/": [town.NORTH, town.SOUTH],
               "/grids/": [api_world.GRID_A, api_world.GRID_B, api_world.GRID_C]}


def town_geometries() -> dict[str, Any]:
    """GeoJSON in the town (lon/lat): a point, grid A redrawn, a bow-tie, a line across grid A, a tiny line."""
    from shapely.geometry import LineString, Polygon, box, mapping

    x0, y0 = town.X0, town.Y0
    point, redrawn, bowtie, across, stub = town._lonlat([
        town.p(300, 60), box(x0 - 100, y0 - 100, x0 + 420, y0 + 300),
        Polygon([(x0, y0), (x0 + 300, y0 + 200), (x0 + 300, y0), (x0, y0 + 200)]),
        LineString([(x0 + 150, y0 - 150), (x0 + 150, y0 + 350)]), LineString([(x0 + 150, y0), (x0 + 150, y0 + 1)])])
    return {"point": [point.x, point.y], "geometries": [mapping(g) for g in (point, redrawn, bowtie)],
            "lines": [mapping(across), mapping(stub)]}


def known_values(world: dict[str, Any]) -> dict[str, list[Any]]:
    from gis.cases.workflow import ACTIONS
    from gis.db.models import ROLES

    grids = [api_world.GRID_A, api_world.GRID_B, api_world.GRID_C]
    users = sorted(world["users"].values())
    buildings = [world[name] for name in "NRQ"]
    residents = sorted(r for ids in world["residents"].values() for r in ids)
    shapes = town_geometries()
    return {
        "code": [*grids, town.NORTH, town.SOUTH, town.STREET],
        "grid_code": grids, "to_grid": grids, "codes": [grids[:2]], "scope_code": [town.NORTH, *grids],
        "versions": [{code: 1 for code in grids}],
        "community_code": [town.NORTH, town.SOUTH], "street_code": [town.STREET], "district_code": [town.DISTRICT],
        "type_code": ["kindergarten", "elderly_daycare"], "types": [["kindergarten"]],
        "user_id": users, "worker_id": users, "handler_id": users, "role": sorted(ROLES),
        "building_id": buildings, "building_ids": [buildings[:1]],
        "facility_id": [world["F1"], world["F2"]], "remove": [world["F1"]],
        "resident_id": residents, "household_id": sorted(world["households"].values()),
        "patrol_id": sorted(world["patrols"].values()),
        "plan_id": [world["plan"]], "other_id": [world["plan"]],
        "action": sorted(ACTIONS), "category_code": ["E0101"], "service_code": ["E0101"],
        "geometry": shapes["geometries"], "line": shapes["lines"],
        "point": [shapes["point"]], "position": [shapes["point"]], "add": [shapes["point"]],
        "candidates": [[shapes["point"]]],
        "version": [1], "If-Match": ['"1"'],
        # A reason the personal-data routes accept, so that half the cases get past the 428 to the records.
        "X-Access-Reason": [api_world.REASON_HEADER["X-Access-Reason"]],
    }


@pytest.fixture(scope="module", autouse=True)
def known(world: dict[str, Any]) -> Iterator[dict[str, list[Any]]]:
    KNOWN.update(known_values(world))
    yield KNOWN
    KNOWN.clear()


def _with_known(context: schemathesis.HookContext, value: Any) -> st.SearchStrategy:
    """``value`` as generated, or with each field that has known values set to one of them."""
    if not isinstance(value, dict) or not any(key in KNOWN for key in value):
        return st.just(value)
    path = context.operation.path if context.operation is not None else ""
    known = dict(KNOWN)
    for prefix, codes in KNOWN_CODES.items():
        if path.startswith(prefix):
            known["code"] = codes
    swapped = st.fixed_dictionaries({key: st.sampled_from(known[key]) if key in known else st.just(field)
                                     for key, field in value.items()})
    return st.one_of(st.just(value), swapped)


for _container in ("path_parameters", "query", "headers", "body"):
    SCHEMA.hook(f"flatmap_{_container}")(_with_known)


# --- callers ------------------------------------------------------------------------------------


def is_allowed(operation_key: str, caller: str | None) -> bool:
    """Whether the access table lets ``caller`` call the operation (public: everyone)."""
    roles = ACCESS[operation_key]
    return not roles or (caller is not None and caller in roles)


def operation_key(operation: schemathesis.APIOperation) -> str:
    return f"{operation.method.upper()} {operation.path}"


# Which callers each fuzz test is for; a test is collected only for operations with at least one.
CALLER_GROUPS: dict[str, Callable[[str, str | None], bool]] = {
    "admin": lambda _key, caller: caller == "admin",
    "allowed": lambda key, caller: caller != "admin" and is_allowed(key, caller),
    "refused": lambda key, caller: not is_allowed(key, caller),
}


def callers(group: str, key: str) -> list[str | None]:
    return [caller for caller in CALLERS if CALLER_GROUPS[group](key, caller)]


def operations_with(group: str) -> schemathesis.BaseSchema:
    """The schema narrowed to the operations that have callers in ``group``."""
    return SCHEMA.include(lambda ctx: bool(callers(group, operation_key(ctx.operation))))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize each fuzz test, per operation, with the callers of its group (``caller_group``)."""
    group = getattr(metafunc.function, "caller_group", None)
    if group is None:
        return
    operation = ApiOperationMark.get(metafunc.function)
    assert operation is not None, "schemathesis no longer marks its tests with their operation"
    found = callers(group, operation_key(operation))
    metafunc.parametrize("caller", found, ids=[caller or "anonymous" for caller in found])


def for_callers(group: str) -> Callable:
    def mark(test: Callable) -> Callable:
        test.caller_group = group  # type: ignore[attr-defined]
        return test
    return mark


def call_and_check(case: schemathesis.Case, app: Callable, tokens: dict[str, str], caller: str | None):
    headers = {"Authorization": f"Bearer {tokens[caller]}"} if caller else {}
    response = case.call(app=app, headers=headers)
    case.validate_response(response, checks=CHECKS, headers=headers)
    return response


# --- the tests ----------------------------------------------------------------------------------


def test_the_fuzzed_schema_is_the_apps_own(fuzz_app: FastAPI) -> None:
    assert SCHEMA.raw_schema == fuzz_app.openapi()


def test_the_admin_may_call_every_operation() -> None:
    assert all(is_allowed(key, "admin") for key in ACCESS)  # so fuzzing as admin reaches every operation


@operations_with("admin").parametrize()
@for_callers("admin")
@settings(**FUZZ_SETTINGS, max_examples=MAX_EXAMPLES, phases=[Phase.explicit, Phase.generate])
def test_admin_fuzz(case: schemathesis.Case, caller: str, fuzz_target: Callable, fuzz_tokens: dict[str, str]) -> None:
    call_and_check(case, fuzz_target, fuzz_tokens, caller)


@operations_with("allowed").parametrize()
@for_callers("allowed")
@settings(**FUZZ_SETTINGS, max_examples=MAX_EXAMPLES, phases=[Phase.generate])
def test_allowed_caller_fuzz(case: schemathesis.Case, caller: str | None, fuzz_target: Callable,
                             fuzz_tokens: dict[str, str]) -> None:
    call_and_check(case, fuzz_target, fuzz_tokens, caller)


@operations_with("refused").parametrize()
@for_callers("refused")
@settings(**FUZZ_SETTINGS, max_examples=REFUSED_EXAMPLES, phases=[Phase.generate])
def test_refused_caller_fuzz(case: schemathesis.Case, caller: str | None, fuzz_target: Callable,
                             fuzz_tokens: dict[str, str]) -> None:
    response = call_and_check(case, fuzz_target, fuzz_tokens, caller)
    assert 400 <= response.status_code < 500, f"{case.operation.label} as {caller}: {response.status_code}"
