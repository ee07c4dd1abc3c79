"""Read an OpenStreetMap extract (XML or PBF) into ``DistrictLayers``.

One pass of pyosmium collects what the layers need; the geometries are then built in
bulk with shapely. The rules, in short:

- **buildings**: closed ways and multipolygon relations with ``building=*`` (not ``no``).
  ``kind`` is the building value as mapped (``yes`` stays ``yes``); ``levels`` and
  ``height`` are parsed from ``building:levels`` and ``height`` (NA when missing or not a
  number); ``households`` and ``households_estimated`` stay NA (see
  ``gis.households.estimate_households``).
- **walk network**: ways a pedestrian may use (see ``is_walkable``), split at every node
  shared by two ways (or twice by one) and at way ends. ``node_id`` is the OSM node id;
  ``length_m`` is geodesic (GRS80 ellipsoid, the CGCS2000 one).
- **barriers**: rivers, canals, streams, ditches and drains (``waterway``, lines; not in a
  culvert or tunnel), water (``water``: natural=water, waterway=riverbank and
  landuse=reservoir areas, and the coastline as a line) and railways (``railway``: rail,
  light_rail, subway, narrow_gauge, monorail; not in a tunnel or underground, and not
  trams, which run in the street and are crossed on foot).
- **compounds**: ``landuse=residential`` areas with a name (小区).
- **facilities**: every node, way or relation that ``gis.catalogue.classify_facility``
  recognises, buildings included (many Chinese POIs are only a named building polygon),
  as a point: the node itself, a point inside a polygon, the middle of a line. One facility
  mapped twice is kept once (``gis.catalogue.find_duplicates``): a node inside a polygon of
  the same type with the same or no name, or two features of the same type within
  ``DUPLICATE_DISTANCE_M`` with similar names (one containing the other, no campus
  qualifier). The polygon (the larger one) is kept, and takes the node's name when it has none.

Ids: ``osm_id`` is the OSM id of a node or way and **minus** the id of a relation (a
multipolygon building, water area, compound or facility). Facilities mix nodes and ways,
whose id spaces are separate in OSM; a collision is possible in principle.

Geometry problems are repaired where possible and always counted in ``report``:
``invalid_repaired`` / ``invalid_skipped`` (rings that are not valid polygons, fixed with
``shapely.make_valid`` keeping polygonal parts of at least ``MIN_PART_M2``),
``unclosed_skipped`` (area ways whose ring does not close), ``incomplete_rings`` (areas
built although some of their nodes or member ways are missing from the extract: a ring
clipped at the edge of the extract is built from the nodes present, a multipolygon with
missing members from the members present), ``incomplete_skipped`` (too little left to build
a polygon), ``rebuilt_relations`` (multipolygons libosmium could not assemble, rebuilt
from their member ways) and ``ways_clipped`` (walkable ways with missing nodes, split into
the runs present). ``problems`` lists the first ``MAX_PROBLEMS`` cases in words
(``problems_not_listed`` counts the rest).

OSM is WGS84; the frames are labelled EPSG:4490 (centimetres apart, domain §7).
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import shapely
from pyproj import Geod

from gis.catalogue import FacilityType, classify_facility, find_duplicates, load_catalogue
from gis.errors import InvalidInput
from gis.households import building_use, context_kind
from gis.layers import (
    BARRIER_COLUMNS,
    BUILDING_COLUMNS,
    COMPOUND_COLUMNS,
    EDGE_COLUMNS,
    FACILITY_COLUMNS,
    MAIN_ROAD_CLASSES,
    NODE_COLUMNS,
    STORAGE_CRS,
    DistrictLayers,
)

__all__ = [
    "BUILDING_OSM_EXTRAS",
    "MIN_PART_M2",
    "RAILWAY_KINDS",
    "WALK_HIGHWAYS",
    "WATERWAY_LINES",
    "is_walkable",
    "parse_height",
    "parse_levels",
    "read_osm",
]

ProgressCallback = Callable[[str, float], None]

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

_GEOD = Geod(ellps="GRS80")
# Square metres per square degree at the equator (scaled by cos(latitude) below).
_M2_PER_DEG2 = (math.pi * 6378137.0 / 180.0) ** 2

_LEVELS_RE = re.compile(r"\s*(\d+(?:[.,]\d+)?)")
_FEET_INCHES_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*'\s*(?:(\d+(?:\.\d+)?)\s*\")?\s*$")
_HEIGHT_RE = re.compile(r"\s*(\d+(?:[.,]\d+)?)\s*(m|metres?|meters?|米|ft|feet)?\s*$", re.IGNORECASE)


# --------------------------------------------------------------------------- tag rules


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


def _is_building(tags: Tags) -> bool:
    value = tags.get("building")
    return value is not None and value != "no"


def _is_water_area(tags: Tags) -> bool:
    return tags.get("natural") == "water" or tags.get("waterway") == "riverbank" or tags.get("landuse") == "reservoir"


def _barrier_line_kind(tags: Tags) -> str | None:
    if tags.get("natural") == "coastline":
        return "water"
    if tags.get("waterway") in WATERWAY_LINES and tags.get("tunnel") not in _UNDERGROUND_TUNNELS:
        return "waterway"
    if tags.get("railway") in RAILWAY_KINDS and tags.get("tunnel") != "yes" and tags.get("location") != "underground":
        return "railway"
    return None


def _name(tags: Tags) -> str | None:
    return tags.get("name") or tags.get("name:zh") or None


def _is_compound(tags: Tags) -> bool:
    return tags.get("landuse") == "residential" and _name(tags) is not None


Tags: TypeAlias = Mapping[str, str] | osmium.osm.TagList
"""An OSM object's tags: a dict, or pyosmium's TagList read in place (most objects are dropped before any dict)."""

# Features that are never a facility even when their name matches a pattern: a 小区 named
# after a school (…小学宿舍), a stop or a place named after a hospital.
_NOT_FACILITY_KEYS = ("place", "boundary", "public_transport", "route")


class _Classifier:
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


# --------------------------------------------------------------------------- collection


@dataclass
class _Area:
    """A feature that needs a polygon, with the roles it plays in the layers."""

    osm_id: int  # way id, or -relation id
    label: str  # "way 123" / "relation 45", for problem messages
    tags: dict[str, str]
    building: bool
    water: bool
    compound: bool
    facility: tuple[str, str] | None
    ring: np.ndarray | None = None  # (n, 2) lon/lat of a way's ring, missing nodes dropped
    geom: Any = None  # a relation's geometry
    context: str = ""  # land use or amenity that tells what the buildings in it are (gis.households)


@dataclass
class _Line:
    osm_id: int
    tags: dict[str, str]
    refs: np.ndarray  # int64 node ids
    xy: np.ndarray  # (n, 2) lon/lat, NaN where the node is missing


@dataclass
class _Collected:
    areas: list[_Area] = field(default_factory=list)
    walk: list[_Line] = field(default_factory=list)
    barrier_lines: list[tuple[str, _Line]] = field(default_factory=list)
    facility_nodes: list[tuple[int, str | None, str, str, float, float]] = field(default_factory=list)
    facility_lines: list[tuple[int, str | None, str, str, np.ndarray]] = field(default_factory=list)
    member_coords: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)
        else:
            self.counts["problems_not_listed"] += 1


@dataclass
class _Relation:
    tags: dict[str, str]
    members: list[tuple[int, str]]  # (way id, role)
    building: bool
    water: bool
    compound: bool
    facility: tuple[str, str] | None
    context: str = ""

    def area(self, rid: int, geom: Any) -> _Area:
        """The relation as an area feature with the given geometry (its id negated)."""
        return _Area(-rid, f"relation {rid}", self.tags, self.building, self.water, self.compound, self.facility,
                     geom=geom, context=self.context)  # fmt: skip


class _RelationScan:
    """Area first-pass hook: remembers the multipolygon relations the layers need."""

    def __init__(self, classify: _Classifier) -> None:
        self.classify = classify
        self.relations: dict[int, _Relation] = {}
        self.member_ways: set[int] = set()

    def relation(self, rel: Any) -> None:
        tags = rel.tags
        if tags.get("type") != "multipolygon":
            return
        tags = dict(tags)
        building, water, compound = _is_building(tags), _is_water_area(tags), _is_compound(tags)
        facility = self.classify(tags)
        context = context_kind(tags)
        if not (building or water or compound or facility or context):
            return
        members = [(m.ref, m.role) for m in rel.members if m.type == "w"]
        self.relations[rel.id] = _Relation(tags, members, building, water, compound, facility, context)
        self.member_ways.update(ref for ref, _ in members)


def _way_nodes(way: Any) -> tuple[np.ndarray, np.ndarray, int]:
    """Node ids, lon/lat (NaN where the node is missing) and the number missing."""
    refs = []
    xy = []
    missing = 0
    nan = (math.nan, math.nan)
    for n in way.nodes:
        refs.append(n.ref)
        loc = n.location
        if loc.valid():
            xy.append((loc.lon, loc.lat))
        else:
            xy.append(nan)
            missing += 1
    return np.array(refs, dtype=np.int64), np.array(xy, dtype=np.float64).reshape(-1, 2), missing


def _ring(refs: np.ndarray, xy: np.ndarray) -> np.ndarray | None:
    """A closed ring from a way's located nodes, or None when fewer than 3 distinct points remain."""
    pts = xy[~np.isnan(xy[:, 0])]
    if len(pts) == 0:
        return None
    keep = np.ones(len(pts), dtype=bool)
    keep[1:] = np.any(pts[1:] != pts[:-1], axis=1)
    pts = pts[keep]
    if len(pts) > 1 and np.array_equal(pts[0], pts[-1]):
        pts = pts[:-1]
    if len(set(map(tuple, pts.tolist()))) < 3:
        return None
    return np.vstack([pts, pts[:1]])


