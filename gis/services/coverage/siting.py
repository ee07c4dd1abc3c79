"""Siting new facilities of one type: k sites that newly cover (or serve) the most, or the fewest that cover all.

Both read the same problem (``_problem``): the district's network, the type's existing coverage, candidate sites
(given points, or building points thinned on a grid) and what each candidate would reach on foot. The choosing is
``gis.coverage.siting`` (greedy and HiGHS).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.catalogue import FacilityType
from gis.coverage.distances import reach_by_network
from gis.coverage.network import locate_sites
from gis.coverage.siting import (
    SitingResult,
    cover_all,
    cover_matrix,
    exact_capacitated,
    exact_mclp,
    greedy_capacitated,
    greedy_mclp,
)
from gis.db.frames import read_frame
from gis.errors import InvalidInput
from gis.layers import STORAGE_CRS
from gis.progress import Progress, noop_progress
from gis.services.coverage.cache import PreparedDistrict, prepare_district
from gis.services.coverage.district import (
    NETWORK_NOTE,
    check_type,
    facility_reach,
    facility_types,
    population_of,
    read_facilities,
    require_network,
    resolve_district,
    units_of,
)

# How many candidate sites siting considers at most (generated ones are thinned on a grid).
DEFAULT_MAX_CANDIDATES = 1500
# Cover-all considers every building that could newly cover someone, thinned only beyond this.
COVER_ALL_MAX_CANDIDATES = 20000
# Most places one facility may be given in capacity-aware siting: HiGHS refuses coefficients from 1e15
# on (a 500), and a million places is already no kindergarten or day-care centre.
MAX_PLACES = 1_000_000


class SitingAnswer(TypedDict):
    """One method's sites in the order chosen, each with what it newly covers, and the figures before and after."""

    status: str
    gap: float | None
    solve_s: float
    sites: list[dict[str, Any]]
    target_population_before: float
    target_population_after: float
    target_population_added: float
    households_covered_before: int
    households_covered_after: int
    served: NotRequired[str]


class SiteSuggestion(TypedDict):
    """What ``suggest_sites`` answers: the problem's figures and per method (``greedy``, ``exact``) its answer."""

    district_code: str
    type_code: str
    name_zh: str
    radius_m: float
    target_group: str
    k: int
    existing_facilities: int
    target_population: int
    households: int
    population_source: str
    candidates: int
    candidate_source: str
    capacity: float | None
    existing_capacity_assumed: int | None
    distance: str
    greedy: SitingAnswer
    exact: NotRequired[SitingAnswer]


class CoverAll(TypedDict):
    """What ``cover_all_sites`` answers: the fewest sites (HiGHS, and greedy beside it) and who stays unreachable."""

    district_code: str
    type_code: str
    name_zh: str
    radius_m: float
    target_group: str
    existing_facilities: int
    population_source: str
    distance: str
    candidates: int
    candidate_source: str
    candidates_thinned: bool
    target_buildings: int
    target_buildings_covered_before: int
    target_buildings_reachable: int
    target_population: int
    households: int
    target_population_covered_before: int
    target_population_covered_after: int
    households_covered_before: int
    households_covered_after: int
    sites_needed: int
    status: str
    gap: float | None
    solve_s: float
    sites: list[dict[str, Any]]
    greedy: dict[str, Any]
    unreachable_buildings: int
    unreachable_households: int
    unreachable_target_population: int
    unreachable: list[dict[str, Any]]


