"""Households per building against the real database: review, recorded counts (who, why, audit) that
survive a re-import, and the import's guards (overlapping districts, province, dropped facilities)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from gis.services import districts as district_service
from gis.services import households as household_service
from gis.services.users import Principal
from gis.settings import Settings

REPO = Path(__file__).resolve().parents[2]
NANJING = REPO / "data" / "osm" / "cn_nanjing_xinjiekou_2021.osm"


@pytest.fixture
def nanjing(db: Session) -> dict:
    return district_service.import_osm(db, NANJING, district_code="320102", name="玄武区", settings=Settings())


def _building(db: Session, **where: object) -> dict:
    clause = " AND ".join(f"{k} = :{k}" for k in where)
    return dict(db.execute(text(f"SELECT * FROM building WHERE {clause} ORDER BY id LIMIT 1"), where).mappings().one())


def test_every_stored_estimate_has_a_reason_and_the_underground_mall_none(db: Session, nanjing: dict) -> None:
    missing = db.scalar(text("SELECT count(*) FROM building WHERE district_code = '320102' AND households_reason "
                             "IS NULL"))
    assert missing == 0
    mall = db.execute(text("SELECT households, households_reason FROM building WHERE name = '新街口'")).all()
    assert mall == [(0, "underground"), (0, "underground")]
    assert nanjing["warnings"] == []  # Nanjing data under a Jiangsu code, facilities kept
    review = nanjing["review"]
    assert 0 < len(review["buildings"]) <= 5 and review["buildings_with_concerns"] >= len(review["buildings"])
    first = review["buildings"][0]
    assert first["households"] > 0 and first["concerns"] and first["reason_text"]


def test_review_lists_the_doubtful_worst_first(db: Session, nanjing: dict) -> None:
    report = household_service.review_households(db, Settings(), district_code="320102", top=50)
    scores = [b["score"] for b in report["buildings"]]
    assert scores == sorted(scores, reverse=True)
    assert report["estimated_households"] == nanjing["households"]
    # A made-up doubtful case: a home named like a teaching building is listed with that concern.
    db.execute(text("UPDATE building SET name = '第六教学楼', households = 999 WHERE id = :id"),
               {"id": report["buildings"][-1]["building_id"]})
    top = household_service.review_households(db, Settings(), district_code="320102", top=1)["buildings"][0]
    assert top["name"] == "第六教学楼" and "name_says_not_home" in top["concerns"]
    with pytest.raises(NotFound, match="district 990999 has no buildings"):
        household_service.review_households(db, Settings(), district_code="990999")
    with pytest.raises(InvalidInput, match="^top must be at least 1"):
        household_service.review_households(db, Settings(), top=0)


def test_a_recorded_count_wins_keeps_who_and_why_and_survives_a_reimport(db: Session, nanjing: dict) -> None:
    b = _building(db, district_code="320102", households_reason="home_default")
    result = household_service.set_households(db, building_id=b["id"], households=37, by="王网格员",
                                              reason="2026 入户核查")
    assert (result["households"], result["households_source"], result["reason"]) == (37, "recorded", "recorded")
    assert result["recorded_by"] == "王网格员" and result["recorded_reason"] == "2026 入户核查"
    assert result["reason_detail"]["estimate"] == b["households"]
    assert result["reason_text"].startswith("recorded count (by 王网格员: 2026 入户核查)")
    audit = db.execute(text("SELECT action, entity_id, reason, detail FROM audit_log WHERE entity = 'building' "
                            "ORDER BY id DESC LIMIT 1")).one()
    assert audit[:3] == ("set_households", str(b["id"]), "2026 入户核查")
    assert audit[3]["before"]["households"] == b["households"] and audit[3]["after"]["households"] == 37

    again = district_service.import_osm(db, NANJING, district_code="320102", name="玄武区", settings=Settings(),
                                        replace=True)
    assert again["recorded_counts_kept"] == 1
    kept = _building(db, district_code="320102", osm_id=b["osm_id"])
    assert (kept["households"], kept["households_source"], kept["households_recorded_by"]) == (37, "recorded",
                                                                                               "王网格员")
    assert kept["households_reason_detail"]["estimate"] == b["households"]
    # Recorded counts are not reviewed.
    review = household_service.review_households(db, Settings(), district_code="320102", top=500)
    assert kept["id"] not in {x["building_id"] for x in review["buildings"]}


def test_recording_is_checked_and_scoped(db: Session, nanjing: dict) -> None:
    b = _building(db, district_code="320102")
    with pytest.raises(InvalidInput, match="reason is required"):
        household_service.set_households(db, building_id=b["id"], households=3, by="wang", reason=" ")
    with pytest.raises(InvalidInput, match="0 or more"):
        household_service.set_households(db, building_id=b["id"], households=-1, by="wang", reason="x")
    with pytest.raises(NotFound, match="building 0 does not exist"):
        household_service.set_households(db, building_id=0, households=3, by="wang", reason="x")
    elsewhere = Principal(user_id=0, username="li", role="district_planner", district_code="320104")
    with pytest.raises(PermissionDenied, match="district 320104 and may not edit building"):
        household_service.set_households(db, building_id=b["id"], households=3, reason="x", principal=elsewhere)


def test_the_same_extract_under_a_second_code_is_refused_unless_allowed(db: Session, nanjing: dict) -> None:
    with pytest.raises(Conflict, match=r"allow_overlap: .*overlaps district 320102 \(玄武区\)"), db.begin_nested():
        district_service.import_osm(db, NANJING, district_code="320105", name="建邺区", settings=Settings())
    assert db.scalar(text("SELECT count(*) FROM building WHERE district_code = '320105'")) == 0
    report = district_service.import_osm(db, NANJING, district_code="320105", name="建邺区", settings=Settings(),
                                         allow_overlap=True)
    assert any("overlaps district 320102" in w and "allowed" in w for w in report["warnings"])


def test_data_far_from_its_province_is_named(db: Session) -> None:
    report = district_service.import_osm(db, NANJING, district_code="110101", name="东城区", settings=Settings())
    [warning] = [w for w in report["warnings"] if "province" in w or "北京" in w]
    assert "district 110101 is in 北京" in warning and "江苏 (32)" in warning


def test_an_import_that_keeps_no_facility_says_why(db: Session) -> None:
    db.execute(text("DELETE FROM facility_type"))  # as after a bare migration before the fix
    report = district_service.import_osm(db, NANJING, district_code="320102", name="玄武区", settings=Settings())
    assert report["facilities"] == 0
    [warning] = report["warnings"]
    assert "none of the" in warning and "facility catalogue is empty" in warning and "wangge db migrate" in warning
