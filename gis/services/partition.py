"""Use cases of the partition engine: suggest grid splits and community redraws as draft plans.

Load a scope's boundary, buildings, roads, barriers and current units from PostGIS, run the
pure engine (``gis.partition``), and store the result as a draft plan with its metrics.
Adoption, diffs and history live in ``gis.services.plans``.
"""

from __future__ import annotations

from typing import Any, TypedDict

import geopandas as gpd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.checker import blocking, summarise
from gis.db.frames import read_frame
from gis.errors import Infeasible, InvalidInput, NotFound
from gis.jsonable import plain
from gis.partition.entrances import divide_by_entrances
from gis.partition.suggest import Suggestion, suggest_partition
from gis.progress import Progress, noop_progress
from gis.services.checks import check_stored
from gis.services.plans import store_plan
from gis.settings import Settings

STORAGE_CRS = "EPSG:4490"


def household_bounds(lo: int | None, hi: int | None, default_lo: int, default_hi: int) -> tuple[int, int]:
    """The households per unit (``min``, ``max`` in the API), each defaulting to the settings' bound."""
    lo = default_lo if lo is None else int(lo)
    hi = default_hi if hi is None else int(hi)
    if lo <= 0:
        raise InvalidInput.for_field("min", f"must be a positive number of households, got {lo}", max=hi)
    if hi < lo:
        raise InvalidInput.for_field("max", f"must be at least min ({lo}), got {hi}", min=lo)
    return lo, hi


def _check_seed(seed: int) -> None:
    # numpy's generators take only non-negative seeds.
    if seed < 0:
        raise InvalidInput.for_field("seed", f"must be a non-negative integer, got {seed}")


def _scope_frames(session: Session, region_wkb_sql: str, params: dict[str, Any]) -> dict[str, gpd.GeoDataFrame]:
    """Buildings (by point on surface), roads and barriers of a region given by a SQL expression.

    In a fixed order: the engine's ties (first hit wins) must not follow the planner's index scan.
    """
    region = f"({region_wkb_sql})"
    return {
        "buildings": read_frame(session, f"""
            SELECT b.id, b.households, b.compound_id AS compound, ST_AsBinary(b.geom) AS geom
            FROM building b WHERE ST_Intersects({region}, ST_PointOnSurface(b.geom)) ORDER BY b.id""", params),
        "roads": read_frame(session, f"""
            SELECT e.is_main_road, e.name, e.highway, ST_AsBinary(e.geom) AS geom
            FROM walk_edge e WHERE ST_Intersects({region}, e.geom) ORDER BY e.id""", params),
        "barriers": read_frame(session, f"""
            SELECT w.name, w.kind, ST_AsBinary(w.geom) AS geom
            FROM barrier w WHERE ST_Intersects({region}, w.geom) ORDER BY w.id""", params),
    }


def _community(session: Session, code: str) -> gpd.GeoDataFrame:
    frame = read_frame(session, """
        SELECT code, name, street_code, district_code, ST_AsBinary(geom) AS geom
        FROM community WHERE code = :c AND valid_to IS NULL""", {"c": code})
    if frame.empty:
        raise NotFound(f"community {code} has no current boundary; import community boundaries first")
    return frame


class SuggestedUnit(TypedDict):
    """One unit of a stored suggestion: its label, size and whether it is in the household bounds."""

    label: str
    households: int
    buildings: int
    kind: str
    status: str
    code: str | None


class SuggestionSummary(TypedDict):
    """A suggestion stored as a draft plan: its id and scope, the checker's figures, and its units."""

    plan_id: int
    kind: str
    scope_code: str
    scope_name: str
    metrics: dict[str, Any]
    units: list[SuggestedUnit]


