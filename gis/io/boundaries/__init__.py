"""Boundary files of streets, communities and grids: reading, validating and writing.

``read_boundaries`` accepts GeoJSON, GeoPackage, shapefiles (also zipped) and CSV with a
WKT column, and returns a frame in EPSG:4490 with ``code``, ``name``, ``parent_code``,
``attrs`` (the other attributes, as a dict) and MultiPolygon geometries.

Boundaries are never repaired here: a self-intersecting or unreadable polygon is
reported with its row, code and location so the planner fixes the source data. Each
problem raises one ``gis.errors`` class with a one-line message for the first problem;
``details["problems"]`` lists every problem found (``{row, code, problem, error}``).

Attribute encodings of shapefiles: an explicit ``encoding`` wins, then the ``.cpg``, then
detection from the ``.dbf`` bytes (UTF-8, else GB18030 if it yields Chinese text). A
declared encoding that does not decode the ``.dbf`` is an error naming the row and field,
not a silent fallback: a wrong ``.cpg`` means the file's producer is misconfigured, and
guessing against an explicit declaration could store garbled names unnoticed.

Modules: ``common`` (levels, the raw read, error helpers), ``formats`` (GeoJSON, GeoPackage, CSV),
``shapefile`` (shapefiles and their encodings, zips), ``validate`` (codes, names, parents,
geometries), ``files`` (``read_boundaries``, ``write_boundaries``).
"""

from gis.io.boundaries.common import FORMATS, LEVELS, BoundaryFile
from gis.io.boundaries.files import read_boundaries, write_boundaries

__all__ = ["BoundaryFile", "LEVELS", "FORMATS", "read_boundaries", "write_boundaries"]
