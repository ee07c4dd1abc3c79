"""The four report maps: planner, grid, facility and cases. Frames in (lon/lat), a folium Map out.

No database here: :mod:`gis.services.maps` reads the frames. Large layers are aggregated
(heat cells, gap polygons) or drawn as clustered point markers from compact arrays, never as one
GeoJSON feature per record of a large table.
"""

from __future__ import annotations

from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from folium.plugins import FastMarkerCluster, HeatMap

from gis.maps.base import (
    PRECISION,
    Background,
    Legend,
    LegendItem,
    add_background,
    add_legend,
    check_geographic,
    escape_text,
    lonlat_bounds,
    new_map,
    text_labels,
    to_features,
)

# Status colours against the household bounds (domain §3: 300–500 households a grid).
STATUS_COLOURS = {"below": "#6baed6", "in_range": "#74c476", "above": "#fb6a4a"}
STATUS_LABELS = {"below": "低于下限 below", "in_range": "范围内 in range", "above": "高于上限 above"}
# Households per building: upper bounds of the classes and their colours (YlOrRd).
BUILDING_CLASSES: tuple[tuple[int, str], ...] = (
    (0, "#d9d9d9"), (10, "#ffffb2"), (30, "#fecc5c"), (60, "#fd8d3c"), (120, "#f03b20"), (10**9, "#bd0026"))
# Past this many points a layer is clustered instead of drawn one marker each.
CLUSTER_AT = 300
# Incident markers drawn at most (newest first); the heat map always counts every incident.
MAX_INCIDENT_MARKERS = 5000
# Heat cells: incidents are summed on a 1e-4° (~10 m) lattice, coarsened tenfold while there are more than
# MAX_HEAT_CELLS, so that the heat layer stays small whatever the count.
HEAT_DECIMALS = 4
MAX_HEAT_CELLS = 20_000
MAX_TRACK_POINTS, MIN_TRACK_POINTS, MAX_TRACK_POINTS_TOTAL = 500, 20, 50_000
TRACK_STEPS = ("#fde725", "#90d743", "#35b779", "#21918c", "#31688e", "#443983", "#440154")
OPEN_COLOUR, CLOSED_COLOUR = "#d7301f", "#737373"
# Past this many grids, labels give households only; gap ranks are labelled for the best few only.
LABEL_NAMES_UP_TO = 30
LABELLED_GAPS = 10


def household_status(households: int, *, min_households: int, max_households: int) -> str:
    """below, in_range or above the grid size bounds."""
    if households < min_households:
        return "below"
    return "above" if households > max_households else "in_range"


def planner_map(grids: gpd.GeoDataFrame, communities: gpd.GeoDataFrame, background: Background, *,
                min_households: int, max_households: int, title: str, subtitle: str | None = None) -> folium.Map:
    """Households per grid against the bounds (in range / below / above), community outlines and labels.

    ``grids`` has code, name and households; ``communities`` has code and name.
    """
    check_geographic(grids, "grids")
    grids = grids.copy()
    grids["status"] = [household_status(int(h), min_households=min_households, max_households=max_households)
                       for h in grids["households"]]
    grids["status_label"] = grids["status"].map(STATUS_LABELS)
    m = new_map(bounds=lonlat_bounds(grids, communities), title=title, subtitle=subtitle)
    add_background(m, background)
    bounds_text = f"{min_households}–{max_households} 户"
    folium.GeoJson(
        to_features(grids, name="grids", columns=["code", "name", "households", "status", "status_label"]),
        name=f"网格户数 Households per grid ({bounds_text})",
        style_function=lambda f: {"fillColor": STATUS_COLOURS[f["properties"]["status"]], "fillOpacity": 0.6,
                                  "color": "#555", "weight": 1, "className": "wangge-grid"},
        tooltip=folium.GeoJsonTooltip(["name", "code", "households", "status_label"],
                                      aliases=["网格", "编码", "户数", "状态"]),
    ).add_to(m)
    if len(communities):
        folium.GeoJson(
            to_features(communities, name="communities", columns=["code", "name"]),
            name="社区边界 Community outlines",
            style_function=lambda _f: {"color": "#222", "weight": 3, "fill": False, "dashArray": "6 4",
                                       "className": "wangge-community"},
            tooltip=folium.GeoJsonTooltip(["name", "code"], aliases=["社区", "编码"]),
        ).add_to(m)
    # A whole district has too many grids for names: label households only, names are in the tooltips.
    households = grids["households"].astype(int).astype(str) + "户"
    label_text = households if len(grids) > LABEL_NAMES_UP_TO else grids["name"].astype(str) + " " + households
    text_labels(grids, list(label_text), name="标注 Labels").add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    counts = grids["status"].value_counts()
    add_legend(m, Legend(
        heading=f"网格户数 Households per grid ({bounds_text})",
        items=[LegendItem(STATUS_COLOURS[s], f"{STATUS_LABELS[s]}: {int(counts.get(s, 0))}")
               for s in ("below", "in_range", "above")]
              + [LegendItem("#222", "社区边界 community outline", "line")],
        notes=[f"{len(grids)} grids, {int(grids['households'].sum()):,} households"]))
    return m


