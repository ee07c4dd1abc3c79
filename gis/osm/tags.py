"""OSM tag rules: which ways are walkable, buildings, water, barriers, compounds; levels and heights; facilities.

The rules read tags as pyosmium hands them over (``Tags``), so that the one pass over a file
builds a dict only for the few objects it keeps.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TypeAlias

import osmium
from pyproj import Geod

from gis.catalogue import FacilityType, classify_facility

# Highway classes a pedestrian may use unless the way says otherwise (foot=no, access=private).
WALK_HIGHWAYS = frozenset(
    {
        "footway", "path", "pedestrian", "steps", "living_street", "residential", "service",
        "unclassified", "road", "track", "cycleway", "bridleway", "corridor",
        "tertiary", "tertiary_link", "secondary", "secondary_link",
        "primary", "primary_link", "trunk", "trunk_link",
    }
)  # fmt: skip
# Walkable only when foot access is explicitly granted.
_FOOT_ONLY_IF_SIGNED = frozenset({"motorway", "motorway_link"})
_FOOT_GRANTED = frozenset({"yes", "designated", "permissive"})
_FOOT_REFUSED = frozenset({"no", "use_sidepath"})
_ACCESS_REFUSED = frozenset({"private", "no"})

WATERWAY_LINES = frozenset({"river", "canal", "stream", "ditch", "drain"})
RAILWAY_KINDS = frozenset({"rail", "light_rail", "subway", "narrow_gauge", "monorail"})
_UNDERGROUND_TUNNELS = frozenset({"yes", "culvert"})

# Columns read_osm adds to the buildings besides BUILDING_COLUMNS: ``layer`` (the lowest of
# layer/level), ``location`` and ``use`` (the building's own use tag as key=value).
BUILDING_OSM_EXTRAS = ("layer", "location", "use")

# Polygon parts smaller than this (m²) left over by a repair are slivers and dropped.
MIN_PART_M2 = 1.0
MAX_PROBLEMS = 200
# One facility mapped twice: same type, similar names, this close (a node and a polygon 29 m apart seen).
DUPLICATE_DISTANCE_M = 50.0
# Levels above this are taken as a typo, not a building.
_MAX_LEVELS = 200
_MAX_HEIGHT_M = 1000.0

GEOD = Geod(ellps="GRS80")
# Square metres per square degree at the equator (scaled by cos(latitude) below).
M2_PER_DEG2 = (math.pi * 6378137.0 / 180.0) ** 2

_LEVELS_RE = re.compile(r"\s*(\d+(?:[.,]\d+)?)")
_FEET_INCHES_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*'\s*(?:(\d+(?:\.\d+)?)\s*\")?\s*$")
_HEIGHT_RE = re.compile(r"\s*(\d+(?:[.,]\d+)?)\s*(m|metres?|meters?|米|ft|feet)?\s*$", re.IGNORECASE)


def parse_levels(value: str | None) -> int | None:
    """Parse ``building:levels`` ('6', '6+', '4;5', '3.5') to whole storeys, or None.

    The leading number counts (a list of values keeps its first); a fraction is cut to
    the whole storeys below it (3.5 -> 3: half storeys are attics).
    """
    if not value:
        return None
    m = _LEVELS_RE.match(value)
    if m is None:
        return None
    levels = int(float(m.group(1).replace(",", ".")))
    return levels if levels <= _MAX_LEVELS else None


def parse_height(value: str | None) -> float | None:
    r"""Parse ``height`` ('12', '12 m', '12.5m', '40 ft', "40'6\"") to metres, or None."""
    if not value:
        return None
    m = _FEET_INCHES_RE.match(value)
    if m is not None:
        metres = float(m.group(1)) * 0.3048 + float(m.group(2) or 0.0) * 0.0254
    else:
        m = _HEIGHT_RE.match(value)
        if m is None:
            return None
        metres = float(m.group(1).replace(",", "."))
        if (m.group(2) or "").lower() in ("ft", "feet"):
            metres *= 0.3048
    return metres if 0.0 < metres <= _MAX_HEIGHT_M else None


def is_walkable(tags: Tags) -> bool:
    """Whether a way with these tags belongs to the pedestrian network.

    Highways in ``WALK_HIGHWAYS`` count unless ``foot=no`` (or ``use_sidepath``), or
    ``access=private|no`` without ``foot=yes|designated|permissive``; motorways only with
    such a foot tag. Areas (``area=yes``, e.g. a square's outline) are not network ways.
    """
    highway = tags.get("highway")
    if highway is None:
        return False
    foot = tags.get("foot")
    if foot in _FOOT_REFUSED or tags.get("area") == "yes":
        return False
    granted = foot in _FOOT_GRANTED
    if highway in _FOOT_ONLY_IF_SIGNED:
        return granted
    if highway not in WALK_HIGHWAYS:
        return False
    return granted or tags.get("access") not in _ACCESS_REFUSED


def is_building(tags: Tags) -> bool:
    value = tags.get("building")
    return value is not None and value != "no"


def is_water_area(tags: Tags) -> bool:
    return tags.get("natural") == "water" or tags.get("waterway") == "riverbank" or tags.get("landuse") == "reservoir"


def barrier_line_kind(tags: Tags) -> str | None:
    if tags.get("natural") == "coastline":
        return "water"
    if tags.get("waterway") in WATERWAY_LINES and tags.get("tunnel") not in _UNDERGROUND_TUNNELS:
        return "waterway"
    if tags.get("railway") in RAILWAY_KINDS and tags.get("tunnel") != "yes" and tags.get("location") != "underground":
        return "railway"
    return None


def tag_name(tags: Tags) -> str | None:
    return tags.get("name") or tags.get("name:zh") or None


def is_compound(tags: Tags) -> bool:
    return tags.get("landuse") == "residential" and tag_name(tags) is not None


Tags: TypeAlias = Mapping[str, str] | osmium.osm.TagList
"""An OSM object's tags: a dict, or pyosmium's TagList read in place (most objects are dropped before any dict)."""

# Features that are never a facility even when their name matches a pattern: a 小区 named
# after a school (…小学宿舍), a stop or a place named after a hospital.
_NOT_FACILITY_KEYS = ("place", "boundary", "public_transport", "route")


class Classifier:
    """``classify_facility`` behind a cheap test that rules out most objects without a dict.

    The test accepts exactly what ``classify_facility`` can classify: a name containing a
    catalogue pattern, a catalogue tag, or ``amenity=school``.
    """

    def __init__(self, catalogue: Mapping[str, FacilityType], counts_as: Mapping[str, str] | None = None) -> None:
        self.catalogue = catalogue
        self.counts_as = dict(counts_as or {})
        patterns = sorted({p for ft in catalogue.values() for p in ft.name_patterns}
                          | ({"医院", "病院", "医疗中心", "总院"} if self.counts_as else set()), key=len, reverse=True)
        self.name_re = re.compile("|".join(map(re.escape, patterns))) if patterns else None
        self.tag_values: dict[str, set[str]] = {}
        for ft in catalogue.values():
            for key, value in ft.osm_tags:
                self.tag_values.setdefault(key, set()).add(value)
        self.tag_values.setdefault("amenity", set()).add("school")
        if self.counts_as:  # hospitals, tag-only ones too, are then a facility of the type they count as
            for key, value in (("amenity", "hospital"), ("healthcare", "hospital"), ("building", "hospital")):
                self.tag_values.setdefault(key, set()).add(value)

    def _candidate(self, tags: Tags) -> bool:
        name = tags.get("name:zh") or tags.get("name")
        if name and self.name_re is not None and self.name_re.search(name):
            return True
        for key, values in self.tag_values.items():
            value = tags.get(key)
            if value is not None and value in values:
                return True
        return False

    def __call__(self, tags: Tags) -> tuple[str, str] | None:
        if not self._candidate(tags):
            return None
        if tags.get("landuse") == "residential" or any(k in tags for k in _NOT_FACILITY_KEYS):
            return None
        return classify_facility(dict(tags), self.catalogue, counts_as=self.counts_as)
