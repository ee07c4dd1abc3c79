"""Boundary editing: redraw a community or grid, move buildings between grids, split and merge grids.

Every edit writes new versions and never overwrites a boundary: the rows it replaces get a
``valid_to``, the new rows carry the code (or a fresh code, never a retired one), the
reason and who approved them. Each edit is recorded as an adopted plan of kind
``manual_edit`` (so it shows in the plan list and in ``plans.boundary_history``), its four
limits (四至) are recomputed and one audit row names who changed what and why. Bad input
raises before anything is written; the caller's transaction then rolls back as a whole.

Concurrency
-----------
An edit names the version it was based on. The rows it replaces are locked
(``SELECT ... FOR UPDATE``, in code order so two edits never wait on each other in a
circle) and their version compared with the expected one: a stale edit gets ``Conflict``
with ``details["current_version"]``. A transaction that waited for the lock while another
edit replaced the row finds no current row in its first look (PostgreSQL re-checks the
locked row, which is no longer current) and looks again, now seeing the new version.
The parent boundary is locked too (shared for reshaping, exclusive when new codes are
given out), so a grid is checked against the community it is really in. The partial
unique index on each table's current code is the last line of defence; its violation
is reported as ``Conflict`` as well.

Geometry
--------
Input is GeoJSON (RFC 7946: longitude, latitude), taken as CGCS2000 (EPSG:4490). Overlays
run in EPSG:4490, so neighbours' shared vertices meet exactly; lengths and areas are
measured in the CGCS2000 Gauss-Krüger zone of the data (``gis.crs.metric_crs_for``).
Topology findings (overlaps with siblings, gaps in the parent, parts sticking out,
multi-part units) are compared with those that existed before the edit, and only the area
that is new is reported as created.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from shapely.errors import GEOSException
from shapely.geometry import LineString, MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import split as split_geometry
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gis.codes import assign_codes
from gis.crs import CHINA_BOUNDS, metric_crs_for
from gis.db.frames import read_frame
from gis.db.models import Plan
from gis.errors import Conflict, CRSMismatch, InvalidGeometry, InvalidInput, NotFound, PermissionDenied
from gis.layers import STORAGE_CRS
from gis.partition.cells import build_cells
from gis.services import approvals as approval_service
from gis.services import privacy
from gis.services.boundaries import codes_ever_used, describe_units
from gis.services.users import SYSTEM, Principal
from gis.settings import Settings
from gis.topology import Finding, check_tiling

# A unit may reach this far beyond its parent's boundary (digitising noise); the excess is clipped off.
PARENT_TOLERANCE_M = 0.5
# Overlaps, gaps and parts smaller than this are numerical slivers, as in gis.topology.check_tiling.
SLIVER_M2 = 1.0
# Grids "border" each other when they share at least this much boundary (a corner touch is not enough).
MIN_SHARED_BOUNDARY_M = 1.0
# The moved cells are widened by this before they are cut out of the source grid, so the cut reaches
# the grid's own edges exactly (the cells were computed in metres and reprojected).
_CUT_OVERLAP_M = 0.01
# Vertices this close (degrees, about a millimetre) are the same point computed twice.
_SNAP_DEG = 1e-8

LEVELS = ("grid", "community")
_PARENT = {"grid": ("community", "community_code"), "community": ("street", "street_code")}
_CODE_LENGTH = {"street": 9, "community": 12, "grid": 15}
_PLURAL = {"grid": "grids", "community": "communities", "street": "streets"}
_TOPOLOGY_KINDS = ("overlap", "gap", "outside_parent", "multipart")


# --- geometry input -----------------------------------------------------------------------


def parse_geometry(value: Any, *, where: str, kinds: tuple[str, ...]) -> BaseGeometry:
    """A GeoJSON geometry (or Feature) of one of ``kinds``, in lon/lat in China, valid; else an error naming why."""
    if isinstance(value, dict) and value.get("type") == "Feature":
        value = value.get("geometry")
    if not isinstance(value, dict) or "type" not in value:
        raise InvalidGeometry(f"{where}: expected a GeoJSON geometry object such as "
                              f'{{"type": "Polygon", "coordinates": [...]}}; received {type(value).__name__}')
    if value["type"] not in kinds:
        raise InvalidGeometry(f"{where}: expected a GeoJSON {' or '.join(kinds)}; received {value['type']}",
                              details={"where": where, "received": value["type"], "expected": list(kinds)})
    try:
        geom = shape(value)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, GEOSException) as exc:
        raise InvalidGeometry(f"{where}: the {value['type']} cannot be read ({exc}); check its coordinates "
                              f"(rings need at least 4 positions, the first repeated last)") from None
    if geom.is_empty:
        raise InvalidGeometry(f"{where}: the {value['type']} is empty")
    _check_lonlat(geom, where=where)
    if not geom.is_valid:
        reason = shapely.is_valid_reason(geom)
        problem = reason.split("[", 1)[0].strip() or reason
        x, y = _reason_point(reason, geom)
        raise InvalidGeometry(f"{where} is not a valid {geom.geom_type}: {problem} near {x:.6f}, {y:.6f} "
                              f"(lon, lat); redraw the boundary there",
                              details={"where": where, "problem": problem, "location": [x, y]})
    return geom


def _check_lonlat(geom: BaseGeometry, *, where: str) -> None:
    """Coordinates must be longitude, latitude in China: catch metres and swapped axes with a clear message."""
    xy = shapely.get_coordinates(geom)
    if not np.isfinite(xy).all():
        raise InvalidGeometry(f"{where}: coordinates must be finite numbers")
    minx, miny = xy.min(axis=0)
    maxx, maxy = xy.max(axis=0)
    bounds = [float(minx), float(miny), float(maxx), float(maxy)]
    spans = f"x {minx:.6g}..{maxx:.6g}, y {miny:.6g}..{maxy:.6g}"
    c_minx, c_miny, c_maxx, c_maxy = CHINA_BOUNDS
    inside = c_minx <= minx and maxx <= c_maxx and c_miny <= miny and maxy <= c_maxy
    swapped = c_miny <= minx and maxx <= c_maxy and c_minx <= miny and maxy <= c_maxx
    if not inside and swapped:
        raise CRSMismatch(f"{where}: coordinates look like latitude, longitude swapped ({spans}: x looks like "
                          f"latitudes, y like longitudes); GeoJSON puts longitude first",
                          details={"where": where, "bounds": bounds})
    if max(abs(minx), abs(maxx)) > 180 or max(abs(miny), abs(maxy)) > 90:
        hint = " they look like projected metres;" if max(abs(minx), abs(maxx), abs(miny), abs(maxy)) > 1000 else ""
        raise CRSMismatch(f"{where}: coordinates ({spans}) are not longitude/latitude;{hint} GeoJSON is longitude, "
                          f"latitude in degrees (CGCS2000, EPSG:4490): convert the boundary before sending it",
                          details={"where": where, "bounds": bounds})
    if not inside:
        raise CRSMismatch(f"{where}: coordinates ({spans}) lie outside China (expected longitude "
                          f"{c_minx:g}..{c_maxx:g}, latitude {c_miny:g}..{c_maxy:g}, CGCS2000)",
                          details={"where": where, "bounds": bounds})


def _reason_point(reason: str, geom: BaseGeometry) -> tuple[float, float]:
    """The point GEOS names in ``is_valid_reason``, else the geometry's first vertex."""
    if "[" in reason and "]" in reason:
        try:
            x, y = (float(v) for v in reason.split("[", 1)[1].split("]", 1)[0].split()[:2])
            return x, y
        except ValueError:
            pass
    x, y = shapely.get_coordinates(geom)[0]
    return float(x), float(y)


