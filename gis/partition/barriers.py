"""Barriers closed where a person would close them.

A main road, river or railway that stops a few tens of metres short of the area's outline
or of another barrier still separates what lies on its two sides: nobody draws a grid that
reaches around the end of 太平南路 because the mapped road stops 20 m before the community's
edge. ``close_barriers`` returns short connector lines from each free end of a barrier to
what it nearly reaches (within ``closing_m``): straight ahead first, else the nearest point
that lies ahead of the end (never back along the barrier itself, so a short spur is not
folded back onto its own road), or between buildings where a house stands straight ahead. An
end that nothing closes within ``closing_m`` is carried on for up to ``follow_m``: along the
side street it turns into, else straight on between buildings, to the outline or another
barrier. The partition engine cuts cells with the connectors and the checker judges crossings
with them, so the two agree on what a barrier is.

Hand-written: no library closes dangling network ends against a polygon outline; the
geometry itself is shapely (GEOS). All inputs are in one metric CRS.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points, substring

# Ends closer than this to something are already joined to it.
_TOUCH_M = 0.05
# Links run this far past what they reach, so that noding always finds the crossing.
_OVERSHOOT_M = 0.05
# A nearest point more than this many degrees off the barrier's heading is behind the end, not ahead.
_AHEAD_DEG = 75.0
# Two barrier lines meeting at a point whose ends point out within this angle of each other form a tip.
_TIP_DEG = 60.0
# How far a barrier's end is continued along the street it turns into (engine and checker alike).
FOLLOW_STREET_M = 400.0


def close_barriers(lines: Sequence[BaseGeometry], names: Sequence[str | None], outline: BaseGeometry,
                   closing_m: float, obstacles: Sequence[BaseGeometry] | None = None,
                   streets: Sequence[BaseGeometry] = (), follow_m: float = 0.0,
                   ) -> tuple[list[LineString], list[str | None]]:
    """Connectors (and the name of the barrier each extends) closing every free end within ``closing_m``.

    A connector that would run through one of ``obstacles`` (building footprints) is not drawn:
    a person closes a road's end, not a house. An end that nothing closes within ``closing_m``
    but where a street of ``streets`` (minor roads) carries straight on is continued along that
    street, for at most ``follow_m``, when the street reaches the outline or another barrier: a
    main road that ends where it turns into a side street is bounded by that street. Other ends
    stay open (the checker then reports a grid reaching around them, never a split house).
    """
    parts = [p for g in lines if g is not None and not g.is_empty
             for p in shapely.get_parts(shapely.line_merge(g) if g.geom_type == "MultiLineString" else g)
             if p.geom_type == "LineString" and p.length > 0]
    if closing_m <= 0 or not parts:
        return [], []
    noded = shapely.union_all(parts)
    pieces = [p for p in shapely.get_parts(shapely.line_merge(noded)) if p.geom_type == "LineString" and p.length > 0]
    ends: dict[tuple[float, float], int] = {}
    for piece in pieces:
        for xy in (piece.coords[0], piece.coords[-1]):
            ends[_key(xy)] = ends.get(_key(xy), 0) + 1
    free_ends = [(i, piece.coords[0] if at_start else piece.coords[-1], _heading(piece.coords, at_start))
                 for i, piece in enumerate(pieces) for at_start in (True, False)
                 if ends[_key(piece.coords[0] if at_start else piece.coords[-1])] == 1]
    rim = outline.boundary if outline.geom_type in ("Polygon", "MultiPolygon") else outline
    named = [(g, n) for g, n in zip(lines, names, strict=True) if g is not None and not g.is_empty]
    name_tree = shapely.STRtree(np.array([g for g, _ in named], dtype=object)) if named else None

    blockers = [g for g in (obstacles or []) if g is not None and not g.is_empty]
    blocker_tree = shapely.STRtree(np.asarray(blockers, dtype=object)) if blockers else None
    targets = _Targets(np.array([rim, *pieces], dtype=object))
    inside = outline.buffer(_TOUCH_M)
    shapely.prepare(inside)
    network = _StreetNetwork(streets)
    connectors: list[LineString] = []
    connector_names: list[str | None] = []
    free_ends += _tips(noded, targets)
    for i, end, heading in free_ends:
        point = Point(end)
        near = targets.near(point, closing_m, own=i + 1)
        others = shapely.union_all(targets.geoms[near]) if near else None
        links: list[LineString] = []
        if others is not None and others.distance(point) <= _TOUCH_M:
            # Mapped to end on the outline or a barrier, or a hair short of it: run on through it.
            # Even at distance 0 — an end computed by clipping lies on the outline only to
            # rounding, and noding does not split an edge at a point that merely touches it.
            # Straight ahead, not towards the nearest point: at a micrometre that direction is noise.
            gap = others.distance(point)
            reach = gap + _OVERSHOOT_M
            links = [LineString([(point.x, point.y), (point.x + heading[0] * reach, point.y + heading[1] * reach)])]
            if gap > 1e-6:  # far enough for the direction to the nearest point to mean something
                links.append(_overshoot(point, nearest_points(others, point)[0]))
        elif others is not None:
            if not inside.covers(point):
                continue  # the end lies outside the area: nothing to close here
            link = _ahead(point, heading, others, closing_m) or _nearest_ahead(point, heading, others, closing_m)
            if link is None or _blocked(link, blocker_tree, blockers):
                # A house stands in the way: the shortest link ahead that passes between buildings.
                link = _between_buildings(point, heading, others, closing_m, blocker_tree, blockers)
            if link is not None:
                links = [_overshoot(point, Point(link.coords[-1]))]
        if not links:
            carried = _carry_on(point, heading, network, targets, i + 1, follow_m, blocker_tree, blockers)
            links = [carried] if carried is not None else []
        if links:
            nearest = int(name_tree.nearest(point)) if name_tree is not None else -1
            connectors.extend(links)
            connector_names.extend([named[nearest][1] if nearest >= 0 else None] * len(links))
    return connectors, connector_names


def _key(xy: Sequence[float]) -> tuple[float, float]:
    """A point rounded to the centimetre: where line ends count as meeting."""
    return (round(xy[0], 2), round(xy[1], 2))


def _tips(noded: BaseGeometry, targets: _Targets) -> list[tuple[int, tuple[float, float], tuple[float, float]]]:
    """Points where exactly two barrier lines meet and both leave the same way (within ``_TIP_DEG``).

    Two carriageways mapped as one-way lines often converge on one point and stop there: the
    point joins two lines, so it is no free end, yet the land on both sides of the pair meets
    around it just as around a road that stops. Each such tip is closed like a free end, heading
    out between its two arms; ``line_merge`` has made it an inner vertex of one merged piece,
    which is the piece (``own``) its closing must not run back to.
    """
    segments = [p for p in shapely.get_parts(noded) if p.geom_type == "LineString" and p.length > 0]
    leaving: dict[tuple[float, float], list[tuple[tuple[float, float], tuple[float, float]]]] = {}
    for seg in segments:
        for at_start in (True, False):
            xy = seg.coords[0] if at_start else seg.coords[-1]
            leaving.setdefault(_key(xy), []).append(((xy[0], xy[1]), _heading(seg.coords, at_start)))
    tips = []
    for pair in leaving.values():
        if len(pair) != 2:
            continue
        (xy, (ax, ay)), (_, (bx, by)) = pair
        if math.degrees(math.acos(max(-1.0, min(1.0, ax * bx + ay * by)))) > _TIP_DEG:
            continue  # the line carries on through the point (about 180°) or turns a corner
        norm = math.hypot(ax + bx, ay + by) or 1.0
        own = [k for k in targets.tree.query(Point(xy), predicate="dwithin", distance=_TOUCH_M) if k > 0]
        if own:
            tips.append((int(own[0]) - 1, xy, ((ax + bx) / norm, (ay + by) / norm)))
    return tips


class _Targets:
    """What a barrier's end may be closed against (the outline, then every barrier piece), with an index."""

    def __init__(self, geoms: np.ndarray) -> None:
        self.geoms = geoms
        self.tree = shapely.STRtree(geoms)

    def near(self, geom: BaseGeometry, distance: float, *, own: int) -> list[int]:
        """Targets within ``distance`` of ``geom``, other than the barrier piece ``own`` itself."""
        return [int(k) for k in self.tree.query(geom, predicate="dwithin", distance=distance) if k != own]


