"""Data quality of the registers per grid and community: households recorded vs estimated, unplaced addresses."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any, TypedDict

from sqlalchemy import text
from sqlalchemy.orm import Session


class Quality(TypedDict):
    """The data quality of one grid or community."""

    households_recorded: int
    households_estimated: int
    recorded_share: float | None
    residents_per_household: float | None
    unmatched_addresses: int


class DataQuality(TypedDict):
    """Data quality per current grid and per community, and the addresses attached to no building."""

    grids: dict[str, Quality]
    communities: dict[str, Quality]
    unmatched_addresses_total: int


def data_quality(session: Session, *, district_code: str | None = None) -> DataQuality:
    """Per current grid and community: households recorded vs estimated, residents per household, lost addresses.

    Lost addresses: standard addresses attached to no building. Aggregates only.
    """
    params = {"d": district_code}
    where = "g.valid_to IS NULL" + (" AND g.district_code = :d" if district_code else "")
    grids = session.execute(text(f"""
        WITH g AS (SELECT code, community_code, level, geom FROM grid g WHERE {where}),
        bg AS (SELECT g.code, g.community_code, b.id, b.households, b.households_source FROM g JOIN building b
               ON ST_Intersects(g.geom, b.geom) AND ST_Contains(g.geom, ST_PointOnSurface(b.geom))),
        hh AS (SELECT bg.code, sum(bg.households) FILTER (WHERE bg.households_source = 'recorded') AS recorded,
                      sum(bg.households) FILTER (WHERE bg.households_source <> 'recorded') AS estimated
               FROM bg GROUP BY bg.code),
        rs AS (SELECT bg.code, count(r.id) AS residents, count(DISTINCT r.household_id) AS households
               FROM bg JOIN resident r ON r.building_id = bg.id GROUP BY bg.code),
        ad AS (SELECT g.code, count(*) FILTER (WHERE s.building_id IS NULL) AS unmatched, count(*) AS addresses
               FROM g JOIN standard_address s ON ST_Contains(g.geom, s.geom) GROUP BY g.code)
        SELECT g.code, g.community_code, g.level, COALESCE(hh.recorded, 0) AS recorded,
               COALESCE(hh.estimated, 0) AS estimated,
               COALESCE(rs.residents, 0) AS residents, COALESCE(rs.households, 0) AS resident_households,
               COALESCE(ad.unmatched, 0) AS unmatched_addresses, COALESCE(ad.addresses, 0) AS addresses
        FROM g LEFT JOIN hh ON hh.code = g.code LEFT JOIN rs ON rs.code = g.code LEFT JOIN ad ON ad.code = g.code
        ORDER BY g.code"""), params).mappings().all()
    per_grid = {row["code"]: _quality(row) for row in grids}
    by_community: dict[str, Counter[str]] = defaultdict(Counter)
    for row in grids:
        if row["level"] == 2:
            continue  # its buildings are already in its parent grid's row
        for key in ("recorded", "estimated", "residents", "resident_households", "unmatched_addresses", "addresses"):
            by_community[row["community_code"]][key] += int(row[key])
    per_community = {code: _quality(values) for code, values in sorted(by_community.items())}
    unplaced = session.execute(text("SELECT count(*) FROM standard_address WHERE building_id IS NULL"
                                    + (" AND district_code = :d" if district_code else "")), params).scalar_one()
    return {"grids": per_grid, "communities": per_community, "unmatched_addresses_total": int(unplaced)}


def _quality(row: Any) -> Quality:
    recorded, estimated = int(row["recorded"]), int(row["estimated"])
    total = recorded + estimated
    households = int(row["resident_households"])
    return {"households_recorded": recorded, "households_estimated": estimated,
            "recorded_share": round(recorded / total, 3) if total else None,
            "residents_per_household": round(int(row["residents"]) / households, 2) if households else None,
            "unmatched_addresses": int(row["unmatched_addresses"])}