def _building_colour(households: int) -> str:
    return next(colour for upper, colour in BUILDING_CLASSES if households <= upper)


def _class_labels() -> list[str]:
    labels, lower = [], 0
    for upper, _ in BUILDING_CLASSES:
        labels.append("0 户" if upper == 0 else (f"{lower}–{upper} 户" if upper < 10**9 else f"> {lower - 1} 户"))
        lower = upper + 1
    return labels


def grid_map(buildings: gpd.GeoDataFrame, units: gpd.GeoDataFrame, background: Background, *, title: str,
             subtitle: str | None = None, outline: gpd.GeoDataFrame | None = None) -> folium.Map:
    """One grid (or a community's grids) with buildings coloured by households, outlines and 四至.

    ``units`` (code, name, households, four_limits) are the grids drawn; ``outline`` optionally the
    community around them (code, name, four_limits), whose 四至 then heads the legend.
    """
    check_geographic(buildings, "buildings")
    buildings = buildings.copy()
    buildings["colour"] = [_building_colour(int(h)) for h in buildings["households"]]
    m = new_map(bounds=lonlat_bounds(units, outline), title=title, subtitle=subtitle)
    add_background(m, background)
    folium.GeoJson(
        to_features(buildings, name="buildings", columns=["id", "name", "households", "colour"]),
        name="楼栋户数 Households per building",
        style_function=lambda f: {"fillColor": f["properties"]["colour"], "fillOpacity": 0.85, "color": "#666",
                                  "weight": 0.5, "className": "wangge-building"},
        tooltip=folium.GeoJsonTooltip(["name", "households"], aliases=["楼栋", "户数"]),
    ).add_to(m)
    folium.GeoJson(
        to_features(units, name="grids", columns=["code", "name", "households", "four_limits"]),
        name="网格边界 Grid outline",
        style_function=lambda _f: {"color": "#08519c", "weight": 3, "fill": False, "className": "wangge-grid"},
        tooltip=folium.GeoJsonTooltip(["name", "code", "households", "four_limits"],
                                      aliases=["网格", "编码", "户数", "四至"]),
    ).add_to(m)
    if outline is not None and len(outline):
        folium.GeoJson(to_features(outline, name="community", columns=["code", "name"]),
                       name="社区边界 Community outline",
                       style_function=lambda _f: {"color": "#222", "weight": 3, "fill": False, "dashArray": "6 4",
                                                  "className": "wangge-community"},
                       ).add_to(m)
    text_labels(units, list(units["name"].astype(str)), name="标注 Labels").add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    heads = outline if outline is not None and len(outline) else units
    limits = [f"四至 {r['name']}: {r['four_limits'] or '未记录 not recorded'}"
              for _, r in heads.head(3).iterrows()]
    add_legend(m, Legend(
        heading="楼栋户数 Households per building",
        items=[LegendItem(colour, label) for (_, colour), label in zip(BUILDING_CLASSES, _class_labels(),
                                                                         strict=True)]
              + [LegendItem("#08519c", "网格边界 grid outline", "line")],
        notes=[*limits, f"{len(buildings)} buildings, {int(buildings['households'].sum()):,} households"]))
    return m


