"""Households per building: the review of doubtful estimates, and counts recorded by a person.

A recorded count always wins: it is stored with who set it, when and why, an audit row names
the change, and a re-import keeps it (``gis.services.districts.store_layers``).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, TypedDict

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import InvalidInput, NotFound, PermissionDenied
from gis.households import describe_reason, review_concerns
from gis.services import privacy
from gis.services.users import SYSTEM, Principal
from gis.settings import Settings


class BuildingFacts(TypedDict):
    """What every households answer says of its building."""

    building_id: int
    district_code: str
    osm_id: str | None
    name: str | None
    kind: str | None
    floors: int | None
    area_m2: float | None
    households: int


class ReviewedBuilding(BuildingFacts):
    """One estimated home of the review: its households, the estimate's reason and the concerns about it."""

    reason: str
    reason_text: str
    concerns: list[str]
    concerns_text: list[str]
    score: int


class HouseholdsReview(TypedDict):
    """The estimates most likely wrong (``buildings``, worst first), with the district's totals."""

    district_code: str | None
    estimated_households: int
    buildings_with_concerns: int
    households_with_concerns: int
    buildings: list[ReviewedBuilding]


class BuildingHouseholds(BuildingFacts):
    """A building's households, recorded or estimated, with why in words (English and Chinese)."""

    households_source: str
    reason: str | None
    reason_text: str | None
    reason_text_zh: str | None
    reason_detail: dict[str, Any]
    recorded_by: str | None
    recorded_at: str | None
    recorded_reason: str | None


# Concerns that say the building may be no home at all weigh more than size alone.
_STRONG = frozenset({"name_says_not_home", "context_says_not_home", "large_footprint"})
CONCERN_TEXT = {
    "name_says_not_home": "its name suggests it is not a home",
    "context_says_not_home": "it lies in a campus, hospital, commercial or similar area",
    "large_estimate": "a large estimate",
    "large_footprint": "a very large footprint",
    "floors_guessed": "floors not mapped (taken from neighbours or a default)",
}


def review_households(session: Session, settings: Settings, *, district_code: str | None = None,
                      top: int = 20) -> HouseholdsReview:
    """The estimated homes most likely wrong, worst first: each with its households, reason and concerns."""
    if top < 1:
        raise InvalidInput.for_field("top", f"must be at least 1; got {top}")
    rows = session.execute(text("""
        SELECT id, district_code, osm_id, name, kind, floors, area_m2, households, households_reason AS reason,
               households_reason_detail AS detail
        FROM building
        WHERE households_source = 'estimated' AND households > 0 AND NOT synthetic
          AND (CAST(:d AS text) IS NULL OR district_code = :d)"""), {"d": district_code}).mappings().all()
    if district_code is not None and not rows:
        held = session.scalar(text("SELECT count(*) FROM building WHERE district_code = :d"), {"d": district_code})
        if not held:
            raise NotFound(f"district {district_code} has no buildings; import it first (wangge import osm)")
    total = sum(int(r["households"]) for r in rows)
    found: list[ReviewedBuilding] = []
    for r in rows:
        # Rows estimated before reasons were stored (migration 0006) are judged as plain homes.
        code = r["reason"] or "home_default"
        detail = dict(r["detail"] or {})
        detail.setdefault("area_m2", float(r["area_m2"] or 0.0))
        concerns = review_concerns(households=int(r["households"]), code=code, detail=detail, name=r["name"],
                                   large_households=settings.review_large_households,
                                   large_footprint_m2=settings.large_footprint_m2)
        if not concerns:
            continue
        strong = sum(c in _STRONG for c in concerns)
        found.append({
            "building_id": int(r["id"]), "district_code": r["district_code"], "osm_id": r["osm_id"],
            "name": r["name"], "kind": r["kind"], "floors": r["floors"], "area_m2": r["area_m2"],
            "households": int(r["households"]), "reason": code, "reason_text": describe_reason(code, detail),
            "concerns": concerns, "concerns_text": [CONCERN_TEXT[c] for c in concerns],
            "score": int(r["households"]) * (1 + 2 * strong + len(concerns) - strong),
        })
    found.sort(key=lambda b: (-b["score"], -b["households"], b["building_id"]))
    listed = found[:top]
    return {
        "district_code": district_code,
        "estimated_households": total,
        "buildings_with_concerns": len(found),
        "households_with_concerns": sum(b["households"] for b in found),
        "buildings": listed,
    }