class _StreetNetwork:
    """Minor roads noded at every crossing but not merged.

    A barrier's end is a junction of the streets even where only two meet there. Built once per call, and
    only when some end needs carrying on.
    """

    def __init__(self, streets: Sequence[BaseGeometry]) -> None:
        self._streets = list(streets)
        self._pieces: np.ndarray | None = None
        self._tree: shapely.STRtree | None = None

    def at(self, point: Point) -> list[LineString]:
        """Street pieces within a hair of ``point``."""
        if self._pieces is None:
            noded = shapely.union_all(self._streets) if self._streets else shapely.GeometryCollection()
            self._pieces = np.asarray([p for p in shapely.get_parts(noded)
                                       if p.geom_type == "LineString" and p.length > 0], dtype=object)
            self._tree = shapely.STRtree(self._pieces) if len(self._pieces) else None
        if self._tree is None:
            return []
        return [self._pieces[int(k)] for k in self._tree.query(point, predicate="dwithin", distance=_TOUCH_M)]


def _heading(coords: Sequence[tuple[float, ...]], at_start: bool) -> tuple[float, float]:
    """Unit vector pointing out of the line at one of its ends (from its last few metres)."""
    seq = list(coords) if not at_start else list(coords)[::-1]
    end = seq[-1]
    back = seq[-2]
    for xy in reversed(seq[:-1]):
        back = xy
        if math.dist(xy, end) >= 5.0:
            break
    dx, dy = end[0] - back[0], end[1] - back[1]
    norm = math.hypot(dx, dy) or 1.0
    return dx / norm, dy / norm


