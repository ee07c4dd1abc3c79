"""Patrol retention: the oldest patrol that may be read, and the purge of older ones (with one audit row)."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypedDict, cast

from sqlalchemy import CursorResult, text
from sqlalchemy.orm import Session

from gis.errors import InvalidInput
from gis.services import privacy
from gis.services.users import SYSTEM, Principal


class PurgeResult(TypedDict):
    """What a purge deleted (or, dry, would delete): patrols and points, per district; the audit row's id."""

    retention_days: int
    cutoff: str
    dry_run: bool
    patrols: int
    points: int
    by_district: dict[str, dict[str, Any]]
    audit_id: int | None


def retention_cutoff(retention_days: int | None, *, now: dt.datetime | None = None) -> dt.datetime | None:
    """The oldest start a patrol may have to be read (None: no retention given)."""
    if retention_days is None:
        return None
    if retention_days < 1:
        raise InvalidInput(f"patrol_retention_days: 1 or more, got {retention_days}",
                           details={"field": "patrol_retention_days"})
    return (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=retention_days)



def purge_patrols(session: Session, *, retention_days: int, now: dt.datetime | None = None, dry_run: bool = False,
                  principal: Principal = SYSTEM) -> PurgeResult:
    """Delete patrols (and their points) that started more than ``retention_days`` ago; one audit row.

    The cut-off matches the read side (gis.services.cases): what it no longer shows is what goes.
    ``dry_run`` counts without deleting (and writes no audit row).
    """
    if not isinstance(retention_days, int) or retention_days < 1:
        raise InvalidInput(f"retention_days: 1 or more, got {retention_days!r}", details={"field": "retention_days"})
    cutoff = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=retention_days)
    rows = session.execute(text("""
        SELECT p.district_code, count(*) AS patrols, COALESCE(sum(pp.points), 0) AS points, min(p.started_at) AS oldest
        FROM patrol p LEFT JOIN (SELECT patrol_id, count(*) AS points FROM patrol_point GROUP BY patrol_id) pp
          ON pp.patrol_id = p.id
        WHERE p.started_at < :cutoff GROUP BY p.district_code ORDER BY p.district_code"""),
        {"cutoff": cutoff}).all()
    by_district = {r.district_code: {"patrols": int(r.patrols), "points": int(r.points),
                                     "oldest": r.oldest.isoformat()} for r in rows}
    result = PurgeResult(retention_days=retention_days, cutoff=cutoff.isoformat(), dry_run=dry_run,
                         patrols=sum(d["patrols"] for d in by_district.values()),
                         points=sum(d["points"] for d in by_district.values()), by_district=by_district,
                         audit_id=None)
    if dry_run:
        return result
    with session.begin_nested():
        deleted = cast(CursorResult[Any], session.execute(text("DELETE FROM patrol WHERE started_at < :cutoff"),
                                                          {"cutoff": cutoff})).rowcount
        if deleted != result["patrols"]:  # a concurrent upload or purge: report what was really deleted
            result["patrols"] = deleted
        audit = privacy.record_change(
            session, principal, entity="patrol", entity_id=f"started before {cutoff.date().isoformat()}",
            action="purge", district_code=next(iter(by_district)) if len(by_district) == 1 else None,
            detail={"retention_days": retention_days, "cutoff": cutoff.isoformat(), "patrols": result["patrols"],
                    "points": result["points"], "by_district": by_district})
    result["audit_id"] = audit.id
    return result
