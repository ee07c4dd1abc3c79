"""The cache of prepared networks: a district's walk network prepared for coverage once per network version.

Preparing a network (reading nodes, edges, buildings, gates and barriers, reprojecting, linking
every building past main roads and rivers) costs seconds on a 100,000-node district; a question
asked of a prepared one costs a tenth of a second. Three layers keep the preparing rare:

* the **network key**: the ``layer_version`` rows (version and the transaction that wrote them)
  of every table the prepared network reads, bumped by triggers on any insert, update, delete or
  truncate (migrations 0003 and 0015). An in-place edit of a road's geometry changes it; a
  rolled-back edit leaves no key another transaction can see, because transaction ids are never
  handed out twice.
* this **process**: the last few prepared districts, by database and district, while their key holds.
* every process: ``coverage_network_cache``, one numpy archive per (district, key), written by
  the first process that prepares that version, on a connection of its own so that it is shared
  at once, and read back as arrays by every other (``gis.coverage.network_arrays``). A key seen
  only inside an uncommitted transaction can never be asked for by another, so writing early is
  safe; the table is a cache and keeps the newest few keys per district.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.coverage import network_arrays
from gis.coverage.distances import Reach
from gis.coverage.network import AttachedNetwork, attach_buildings, build_network
from gis.crs import metric_crs_for_frame
from gis.db.frames import driver_connection, read_frame
from gis.errors import InvalidInput, NotFound
from gis.progress import Progress, noop_progress

logger = logging.getLogger("wangge.coverage")

# The tables a prepared network is built from; each has layer_version triggers (0003, 0015).
NETWORK_SOURCES = ("barrier", "building", "compound_gate", "resident", "walk_edge", "walk_node")
_CACHE_SIZE = 4
# Prepared networks kept per district in the shared table: the current one and the one before
# (a process may still be answering on it while another prepares the new one).
SHARED_KEEP = 2


@dataclass(frozen=True)
class Homes:
    """A district's residential buildings: their ids and households, in one order that figures follow."""

    district_code: str
    building_ids: np.ndarray
    households: np.ndarray


@dataclass
class PreparedDistrict:
    """A district's buildings attached to its walk network, as the pure core needs them.

    ``source`` says how this object was made: ``shared`` (unpacked from the archive another process
    stored) or ``prepared`` (read from the tables). Footprints are decoded from the shared archive
    only when a question needs them (straight-line mode, siting).
    """

    district_code: str
    network_key: str
    crs: str
    graph: AttachedNetwork | None
    building_ids: np.ndarray
    households: np.ndarray
    load_s: float
    footprints_decoded: np.ndarray | None = field(default=None, repr=False)
    footprints_packed: Mapping[str, np.ndarray] | None = field(default=None, repr=False)
    source: str = "prepared"
    reach_cache: dict[tuple[Any, ...], tuple[Reach, np.ndarray]] = field(default_factory=dict)

    @property
    def has_network(self) -> bool:
        """Whether the district has a walk network (else only straight-line questions can be asked)."""
        return self.graph is not None

    @property
    def homes(self) -> Homes:
        """The residential buildings, in the order of every per-building array here."""
        return Homes(self.district_code, self.building_ids, self.households)

    @property
    def footprints(self) -> np.ndarray:
        """Building footprints in the metric CRS, in building order."""
        if self.footprints_decoded is None:
            self.footprints_decoded = (network_arrays.unpack_geometries("district.footprints", self.footprints_packed)
                                       if self.footprints_packed is not None else np.empty(0, dtype=object))
        return self.footprints_decoded