def _points(frame: gpd.GeoDataFrame) -> np.ndarray:
    """(lat, lon) rows, rounded, of each geometry's representative point."""
    pts = frame.geometry.representative_point()
    return np.round(np.column_stack([pts.y.to_numpy(), pts.x.to_numpy()]), PRECISION)


def _cluster_callback(colour: str, class_name: str) -> str:
    # row = [lat, lon, tooltip]; CircleMarkers need no icon font and cluster like markers.
    return ("function (row) { var m = L.circleMarker(new L.LatLng(row[0], row[1]), {radius: 5, color: '#333', "
            f"weight: 1, fillColor: row[3] || '{colour}', fillOpacity: 0.9, className: '{class_name}'}}); "
            "m.bindTooltip(row[2]); return m; }")


def _outline(area: gpd.GeoDataFrame) -> folium.GeoJson:
    """The units a view is about, as dashed outlines."""
    return folium.GeoJson(to_features(area, name="area", columns=["code", "name"]), name="范围 Area",
                          style_function=lambda _f: {"color": "#222", "weight": 2, "fill": False,
                                                     "dashArray": "6 4", "className": "wangge-area"},
                          tooltip=folium.GeoJsonTooltip(["name", "code"], aliases=["名称", "编码"]))


def facility_map(*, facilities: gpd.GeoDataFrame, uncovered: gpd.GeoDataFrame, gaps: gpd.GeoDataFrame,
                 background: Background, type_label: str, radius_m: float, level: str, title: str,
                 subtitle: str | None = None, area: gpd.GeoDataFrame | None = None) -> folium.Map:
    """Coverage gaps of one facility type: ranked gap areas, uncovered buildings, facilities, walking radius.

    ``facilities`` (name) are points; ``uncovered`` (households, target_population, distance_m) are
    buildings outside the walking radius; ``gaps`` (rank, households, target_population, buildings)
    are the gap areas, best ranked first; ``area`` (code, name), when given, is outlined and framed.
    """
    for frame, name in ((facilities, "facilities"), (uncovered, "uncovered"), (gaps, "gaps")):
        check_geographic(frame, name)
    framed = (area,) if area is not None and len(area) else (facilities, uncovered, gaps)
    m = new_map(bounds=lonlat_bounds(*framed), title=title, subtitle=subtitle)
    add_background(m, background)
    if area is not None and len(area):
        _outline(area).add_to(m)
    if len(gaps):
        folium.GeoJson(
            to_features(gaps, name="gaps", columns=["rank", "households", "target_population", "buildings"]),
            name=f"服务缺口 Gap areas, ranked ({len(gaps)})",
            style_function=lambda _f: {"color": "#a50f15", "weight": 2, "fillColor": "#fcbba1", "fillOpacity": 0.45,
                                        "className": "wangge-gap"},
            tooltip=folium.GeoJsonTooltip(["rank", "target_population", "households", "buildings"],
                                          aliases=["排名 rank", "未覆盖目标人口", "户数", "楼栋"]),
        ).add_to(m)
        ranked = gaps.sort_values("rank").head(LABELLED_GAPS)
        text_labels(ranked, [f"#{int(r)}" for r in ranked["rank"]],
                    name=f"缺口排名 Top {len(ranked)} gaps").add_to(m)
    rows = [[lat, lon, f"未覆盖 {int(h)} 户, {f'{d:.0f} m' if np.isfinite(d) else '超出搜索 beyond search'}"]
            for (lat, lon), h, d in zip(_points(uncovered), uncovered["households"],
                                        uncovered["distance_m"].astype(float).fillna(np.inf), strict=True)]
    name = f"未覆盖楼栋 Uncovered buildings ({len(rows)})"
    if len(rows) > CLUSTER_AT:
        FastMarkerCluster(rows, callback=_cluster_callback("#de2d26", "wangge-uncovered"), name=name).add_to(m)
    else:
        group = folium.FeatureGroup(name=name)
        for lat, lon, tip in rows:
            folium.CircleMarker([lat, lon], radius=4, color="#de2d26", weight=1, fill=True, fill_opacity=0.9,
                                tooltip=tip, class_name="wangge-uncovered").add_to(group)
        group.add_to(m)
    # Leaflet's layer control writes layer names with innerHTML, and a catalogue label is editable.
    name = f"设施 Facilities: {escape_text(type_label)} ({len(facilities)})"
    labels = [escape_text(v) for v in facilities["name"].fillna(type_label)]
    if len(facilities) > CLUSTER_AT:  # e.g. every convenience store of a district: clustered, no radius circles
        rows = [[lat, lon, label, "#4292c6"] for (lat, lon), label in zip(_points(facilities), labels, strict=True)]
        FastMarkerCluster(rows, callback=_cluster_callback("#4292c6", "wangge-facility"), name=name).add_to(m)
    else:
        group = folium.FeatureGroup(name=name)
        radii = folium.FeatureGroup(name=f"步行半径 Walking radius {radius_m:.0f} m (straight-line reference)",
                                    show=False)
        for (lat, lon), label in zip(_points(facilities), labels, strict=True):
            folium.CircleMarker([lat, lon], radius=7, color="#08306b", weight=2, fill=True, fill_color="#4292c6",
                                fill_opacity=1, tooltip=label, class_name="wangge-facility").add_to(group)
            folium.Circle([lat, lon], radius=radius_m, color="#4292c6", weight=1, fill=False, dash_array="4 4",
                          interactive=False).add_to(radii)
        group.add_to(m)
        radii.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    top = [f"#{int(r['rank'])}: {int(r['target_population']):,} 目标人口, {int(r['households']):,} 户"
           for _, r in gaps.head(5).iterrows()]
    add_legend(m, Legend(
        heading=f"{type_label}: 步行 {radius_m:.0f} m ({level} 生活圈)",
        items=[LegendItem("#4292c6", "设施 facility", "dot"),
               LegendItem("#de2d26", "未覆盖楼栋 uncovered building", "dot"),
               LegendItem("#fcbba1", "服务缺口 gap area (ranked by uncovered target population)"),
               LegendItem("#4292c6", f"步行半径 walking radius {radius_m:.0f} m", "line")],
        notes=[f"{len(uncovered)} buildings beyond {radius_m:.0f} m on foot", *top]))
    return m


