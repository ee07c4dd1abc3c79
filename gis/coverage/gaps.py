"""Gaps: uncovered buildings clustered into areas, ranked by the target population left out.

Two uncovered buildings belong to one gap when their footprints are within ``link_m`` of each
other (connected components of that proximity graph). In a dense district whole quarters chain
together that way, so a component wider than ``max_span_m`` (by default the walking radius:
about what one new facility in its middle could reach) is split by complete-linkage
clustering of the building centres, which bounds the distance between any two buildings of a
gap. A gap's outline is its footprints closed by ``link_m / 2`` (buffer out, buffer back in):
it hugs the buildings and joins close ones.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.cluster.vq import kmeans2
from scipy.sparse.csgraph import connected_components
from shapely import STRtree

__all__ = ["DEFAULT_LINK_M", "find_gaps"]

# Buildings closer than a short block apart form one gap; one new facility can serve them both.
DEFAULT_LINK_M = 60.0
# Complete linkage keeps a condensed distance matrix (n² / 2 doubles): larger components are
# first cut into pieces of about this many buildings by k-means.
_LINKAGE_MAX = 2500


def find_gaps(
    footprints: Any,
    *,
    uncovered: np.ndarray,
    target_population: np.ndarray,
    households: np.ndarray,
    distance_m: np.ndarray | None = None,
    units: pd.DataFrame | None = None,
    link_m: float = DEFAULT_LINK_M,
    max_span_m: float | None = None,
    crs: Any = None,
) -> gpd.GeoDataFrame:
    """Cluster the uncovered buildings that house anyone into ranked gap areas.

    Parameters
    ----------
    footprints
        Metric building footprints (one per building, in ``crs``).
    uncovered
        True where the building is outside the walking radius.
    target_population, households
        Per building; buildings with neither are left out.
    distance_m
        Walking distance to the nearest facility (inf when beyond the search), for the report.
    units
        Per-building unit codes (e.g. ``community_code``, ``grid_code``): each gap gets the unit
        holding most of its target population (then households).
    max_span_m
        Largest distance between two building centres of one gap; None: no limit.
    """
    fp = np.asarray(footprints, dtype=object)
    pop = np.asarray(target_population, dtype=float)
    hh = np.asarray(households, dtype=float)
    idx = np.flatnonzero(np.asarray(uncovered, dtype=bool) & ((pop > 0) | (hh > 0)))
    columns = ["rank", "buildings", "households", "target_population", "nearest_m", "area_m2", "building_index"]
    unit_cols = list(units.columns) if units is not None else []
    if len(idx) == 0:
        return gpd.GeoDataFrame({c: [] for c in columns + unit_cols}, geometry=[], crs=crs)
    geoms = fp[idx]
    left, right = STRtree(geoms).query(geoms, predicate="dwithin", distance=link_m)
    adjacency = sparse.csr_matrix((np.ones(len(left)), (left, right)), shape=(len(idx), len(idx)))
    _, label = connected_components(adjacency, directed=False)
    if max_span_m is not None:
        label = _split_wide(label, shapely.get_coordinates(shapely.centroid(geoms)), max_span_m)
    frame = pd.DataFrame({
        "label": label, "b": idx, "pop": pop[idx], "hh": hh[idx],
        "dist": np.asarray(distance_m, dtype=float)[idx] if distance_m is not None else np.inf,
    })
    grouped = frame.groupby("label")
    summary = pd.DataFrame({
        "buildings": grouped.size(),
        "households": grouped["hh"].sum(),
        "target_population": grouped["pop"].sum(),
        "nearest_m": grouped["dist"].min(),
        "building_index": grouped["b"].apply(lambda s: sorted(int(v) for v in s)),
    })
    outlines = {}
    half = link_m / 2.0
    for lab, members in grouped["b"]:
        parts = fp[members.to_numpy()]
        closed = shapely.union_all(shapely.buffer(parts, half)).buffer(-half)
        # Buffering back in cuts corners a little: the footprints themselves always belong to the gap.
        outlines[lab] = shapely.union_all(np.r_[np.asarray([closed], dtype=object), parts])
    summary["geometry"] = pd.Series(outlines)
    summary["area_m2"] = shapely.area(summary["geometry"].to_numpy()).round(0)
    if units is not None and unit_cols:
        best = _gap_units(units[unit_cols].iloc[idx], label, pop[idx], hh[idx])
        for column in unit_cols:
            summary[column] = best[column].reindex(summary.index).replace("", None).astype(object)
    summary = summary.sort_values(["target_population", "households", "buildings"], ascending=False, kind="stable")
    summary["rank"] = np.arange(1, len(summary) + 1)
    summary["target_population"] = summary["target_population"].round().astype(np.int64)
    summary["households"] = summary["households"].round().astype(np.int64)
    # NaN: no facility within the search limit.
    summary["nearest_m"] = summary["nearest_m"].where(np.isfinite(summary["nearest_m"]), np.nan)
    return gpd.GeoDataFrame(summary[columns + unit_cols].reset_index(drop=True),
                            geometry=summary["geometry"].to_numpy(), crs=crs)


def _gap_units(units: pd.DataFrame, label: np.ndarray, pop: np.ndarray, hh: np.ndarray) -> pd.DataFrame:
    """Per gap label, the units it is named by ("" for none).

    Units are chosen together (the combination holding most of the gap's target population,
    then households), so a gap astride two communities never names one's grid and the other.
    """
    unit_cols = list(units.columns)
    combo = units.astype(object).where(units.notna(), "")
    weights = combo.assign(label=label, pop=pop, hh=hh)
    order = ["label", "pop", "hh", *unit_cols]
    return (weights.groupby(["label", *unit_cols])[["pop", "hh"]].sum().reset_index()
            .sort_values(order, ascending=[True, False, False, *[True] * len(unit_cols)])
            .drop_duplicates("label").set_index("label"))


def _split_wide(label: np.ndarray, xy: np.ndarray, max_span_m: float) -> np.ndarray:
    """Split every component whose building centres lie further apart than ``max_span_m``."""
    out = np.empty_like(label)
    next_label = 0
    for lab in np.unique(label):
        members = np.flatnonzero(label == lab)
        pts = xy[members]
        span = np.hypot(*(pts.max(axis=0) - pts.min(axis=0))) if len(members) > 1 else 0.0
        if span <= max_span_m:
            out[members] = next_label
            next_label += 1
            continue
        pieces = np.zeros(len(members), dtype=np.int64)
        if len(members) > _LINKAGE_MAX:
            k = int(np.ceil(len(members) / _LINKAGE_MAX))
            _, pieces = kmeans2(pts, k, seed=0, minit="++")
        for piece in np.unique(pieces):
            sub = np.flatnonzero(pieces == piece)
            if len(sub) == 1:
                cut = np.ones(1, dtype=np.int64)
            else:
                cut = fcluster(linkage(pts[sub], method="complete"), t=max_span_m, criterion="distance")
            for c in np.unique(cut):
                out[members[sub[cut == c]]] = next_label
                next_label += 1
    return out
