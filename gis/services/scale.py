"""Coverage runs and grid suggestions for many districts at once, fanned out over Dask.

A district is the unit of work (docs/scaling.md): one task per district reads it from PostGIS,
runs the ordinary service function (``compute_coverage``, ``suggest_all_grids``) and stores the
coverage run or draft plans. A Session cannot travel to another process or machine, so a task
gets the database URL, makes its own engine, works in its own transaction, disposes the engine
and returns a small JSON-able summary. Nothing is shared between tasks but the database.

Where the tasks run (``scheduler``):

* ``None``: one after another in this process, the same task functions without Dask, for
  users without a cluster;
* ``"local"`` (:data:`LOCAL_CLUSTER`): a ``distributed.LocalCluster`` started for the call and
  closed afterwards, one single-threaded worker process per core (the work is GIL-bound);
* anything else: the address of a running scheduler, e.g. ``tcp://10.0.0.5:8786``.

Failures: a district whose task fails writes nothing (its transaction rolls back) and is
reported with its code and error in ``failed``; every other district's result is still
committed and reported. Callers decide what a failure means (the CLI exits 1 and names them).
"""

from __future__ import annotations

import itertools
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.db.engine import check_connection, describe_url, make_engine, transaction
from gis.errors import InvalidInput, NotFound
from gis.progress import Progress, noop_progress
from gis.schedulers import LOCAL_CLUSTER
from gis.services import coverage as coverage_service
from gis.services import partition as partition_service
from gis.services.districts import store_layers
from gis.settings import Settings
from gis.synthetic import generate_district

if TYPE_CHECKING:
    from distributed import Client

Task = Callable[..., dict[str, Any]]
# Long enough for a scheduler across a network, short enough that a wrong address is reported promptly.
CONNECT_TIMEOUT_S = 10.0


# --- the tasks: module-level functions, so workers can unpickle them by name ------------------


class DistrictFailure(TypedDict):
    district_code: str
    error: str


class FanOutReport(TypedDict):
    """One task per district: how they ran, each district's summary, the districts that failed and why."""

    task: str
    runner: str
    district_codes: list[str]
    districts: list[dict[str, Any]]
    failed: list[DistrictFailure]
    elapsed_s: float


def compute_district_coverage(database_url: str, district_code: str, *, types: list[str] | None = None,
                              mode: str = "network") -> dict[str, Any]:
    """One district's coverage run, computed and stored in its own transaction; a summary back."""
    engine = make_engine(database_url)
    try:
        with transaction(engine) as session:
            report = coverage_service.compute_coverage(session, district_code=district_code, types=types, mode=mode)
    finally:
        engine.dispose()
    # The per-street/community/grid lists are stored with the run; shipping them back from every
    # worker would make the client hold a city's worth of roll-ups.
    types_summary = {code: {k: v for k, v in entry.items() if k not in ("streets", "communities", "grids")}
                     for code, entry in report["types"].items()}
    keep = ("district_code", "district_name", "run_id", "network_version", "mode", "distance", "buildings",
            "households", "population", "population_source", "network_cached", "load_s", "compute_s", "store_s",
            "elapsed_s")
    return {**{k: report.get(k) for k in keep}, "types": types_summary}


def suggest_district_grids(database_url: str, district_code: str, *, lo: int, hi: int, keep_current: bool = False,
                           seed: int = 0) -> dict[str, Any]:
    """Grid suggestions for every current community of one district, stored as draft plans in one transaction."""
    started = time.perf_counter()
    # Bounds were resolved by the caller; building Settings here from the worker's environment
    # could give other bounds, and shipping the caller's would carry its secrets to every worker.
    settings = Settings.model_construct(grid_min_households=lo, grid_max_households=hi)
    engine = make_engine(database_url)
    try:
        with transaction(engine) as session:
            results = partition_service.suggest_all_grids(session, settings, district_code=district_code, lo=lo,
                                                          hi=hi, keep_current=keep_current, seed=seed)
    finally:
        engine.dispose()
    return {
        "district_code": district_code,
        "communities": len(results),
        "plan_ids": [r["plan_id"] for r in results],
        "general_units": sum(r["metrics"]["general_units"] for r in results),
        "units_in_range": sum(u["status"] == "in_range" for r in results for u in r["units"]),
        "infeasible_areas": sum(len(r["metrics"]["infeasible"]) for r in results),
        "plans": [{"plan_id": r["plan_id"], "scope_code": r["scope_code"], "scope_name": r["scope_name"],
                   "units": len(r["units"]), "in_range_share": r["metrics"].get("in_range_share")}
                  for r in results],
        "elapsed_s": round(time.perf_counter() - started, 3),
    }


