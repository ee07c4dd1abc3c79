"""Report maps: read each view's data from the database and draw it with :mod:`gis.maps`.

Views: ``planner`` (households per grid against the bounds), ``grid`` (one grid or community,
buildings by households, 四至), ``facility`` (gaps of one facility type from the latest coverage
run) and ``cases`` (incident clusters and heat, patrol tracks with time). Personal data stays out:
incidents carry category, status and date only, patrol tracks name no worker, and reading the
tracks (行踪轨迹, sensitive under PIPL) leaves one audit row.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import geopandas as gpd
import pandas as pd
from sqlalchemy import func, select, text, true
from sqlalchemy.orm import Session

from gis.cases.workflow import CLOSED_STATUSES
from gis.db.frames import read_frame
from gis.db.levels import level_table
from gis.db.units import unit_households
from gis.errors import InvalidInput, NotFound
from gis.map_views import DEFAULT_CASE_DAYS, VIEWS
from gis.maps import Background, cases_map, facility_map, grid_map, layer_names, planner_map, render_html
from gis.services import privacy
from gis.services.coverage import coverage_gaps, facility_types, latest_run, resolve_district
from gis.services.users import SYSTEM, Principal
from gis.settings import Settings

# Background beyond the drawn units: ~200 m, so that roads at the edge are not cut off.
MARGIN_DEG = 0.002
BACKGROUND_SIMPLIFY_DEG = 2e-5
# Gap polygons drawn at most (best ranked first); the legend gives the totals.
MAX_GAPS = 100


def _check_view(view: str) -> str:
    if view not in VIEWS:
        raise InvalidInput.for_field("view", f"must be one of {', '.join(VIEWS)}; got {view!r}")
    return view


def _units(session: Session, level: str, *, district_code: str, community_code: str | None = None,
           grid_code: str | None = None, code: str | None = None) -> gpd.GeoDataFrame:
    """Current grids or communities with households and 四至, optionally narrowed to a community, grid or code."""
    u = level_table(level)
    hh = unit_households(u)
    query = select(u.c.code, u.c.name, u.c.four_limits["text"].astext.label("four_limits"), hh.c.households,
                   hh.c.buildings, func.ST_AsBinary(u.c.geom).label("geom")).select_from(
        u.outerjoin(hh, true())).where(u.c.valid_to.is_(None), u.c.district_code == district_code)
    if community_code and level == "grid":
        query = query.where(u.c.community_code == community_code)
    for wanted in (grid_code, code):
        if wanted:
            query = query.where(u.c.code == wanted)
    return read_frame(session, query.order_by(u.c.code))


def _one_community(session: Session, district_code: str, community_code: str) -> gpd.GeoDataFrame:
    frame = _units(session, "community", district_code=district_code, code=community_code)
    if frame.empty:
        raise NotFound(f"community {community_code} is not a current community of district {district_code}")
    return frame


def _bounds(*frames: gpd.GeoDataFrame | None) -> tuple[float, float, float, float]:
    """The frames' common lon/lat box widened by MARGIN_DEG; NotFound when every frame is empty."""
    boxes = [f.total_bounds for f in frames if f is not None and len(f)]
    if not boxes:
        raise NotFound("nothing to draw: every layer of this view is empty")
    minx, miny = min(b[0] for b in boxes), min(b[1] for b in boxes)
    maxx, maxy = max(b[2] for b in boxes), max(b[3] for b in boxes)
    return (float(minx) - MARGIN_DEG, float(miny) - MARGIN_DEG, float(maxx) + MARGIN_DEG,
            float(maxy) + MARGIN_DEG)


def read_background(session: Session, *, district_code: str, bounds: tuple[float, float, float, float]
                    ) -> Background:
    """Roads (main and minor merged into one line each) and water within ``bounds``, simplified in SQL."""
    params = {"d": district_code, "x0": bounds[0], "y0": bounds[1], "x1": bounds[2], "y1": bounds[3],
              "tol": BACKGROUND_SIMPLIFY_DEG}
    envelope = "ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4490)"
    roads = read_frame(session, f"""
        SELECT is_main_road AS main,
               ST_AsBinary(ST_Simplify(ST_LineMerge(ST_Collect(ST_Intersection(geom, {envelope}))), :tol)) AS geom
        FROM walk_edge WHERE district_code = :d AND geom && {envelope} GROUP BY is_main_road""", params)
    water = read_frame(session, f"""
        SELECT kind, ST_AsBinary(ST_Simplify(ST_Intersection(geom, {envelope}), :tol)) AS geom
        FROM barrier WHERE district_code = :d AND kind IN ('water', 'waterway') AND geom && {envelope}""", params)
    return Background(roads=roads, water=water)