def _is_closed(refs: np.ndarray, xy: np.ndarray) -> bool:
    if len(refs) < 4:
        return False
    if refs[0] == refs[-1]:
        return True
    return bool(not np.isnan(xy[0, 0]) and np.array_equal(xy[0], xy[-1]))


def _collect(fp: osmium.FileProcessor, scan: _RelationScan, classify: _Classifier) -> _Collected:
    """The single pass over the file."""
    out = _Collected()
    counts = out.counts
    wkb = osmium.geom.WKBFactory()
    assembled: set[int] = set()
    for obj in fp:
        if isinstance(obj, osmium.osm.Node):
            fac = classify(obj.tags)
            if fac is not None:
                loc = obj.location
                if loc.valid():
                    out.facility_nodes.append((obj.id, _name(obj.tags), fac[0], fac[1], loc.lon, loc.lat))
        elif isinstance(obj, osmium.osm.Way):
            wid = obj.id
            is_member = wid in scan.member_ways
            taglist = obj.tags
            if not len(taglist) and not is_member:
                continue
            building, water, compound = _is_building(taglist), _is_water_area(taglist), _is_compound(taglist)
            walk = is_walkable(taglist)
            line_kind = _barrier_line_kind(taglist)
            fac = classify(taglist)
            context = context_kind(taglist)
            if not (building or water or compound or walk or line_kind or fac or context or is_member):
                continue
            tags = dict(taglist)
            refs, xy, missing = _way_nodes(obj)
            if is_member:
                out.member_coords[wid] = (refs, xy)
            if walk:
                out.walk.append(_Line(wid, tags, refs, xy))
            if line_kind:
                out.barrier_lines.append((line_kind, _Line(wid, tags, refs, xy)))
            if not (building or water or compound or fac or context):
                continue
            if not _is_closed(refs, xy):
                if building or water or compound:
                    counts["unclosed_skipped"] += 1
                    out.problem(f"way {wid}: area ring does not close; skipped")
                if fac is not None:  # a facility mapped as a line: its middle
                    out.facility_lines.append((wid, _name(tags), fac[0], fac[1], xy))
                continue
            ring = _ring(refs, xy)
            if ring is None:
                counts["incomplete_skipped" if missing else "invalid_skipped"] += 1
                what = "nodes missing from the extract" if missing else "fewer than 3 distinct points"
                out.problem(f"way {wid}: {what}; skipped")
                if fac is not None and missing < len(refs):
                    out.facility_lines.append((wid, _name(tags), fac[0], fac[1], xy))
                continue
            if missing:
                counts["incomplete_rings"] += 1
                out.problem(f"way {wid}: {missing} of {len(refs)} nodes missing from the extract; built from the rest")
            out.areas.append(_Area(wid, f"way {wid}", tags, building, water, compound, fac, ring=ring,
                                   context=context))
        elif isinstance(obj, osmium.osm.Area):
            if obj.from_way():
                continue
            rid = obj.orig_id()
            rel = scan.relations.get(rid)
            if rel is None:
                continue
            try:
                geom = shapely.from_wkb(wkb.create_multipolygon(obj))
            except (RuntimeError, ValueError):
                continue  # left for the fallback assembly below
            if geom is None or geom.is_empty:
                continue
            assembled.add(rid)
            out.areas.append(rel.area(rid, geom))
    for rid, rel in scan.relations.items():
        if rid not in assembled:
            _assemble_fallback(rid, rel, out)
    return out