# --- measuring ----------------------------------------------------------------------------


class _Metric:
    """Projections between lon/lat (EPSG:4490) and the metric CRS of the data, for lengths and areas."""

    def __init__(self, near: BaseGeometry) -> None:
        centre = near.centroid
        self.crs = metric_crs_for(centre.x, centre.y)
        self._forward = Transformer.from_crs(STORAGE_CRS, self.crs, always_xy=True)
        self._inverse = Transformer.from_crs(self.crs, STORAGE_CRS, always_xy=True)

    @staticmethod
    def _apply(geom: BaseGeometry, transformer: Transformer) -> BaseGeometry:
        return shapely.transform(geom, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))

    def to_metric(self, geom: BaseGeometry) -> BaseGeometry:
        return self._apply(geom, self._forward)

    def to_lonlat(self, geom: BaseGeometry) -> BaseGeometry:
        return self._apply(geom, self._inverse)

    def area(self, geom: BaseGeometry | None) -> float:
        return 0.0 if geom is None or geom.is_empty else float(self.to_metric(geom).area)


def _polygonal(geom: BaseGeometry | None) -> BaseGeometry:
    """The polygonal part of an overlay result (drops the lines and points it may leave)."""
    if geom is None or geom.is_empty:
        return MultiPolygon()
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    polys = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(polys) if polys else MultiPolygon()


def _parts(geom: BaseGeometry, metric: _Metric) -> list[Polygon]:
    """The polygons of ``geom`` larger than a sliver, largest first."""
    polygons = [q for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")
                for q in shapely.get_parts(p)]
    parts = [p for p in polygons if metric.area(p) >= SLIVER_M2]
    return sorted(parts, key=lambda p: -metric.area(p))


def _clean(geom: BaseGeometry, metric: _Metric) -> MultiPolygon:
    """``geom`` as a MultiPolygon without sliver parts and pinholes (noise of overlays and reprojection)."""
    out = []
    for part in _parts(geom, metric):
        holes = [ring for ring in part.interiors if metric.area(Polygon(ring)) >= SLIVER_M2]
        out.append(Polygon(part.exterior, holes))
    return MultiPolygon(out)


def _lonlat_text(geom: BaseGeometry) -> str:
    p = geom if geom.geom_type == "Point" else geom.representative_point()
    return f"{p.x:.5f}, {p.y:.5f}"


def _area_text(area: float) -> str:
    return f"{area:,.0f} m²" if area >= 10 else f"{area:.1f} m²"


# --- reading and locking ------------------------------------------------------------------


@dataclass
class _Unit:
    """One current boundary row (grid, community or street)."""

    level: str
    id: int
    code: str
    name: str
    version: int
    parent_code: str | None
    district_code: str
    valid_from: dt.datetime
    geom: BaseGeometry
    kind: str = "general"
    grid_level: int = 1
    parent_grid_code: str | None = None


def _select_unit_sql(level: str) -> str:
    parent = {"grid": "community_code", "community": "street_code", "street": "district_code"}[level]
    extra = ", kind, level AS grid_level, parent_grid_code" if level == "grid" else ""
    return (f"SELECT id, code, name, version, {parent} AS parent_code, district_code, valid_from{extra}, "
            f"ST_AsBinary(geom) AS geom FROM {level} WHERE valid_to IS NULL")


def _units_from(frame: gpd.GeoDataFrame, level: str) -> list[_Unit]:
    out = []
    for r in frame.itertuples():
        unit = _Unit(level=level, id=int(r.id), code=r.code, name=r.name, version=int(r.version),
                     parent_code=r.parent_code, district_code=r.district_code,
                     valid_from=pd.Timestamp(r.valid_from).to_pydatetime(), geom=r.geometry)
        if level == "grid":
            unit.kind, unit.grid_level = r.kind, int(r.grid_level)
            unit.parent_grid_code = None if pd.isna(r.parent_grid_code) else r.parent_grid_code
        out.append(unit)
    return out


def _lock_unit(session: Session, level: str, code: str, *, mode: str = "UPDATE") -> _Unit:
    """The current row of ``code``, locked (``FOR UPDATE`` or ``FOR SHARE``)."""
    sql = f"{_select_unit_sql(level)} AND code = :c FOR {mode}"
    frame = read_frame(session, sql, {"c": code})
    if frame.empty:
        # A concurrent edit may have replaced the row while we waited for its lock: the row we
        # waited for is no longer current and the new one was not in our snapshot. Look again.
        frame = read_frame(session, sql, {"c": code})
    if frame.empty:
        raise NotFound(f"{level} {code} has no current boundary")
    return _units_from(frame, level)[0]


def _children(session: Session, level: str, parent_code: str) -> list[_Unit]:
    """The current units of ``level`` under a parent (not locked)."""
    column = _PARENT[level][1]
    frame = read_frame(session, f"{_select_unit_sql(level)} AND {column} = :p ORDER BY code", {"p": parent_code})
    return _units_from(frame, level)


def _check_code(level: str, code: str) -> str:
    code = str(code or "").strip()
    if not code.isdigit() or len(code) != _CODE_LENGTH[level]:
        raise InvalidInput(f"a {level} code has {_CODE_LENGTH[level]} digits; received {code!r}")
    return code