_CACHE: OrderedDict[tuple[str, str], PreparedDistrict] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def clear_cache() -> None:
    """Forget every network this process holds (the shared table keeps its copies)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _database_key(session: Session) -> str:
    return session.connection().engine.url.render_as_string(hide_password=True)


def network_key_sql(district: str) -> str:
    """SQL for the network key of the district that the SQL expression ``district`` names.

    Binds ``:network_sources`` (``NETWORK_SOURCES``). One text for ``network_key`` and for the
    staleness of stored runs (``gis.services.coverage.runs``), so both always spell a key alike.
    """
    return ("COALESCE((SELECT string_agg(lv.source || ':' || lv.version || ':' || lv.xmin::text, ';' "
            "ORDER BY lv.source) FROM layer_version lv "
            f"WHERE lv.district_code = {district} AND lv.source = ANY(CAST(:network_sources AS text[]))), '')")


def network_key(session: Session, district_code: str) -> str:
    """The district's network key: every source's layer version and the transaction that last bumped it."""
    return str(session.execute(text(f"SELECT {network_key_sql(':d')}"),
                               {"d": district_code, "network_sources": list(NETWORK_SOURCES)}).scalar_one())


def prepare_district(session: Session, district_code: str, *, progress: Progress = noop_progress,
                     reload: bool = False) -> PreparedDistrict:
    """The district's attached walk network: from this process, else the shared table, else prepared now.

    ``reload`` prepares it from the tables whatever is cached (and replaces the shared copy).
    """
    return prepare_district_with_source(session, district_code, progress=progress, reload=reload)[0]


def prepare_district_with_source(session: Session, district_code: str, *, progress: Progress = noop_progress,
                                 reload: bool = False) -> tuple[PreparedDistrict, str]:
    """``prepare_district``, and where the network came from this time: ``memory``, ``shared`` or ``prepared``."""
    key = network_key(session, district_code)
    memory_key = (_database_key(session), district_code)
    if not reload:
        with _CACHE_LOCK:
            cached = _CACHE.get(memory_key)
            if cached is not None and cached.network_key == key:
                _CACHE.move_to_end(memory_key)
                return cached, "memory"
        started = time.perf_counter()
        shared = _read_shared(session, district_code, key)
        if shared is not None:
            prepared = _from_archive(shared, district_code, key)
            prepared.load_s = time.perf_counter() - started
            _remember(memory_key, prepared)
            return prepared, "shared"
    prepared = _prepare_from_tables(session, district_code, key, progress)
    _write_shared(session, prepared)
    _remember(memory_key, prepared)
    return prepared, "prepared"


def _remember(memory_key: tuple[str, str], prepared: PreparedDistrict) -> None:
    with _CACHE_LOCK:
        _CACHE[memory_key] = prepared
        _CACHE.move_to_end(memory_key)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)


# --- reading the tables and preparing ----------------------------------------------------------


def _prepare_from_tables(session: Session, district_code: str, key: str, progress: Progress) -> PreparedDistrict:
    started = time.perf_counter()
    district = {"d": district_code}
    progress("loading buildings", 0.0)
    # Buildings where people live: households recorded or estimated, or residents registered.
    buildings = read_frame(session, """
        SELECT b.id, b.households, b.compound_id, ST_AsBinary(b.geom) AS geom FROM building b
        WHERE b.district_code = :d AND (b.households > 0
              OR EXISTS (SELECT 1 FROM resident r WHERE r.building_id = b.id))
        ORDER BY b.id""", district)
    if buildings.empty:
        exists = session.execute(text("SELECT 1 FROM district WHERE code = :d"), {"d": district_code}).first()
        raise NotFound(f"district {district_code} does not exist" if exists is None
                       else f"district {district_code} has no residential buildings")
    crs = metric_crs_for_frame(buildings)
    footprints = np.asarray(buildings.geometry.to_crs(crs).values, dtype=object)
    progress("loading the walk network", 0.2)
    nodes = read_frame(session, "SELECT id, ST_AsBinary(geom) AS geom FROM walk_node WHERE district_code = :d",
                       district)
    edges = read_frame(session, """
        SELECT id, source, target, length_m, cost, reverse_cost, is_main_road, ST_AsBinary(geom) AS geom
        FROM walk_edge WHERE district_code = :d ORDER BY id""", district)
    graph = None
    if len(edges):
        barriers = read_frame(session, "SELECT kind, ST_AsBinary(geom) AS geom FROM barrier "
                                       "WHERE district_code = :d", district)
        gates = read_frame(session, "SELECT compound_id, ST_AsBinary(geom) AS geom FROM compound_gate "
                                    "WHERE district_code = :d ORDER BY id", district)
        progress("attaching buildings to the network", 0.5)
        net = build_network(nodes, edges, barriers=barriers, crs=crs)
        graph = attach_buildings(
            net, footprints, compound=buildings["compound_id"].fillna(-1).to_numpy(dtype=np.int64),
            gates=np.asarray(gates.geometry.to_crs(crs).values, dtype=object) if len(gates) else None,
            gate_compound=gates["compound_id"].to_numpy(dtype=np.int64) if len(gates) else None)
    progress("network ready", 1.0)
    return PreparedDistrict(
        district_code=district_code, network_key=key, crs=crs, graph=graph,
        building_ids=buildings["id"].to_numpy(dtype=np.int64),
        households=buildings["households"].to_numpy(dtype=np.int64), load_s=time.perf_counter() - started,
        footprints_decoded=footprints, source="prepared")


# --- the shared table ---------------------------------------------------------------------------


def _to_archive(prepared: PreparedDistrict) -> bytes:
    arrays = network_arrays.pack_network(prepared.graph) if prepared.graph is not None else {
        "format": np.asarray(network_arrays.FORMAT)}
    arrays["district.crs"] = np.asarray(prepared.crs)
    arrays["district.building_ids"] = prepared.building_ids
    arrays["district.households"] = prepared.households
    arrays["district.has_graph"] = np.asarray(prepared.graph is not None)
    network_arrays.pack_geometries("district.footprints", prepared.footprints, arrays)
    return network_arrays.to_bytes(arrays)


def _from_archive(arrays: Mapping[str, np.ndarray], district_code: str, key: str) -> PreparedDistrict:
    graph = network_arrays.unpack_network(arrays) if bool(arrays["district.has_graph"]) else None
    return PreparedDistrict(
        district_code=district_code, network_key=key, crs=str(arrays["district.crs"]), graph=graph,
        building_ids=arrays["district.building_ids"], households=arrays["district.households"], load_s=0.0,
        footprints_packed={k: v for k, v in arrays.items() if k.startswith("district.footprints.")},
        source="shared")


def _read_shared(session: Session, district_code: str, key: str) -> dict[str, np.ndarray] | None:
    """The archive another process stored for this key, or None (none, or of another format)."""
    # The raw psycopg cursor in binary mode: through SQLAlchemy the bytea would come as hex text,
    # twice the bytes to send and decode.
    with driver_connection(session).cursor(binary=True) as cursor:
        cursor.execute("SELECT payload FROM coverage_network_cache WHERE district_code = %s AND network_key = %s",
                       (district_code, key))
        row = cursor.fetchone()
    if row is None:
        return None
    try:
        arrays = network_arrays.from_bytes(bytes(row[0]))
        if int(arrays.get("format", -1)) != network_arrays.FORMAT:
            return None
        return arrays
    except (ValueError, OSError, KeyError, InvalidInput):  # a damaged or foreign archive is prepared afresh
        logger.warning("coverage network cache: unreadable archive for district %s; preparing again", district_code)
        return None


def _write_shared(session: Session, prepared: PreparedDistrict) -> None:
    """Store the archive on a connection of its own (committed at once); a failure only costs sharing."""
    import psycopg

    from gis.db.engine import libpq_url

    try:
        payload = _to_archive(prepared)
        url = session.connection().engine.url.render_as_string(hide_password=False)
        # A lock timeout: a row this write must wait for belongs to a transaction that may be the caller's own.
        with psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=5, options="-c lock_timeout=2000",
                             application_name="wangge coverage cache") as conn:
            conn.execute(
                "INSERT INTO coverage_network_cache (district_code, network_key, payload, prepare_s) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (district_code, network_key) DO UPDATE "
                "SET payload = EXCLUDED.payload, prepare_s = EXCLUDED.prepare_s, created_at = now()",
                (prepared.district_code, prepared.network_key, payload, prepared.load_s))
            conn.execute(
                "DELETE FROM coverage_network_cache WHERE district_code = %s AND network_key NOT IN ("
                "SELECT network_key FROM coverage_network_cache WHERE district_code = %s "
                "ORDER BY created_at DESC LIMIT %s)", (prepared.district_code, prepared.district_code, SHARED_KEEP))
    except psycopg.Error as exc:
        logger.warning("coverage network cache: could not share the network of district %s: %s",
                       prepared.district_code, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


class SharedNetwork(TypedDict):
    """One prepared network in the shared table."""

    district_code: str
    network_key: str
    bytes: int
    prepare_s: float
    created_at: str


def shared_networks(session: Session, district_code: str | None = None) -> list[SharedNetwork]:
    """The prepared networks in the shared table: district, key, size in bytes, preparing time, when."""
    rows = session.execute(text(
        "SELECT district_code, network_key, octet_length(payload), prepare_s, created_at FROM coverage_network_cache "
        "WHERE CAST(:d AS text) IS NULL OR district_code = :d ORDER BY district_code, created_at DESC"),
        {"d": district_code}).all()
    return [{"district_code": r[0], "network_key": r[1], "bytes": int(r[2]), "prepare_s": float(r[3]),
             "created_at": r[4].isoformat()} for r in rows]