@dataclass
class _Problem:
    """One type's siting problem in a district: who needs covering, by which candidates."""

    code: str
    ft: FacilityType
    prepared: PreparedDistrict
    facilities: gpd.GeoDataFrame
    population_source: str
    weights: np.ndarray  # target population per building
    households: np.ndarray  # as floats
    existing: sparse.csr_matrix  # existing facilities × buildings covered
    covered: np.ndarray  # buildings covered now
    cand_pts: np.ndarray  # candidate points, metric
    cand_building: np.ndarray  # building id of each candidate (-1 for a given point)
    candidate_source: str
    thinned: bool
    candidates: int  # candidate sites located on the network
    cand: sparse.csr_matrix  # candidates × buildings they would cover

    def newly(self, j: int, now: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Buildings candidate ``j`` covers, and those of them not covered in ``now``."""
        idx = self.cand.indices[self.cand.indptr[j]:self.cand.indptr[j + 1]]
        return idx, idx[~now[idx]]


def _problem(session: Session, type_code: str, district_code: str | None,
             candidates: Sequence[tuple[float, float]] | None, max_candidates: int, progress: Progress) -> _Problem:
    code, _, _ = resolve_district(session, district_code)
    catalogue = facility_types(session)
    ft = catalogue[check_type(catalogue, type_code)]
    prepared = prepare_district(session, code, progress=lambda s, f: progress(s, 0.3 * f))
    graph = require_network(prepared, code)
    facilities = read_facilities(session, code, [ft.code])
    population, population_source = population_of(session, prepared.homes)
    weights = population[ft.target_group].to_numpy(dtype=float)
    progress("existing coverage", 0.3)
    existing_reach, _ = facility_reach(prepared, facilities, ft.code, ft.radius_m)
    existing = cover_matrix(existing_reach, ft.radius_m)
    covered = np.asarray(existing.sum(axis=0)).ravel() > 0
    progress("candidate sites", 0.4)
    if candidates is not None:
        pts = gpd.GeoSeries(shapely.points(np.asarray(candidates, dtype=float)), crs=STORAGE_CRS)
        cand_pts = np.asarray(pts.to_crs(prepared.crs).values, dtype=object)
        cand_building = np.full(len(cand_pts), -1, dtype=np.int64)
        source, thinned = "given", False
    else:
        cand_pts, cand_building = _candidate_points(session, prepared, weights=weights, covered=covered,
                                                    radius_m=ft.radius_m, max_candidates=max_candidates)
        source, thinned = "building points", len(cand_pts) >= max_candidates
    sites = locate_sites(graph, cand_pts)
    cand = cover_matrix(reach_by_network(graph, sites, limit_m=ft.radius_m,
                                         progress=lambda s, f: progress("candidate reach", 0.4 + 0.3 * f)),
                        ft.radius_m)
    return _Problem(code=code, ft=ft, prepared=prepared, facilities=facilities, population_source=population_source,
                    weights=weights, households=prepared.households.astype(float), existing=existing,
                    covered=covered, cand_pts=cand_pts, cand_building=cand_building, candidate_source=source,
                    thinned=thinned, candidates=int(sites.n), cand=cand)


def _candidate_points(session: Session, prepared: PreparedDistrict, *, weights: np.ndarray, covered: np.ndarray,
                      radius_m: float, max_candidates: int) -> tuple[np.ndarray, np.ndarray]:
    """Candidate sites from building points that could newly cover someone, thinned on a grid.

    Returns metric points and the building id each comes from. Any building may host a new
    facility; only those within the radius (as the crow flies, a lower bound of the walk) of an
    uncovered building with target population can add anything.
    """
    frame = read_frame(session, "SELECT id, ST_AsBinary(ST_PointOnSurface(geom)) AS geom FROM building "
                                "WHERE district_code = :d ORDER BY id", {"d": prepared.district_code})
    pts = np.asarray(frame.geometry.to_crs(prepared.crs).values, dtype=object)
    ids = frame["id"].to_numpy(dtype=np.int64)
    need = (weights > 0) & ~covered
    if not need.any() or len(pts) == 0:
        return np.empty(0, dtype=object), np.empty(0, dtype=np.int64)
    tree = shapely.STRtree(prepared.footprints[need])
    useful = np.unique(tree.query(pts, predicate="dwithin", distance=radius_m)[0])
    pts, ids = pts[useful], ids[useful]
    xy = shapely.get_coordinates(pts)
    cell = 10.0
    while True:
        keys = np.floor(xy / cell).astype(np.int64)
        _, first = np.unique(keys, axis=0, return_index=True)
        if len(first) <= max_candidates:
            break
        cell *= 1.25
    first = np.sort(first)
    return pts[first], ids[first]


def _lonlat(problem: _Problem) -> gpd.GeoSeries | None:
    cand_pts = problem.cand_pts
    return gpd.GeoSeries(cand_pts, crs=problem.prepared.crs).to_crs(STORAGE_CRS) if len(cand_pts) else None


def suggest_sites(
    session: Session,
    *,
    type_code: str,
    k: int = 3,
    district_code: str | None = None,
    exact: bool = False,
    capacity: float | None = None,
    candidates: Sequence[tuple[float, float]] | None = None,
    max_candidates: int = DEFAULT_MAX_CANDIDATES,
    time_limit_s: float = 60.0,
    progress: Progress = noop_progress,
) -> SiteSuggestion:
    """Suggest k new sites for one facility type that newly cover the most target population.

    Candidates are given lon/lat points or generated from building points. Greedy always runs;
    with ``exact`` the HiGHS MCLP runs too and both answers are reported (exact is never worse).
    With ``capacity`` (places per new facility; also assumed for existing ones without a
    recorded capacity) the figures are people *served* within capacities, not merely covered.

    Returns the problem's figures and, per method (``greedy``, ``exact``), the sites chosen.
    """
    if k < 1:
        raise InvalidInput(f"k must be at least 1; got {k}", details={"field": "k"})
    if capacity is not None and not 0 < capacity <= MAX_PLACES:
        raise InvalidInput(f"capacity must be a positive number of places, at most {MAX_PLACES:,}; got {capacity}",
                           details={"field": "capacity"})
    p = _problem(session, type_code, district_code, candidates, max_candidates, progress)
    progress("choosing sites", 0.7)
    answers: dict[str, SitingResult] = {}
    assumed = 0
    if capacity is None:
        answers["greedy"] = greedy_mclp(p.cand, p.weights, k, covered=p.covered)
        if exact:
            answers["exact"] = exact_mclp(p.cand, p.weights, k, covered=p.covered, time_limit_s=time_limit_s)
    else:
        recorded = p.facilities["capacity"].to_numpy(dtype=float) if len(p.facilities) else np.zeros(0)
        assumed = int(np.isnan(recorded).sum())
        existing_capacity = np.where(np.isnan(recorded), capacity, recorded)
        answers["greedy"] = greedy_capacitated(p.existing, existing_capacity, p.cand, capacity, p.weights, k,
                                               time_limit_s=time_limit_s)
        if exact:
            answers["exact"] = exact_capacitated(p.existing, existing_capacity, p.cand, capacity, p.weights, k,
                                                 time_limit_s=time_limit_s)
    units, names = units_of(session, p.prepared.homes)
    lonlat = _lonlat(p)
    out_answers = {method: _answer(session, p, ans, capacity, units, names["community"], lonlat)
                   for method, ans in answers.items()}
    progress("done", 1.0)
    return cast(SiteSuggestion, {
        "district_code": p.code, "type_code": p.ft.code, "name_zh": p.ft.name_zh, "radius_m": p.ft.radius_m,
        "target_group": p.ft.target_group, "k": k, "existing_facilities": int(len(p.facilities)),
        "target_population": int(p.weights.sum()), "households": int(p.households.sum()),
        "population_source": p.population_source, "candidates": p.candidates,
        "candidate_source": p.candidate_source,
        "capacity": capacity, "existing_capacity_assumed": assumed if capacity is not None else None,
        "distance": NETWORK_NOTE, **out_answers,
    })


def _answer(session: Session, p: _Problem, ans: SitingResult, capacity: float | None, units: pd.DataFrame,
            communities: dict[str, str], lonlat: gpd.GeoSeries | None) -> SitingAnswer:
    """One method's answer: its sites in order, each with what it newly covers, and the figures before and after."""
    now = p.covered.copy()
    chosen = []
    for j, gain in zip(ans.chosen, ans.gains, strict=True):
        idx, new = p.newly(j, now)
        counts = units.iloc[new]["community_code"].value_counts() if len(new) else pd.Series(dtype=int)
        point = lonlat.iloc[j]  # type: ignore[union-attr]  # a chosen candidate exists, so lonlat does
        community = _site_community(session, point)
        chosen.append({
            "lon": round(point.x, 6), "lat": round(point.y, 6),
            "building_id": int(p.cand_building[j]) if p.cand_building[j] >= 0 else None,
            "community_code": community, "community_name": communities.get(community) if community else None,
            "newly_covered_buildings": int(len(new)),
            "newly_covered_households": int(p.households[new].sum()),
            "newly_covered_target_population": int(round(p.weights[new].sum())),
            ("newly_served_target_population" if capacity is not None else "gain"): round(gain, 1),
            "communities_reached": {str(c): int(n) for c, n in counts.items()},
        })
        now[idx] = True
    return cast(SitingAnswer, {
        "status": ans.status, "gap": ans.gap, "solve_s": round(ans.solve_s, 3), "sites": chosen,
        "target_population_before": round(ans.before, 1), "target_population_after": round(ans.after, 1),
        "target_population_added": round(ans.after - ans.before, 1),
        "households_covered_before": int(p.households[p.covered].sum()),
        "households_covered_after": int(p.households[now].sum()),
        **({"served": "people served within capacities"} if capacity is not None else {}),
    })


def cover_all_sites(
    session: Session,
    *,
    type_code: str,
    district_code: str | None = None,
    candidates: Sequence[tuple[float, float]] | None = None,
    max_candidates: int = COVER_ALL_MAX_CANDIDATES,
    time_limit_s: float = 60.0,
    progress: Progress = noop_progress,
) -> CoverAll:
    """The least number of new sites so every reachable target building is within the walking radius.

    Set covering solved by HiGHS beside greedy run until nothing more can be covered (the answer
    never has more sites). Each site names its building, address and community; the target
    buildings no candidate can reach are listed with the reason.
    """
    p = _problem(session, type_code, district_code, candidates, max_candidates, progress)
    progress("set covering", 0.7)
    result = cover_all(p.cand, p.weights, covered=p.covered, time_limit_s=time_limit_s)
    unreachable = result.detail["unreachable"]
    units, names = units_of(session, p.prepared.homes)
    lonlat = _lonlat(p)
    unreachable_rows = _unreachable_rows(session, p, unreachable, units, names["community"])
    after = p.covered.copy()
    for j in result.chosen:
        after[p.cand.indices[p.cand.indptr[j]:p.cand.indptr[j + 1]]] = True
    weights, hh, covered = p.weights, p.households, p.covered
    sites = _cover_all_sites(session, p, result.chosen, names["community"], lonlat)
    greedy = _cover_all_sites(session, p, result.detail["greedy_chosen"], names["community"], lonlat)
    progress("done", 1.0)
    return CoverAll(**{
        "district_code": p.code, "type_code": p.ft.code, "name_zh": p.ft.name_zh, "radius_m": p.ft.radius_m,
        "target_group": p.ft.target_group, "existing_facilities": int(len(p.facilities)),
        "population_source": p.population_source, "distance": NETWORK_NOTE,
        "candidates": p.candidates, "candidate_source": p.candidate_source, "candidates_thinned": p.thinned,
        "target_buildings": int(((weights > 0)).sum()),
        "target_buildings_covered_before": int(((weights > 0) & covered).sum()),
        "target_buildings_reachable": result.detail["reachable_buildings"],
        "target_population": int(weights.sum()), "households": int(hh.sum()),
        "target_population_covered_before": int(round(weights[covered].sum())),
        "target_population_covered_after": int(round(weights[after].sum())),
        "households_covered_before": int(hh[covered].sum()), "households_covered_after": int(hh[after].sum()),
        "sites_needed": len(result.chosen), "status": result.status, "gap": result.gap,
        "solve_s": round(result.solve_s, 3), "sites": sites,
        "greedy": {"sites_needed": len(result.detail["greedy_chosen"]), "sites": greedy},
        "unreachable_buildings": len(unreachable_rows),
        "unreachable_households": int(hh[unreachable].sum()),
        "unreachable_target_population": int(round(weights[unreachable].sum())),
        "unreachable": unreachable_rows,
    })


def _cover_all_sites(session: Session, p: _Problem, chosen: list[int], communities: dict[str, str],
                     lonlat: gpd.GeoSeries | None) -> list[dict[str, Any]]:
    """The chosen candidates in order, each with its building, address, community and what it newly covers."""
    now = p.covered.copy()
    out = []
    info = _buildings_info(session, [int(p.cand_building[j]) for j in chosen if p.cand_building[j] >= 0])
    for j in chosen:
        idx, new = p.newly(j, now)
        point = lonlat.iloc[j]  # type: ignore[union-attr]  # a chosen candidate exists, so lonlat does
        community = _site_community(session, point)
        building = info.get(int(p.cand_building[j]), {})
        out.append({
            "lon": round(point.x, 6), "lat": round(point.y, 6),
            "building_id": int(p.cand_building[j]) if p.cand_building[j] >= 0 else None,
            "building_name": building.get("name"), "address": building.get("address"),
            "community_code": community, "community_name": communities.get(community) if community else None,
            "newly_covered_buildings": int(len(new)), "newly_covered_households": int(p.households[new].sum()),
            "newly_covered_target_population": int(round(p.weights[new].sum())),
        })
        now[idx] = True
    return out


def _unreachable_rows(session: Session, p: _Problem, unreachable: np.ndarray, units: pd.DataFrame,
                      communities: dict[str, str]) -> list[dict[str, Any]]:
    """The target buildings no candidate reaches, most target population first, each with the reason."""
    reasons = _unreachable_reasons(p.prepared, unreachable, p.cand_pts, p.ft.radius_m, p.thinned)
    ids = p.prepared.building_ids[unreachable]
    info = _buildings_info(session, ids.tolist())
    rows = [{
        "building_id": int(b), "building_name": info.get(int(b), {}).get("name"),
        "address": info.get(int(b), {}).get("address"),
        "community_code": units.iloc[i]["community_code"],
        "community_name": communities.get(units.iloc[i]["community_code"]),
        "households": int(p.households[i]), "target_population": int(round(p.weights[i])), "reason": reason,
    } for i, b, reason in zip(unreachable.tolist(), ids.tolist(), reasons, strict=True)]
    rows.sort(key=lambda r: -r["target_population"])
    return rows


def _buildings_info(session: Session, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Name and address of buildings: the first standard address (一标三实), else compound and building name."""
    if not ids:
        return {}
    rows = session.execute(text("""
        SELECT b.id, b.name,
               (SELECT a.address FROM standard_address a WHERE a.building_id = b.id ORDER BY a.id LIMIT 1),
               c.name
        FROM building b LEFT JOIN compound c ON c.id = b.compound_id WHERE b.id = ANY(:ids)"""),
        {"ids": list(ids)}).all()
    return {int(r[0]): {"name": r[1], "address": r[2] or (" ".join(x for x in (r[3], r[1]) if x) or None)}
            for r in rows}


def _unreachable_reasons(prepared: PreparedDistrict, unreachable: np.ndarray, cand_pts: np.ndarray,
                         radius_m: float, thinned: bool) -> list[str]:
    """Why no candidate covers each of these buildings, in words."""
    if len(unreachable) == 0:
        return []
    if len(cand_pts) == 0:
        return ["no candidate site at all"] * len(unreachable)
    tree = shapely.STRtree(cand_pts)
    near = tree.query(prepared.footprints[unreachable], predicate="dwithin", distance=radius_m)[0]
    has_near = np.zeros(len(unreachable), dtype=bool)
    has_near[near] = True
    radius = f"{radius_m:.0f} m"
    near_only = (f"candidate sites lie within {radius} as the crow flies but none within {radius} on foot: "
                 "a main road, river or railway in the way, or the building is far from any path")
    far = f"no candidate site within {radius} even as the crow flies"
    thinned_note = "; candidates were thinned" if thinned else ""
    return [(near_only if ok else far) + thinned_note for ok in has_near]


def _site_community(session: Session, point: Any) -> str | None:
    """The current community a lon/lat point lies in (the first by code), or None."""
    return session.execute(text(
        "SELECT code FROM community WHERE valid_to IS NULL AND ST_Intersects(geom, ST_SetSRID(ST_MakePoint(:x, :y), "
        "4490)) ORDER BY code LIMIT 1"), {"x": point.x, "y": point.y}).scalar()

