"""``read_osm``: an OSM XML or PBF file, its format sniffed from the content, read into ``DistrictLayers``."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import osmium

from gis.catalogue import FacilityType, load_catalogue
from gis.errors import InvalidInput
from gis.layers import DistrictLayers
from gis.osm.collect import Collected, RelationScan, collect
from gis.osm.geometry import area_geometries, build_network
from gis.osm.layers import barrier_frame, building_frame, compound_frame, facility_frame, land_use_frame
from gis.osm.tags import Classifier
from gis.progress import Progress, noop_progress


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
    progress: Progress | None = None,
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
    notify = progress or noop_progress
    notify("reading", 0.0)
    source = _input_file(path)
    cat = dict(catalogue) if catalogue is not None else load_catalogue()

    classify = Classifier(cat, counts_as)
    scan = RelationScan(classify)
    untagged_nodes = osmium.filter.EmptyTagFilter()
    untagged_nodes.enable_for(osmium.osm.NODE)
    try:
        fp = osmium.FileProcessor(source).with_areas(scan).with_filter(untagged_nodes)
        out = collect(fp, scan, classify)
    except (RuntimeError, osmium.InvalidLocationError) as exc:
        raise InvalidInput(f"{path.name}: {_osmium_message(exc)}") from None
    notify("reading", 0.6)

    nodes, edges = build_network(out.walk, out.counts)
    notify("network", 0.75)
    geoms = area_geometries(out)
    buildings = building_frame(out, geoms)
    if len(buildings) == 0 and len(edges) == 0:
        raise InvalidInput(f"{path.name}: contains no buildings or walkable ways; expected a district extract")
    barriers = barrier_frame(out, geoms)
    compounds = compound_frame(out, geoms)
    land_use = land_use_frame(out, geoms)
    notify("areas", 0.9)
    facilities = facility_frame(out, geoms)

    layers = DistrictLayers(buildings=buildings, nodes=nodes, edges=edges, barriers=barriers, compounds=compounds,
                            facilities=facilities, report={}, land_use=land_use)
    layers.report = _report(path.name, out, layers)
    layers.report["elapsed_s"] = round(time.perf_counter() - started, 3)
    notify("done", 1.0)
    return layers


def _report(source: str, out: Collected, layers: DistrictLayers) -> dict[str, Any]:
    """What was read: the size of every layer and the problems met (see the package docstring)."""
    counts = out.counts
    return {
        "source": source,
        "buildings": len(layers.buildings),
        "nodes": len(layers.nodes),
        "edges": len(layers.edges),
        "barriers": {k: int(v) for k, v in sorted(Counter(layers.barriers["kind"]).items())},
        "compounds": len(layers.compounds),
        "land_use_areas": len(layers.land_use) if layers.land_use is not None else 0,
        "facilities": {k: int(v) for k, v in sorted(Counter(layers.facilities["type_code"]).items())},
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