def suggest_grids(session: Session, settings: Settings, *, community_code: str, lo: int | None = None,
                  hi: int | None = None, keep_current: bool = False, locked: tuple[str, ...] = (),
                  allow_crossing: tuple[str, ...] = (), seed: int = 0, created_by: int | None = None,
                  progress: Progress = noop_progress) -> SuggestionSummary:
    """Suggest the grids of one community and store them as a draft ``grid_split`` plan."""
    _check_seed(seed)
    lo, hi = household_bounds(lo, hi, settings.grid_min_households, settings.grid_max_households)
    community = _community(session, community_code)
    progress("loading", 0.05)
    region_sql = "SELECT geom FROM community WHERE code = :c AND valid_to IS NULL"
    frames = _scope_frames(session, region_sql, {"c": community_code})
    grids = read_frame(session, """
        SELECT code, kind, version, ST_AsBinary(geom) AS geom FROM grid
        WHERE community_code = :c AND level = 1 AND valid_to IS NULL ORDER BY code""", {"c": community_code})
    unknown = sorted(set(locked) - set(grids["code"]))
    if unknown:
        raise NotFound(f"cannot lock {', '.join(unknown)}: no such current grid in community {community_code}")
    fixed = grids[(grids["kind"] == "dedicated") | grids["code"].isin(locked)].copy()
    fixed["locked"] = fixed["code"].isin(locked)
    try:
        suggestion = suggest_partition(
            community.geometry.iloc[0], frames["buildings"], frames["roads"], frames["barriers"],
            crs=STORAGE_CRS, lo=lo, hi=hi, current=grids[["code", "geometry"]] if len(grids) else None,
            keep_current=keep_current, fixed=fixed if len(fixed) else None, allow_crossing=allow_crossing,
            seed=seed, label_prefix="G", closing_m=settings.barrier_closing_m,
            progress=lambda stage, f: progress(stage, 0.1 + 0.8 * f),
        )
    except Infeasible as exc:
        raise Infeasible(f"community {community_code}: {exc.message}", details={"community_code": community_code}) \
            from None
    _checked(session, settings, suggestion, level="grid", parent_code=community_code,
             region=community.geometry.iloc[0], allow_crossing=allow_crossing)
    _divide_large_buildings(session, suggestion, lo=lo, hi=hi)
    parameters = {"min": lo, "max": hi, "keep_current": keep_current, "locked": list(locked),
                  "allow_crossing": list(allow_crossing), "seed": seed}
    plan_id = _store(session, suggestion, kind="grid_split", scope_code=community_code,
                     district_code=community["district_code"].iloc[0], parent_code=community_code,
                     parameters=parameters, created_by=created_by)
    progress("stored", 1.0)
    return _summary(plan_id, "grid_split", community_code, community["name"].iloc[0], suggestion)


def suggest_communities(session: Session, settings: Settings, *, street_code: str | None = None,
                        district_code: str | None = None, lo: int | None = None, hi: int | None = None,
                        keep_current: bool = False, allow_crossing: tuple[str, ...] = (), seed: int = 0,
                        created_by: int | None = None, progress: Progress = noop_progress) -> SuggestionSummary:
    """Suggest community redraws inside one street (or a district without streets, as one area)."""
    if bool(street_code) == bool(district_code):
        raise InvalidInput.for_field("street_code", "or district_code: give exactly one of the two")
    scope_code: str
    _check_seed(seed)
    lo, hi = household_bounds(lo, hi, settings.community_min_households, settings.community_max_households)
    progress("loading", 0.05)
    if street_code:
        scope = read_frame(session, """
            SELECT code, name, district_code, ST_AsBinary(geom) AS geom FROM street
            WHERE code = :c AND valid_to IS NULL""", {"c": street_code})
        if scope.empty:
            raise NotFound(f"street {street_code} has no current boundary; import street boundaries first")
        region_sql = "SELECT geom FROM street WHERE code = :c AND valid_to IS NULL"
        params: dict[str, Any] = {"c": street_code}
        current = read_frame(session, """
            SELECT code, ST_AsBinary(geom) AS geom FROM community
            WHERE street_code = :c AND valid_to IS NULL ORDER BY code""", params)
        scope_code, name = street_code, scope["name"].iloc[0]
        district = scope["district_code"].iloc[0]
        region = scope.geometry.iloc[0]
    else:
        region, name = _district_region(session, district_code)  # type: ignore[arg-type]
        region_sql = "SELECT ST_GeomFromText(:wkt, 4490)"
        params = {"wkt": region.wkt}
        current = read_frame(session, """
            SELECT code, ST_AsBinary(geom) AS geom FROM community
            WHERE district_code = :c AND valid_to IS NULL ORDER BY code""", {"c": district_code})
        scope_code = district = str(district_code)
    frames = _scope_frames(session, region_sql, params)
    suggestion = suggest_partition(
        region, frames["buildings"], frames["roads"], frames["barriers"], crs=STORAGE_CRS, lo=lo, hi=hi,
        current=current if len(current) else None, keep_current=keep_current, allow_crossing=allow_crossing,
        seed=seed, label_prefix="C", closing_m=settings.barrier_closing_m,
        progress=lambda stage, f: progress(stage, 0.1 + 0.8 * f),
    )
    _checked(session, settings, suggestion, level="community", parent_code=scope_code, region=region,
             allow_crossing=allow_crossing)
    parameters = {"min": lo, "max": hi, "keep_current": keep_current, "allow_crossing": list(allow_crossing),
                  "seed": seed}
    plan_id = _store(session, suggestion, kind="community_redraw", scope_code=scope_code, district_code=district,
                     parent_code=scope_code, parameters=parameters, created_by=created_by)
    progress("stored", 1.0)
    return _summary(plan_id, "community_redraw", scope_code, name, suggestion)