def _check_reason(reason: str | None, what: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(f"reason: {what} needs a reason (it is kept in the boundary history)")
    return reason


def _check_versions(units: list[_Unit], expected: dict[str, int | None]) -> None:
    """Conflict unless every unit is at the version the edit was based on."""
    missing = [u.code for u in units if expected.get(u.code) is None]
    if missing:
        raise InvalidInput(f"send the version you read of {units[0].level} {', '.join(missing)} (If-Match or "
                           f"version/versions in the body), so that no change is overwritten unseen",
                           details={"missing_versions": missing})
    stale = [u for u in units if int(expected[u.code]) != u.version]
    if stale:
        first = stale[0]
        said = "; ".join(f"{u.level} {u.code} is at version {u.version}, not {expected[u.code]}" for u in stale)
        raise Conflict(f"{said}: it changed since you read it; reload it and redo the edit",
                       details={"code": first.code, "current_version": first.version,
                                "current_versions": {u.code: u.version for u in units}})


# --- findings and counts ------------------------------------------------------------------


def _frame(units: list[tuple[str, str | None, BaseGeometry]]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"code": [u[0] for u in units], "parent_code": [u[1] for u in units]},
                            geometry=[u[2] for u in units], crs=STORAGE_CRS)


def _topology(children: list[tuple[str, str, BaseGeometry]], parent_code: str, parent_geom: BaseGeometry,
              level: str) -> list[Finding]:
    if not children:
        return []
    found = check_tiling(_frame(children), _frame([(parent_code, None, parent_geom)]), child_level=level,
                         tolerance_m2=SLIVER_M2)
    return [f for f in found if f.kind in _TOPOLOGY_KINDS]


def _same(a: Finding, b: Finding) -> bool:
    """Whether two findings are about the same thing (gaps are matched by place only)."""
    return a.kind == b.kind and (a.kind == "gap" or a.units == b.units)


def _finding_text(kind: str, units: tuple[str, ...], parent_code: str | None, area: float, where: str,
                  level: str) -> str:
    parent_level = _PARENT[level][0]
    if kind == "overlap":
        return f"{_PLURAL[level]} {units[0]} and {units[1]} overlap by {_area_text(area)} near {where}"
    if kind == "gap":
        nextto = f" (next to {', '.join(units)})" if units else ""
        return (f"gap of {_area_text(area)} in {parent_level} {parent_code} not covered by any {level}, "
                f"near {where}{nextto}")
    if kind == "outside_parent":
        return f"{level} {units[0]} sticks out of {parent_level} {parent_code} by {_area_text(area)} near {where}"
    return f"{level} {units[0]} is in separate parts; a detached part covers {_area_text(area)} near {where}"


def _changes(before: list[Finding], after: list[Finding], metric: _Metric, level: str) -> dict[str, list]:
    """Findings after the edit that were not there before (only their new area), and those the edit resolved."""

    def newer(these: list[Finding], than: list[Finding]) -> list[dict[str, Any]]:
        out = []
        for f in these:
            same = [g for g in than if _same(f, g)]
            if f.location is None or f.location.is_empty:
                continue
            old = shapely.union_all([g.location for g in same if g.location is not None]) if same else None
            fresh = _polygonal(f.location if old is None or old.is_empty else shapely.difference(f.location, old))
            area = metric.area(fresh)
            if area < SLIVER_M2:
                continue
            where = _lonlat_text(fresh)
            out.append({"kind": f.kind, "units": list(f.units), "parent_code": f.parent_code,
                        "area_m2": round(area, 1), "location": [round(v, 6) for v in
                                                               fresh.representative_point().coords[0]],
                        "message": _finding_text(f.kind, f.units, f.parent_code, area, where, level)})
        return out

    return {"created": newer(after, before), "resolved": newer(before, after)}


def _households(session: Session, level: str, parent_code: str) -> dict[str, dict[str, int]]:
    """Households (and how many of them are estimates) per current unit under a parent."""
    column = _PARENT[level][1]
    rows = session.execute(text(f"""
        SELECT u.code, COALESCE(SUM(b.households), 0) AS households,
               COALESCE(SUM(b.households) FILTER (WHERE b.households_source = 'estimated'), 0) AS estimated,
               COUNT(b.id) AS buildings
        FROM {level} u LEFT JOIN building b
          ON ST_Intersects(u.geom, b.geom) AND ST_Contains(u.geom, ST_PointOnSurface(b.geom))
        WHERE u.valid_to IS NULL AND u.{column} = :p GROUP BY u.code"""), {"p": parent_code}).all()
    return {c: {"households": int(h), "estimated_households": int(e), "buildings": int(n)} for c, h, e, n in rows}


def _in_range(settings: Settings | None, level: str, kind: str, households: int) -> bool | None:
    if settings is None or kind == "dedicated":
        return None
    lo, hi = ((settings.grid_min_households, settings.grid_max_households) if level == "grid"
              else (settings.community_min_households, settings.community_max_households))
    return lo <= households <= hi


# --- writing ------------------------------------------------------------------------------


@dataclass
class _NewVersion:
    """A boundary row to write: a new version of ``code`` (``previous`` set) or a unit with a fresh code."""

    code: str
    name: str
    geom: BaseGeometry
    previous: _Unit | None = None
    kind: str = "general"
    grid_level: int = 1
    parent_grid_code: str | None = None


def _db_now(session: Session, retiring: list[_Unit]) -> dt.datetime:
    """The database clock, after every ``valid_from`` of the rows being retired (valid_to > valid_from)."""
    now = session.execute(text("SELECT clock_timestamp()")).scalar_one()
    latest = max((u.valid_from for u in retiring), default=None)
    if latest is not None and latest >= now:
        now = latest + dt.timedelta(microseconds=1)
    return now


def _retire(session: Session, units: list[_Unit], now: dt.datetime) -> None:
    for u in units:
        done = session.execute(text(f"UPDATE {u.level} SET valid_to = :now WHERE id = :id AND valid_to IS NULL "
                                    f"AND version = :v"), {"now": now, "id": u.id, "v": u.version}).rowcount
        if done != 1:  # cannot happen while we hold the row lock; kept as a guard for callers that do not lock
            raise Conflict(f"{u.level} {u.code} changed while it was being edited; reload it and redo the edit",
                           details={"code": u.code})


