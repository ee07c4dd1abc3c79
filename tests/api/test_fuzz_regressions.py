"""Bugs the schema fuzzer (tests/fuzz) found, each pinned by a concrete request and its expected answer."""

from __future__ import annotations

from typing import Any

import coverage_town as town
import pytest
from fastapi.testclient import TestClient

from api.errors import ErrorBody, GeoReportError


def declared(api_app, method: str, path: str, status: str) -> dict[str, Any]:
    """The content the app's OpenAPI document declares for ``status`` of ``METHOD path``."""
    return api_app.openapi()["paths"][path][method.lower()]["responses"][status].get("content", {})


def media_type(response) -> str:
    return response.headers["content-type"].split(";")[0].strip()


# --- a blank or padded facility type was a KeyError (500) in siting and what-if ------------------------


@pytest.mark.parametrize("type_code", ["", "   "])
@pytest.mark.parametrize(("path", "extra"), [("/coverage/site", {}), ("/coverage/what-if", {"remove": 1})])
def test_a_blank_facility_type_is_refused_by_name(client: TestClient, as_user, path: str, extra: dict,
                                                  type_code: str) -> None:
    response = client.post(path, json={"type_code": type_code, "district_code": town.DISTRICT, **extra},
                           headers=as_user("facility"))
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_input" and body["details"] == {"field": "type_code"}
    assert body["message"].startswith(f"type_code: {type_code!r} is not a facility type; known: ")


def test_a_padded_facility_type_is_the_type_it_names(client: TestClient, as_user, world: dict) -> None:
    response = client.post("/coverage/what-if", json={"type_code": " kindergarten ", "district_code": town.DISTRICT,
                                                      "remove": world["F2"]}, headers=as_user("facility"))
    assert response.status_code == 200, response.text
    assert response.json()["type_code"] == "kindergarten"


# --- GeoJSON answers were sent as application/geo+json while the schema declared application/json ------


def test_a_patrol_track_is_declared_as_the_geojson_it_is(client: TestClient, as_user, world: dict,
                                                         api_app) -> None:
    response = client.get(f"/patrols/{world['patrols']['worker_a']}", headers=as_user("worker_a"))
    assert response.status_code == 200 and media_type(response) == "application/geo+json"
    assert list(declared(api_app, "GET", "/patrols/{patrol_id}", "200")) == ["application/geo+json"]


@pytest.mark.parametrize("path", ["/incidents", "/residents"])
def test_lists_declare_both_json_and_their_geojson_format(client: TestClient, as_user, api_app, path: str) -> None:
    as_json = client.get(path, headers=as_user("admin"))
    as_geojson = client.get(path, params={"format": "geojson"}, headers=as_user("admin"))
    assert (as_json.status_code, as_geojson.status_code) == (200, 200)
    assert (media_type(as_json), media_type(as_geojson)) == ("application/json", "application/geo+json")
    assert set(declared(api_app, "GET", path, "200")) == {"application/json", "application/geo+json"}


def test_the_csv_export_and_photos_declare_their_media_types(client: TestClient, as_user, api_app) -> None:
    export = client.get("/residents/export", headers=as_user("admin"))
    assert export.status_code == 200 and media_type(export) == "text/csv"
    assert list(declared(api_app, "GET", "/residents/export", "200")) == ["text/csv"]
    assert set(declared(api_app, "GET", "/incidents/{incident_id}/photos/{photo_id}", "200")) == {
        "image/jpeg", "image/png", "image/webp"}


# --- every operation declared FastAPI's {"detail": [...]} 422 body, which this API never sends ----------


