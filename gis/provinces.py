"""Which province an adcode names, and whether a place lies near it (a sanity check on imports).

The first two digits of a 6-digit administrative code (GB/T 2260) are the province. The
bounding boxes are rough (lon/lat, a little generous); they catch a file loaded under the wrong
code (Beijing data as 320102), not a street on the border.
"""

from __future__ import annotations

__all__ = ["PROVINCES", "province_mismatch"]

# code: (name, min lon, min lat, max lon, max lat)
PROVINCES: dict[str, tuple[str, float, float, float, float]] = {
    "11": ("北京", 115.4, 39.4, 117.5, 41.1), "12": ("天津", 116.7, 38.5, 118.1, 40.3),
    "13": ("河北", 113.4, 36.0, 119.9, 42.7), "14": ("山西", 110.2, 34.5, 114.6, 40.8),
    "15": ("内蒙古", 97.1, 37.4, 126.1, 53.4), "21": ("辽宁", 118.8, 38.7, 125.8, 43.5),
    "22": ("吉林", 121.6, 40.8, 131.4, 46.3), "23": ("黑龙江", 121.1, 43.4, 135.1, 53.6),
    "31": ("上海", 120.8, 30.6, 122.2, 31.9), "32": ("江苏", 116.3, 30.7, 121.9, 35.2),
    "33": ("浙江", 118.0, 27.0, 123.2, 31.2), "34": ("安徽", 114.8, 29.4, 119.7, 34.7),
    "35": ("福建", 115.8, 23.5, 120.7, 28.4), "36": ("江西", 113.5, 24.4, 118.5, 30.1),
    "37": ("山东", 114.8, 34.4, 122.7, 38.4), "41": ("河南", 110.3, 31.4, 116.7, 36.4),
    "42": ("湖北", 108.3, 29.0, 116.2, 33.3), "43": ("湖南", 108.8, 24.6, 114.3, 30.2),
    "44": ("广东", 109.6, 20.2, 117.3, 25.6), "45": ("广西", 104.4, 20.9, 112.1, 26.4),
    "46": ("海南", 108.6, 3.5, 117.9, 20.2), "50": ("重庆", 105.2, 28.1, 110.2, 32.3),
    "51": ("四川", 97.3, 26.0, 108.6, 34.4), "52": ("贵州", 103.6, 24.6, 109.6, 29.3),
    "53": ("云南", 97.5, 21.1, 106.2, 29.3), "54": ("西藏", 78.3, 26.8, 99.2, 36.6),
    "61": ("陕西", 105.4, 31.7, 111.3, 39.6), "62": ("甘肃", 92.1, 32.5, 108.8, 43.0),
    "63": ("青海", 89.4, 31.5, 103.1, 39.3), "64": ("宁夏", 104.2, 35.2, 107.7, 39.4),
    "65": ("新疆", 73.4, 34.3, 96.5, 49.2), "71": ("台湾", 119.3, 20.7, 124.6, 26.4),
    "81": ("香港", 113.8, 22.1, 114.5, 22.6), "82": ("澳门", 113.5, 22.1, 113.7, 22.3),
}  # fmt: skip
# Degrees of slack around each box.
_MARGIN = 0.3


def province_mismatch(district_code: str, lon: float, lat: float) -> str | None:
    """A warning when (lon, lat) lies far from the province of ``district_code``; None when near or unknown."""
    province = PROVINCES.get(district_code[:2])
    if province is None:
        return None  # 99…: test and foreign districts have no province to check against
    name, x0, y0, x1, y1 = province
    if x0 - _MARGIN <= lon <= x1 + _MARGIN and y0 - _MARGIN <= lat <= y1 + _MARGIN:
        return None
    near = [f"{n} ({c})" for c, (n, a, b, c2, d) in PROVINCES.items() if a <= lon <= c2 and b <= lat <= d]
    where = f"; it lies in {', '.join(near)}" if near else ""
    return (f"district {district_code} is in {name} (adcode {district_code[:2]}…) but its data lies at "
            f"{lon:.3f}E {lat:.3f}N, outside {name} ({x0:g}–{x1:g}E, {y0:g}–{y1:g}N){where}; "
            f"check district_code")
