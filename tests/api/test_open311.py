"""Open311 GeoReport v2 over the same cases: services, filing without a staff account, public answers
without personal data, open/closed status, and the api_key rule."""

from __future__ import annotations

import api_world
import coverage_town as town
import pytest
from fastapi.testclient import TestClient

BASE = "/open311/v2"


def latlong(x: float, y: float) -> dict[str, str]:
    pt = town._lonlat([town.p(x, y)])[0]
    return {"lat": repr(pt.y), "long": repr(pt.x)}


def file_request(client: TestClient, status: int = 201, **form: str):
    data = {"service_code": "E0101", **latlong(300, 60), "description": "小区门口垃圾没人清",
            "phone": "13987654321", "first_name": "张", **form}
    response = client.post(f"{BASE}/requests.json", data=data)
    assert response.status_code == status, response.text[:300]
    return response.json()


@pytest.fixture
def api_keys(api_app):
    original = api_app.state.settings
    api_app.state.settings = original.model_copy(update={"open311_api_keys": ["app-key-1"],
                                                         "open311_open_filing": False})
    try:
        yield
    finally:
        api_app.state.settings = original


def test_services_are_the_catalogue(client: TestClient) -> None:
    services = client.get(f"{BASE}/services.json").json()
    first = services[0]
    assert (first["service_code"], first["service_name"], first["group"]) == ("E0101", "暴露垃圾", "市容环境")
    assert first["metadata"] is False and first["type"] == "realtime"
    assert len({s["service_code"] for s in services}) == len(services) > 40


def test_a_citizen_files_without_an_account_and_follows_it_publicly(client: TestClient, as_user) -> None:
    (created,) = file_request(client)
    request_id = created["service_request_id"]
    (public,) = client.get(f"{BASE}/requests/{request_id}.json").json()
    assert (public["status"], public["service_code"], public["service_name"]) == ("open", "E0101", "暴露垃圾")
    assert public["status_notes"] == "reported (已上报)" and public["description"] == "小区门口垃圾没人清"
    assert public["agency_responsible"] == "北一网格"
    # No personal data: neither the phone (whole or masked) nor the name; the point rounded to 4 decimals.
    text = client.get(f"{BASE}/requests/{request_id}.json").text
    assert "13987654321" not in text and "****" not in text and "张" not in text
    expected = latlong(300, 60)
    assert public["lat"] == round(float(expected["lat"]), 4) and public["long"] == round(float(expected["long"]), 4)
    # Staff see the same case, filed by the pseudo-role citizen, routed to grid A, contact masked.
    staff = client.get(f"/incidents/{request_id}", headers=as_user("worker_a")).json()
    assert (staff["source"], staff["grid_code"], staff["reporter_contact"]) == ("open311", api_world.GRID_A,
                                                                                "139****4321")
    assert [(e["action"], e["actor_id"], e["actor_role"]) for e in staff["events"]] == [("report", None, "citizen")]


def test_status_maps_open_and_closed_and_lists_filter(client: TestClient, as_user) -> None:
    (created,) = file_request(client)
    request_id = created["service_request_id"]
    listed = client.get(f"{BASE}/requests.json", params={"status": "open"}).json()
    assert request_id in {r["service_request_id"] for r in listed}
    rejected = client.post(f"/incidents/{request_id}/actions", json={"action": "reject", "note": "重复"},
                           headers={**as_user("leader_a"), "If-Match": '"1"'})
    assert rejected.status_code == 200, rejected.text
    (public,) = client.get(f"{BASE}/requests/{request_id}.json").json()
    assert public["status"] == "closed" and public["status_notes"] == "rejected (不予立案)"
    assert request_id not in {r["service_request_id"] for r in
                              client.get(f"{BASE}/requests.json", params={"status": "open"}).json()}
    closed = client.get(f"{BASE}/requests.json", params={"status": "closed", "service_code": "E0101"}).json()
    assert request_id in {r["service_request_id"] for r in closed}
    by_id = client.get(f"{BASE}/requests.json", params={"service_request_id": f"{request_id},999999"}).json()
    assert [r["service_request_id"] for r in by_id] == [request_id]
    assert client.get(f"{BASE}/requests.json", params={"status": "pending"}).status_code == 422


def test_staff_descriptions_stay_private_and_a_second_filing_is_hinted(client: TestClient, as_user) -> None:
    staff = client.post("/incidents", json={"point": [float(latlong(100, 60)["long"]), float(latlong(100, 60)["lat"])],
                                            "category_code": "E0101", "description": "居民王某家门口"},
                        headers=as_user("worker_a")).json()["incident"]
    (public,) = client.get(f"{BASE}/requests/{staff['id']}.json").json()
    assert public["description"] is None and "王某" not in str(public)
    (repeat,) = file_request(client, **latlong(105, 60))
    assert f"#{staff['id']}" in repeat["service_notice"]


def test_bad_filings_are_refused(client: TestClient) -> None:
    # Errors in GeoReport's format: a list of {code, description}.
    [outside] = file_request(client, status=422, **latlong(300, 400))
    assert outside["code"] == 422
    assert "outside every grid" in outside["description"] and "北社区" in outside["description"]
    assert "E0101X" in file_request(client, status=422, service_code="E0101X")[0]["description"]
    assert "location" in client.post(f"{BASE}/requests.json", data={"service_code": "E0101"}).json()[0]["description"]
    assert client.get(f"{BASE}/requests/999999.json").status_code == 404


def test_with_api_keys_configured_filing_needs_one(client: TestClient, api_keys) -> None:
    [refused] = file_request(client, status=403)
    assert "api_key" in refused["description"] and refused["code"] == 403
    assert file_request(client, status=403, api_key="wrong")[0]["code"] == 403
    file_request(client, api_key="app-key-1")
    # Reading stays public.
    assert client.get(f"{BASE}/requests.json").status_code == 200
