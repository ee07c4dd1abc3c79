"""Patrol tracks (巡查轨迹): reading and cleaning GPS tracks, and what a patrol covered.

Pure: no database, HTTP, CLI or map imports (an import-linter contract).

``gis.patrols.tracks`` reads GPX, GeoJSON or a list of points into a cleaned ``Track`` with a
report of every point it dropped and why; ``gis.patrols.coverage`` measures which buildings
and street segments of a grid the tracks passed, and per ISO week which grids were not
patrolled; ``gis.patrols.demo`` makes a plausible seeded walking track for demos and tests.
Tracks are a worker's movements (行踪轨迹), sensitive under PIPL: the callers keep them scoped
and purge them after the retention period; nothing here stores them.
"""

from gis.patrols.coverage import (
    PatrolCoverage,
    WeeklyCoverage,
    compute_patrol_coverage,
    iso_week,
    iso_weeks_between,
    weekly_patrol_coverage,
)
from gis.patrols.tracks import Removal, Track, TrackReport, read_track, to_gpx, track_from_points

__all__ = [
    "PatrolCoverage",
    "Removal",
    "Track",
    "TrackReport",
    "WeeklyCoverage",
    "compute_patrol_coverage",
    "iso_week",
    "iso_weeks_between",
    "read_track",
    "to_gpx",
    "track_from_points",
    "weekly_patrol_coverage",
]
