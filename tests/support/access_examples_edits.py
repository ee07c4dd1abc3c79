"""Access-matrix examples for the boundary edits (api/routes/edits.py): each one succeeds for a planner.

Geometries are the world's own boxes (tests/support/api_world.py), drawn in the town's metric frame
and sent as lon/lat GeoJSON; every example edits version 1, which each test finds again (rolled back).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import api_world
import coverage_town as town
from access_examples import Example
from shapely.geometry import LineString, box, mapping

A, B = api_world.GRID_A, api_world.GRID_B
X0, Y0 = town.X0, town.Y0


def lonlat_json(geom: Any) -> dict[str, Any]:
    """A geometry in the town's metric frame as lon/lat GeoJSON."""
    return mapping(town._lonlat([geom])[0])


def _grid_a() -> dict[str, Any]:
    return lonlat_json(box(X0 - 100, Y0 - 100, X0 + 390, Y0 + 300))


def _north() -> dict[str, Any]:
    return lonlat_json(box(X0 - 100, Y0 - 100, X0 + 700, Y0 + 300))


EXAMPLES: dict[str, Callable[[dict], Example]] = {
    "PATCH /communities/{code}": lambda w: Example(f"/communities/{town.NORTH}", json={
        "geometry": _north(), "reason": "access matrix"}, headers={"If-Match": '"1"'}),
    "PATCH /grids/{code}": lambda w: Example(f"/grids/{A}", json={
        "geometry": _grid_a(), "reason": "access matrix"}, headers={"If-Match": '"1"'}),
    "POST /grids/{code}/move-buildings": lambda w: Example(f"/grids/{A}/move-buildings", json={
        "building_ids": [w["N"]], "to_grid": B, "reason": "access matrix", "versions": {A: 1, B: 1}}),
    "POST /grids/{code}/split": lambda w: Example(f"/grids/{A}/split", json={
        "line": lonlat_json(LineString([(X0 + 150, Y0 - 150), (X0 + 150, Y0 + 350)])), "reason": "access matrix",
        "version": 1}),
    "POST /grids/merge": lambda w: Example("/grids/merge", json={
        "codes": [A, B], "reason": "access matrix", "versions": {A: 1, B: 1}}),
}