def _heat_cells(incidents: gpd.GeoDataFrame) -> list[list[float]]:
    """Incidents summed on the finest lattice with at most MAX_HEAT_CELLS cells: [lat, lon, count] rows."""
    points = _points(incidents)
    for decimals in range(HEAT_DECIMALS, 0, -1):
        cells, counts = np.unique(points.round(decimals), axis=0, return_counts=True)
        if len(cells) <= MAX_HEAT_CELLS:
            break
    return [[float(lat), float(lon), float(n)] for (lat, lon), n in zip(cells, counts, strict=True)]


def _downsample(frame: pd.DataFrame, limit: int) -> pd.DataFrame:
    if len(frame) <= limit:
        return frame
    keep = np.unique(np.linspace(0, len(frame) - 1, limit).round().astype(int))
    return frame.iloc[keep]


def _hhmm(value: Any) -> str:
    return pd.Timestamp(value).strftime("%m-%d %H:%M")


def _track_lines(track: pd.DataFrame) -> list[tuple[list[list[float]], str, str]]:
    """One patrol's points cut into len(TRACK_STEPS) time steps: (latlngs, colour, "start–end") each."""
    times = pd.to_datetime(track["at"], utc=True)
    span = (times.iloc[-1] - times.iloc[0]).total_seconds() or 1.0
    step = np.minimum(((times - times.iloc[0]).dt.total_seconds() / span * len(TRACK_STEPS)).astype(int),
                      len(TRACK_STEPS) - 1).to_numpy()
    latlngs = np.round(np.column_stack([track["lat"].to_numpy(), track["lon"].to_numpy()]), PRECISION)
    lines = []
    for s in np.unique(step):
        idx = np.flatnonzero(step == s)
        # Each piece starts where the previous one ended, so that the line has no gaps.
        idx = np.concatenate([[idx[0] - 1], idx]) if idx[0] > 0 else idx
        if len(idx) >= 2:
            lines.append((latlngs[idx].tolist(), TRACK_STEPS[s],
                          f"{_hhmm(times.iloc[idx[0]])}–{_hhmm(times.iloc[idx[-1]])}"))
    return lines


