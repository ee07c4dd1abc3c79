"""Aggregates per grid and per community: people and households counted, never named, so no audit row."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypedDict

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.db.filters import Where
from gis.errors import InvalidInput
from gis.services.residents.records import WELFARE_TAGS
from gis.services.users import Principal

if TYPE_CHECKING:  # the registers package is loaded only when grid_stats reads data quality
    from gis.services.registers.quality import Quality


ELDERLY_AGE = 60
CHILD_MAX_AGE = 14


class GridStats(TypedDict):
    """One current grid's counts (nobody named); sensitive tags only where the reader sees the grid."""

    grid_code: str
    name: str | None
    community_code: str
    district_code: str
    kind: str
    level: int
    parent_grid_code: str | None
    buildings: int
    building_households: int
    households: int
    residents: int
    elderly_60_plus: int
    children_0_14: int
    party_members: int
    floating: int
    party_orgs: int
    tags: dict[str, int]
    sensitive_tags_shown: bool
    data_quality: Quality | None


def grid_stats(session: Session, principal: Principal, *, district_code: str | None = None,
               code_prefix: str | None = None) -> list[GridStats]:
    """Per current grid: people and households counted, never named, so no audit row.

    Buildings, households, residents, elderly 60+, children 0-14, party members, floating residents,
    party organisations and residents per tag.

    Welfare tags are counted for everyone; other (sensitive) tags only in grids ``principal`` may see.
    """
    district = district_code or principal.district_code
    if code_prefix is not None and not re.fullmatch(r"[0-9]{1,15}", code_prefix):
        raise InvalidInput(f"code_prefix: 1 to 15 digits, got {code_prefix!r}", details={"field": "code_prefix"})
    where = Where()
    where.require("g.valid_to IS NULL")
    where.equal("g.district_code", "district", district or None)
    where.prefix("g.code", "prefix", code_prefix or None)
    rows = session.execute(text(f"""
        WITH g AS (SELECT g.code, g.name, g.community_code, g.district_code, g.kind, g.level, g.parent_grid_code,
                          g.geom FROM grid g
                   WHERE {where.sql}),
        bg AS (SELECT g.code AS grid_code, b.id AS building_id, b.households
               FROM g JOIN building b ON ST_Intersects(g.geom, b.geom)
                AND ST_Contains(g.geom, ST_PointOnSurface(b.geom))),
        bs AS (SELECT grid_code, count(*) AS buildings, sum(households) AS building_households
               FROM bg GROUP BY grid_code),
        hh AS (SELECT bg.grid_code, count(*) AS households FROM household h JOIN bg ON bg.building_id = h.building_id
               GROUP BY bg.grid_code),
        rs AS (SELECT bg.grid_code, count(*) AS residents,
                      count(*) FILTER (WHERE r.age >= :elderly) AS elderly_60_plus,
                      count(*) FILTER (WHERE r.age BETWEEN 0 AND :child) AS children_0_14,
                      count(*) FILTER (WHERE r.party_member) AS party_members,
                      count(*) FILTER (WHERE r.residency = 'floating') AS floating
               FROM (SELECT building_id, party_member, residency,
                            date_part('year', age(current_date, birth_date))::int AS age FROM resident) r
               JOIN bg ON bg.building_id = r.building_id GROUP BY bg.grid_code),
        tg AS (SELECT grid_code, jsonb_object_agg(tag, n) AS tags
               FROM (SELECT bg.grid_code, t.tag, count(*) AS n
                     FROM resident_private p JOIN resident r ON r.id = p.resident_id
                     JOIN bg ON bg.building_id = r.building_id CROSS JOIN LATERAL unnest(p.tags) AS t(tag)
                     GROUP BY bg.grid_code, t.tag) x GROUP BY grid_code),
        po AS (SELECT grid_code, count(*) AS party_orgs FROM party_org WHERE grid_code IS NOT NULL GROUP BY grid_code)
        SELECT g.code, g.name, g.community_code, g.district_code, g.kind, g.level, g.parent_grid_code,
               COALESCE(bs.buildings, 0) AS buildings, COALESCE(bs.building_households, 0) AS building_households,
               COALESCE(hh.households, 0) AS households, COALESCE(rs.residents, 0) AS residents,
               COALESCE(rs.elderly_60_plus, 0) AS elderly_60_plus, COALESCE(rs.children_0_14, 0) AS children_0_14,
               COALESCE(rs.party_members, 0) AS party_members, COALESCE(rs.floating, 0) AS floating,
               COALESCE(po.party_orgs, 0) AS party_orgs, COALESCE(tg.tags, '{{}}'::jsonb) AS tags
        FROM g LEFT JOIN bs ON bs.grid_code = g.code LEFT JOIN hh ON hh.grid_code = g.code
        LEFT JOIN rs ON rs.grid_code = g.code LEFT JOIN tg ON tg.grid_code = g.code
        LEFT JOIN po ON po.grid_code = g.code
        ORDER BY g.code"""), {**where.params, "elderly": ELDERLY_AGE, "child": CHILD_MAX_AGE}).mappings().all()
    # Data quality (registers): households recorded vs estimated, residents per household, unplaced addresses.
    from gis.services.registers import data_quality

    quality = data_quality(session, district_code=district)["grids"] if rows else {}
    out = []
    for row in rows:
        shown = principal.sees_grid(row["code"])
        out.append(GridStats(
            grid_code=row["code"], name=row["name"], community_code=row["community_code"],
            district_code=row["district_code"], kind=row["kind"],
            # A level-2 grid's people are also counted in its parent grid's row.
            level=int(row["level"]), parent_grid_code=row["parent_grid_code"],
            buildings=int(row["buildings"]), building_households=int(row["building_households"]),
            households=int(row["households"]), residents=int(row["residents"]),
            elderly_60_plus=int(row["elderly_60_plus"]), children_0_14=int(row["children_0_14"]),
            party_members=int(row["party_members"]), floating=int(row["floating"]), party_orgs=int(row["party_orgs"]),
            tags={t: int(n) for t, n in sorted(row["tags"].items()) if t in WELFARE_TAGS or shown},
            sensitive_tags_shown=shown, data_quality=quality.get(row["code"])))
    return out


def community_quality(grid_items: Sequence[GridStats]) -> dict[str, Quality]:
    """Data quality per community, summed from :func:`grid_stats` items."""
    sums: dict[str, dict[str, int]] = {}
    for item in grid_items:
        q = item.get("data_quality")
        # A level-2 grid's buildings are already in its parent's row.
        if q is None or item.get("level") == 2:
            continue
        s = sums.setdefault(item["community_code"], {"recorded": 0, "estimated": 0, "residents": 0,
                                                     "households": 0, "unmatched": 0})
        s["recorded"] += q["households_recorded"]
        s["estimated"] += q["households_estimated"]
        s["residents"] += item["residents"]
        s["households"] += item["households"]
        s["unmatched"] += q["unmatched_addresses"]
    out: dict[str, Quality] = {}
    for code, s in sorted(sums.items()):
        total = s["recorded"] + s["estimated"]
        out[code] = {
            "households_recorded": s["recorded"], "households_estimated": s["estimated"],
            "recorded_share": round(s["recorded"] / total, 3) if total else None,
            "residents_per_household": round(s["residents"] / s["households"], 2) if s["households"] else None,
            "unmatched_addresses": s["unmatched"]}
    return out