def _insert(session: Session, level: str, parent_code: str, new: _NewVersion, *, now: dt.datetime, reason: str,
            plan_id: int, user_id: int | None) -> tuple[int, int]:
    """Write one boundary row; a second current row for the code is reported as Conflict."""
    version = new.previous.version + 1 if new.previous is not None else 1
    columns = {"code": new.code, "district_code": new.code[:6], "name": new.name, "valid_from": now,
               "version": version, "reason": reason, "plan_id": plan_id, "approved_by": user_id,
               "geom": f"SRID=4490;{MultiPolygon(list(shapely.get_parts(new.geom))).wkt}",
               _PARENT[level][1]: parent_code}
    if level == "grid":
        columns.update(kind=new.kind, level=new.grid_level, parent_grid_code=new.parent_grid_code)
    names = ", ".join(columns)
    values = ", ".join("ST_GeomFromEWKT(:geom)" if c == "geom" else f":{c}" for c in columns)
    try:
        with session.begin_nested():
            row_id = session.execute(text(f"INSERT INTO {level} ({names}) VALUES ({values}) RETURNING id"),
                                     columns).scalar_one()
    except IntegrityError as exc:
        if f"uq_{level}_current_code" not in str(exc.orig):
            raise
        current = session.execute(text(f"SELECT version FROM {level} WHERE code = :c AND valid_to IS NULL"),
                                  {"c": new.code}).scalar()
        raise Conflict(f"{level} {new.code} was changed by another edit at the same time; reload it and redo "
                       f"the edit", details={"code": new.code, "current_version": current}) from None
    return int(row_id), version


@dataclass
class _Edit:
    """Everything an edit has decided, to be written by ``_apply``."""

    operation: str
    level: str
    parent: _Unit
    retire: list[_Unit]
    write: list[_NewVersion]
    reason: str
    parameters: dict[str, Any]


def _apply(session: Session, edit: _Edit, *, principal: Principal, request_id: str | None,
           settings: Settings | None, siblings: list[_Unit]) -> dict[str, Any]:
    """Write an edit: plan, retired and new rows, four limits, audit; report counts and new findings."""
    level, parent = edit.level, edit.parent
    metric = _Metric(parent.geom)
    user_id = principal.user_id or None
    counts_before = _households(session, level, parent.code)

    retired_codes = {u.code for u in edit.retire}
    before_units = [(u.code, parent.code, u.geom) for u in siblings]
    after_units = ([(u.code, parent.code, u.geom) for u in siblings if u.code not in retired_codes]
                   + [(n.code, parent.code, n.geom) for n in edit.write])
    findings = _changes(_topology(before_units, parent.code, parent.geom, level),
                        _topology(after_units, parent.code, parent.geom, level), metric, level)

    now = _db_now(session, edit.retire)
    plan = Plan(district_code=parent.district_code, kind="manual_edit", scope_code=parent.code, status="adopted",
                parameters={"operation": edit.operation, **edit.parameters,
                            "base_versions": {u.code: u.version for u in edit.retire}},
                metrics={}, created_by=user_id, adopted_by=user_id, adopted_at=now, reason=edit.reason)
    session.add(plan)
    session.flush()
    _retire(session, edit.retire, now)
    written = []
    for new in edit.write:
        row_id, version = _insert(session, level, parent.code, new, now=now, reason=edit.reason, plan_id=plan.id,
                                  user_id=user_id)
        written.append((new, row_id, version))
    _store_plan_units(session, plan.id, level, parent.code, [(n, i) for n, i, _ in written])
    retired_micro: list[str] = []
    if level == "grid" and all(u.grid_level == 1 for u in edit.retire):
        from gis.services.levels import retire_stale_micro_grids  # level-2 grids of a changed parent go with it

        retired_micro = retire_stale_micro_grids(session, community_code=parent.code, at=now)
    four_limits = describe_units(session, level=level, codes=[n.code for n, _, _ in written])

    counts = _households(session, level, parent.code)
    written_codes = {n.code: v for n, _, v in written}
    kinds = {u.code: u.kind for u in siblings} | {n.code: n.kind for n, _, _ in written}
    names = {u.code: u.name for u in siblings} | {n.code: n.name for n, _, _ in written}
    versions = {u.code: u.version for u in siblings} | written_codes
    units = []
    for code in sorted(counts):
        c = counts[code]
        units.append({"code": code, "name": names.get(code), "version": versions.get(code),
                      "households": c["households"], "estimated_households": c["estimated_households"],
                      "buildings": c["buildings"],
                      "households_before": counts_before[code]["households"] if code in counts_before else None,
                      "changed": code in written_codes,
                      "in_range": _in_range(settings, level, kinds.get(code, "general"), c["households"])})
    gone = sorted(retired_codes - set(written_codes))
    staff = _staff_of(session, gone) if level == "grid" else []

    result = {
        "operation": edit.operation, "level": level, "parent_code": parent.code, "plan_id": plan.id,
        "reason": edit.reason, "valid_from": now.isoformat(), "approved_by": principal.username,
        "written": [{"code": n.code, "name": n.name, "version": v, "previous_version":
                     n.previous.version if n.previous is not None else None,
                     "households": counts.get(n.code, {}).get("households", 0),
                     "four_limits": four_limits.get(n.code)} for n, _, v in written],
        "retired": gone,
        "units": units,
        "findings": findings,
        "staff_to_reassign": staff,
        "retired_level_2_grids": retired_micro,
    }
    plan.metrics = {
        "adoption": {"adopted_at": now.isoformat(), "retired_ids": [u.id for u in edit.retire],
                     "written_ids": [i for _, i, _ in written], "retired_grid_ids": [], "archived_plan_ids": [],
                     "out_of_range": []},
        "findings": findings,
        "households": {u["code"]: u["households"] for u in units},
    }
    privacy.record_change(session, principal, entity=level, entity_id=edit.write[0].code if edit.write
                          else edit.retire[0].code, action=edit.operation, reason=edit.reason,
                          district_code=parent.district_code, request_id=request_id,
                          detail={"plan_id": plan.id, "written": {n.code: v for n, _, v in written},
                                  "retired": {u.code: u.version for u in edit.retire}})
    session.flush()
    return result


def _store_plan_units(session: Session, plan_id: int, level: str, parent_code: str,
                      written: list[tuple[_NewVersion, int]]) -> None:
    """The written units as the plan's units, with the buildings in them, so show_plan and diffs see the edit."""
    for new, row_id in written:
        unit_id = session.execute(text(f"""
            INSERT INTO plan_unit (plan_id, district_code, label, code, parent_code, kind, locked, households, geom)
            SELECT :plan, u.district_code, u.code, u.code, :parent, :kind, false,
                   COALESCE((SELECT SUM(b.households) FROM building b WHERE ST_Intersects(u.geom, b.geom)
                             AND ST_Contains(u.geom, ST_PointOnSurface(b.geom))), 0), u.geom
            FROM {level} u WHERE u.id = :id RETURNING id"""),
            {"plan": plan_id, "parent": parent_code, "kind": new.kind, "id": row_id}).scalar_one()
        session.execute(text(f"""
            INSERT INTO plan_assignment (plan_id, building_id, plan_unit_id, district_code)
            SELECT :plan, b.id, :unit, b.district_code FROM {level} u JOIN building b
              ON ST_Intersects(u.geom, b.geom) AND ST_Contains(u.geom, ST_PointOnSurface(b.geom))
            WHERE u.id = :id"""), {"plan": plan_id, "unit": unit_id, "id": row_id})