def _planner(session: Session, settings: Settings, code: str, name: str, *, community_code: str | None
             ) -> tuple[Any, dict[str, Any]]:
    grids = _units(session, "grid", district_code=code, community_code=community_code)
    if community_code:
        communities = _one_community(session, code, community_code)
    else:
        communities = _units(session, "community", district_code=code)
    if grids.empty:
        where = f"community {community_code}" if community_code else f"district {code}"
        raise NotFound(f"{where} has no current grids: adopt a grid plan first (wangge plan adopt)")
    title = (f"{communities['name'].iloc[0]} 网格户数" if community_code else f"{name} 网格户数") + \
        " Households per grid"
    m = planner_map(grids, communities, read_background(session, district_code=code, bounds=_bounds(grids)),
                    min_households=settings.grid_min_households, max_households=settings.grid_max_households,
                    title=title, subtitle=f"{code} · {len(grids)} grids · 规模 {settings.grid_min_households}–"
                                          f"{settings.grid_max_households} 户/网格 · {_today()}")
    return m, {"grids": len(grids), "communities": len(communities),
               "households": int(grids["households"].sum())}


def _grid(session: Session, code: str, *, community_code: str | None, grid_code: str | None
          ) -> tuple[Any, dict[str, Any]]:
    if not community_code and not grid_code:
        raise InvalidInput.for_field("grid_code", "or community_code: the grid view needs one of the two")
    outline = None
    if grid_code:
        units = _units(session, "grid", district_code=code, grid_code=grid_code)
        if units.empty:
            raise NotFound(f"grid {grid_code} is not a current grid of district {code}")
        area = units
    else:
        outline = _one_community(session, code, community_code)  # type: ignore[arg-type]
        units = _units(session, "grid", district_code=code, community_code=community_code)
        area = outline
        if units.empty:  # a community without grids yet: show the community itself
            units = outline
    buildings = read_frame(session, """
        WITH area AS (SELECT ST_Union(ST_GeomFromWKB(:wkb, 4490)) AS geom)
        SELECT b.id, coalesce(b.name, b.address, '楼栋 ' || b.id) AS name, b.households, ST_AsBinary(b.geom) AS geom
        FROM building b, area a
        WHERE ST_Intersects(a.geom, b.geom) AND ST_Contains(a.geom, ST_PointOnSurface(b.geom)) ORDER BY b.id""",
        {"wkb": area.union_all().wkb})
    head = area.iloc[0]
    title = f"{head['name']} 楼栋户数 Households per building"
    m = grid_map(buildings, units, read_background(session, district_code=code, bounds=_bounds(area)),
                 title=title, outline=outline,
                 subtitle=f"{head['code']} · {int(buildings['households'].sum()):,} 户 · {len(buildings)} 栋 · "
                          f"{_today()}")
    return m, {"units": len(units), "buildings": len(buildings),
               "households": int(buildings["households"].sum())}


