"""Stored coverage runs read back: the latest, a summary at one level, the list, a full report, uncovered buildings.

Also what marks runs stale (a facility changed) and who asked for one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, TypedDict

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.db.levels import PLURAL
from gis.errors import InvalidInput, NotFound
from gis.services.coverage.cache import NETWORK_SOURCES, network_key_sql
from gis.services.coverage.district import LEVEL_COLUMNS, check_mode, resolve_district

# A run is stale when a facility changed or the district was re-imported since (``network_version``),
# or when what it walked (roads, gates, rivers, buildings, residents) was edited in place since
# (the network key it kept; runs stored before migration 0020 have none).
_STALE = ("(r.network_version <> d.network_version OR (r.network_key IS NOT NULL AND r.network_key <> "
          f"{network_key_sql('r.district_code')}))")
_KEY_SOURCES = {"network_sources": list(NETWORK_SOURCES)}


class LatestRun(TypedDict):
    """The newest stored run of a district, and whether it is stale."""

    run_id: int
    network_version: int
    mode: str
    type_codes: list[str]
    created_at: dt.datetime
    stale: bool


class CoverageSummary(TypedDict):
    """A stored run's figures per type at one level: ``types[code]["rows"]`` are the units' (or district) rows."""

    run_id: int
    district_code: str
    mode: str
    network_version: int
    stale: bool
    created_at: str
    level: str
    distance: str | None
    population_source: str | None
    types: dict[str, dict[str, Any]]


class RunRow(TypedDict):
    """One stored run in a list of runs."""

    id: int
    district_code: str
    mode: str
    status: str
    network_version: int
    type_codes: list[str]
    created_at: str
    created_by: str | None
    households: int | None
    population_source: str | None
    stale: bool


class RunReport(TypedDict):
    """A stored run in full: per type the district figures, a headline and every unit's rows."""

    run_id: int
    district_code: str
    district_name: str
    mode: str
    status: str
    network_version: int
    stale: bool
    type_codes: list[str]
    parameters: dict[str, Any]
    created_at: str
    created_by: str | None
    distance: str | None
    buildings: int | None
    households: int | None
    population: int | None
    population_source: str | None
    metrics: dict[str, Any] | None
    types: dict[str, dict[str, Any]]


def latest_run(session: Session, district_code: str, *, type_code: str | None = None) -> LatestRun | None:
    """The newest stored run of a district (covering ``type_code`` when given), or None."""
    row = session.execute(text(f"""
        SELECT r.id, r.network_version, r.mode, r.type_codes, r.created_at, {_STALE}
        FROM coverage_run r JOIN district d ON d.code = r.district_code
        WHERE r.district_code = :d AND r.status = 'done' AND (CAST(:t AS text) IS NULL OR :t = ANY(r.type_codes))
        ORDER BY r.id DESC LIMIT 1"""), {"d": district_code, "t": type_code, **_KEY_SOURCES}).first()
    if row is None:
        return None
    return LatestRun(run_id=int(row[0]), network_version=int(row[1]), mode=row[2], type_codes=list(row[3]),
                     created_at=row[4], stale=bool(row[5]))


def coverage_summary(session: Session, *, district_code: str | None = None, run_id: int | None = None,
                     level: str = "community") -> CoverageSummary:
    """A stored run's figures per type at one level (street, community or grid), or the district totals."""
    if level not in (*LEVEL_COLUMNS, "district"):
        raise InvalidInput(f"level must be street, community, grid or district; got {level!r}",
                           details={"field": "level"})
    if run_id is None:
        code, _, _ = resolve_district(session, district_code)
        latest = latest_run(session, code)
        if latest is None:
            raise NotFound(f"no coverage run for district {code}: run `wangge coverage compute` first")
        run_id = latest["run_id"]
    row = session.execute(text(f"""
        SELECT r.id, r.district_code, r.mode, r.network_version, r.summary, r.created_at, {_STALE}
        FROM coverage_run r JOIN district d ON d.code = r.district_code WHERE r.id = :id"""),
        {"id": run_id, **_KEY_SOURCES}).first()
    if row is None:
        raise NotFound(f"coverage run {run_id} does not exist", details={"field": "run_id"})
    summary = row[4]
    types = {code: {**{k: v for k, v in entry.items() if k not in ("streets", "communities", "grids", "district")},
                    "rows": entry["district"] if level == "district" else entry[PLURAL[level]]}
             for code, entry in summary.get("types", {}).items()}
    return CoverageSummary(run_id=int(row[0]), district_code=row[1], mode=row[2], network_version=int(row[3]),
                           stale=bool(row[6]), created_at=row[5].isoformat(), level=level,
                           distance=summary.get("distance"), population_source=summary.get("population_source"),
                           types=types)


def mark_facilities_changed(session: Session, district_code: str) -> int:
    """Mark a district's stored runs stale after a facility was added, moved, retyped or resized.

    A run is stale when its ``network_version`` is not the district's (``latest_run``), so the
    version is bumped; the cached network reloads on the next question, as after a re-import.
    Returns the new version.
    """
    version = session.execute(text(
        "UPDATE district SET network_version = network_version + 1 WHERE code = :d RETURNING network_version"),
        {"d": district_code}).scalar()
    if version is None:
        raise NotFound(f"district {district_code} does not exist", details={"field": "district_code"})
    return int(version)