def _assemble_fallback(rid: int, rel: _Relation, out: _Collected) -> None:
    """Build a multipolygon libosmium could not (missing members or nodes) from what the extract holds.

    Closed member ways become rings directly, open ones are merged into rings; rings that
    are not valid are repaired like way rings. The result is the union of the outer rings
    minus the inner ones.
    """
    rings: dict[str, list[Any]] = {"outer": [], "inner": []}
    open_lines: dict[str, list[Any]] = {"outer": [], "inner": []}
    incomplete = False
    for ref, role in rel.members:
        role = "inner" if role == "inner" else "outer"
        got = out.member_coords.get(ref)
        if got is None:
            incomplete = True
            continue
        refs, xy = got
        if np.isnan(xy[:, 0]).any():
            incomplete = True
        if _is_closed(refs, xy):
            ring = _ring(refs, xy)
            if ring is not None:
                rings[role].append(ring)
        else:
            pts = xy[~np.isnan(xy[:, 0])]
            if len(pts) >= 2:
                open_lines[role].append(shapely.LineString(pts))
    for role, lines in open_lines.items():
        if lines:
            merged = shapely.get_parts(shapely.line_merge(shapely.MultiLineString(lines)))
            rings[role].extend(np.asarray(p.coords) for p in merged if p.is_ring and len(p.coords) >= 4)

    invalid = 0
    parts: dict[str, list[Any]] = {"outer": [], "inner": []}
    for role, coords in rings.items():
        for ring in coords:
            poly = shapely.Polygon(ring)
            if not poly.is_valid:
                invalid += 1
                poly = _polygonal_parts(shapely.make_valid(poly, method="structure", keep_collapsed=False))
            if poly is not None and not poly.is_empty:
                parts[role].append(poly)
    what = "members or nodes missing from the extract" if incomplete else "rings could not be assembled as mapped"
    if invalid:
        what += f", {invalid} invalid ring(s)"
    geom = shapely.union_all(parts["outer"]) if parts["outer"] else None
    if geom is not None and parts["inner"]:
        geom = geom.difference(shapely.union_all(parts["inner"]))
    if geom is None or geom.is_empty:
        out.counts["invalid_skipped" if invalid or not incomplete else "incomplete_skipped"] += 1
        out.problem(f"relation {rid}: {what}; no outer ring with 3 or more nodes left, skipped")
        return
    if invalid:
        out.counts["invalid_repaired"] += 1
    if incomplete:
        out.counts["incomplete_rings"] += 1
    elif not invalid:
        out.counts["rebuilt_relations"] += 1
    out.problem(f"relation {rid}: {what}; built from the member ways present")
    out.areas.append(rel.area(rid, geom))