def _staff_of(session: Session, codes: list[str]) -> list[dict[str, Any]]:
    """Grid leaders and workers still assigned to retired grids: they need a new assignment."""
    if not codes:
        return []
    rows = session.execute(text("""
        SELECT a.grid_code, u.username, a.duty FROM grid_assignment a JOIN app_user u ON u.id = a.user_id
        WHERE a.valid_to IS NULL AND a.grid_code = ANY(:c) ORDER BY a.grid_code, u.username"""),
                           {"c": codes}).all()
    return [{"grid_code": g, "username": n, "duty": d} for g, n, d in rows]


def _lock_parent(session: Session, level: str, code: str, principal: Principal, *,
                 exclusive: bool = False) -> _Unit:
    """The parent of ``code`` (by its code prefix), locked, after checking the editor's district."""
    parent_level = _PARENT[level][0]
    parent_code = code[:_CODE_LENGTH[parent_level]]
    if principal.district_code and parent_code[:6] != principal.district_code:
        raise PermissionDenied(f"{principal.username} works in district {principal.district_code} and may not edit "
                               f"{level} {code} of district {parent_code[:6]}")
    return _lock_unit(session, parent_level, parent_code, mode="UPDATE" if exclusive else "SHARE")


# --- the edits ----------------------------------------------------------------------------


def update_boundary(
    session: Session,
    *,
    level: str,
    code: str,
    geometry: Any,
    reason: str,
    expected_version: int | None,
    name: str | None = None,
    principal: Principal = SYSTEM,
    request_id: str | None = None,
    settings: Settings | None = None,
    parent_tolerance_m: float = PARENT_TOLERANCE_M,
) -> dict[str, Any]:
    """Redraw a grid or community as a new version; returns it with household counts and the findings it created.

    Parameters
    ----------
    level
        ``"grid"`` (its parent is its community) or ``"community"`` (its street).
    geometry
        A GeoJSON Polygon or MultiPolygon in longitude/latitude (CGCS2000). It must be valid
        and lie inside the parent; up to ``parent_tolerance_m`` beyond the parent's boundary is
        digitising noise and is clipped off.
    expected_version
        The version the edit was based on; ``Conflict`` (with ``current_version``) if the
        unit has changed since.
    settings
        When given, each unit's household count is checked against the configured bounds.
    """
    if level not in LEVELS:
        raise InvalidInput(f"level must be grid or community; received {level!r}")
    code = _check_code(level, code)
    reason = _check_reason(reason, f"redrawing {level} {code}")
    new_name = None if name is None else name.strip()
    if new_name is not None and not 1 <= len(new_name) <= 100:
        raise InvalidInput(f"name: 1 to 100 characters; received {name!r}")
    geom = parse_geometry(geometry, where="geometry", kinds=("Polygon", "MultiPolygon"))

    parent = _lock_parent(session, level, code, principal)
    unit = _lock_unit(session, level, code)
    _check_versions([unit], {code: expected_version})
    metric = _Metric(parent.geom)
    geom, clipped = _inside_parent(geom, parent, unit_label=f"{level} {code}", metric=metric,
                                   tolerance_m=parent_tolerance_m)
    siblings = _children(session, level, parent.code)
    new = _NewVersion(code=code, name=new_name or unit.name, geom=geom, previous=unit, kind=unit.kind,
                      grid_level=unit.grid_level, parent_grid_code=unit.parent_grid_code)
    child_before = _children(session, "grid", code) if level == "community" else []
    edit = _Edit("update", level, parent, [unit], [new], reason,
                 {"codes": [code], "clipped_to_parent_m2": round(clipped, 2)})
    result = _apply(session, edit, principal=principal, request_id=request_id, settings=settings, siblings=siblings)
    if level == "community":
        # The community's grids were drawn for the old boundary: say what no longer fits.
        grids = [(g.code, code, g.geom) for g in child_before]
        result["grid_findings"] = _changes(_topology(grids, code, unit.geom, "grid"),
                                           _topology(grids, code, geom, "grid"), metric, "grid")
    result.update(code=code, version=result["written"][0]["version"], name=new.name,
                  clipped_to_parent_m2=round(clipped, 2))
    return result


def _inside_parent(geom: BaseGeometry, parent: _Unit, *, unit_label: str, metric: _Metric,
                   tolerance_m: float) -> tuple[MultiPolygon, float]:
    """``geom`` clipped to its parent, refusing it when it reaches more than ``tolerance_m`` beyond it."""
    g_m, p_m = metric.to_metric(geom), metric.to_metric(parent.geom)
    beyond = _polygonal(shapely.difference(g_m, p_m.buffer(tolerance_m)))
    if not beyond.is_empty and beyond.area > 0:
        far = max(float(p_m.distance(shapely.Point(xy))) for xy in shapely.get_coordinates(beyond))
        where = metric.to_lonlat(beyond.representative_point())
        outside = float(_polygonal(shapely.difference(g_m, p_m)).area)
        raise InvalidGeometry(
            f"{unit_label} must lie inside {parent.level} {parent.code}: {_area_text(outside)} of it lies outside, "
            f"up to {far:,.1f} m beyond the {parent.level} boundary, near {_lonlat_text(where)} "
            f"(tolerance {tolerance_m:g} m)",
            details={"parent_code": parent.code, "outside_m2": round(outside, 1), "max_distance_m": round(far, 2),
                     "location": [round(where.x, 6), round(where.y, 6)]})
    stray = _polygonal(shapely.difference(geom, parent.geom))
    clipped = metric.area(stray)
    if clipped > 0:
        geom = shapely.intersection(geom, parent.geom)
    cleaned = _clean(geom, metric)
    if cleaned.is_empty:
        raise InvalidGeometry(f"{unit_label}: the boundary encloses less than {SLIVER_M2:g} m²")
    return cleaned, clipped