def set_run_owner(session: Session, run_id: int, user_id: int | None) -> None:
    """Record who asked for a run (the CLI leaves it empty)."""
    session.execute(text("UPDATE coverage_run SET created_by = :u WHERE id = :id"), {"u": user_id, "id": run_id})


def list_runs(session: Session, *, district_code: str | None = None, type_code: str | None = None,
              mode: str | None = None, limit: int = 100, offset: int = 0) -> tuple[list[RunRow], int]:
    """Stored runs, newest first, with whether each is stale; (rows of the page, total matching)."""
    if mode is not None:
        check_mode(mode)
    where = """(CAST(:d AS text) IS NULL OR r.district_code = :d)
               AND (CAST(:t AS text) IS NULL OR :t = ANY(r.type_codes))
               AND (CAST(:m AS text) IS NULL OR r.mode = :m)"""
    params = {"d": district_code, "t": type_code, "m": mode}
    total = int(session.execute(text(f"SELECT count(*) FROM coverage_run r WHERE {where}"), params).scalar_one())
    rows = session.execute(text(f"""
        SELECT r.id, r.district_code, r.mode, r.status, r.network_version, r.type_codes, r.created_at,
               u.username AS created_by, {_STALE} AS stale,
               r.summary->'households' AS households, r.summary->'population_source' AS population_source
        FROM coverage_run r JOIN district d ON d.code = r.district_code
        LEFT JOIN app_user u ON u.id = r.created_by
        WHERE {where} ORDER BY r.id DESC LIMIT :limit OFFSET :offset"""),
        {**params, "limit": limit, "offset": offset, **_KEY_SOURCES}).mappings().all()
    out: list[RunRow] = []
    for r in rows:
        item: Any = dict(r)
        item["created_at"] = item["created_at"].isoformat()
        item["type_codes"] = list(item["type_codes"])
        item["stale"] = bool(item["stale"])
        out.append(item)
    return out, total


def _headline(figures: Mapping[str, Any]) -> str:
    def part(label: str, covered: Any, total: Any) -> str:
        share = f" ({covered / total:.0%})" if total else ""
        return f"{label} {covered:,}/{total:,}{share}"

    return (part("households", figures.get("households_covered", 0), figures.get("households", 0)) + ", "
            + part("target population", figures.get("target_population_covered", 0),
                   figures.get("target_population", 0)))


def run_report(session: Session, run_id: int) -> RunReport:
    """A stored run in full: per type, the district figures with a one-line headline, and every unit.

    Every street, community and grid; with whether the run is stale (the network or facilities changed since).
    """
    row = session.execute(text(f"""
        SELECT r.id, r.district_code, r.mode, r.status, r.network_version, r.type_codes, r.parameters, r.summary,
               r.metrics, r.created_at, u.username, {_STALE}, d.name
        FROM coverage_run r JOIN district d ON d.code = r.district_code LEFT JOIN app_user u ON u.id = r.created_by
        WHERE r.id = :id"""), {"id": run_id, **_KEY_SOURCES}).first()
    if row is None:
        raise NotFound(f"coverage run {run_id} does not exist", details={"field": "run_id", "run_id": run_id})
    summary = row[7] or {}
    types = {}
    for code, entry in (summary.get("types") or {}).items():
        types[code] = {**entry, "headline": _headline(entry.get("district") or {})}
    return RunReport(
        run_id=int(row[0]), district_code=row[1], district_name=row[12], mode=row[2], status=row[3],
        network_version=int(row[4]), stale=bool(row[11]), type_codes=list(row[5]),
        parameters=row[6], created_at=row[9].isoformat(), created_by=row[10],
        distance=summary.get("distance"), buildings=summary.get("buildings"),
        households=summary.get("households"), population=summary.get("population"),
        population_source=summary.get("population_source"), metrics=row[8], types=types,
    )


def uncovered_buildings(session: Session, run_id: int, type_code: str) -> list[dict[str, Any]]:
    """GeoJSON features (lon/lat) of the buildings a run found outside the type's walking radius."""
    rows = session.execute(text("""
        SELECT c.building_id, c.distance_m, c.households, c.target_population, c.facility_id,
               ST_AsGeoJSON(b.geom, 7, 0)::json AS geometry
        FROM building_coverage c JOIN building b ON b.id = c.building_id
        WHERE c.run_id = :r AND c.type_code = :t AND NOT c.within_standard ORDER BY c.building_id"""),
        {"r": run_id, "t": type_code}).mappings().all()
    return [{"type": "Feature", "id": f"building-{r['building_id']}", "geometry": r["geometry"],
             "properties": {"feature": "uncovered_building", "building_id": int(r["building_id"]),
                            "type_code": type_code, "distance_m": r["distance_m"], "households": int(r["households"]),
                            "target_population": int(r["target_population"]),
                            "nearest_facility_id": r["facility_id"]}} for r in rows]