def suggest_all_grids(session: Session, settings: Settings, *, district_code: str | None = None,
                      lo: int | None = None, hi: int | None = None, keep_current: bool = False, seed: int = 0,
                      created_by: int | None = None, progress: Progress = noop_progress) -> list[SuggestionSummary]:
    """A grid suggestion for every current community (of one district, or all)."""
    _check_seed(seed)
    codes = list(session.scalars(text(
        "SELECT code FROM community WHERE valid_to IS NULL" + (" AND district_code = :d" if district_code else "")
        + " ORDER BY code"), {"d": district_code}))
    if not codes:
        raise NotFound("no current communities" + (f" in district {district_code}" if district_code else ""))
    out: list[SuggestionSummary] = []
    for i, code in enumerate(codes):
        progress(f"community {code}", i / len(codes))
        out.append(suggest_grids(session, settings, community_code=code, lo=lo, hi=hi,
                                 keep_current=keep_current and _has_grids(session, code), seed=seed,
                                 created_by=created_by))
    progress("done", 1.0)
    return out


def _has_grids(session: Session, community_code: str) -> bool:
    return bool(session.execute(text("SELECT 1 FROM grid WHERE community_code = :c AND valid_to IS NULL LIMIT 1"),
                                {"c": community_code}).first())


def _district_region(session: Session, district_code: str) -> tuple[Any, str]:
    """A district's polygon, or (without one) the hull of its buildings and roads."""
    row = session.execute(text("SELECT name, ST_AsBinary(geom) FROM district WHERE code = :c"),
                          {"c": district_code}).first()
    if row is None:
        raise NotFound(f"district {district_code} is not known; import or generate it first")
    if row[1] is not None:
        return shapely.from_wkb(bytes(row[1])), row[0]
    hull = session.execute(text("""
        SELECT ST_AsBinary(ST_Buffer(ST_ConvexHull(ST_Collect(geom))::geography, 20)::geometry)
        FROM building WHERE district_code = :c"""), {"c": district_code}).scalar()
    if hull is None:
        raise NotFound(f"district {district_code} has no boundary and no buildings to draw one around")
    return shapely.from_wkb(bytes(hull)), row[0]


