"""Communities split and merged over HTTP: the new part's code is provisional until a district user confirms it."""

from __future__ import annotations

import coverage_town as town
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session


def test_split_then_confirm_the_new_code_then_merge_back(client: TestClient, as_user, api_session: Session) -> None:
    x0, y0, x1, y1 = api_session.execute(text(
        "SELECT ST_XMin(g), ST_YMin(g), ST_XMax(g), ST_YMax(g) FROM (SELECT ST_Envelope(geom) AS g FROM community "
        "WHERE code = :c AND valid_to IS NULL) e"), {"c": town.NORTH}).one()
    ym = (y0 + y1) / 2
    line = {"type": "LineString", "coordinates": [[x0 - 0.001, ym], [x1 + 0.001, ym]]}
    planner = as_user("planner")
    split = client.post(f"/communities/{town.NORTH}/split", json={"line": line, "reason": "新建小区", "name": "新社区"},
                        headers={**planner, "If-Match": '"1"'})
    assert split.status_code == 200, split.text
    new = split.json()["new_codes"][0]
    assert new.startswith(town.STREET) and 1 <= int(new[-3:]) <= 199
    assert split.json()["code_status"] == {new: "provisional"}
    assert client.post(f"/communities/{town.NORTH}/split", json={"line": line, "reason": "again"},
                       headers={**planner, "If-Match": '"1"'}).status_code == 409
    assert client.post(f"/communities/{town.NORTH}/split", json={"line": line, "reason": "x"},
                       headers=as_user("worker_a")).status_code == 403

    confirmed = client.post(f"/community-codes/{new}/confirm", json={"note": "统计局发文"}, headers=as_user("admin"))
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "confirmed" and confirmed.json()["confirmed_by"] == "admin"

    merged = client.post("/communities/merge", json={"codes": [town.NORTH, new], "reason": "撤并",
                                                     "versions": {town.NORTH: 2, new: 1}}, headers=planner)
    assert merged.status_code == 200, merged.text
    assert merged.json()["retired"] == [new] and merged.headers["etag"] == '"3"'
