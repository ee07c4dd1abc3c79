"""gis.patrols.coverage: what a patrol passed, per track and per week and grid, against hand-computed figures.

The hand-built grid, in metres on EPSG:4549 (CGCS2000 GK CM 120E, Nanjing)::

    y=215 ......................................................... cross street x=200 runs north to y=200
           [B1]   [B2]  |  [B3]    [B4]     [B5]     [B6]      buildings 20 × 20 m, centred x = 50 .. 550
    y=15   ----------------------------------------------------     (B3 sits 10 m further north: y 25..45)
    y=0   =====street 0..600 in six 100 m segments ============
          >>>>>>>>>>> track x = 0 .. 340 along y = 0 >>>>>>

Nearest passes: B1, B2, B4 15 m; B3 25 m; B5 hypot(100, 15); B6 hypot(200, 15). With 30 m:
B1-B4 covered: 4 of 6 buildings, households 10+20+30+40 = 100 of 210.
Street: segments 0-100, 100-200, 200-300 fully within 20 m, 300-400 for 60 m (to 340 + 20),
the cross street for its first 20 m: 380 m of 800 m; covered segments (≥ half) 4 of 7.
"""

from __future__ import annotations

import datetime as dt
import math
import time

import geopandas as gpd
import numpy as np
import pytest
from pyproj import Transformer
from shapely.geometry import LineString, box

from gis.errors import CRSMismatch, InvalidInput
from gis.patrols import compute_patrol_coverage, iso_week, iso_weeks_between, track_from_points, weekly_patrol_coverage
from gis.patrols.demo import demo_track

X0, Y0 = 390_000.0, 3_545_000.0
GK = "EPSG:4549"
TO_LONLAT = Transformer.from_crs(GK, "EPSG:4490", always_xy=True)
HOUSEHOLDS = [10, 20, 30, 40, 50, 60]
MONDAY = dt.datetime(2026, 10, 5, 1, 0, tzinfo=dt.UTC)  # ISO week 2026-W41, 09:00 in Beijing


def buildings(grid_code: str = "320199001001001", dx: float = 0.0) -> gpd.GeoDataFrame:
    geoms = []
    for i, cx in enumerate(range(50, 600, 100)):
        y0 = 25.0 if i == 2 else 15.0
        geoms.append(box(X0 + dx + cx - 10, Y0 + y0, X0 + dx + cx + 10, Y0 + y0 + 20))
    return gpd.GeoDataFrame({"households": HOUSEHOLDS, "grid_code": grid_code}, geometry=geoms, crs=GK)


def segments(grid_code: str = "320199001001001") -> gpd.GeoDataFrame:
    lines = [LineString([(X0 + a, Y0), (X0 + a + 100, Y0)]) for a in range(0, 600, 100)]
    lines.append(LineString([(X0 + 200, Y0), (X0 + 200, Y0 + 200)]))
    return gpd.GeoDataFrame({"grid_code": [grid_code] * len(lines)}, geometry=lines, crs=GK)


def track_along(x_from: float, x_to: float, *, start: dt.datetime = MONDAY, y: float = 0.0, step: float = 10.0):
    """A walk along y from x_from to x_to, 10 m per 10 s, as a cleaned Track in lon/lat."""
    xs = np.arange(x_from, x_to + 1e-9, step)
    lon, lat = TO_LONLAT.transform(X0 + xs, np.full(len(xs), Y0 + y))
    return track_from_points([(a, b, start + dt.timedelta(seconds=10 * i), 5.0)
                              for i, (a, b) in enumerate(zip(lon, lat, strict=True))])


def test_hand_computed_coverage_of_six_buildings_and_seven_segments() -> None:
    result = compute_patrol_coverage(track_along(0, 340), buildings(), segments())
    assert result.metric_crs == GK
    b = result.buildings
    assert b["covered"].tolist() == [True, True, True, True, False, False]
    np.testing.assert_allclose(b["nearest_m"], [15, 15, 25, 15, math.hypot(100, 15), math.hypot(200, 15)],
                               atol=1e-4)
    assert (result.buildings_covered, result.buildings_total) == (4, 6)
    assert result.building_share == pytest.approx(4 / 6)
    assert (result.households_covered, result.households_total) == (100, 210)
    assert result.household_share == pytest.approx(100 / 210)

    s = result.segments
    np.testing.assert_allclose(s["covered_m"], [100, 100, 100, 60, 0, 0, 20], atol=1e-4)
    assert s["covered"].tolist() == [True, True, True, True, False, False, False]
    assert result.street_length_m == pytest.approx(800.0)
    assert result.street_covered_m == pytest.approx(380.0, abs=1e-3)
    assert result.street_share == pytest.approx(380 / 800, abs=1e-6)
    assert result.segments_covered == 4
    summary = result.summary()
    assert summary["buildings_covered"] == 4 and summary["households_covered"] == 100
    assert summary["segments_total"] == 7