def _checked(session: Session, settings: Settings, suggestion: Suggestion, *, level: str, parent_code: str,
             region: Any, allow_crossing: tuple[str, ...]) -> None:
    """Judge the suggestion with the checker adoption uses; its figures replace the engine's own.

    A suggestion the checker faults (beyond household bounds) is refused here with the reason,
    never stored as a draft that adoption would refuse.
    """
    units = suggestion.units
    children = gpd.GeoDataFrame({"code": units["label"], "parent_code": parent_code},
                                geometry=units.geometry.to_numpy(), crs=STORAGE_CRS)
    parents = gpd.GeoDataFrame({"code": [parent_code]}, geometry=[region], crs=STORAGE_CRS)
    findings = check_stored(session, settings, children, parents, child_level=level, allow_crossing=allow_crossing,
                            parent_level={6: "district", 9: "street", 12: "community"}[len(parent_code)])
    counts = summarise(findings)
    report = suggestion.report
    report["check"] = counts
    report["multipart_units"] = counts["multipart"]
    report["main_road_crossings"] = counts["across_barrier"]
    report["joined_around_barrier_ends"] = counts["around_barrier_end"]
    report["split_buildings"] = counts["split_building"]
    report["gap_m2"] = round(sum(f.area_m2 or 0.0 for f in findings if f.kind == "gap"), 2)
    report["overlap_m2"] = round(sum(f.area_m2 or 0.0 for f in findings if f.kind == "overlap"), 2)
    faults = blocking(findings, allow_out_of_range=True, level=level)
    if faults:
        shown = "; ".join(f.message for f in faults[:5]) + (f"; and {len(faults) - 5} more" if len(faults) > 5 else "")
        units = "grids" if level == "grid" else "communities"
        raise Infeasible(f"{parent_code}: the suggested {units} fail the boundary check ({shown}); "
                         f"nothing was stored", details={"scope_code": parent_code,
                                                         "findings": [f.message for f in faults]})


def _divide_large_buildings(session: Session, suggestion: Suggestion, *, lo: int, hi: int) -> None:
    """A building over the maximum stays one grid, flagged.

    Where the address register names its 单元, the report also lists how it divides by entrance into
    parts within the bounds.
    """
    assignment = suggestion.assignment
    for item in suggestion.report.get("infeasible", []):
        if item.get("reason") != "building_too_large" or not item.get("unit"):
            continue
        ids = [int(b) for b in assignment.loc[assignment["label"] == item["unit"], "building_id"]]
        if not ids:
            continue
        # Households per entrance from the register: its households where they are recorded, else its dwellings.
        rows = session.execute(text("""
            SELECT d.unit, count(DISTINCT h.id) AS households, count(DISTINCT d.id) AS dwellings
            FROM dwelling d LEFT JOIN household h ON h.dwelling_id = d.id
            WHERE d.building_id = ANY(:ids) AND coalesce(btrim(d.unit), '') <> ''
            GROUP BY d.unit"""), {"ids": ids}).all()
        entrances = [(r.unit, int(r.households) or int(r.dwellings)) for r in rows]
        if not entrances:
            continue
        parts = divide_by_entrances(entrances, lo, hi)
        if parts is None:
            item["entrances"] = {"divisible": False, "units": len(entrances),
                                 "households": sum(n for _, n in entrances)}
            continue
        item["entrances"] = {"divisible": True, "units": len(entrances),
                             "households": sum(p.households for p in parts),
                             "parts": [{"units": list(p.units), "label": p.label, "households": p.households}
                                       for p in parts]}
        listed = "; ".join(f"{p.label} ({p.households} households)" for p in parts)
        item["options"] = [f"divide the building by 单元 into {len(parts)} grids: {listed}", *item["options"]]


def _store(session: Session, suggestion: Suggestion, *, kind: str, scope_code: str, district_code: str,
           parent_code: str, parameters: dict[str, Any], created_by: int | None) -> int:
    units = suggestion.units.copy()
    units["parent_code"] = parent_code
    units["locked"] = units["locked"].astype(bool)
    return store_plan(
        session, kind=kind, scope_code=scope_code, district_code=district_code,
        units=units[["label", "kind", "locked", "households", "parent_code", "code", "geometry"]],
        assignment=suggestion.assignment, parameters=parameters, metrics=plain(suggestion.report),
        created_by=created_by,
    )


def _summary(plan_id: int, kind: str, scope_code: str, name: str, suggestion: Suggestion) -> SuggestionSummary:
    units = suggestion.units
    return SuggestionSummary(
        plan_id=plan_id, kind=kind, scope_code=scope_code, scope_name=name,
        metrics=plain(suggestion.report),
        units=[SuggestedUnit(label=str(r.label), households=int(r.households), buildings=int(r.buildings),
                             kind=str(r.kind), status=str(r.status), code=r.code if isinstance(r.code, str) else None)
               for r in units.itertuples()],
    )