def _ahead(point: Point, heading: tuple[float, float], targets: BaseGeometry, closing_m: float) -> LineString | None:
    """The barrier extended straight ahead to the first thing it meets within ``closing_m``."""
    ray = LineString([(point.x, point.y), (point.x + heading[0] * closing_m, point.y + heading[1] * closing_m)])
    hit = shapely.intersection(ray, targets)
    if hit.is_empty:
        return None
    candidates = [p for p in shapely.get_parts(shapely.extract_unique_points(hit))
                  if p.distance(point) > _TOUCH_M]
    if not candidates:
        return None
    first = min(candidates, key=point.distance)
    return LineString([(point.x, point.y), (first.x, first.y)])


def _nearest_ahead(point: Point, heading: tuple[float, float], targets: BaseGeometry,
                   closing_m: float) -> LineString | None:
    """A link to the nearest target point within ``closing_m`` that lies ahead of the end."""
    near, _ = nearest_points(targets, point)
    distance = near.distance(point)
    if distance <= _TOUCH_M or distance > closing_m:
        return None
    dx, dy = (near.x - point.x) / distance, (near.y - point.y) / distance
    if math.degrees(math.acos(max(-1.0, min(1.0, dx * heading[0] + dy * heading[1])))) > _AHEAD_DEG:
        return None
    return LineString([(point.x, point.y), (near.x, near.y)])