def _facility(session: Session, code: str, name: str, *, type_code: str | None, community_code: str | None
              ) -> tuple[Any, dict[str, Any]]:
    if not type_code:
        raise InvalidInput.for_field("type_code", "is needed by the facility view, e.g. kindergarten (see "
                                     "`wangge coverage catalogue`)")
    catalogue = facility_types(session)
    if type_code not in catalogue:
        raise InvalidInput.for_field("type_code", f"{type_code!r} is not in the facility catalogue; known: "
                                     + ", ".join(sorted(catalogue)))
    ft = catalogue[type_code]
    run = latest_run(session, code, type_code=type_code)
    if run is None:
        raise NotFound(f"no coverage run of {type_code} for district {code}: run `wangge coverage compute` first")
    community = _one_community(session, code, community_code) if community_code else None
    gaps_report = coverage_gaps(session, type_code=type_code, district_code=code, run_id=run["run_id"])
    gaps = gpd.GeoDataFrame.from_features(gaps_report["geojson"]["features"], crs="EPSG:4490")
    if gaps.empty:
        gaps = gpd.GeoDataFrame({"rank": [], "households": [], "target_population": [], "buildings": [],
                                 "community_code": []}, geometry=[], crs="EPSG:4490")
    if community_code:
        gaps = gaps[gaps["community_code"] == community_code]
    gaps = gaps.sort_values("rank").head(MAX_GAPS)
    in_community = ("AND ST_Contains(ST_GeomFromWKB(:area, 4490), ST_PointOnSurface(b.geom))"
                    if community is not None else "")
    area_wkb = community.union_all().wkb if community is not None else None
    uncovered = read_frame(session, f"""
        SELECT c.building_id, c.households, c.target_population, c.distance_m,
               ST_AsBinary(ST_PointOnSurface(b.geom)) AS geom
        FROM building_coverage c JOIN building b ON b.id = c.building_id
        WHERE c.run_id = :r AND c.type_code = :t AND NOT c.within_standard {in_community}
        ORDER BY c.target_population DESC, c.building_id""",
        {"r": run["run_id"], "t": type_code, "area": area_wkb})
    near_community = ("AND ST_DWithin(f.geom::geography, ST_GeomFromWKB(:area, 4490)::geography, :radius)"
                      if community is not None else "")
    facilities = read_frame(session, f"""
        SELECT f.id, f.name, ST_AsBinary(f.geom) AS geom FROM facility f
        WHERE f.district_code = :d AND f.type_code = :t {near_community} ORDER BY f.id""",
        {"d": code, "t": type_code, "area": area_wkb, "radius": ft.radius_m})
    stale = " · 网络已更新, 覆盖结果过期 stale run" if run["stale"] else ""
    where = community["name"].iloc[0] if community is not None else name
    if community is None and facilities.empty and uncovered.empty:
        raise NotFound(f"nothing to draw for {type_code} in {where}: no facilities and no uncovered buildings")
    bounds = _bounds(community) if community is not None else _bounds(facilities, uncovered, gaps)
    m = facility_map(
        facilities=facilities, uncovered=uncovered, gaps=gaps, area=community,
        background=read_background(session, district_code=code, bounds=bounds),
        type_label=f"{ft.name_zh} {ft.name_en}", radius_m=ft.radius_m, level=ft.level,
        title=f"{where} {ft.name_zh}服务覆盖与缺口 Coverage gaps: {ft.name_en}",
        subtitle=f"coverage run {run['run_id']} ({run['mode']}) · {len(uncovered)} uncovered buildings · "
                 f"{gaps_report.get('gaps_total', 0)} gaps{stale} · {_today()}")
    return m, {"run_id": run["run_id"], "facilities": len(facilities), "uncovered_buildings": len(uncovered),
               "gaps": len(gaps), "stale": run["stale"]}


def read_tracks(session: Session, *, district_code: str, since: dt.datetime, area_wkb: bytes | None = None
                ) -> pd.DataFrame:
    """Track points (patrol_id, grid_code, at, lon, lat) of patrols started since ``since``, in time order.

    A patrol stored without points gets its line's vertices, timed evenly from start to end.
    """
    in_area = "AND ST_Intersects(pa.geom, ST_GeomFromWKB(:area, 4490))" if area_wkb else ""
    params = {"d": district_code, "since": since, "area": area_wkb}
    points = pd.DataFrame(session.execute(text(f"""
        SELECT pa.id AS patrol_id, pa.grid_code, p.at, ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat
        FROM patrol pa JOIN patrol_point p ON p.patrol_id = pa.id
        WHERE pa.district_code = :d AND pa.started_at >= :since {in_area}
        ORDER BY pa.id, p.at, p.id"""), params).all(), columns=["patrol_id", "grid_code", "at", "lon", "lat"])
    lines = pd.DataFrame(session.execute(text(f"""
        SELECT pa.id AS patrol_id, pa.grid_code,
               pa.started_at + (pa.ended_at - pa.started_at) * (d.path[1] - 1)
                   / greatest(ST_NPoints(pa.geom) - 1, 1) AS at,
               ST_X(d.geom) AS lon, ST_Y(d.geom) AS lat
        FROM patrol pa CROSS JOIN LATERAL ST_DumpPoints(pa.geom) d
        WHERE pa.district_code = :d AND pa.started_at >= :since AND pa.geom IS NOT NULL {in_area}
          AND NOT EXISTS (SELECT 1 FROM patrol_point p WHERE p.patrol_id = pa.id)
        ORDER BY pa.id, d.path[1]"""), params).all(), columns=["patrol_id", "grid_code", "at", "lon", "lat"])
    frames = [f for f in (points, lines) if len(f)]
    if not frames:
        return points
    return pd.concat(frames, ignore_index=True)