def building_households(session: Session, building_id: int) -> BuildingHouseholds:
    """One building's households: the count, recorded or estimated, and why, in words."""
    row = _building(session, building_id, lock=False)
    return _public(row)


def set_households(session: Session, *, building_id: int, households: int, by: str | None = None,
                   reason: str, principal: Principal = SYSTEM, request_id: str | None = None) -> BuildingHouseholds:
    """Record a building's households (a person's count wins over any estimate), with who and why; audited."""
    if isinstance(households, bool) or not isinstance(households, int) or households < 0:
        raise InvalidInput.for_field("households", f"must be a whole number 0 or more; got {households!r}")
    if households > 100_000:
        raise InvalidInput.for_field("households", f"must be at most 100000 for one building; got {households}")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput.for_field("reason", "is required for a recorded household count "
                                     "(e.g. '2026 door-to-door count')")
    who = (by or principal.username or "").strip()
    if not who:
        raise InvalidInput.for_field("by", "must name who recorded the count")
    row = _building(session, building_id, lock=True)
    if principal.district_code and row["district_code"] != principal.district_code:
        raise PermissionDenied(f"{principal.username} works in district {principal.district_code} and may not edit "
                               f"building {building_id} of district {row['district_code']}")
    before = {"households": int(row["households"]), "source": row["households_source"],
              "reason": row["households_reason"]}
    detail = dict(row["households_reason_detail"] or {})
    if row["households_source"] == "estimated" and row["households_reason"]:
        # Keep what the estimate said, so the record can be compared with it later.
        detail = {**detail, "estimate": int(row["households"]), "estimate_reason": row["households_reason"]}
    detail.update(by=who, why=reason)
    now = dt.datetime.now(dt.UTC)
    session.execute(text("""
        UPDATE building SET households = :h, households_source = 'recorded', households_reason = 'recorded',
               households_reason_detail = CAST(:detail AS jsonb), households_recorded_by = :by,
               households_recorded_at = :at, households_recorded_reason = :why
        WHERE id = :id"""), {"h": households, "detail": json.dumps(detail, ensure_ascii=False), "by": who,
                             "at": now, "why": reason, "id": building_id})
    privacy.record_change(session, principal, entity="building", entity_id=building_id, action="set_households",
                          reason=reason, district_code=row["district_code"], request_id=request_id,
                          detail={"before": before, "after": {"households": households, "source": "recorded"},
                                  "by": who})
    return _public(_building(session, building_id, lock=False))


def _building(session: Session, building_id: int, *, lock: bool) -> Any:
    row = session.execute(text(f"""
        SELECT id, district_code, osm_id, name, kind, floors, area_m2, households, households_source,
               households_reason, households_reason_detail, households_recorded_by, households_recorded_at,
               households_recorded_reason
        FROM building WHERE id = :id {'FOR UPDATE' if lock else ''}"""), {"id": building_id}).mappings().first()
    if row is None:
        raise NotFound(f"building {building_id} does not exist")
    return row


def _public(row: Any) -> BuildingHouseholds:
    code = row["households_reason"] or ("recorded" if row["households_source"] == "recorded" else None)
    detail = row["households_reason_detail"] or {}
    recorded_at = row["households_recorded_at"]
    return {
        "building_id": int(row["id"]), "district_code": row["district_code"], "osm_id": row["osm_id"],
        "name": row["name"], "kind": row["kind"], "floors": row["floors"], "area_m2": row["area_m2"],
        "households": int(row["households"]), "households_source": row["households_source"],
        "reason": code, "reason_text": describe_reason(code, detail) if code else None,
        "reason_text_zh": describe_reason(code, detail, lang="zh") if code else None,
        "reason_detail": detail,
        "recorded_by": row["households_recorded_by"],
        "recorded_at": recorded_at.isoformat() if recorded_at is not None else None,
        "recorded_reason": row["households_recorded_reason"],
    }