def test_radii_and_min_share_are_configurable() -> None:
    track = track_along(0, 340)
    tight = compute_patrol_coverage(track, buildings(), segments(), building_radius_m=20, segment_min_share=0.7)
    # B3 at 25 m drops out; segment 300-400 (60 %) no longer counts.
    assert tight.buildings["covered"].tolist() == [True, True, False, True, False, False]
    assert tight.households_covered == 70
    assert tight.segments_covered == 3
    wide = compute_patrol_coverage(track, buildings(), segments(), segment_radius_m=30)
    # 30 m reaches 370 on the street and 30 m up the cross street.
    assert wide.street_covered_m == pytest.approx(300 + 70 + 30, abs=1e-3)


def test_several_tracks_pool_and_name_the_nearest() -> None:
    result = compute_patrol_coverage([track_along(0, 140), track_along(400, 600)], buildings(), segments())
    # B3 is 100 m past the first walk's end, B4 hypot(40, 15) m before the second's start.
    assert result.buildings["covered"].tolist() == [True, True, False, False, True, True]
    assert result.buildings["track"].tolist() == [0, 0, 0, 1, 1, 1]
    assert result.track_count == 2


def test_no_tracks_covers_nothing() -> None:
    result = compute_patrol_coverage([], buildings(), segments())
    assert result.buildings_covered == 0 and result.household_share == 0.0
    assert np.isinf(result.buildings["nearest_m"]).all()
    assert result.street_share == 0.0


def test_unknown_households_count_as_zero_and_are_counted() -> None:
    frame = buildings()
    frame.loc[0, "households"] = np.nan
    result = compute_patrol_coverage(track_along(0, 340), frame)
    assert result.households_unknown == 1
    assert result.households_covered == 90 and result.households_total == 200
    assert len(result.segments) == 0 and result.street_share is None


def test_inputs_in_lonlat_and_index_kept() -> None:
    frame = buildings().to_crs("EPSG:4490")
    frame.index = [f"b{i}" for i in range(6)]
    result = compute_patrol_coverage(track_along(0, 340), frame)
    assert result.metric_crs == GK
    assert result.buildings.index.tolist() == list(frame.index)
    assert result.buildings_covered == 4


def test_bad_inputs() -> None:
    with pytest.raises(InvalidInput, match="no 'households' column"):
        compute_patrol_coverage([], buildings().drop(columns="households"))
    with pytest.raises(CRSMismatch, match="no CRS"):
        compute_patrol_coverage([], buildings().set_crs(None, allow_override=True))
    with pytest.raises(InvalidInput, match="building_radius_m"):
        compute_patrol_coverage([], buildings(), building_radius_m=0)
    with pytest.raises(InvalidInput, match="item 1 is a str"):
        compute_patrol_coverage(["track"], buildings())


def test_demo_track_along_the_street_gives_the_hand_computed_figure() -> None:
    street = LineString([TO_LONLAT.transform(X0, Y0), TO_LONLAT.transform(X0 + 340, Y0)])
    track = demo_track(street, start=MONDAY, noise_m=3.0, seed=7)
    assert track.report.removed_count == 0
    assert track.points["time"].diff().dropna().eq(dt.timedelta(seconds=5)).all()
    # 340 m at 1.3 m/s sampled every 5 s: 53 fixes (0 .. 338 m).
    assert track.point_count == 53
    result = compute_patrol_coverage(track, buildings())
    assert (result.buildings_covered, result.households_covered) == (4, 100)


def test_demo_track_is_reproducible_and_walks_lines_nearest_first() -> None:
    lines = [LineString([TO_LONLAT.transform(X0 + a, Y0), TO_LONLAT.transform(X0 + a + 100, Y0)])
             for a in (0, 200, 100)]
    a = demo_track(lines, start=MONDAY, order="nearest", seed=1)
    b = demo_track(lines, start=MONDAY, order="nearest", seed=1)
    assert a.points[["lon", "lat"]].equals(b.points[["lon", "lat"]])
    # Nearest-first: 0-100, 100-200, 200-300 is 300 m. In the given order the walker goes
    # 0-100, steps over to 200-300, then back to 200 and walks 200-100: 500 m.
    assert a.duration.total_seconds() == pytest.approx(300 / 1.3, abs=5)
    given = demo_track(lines, start=MONDAY, seed=1)
    assert given.duration.total_seconds() == pytest.approx(500 / 1.3, abs=5)
    with pytest.raises(InvalidInput, match="no time zone"):
        demo_track(lines, start=MONDAY.replace(tzinfo=None))


