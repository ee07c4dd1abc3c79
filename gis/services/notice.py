"""The grid notice (网格公示): what is posted in public about one grid, and nothing more.

A notice names the grid, its 四至, its household and resident counts, the staff responsible with
their public phone numbers (``grid_assignment.public_phone``, never the private one) and the
supervision hotline. It names no resident and shows no building's occupants.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import InvalidInput, NotFound

# Map context drawn around the grid: this far beyond its bounding box (degrees, about 100 m).
MARGIN_DEG = 0.001


def grid_notice(session: Session, code: str, *, hotline: str) -> dict[str, Any]:
    """The public facts of the current grid ``code`` and the shapes for its map (GeoJSON geometries, lon/lat)."""
    if not (code.isdigit() and len(code) == 15):
        raise InvalidInput(f"grid code: expected 15 digits; got {code!r}", details={"field": "grid_code"})
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
    roads = session.execute(text(f"""SELECT ST_AsGeoJSON(ST_Intersection(geom, {envelope}), 6) AS g, is_main_road
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
                "roads": [{"geometry": json.loads(g), "main": bool(main)} for g, main in roads if g],
                "water": [json.loads(g) for g in water if g]},
    }
