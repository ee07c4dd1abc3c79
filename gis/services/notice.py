"""The grid notice (网格公示): what is posted in public about one grid, and nothing more.

A notice names the grid, its 四至, its household and resident counts, the staff responsible with
their public phone numbers (``grid_assignment.public_phone``, never the private one) and the
supervision hotline. It names no resident and shows no building's occupants.
"""

from __future__ import annotations

import json
import math
from typing import Any

import shapely
from shapely.geometry import mapping, shape
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import InvalidInput, NotFound

# Map context drawn around the grid: this far beyond its bounding box (degrees, about 100 m).
MARGIN_DEG = 0.001
# Road names on the printed map: this many px of the SVG per character (17 px type, and air).
LABEL_PX_PER_CHAR = 18
LABEL_MARGIN_PX = 16
# Lengths a scale bar may show, in metres: the longest that fits in a fifth of the map's width.
SCALE_STEPS_M = (10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000)
METRES_PER_DEGREE = 111_320


def grid_notice(session: Session, code: str, *, hotline: str) -> dict[str, Any]:
    """The public facts of the current grid ``code`` and the shapes for its map (GeoJSON geometries, lon/lat)."""
    if not (code.isdigit() and len(code) == 15):
        raise InvalidInput.for_field("grid_code", f"expected 15 digits; got {code!r}")
    row = session.execute(text("""
        SELECT g.code, g.name, g.kind, g.version, g.valid_from, g.four_limits->>'text' AS four_limits,
               c.name AS community_name, s.name AS street_name, d.name AS district_name,
               ST_AsGeoJSON(g.geom, 7) AS geometry,
               ST_XMin(g.geom) AS x0, ST_YMin(g.geom) AS y0, ST_XMax(g.geom) AS x1, ST_YMax(g.geom) AS y1
        FROM grid g
        LEFT JOIN community c ON c.code = g.community_code AND c.valid_to IS NULL
        LEFT JOIN street s ON s.code = left(g.code, 9) AND s.valid_to IS NULL
        LEFT JOIN district d ON d.code = g.district_code
        WHERE g.code = :code AND g.valid_to IS NULL"""), {"code": code}).mappings().first()
    if row is None:
        raise NotFound(f"grid {code} has no current boundary", details={"grid_code": code})
    counts = session.execute(text("""
        WITH g AS (SELECT geom FROM grid WHERE code = :code AND valid_to IS NULL),
        b AS (SELECT b.id, b.households FROM g JOIN building b
              ON b.geom && g.geom AND ST_Contains(g.geom, ST_PointOnSurface(b.geom)))
        SELECT (SELECT count(*) FROM b) AS buildings,
               (SELECT COALESCE(sum(households), 0) FROM b) AS households,
               (SELECT count(*) FROM resident r WHERE r.building_id IN (SELECT id FROM b)) AS residents"""),
        {"code": code}).mappings().one()
    staff = session.execute(text("""
        SELECT COALESCE(u.display_name, u.username) AS name, ga.duty, ga.public_phone
        FROM grid_assignment ga JOIN app_user u ON u.id = ga.user_id
        WHERE ga.grid_code = :code AND ga.valid_to IS NULL AND u.is_active
        ORDER BY ga.duty, u.username"""), {"code": code}).mappings().all()
    box = {"x0": row["x0"] - MARGIN_DEG, "y0": row["y0"] - MARGIN_DEG,
           "x1": row["x1"] + MARGIN_DEG, "y1": row["y1"] + MARGIN_DEG}
    envelope = "ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4490)"
    buildings = session.scalars(text(f"SELECT ST_AsGeoJSON(geom, 6) FROM building WHERE geom && {envelope}"),
                                box).all()
    roads = session.execute(text(f"""SELECT ST_AsGeoJSON(ST_Intersection(geom, {envelope}), 6) AS g, is_main_road, name
                                     FROM walk_edge WHERE geom && {envelope}"""), box).all()
    water = session.scalars(text(f"""SELECT ST_AsGeoJSON(ST_Intersection(geom, {envelope}), 6) FROM barrier
                                     WHERE kind IN ('water', 'waterway') AND geom && {envelope}"""), box).all()
    return {
        "code": row["code"], "name": row["name"], "kind": row["kind"], "version": row["version"],
        "valid_from": row["valid_from"].isoformat() if row["valid_from"] else None,
        "four_limits": row["four_limits"], "community_name": row["community_name"],
        "street_name": row["street_name"], "district_name": row["district_name"],
        "buildings": int(counts["buildings"]), "households": int(counts["households"]),
        "residents": int(counts["residents"]),
        "staff": [{"name": s["name"], "duty": s["duty"], "public_phone": s["public_phone"]} for s in staff],
        "hotline": hotline,
        "map": {"bbox": [box["x0"], box["y0"], box["x1"], box["y1"]], "grid": json.loads(row["geometry"]),
                "buildings": [json.loads(g) for g in buildings],
                "roads": [{"geometry": json.loads(g), "main": bool(main)} for g, main, _name in roads if g],
                "labels": road_labels([(json.loads(g), name, bool(main)) for g, main, name in roads if g and name]),
                "water": [json.loads(g) for g in water if g]},
    }