def _cases(session: Session, settings: Settings, code: str, name: str, *, community_code: str | None,
           grid_code: str | None, days: int, now: dt.datetime, reader: Principal, reason: str
           ) -> tuple[Any, dict[str, Any]]:
    if days < 1:
        raise InvalidInput.for_field("days", f"must be 1 or more; got {days}")
    since = now - dt.timedelta(days=days)
    area: gpd.GeoDataFrame | None = None
    if grid_code:
        area = _units(session, "grid", district_code=code, grid_code=grid_code)
        if area.empty:
            raise NotFound(f"grid {grid_code} is not a current grid of district {code}")
    elif community_code:
        area = _one_community(session, code, community_code)
    area_wkb = area.union_all().wkb if area is not None else None
    in_area = "AND ST_Intersects(i.geom, ST_GeomFromWKB(:area, 4490))" if area_wkb else ""
    incidents = read_frame(session, f"""
        SELECT i.id, i.category, i.status, i.reported_at, NOT (i.status = ANY(:closed)) AS is_open,
               ST_AsBinary(i.geom) AS geom
        FROM incident i WHERE i.district_code = :d AND i.reported_at >= :since {in_area}
        ORDER BY i.reported_at DESC, i.id DESC""",
        {"d": code, "since": since, "area": area_wkb, "closed": sorted(CLOSED_STATUSES)})
    # Tracks are kept for a retention period only (domain §6): never draw older ones.
    track_since = max(since, now - dt.timedelta(days=settings.patrol_retention_days))
    tracks = read_tracks(session, district_code=code, since=track_since, area_wkb=area_wkb)
    patrol_ids = sorted({int(p) for p in tracks["patrol_id"]}) if len(tracks) else []
    privacy.record_read(session, reader, entity="patrol", entity_ids=patrol_ids, action="map_export",
                        reason=reason, district_code=code, detail={"view": "cases", "since": since.isoformat()})
    where = area["name"].iloc[0] if area is not None else name
    if area is None:
        area = _units(session, "community", district_code=code)
    m = cases_map(incidents=incidents, tracks=tracks, area=area, title=f"{where} 事件与巡查 Incidents and patrols",
                  background=read_background(session, district_code=code, bounds=_bounds(area)),
                  subtitle=f"{since.date()} – {now.date()} · {len(incidents)} incidents · {len(patrol_ids)} "
                           "patrols (轨迹保留 " f"{settings.patrol_retention_days} 天)")
    return m, {"incidents": len(incidents), "open_incidents": int(incidents["is_open"].sum()) if len(incidents)
               else 0, "patrols": len(patrol_ids), "track_points": len(tracks)}


def _today() -> str:
    return dt.date.today().isoformat()


def export_map(session: Session, *, view: str, settings: Settings, district_code: str | None = None,
               community_code: str | None = None, grid_code: str | None = None, type_code: str | None = None,
               days: int = DEFAULT_CASE_DAYS, now: dt.datetime | None = None, reader: Principal = SYSTEM,
               reason: str = "map export") -> dict[str, Any]:
    """One report map as a self-contained HTML page: ``{"html", "view", "bytes", "layers", ...figures}``."""
    _check_view(view)
    code, name, _ = resolve_district(session, district_code)
    if view == "planner":
        m, figures = _planner(session, settings, code, name, community_code=community_code)
    elif view == "grid":
        m, figures = _grid(session, code, community_code=community_code, grid_code=grid_code)
    elif view == "facility":
        m, figures = _facility(session, code, name, type_code=type_code, community_code=community_code)
    else:
        m, figures = _cases(session, settings, code, name, community_code=community_code, grid_code=grid_code,
                            days=days, now=now or dt.datetime.now(dt.UTC), reader=reader, reason=reason)
    page = render_html(m)
    return {"view": view, "district_code": code, "html": page, "bytes": len(page.encode("utf-8")),
            "layers": layer_names(m), **figures}