def move_buildings(
    session: Session,
    *,
    from_grid: str,
    building_ids: list[int],
    to_grid: str,
    reason: str,
    versions: dict[str, int],
    principal: Principal = SYSTEM,
    request_id: str | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Move whole buildings to a bordering grid of the same community; both grids get new versions.

    The area that moves is the buildings' cells in the tessellation of the source grid
    (``gis.partition.cells.build_cells``: street blocks cut into one Voronoi cell per
    building), so the two grids still tile the community. Refused when a grid would fall
    into separate parts or the source grid would be left empty.
    """
    from_grid, to_grid = _check_code("grid", from_grid), _check_code("grid", to_grid)
    reason = _check_reason(reason, f"moving buildings from grid {from_grid} to grid {to_grid}")
    if from_grid == to_grid:
        raise InvalidInput(f"to_grid: the buildings are already in grid {from_grid}; name another grid")
    if from_grid[:12] != to_grid[:12]:
        raise InvalidInput(f"grid {to_grid} is in community {to_grid[:12]} and grid {from_grid} in community "
                           f"{from_grid[:12]}; buildings move only between grids of one community (redraw the "
                           f"communities first)")
    try:
        ids = sorted({int(b) for b in building_ids})
    except (TypeError, ValueError):
        raise InvalidInput(f"building_ids: whole numbers expected; received {building_ids!r}") from None
    if not ids:
        raise InvalidInput("building_ids: name at least one building to move")

    parent = _lock_parent(session, "grid", from_grid, principal)
    units = {c: _lock_unit(session, "grid", c) for c in sorted((from_grid, to_grid))}
    _check_versions(list(units.values()), {str(k): v for k, v in (versions or {}).items()})
    source, target = units[from_grid], units[to_grid]
    metric = _Metric(parent.geom)

    shared = float(metric.to_metric(source.geom).boundary.intersection(metric.to_metric(target.geom).boundary).length)
    if shared < MIN_SHARED_BOUNDARY_M:
        raise InvalidInput(f"grid {to_grid} does not border grid {from_grid} (they share {shared:.1f} m of "
                           f"boundary); buildings move only to an adjacent grid")
    moved, kept = _transfer_area(session, source, ids, metric)
    # The moved area meets the target along the source's edge, but its new corners there were computed in
    # floating point: snap them into the target's edge first, or the union keeps a hair-thin seam.
    new_target = _clean(shapely.union(shapely.snap(target.geom, moved, _SNAP_DEG), moved), metric)
    for grid, geom in ((from_grid, kept), (to_grid, new_target)):
        parts = _parts(geom, metric)
        if not parts:
            raise InvalidInput(f"moving building(s) {', '.join(map(str, ids))} would leave grid {from_grid} "
                               f"without any area; merge grid {from_grid} into grid {to_grid} instead")
        if len(parts) > 1:
            detached = shapely.union_all(parts[1:])
            raise InvalidGeometry(
                f"moving building(s) {', '.join(map(str, ids))} would leave grid {grid} in {len(parts)} separate "
                f"parts (the detached part covers {_area_text(metric.area(detached))} near "
                f"{_lonlat_text(detached)}); move buildings along the border of grids {from_grid} and {to_grid}",
                details={"grid": grid, "parts": len(parts)})
    siblings = _children(session, "grid", parent.code)
    write = [_NewVersion(code=u.code, name=u.name, geom=g, previous=u, kind=u.kind, grid_level=u.grid_level,
                         parent_grid_code=u.parent_grid_code)
             for u, g in sorted(((source, kept), (target, new_target)), key=lambda p: p[0].code)]
    edit = _Edit("move_buildings", "grid", parent, sorted(units.values(), key=lambda u: u.code), write, reason,
                 {"codes": [from_grid, to_grid], "from_grid": from_grid, "to_grid": to_grid, "building_ids": ids})
    result = _apply(session, edit, principal=principal, request_id=request_id, settings=settings, siblings=siblings)
    result.update(from_grid=from_grid, to_grid=to_grid, building_ids=ids,
                  moved_area_m2=round(metric.area(moved), 1))
    return result


def _transfer_area(session: Session, source: _Unit, ids: list[int], metric: _Metric
                   ) -> tuple[BaseGeometry, MultiPolygon]:
    """The part of ``source`` that moves with buildings ``ids`` (their tessellation cells), and what stays."""
    found = dict(session.execute(text("SELECT id, households FROM building WHERE id = ANY(:ids)"),
                                 {"ids": ids}).all())
    missing = [b for b in ids if b not in found]
    if missing:
        raise NotFound(f"building(s) {', '.join(map(str, missing))} do not exist")
    buildings = read_frame(session, """
        SELECT b.id, b.households, b.compound_id AS compound, ST_AsBinary(b.geom) AS geom
        FROM building b, grid g WHERE g.id = :g AND ST_Intersects(g.geom, b.geom)
          AND ST_Contains(g.geom, ST_PointOnSurface(b.geom)) ORDER BY b.id""", {"g": source.id})
    elsewhere = [b for b in ids if b not in set(buildings["id"])]
    if elsewhere:
        located = privacy.grid_of_buildings(session, elsewhere)
        said = ", ".join(f"{b} (in {'grid ' + located[b] if b in located else 'no grid'})" for b in elsewhere)
        raise InvalidInput(f"building(s) {said} are not in grid {source.code}; only its own buildings move out of it",
                           details={"not_in_grid": elsewhere})
    region = shapely.union_all(shapely.get_parts(source.geom))
    envelope = f"SRID=4490;{region.envelope.wkt}"
    roads = read_frame(session, "SELECT is_main_road, name, ST_AsBinary(geom) AS geom FROM walk_edge "
                                "WHERE geom && ST_GeomFromEWKT(:e)", {"e": envelope})
    barriers = read_frame(session, "SELECT name, ST_AsBinary(geom) AS geom FROM barrier "
                                   "WHERE geom && ST_GeomFromEWKT(:e)", {"e": envelope})
    buildings["compound"] = buildings["compound"].astype(object).where(buildings["compound"].notna(), None)
    to_m = metric.crs
    # Compounds are not merged into one cell (max_households=0): only the named buildings move.
    graph = build_cells(metric.to_metric(region), buildings.to_crs(to_m), roads.to_crs(to_m),
                        barriers.to_crs(to_m), max_households=0)
    moving = buildings["id"].isin(ids).to_numpy()
    cells = set(int(c) for c in graph.building_cell[moving])
    also = [int(b) for b, c, m in zip(buildings["id"], graph.building_cell, moving, strict=True)
            if not m and int(c) in cells]
    if also:
        raise InvalidInput(f"building(s) {', '.join(map(str, also))} share a cell with the buildings to move; "
                           f"move them too", details={"share_cell": also})
    cut = shapely.union_all(graph.cells.geometry.to_numpy()[sorted(cells)]).buffer(_CUT_OVERLAP_M)
    cut = metric.to_lonlat(cut)
    moved = _clean(shapely.intersection(source.geom, cut), metric)
    kept = _clean(shapely.difference(source.geom, cut), metric)
    return moved, kept


def split_grid(
    session: Session,
    *,
    code: str,
    line: Any,
    reason: str,
    expected_version: int | None,
    names: list[str] | None = None,
    principal: Principal = SYSTEM,
    request_id: str | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Cut a grid in two along a line: the grid is retired and two grids with new codes tile it.

    ``line`` is a GeoJSON LineString (lon/lat) crossing the grid from edge to edge; its ends
    are extended by ``PARENT_TOLERANCE_M`` so a line drawn to the boundary reaches it. New codes
    follow every code ever used in the community (reading order, north-west first); ``names``
    (two, in the order of the new codes) default to placeholders a planner renames.
    """
    code = _check_code("grid", code)
    reason = _check_reason(reason, f"splitting grid {code}")
    cut = parse_geometry(line, where="line", kinds=("LineString",))
    if names is not None:
        names = [str(n).strip() for n in names]
        if len(names) != 2 or not all(1 <= len(n) <= 100 for n in names):
            raise InvalidInput(f"names: two names of 1 to 100 characters, one per new grid; received {names!r}")

    # Exclusive on the community: new codes are given out, so two splits must not pick the same one.
    parent = _lock_parent(session, "grid", code, principal, exclusive=True)
    unit = _lock_unit(session, "grid", code)
    _check_versions([unit], {code: expected_version})
    metric = _Metric(parent.geom)
    blade = metric.to_lonlat(_extend(metric.to_metric(cut), PARENT_TOLERANCE_M))
    pieces = _parts(split_geometry(unit.geom, blade), metric)
    if len(pieces) < 2:
        inside = [p for p in (cut.coords[0], cut.coords[-1]) if unit.geom.contains(shapely.Point(p))]
        hint = (f"; it ends inside the grid near {_lonlat_text(shapely.Point(inside[0]))}" if inside
                else "; it does not cross it")
        raise InvalidGeometry(f"the line does not cut grid {code} in two: draw it across the grid from one edge to "
                              f"another{hint}", details={"pieces": len(pieces)})
    if len(pieces) > 2:
        raise InvalidGeometry(f"the line cuts grid {code} into {len(pieces)} pieces; draw a line that crosses it "
                              f"once, so that it falls in two", details={"pieces": len(pieces)})
    frame = gpd.GeoDataFrame(geometry=[MultiPolygon([p]) for p in pieces], crs=STORAGE_CRS)
    codes = assign_codes(frame, parent_code=parent.code, existing_codes=codes_ever_used(session, "grid", parent.code))
    order = sorted(frame.index, key=lambda i: codes[i])
    if names is None:
        names = [f"{parent.name}第{int(codes[i][-3:])}网格"[:100] for i in order]
    write = [_NewVersion(code=codes[i], name=n, geom=frame.geometry[i], kind=unit.kind, grid_level=unit.grid_level,
                         parent_grid_code=unit.parent_grid_code) for i, n in zip(order, names, strict=True)]
    siblings = _children(session, "grid", parent.code)
    edit = _Edit("split", "grid", parent, [unit], write, reason,
                 {"codes": [code], "new_codes": [w.code for w in write], "line": mapping(cut)})
    result = _apply(session, edit, principal=principal, request_id=request_id, settings=settings, siblings=siblings)
    result.update(code=code, new_codes=[w.code for w in write])
    return result


def _extend(line: LineString, by: float) -> LineString:
    """``line`` (metric) with both ends extended by ``by`` metres along their end segments."""
    xy = np.asarray(line.coords, dtype=float)
    if len(xy) < 2:
        return line

    def beyond(end: np.ndarray, before: np.ndarray) -> np.ndarray:
        d = end - before
        n = float(np.hypot(*d))
        return end if n == 0 else end + d / n * by

    return LineString([beyond(xy[0], xy[1]), *xy[1:-1], beyond(xy[-1], xy[-2])])


def _merge_request(level: str, codes: Any, reason: str, name: str | None) -> tuple[list[str], str, str | None]:
    """The codes, reason and new name of a merge, checked: at least two distinct units of one parent."""
    plural, parent_len, parents, hint = {
        "grid": ("grids", 12, "communities", " (redraw the communities first)"),
        "community": ("communities", 9, "streets", ""),
    }[level]
    if not isinstance(codes, list | tuple) or len(codes) < 2:
        raise InvalidInput(f"codes: name at least two {plural} to merge; received {codes!r}")
    codes = [_check_code(level, c) for c in codes]
    dup = sorted({c for c in codes if codes.count(c) > 1})
    if dup:
        raise InvalidInput(f"codes: {level} {', '.join(dup)} is named more than once")
    parent_codes = sorted({c[:parent_len] for c in codes})
    if len(parent_codes) > 1:
        raise InvalidInput(f"{plural} {', '.join(codes)} lie in {parents} {', '.join(parent_codes)}; only {plural} "
                           f"of one {parents[:-1] if parents == 'streets' else 'community'} merge{hint}")
    reason = _check_reason(reason, f"merging {plural} {', '.join(codes)}")
    new_name = None if name is None else str(name).strip()
    if new_name is not None and not 1 <= len(new_name) <= 100:
        raise InvalidInput(f"name: 1 to 100 characters; received {name!r}")
    return codes, reason, new_name


def _lock_for_merge(session: Session, level: str, codes: list[str], versions: dict[str, int] | None,
                    principal: Principal) -> tuple[Any, dict[str, Any]]:
    """The parent and the units to merge, locked, at the versions the caller saw."""
    parent = _lock_parent(session, level, codes[0], principal)
    units = {c: _lock_unit(session, level, c) for c in sorted(codes)}
    _check_versions([units[c] for c in codes], {str(k): v for k, v in (versions or {}).items()})
    return parent, units


def _one_piece(plural: str, codes: list[str], units: dict[str, Any], metric: Any) -> BaseGeometry:
    """The union of the units to merge, refused when they do not border each other."""
    merged = _clean(shapely.union_all([units[c].geom for c in codes]), metric)
    parts = _parts(merged, metric)
    if len(parts) > 1:
        groups = [sorted(c for c in codes if units[c].geom.intersects(p)) for p in parts]
        raise InvalidGeometry(f"{plural} {', '.join(codes)} do not form one piece: their union has {len(parts)} "
                              f"separate parts ({'; '.join(', '.join(g) for g in groups)}); merge {plural} that "
                              f"border each other", details={"parts": groups})
    return merged


def merge_grids(
    session: Session,
    *,
    codes: list[str],
    reason: str,
    versions: dict[str, int],
    name: str | None = None,
    principal: Principal = SYSTEM,
    request_id: str | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Merge bordering grids of one community: the first code continues as the merged grid, the others retire."""
    codes, reason, new_name = _merge_request("grid", codes, reason, name)

    parent, units = _lock_for_merge(session, "grid", codes, versions, principal)
    kinds = {units[c].kind for c in codes}
    if len(kinds) > 1:
        said = ", ".join(f"{c} is {units[c].kind}" for c in codes)
        raise InvalidInput(f"grids of different kinds do not merge ({said}); a dedicated grid (专属网格) stays apart")
    merged = _one_piece("grids", codes, units, _Metric(parent.geom))
    first = units[codes[0]]
    siblings = _children(session, "grid", parent.code)
    write = [_NewVersion(code=first.code, name=new_name or first.name, geom=merged, previous=first, kind=first.kind,
                         grid_level=first.grid_level, parent_grid_code=first.parent_grid_code)]
    edit = _Edit("merge", "grid", parent, [units[c] for c in codes], write, reason, {"codes": codes})
    result = _apply(session, edit, principal=principal, request_id=request_id, settings=settings, siblings=siblings)
    result.update(code=first.code, version=result["written"][0]["version"], merged=codes)
    return result


# --- communities: split and merge by hand --------------------------------------------------


def _households_in(session: Session, geom: BaseGeometry) -> int:
    return int(session.execute(text(
        "SELECT COALESCE(SUM(households), 0) FROM building WHERE geom && ST_GeomFromEWKT(:g) "
        "AND ST_Contains(ST_GeomFromEWKT(:g), ST_PointOnSurface(geom))"),
        {"g": f"SRID=4490;{geom.wkt}"}).scalar_one())


def _retire_grids_of(session: Session, plan_id: int, communities: list[str]) -> list[dict[str, Any]]:
    """Retire the current grids of communities whose boundary an edit changed; the plan remembers them for a revert.

    A grid code starts with its community's code and a community's grids must tile it, so grids drawn
    for the old boundary cannot stay: the community needs a new grid split.
    """
    plan = session.get(Plan, plan_id)
    now = plan.adopted_at
    rows = session.execute(text(
        "UPDATE grid SET valid_to = GREATEST(:now, valid_from + interval '1 microsecond') "
        "WHERE valid_to IS NULL AND community_code = ANY(:c) RETURNING id, code, community_code"),
        {"now": now, "c": communities}).all()
    adoption = dict((plan.metrics or {}).get("adoption") or {})
    adoption["retired_grid_ids"] = sorted(int(i) for i, _, _ in rows)
    plan.metrics = {**(plan.metrics or {}), "adoption": adoption}
    by_community: dict[str, list[str]] = {}
    for _, code, community in rows:
        by_community.setdefault(community, []).append(code)
    session.flush()
    return [{"community_code": c, "grids": sorted(g)} for c, g in sorted(by_community.items())]


def split_community(
    session: Session,
    *,
    code: str,
    line: Any,
    reason: str,
    expected_version: int | None,
    name: str | None = None,
    principal: Principal = SYSTEM,
    request_id: str | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Cut a community in two along a line: the part with more households keeps the code, the other is new.

    The new community's code follows every code ever used in the street inside the committee range
    of the old one (居委会 001–199, 村委会 200–399) and is provisional until confirmed
    (``wangge plan confirm-code``). The community's grids are retired: both parts need a grid split.
    """
    code = _check_code("community", code)
    reason = _check_reason(reason, f"splitting community {code}")
    cut = parse_geometry(line, where="line", kinds=("LineString",))
    new_name = None if name is None else str(name).strip()
    if new_name is not None and not 1 <= len(new_name) <= 100:
        raise InvalidInput(f"name: 1 to 100 characters; received {name!r}")

    # Exclusive on the street: a new code is given out, so two splits must not pick the same one.
    parent = _lock_parent(session, "community", code, principal, exclusive=True)
    unit = _lock_unit(session, "community", code)
    _check_versions([unit], {code: expected_version})
    metric = _Metric(parent.geom)
    blade = metric.to_lonlat(_extend(metric.to_metric(cut), PARENT_TOLERANCE_M))
    pieces = _parts(split_geometry(unit.geom, blade), metric)
    if len(pieces) != 2:
        raise InvalidGeometry(f"the line cuts community {code} into {len(pieces)} piece(s); draw a line across the "
                              f"community from one edge to another, crossing it once", details={"pieces": len(pieces)})
    households = [_households_in(session, p) for p in pieces]
    keep = max(range(2), key=lambda i: (households[i], metric.area(pieces[i])))
    committee = approval_service.committee_of(code) or "neighbourhood"
    new_code = approval_service.next_code_in_range(codes_ever_used(session, "community", parent.code),
                                                   street_code=parent.code, committee=committee,
                                                   what=f"splitting community {code}")
    write = [_NewVersion(code=code, name=unit.name, geom=MultiPolygon([pieces[keep]]), previous=unit),
             _NewVersion(code=new_code, name=new_name or f"{parent.name}第{int(new_code[-3:])}社区"[:100],
                         geom=MultiPolygon([pieces[1 - keep]]))]
    siblings = _children(session, "community", parent.code)
    edit = _Edit("split", "community", parent, [unit], write, reason,
                 {"codes": [code], "new_codes": [new_code], "line": mapping(cut)})
    result = _apply(session, edit, principal=principal, request_id=request_id, settings=settings, siblings=siblings)
    approval_service.record_new_codes(session, codes={new_code: committee}, plan_id=result["plan_id"])
    retired_grids = _retire_grids_of(session, result["plan_id"], [code])
    result.update(code=code, new_codes=[new_code], code_status={new_code: "provisional"},
                  retired_grids=retired_grids, needs_grid_split=[code, new_code],
                  staff_to_reassign=_staff_of(session, [g for r in retired_grids for g in r["grids"]]))
    return result


def merge_communities(
    session: Session,
    *,
    codes: list[str],
    reason: str,
    versions: dict[str, int],
    name: str | None = None,
    principal: Principal = SYSTEM,
    request_id: str | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Merge bordering communities of one street (撤并): the first code continues, the others retire with their grids."""
    codes, reason, new_name = _merge_request("community", codes, reason, name)

    parent, units = _lock_for_merge(session, "community", codes, versions, principal)
    merged = _one_piece("communities", codes, units, _Metric(parent.geom))
    first = units[codes[0]]
    siblings = _children(session, "community", parent.code)
    write = [_NewVersion(code=first.code, name=new_name or first.name, geom=merged, previous=first)]
    edit = _Edit("merge", "community", parent, [units[c] for c in codes], write, reason, {"codes": codes})
    result = _apply(session, edit, principal=principal, request_id=request_id, settings=settings, siblings=siblings)
    retired_grids = _retire_grids_of(session, result["plan_id"], codes)
    result.update(code=first.code, version=result["written"][0]["version"], merged=codes,
                  retired_grids=retired_grids, needs_grid_split=[first.code],
                  staff_to_reassign=_staff_of(session, [g for r in retired_grids for g in r["grids"]]))
    return result
