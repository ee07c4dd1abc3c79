"""Duplicate hints: same category, within 50 m and 72 h of an open case, nearest first."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from gis.cases.duplicates import find_duplicates, nearby_mask
from gis.cases.workflow import distance_m
from gis.errors import InvalidInput

SH = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 10, 12, 9, 0, tzinfo=SH)
LON, LAT = 118.7800, 32.0400
# At 32.04°N one metre is about 1/110,870 degree of latitude and 1/94,400 of longitude.
M_LAT = 1 / 110_870
M_LON = 1 / 94_400


def _cases() -> pd.DataFrame:
    rows = [
        # id, metres east, metres north, category, class, hours before NOW, status
        (1, 30, 0, "道路交通", "component", 10, "handling"),     # 30 m, a match
        (2, 0, 45, "道路交通", "component", 71, "dispatched"),   # 45 m, a match (71 h old)
        (3, 0, 20, "道路交通", "component", 73, "handling"),     # too old
        (4, 60, 0, "道路交通", "component", 1, "handling"),      # too far
        (5, 10, 0, "市容环境", "component", 1, "handling"),      # other category
        (6, 10, 0, "道路交通", "component", 1, "closed"),        # finished
        (7, 5, 5, "道路交通", "event", 1, "reported"),           # same name, other class
        (8, -35, 0, "道路交通", "component", -2, "reported"),    # 35 m west, reported 2 h *after*
    ]
    return pd.DataFrame({
        "id": [r[0] for r in rows],
        "lon": [LON + r[1] * M_LON for r in rows],
        "lat": [LAT + r[2] * M_LAT for r in rows],
        "category": [r[3] for r in rows],
        "category_class": [r[4] for r in rows],
        "reported_at": [NOW - dt.timedelta(hours=r[5]) for r in rows],
        "status": [r[6] for r in rows],
    })


def test_same_category_within_50_m_and_72_h_nearest_first() -> None:
    found = find_duplicates(lon=LON, lat=LAT, category="道路交通", category_class="component", reported_at=NOW,
                            open_cases=_cases())
    assert [c.case_id for c in found] == [1, 8, 2]
    assert [round(c.distance_m) for c in found] == [30, 35, 45]
    assert [round(c.hours_apart) for c in found] == [10, -2, 71]
    # Metres agree with the geodesic distance to within a centimetre.
    cases = _cases().set_index("id")
    for c in found:
        geodesic = distance_m((LON, LAT), (cases.loc[c.case_id, "lon"], cases.loc[c.case_id, "lat"]))
        assert c.distance_m == pytest.approx(geodesic, abs=0.01)
    assert found[0].to_dict() == {"case_id": 1, "distance_m": 30.0, "hours_apart": 10.0}


def test_without_a_class_the_category_name_alone_decides() -> None:
    found = find_duplicates(lon=LON, lat=LAT, category="道路交通", reported_at=NOW, open_cases=_cases())
    assert [c.case_id for c in found] == [7, 1, 8, 2]


def test_both_numbers_are_configurable() -> None:
    found = find_duplicates(lon=LON, lat=LAT, category="道路交通", category_class="component", reported_at=NOW,
                            open_cases=_cases(), max_distance_m=100, window=dt.timedelta(hours=80))
    assert [c.case_id for c in found] == [3, 1, 8, 2, 4]
    assert find_duplicates(lon=LON, lat=LAT, category="道路交通", category_class="component", reported_at=NOW,
                           open_cases=_cases(), max_distance_m=32, window=dt.timedelta(hours=12)) == [
        find_duplicates(lon=LON, lat=LAT, category="道路交通", category_class="component", reported_at=NOW,
                        open_cases=_cases())[0]]


def test_the_array_core_handles_many_cases_at_once() -> None:
    rng = np.random.default_rng(7)
    n = 100_000
    lons = LON + rng.uniform(-0.01, 0.01, n)
    lats = LAT + rng.uniform(-0.01, 0.01, n)
    times = np.datetime64("2026-10-12T01:00", "ns") - rng.integers(0, 200, n).astype("timedelta64[h]")
    same = rng.random(n) < 0.5
    mask, distances, hours = nearby_mask(lon=LON, lat=LAT, reported_at=NOW, lons=lons, lats=lats, times=times,
                                         same_category=same)
    assert distances.shape == (n,) and mask.dtype == bool
    expected = same & (distances <= 50) & (np.abs(hours) <= 72)
    assert np.array_equal(mask, expected) and mask.any()


def test_no_open_cases_and_bad_input() -> None:
    empty = _cases().iloc[0:0]
    assert find_duplicates(lon=LON, lat=LAT, category="道路交通", reported_at=NOW, open_cases=empty) == []
    with pytest.raises(InvalidInput, match="lacks column"):
        find_duplicates(lon=LON, lat=LAT, category="道路交通", reported_at=NOW,
                        open_cases=_cases().drop(columns="lat"))
    with pytest.raises(InvalidInput, match="timezone-aware"):
        find_duplicates(lon=LON, lat=LAT, category="道路交通", reported_at=dt.datetime(2026, 10, 12),
                        open_cases=_cases())
    with pytest.raises(InvalidInput, match="not lon/lat"):
        find_duplicates(lon=LAT, lat=LON * 2, category="道路交通", reported_at=NOW, open_cases=_cases())


def test_the_rows_version_agrees_with_the_frame_version() -> None:
    """duplicates_among (a few prefiltered rows, no DataFrame) ranks exactly as find_duplicates."""
    from gis.cases.duplicates import duplicates_among

    frame = _cases()
    rows = frame.to_dict("records")
    for category, category_class in (("道路交通", "component"), ("道路交通", None), ("市容环境", "component")):
        expected = find_duplicates(lon=LON, lat=LAT, category=category, category_class=category_class,
                                   reported_at=NOW, open_cases=frame)
        assert duplicates_among(rows, lon=LON, lat=LAT, category=category, category_class=category_class,
                                reported_at=NOW) == expected
    assert [c.case_id for c in duplicates_among(rows, lon=LON, lat=LAT, category="道路交通",
                                                 category_class="component", reported_at=NOW)] == [1, 8, 2]
    assert duplicates_among([], lon=LON, lat=LAT, category="道路交通", reported_at=NOW) == []
    naive = [{**rows[0], "reported_at": NOW.replace(tzinfo=None)}]
    with pytest.raises(InvalidInput, match="timezone-aware"):
        duplicates_among(naive, lon=LON, lat=LAT, category="道路交通", reported_at=NOW)
