"""Patrols (巡查) stored and measured: upload a track, a grid's coverage per week, purge after retention.

* ``uploads``: a GPX or GeoJSON track read, cleaned and stored for a worker and grid, within what the uploader
  may do;
* ``coverage``: which buildings and street segments a grid's patrols of a week passed, and per grid of a district
  or community the households walked past and the grids that missed the weekly patrol (aggregates naming no
  worker and no track);
* ``retention``: the oldest patrol that may be read, and the purge of older ones.

Importers use this package's names (``from gis.services import patrols as patrol_service``).
"""

from __future__ import annotations

from gis.periods import DEFAULT_TIMEZONE
from gis.services.patrols.coverage import (
    BOUNDARY_TOLERANCE_M,
    DEPRECATED_KEYS,
    PatrolCoverage,
    WeeklyPatrolFigures,
    current_week,
    grid_streets,
    patrol_coverage,
    walked_past,
    week_period,
    weekly_coverage,
)
from gis.services.patrols.retention import PurgeResult, purge_patrols, retention_cutoff
from gis.services.patrols.uploads import (
    DEFAULT_MAX_TRACK_BYTES,
    PatrolUpload,
    StoredPatrol,
    import_patrol,
    store_track,
)

__all__ = [
    "BOUNDARY_TOLERANCE_M",
    "DEFAULT_MAX_TRACK_BYTES",
    "DEFAULT_TIMEZONE",
    "DEPRECATED_KEYS",
    "PatrolCoverage",
    "PatrolUpload",
    "PurgeResult",
    "StoredPatrol",
    "WeeklyPatrolFigures",
    "current_week",
    "grid_streets",
    "import_patrol",
    "patrol_coverage",
    "purge_patrols",
    "retention_cutoff",
    "store_track",
    "walked_past",
    "week_period",
    "weekly_coverage",
]