# --------------------------------------------------------------------------- geometry


def _polygonal_parts(geom: Any) -> Any:
    """The polygonal parts of ``geom`` at least ``MIN_PART_M2`` large, as one geometry or None."""
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    parts = [q for p in parts for q in shapely.get_parts(p)]
    if not parts:
        return None
    lat = shapely.centroid(shapely.MultiPolygon(parts)).y
    scale = _M2_PER_DEG2 * max(math.cos(math.radians(lat)), 1e-6)
    parts = [p for p in parts if p.area * scale >= MIN_PART_M2]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


def _single_part(geoms: np.ndarray) -> np.ndarray:
    """MultiPolygons of one part become Polygons."""
    single = (shapely.get_type_id(geoms) == 6) & (shapely.get_num_geometries(geoms) == 1)
    if single.any():
        geoms = geoms.copy()
        geoms[single] = shapely.get_geometry(geoms[single], 0)
    return geoms


def _area_geometries(out: _Collected) -> np.ndarray:
    """Polygons for every collected area, repaired; None where none could be made."""
    areas = out.areas
    geoms = np.empty(len(areas), dtype=object)
    ring_idx = [i for i, a in enumerate(areas) if a.ring is not None]
    if ring_idx:
        rings = [ring for a in areas if (ring := a.ring) is not None]
        lens = np.fromiter((len(r) for r in rings), dtype=np.int64, count=len(rings))
        coords = np.concatenate(rings)
        linear = shapely.linearrings(coords, indices=np.repeat(np.arange(len(rings)), lens))
        geoms[ring_idx] = shapely.polygons(linear)
    for i, a in enumerate(areas):
        if a.ring is None:
            geoms[i] = a.geom
    if len(geoms) == 0:
        return geoms
    valid = shapely.is_valid(geoms)
    for i in np.flatnonzero(~valid).tolist():
        reason = shapely.is_valid_reason(geoms[i])
        fixed = _polygonal_parts(shapely.make_valid(geoms[i], method="structure", keep_collapsed=False))
        geoms[i] = fixed
        a = areas[i]
        if not (a.building or a.water or a.compound or a.facility):
            continue  # a land-use area only read for context: repaired silently, not a layer's problem
        if fixed is None:
            out.counts["invalid_skipped"] += 1
            out.problem(f"{areas[i].label}: invalid ring ({reason}); nothing polygonal left after repair, skipped")
        else:
            out.counts["invalid_repaired"] += 1
            out.problem(f"{areas[i].label}: invalid ring ({reason}); repaired")
    return _single_part(geoms)


