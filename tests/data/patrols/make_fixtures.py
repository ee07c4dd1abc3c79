"""Writes the small patrol-track fixtures in this folder (run once; the files are committed).

All tracks walk east along latitude 32.04 in Nanjing, one point every 10 s and about 10 m
(0.000106 degrees of longitude), so a reader can check any figure by hand.
``python tests/data/patrols/make_fixtures.py`` rewrites them identically.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
LON0, LAT0, STEP = 118.78, 32.04, 0.000106


def lon(k: float) -> str:
    return f"{LON0 + k * STEP:.6f}"


def trkpt(k: float, time: str | None, *, lat: float = LAT0, extra: str = "") -> str:
    t = f"<time>{time}</time>" if time is not None else ""
    return f'      <trkpt lat="{lat:.6f}" lon="{lon(k)}">{t}{extra}</trkpt>'


def gpx(body: list[str], *, version: str = "1.1", encoding: str = "UTF-8", name: str = "巡查轨迹") -> str:
    ns = "http://www.topografix.com/GPX/1/1" if version == "1.1" else "http://www.topografix.com/GPX/1/0"
    return "\n".join([
        f'<?xml version="1.0" encoding="{encoding}"?>',
        f'<gpx version="{version}" creator="fixture" xmlns="{ns}">',
        "  <trk>", f"    <name>{name}</name>", *body, "  </trk>", "</gpx>", ""])


def seg(points: list[str]) -> list[str]:
    return ["    <trkseg>", *points, "    </trkseg>"]


def t(seconds: int, *, day: str = "2026-10-05", zone: str = "Z", hour: int = 0) -> str:
    m, s = divmod(seconds, 60)
    return f"{day}T{hour:02d}:{m:02d}:{s:02d}{zone}"


def main() -> None:
    # Two segments of 3 points: UTC times, hdop on one point (2 × 5 m = 10 m).
    good = seg([trkpt(0, t(0)), trkpt(1, t(10), extra="<hdop>2</hdop>"), trkpt(2, t(20))]) + \
        seg([trkpt(3, t(30)), trkpt(4, t(40)), trkpt(5, t(50))])
    (HERE / "good_utf8.gpx").write_text(gpx(good), encoding="utf-8")

    # GPX 1.0 in GBK with Beijing-time offsets: 08:00+08:00 is 00:00Z.
    gbk = seg([trkpt(k, t(10 * k, zone="+08:00", hour=8)) for k in range(4)])
    text = gpx(gbk, version="1.0", encoding="GBK", name="鼓楼区网格巡查")
    (HERE / "good_gbk.gpx").write_bytes(text.encode("gbk"))

    line = {"type": "Feature", "properties": {"name": "网格巡查", "coordTimes": [t(10 * k) for k in range(5)],
                                              "accuracies": [5, 5, 80, 5, 5]},
            "geometry": {"type": "LineString", "coordinates": [[float(lon(k)), LAT0] for k in range(5)]}}
    (HERE / "good_line.geojson").write_text(json.dumps(line, ensure_ascii=False, indent=1), encoding="utf-8")

    points = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"time": t(10 * k), "accuracy_m": 4},
         "geometry": {"type": "Point", "coordinates": [float(lon(k)), LAT0]}} for k in range(4)]}
    (HERE / "good_points.geojson").write_text(json.dumps(points, indent=1), encoding="utf-8")

    # Projected CGCS2000 GK CM 120E metres, declared in the legacy crs member: transformed, accepted.
    declared = {"type": "Feature", "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4549"}},
                "properties": {"coordTimes": [t(0), t(10), t(20)]},
                "geometry": {"type": "LineString",
                             "coordinates": [[379000.0, 3545000.0], [379010.0, 3545000.0], [379020.0, 3545000.0]]}}
    (HERE / "good_declared_gk.geojson").write_text(json.dumps(declared, indent=1), encoding="utf-8")

    # Every way to get cleaned (see test_patrol_tracks.test_messy_track_report):
    messy = seg([
        trkpt(0, t(0)),                                       # 1 kept
        trkpt(1, t(10)),                                      # 2 kept
        trkpt(3, t(30)),                                      # 3 kept, but listed before 4
        trkpt(2, t(20)),                                      # 4 kept: out of order
        trkpt(3, t(30)),                                      # 5 duplicate time of 3
        trkpt(4, t(40), lat=LAT0 + 0.01),                     # 6 teleport: 1.1 km in 10 s
        trkpt(5, t(50), extra="<hdop>20</hdop>"),             # 7 poor accuracy: 100 m
        trkpt(5.5, "1970-01-01T00:00:00Z"),                   # 8 implausible time
        trkpt(5.8, None),                                     # 9 no time
        trkpt(6, t(60)),                                      # 10 kept
        trkpt(7, t(70)),                                      # 11 kept
    ])
    (HERE / "messy.gpx").write_text(gpx(messy), encoding="utf-8")

    (HERE / "bad_no_times.gpx").write_text(gpx(seg([trkpt(k, None) for k in range(4)])), encoding="utf-8")
    text = gpx(good)
    (HERE / "bad_truncated.gpx").write_text(text[: text.index("<trkpt", text.index("<trkpt") + 10) + 30],
                                            encoding="utf-8")
    swapped = seg([f'      <trkpt lat="{LON0 + k * STEP:.6f}" lon="{LAT0:.6f}"><time>{t(10 * k)}</time></trkpt>'
                   for k in range(3)])
    (HERE / "bad_swapped.gpx").write_text(gpx(swapped), encoding="utf-8")
    helsinki = seg([f'      <trkpt lat="60.1699" lon="{24.9384 + k * 0.0002:.4f}"><time>{t(10 * k)}</time></trkpt>'
                    for k in range(3)])
    (HERE / "bad_outside_china.gpx").write_text(gpx(helsinki), encoding="utf-8")
    projected = {"type": "Feature", "properties": {"coordTimes": [t(0), t(10), t(20)]},
                 "geometry": {"type": "LineString",
                              "coordinates": [[379000.0, 3545000.0], [379010.0, 3545000.0], [379020.0, 3545000.0]]}}
    (HERE / "bad_projected.geojson").write_text(json.dumps(projected, indent=1), encoding="utf-8")
    route = "\n".join(['<?xml version="1.0" encoding="UTF-8"?>',
                       '<gpx version="1.1" creator="fixture" xmlns="http://www.topografix.com/GPX/1/1">',
                       "  <rte>", *[f'    <rtept lat="{LAT0}" lon="{lon(k)}"/>' for k in range(3)], "  </rte>",
                       "</gpx>", ""])
    (HERE / "bad_route_only.gpx").write_text(route, encoding="utf-8")
    kml = ('<?xml version="1.0" encoding="UTF-8"?>\n<kml xmlns="http://www.opengis.net/kml/2.2">\n'
           "  <Placemark><LineString><coordinates>118.78,32.04 118.79,32.04</coordinates></LineString></Placemark>\n"
           "</kml>\n")
    (HERE / "bad_kml.gpx").write_text(kml, encoding="utf-8")
    bad_time = seg([trkpt(0, t(0)), trkpt(1, "yesterday at noon"), trkpt(2, t(20))])
    (HERE / "bad_time.gpx").write_text(gpx(bad_time), encoding="utf-8")
    (HERE / "bad_truncated.geojson").write_text(json.dumps(line, indent=1)[:200], encoding="utf-8")


if __name__ == "__main__":
    main()
