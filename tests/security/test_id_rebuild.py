"""Finding 1 of issue 23: a masked ID number next to a birth date gives the whole number back.

The mask keeps the first 6 and last 4 characters and hides exactly the 8 birth-date digits. The
attack: read a resident (list, detail, GeoJSON, CSV export, household members) and put the birth
date into the hidden digits. No record that carries a masked number may carry the birth date.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import idnumbers


def rebuild(masked: str, birth: str) -> str | None:
    """First 6 + birth date (YYYYMMDD) + last 4, when that passes the GB 11643 checksum."""
    candidate = masked[:6] + birth + masked[-4:]
    return candidate if idnumbers.check_digit(candidate[:17]) == candidate[17] else None


def birth_strings(session: Session) -> set[str]:
    """Every stored birth date, as ISO and as the 8 digits an ID number holds."""
    dates = [d for (d,) in session.execute(text("SELECT birth_date FROM resident WHERE birth_date IS NOT NULL"))]
    return {d.isoformat() for d in dates} | {d.strftime("%Y%m%d") for d in dates}


def test_no_route_that_shows_a_masked_id_shows_the_birth_date(client: TestClient, as_user, world: dict,
                                                              api_session: Session) -> None:
    # Store a real birth date under the ID's own date for one resident, so a rebuild would succeed.
    rid = world["residents"]["N"][0]
    api_session.execute(text("UPDATE resident SET birth_date = :d WHERE id = :id"),
                        {"d": dt.date(1980, 1, 1), "id": rid})
    births = birth_strings(api_session)
    worker = as_user("worker_a")
    listed = client.get("/residents", headers=worker)
    detail = client.get(f"/residents/{rid}", headers=worker)
    geojson = client.get("/residents", params={"format": "geojson"}, headers=worker)
    exported = client.get("/residents/export", headers=worker)
    for response in (listed, detail, geojson, exported):
        assert response.status_code == 200, response.text
    records = [*listed.json()["items"], detail.json(),
               *(f["properties"] for f in geojson.json()["features"])]
    assert records and all(r["id_number"] and "*" in r["id_number"] for r in records)
    for record in records:
        assert "birth_date" not in record
        assert record["age_band"] is not None and isinstance(record["age"], int)
    rows = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert rows and "出生日期" not in rows[0] and {"年龄", "年龄段", "身份证号(脱敏)"} <= set(rows[0])
    for text_body in (listed.text, detail.text, geojson.text, exported.text):
        assert not any(b in text_body for b in births)
    # The attack itself: with the birth date the answers give, no number comes back.
    rebuilt = [rebuild(r["id_number"], str(r.get("birth_date", "")).replace("-", ""))
               for r in records if len(str(r.get("birth_date", ""))) == 10]
    assert rebuilt == []


def test_household_members_carry_age_not_birth_date(client: TestClient, as_user, world: dict) -> None:
    worker = as_user("worker_a")
    households = client.get("/households", headers=worker).json()["items"]
    assert households
    one = client.get(f"/households/{households[0]['id']}", headers=worker)
    assert one.status_code == 200
    assert "birth_date" not in one.text and "age_band" in one.text
