"""Boundary editing: redraw a community or grid, move buildings between grids, split and merge grids and communities.

Every edit writes new versions and never overwrites a boundary: the rows it replaces get a
``valid_to``, the new rows carry the code (or a fresh code, never a retired one), the
reason and who approved them. Each edit is recorded as an adopted plan of kind
``manual_edit`` (so it shows in the plan list and in ``plans.boundary_history``), its four
limits (四至) are recomputed and one audit row names who changed what and why. Bad input
raises before anything is written; the caller's transaction then rolls back as a whole.

The package is cut by use case:

- ``geometry``: GeoJSON input checked (lon/lat in China, valid) and measuring in metres;
- ``units``: the rows an edit reads and locks, checked codes, names, reasons and versions;
- ``findings``: topology findings before and after an edit, households per unit;
- ``writing``: the manual_edit plan, retired and new rows, plan units and audit (``apply``);
- ``redraw``: ``update_boundary``; ``moves``: ``move_buildings``;
- ``split``: ``split_grid``, ``split_community``; ``merge``: ``merge_grids``, ``merge_communities``.
"""

from gis.services.edits.geometry import SLIVER_M2, parse_geometry
from gis.services.edits.merge import merge_communities, merge_grids
from gis.services.edits.moves import MIN_SHARED_BOUNDARY_M, move_buildings
from gis.services.edits.redraw import LEVELS, PARENT_TOLERANCE_M, update_boundary
from gis.services.edits.split import split_community, split_grid
from gis.services.edits.writing import EditResult
from gis.services.users import SYSTEM

__all__ = [
    "LEVELS", "MIN_SHARED_BOUNDARY_M", "PARENT_TOLERANCE_M", "SLIVER_M2", "SYSTEM", "EditResult", "merge_communities",
    "merge_grids", "move_buildings", "parse_geometry", "split_community", "split_grid", "update_boundary",
]
