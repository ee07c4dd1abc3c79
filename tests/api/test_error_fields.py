"""The API names a bad input by its field in ``details.field`` (the CLI's side: tests/cli/test_error_fields.py)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient


def test_a_bad_value_names_the_field_in_details(client: TestClient, as_user: Callable, world: dict) -> None:
    # The same bad value as the CLI test: a party group of a building and a grid at once.
    response = client.post("/party/orgs", json={"kind": "building_group", "building_id": world["N"],
                                                "grid_code": "320102001001001"}, headers=as_user("admin"))
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["details"]["field"] == "building_id", body
    assert "building_id: a party group needs exactly one of building_id and grid_code" in body["message"], body
