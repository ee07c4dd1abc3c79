"""Patrol tracks in the API world's town (tests/support/coverage_town.py), for the patrol service, API and CLI tests.

A track is a walk in town metres (EPSG:4549 offsets from X0, Y0): one fix every 10 s, 10 m
apart, without noise, so every covered building and street length can be worked out by hand.
"""

from __future__ import annotations

import datetime as dt
import json

import coverage_town as town
import numpy as np
from pyproj import Transformer

from gis.patrols import Track, to_gpx, track_from_points

TO_LONLAT = Transformer.from_crs(town.CRS, "EPSG:4490", always_xy=True)
# ISO week 2026-W41: Monday 5 October 2026, 09:00 in Beijing.
MONDAY = dt.datetime(2026, 10, 5, 1, 0, tzinfo=dt.UTC)
WEEK = "2026-W41"


def town_track(xys: list[tuple[float, float]], *, start: dt.datetime = MONDAY, step_m: float = 10.0,
               name: str = "巡查") -> Track:
    """A walk through the town points ``xys`` (metres), a fix every ``step_m`` metres and 10 s."""
    xs, ys = [], []
    for (x0, y0), (x1, y1) in zip(xys[:-1], xys[1:], strict=True):
        n = max(1, int(round(np.hypot(x1 - x0, y1 - y0) / step_m)))
        xs += list(np.linspace(x0, x1, n + 1)[:-1])
        ys += list(np.linspace(y0, y1, n + 1)[:-1])
    xs.append(xys[-1][0])
    ys.append(xys[-1][1])
    lon, lat = TO_LONLAT.transform(town.X0 + np.array(xs), town.Y0 + np.array(ys))
    return track_from_points([(a, b, start + dt.timedelta(seconds=10 * i), 5.0)
                              for i, (a, b) in enumerate(zip(lon, lat, strict=True))], name=name)


def town_gpx(xys: list[tuple[float, float]], **kwargs) -> bytes:
    """``town_track`` as GPX 1.1 bytes."""
    return to_gpx(town_track(xys, **kwargs)).encode("utf-8")


def town_geojson(xys: list[tuple[float, float]], **kwargs) -> bytes:
    """``town_track`` as a GeoJSON Feature (LineString with coordTimes)."""
    return json.dumps(town_track(xys, **kwargs).to_feature()).encode("utf-8")


# Along the main road (y = 0) from A (x = 0) to x = 350, inside grid A: building N's nearest
# vertex (300, 20) is 20 m away, so N (120 households) is covered. Street segments of grid A
# (walk edges clipped to x in [-100, 400], y in [-100, 300], widened by the 1 m boundary
# tolerance of gis.services.patrols): A-B 401 m, A-C 200 m, C-D 401 m, A-G 101 m = 1,103 m;
# within 20 m of the walk: A-B 0..370 m, A-C and A-G their first 20 m: 410 m; only A-B is
# covered over half its length.
MAIN_ROAD_WALK = [(0.0, 0.0), (350.0, 0.0)]
GRID_A_STREET_M, GRID_A_COVERED_M = 1103.0, 410.0
MULTIPART_BOUNDARY = "wangge-test-boundary"


def multipart(fields: dict[str, str], *, filename: str, content: bytes,
              content_type: str = "application/gpx+xml") -> tuple[bytes, dict[str, str]]:
    """A multipart/form-data body by hand (the access matrix sends raw bodies), and its Content-Type header."""
    b = MULTIPART_BOUNDARY
    parts = [f'--{b}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    parts.append(f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                 f"Content-Type: {content_type}\r\n\r\n".encode() + content + b"\r\n")
    body = b"".join(parts) + f"--{b}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={b}"}