# --- which districts ----------------------------------------------------------------------


def districts_with_buildings(session: Session) -> list[str]:
    """Codes of the districts a coverage run can be computed for (they hold buildings)."""
    return list(session.scalars(text(
        "SELECT code FROM district d WHERE EXISTS (SELECT 1 FROM building b WHERE b.district_code = d.code) "
        "ORDER BY code")))


def districts_with_communities(session: Session) -> list[str]:
    """Codes of the districts a grid suggestion can be made for (they hold current communities)."""
    return list(session.scalars(text(
        "SELECT DISTINCT district_code FROM community WHERE valid_to IS NULL ORDER BY district_code")))


def _district_codes(database_url: str, given: Sequence[str] | None, find: Callable[[Session], list[str]],
                    what: str) -> list[str]:
    if given is not None:
        codes = list(dict.fromkeys(str(c).strip() for c in given if str(c).strip()))
        if not codes:
            raise InvalidInput.for_field("district_codes", "expected at least one district code; received none")
        return codes
    engine = make_engine(database_url)
    try:
        check_connection(engine)
        with transaction(engine) as session:
            codes = find(session)
    finally:
        engine.dispose()
    if not codes:
        raise NotFound(f"no district with {what} in {describe_url(database_url)}")
    return codes


# --- the use cases ------------------------------------------------------------------------


def compute_coverage_for_districts(
    database_url: str,
    *,
    district_codes: Sequence[str] | None = None,
    types: Sequence[str] | None = None,
    mode: str = "network",
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Progress = noop_progress,
) -> FanOutReport:
    """A stored coverage run for each district, one task per district (serially, or on Dask).

    Parameters
    ----------
    database_url
        The libpq URL every task connects to; it must be reachable from every worker.
    district_codes
        Districts to run; default: every district that holds buildings.
    types, mode
        As for ``gis.services.coverage.compute_coverage``.
    scheduler
        ``None`` (in this process), ``"local"`` (a LocalCluster for this call) or a scheduler address.
    workers
        Worker processes of the LocalCluster (default: one per core, at most one per district).
    progress
        ``progress(stage, fraction)``, called as each district finishes.

    Returns
    -------
    dict
        ``districts`` (one summary per district that succeeded, in the order asked), ``failed``
        (``district_code`` and ``error`` of each one that did not), ``runner`` and ``elapsed_s``.
    """
    codes = _district_codes(database_url, district_codes, districts_with_buildings, "buildings")
    options = {"types": list(types) if types else None, "mode": mode}
    return _fan_out("coverage", compute_district_coverage, database_url, codes, options, scheduler=scheduler,
                    workers=workers, progress=progress)


def suggest_grids_for_districts(
    database_url: str,
    settings: Settings,
    *,
    district_codes: Sequence[str] | None = None,
    lo: int | None = None,
    hi: int | None = None,
    keep_current: bool = False,
    seed: int = 0,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Progress = noop_progress,
) -> FanOutReport:
    """Draft grid plans for every current community of each district, one task per district.

    ``lo``/``hi`` default to the settings' grid bounds; the rest is as for
    :func:`compute_coverage_for_districts`. A district's communities are suggested in one
    transaction: all of its plans are stored, or (on failure) none.
    """
    lo, hi = partition_service.household_bounds(lo, hi, settings.grid_min_households, settings.grid_max_households)
    codes = _district_codes(database_url, district_codes, districts_with_communities, "current communities")
    options = {"lo": lo, "hi": hi, "keep_current": keep_current, "seed": seed}
    return _fan_out("partition", suggest_district_grids, database_url, codes, options, scheduler=scheduler,
                    workers=workers, progress=progress)