def road_labels(pieces: list[tuple[dict[str, Any], str, bool]]) -> list[dict[str, Any]]:
    """One line per road name for its label, with whether the road is a main road.

    The line is the longest run of the road's pieces joined end to end, drawn west to east (so that the
    text reads upright).
    """
    by_name: dict[str, tuple[list[Any], bool]] = {}
    for geometry, name, main in pieces:
        lines, was_main = by_name.get(name, ([], False))
        lines.extend(shapely.get_parts(shape(geometry)))
        by_name[name] = (lines, was_main or main)
    out = []
    for name, (lines, main) in sorted(by_name.items()):
        merged = shapely.line_merge(shapely.union_all([g for g in lines if g.geom_type == "LineString"]))
        runs = [g for g in shapely.get_parts(merged) if g.geom_type == "LineString"]
        if not runs:
            continue
        longest = max(runs, key=lambda g: g.length)
        coords = list(longest.coords)
        if coords[-1][0] < coords[0][0]:
            coords.reverse()
        out.append({"name": name, "main": main, "geometry": mapping(shapely.LineString(coords))})
    return out


def svg_extras(labels: list[dict[str, Any]], point: Any, *, scale: float, width: int, height: int
               ) -> dict[str, Any]:
    """Road labels long enough to carry their name, and a scale bar, for the notice's SVG map.

    ``point(lon, lat)`` gives "x y" in the SVG; ``scale`` is px per degree of latitude (and of longitude
    times cos(latitude)), so a px is ``METRES_PER_DEGREE / scale`` metres.
    """
    drawn = []
    for i, label in enumerate(sorted(labels, key=lambda x: (not x["main"], x["name"]))):
        xy = [tuple(map(float, point(x, y).split())) for x, y, *_ in label["geometry"]["coordinates"]]
        length = sum(math.dist(a, b) for a, b in zip(xy, xy[1:], strict=False))
        if length < len(label["name"]) * LABEL_PX_PER_CHAR + LABEL_MARGIN_PX:
            continue
        d = "M" + " L".join(f"{x:.1f} {y:.1f}" for x, y in xy)
        drawn.append({"id": f"road-label-{i}", "d": d, "name": label["name"], "main": label["main"]})
    metres_per_px = METRES_PER_DEGREE / scale
    fits = [m for m in SCALE_STEPS_M if m / metres_per_px <= width / 5] or [SCALE_STEPS_M[0]]
    metres = fits[-1]
    bar = {"px": round(metres / metres_per_px, 1),
           "text": f"{metres:,} 米" if metres < 1000 else f"{metres // 1000} 公里",
           "x": 16, "y": height - 18}
    return {"labels": drawn, "scale": bar}