def cases_map(*, incidents: gpd.GeoDataFrame, tracks: pd.DataFrame, background: Background, title: str,
              subtitle: str | None = None, area: gpd.GeoDataFrame | None = None) -> folium.Map:
    """Incident clusters and heat, and patrol tracks coloured by time.

    ``incidents`` (id, category, status, is_open, reported_at) are points, newest first;
    ``tracks`` has one row per track point: patrol_id, grid_code, at, lon, lat (ordered by time);
    ``area`` (optional) is drawn as the outline of the units shown.
    """
    check_geographic(incidents, "incidents")
    track_frame = gpd.GeoDataFrame(tracks, geometry=gpd.points_from_xy(tracks["lon"], tracks["lat"]),
                                   crs="EPSG:4490") if len(tracks) else None
    m = new_map(bounds=lonlat_bounds(area, incidents, track_frame), title=title, subtitle=subtitle)
    add_background(m, background)
    if area is not None and len(area):
        _outline(area).add_to(m)
    if len(incidents):
        HeatMap(_heat_cells(incidents), name=f"事件热力 Incident heat ({len(incidents)})", radius=18, blur=14,
                min_opacity=0.3).add_to(m)
        shown = incidents.head(MAX_INCIDENT_MARKERS)
        rows = [[lat, lon, escape_text(f"#{int(i)} {c} · {s} · {pd.Timestamp(t).strftime('%Y-%m-%d')}"),
                 OPEN_COLOUR if o else CLOSED_COLOUR]
                for (lat, lon), i, c, s, t, o in zip(_points(shown), shown["id"], shown["category"], shown["status"],
                                                     shown["reported_at"], shown["is_open"], strict=True)]
        FastMarkerCluster(rows, callback=_cluster_callback(OPEN_COLOUR, "wangge-incident"),
                          name=f"事件聚合 Incident clusters ({len(rows)})").add_to(m)
    patrol_count = 0
    if len(tracks):
        patrols = tracks["patrol_id"].nunique()
        group = folium.FeatureGroup(name=f"巡查轨迹 Patrol tracks ({patrols})")
        # Many patrols share one point budget, each keeping at least a coarse outline.
        per_track = max(MIN_TRACK_POINTS, min(MAX_TRACK_POINTS, MAX_TRACK_POINTS_TOTAL // patrols))
        for patrol_id, track in tracks.groupby("patrol_id", sort=True):
            track = _downsample(track.sort_values("at"), per_track)
            if len(track) < 2:
                continue
            patrol_count += 1
            grid = track["grid_code"].iloc[0]
            for latlngs, colour, period in _track_lines(track):
                folium.PolyLine(latlngs, color=colour, weight=4, opacity=0.9, class_name="wangge-track",
                                tooltip=escape_text(f"巡查 patrol {patrol_id} · 网格 {grid} · {period}"),
                                ).add_to(group)
        group.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    notes = [f"{len(incidents):,} incidents" + (f" (the newest {MAX_INCIDENT_MARKERS:,} as markers, all in the heat)"
                                                if len(incidents) > MAX_INCIDENT_MARKERS else ""),
             f"{patrol_count} patrol tracks, coloured from start (yellow) to end (purple) of each patrol"]
    add_legend(m, Legend(
        heading="事件与巡查 Incidents and patrols",
        items=[LegendItem(OPEN_COLOUR, "未办结事件 open incident", "dot"),
               LegendItem(CLOSED_COLOUR, "已办结事件 closed incident", "dot"),
               LegendItem(TRACK_STEPS[0], "巡查开始 patrol start", "line"),
               LegendItem(TRACK_STEPS[len(TRACK_STEPS) // 2], "巡查中段 mid-patrol", "line"),
               LegendItem(TRACK_STEPS[-1], "巡查结束 patrol end", "line")],
        notes=notes))
    return m