# --- running the tasks --------------------------------------------------------------------


def _fan_out(kind: str, task: Task, database_url: str, codes: list[str], options: dict[str, Any], *,
             scheduler: str | None, workers: int | None, progress: Progress) -> FanOutReport:
    started = time.perf_counter()
    done: dict[str, dict[str, Any]] = {}
    failed: dict[str, str] = {}

    def finished(code: str, summary: dict[str, Any] | None, error: str | None) -> None:
        if error is None:
            done[code] = summary or {}
        else:
            failed[code] = error
        count = len(done) + len(failed)
        progress(f"{code} {'done' if error is None else 'failed'} ({count}/{len(codes)})", count / len(codes))

    if scheduler is not None and not scheduler.strip():
        raise InvalidInput.for_field("scheduler", "must be a scheduler address such as tcp://10.0.0.5:8786, or "
                                     "local for a LocalCluster; received an empty value")
    progress(f"{len(codes)} districts", 0.0)
    if scheduler is None:
        runner = "serial (this process)"
        for code in codes:
            try:
                summary = task(database_url, code, **options)
            except Exception as exc:  # noqa: BLE001 - one district's failure must not lose the others' results
                finished(code, None, describe_error(exc))
            else:
                finished(code, summary, None)
    else:
        from distributed import as_completed

        with dask_client(scheduler, workers=workers, tasks=len(codes)) as client:
            runner = describe_client(client, scheduler)
            batch = uuid.uuid4().hex[:8]
            futures = {client.submit(task, database_url, code, **options, key=f"wangge-{kind}-{code}-{batch}",
                                     pure=False): code for code in codes}
            for future in as_completed(futures):
                code = futures[future]
                if future.status == "finished":
                    finished(code, future.result(), None)
                elif future.status == "error":
                    finished(code, None, describe_error(future.exception()))
                else:
                    finished(code, None, f"task {future.status}: the scheduler lost it (workers or scheduler gone)")
                future.release()
    return {
        "task": kind,
        "runner": runner,
        "district_codes": codes,
        "districts": [done[c] for c in codes if c in done],
        "failed": [{"district_code": c, "error": failed[c]} for c in codes if c in failed],
        "elapsed_s": round(time.perf_counter() - started, 3),
    }


def describe_error(exc: BaseException) -> str:
    """One line for a failed district: the error class and its message (no traceback)."""
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0]}" if message else type(exc).__name__


def describe_client(client: Client, scheduler: str) -> str:
    workers = client.scheduler_info(n_workers=-1).get("workers", {})
    threads = sum(w.get("nthreads", 0) for w in workers.values())
    where = "LocalCluster" if scheduler == LOCAL_CLUSTER else f"scheduler {client.scheduler.address}"
    return f"dask {where} ({len(workers)} workers, {threads} threads)"


def local_cluster_size(tasks: int, workers: int | None = None) -> int:
    """Worker processes for a LocalCluster: one per core, no more than there are districts."""
    if workers is not None:
        if workers < 1:
            raise InvalidInput.for_field("workers", f"must be at least 1; received {workers}")
        return workers
    return max(1, min(os.cpu_count() or 1, tasks))


@contextmanager
def dask_client(scheduler: str, *, workers: int | None = None, tasks: int = 1,
                connect_timeout_s: float = CONNECT_TIMEOUT_S) -> Iterator[Client]:
    """A Dask client: on a LocalCluster started here (``"local"``) and closed on exit, or on ``scheduler``."""
    from distributed import Client, LocalCluster

    if scheduler == LOCAL_CLUSTER:
        # Processes, one thread each: coverage and partition are pure-Python/GIL-bound, so threads
        # in one process would take turns. The scheduler's HTTP server (the dashboard, when bokeh
        # is installed) takes any free loopback port: 8787 may be another cluster's. Workers'
        # "Compute Failed" logs would repeat what the report already says about a failed district.
        cluster = LocalCluster(n_workers=local_cluster_size(tasks, workers), threads_per_worker=1, processes=True,
                               dashboard_address="127.0.0.1:0", silence_logs=logging.CRITICAL)
        try:
            with Client(cluster) as client:
                yield client
        finally:
            cluster.close()
        return
    try:
        _refuse_if_nothing_listens(scheduler, connect_timeout_s)
        client = Client(scheduler, timeout=connect_timeout_s)
    except (OSError, TimeoutError, ValueError) as exc:
        raise InvalidInput.for_field(
            "scheduler", f"scheduler: cannot reach a Dask scheduler at {scheduler!r}: {describe_error(exc)}; "
            "start one with `dask scheduler` (and workers with `dask worker ADDRESS`), or ask for local, a "
            "LocalCluster") from None
    try:
        yield client
    finally:
        client.close()