def test_every_operation_declares_the_error_body_it_sends(api_app) -> None:
    document = api_app.openapi()
    assert "HTTPValidationError" not in document.get("components", {}).get("schemas", {})
    error_schema = ErrorBody.model_json_schema()
    # Open311 answers errors in GeoReport's own list format (issue 23).
    georeport = {"type": "array", "items": GeoReportError.model_json_schema()}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "422" not in responses, f"{method.upper()} {path}"
            schema = georeport if path.startswith("/open311/") else error_schema
            for status in ("4XX", "5XX"):
                assert responses[status]["content"] == {"application/json": {"schema": schema}}, (
                    f"{method.upper()} {path} {status}")


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "code"), [
    ("GET", "/grids/320199009009009", {}, 404, "not_found"),
    ("GET", "/buildings", {"params": {"limit": "many"}}, 422, "invalid_input"),
    ("POST", "/grids/merge", {"json": {"codes": []}}, 422, "invalid_input"),
    ("DELETE", "/grids", {}, 405, "method_not_allowed"),
])
def test_an_error_answer_is_the_declared_error_body(client: TestClient, as_user, method: str, path: str,
                                                    kwargs: dict, status: int, code: str) -> None:
    response = client.request(method, path, headers=as_user("admin"), **kwargs)
    assert response.status_code == status, response.text
    assert media_type(response) == "application/json"
    body = ErrorBody.model_validate(response.json())
    assert body.error == code and set(response.json()) == {"error", "message", "details"}


# --- a capacity HiGHS cannot take (1e15 places and up) was a 500 in capacity-aware siting -------------


def test_a_capacity_past_the_largest_facility_is_refused(client: TestClient, as_user) -> None:
    response = client.post("/coverage/site", json={"type_code": "elderly_daycare", "capacity": 4.06697509075607e16},
                           headers=as_user("facility"))
    assert response.status_code == 422, response.text
    assert response.json()["details"][0]["where"] == "body.capacity"
    assert response.json()["details"][0]["field"] == "capacity"  # named as a domain error names it
    largest = client.post("/coverage/site", json={"type_code": "elderly_daycare", "capacity": 1_000_000},
                          headers=as_user("facility"))
    assert largest.status_code == 200, largest.text


def test_siting_refuses_an_unsolvable_capacity_whoever_calls_it(db) -> None:
    from gis.errors import InvalidInput
    from gis.services import coverage as coverage_service

    with pytest.raises(InvalidInput, match="at most 1,000,000") as refused:
        coverage_service.suggest_sites(db, type_code="elderly_daycare", capacity=float("inf"))
    assert refused.value.details == {"field": "capacity"}


# --- a negative seed was a 500 (numpy takes only non-negative seeds) in plan suggestions --------------


@pytest.mark.parametrize(("path", "body"), [
    ("/plans/community-suggestions", {"street_code": town.STREET, "seed": -1052}),
    ("/plans/grid-suggestions", {"community_code": town.NORTH, "seed": -1}),
])
def test_a_negative_seed_is_refused(client: TestClient, as_user, path: str, body: dict) -> None:
    response = client.post(path, json=body, headers=as_user("planner"))
    assert response.status_code == 422, response.text
    assert response.json()["details"][0]["where"] == "body.seed"


def test_the_partition_services_refuse_a_negative_seed(db) -> None:
    from gis.errors import InvalidInput
    from gis.services import partition as partition_service
    from gis.settings import Settings

    with pytest.raises(InvalidInput, match="seed must be a non-negative integer, got -3"):
        partition_service.suggest_communities(db, Settings(), street_code="320199001", seed=-3)
    with pytest.raises(InvalidInput, match="^seed must be a non-negative integer"):
        partition_service.suggest_grids(db, Settings(), community_code="320199001001", seed=-3)


# --- statuses the routes answer that the schema did not declare ---------------------------------------


@pytest.mark.parametrize(("method", "path", "status"), [
    ("POST", "/coverage/runs", "202"),  # background: true (tests/api/test_jobs.py gets these 202s)
    ("POST", "/plans/grid-suggestions", "202"),
    ("POST", "/plans/community-suggestions", "202"),
    ("POST", "/incidents/{incident_id}/photos", "200"),  # the same photo again
])
def test_every_status_a_route_answers_is_declared(api_app, method: str, path: str, status: str) -> None:
    assert list(declared(api_app, method, path, status)) == ["application/json"]