def _runs(line: _Line) -> list[tuple[np.ndarray, np.ndarray]]:
    """Maximal runs of located nodes (at least two) of a way, consecutive repeats dropped."""
    refs, xy = line.refs, line.xy
    keep = np.ones(len(refs), dtype=bool)
    keep[1:] = refs[1:] != refs[:-1]
    refs, xy = refs[keep], xy[keep]
    located = ~np.isnan(xy[:, 0])
    if located.all():
        return [(refs, xy)] if len(refs) >= 2 else []
    runs = []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], located.astype(np.int8), [0]])))
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        if stop - start >= 2:
            runs.append((refs[start:stop], xy[start:stop]))
    return runs


def _line_geometry(line: _Line) -> Any:
    runs = _runs(line)
    if not runs:
        return None
    if len(runs) == 1:
        return shapely.LineString(runs[0][1])
    return shapely.MultiLineString([xy for _, xy in runs])


def _build_network(walk: list[_Line], counts: Counter) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Split the walkable ways into edges between graph nodes."""
    run_refs: list[np.ndarray] = []
    run_xy: list[np.ndarray] = []
    run_way: list[int] = []
    for k, line in enumerate(walk):
        runs = _runs(line)
        if np.isnan(line.xy[:, 0]).any():
            counts["ways_clipped"] += 1
        for refs, xy in runs:
            run_refs.append(refs)
            run_xy.append(xy)
            run_way.append(k)
    if not run_refs:
        return _frame(NODE_COLUMNS, {}, []), _frame(EDGE_COLUMNS, {}, [])

    lens = np.fromiter((len(r) for r in run_refs), dtype=np.int64, count=len(run_refs))
    refs = np.concatenate(run_refs)
    xy = np.concatenate(run_xy)
    run_of = np.repeat(np.arange(len(lens)), lens)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    ends = starts + lens - 1

    # Graph nodes: shared by two positions (two ways, or a way passing twice) or a run end.
    _, inverse, occurrences = np.unique(refs, return_inverse=True, return_counts=True)
    is_node = occurrences[inverse] > 1
    is_node[starts] = True
    is_node[ends] = True

    def split(is_node: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pos = np.flatnonzero(is_node)
        same_run = run_of[pos[:-1]] == run_of[pos[1:]]
        return pos[:-1][same_run], pos[1:][same_run]

    a, b = split(is_node)
    # A closed way with no other graph node on it would be an edge from a node to itself:
    # cut it in the middle so every edge joins two different nodes.
    loops = (refs[a] == refs[b]) & (b - a >= 2)
    if loops.any():
        is_node[(a[loops] + b[loops]) // 2] = True
        a, b = split(is_node)

    # Geodesic lengths of every segment, summed per edge through a running total.
    seg = np.zeros(len(refs) - 1)
    if len(seg):
        _, _, seg = _GEOD.inv(xy[:-1, 0], xy[:-1, 1], xy[1:, 0], xy[1:, 1])
    total = np.concatenate([[0.0], np.cumsum(seg)])
    length = total[b] - total[a]

    n_pts = b - a + 1
    edge_of = np.repeat(np.arange(len(a)), n_pts)
    offset = np.arange(n_pts.sum()) - np.repeat(np.cumsum(n_pts) - n_pts, n_pts)
    point_idx = np.repeat(a, n_pts) + offset
    lines = shapely.linestrings(xy[point_idx], indices=edge_of)

    way_idx = np.asarray(run_way)[run_of[a]]
    highway = [walk[k].tags.get("highway") for k in way_idx]
    edges = _frame(
        EDGE_COLUMNS,
        {
            "source": refs[a].astype(np.int64),
            "target": refs[b].astype(np.int64),
            "length_m": length.astype(np.float64),
            "highway": highway,
            "is_main_road": np.array([h in MAIN_ROAD_CLASSES for h in highway], dtype=bool),
            "name": [_name(walk[k].tags) for k in way_idx],
            "osm_id": np.array([walk[k].osm_id for k in way_idx], dtype=np.int64),
        },
        lines,
    )
    used = np.unique(np.concatenate([a, b]))
    node_ids, first = np.unique(refs[used], return_index=True)
    pos = used[first]
    nodes = _frame(
        NODE_COLUMNS,
        {"node_id": node_ids.astype(np.int64), "osm_id": node_ids.astype(np.int64)},
        shapely.points(xy[pos]),
    )
    return nodes, edges


def _frame(columns: Iterable[str], data: Mapping[str, Any], geometry: Any) -> gpd.GeoDataFrame:
    """A frame with exactly ``columns`` (then ``geometry``) in the storage CRS."""
    frame = pd.DataFrame({c: data.get(c, []) for c in columns})
    geom = np.empty(len(geometry), dtype=object)
    geom[:] = list(geometry)
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geom, crs=STORAGE_CRS).values, crs=STORAGE_CRS)


def _line_midpoint(xy: np.ndarray) -> Any:
    pts = xy[~np.isnan(xy[:, 0])]
    if len(pts) == 0:
        return None
    if len(set(map(tuple, pts.tolist()))) == 1:
        return shapely.Point(pts[0])
    return shapely.LineString(pts).interpolate(0.5, normalized=True)


# --------------------------------------------------------------------------- layers


def _buildings(out: _Collected, geoms: np.ndarray) -> gpd.GeoDataFrame:
    idx = [i for i, a in enumerate(out.areas) if a.building and geoms[i] is not None]
    areas = [out.areas[i] for i in idx]
    levels = [parse_levels(a.tags.get("building:levels")) for a in areas]
    heights = [parse_height(a.tags.get("height")) for a in areas]
    data = {
        "osm_id": np.array([a.osm_id for a in areas], dtype=np.int64),
        "name": [_name(a.tags) for a in areas],
        "kind": [a.tags.get("building") for a in areas],
        "levels": pd.array(levels, dtype="Int64"),
        "height": pd.array(heights, dtype="Float64"),
        "households": pd.array([None] * len(areas), dtype="Int64"),
        "households_estimated": pd.array([None] * len(areas), dtype="boolean"),
    }
    frame = _frame(BUILDING_COLUMNS, data, geoms[idx] if idx else [])
    # What the household estimate reads besides the contract's columns (gis.households).
    # (the columns of BUILDING_OSM_EXTRAS)
    frame["layer"] = pd.array([_parse_layer(a.tags) for a in areas], dtype="Float64")
    frame["location"] = [a.tags.get("location") for a in areas]
    frame["use"] = [building_use(a.tags) for a in areas]
    return frame


def _parse_layer(tags: Mapping[str, str]) -> float | None:
    """The lowest of ``layer`` and ``level`` ('-1', '-2;-1'), or None."""
    found = []
    for key in ("layer", "level"):
        for part in (tags.get(key) or "").split(";"):
            try:
                found.append(float(part.strip()))
            except ValueError:
                continue
    return min(found) if found else None


def _land_use(out: _Collected, geoms: np.ndarray) -> gpd.GeoDataFrame:
    """Land use and amenity areas that say what the buildings in them are (``kind``: key=value)."""
    idx = [i for i, a in enumerate(out.areas) if a.context and geoms[i] is not None]
    data = {
        "kind": [out.areas[i].context for i in idx],
        "name": [_name(out.areas[i].tags) for i in idx],
        "osm_id": np.array([out.areas[i].osm_id for i in idx], dtype=np.int64),
    }
    return _frame(("kind", "name", "osm_id"), data, geoms[idx] if idx else [])


def _barriers(out: _Collected, geoms: np.ndarray) -> gpd.GeoDataFrame:
    kinds: list[str] = []
    names: list[str | None] = []
    ids: list[int] = []
    shapes: list[Any] = []
    for kind, line in out.barrier_lines:
        geom = _line_geometry(line)
        if geom is None:
            out.counts["incomplete_skipped"] += 1
            out.problem(f"way {line.osm_id}: {kind} line has fewer than two nodes in the extract; skipped")
            continue
        kinds.append(kind)
        names.append(_name(line.tags))
        ids.append(line.osm_id)
        shapes.append(geom)
    for i, a in enumerate(out.areas):
        if a.water and geoms[i] is not None:
            kinds.append("water")
            names.append(_name(a.tags))
            ids.append(a.osm_id)
            shapes.append(geoms[i])
    data = {"kind": kinds, "name": names, "osm_id": np.array(ids, dtype=np.int64)}
    return _frame(BARRIER_COLUMNS, data, shapes)


def _compounds(out: _Collected, geoms: np.ndarray) -> gpd.GeoDataFrame:
    idx = [i for i, a in enumerate(out.areas) if a.compound and geoms[i] is not None]
    data = {
        "osm_id": np.array([out.areas[i].osm_id for i in idx], dtype=np.int64),
        "name": [_name(out.areas[i].tags) for i in idx],
    }
    return _frame(COMPOUND_COLUMNS, data, geoms[idx] if idx else [])


def _facilities(out: _Collected, geoms: np.ndarray) -> gpd.GeoDataFrame:
    rows: list[tuple[int, str | None, str, str]] = []
    points: list[Any] = []
    polygons: list[Any] = []  # the polygon of each row, None for nodes and lines
    for i, a in enumerate(out.areas):
        if a.facility is None:
            continue
        geom = geoms[i]
        if geom is None:
            point = _line_midpoint(a.ring) if a.ring is not None else None
            if point is None:
                continue
        else:
            point = shapely.point_on_surface(geom)
        rows.append((a.osm_id, _name(a.tags), *a.facility))
        points.append(point)
        polygons.append(geom)
    for osm_id, name, code, by, xy in out.facility_lines:
        point = _line_midpoint(xy)
        if point is not None:
            rows.append((osm_id, name, code, by))
            points.append(point)
            polygons.append(None)
    for osm_id, name, code, by, lon, lat in out.facility_nodes:
        rows.append((osm_id, name, code, by))
        points.append(shapely.Point(lon, lat))
        polygons.append(None)

    drop = _duplicates(rows, points, polygons)
    out.counts["facility_duplicates_dropped"] = len(drop)
    keep = [k for k in range(len(rows)) if k not in drop]
    data = {
        "osm_id": np.array([rows[k][0] for k in keep], dtype=np.int64),
        "name": [rows[k][1] for k in keep],
        "type_code": [rows[k][2] for k in keep],
        "classified_by": [rows[k][3] for k in keep],
    }
    return _frame(FACILITY_COLUMNS, data, [points[k] for k in keep])


def _duplicates(rows: list[tuple[int, str | None, str, str]], points: list[Any], polygons: list[Any]) -> set[int]:
    """Rows that map a facility already mapped (``gis.catalogue.find_duplicates``); kept rows take a lost name."""
    if len(rows) < 2:
        return set()
    geoms = [p if p is not None else q for p, q in zip(polygons, points, strict=True)]
    lat = float(np.mean([pt.y for pt in points]))
    # Metres near the data: an equirectangular scale is exact enough for a 50 m test.
    scale = (111_320.0 * math.cos(math.radians(lat)), 110_540.0)
    metric = [shapely.transform(g, lambda xy: xy * np.asarray(scale)) for g in geoms]
    found = find_duplicates([r[1] for r in rows], [r[2] for r in rows], metric,
                            is_polygon=[p is not None for p in polygons], distance_m=DUPLICATE_DISTANCE_M)
    for dropped, kept in found.items():
        if not rows[kept][1] and rows[dropped][1]:
            rows[kept] = (rows[kept][0], rows[dropped][1], rows[kept][2], rows[kept][3])
    return set(found)


# --------------------------------------------------------------------------- entry point


def _input_file(path: Path) -> osmium.io.File:
    """An osmium File for ``path`` with its format sniffed from the content, not the name."""
    if not path.exists():
        raise InvalidInput(f"{path.name}: file not found ({path})")
    if not path.is_file():
        raise InvalidInput(f"{path.name}: not a file ({path})")
    try:
        with path.open("rb") as fh:
            head = fh.read(64)
    except OSError as exc:
        raise InvalidInput(f"{path.name}: cannot be read ({exc.strerror or exc})") from None
    if not head:
        raise InvalidInput(f"{path.name}: the file is empty; expected OSM XML or PBF")
    if head.startswith(b"\x1f\x8b"):
        fmt = "osm.gz"
    elif head.startswith(b"BZh"):
        fmt = "osm.bz2"
    elif b"OSMHeader" in head:
        fmt = "pbf"
    elif head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        fmt = "osm"
    else:
        raise InvalidInput(f"{path.name}: not an OSM file (neither OSM XML nor PBF)")
    if path.name.endswith((".osc", ".osc.gz", ".osc.bz2")):
        raise InvalidInput(f"{path.name}: a change file (.osc); expected an OSM extract (XML or PBF)")
    return osmium.io.File(str(path), fmt)


_DAMAGED = (
    "XML parsing error", "unexpected EOF", "PBF error", "zlib error", "gzip error", "bzip2 error",
    "failed to uncompress", "wrong format",
)  # fmt: skip


def _osmium_message(exc: Exception) -> str:
    """One line saying what is wrong with the file, from an osmium error."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    if any(marker in text for marker in _DAMAGED):
        return f"the file is truncated or damaged ({text})"
    return f"not a readable OSM file ({text})"