def _between_buildings(point: Point, heading: tuple[float, float], targets: BaseGeometry, closing_m: float,
                       tree: shapely.STRtree | None, blockers: list[BaseGeometry],
                       step_m: float = 2.0, tries: int = 200, ahead_deg: float = _AHEAD_DEG) -> LineString | None:
    """The shortest link ahead of the end, to a point of ``targets`` within ``closing_m``, through no building.

    Targets are sampled every ``step_m``.
    """
    window = shapely.intersection(targets, point.buffer(closing_m))
    lines = [g for g in shapely.get_parts(window) if g.geom_type in ("LineString", "LinearRing") and g.length > 0]
    if not lines:
        return None
    samples = np.concatenate([shapely.get_coordinates(shapely.line_interpolate_point(
        line, np.append(np.arange(0.0, line.length, step_m), line.length))) for line in lines])
    offset = samples - np.array([point.x, point.y])
    distance = np.hypot(offset[:, 0], offset[:, 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = (offset[:, 0] * heading[0] + offset[:, 1] * heading[1]) / distance
    ahead = (distance > _TOUCH_M) & (distance <= closing_m) & (cosine >= math.cos(math.radians(ahead_deg)))
    for k in np.flatnonzero(ahead)[np.argsort(distance[ahead], kind="stable")][:tries]:
        link = LineString([(point.x, point.y), tuple(samples[k])])
        if not _blocked(link, tree, blockers):
            return link
    return None


def _carry_on(point: Point, heading: tuple[float, float], network: _StreetNetwork, targets: _Targets,
              own: int, follow_m: float, tree: shapely.STRtree | None, blockers: list[BaseGeometry],
              straight_deg: float = 20.0) -> LineString | None:
    """Carry on an end that nothing closes within the closing distance.

    Along the side street it turns into, else straight on (within ``straight_deg``) to the outline or
    another barrier, between buildings, within ``follow_m``. A main road that simply stops in a block
    still has two sides a grid must not join.
    """
    if follow_m <= 0:
        return None
    followed = _follow_street(point, heading, network, targets, own, follow_m, tree, blockers)
    if followed is not None:
        return followed
    reach = targets.near(point, follow_m, own=own)
    if not reach:
        return None
    link = _between_buildings(point, heading, shapely.union_all(targets.geoms[reach]), follow_m, tree, blockers,
                              step_m=5.0, ahead_deg=straight_deg)
    return None if link is None else _overshoot(point, Point(link.coords[-1]))


def _follow_street(point: Point, heading: tuple[float, float], network: _StreetNetwork, targets: _Targets,
                   own: int, follow_m: float, tree: shapely.STRtree | None,
                   blockers: list[BaseGeometry], straight_deg: float = 35.0) -> LineString | None:
    """The path along the street that carries straight on from a barrier's end, or None.

    The path runs up to the first target it reaches (the outline or another barrier). None when there is
    no such street, it turns away (more than ``straight_deg`` at a junction), or it reaches nothing
    within ``follow_m``.
    """
    path: list[tuple[float, float]] = [(point.x, point.y)]
    here, direction, walked, used = point, heading, 0.0, set()
    while walked < follow_m:
        best, best_angle = None, straight_deg
        for line in network.at(here):
            if id(line) in used:
                continue
            if Point(line.coords[0]).distance(here) <= _TOUCH_M:
                ways = [line]
            elif Point(line.coords[-1]).distance(here) <= _TOUCH_M:
                ways = [line.reverse()]
            else:  # the street passes the end mid-way: it can be taken either way from there
                at = line.project(here)
                ways = [substring(line, at, line.length), substring(line, at, 0)]
            for oriented in ways:
                if oriented.geom_type != "LineString" or oriented.length <= _TOUCH_M:
                    continue
                out = _heading(oriented.coords, True)
                angle = math.degrees(math.acos(max(-1.0, min(1.0, -(out[0] * direction[0] + out[1] * direction[1])))))
                if angle <= best_angle:
                    best, best_angle = (line, oriented), angle
        if best is None:
            return None
        line, oriented = best
        used.add(id(line))
        crossed = targets.near(oriented, 0.0, own=own)
        hit = shapely.intersection(oriented, shapely.union_all(targets.geoms[crossed])) if crossed else None
        reached = [] if hit is None or hit.is_empty else [
            oriented.project(p) for p in shapely.get_parts(shapely.extract_unique_points(hit))]
        reached = [d for d in reached if d > _TOUCH_M]
        if reached:
            stop = min(reached)
            if walked + stop > follow_m:
                return None
            path.extend(substring(oriented, 0, stop).coords[1:])
            tail = _heading(path, False)
            last = path[-1]
            link = LineString([*path, (last[0] + tail[0] * _OVERSHOOT_M, last[1] + tail[1] * _OVERSHOOT_M)])
            return None if _blocked(link, tree, blockers) else link
        path.extend(oriented.coords[1:])
        walked += oriented.length
        here = Point(oriented.coords[-1])
        direction = _heading(oriented.coords, False)
    return None


def _overshoot(start: Point, target: Point) -> LineString:
    """A link from ``start`` a little past ``target``, so that noding sees it cross, not just touch."""
    dx, dy = target.x - start.x, target.y - start.y
    norm = math.hypot(dx, dy) or 1.0
    return LineString([(start.x, start.y), (target.x + dx / norm * _OVERSHOOT_M, target.y + dy / norm * _OVERSHOOT_M)])


def _blocked(link: LineString, tree: shapely.STRtree | None, blockers: list[BaseGeometry]) -> bool:
    """Whether ``link`` runs through (not just along) any blocker."""
    if tree is None:
        return False
    for k in tree.query(link, predicate="intersects"):
        if not shapely.touches(link, blockers[int(k)]):
            return True
    return False