def _refuse_if_nothing_listens(scheduler: str, timeout_s: float) -> None:
    """Raise ConnectionRefusedError at once when nothing listens at a ``tcp://`` scheduler address.

    Dask's client retries a refused connection until its timeout, so a mistyped port was reported
    only after ``CONNECT_TIMEOUT_S``; a refusal is an answer, and only silence is worth waiting for.
    """
    import socket

    from distributed.comm.addressing import parse_address, parse_host_port

    scheme, location = parse_address(scheduler)
    if scheme != "tcp":
        return
    host, port = parse_host_port(location, default_port=8786)  # `dask scheduler`'s port
    with socket.create_connection((host, port), timeout=timeout_s):
        pass


# --- synthetic districts with boundaries, for the fan-out tests and benchmark --------------


def store_synthetic_district(session: Session, *, district_code: str, name: str, households: int, seed: int,
                             origin: tuple[float, float], community_households: int = 2000) -> dict[str, Any]:
    """A synthetic district (gis.synthetic) at ``origin``, with one street and strip communities.

    Buildings, network and facilities are stored as ``generate_and_store_district`` stores
    them; grid suggestions also need current communities. The street is the district's outline,
    cut west to east into communities of about ``community_households`` households each (cuts
    at household quantiles, so none is empty). Boundaries select buildings by location, so
    districts sharing a database need origins far enough apart not to overlap (a district
    covers about ``households / 12,000`` km²).
    """
    layers = generate_district(households=households, seed=seed, origin=origin)
    report = store_layers(session, layers, district_code=district_code, name=name,
                          source=f"synthetic(households={households}, seed={seed}, origin={origin})",
                          attribution="synthetic data, not a real place")
    outline = shapely.from_wkb(bytes(session.scalar(text("SELECT ST_AsBinary(geom) FROM district WHERE code = :d"),
                                                    {"d": district_code})))
    street_code = f"{district_code}001"
    session.execute(text("INSERT INTO street (code, district_code, name, geom) "
                         "VALUES (:s, :d, :n, ST_GeomFromText(:g, 4490))"),
                    {"s": street_code, "d": district_code, "n": f"{name}街道", "g": outline.wkt})

    homes = layers.buildings[layers.buildings["households"] > 0]
    x = shapely.get_x(shapely.point_on_surface(homes.geometry.to_numpy()))
    order = np.argsort(x)
    x, weight = x[order], homes["households"].to_numpy()[order]
    parts = max(1, round(int(weight.sum()) / community_households))
    share = np.cumsum(weight) / weight.sum()
    ends = np.searchsorted(share, np.arange(1, parts) / parts)
    # Cut half-way between neighbouring buildings, never through a building's point.
    cuts = sorted({(x[i] + x[min(i + 1, len(x) - 1)]) / 2 for i in ends})
    minx, miny, maxx, maxy = outline.bounds
    edges = [minx - 1.0, *cuts, maxx + 1.0]
    codes = []
    for i, (west, east) in enumerate(itertools.pairwise(edges), start=1):
        strip = shapely.intersection(outline, shapely.box(west, miny - 1.0, east, maxy + 1.0))
        code = f"{street_code}{i:03d}"
        session.execute(text("INSERT INTO community (code, street_code, district_code, name, geom) "
                             "VALUES (:c, :s, :d, :n, ST_Multi(ST_GeomFromText(:g, 4490)))"),
                        {"c": code, "s": street_code, "d": district_code, "n": f"{name}第{i}社区", "g": strip.wkt})
        codes.append(code)
    report["street_code"] = street_code
    report["community_codes"] = codes
    return report