def read_osm(
    path: str | Path,
    *,
    catalogue: Mapping[str, FacilityType] | None = None,
    counts_as: Mapping[str, str] | None = None,
    progress: ProgressCallback | None = None,
) -> DistrictLayers:
    """Read an OSM XML or PBF extract into the layers of a district.

    Parameters
    ----------
    path
        An ``.osm``, ``.osm.pbf`` (or gzip/bzip2-compressed XML) file; the format is
        recognised from the content.
    catalogue
        Facility catalogue for classification; the shipped one when None.
    counts_as
        What a city counts a general hospital as (``{"general_hospital": "health_centre"}``);
        by default a hospital is no life-circle facility (``gis.catalogue.explain_facility``).
    progress
        Called as ``progress(stage, fraction)`` with fraction rising from 0 to 1, so a
        caller can show a progress bar.

    Returns
    -------
    DistrictLayers
        All frames in EPSG:4490. ``report`` holds the counts of every layer, the problems
        met (see the module docstring) and ``elapsed_s``.

    Raises
    ------
    InvalidInput
        The file is missing, empty, truncated, not OSM, or holds no buildings and no
        walkable ways.
    """
    started = time.perf_counter()
    path = Path(path)
    notify = progress or (lambda stage, fraction: None)
    notify("reading", 0.0)
    source = _input_file(path)
    cat = dict(catalogue) if catalogue is not None else load_catalogue()

    classify = _Classifier(cat, counts_as)
    scan = _RelationScan(classify)
    untagged_nodes = osmium.filter.EmptyTagFilter()
    untagged_nodes.enable_for(osmium.osm.NODE)
    try:
        fp = osmium.FileProcessor(source).with_areas(scan).with_filter(untagged_nodes)
        out = _collect(fp, scan, classify)
    except (RuntimeError, osmium.InvalidLocationError) as exc:
        raise InvalidInput(f"{path.name}: {_osmium_message(exc)}") from None
    notify("reading", 0.6)

    nodes, edges = _build_network(out.walk, out.counts)
    notify("network", 0.75)
    geoms = _area_geometries(out)
    buildings = _buildings(out, geoms)
    if len(buildings) == 0 and len(edges) == 0:
        raise InvalidInput(f"{path.name}: contains no buildings or walkable ways; expected a district extract")
    barriers = _barriers(out, geoms)
    compounds = _compounds(out, geoms)
    land_use = _land_use(out, geoms)
    notify("areas", 0.9)
    facilities = _facilities(out, geoms)

    counts = out.counts
    report: dict[str, Any] = {
        "source": path.name,
        "buildings": len(buildings),
        "nodes": len(nodes),
        "edges": len(edges),
        "barriers": {k: int(v) for k, v in sorted(Counter(barriers["kind"]).items())},
        "compounds": len(compounds),
        "land_use_areas": len(land_use),
        "facilities": {k: int(v) for k, v in sorted(Counter(facilities["type_code"]).items())},
        "facility_duplicates_dropped": int(counts["facility_duplicates_dropped"]),
        "invalid_repaired": int(counts["invalid_repaired"]),
        "invalid_skipped": int(counts["invalid_skipped"]),
        "unclosed_skipped": int(counts["unclosed_skipped"]),
        "incomplete_rings": int(counts["incomplete_rings"]),
        "incomplete_skipped": int(counts["incomplete_skipped"]),
        "rebuilt_relations": int(counts["rebuilt_relations"]),
        "ways_clipped": int(counts["ways_clipped"]),
        "problems": out.problems,
        "problems_not_listed": int(counts["problems_not_listed"]),
    }
    report["elapsed_s"] = round(time.perf_counter() - started, 3)
    notify("done", 1.0)
    return DistrictLayers(
        buildings=buildings,
        nodes=nodes,
        edges=edges,
        barriers=barriers,
        compounds=compounds,
        facilities=facilities,
        report=report,
        land_use=land_use,
    )
