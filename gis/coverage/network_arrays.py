"""A prepared walk network as plain arrays and back, so that it is prepared once and shared.

Preparing a district (``build_network`` + ``attach_buildings``) takes seconds on a
100,000-node network: reading the geometries, reprojecting them, linking every building past
main roads and rivers. Rebuilding the same ``AttachedNetwork`` from its arrays takes the
construction of its geometries and two STRtrees, a tenth of that. The arrays go into numpy's
own archive format (``np.savez``, read back with ``allow_pickle=False``: a stored archive can
hold numbers and strings, never code). Geometries of one type travel as shapely's ragged arrays
(coordinates and offsets, exact to the bit), mixed ones as WKB; int64 indices that fit travel as
int32 and come back as int64. Every dataclass field is packed
by its annotation, and an unknown one raises, so a field added to the network cannot be
silently left behind.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import fields
from typing import Any, cast

import numpy as np
import shapely
from scipy import sparse
from shapely import STRtree

from gis.coverage.network import AttachedNetwork, WalkNetwork
from gis.errors import InvalidInput

__all__ = ["from_bytes", "pack_geometries", "pack_network", "to_bytes", "unpack_geometries", "unpack_network"]

# Bump when the layout changes: archives of another format are ignored, not misread.
FORMAT = 2


def pack_geometries(prefix: str, geoms: np.ndarray, out: dict[str, np.ndarray]) -> None:
    """Put an array of geometries into ``out`` under ``prefix``: ragged arrays when of one type, else WKB."""
    geoms = np.asarray(geoms, dtype=object)
    types = shapely.get_type_id(geoms)
    if len(geoms) and (types[0] >= 0) and (types == types[0]).all() and types[0] != 7:  # 7: GeometryCollection
        kind, coords, offsets = shapely.to_ragged_array(geoms)
        out[f"{prefix}.kind"] = np.asarray(int(kind))
        out[f"{prefix}.coords"] = coords
        for i, offset in enumerate(offsets):
            out[f"{prefix}.offsets{i}"] = offset
        out[f"{prefix}.levels"] = np.asarray(len(offsets))
        return
    wkb = shapely.to_wkb(geoms)
    sizes = np.array([len(b) if b is not None else -1 for b in wkb], dtype=np.int64)
    out[f"{prefix}.kind"] = np.asarray(-1)
    out[f"{prefix}.sizes"] = sizes
    out[f"{prefix}.wkb"] = np.frombuffer(b"".join(b for b in wkb if b is not None), dtype=np.uint8)


def unpack_geometries(prefix: str, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
    """The geometries ``pack_geometries`` stored under ``prefix``, as an object array."""
    kind = int(arrays[f"{prefix}.kind"])
    if kind >= 0:
        offsets = tuple(arrays[f"{prefix}.offsets{i}"] for i in range(int(arrays[f"{prefix}.levels"])))
        return np.asarray(shapely.from_ragged_array(shapely.GeometryType(kind), arrays[f"{prefix}.coords"], offsets),
                          dtype=object)
    sizes = arrays[f"{prefix}.sizes"]
    data = arrays[f"{prefix}.wkb"].tobytes()
    ends = np.cumsum(np.maximum(sizes, 0))
    starts = ends - np.maximum(sizes, 0)
    wkb = [data[s:e] if n >= 0 else None for s, e, n in zip(starts.tolist(), ends.tolist(), sizes.tolist(),
                                                              strict=True)]
    return np.asarray(shapely.from_wkb(wkb), dtype=object) if wkb else np.empty(0, dtype=object)


def _narrow(key: str, value: np.ndarray) -> dict[str, np.ndarray]:
    """int64 indices that fit travel as int32 (a third less to read); ``_widen`` gives back the int64 array."""
    if value.dtype == np.int64 and (len(value) == 0 or (value.min() >= -2**31 and value.max() < 2**31)):
        return {key: value.astype(np.int32), f"{key}.int64": np.asarray(True)}
    return {key: value}


def _widen(key: str, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
    value = arrays[key]
    return value.astype(np.int64) if f"{key}.int64" in arrays else value


def _pack(obj: Any, prefix: str, out: dict[str, np.ndarray]) -> None:
    for f in fields(obj):
        value = getattr(obj, f.name)
        key = f"{prefix}{f.name}"
        kind = str(f.type)
        if kind == "STRtree":
            continue  # rebuilt from the geometries on unpacking
        if kind == "WalkNetwork":
            _pack(value, f"{key}.", out)
        elif kind == "sparse.csr_matrix":
            out[f"{key}.data"], out[f"{key}.indices"], out[f"{key}.indptr"] = value.data, value.indices, value.indptr
            out[f"{key}.shape"] = np.asarray(value.shape, dtype=np.int64)
        elif kind == "np.ndarray" and value.dtype == object:
            pack_geometries(key, value, out)
        elif kind == "np.ndarray":
            out.update(_narrow(key, value))
        elif kind in ("int", "str"):
            out[key] = np.asarray(value)
        else:
            raise InvalidInput(f"cannot pack {type(obj).__name__}.{f.name} of type {kind}")


def pack_network(graph: AttachedNetwork) -> dict[str, np.ndarray]:
    """Every field of an attached network (and its walk network) as named arrays."""
    out: dict[str, np.ndarray] = {"format": np.asarray(FORMAT)}
    _pack(graph, "graph.", out)
    return out


def _unpack(cls: type, prefix: str, arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in fields(cls):
        key = f"{prefix}{f.name}"
        kind = str(f.type)
        if kind == "STRtree":
            continue
        if kind == "WalkNetwork":
            net = _unpack(WalkNetwork, f"{key}.", arrays)
            # The same trees build_network makes: over the edges that take links, and over every blocker.
            values[f.name] = WalkNetwork(**net, edge_tree=STRtree(net["edge_geom"][net["link_edges"]]),
                                         blocker_tree=STRtree(net["blocker_geom"]))
        elif kind == "sparse.csr_matrix":
            shape = tuple(int(v) for v in arrays[f"{key}.shape"])
            values[f.name] = sparse.csr_matrix((arrays[f"{key}.data"], arrays[f"{key}.indices"],
                                                arrays[f"{key}.indptr"]), shape=shape)
        elif kind == "np.ndarray" and f"{key}.kind" in arrays:
            values[f.name] = unpack_geometries(key, arrays)
        elif kind == "np.ndarray":
            values[f.name] = _widen(key, arrays)
        elif kind == "int":
            values[f.name] = int(arrays[key])
        elif kind == "str":
            values[f.name] = str(arrays[key])
        else:
            raise InvalidInput(f"cannot unpack {cls.__name__}.{f.name} of type {kind}")
    return values


def unpack_network(arrays: Mapping[str, np.ndarray]) -> AttachedNetwork:
    """The attached network ``pack_network`` stored; InvalidInput for an archive of another format."""
    if int(arrays.get("format", -1)) != FORMAT:
        raise InvalidInput(f"network archive format {int(arrays.get('format', -1))}; this code reads {FORMAT}")
    return AttachedNetwork(**_unpack(AttachedNetwork, "graph.", arrays))


def to_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """Named arrays as one uncompressed numpy archive."""
    buffer = io.BytesIO()
    np.savez(buffer, **cast(dict[str, Any], arrays))  # numpy's stub reads ** as its allow_pickle flag
    return buffer.getvalue()


def from_bytes(data: bytes) -> dict[str, np.ndarray]:
    """The named arrays of an archive ``to_bytes`` wrote (no pickles: object arrays are refused)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}
