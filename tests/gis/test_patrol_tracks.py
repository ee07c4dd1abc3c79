"""gis.patrols.tracks: reading GPX/GeoJSON/point tracks, the cleaning report, CRS checks, lengths and UTC times.

The fixtures in tests/data/patrols are written by make_fixtures.py there: tracks walking east
along latitude 32.04 in Nanjing, a point every 10 s and 0.000106° of longitude (~10 m).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyproj import Geod

from gis.crs import wgs84_to_gcj02
from gis.errors import CRSMismatch, InvalidInput
from gis.patrols import Track, read_track, to_gpx, track_from_points

DATA = Path(__file__).resolve().parents[1] / "data" / "patrols"
GEOD = Geod(ellps="GRS80")
LON0, LAT0, STEP = 118.78, 32.04, 0.000106
T0 = dt.datetime(2026, 10, 5, 0, 0, tzinfo=dt.UTC)


def step_m(k: float) -> float:
    """Metres from LON0 to LON0 + k steps along LAT0, as the fixtures write them (6 decimals)."""
    return float(GEOD.inv(LON0, LAT0, round(LON0 + k * STEP, 6), LAT0)[2])


def walk(n: int, *, dt_s: float = 10.0, step_deg: float = STEP) -> list[tuple[float, float, dt.datetime, float]]:
    return [(LON0 + k * step_deg, LAT0, T0 + dt.timedelta(seconds=k * dt_s), 5.0) for k in range(n)]


def assert_utc(track: Track) -> None:
    assert str(track.points["time"].dtype) == "datetime64[ns, UTC]"
    for value in (track.started_at, track.ended_at):
        assert value.tzinfo is not None and value.utcoffset() == dt.timedelta(0)


# --- good files ---------------------------------------------------------------------------


def test_gpx_11_utf8_two_segments_length_within_segments() -> None:
    track = read_track(DATA / "good_utf8.gpx")
    assert track.name == "巡查轨迹"
    assert track.point_count == 6
    assert track.points["segment"].tolist() == [0, 0, 0, 1, 1, 1]
    # Within segments 0→2 and 3→5 (the gap 2→3 is not walked): 2 × 20 m.
    assert track.length_m == pytest.approx(step_m(2) + (step_m(5) - step_m(3)), abs=1e-6)
    assert track.duration == dt.timedelta(seconds=50)
    assert track.started_at == T0
    # hdop 2 → 2 × 5 m; the others have no accuracy.
    assert track.points["accuracy_m"].iloc[1] == 10.0
    assert track.points["accuracy_m"].isna().sum() == 5
    assert track.report.removals == [] and track.report.messages == []
    assert_utc(track)


def test_gpx_10_gbk_with_beijing_offsets_becomes_utc() -> None:
    raw = (DATA / "good_gbk.gpx").read_bytes()
    assert "鼓楼区网格巡查".encode("gbk") in raw
    track = read_track(DATA / "good_gbk.gpx")
    assert track.name == "鼓楼区网格巡查"
    assert track.report.encoding == "GBK"
    assert track.started_at == T0  # 08:00+08:00
    assert track.ended_at == T0 + dt.timedelta(seconds=30)
    assert track.report.assumed_timezone is None
    assert_utc(track)


def test_geojson_linestring_with_coordtimes_and_accuracies() -> None:
    track = read_track(DATA / "good_line.geojson")
    assert track.name == "网格巡查"
    assert track.report.removed("poor_accuracy") == (3,)
    assert track.points["point"].tolist() == [1, 2, 4, 5]
    assert track.length_m == pytest.approx(step_m(4), abs=1e-6)
    assert_utc(track)


def test_geojson_points_collection() -> None:
    track = read_track(DATA / "good_points.geojson")
    assert track.point_count == 4
    assert track.points["accuracy_m"].tolist() == [4.0] * 4
    assert track.length_m == pytest.approx(step_m(3), abs=1e-6)


def test_geojson_declaring_a_projected_crs_is_transformed() -> None:
    track = read_track(DATA / "good_declared_gk.geojson")
    assert track.point_count == 3
    # 10 m steps in GK metres are 10 m on the ellipsoid to within the zone's scale error (< 1e-3 here).
    assert track.length_m == pytest.approx(20.0, rel=1e-3)
    assert 118.0 < track.points["lon"].iloc[0] < 119.0


def test_upload_bytes_are_sniffed_and_named() -> None:
    track = read_track((DATA / "good_utf8.gpx").read_bytes(), name="upload.gpx")
    assert track.report.source == "upload.gpx" and track.report.format == "gpx"
    track = read_track((DATA / "good_points.geojson").read_bytes())
    assert track.report.source == "upload" and track.report.format == "geojson"


def test_geojson_in_gbk_without_declaration_is_read() -> None:
    feature = json.loads((DATA / "good_line.geojson").read_text(encoding="utf-8"))
    feature["properties"]["name"] = "建邺区巡查"
    track = read_track(json.dumps(feature, ensure_ascii=False).encode("gbk"), format="geojson")
    assert track.name == "建邺区巡查"
    assert track.report.encoding == "gb18030"


def test_round_trips_through_gpx_and_geojson() -> None:
    track = track_from_points(walk(12), name="往返")
    again = read_track(to_gpx(track).encode("utf-8"), name="again.gpx")
    assert again.name == "往返"
    np.testing.assert_allclose(again.points[["lon", "lat"]].to_numpy(), track.points[["lon", "lat"]].to_numpy(),
                               atol=1e-7)
    assert (again.points["time"] == track.points["time"]).all()
    assert again.points["accuracy_m"].tolist() == [5.0] * 12
    feature = read_track(json.dumps(track.to_feature()).encode("utf-8"), format="geojson")
    assert (feature.points["time"] == track.points["time"]).all()
    assert feature.length_m == pytest.approx(track.length_m, abs=1e-3)


def test_gcj02_track_is_converted_back_to_cgcs2000() -> None:
    truth = walk(6)
    lon, lat = wgs84_to_gcj02(np.array([p[0] for p in truth]), np.array([p[1] for p in truth]))
    shifted = [(x, y, p[2], p[3]) for x, y, p in zip(lon, lat, truth, strict=True)]
    # The offset is hundreds of metres here: reading it as CGCS2000 would misplace the walk.
    assert GEOD.inv(shifted[0][0], shifted[0][1], truth[0][0], truth[0][1])[2] > 100
    track = track_from_points(shifted, source_crs="GCJ-02")
    assert track.report.converted_from == "gcj02"
    np.testing.assert_allclose(track.points["lon"], [p[0] for p in truth], atol=1e-8)
    np.testing.assert_allclose(track.points["lat"], [p[1] for p in truth], atol=1e-8)


# --- cleaning -----------------------------------------------------------------------------


def test_messy_track_report_names_every_point_and_reason() -> None:
    track = read_track(DATA / "messy.gpx")
    report = track.report
    assert report.input_points == 11 and report.kept_points == 6
    assert report.reordered == (4,)
    assert report.removed("duplicate_time") == (5,)
    assert report.removed("teleport") == (6,)
    assert report.removed("poor_accuracy") == (7,)
    assert report.removed("implausible_time") == (8,)
    assert report.removed("no_time") == (9,)
    assert report.removed_count == 5
    assert track.points["point"].tolist() == [1, 2, 4, 3, 10, 11]
    assert track.points["time"].is_monotonic_increasing
    assert track.length_m == pytest.approx(step_m(7), abs=1e-6)
    messages = "\n".join(report.messages)
    assert "out of time order were sorted (points 4)" in messages
    assert "more than 7 m/s (points 6)" in messages
    assert "worse than 50 m (points 7)" in messages
    as_dict = report.to_dict()
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert {r["reason"] for r in as_dict["removals"]} == {"no_time", "implausible_time", "duplicate_time",
                                                         "poor_accuracy", "teleport"}


def test_teleport_removal_counts_spikes_bursts_and_a_bad_first_fix() -> None:
    points = walk(100, dt_s=5.0, step_deg=0.00007)  # ~6.6 m per 5 s: 1.3 m/s
    far = 0.01  # ~1.1 km north
    spikes = [10, 40, 70]
    burst = [50, 51, 52, 53]
    for i in [0, *spikes, *burst]:
        x, y, t, a = points[i]
        points[i] = (x, y + far, t, a)
    track = track_from_points(points)
    removed = track.report.removed("teleport")
    assert removed == tuple(sorted(i + 1 for i in [0, *spikes, *burst]))
    assert track.report.kept_points == 100 - 8
    # A 4-point burst of glitches sitting together does not take the walk after it down.
    assert track.points["point"].iloc[-1] == 100


def test_max_speed_is_configurable() -> None:
    points = walk(20, dt_s=1.0, step_deg=0.0001)  # ~9.4 m/s: a car, not a walker
    with pytest.raises(InvalidInput, match="only 1 usable point"):
        track_from_points(points)
    assert track_from_points(points, max_speed_mps=12.0).point_count == 20


def test_accuracy_threshold_is_configurable_and_can_be_off() -> None:
    points = [(x, y, t, 60.0) for x, y, t, _ in walk(5)]
    assert track_from_points(points, max_accuracy_m=None).point_count == 5
    assert track_from_points(points, max_accuracy_m=100.0).point_count == 5
    with pytest.raises(InvalidInput, match="horizontal accuracy worse than 50 m"):
        track_from_points(points)


def test_of_two_fixes_at_one_instant_the_accurate_one_is_kept() -> None:
    points = walk(4)
    x, y, t, _ = points[1]
    points.insert(1, (x + 0.001, y, t, 90.0))  # a poor fix listed first at the same time
    track = track_from_points(points)
    assert track.report.removed("poor_accuracy") == (2,)
    assert track.report.removed("duplicate_time") == ()
    assert track.point_count == 4


def test_naive_times_are_read_in_the_assumed_zone_and_reported() -> None:
    points = [(x, y, t.replace(tzinfo=None) + dt.timedelta(hours=8), a) for x, y, t, a in walk(3)]
    utc = track_from_points(points)
    assert utc.started_at == T0 + dt.timedelta(hours=8)
    assert utc.report.assumed_timezone == "UTC"
    local = track_from_points(points, assume_timezone="Asia/Shanghai")
    assert local.started_at == T0
    assert "read as Asia/Shanghai" in " ".join(local.report.messages)
    assert_utc(local)


def test_points_as_mappings_frames_epoch_and_iso_strings() -> None:
    epoch_ms = int(T0.timestamp() * 1000)
    mappings = [{"lon": LON0 + k * STEP, "lat": LAT0, "timestamp": epoch_ms + k * 10_000} for k in range(3)]
    assert track_from_points(mappings).started_at == T0
    frame = pd.DataFrame({"lon": [LON0, LON0 + STEP], "lat": [LAT0, LAT0],
                          "time": ["2026-10-05T08:00:00+08:00", "2026-10-05T00:00:10Z"], "accuracy": [3, 3]})
    track = track_from_points(frame)
    assert track.started_at == T0 and track.points["accuracy_m"].tolist() == [3.0, 3.0]


# --- bad tracks: each a clear message -----------------------------------------------------


@pytest.mark.parametrize(("name", "error", "fragments"), [
    ("bad_no_times.gpx", InvalidInput, ["bad_no_times.gpx", "no timestamps", "4 points"]),
    ("bad_truncated.gpx", InvalidInput, ["bad_truncated.gpx", "not well-formed XML at line 7", "truncated"]),
    ("bad_truncated.geojson", InvalidInput, ["bad_truncated.geojson", "not valid JSON at line 9"]),
    ("bad_swapped.gpx", CRSMismatch, ["bad_swapped.gpx", "latitude/longitude swapped"]),
    ("bad_outside_china.gpx", CRSMismatch, ["bad_outside_china.gpx", "outside China", "24.9384"]),
    ("bad_projected.geojson", CRSMismatch, ["bad_projected.geojson", "projected metres", "379000"]),
    ("bad_route_only.gpx", InvalidInput, ["bad_route_only.gpx", "no track points", "3 <rtept>"]),
    ("bad_kml.gpx", InvalidInput, ["bad_kml.gpx", "root element is <kml>", "expected <gpx>"]),
    ("bad_time.gpx", InvalidInput, ["bad_time.gpx", "point 2 (line 7)", "'yesterday at noon'", "ISO 8601"]),
])
def test_bad_track_files_name_the_file_and_the_problem(name: str, error: type[Exception],
                                                       fragments: list[str]) -> None:
    with pytest.raises(error) as caught:
        read_track(DATA / name)
    assert type(caught.value) is error
    for fragment in fragments:
        assert fragment in caught.value.message


def test_truncated_gpx_details_carry_line_and_column() -> None:
    with pytest.raises(InvalidInput) as caught:
        read_track(DATA / "bad_truncated.gpx")
    assert caught.value.details["line"] == 7 and caught.value.details["column"] >= 1


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"max_speed_mps": 0}, "max_speed_mps"),
    ({"max_accuracy_m": -1}, "max_accuracy_m"),
    ({"assume_timezone": "Mars/Olympus"}, "not a time zone"),
    ({"source_crs": "not-a-crs"}, "not a CRS pyproj knows"),
])
def test_bad_options_are_refused(kwargs: dict, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        track_from_points(walk(3), **kwargs)


def test_other_bad_inputs() -> None:
    with pytest.raises(InvalidInput, match="no such file"):
        read_track(DATA / "missing.gpx")
    with pytest.raises(InvalidInput, match="neither GPX"):
        read_track(b"lon,lat,time\n")
    with pytest.raises(InvalidInput, match="has no points"):
        track_from_points([])
    with pytest.raises(InvalidInput, match="point 2 has 2 values"):
        track_from_points([(LON0, LAT0, T0), (LON0, LAT0)])
    with pytest.raises(InvalidInput, match=r"point 1: latitude 'north' is not a number"):
        track_from_points([(LON0, "north", T0), (LON0, LAT0, T0)])
    line = json.loads((DATA / "good_line.geojson").read_text(encoding="utf-8"))
    line["properties"]["coordTimes"] = line["properties"]["coordTimes"][:3]
    with pytest.raises(InvalidInput, match="5 coordinates but 3 times"):
        read_track(json.dumps(line).encode(), format="geojson")
    with pytest.raises(InvalidInput, match="declares GBK|not GBK"):
        read_track(b'<?xml version="1.0" encoding="GBK"?>\n<gpx>\xff\xff</gpx>')


def test_missing_accuracy_in_a_frame_is_unknown_not_an_error() -> None:
    frame = pd.DataFrame(walk(3), columns=["lon", "lat", "time", "accuracy_m"])
    frame.loc[1, "accuracy_m"] = np.nan
    track = track_from_points(frame)
    assert track.point_count == 3 and np.isnan(track.points["accuracy_m"].iloc[1])
    frame.loc[2, "lat"] = np.nan
    with pytest.raises(InvalidInput, match="point 3 has no longitude/latitude"):
        track_from_points(frame)