# --- weeks --------------------------------------------------------------------------------


def test_weekly_coverage_and_missed_grids() -> None:
    grid_a, grid_b = "320199001001001", "320199001001002"
    both = gpd.GeoDataFrame(
        gpd.pd.concat([buildings(grid_a), buildings(grid_b, dx=2000.0)], ignore_index=True), crs=GK)
    w41 = track_along(0, 340, start=MONDAY)
    w43 = track_along(0, 600, start=MONDAY + dt.timedelta(days=15))
    # Grid B's worker walks past grid A's buildings: it does not patrol grid A.
    stray = track_along(0, 600, start=MONDAY + dt.timedelta(days=8))
    streets = gpd.GeoDataFrame(gpd.pd.concat([segments(grid_a), segments(grid_b)], ignore_index=True), crs=GK)
    result = weekly_patrol_coverage([(grid_a, w41), (grid_a, w43), (grid_b, stray)], both, streets)
    assert result.weeks == ["2026-W41", "2026-W42", "2026-W43"]
    table = result.table.set_index(["grid_code", "week"])
    assert table.loc[(grid_a, "2026-W41"), "households_covered"] == 100
    assert table.loc[(grid_a, "2026-W41"), "household_share"] == pytest.approx(100 / 210)
    assert table.loc[(grid_a, "2026-W43"), "household_share"] == pytest.approx(1.0)
    assert table.loc[(grid_a, "2026-W41"), "street_share"] == pytest.approx(380 / 800, abs=1e-6)
    assert table.loc[(grid_a, "2026-W42"), "households_covered"] == 0
    assert table.loc[(grid_b, "2026-W42"), "tracks"] == 1
    assert table.loc[(grid_b, "2026-W42"), "households_covered"] == 0  # its track ran 2 km away
    assert result.missed == [("2026-W41", grid_b), ("2026-W42", grid_a), ("2026-W43", grid_b)]
    assert result.missed_grids("2026-W42") == [grid_a]


def test_weeks_are_local_time_and_explicit_weeks_list_idle_grids() -> None:
    sunday_night_utc = dt.datetime(2026, 10, 11, 23, 30, tzinfo=dt.UTC)  # Monday 07:30 in Beijing
    assert iso_week(sunday_night_utc) == "2026-W42"
    assert iso_week(sunday_night_utc, timezone="UTC") == "2026-W41"
    track = track_along(0, 100, start=sunday_night_utc)
    result = weekly_patrol_coverage([("320199001001001", track)], buildings(),
                                    weeks=["2026-W41", "2026-W42"], grid_codes=["320199001001001", "320199001002001"])
    assert result.missed == [("2026-W41", "320199001001001"), ("2026-W41", "320199001002001"),
                             ("2026-W42", "320199001002001")]
    assert iso_weeks_between(dt.date(2026, 12, 28), dt.date(2027, 1, 11)) == ["2026-W53", "2027-W01", "2027-W02"]
    with pytest.raises(InvalidInput, match="not an ISO week"):
        weekly_patrol_coverage([], buildings(), weeks=["2026-41"])
    with pytest.raises(InvalidInput, match="no patrols and no weeks"):
        weekly_patrol_coverage([], buildings())
    with pytest.raises(InvalidInput, match="has no time zone"):
        iso_week(dt.datetime(2026, 10, 5))


def test_thousands_of_buildings_in_one_pass() -> None:
    """Vectorised: 10,000 buildings and a 3 km track; the result is checked, not the clock."""
    rng = np.random.default_rng(3)
    centres = rng.uniform(0, 3000, (10_000, 2))
    frame = gpd.GeoDataFrame({"households": np.full(10_000, 2)},
                             geometry=[box(X0 + x - 5, Y0 + y - 5, X0 + x + 5, Y0 + y + 5) for x, y in centres],
                             crs=GK)
    track = track_along(0, 2999, y=1500.0, step=6.5)  # 1.3 m/s, a fix every 5 s: 462 points
    started = time.perf_counter()
    result = compute_patrol_coverage(track, frame)
    elapsed = time.perf_counter() - started
    # Away from the walk's end (x 2996.5), a 10 m footprint is covered iff its centre is within 35 m of y = 1500.
    expected = np.abs(centres[:, 1] - 1500) <= 35
    away = centres[:, 0] < 2990
    assert (result.buildings["covered"].to_numpy()[away] == expected[away]).all()
    assert result.buildings_covered == int(expected[away].sum()) + int(result.buildings["covered"][~away].sum())
    print(f"patrol coverage: 10,000 buildings, {track.point_count} points: {elapsed:.3f} s")
