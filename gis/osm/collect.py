"""The one pass over an OSM file: what each node, way and area is, with its coordinates and problems.

Multipolygons libosmium cannot assemble are rebuilt here from their member ways (a relation
clipped at the edge of an extract is built from the members present).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import osmium
import shapely

from gis.households import context_kind
from gis.osm.geometry import polygonal_parts
from gis.osm.tags import (
    MAX_PROBLEMS,
    Classifier,
    barrier_line_kind,
    is_building,
    is_compound,
    is_walkable,
    is_water_area,
    tag_name,
)


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
class Line:
    osm_id: int
    tags: dict[str, str]
    refs: np.ndarray  # int64 node ids
    xy: np.ndarray  # (n, 2) lon/lat, NaN where the node is missing


@dataclass
class Collected:
    areas: list[_Area] = field(default_factory=list)
    walk: list[Line] = field(default_factory=list)
    barrier_lines: list[tuple[str, Line]] = field(default_factory=list)
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


class RelationScan:
    """Area first-pass hook: remembers the multipolygon relations the layers need."""

    def __init__(self, classify: Classifier) -> None:
        self.classify = classify
        self.relations: dict[int, _Relation] = {}
        self.member_ways: set[int] = set()

    def relation(self, rel: Any) -> None:
        tags = rel.tags
        if tags.get("type") != "multipolygon":
            return
        tags = dict(tags)
        building, water, compound = is_building(tags), is_water_area(tags), is_compound(tags)
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


def collect(fp: osmium.FileProcessor, scan: RelationScan, classify: Classifier) -> Collected:
    """The single pass over the file."""
    out = Collected()
    counts = out.counts
    wkb = osmium.geom.WKBFactory()
    assembled: set[int] = set()
    for obj in fp:
        if isinstance(obj, osmium.osm.Node):
            fac = classify(obj.tags)
            if fac is not None:
                loc = obj.location
                if loc.valid():
                    out.facility_nodes.append((obj.id, tag_name(obj.tags), fac[0], fac[1], loc.lon, loc.lat))
        elif isinstance(obj, osmium.osm.Way):
            wid = obj.id
            is_member = wid in scan.member_ways
            taglist = obj.tags
            if not len(taglist) and not is_member:
                continue
            building, water, compound = is_building(taglist), is_water_area(taglist), is_compound(taglist)
            walk = is_walkable(taglist)
            line_kind = barrier_line_kind(taglist)
            fac = classify(taglist)
            context = context_kind(taglist)
            if not (building or water or compound or walk or line_kind or fac or context or is_member):
                continue
            tags = dict(taglist)
            refs, xy, missing = _way_nodes(obj)
            if is_member:
                out.member_coords[wid] = (refs, xy)
            if walk:
                out.walk.append(Line(wid, tags, refs, xy))
            if line_kind:
                out.barrier_lines.append((line_kind, Line(wid, tags, refs, xy)))
            if not (building or water or compound or fac or context):
                continue
            if not _is_closed(refs, xy):
                if building or water or compound:
                    counts["unclosed_skipped"] += 1
                    out.problem(f"way {wid}: area ring does not close; skipped")
                if fac is not None:  # a facility mapped as a line: its middle
                    out.facility_lines.append((wid, tag_name(tags), fac[0], fac[1], xy))
                continue
            ring = _ring(refs, xy)
            if ring is None:
                counts["incomplete_skipped" if missing else "invalid_skipped"] += 1
                what = "nodes missing from the extract" if missing else "fewer than 3 distinct points"
                out.problem(f"way {wid}: {what}; skipped")
                if fac is not None and missing < len(refs):
                    out.facility_lines.append((wid, tag_name(tags), fac[0], fac[1], xy))
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


def _assemble_fallback(rid: int, rel: _Relation, out: Collected) -> None:
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
                poly = polygonal_parts(shapely.make_valid(poly, method="structure", keep_collapsed=False))
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
