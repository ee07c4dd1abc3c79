"""Background jobs: a durable queue in PostgreSQL that every server process submits to, runs and reads.

A job is a row of ``job`` (migration 0014): a registered ``kind`` and JSON ``parameters`` (a
closure cannot be stored, so work is named, never passed), who asked, its status
(queued → running → done | failed), stage and fraction, and its result or error. Any process
queues a job, any process's worker runs it, any process answers for it; queued jobs outlive a
restart and are run when a worker comes back.

Why plain ``SELECT ... FOR UPDATE SKIP LOCKED`` rows and not procrastinate, the PostgreSQL queue
library: procrastinate queues and locks jobs but stores neither progress nor results nor an owner,
so a table of our own for those would be needed anyway, and its queue would be a second schema
applied by its own schema manager beside alembic's migrations. Its worker is an asyncio loop
with its own psycopg pool, a second runtime beside the app's sync SQLAlchemy sessions. What is left
for us is three statements (claim, heartbeat, take back), so the hand-written queue is smaller
than the glue would be.

How it runs:

* A worker thread claims the oldest queued job (``SKIP LOCKED``: two workers never take the same
  one), runs ``run(session, progress, settings=..., owner_id=..., **parameters)`` in one session
  of the app's engine, and marks the job done *in that same transaction*: either the job's writes
  (plans, coverage runs) and "done" are committed together, or neither is.
* Progress (stage, fraction) is committed at once on a separate connection, so every process sees
  it; each worker also beats a heartbeat every ``heartbeat_seconds``.
* A running job whose heartbeat is older than the lease (its process was killed or the machine
  restarted) is **re-queued**, because the one-transaction rule above means a dead worker left
  nothing written: running it again is safe and is what the user asked for. A job is re-queued
  at most ``max_attempts - 1`` times; a job that has taken down its worker that often (a
  district too big for the memory, say) is marked **failed** with ``job_lost``, so that it cannot
  crash worker after worker. Each claim carries a fence (worker id and attempt number): a worker
  that was presumed dead but was only stalled finds its job taken back and rolls its work back.
* Any other failure marks the job failed with the error in the one error model; a lost database
  connection is reported as ``database_unavailable`` (the remedy is to submit again), the write of
  that failure retried until the database answers.

Workers poll every ``poll_seconds`` (and the submitting process's own workers are woken at
once), so a job queued in one process starts in another within that interval.
"""

from __future__ import annotations

import builtins
import dataclasses
import datetime as dt
import decimal
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from gis import errors as error_types
from gis.db.engine import make_engine, unavailable
from gis.errors import NotFound, WanggeError

logger = logging.getLogger("wangge.jobs")

STATUSES = ("queued", "running", "done", "failed")
# Jobs listed per owner, newest first; finished jobs older than KEEP_DAYS are deleted.
LIST_LIMIT = 200
KEEP_DAYS = 30
# Progress calls between stage changes are written at most this often (services call it per item).
PROGRESS_INTERVAL_S = 0.25


class JobLost(WanggeError):
    """The worker running a job stopped (killed, restarted) too many times before the job finished."""

    code = "job_lost"


# --- the registry of kinds -----------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """What a job of one kind runs, and how its result names what it created (``/plans/12``)."""

    name: str
    run: Callable[..., Any]
    links: Callable[[Any], list[str]] | None = None


KINDS: dict[str, Kind] = {}


def job_kind(name: str, *, links: Callable[[Any], list[str]] | None = None) -> Callable[[Callable[..., Any]], Any]:
    """Register ``fn(session, progress, *, settings, owner_id, **parameters)`` as the job kind ``name``.

    ``settings`` are the running process's, ``owner_id`` the user who queued the job; the rest are
    the JSON parameters it was queued with. The result must be JSON (it is stored in the row).
    """

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        KINDS[name] = Kind(name, fn, links)
        return fn

    return register


# --- what a job looks like to its readers --------------------------------------------------------


@dataclass
class Job:
    """One background job as its row holds it."""

    id: str
    kind: str
    owner_id: int | None
    owner: str | None
    parameters: dict[str, Any]
    status: str = "queued"
    fraction: float = 0.0
    stage: str = "queued"
    created_at: dt.datetime = dataclasses.field(default_factory=lambda: dt.datetime.now(dt.UTC))
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    result: Any = None
    error: BaseException | None = None
    links: list[str] = dataclasses.field(default_factory=list)
    attempts: int = 0

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")


_COLUMNS = ("id, kind, owner_id, owner, parameters, status, fraction, stage, created_at, started_at, finished_at, "
            "result, error, links, attempts")


def _job(row: Any) -> Job:
    return Job(id=row.id, kind=row.kind, owner_id=row.owner_id, owner=row.owner, parameters=row.parameters or {},
               status=row.status, fraction=float(row.fraction), stage=row.stage, created_at=row.created_at,
               started_at=row.started_at, finished_at=row.finished_at, result=row.result,
               error=_error_from_row(row.error), links=list(row.links or []), attempts=row.attempts)


def _error_types() -> dict[str, type[WanggeError]]:
    found = {name: cls for name, cls in vars(error_types).items()
             if isinstance(cls, type) and issubclass(cls, WanggeError)}
    found["JobLost"] = JobLost
    return found


def _error_to_row(exc: BaseException) -> dict[str, Any]:
    """What the row keeps of a failure: a WanggeError whole; of anything else only that it was internal."""
    if isinstance(exc, WanggeError):
        return {"type": type(exc).__name__, "code": exc.code, "message": exc.message,
                "details": _jsonable(exc.details)}
    return {"type": "internal", "exception": type(exc).__name__}


def _error_from_row(stored: dict[str, Any] | None) -> BaseException | None:
    """The exception a stored failure stands for, so the API words it as it words any error."""
    if stored is None:
        return None
    cls = _error_types().get(stored.get("type", ""))
    if cls is None:
        return RuntimeError(f"internal error ({stored.get('exception', 'unknown')})")
    exc = cls.__new__(cls)  # not cls(...): a subclass may take other arguments; the message is what counts
    WanggeError.__init__(exc, stored.get("message", ""), details=stored.get("details"))
    return exc


def _jsonable(value: Any) -> Any:
    """``value`` as JSON can hold it: dates as ISO text, decimals and numpy numbers as numbers, tuples as lists."""
    return json.loads(json.dumps(value, default=_json_default, ensure_ascii=False))


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy arrays
        return value.tolist()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _database_lost(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated)


# --- the queue -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Claim:
    id: str
    kind: str
    parameters: dict[str, Any]
    owner_id: int | None
    attempts: int


class _Fenced(Exception):
    """The job was taken back from this worker while it ran: its work must not be committed."""


class JobRunner:
    """Queues jobs in the ``job`` table and, once ``start``ed, runs them on ``workers`` threads.

    ``engine`` runs the jobs' work (the app's engine); the queue's own statements (claims,
    progress, heartbeats) go through a small engine of their own, so that a worker polling or
    beating never takes a connection a request is waiting for.
    """

    def __init__(self, engine: Engine, *, settings: Any = None, workers: int = 1, lease_seconds: float = 60.0,
                 heartbeat_seconds: float | None = None, poll_seconds: float = 1.0, max_attempts: int = 2) -> None:
        if lease_seconds <= 0 or poll_seconds <= 0 or max_attempts < 1 or workers < 0:
            raise ValueError("job runner: lease and poll must be > 0 s, max_attempts >= 1, workers >= 0")
        self._engine = engine
        self._settings = settings
        self.workers = workers
        self.lease_seconds = float(lease_seconds)
        # Several beats per lease, so that one slow beat (a busy database) does not lose the job.
        self.heartbeat_seconds = float(heartbeat_seconds or max(0.05, lease_seconds / 4))
        self.poll_seconds = float(poll_seconds)
        self.max_attempts = max_attempts
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        url = engine.url.render_as_string(hide_password=False)
        self._queue = make_engine(url, pool_size=2, max_overflow=max(2, workers + 1), pool_timeout=30,
                                  connect_args={"connect_timeout": 5, "application_name": "wangge-jobs"})
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._started = False
        self._last_reap = 0.0

    # --- submitting and reading ----------------------------------------------------------------

    def submit(self, *, kind: str, parameters: dict[str, Any] | None = None, owner_id: int | None = None,
               owner: str | None = None, district_code: str | None = None) -> Job:
        """Queue a job of ``kind`` (registered with ``job_kind``) with JSON ``parameters``; it is committed at once."""
        if kind not in KINDS:
            raise ValueError(f"unknown job kind {kind!r}; registered: {', '.join(sorted(KINDS)) or 'none'}")
        params = _jsonable(dict(parameters or {}))
        with self._queue.begin() as conn:
            row = conn.execute(text(f"""
                INSERT INTO job (id, kind, parameters, owner_id, owner, district_code)
                VALUES (:id, :kind, CAST(:p AS jsonb), :oid, :owner, :d) RETURNING {_COLUMNS}"""),
                {"id": uuid.uuid4().hex, "kind": kind, "p": json.dumps(params, ensure_ascii=False), "oid": owner_id,
                 "owner": owner, "d": district_code or _district_of(params)}).one()
        self._wake.set()
        return _job(row)

    def get(self, job_id: str, *, owner_id: int | None = None) -> Job:
        """The job ``job_id``; NotFound when unknown or, with ``owner_id``, when someone else's."""
        with self._queue.connect() as conn:
            row = conn.execute(text(f"SELECT {_COLUMNS} FROM job WHERE id = :id"), {"id": job_id}).first()
        if row is None or (owner_id is not None and row.owner_id != owner_id):
            raise NotFound(f"job {job_id} does not exist (finished jobs are kept {KEEP_DAYS} days)",
                           details={"job_id": job_id})
        return _job(row)

    def list(self, *, owner_id: int | None = None, limit: int = LIST_LIMIT) -> list[Job]:
        """Jobs, newest first (at most ``limit``); only those of ``owner_id`` when given."""
        with self._queue.connect() as conn:
            rows = conn.execute(text(f"""
                SELECT {_COLUMNS} FROM job WHERE (CAST(:oid AS integer) IS NULL OR owner_id = :oid)
                ORDER BY created_at DESC, id DESC LIMIT :n"""), {"oid": owner_id, "n": limit}).all()
        return [_job(r) for r in rows]

    def wait(self, job_id: str, *, timeout: float | None = None) -> Job:
        """Poll until the job has finished (or ``timeout`` seconds passed); returns it as last read."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.02
        while True:
            job = self.get(job_id)
            if job.finished or (deadline is not None and time.monotonic() >= deadline):
                return job
            time.sleep(pause)
            pause = min(pause * 1.5, 0.5)

    # --- the workers ---------------------------------------------------------------------------

    def start(self) -> JobRunner:
        """Start the worker threads and the heartbeat (once); with ``workers=0`` this runner only queues."""
        with self._lock:
            if self._started or self.workers == 0:
                return self
            self._started = True
            for n in range(self.workers):
                thread = threading.Thread(target=self._work_loop, name=f"wangge-job-{n}", daemon=True)
                thread.start()
                self._threads.append(thread)
            beat = threading.Thread(target=self._heartbeat_loop, name="wangge-job-heartbeat", daemon=True)
            beat.start()
            self._threads.append(beat)
        return self

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop claiming jobs; with ``wait``, let running ones finish. A job left running is re-queued by the lease."""
        self._stop.set()
        self._wake.set()

        def finish() -> None:
            for thread in self._threads:
                thread.join()
            self._queue.dispose()  # the queue's connections close once no worker needs them

        if wait:
            finish()
        else:
            threading.Thread(target=finish, name="wangge-job-shutdown", daemon=True).start()

    def _work_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._reap_if_due()
                claim = self._claim()
            except SQLAlchemyError as exc:
                logger.warning("job worker %s cannot reach the queue: %s", self.worker_id, exc.__class__.__name__)
                self._stop.wait(self.poll_seconds)
                continue
            if claim is None:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()
                continue
            self._run(claim)

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(self.heartbeat_seconds):
            try:
                self.beat()
            except SQLAlchemyError as exc:
                logger.warning("job worker %s missed a heartbeat: %s", self.worker_id, exc.__class__.__name__)

    def beat(self) -> int:
        """Renew the lease of every job this runner holds; how many it holds."""
        with self._queue.begin() as conn:
            return conn.execute(text("UPDATE job SET heartbeat_at = now() WHERE status = 'running' AND worker = :w"),
                                {"w": self.worker_id}).rowcount

    def _reap_if_due(self) -> None:
        now = time.monotonic()
        if now - self._last_reap >= min(self.lease_seconds / 2, 30.0):
            self._last_reap = now
            self.reap()

    def reap(self) -> builtins.list[tuple[str, str]]:
        """Take back running jobs whose lease ran out: re-queued, or failed ``job_lost`` after ``max_attempts``.

        Returns (job id, new status) of each; also deletes finished jobs older than KEEP_DAYS.
        """
        lost = JobLost(f"the server process running this job stopped {self.max_attempts} time(s) before it "
                       "finished (killed or restarted); nothing of it was saved: submit it again",
                       details={"attempts": self.max_attempts})
        with self._queue.begin() as conn:
            rows = conn.execute(text("""
                WITH lost AS (SELECT id, worker FROM job WHERE status = 'running'
                              AND heartbeat_at < now() - make_interval(secs => :lease) FOR UPDATE SKIP LOCKED)
                UPDATE job j SET
                    status = CASE WHEN j.attempts < :max THEN 'queued' ELSE 'failed' END,
                    stage = CASE WHEN j.attempts < :max THEN 'queued' ELSE 'failed: ' || :message END,
                    fraction = CASE WHEN j.attempts < :max THEN 0 ELSE j.fraction END,
                    error = CASE WHEN j.attempts < :max THEN NULL ELSE CAST(:error AS jsonb) END,
                    finished_at = CASE WHEN j.attempts < :max THEN NULL ELSE now() END,
                    worker = NULL
                FROM lost WHERE j.id = lost.id
                RETURNING j.id, j.status, j.kind, lost.worker"""),
                {"lease": self.lease_seconds, "max": self.max_attempts, "message": lost.message,
                 "error": json.dumps(_error_to_row(lost), ensure_ascii=False)}).all()
            conn.execute(text("DELETE FROM job WHERE finished_at < now() - make_interval(days => :d)"),
                         {"d": KEEP_DAYS})
        for row in rows:
            logger.warning("job %s (%s): worker %s stopped beating; %s", row.id, row.kind, row.worker,
                           "re-queued" if row.status == "queued" else "failed after its last attempt")
        if any(r.status == "queued" for r in rows):
            self._wake.set()
        return [(r.id, r.status) for r in rows]

    def _claim(self) -> _Claim | None:
        with self._queue.begin() as conn:
            row = conn.execute(text("""
                UPDATE job SET status = 'running', stage = 'starting', started_at = now(), heartbeat_at = now(),
                               attempts = attempts + 1, worker = :w
                WHERE id = (SELECT id FROM job WHERE status = 'queued' ORDER BY created_at, id
                            LIMIT 1 FOR UPDATE SKIP LOCKED)
                RETURNING id, kind, parameters, owner_id, attempts"""), {"w": self.worker_id}).first()
        if row is None:
            return None
        return _Claim(row.id, row.kind, row.parameters or {}, row.owner_id, row.attempts)

    def run_one(self) -> str | None:
        """Claim and run one queued job on the calling thread (tests, scripts); its id, or None when none was queued."""
        claim = self._claim()
        if claim is None:
            return None
        self._run(claim)
        return claim.id

    def _run(self, claim: _Claim) -> None:
        fence = {"id": claim.id, "w": self.worker_id, "a": claim.attempts}
        state: dict[str, Any] = {"stage": "starting", "fraction": 0.0, "written": 0.0}

        def progress(stage: str, fraction: float) -> None:
            stage = str(stage)
            # Services report per sub-step; the job's fraction never goes backwards.
            fraction = max(state["fraction"], min(max(float(fraction), 0.0), 1.0))
            changed = stage != state["stage"]
            state["stage"], state["fraction"] = stage, fraction
            now = time.monotonic()
            if changed or now - state["written"] >= PROGRESS_INTERVAL_S:
                state["written"] = now
                try:
                    with self._queue.begin() as conn:
                        conn.execute(text("""
                            UPDATE job SET stage = :s, fraction = GREATEST(fraction, :f), heartbeat_at = now()
                            WHERE id = :id AND worker = :w AND attempts = :a AND status = 'running'"""),
                            {"s": stage, "f": fraction, **fence})
                except SQLAlchemyError as exc:  # progress is a courtesy: the job goes on without it
                    logger.warning("job %s: progress not written (%s)", claim.id, exc.__class__.__name__)

        kind = KINDS.get(claim.kind)
        try:
            if kind is None:
                raise error_types.InvalidInput(f"job kind {claim.kind!r} is not known to this server; known: "
                                               f"{', '.join(sorted(KINDS)) or 'none'}",
                                               details={"kind": claim.kind})
            with Session(self._engine, expire_on_commit=False) as session, session.begin():
                result = kind.run(session, progress, settings=self._settings, owner_id=claim.owner_id,
                                  **claim.parameters)
                stored = _jsonable(result)
                links = kind.links(result) if kind.links is not None else []
                done = session.execute(text("""
                    UPDATE job SET status = 'done', stage = 'done', fraction = 1, result = CAST(:r AS jsonb),
                                   links = CAST(:l AS jsonb), error = NULL, finished_at = now()
                    WHERE id = :id AND worker = :w AND attempts = :a AND status = 'running' RETURNING id"""),
                    {"r": json.dumps(stored, ensure_ascii=False), "l": json.dumps(links), **fence}).first()
                if done is None:
                    raise _Fenced
        except _Fenced:
            logger.warning("job %s (%s) was taken back from worker %s while it ran; its work is rolled back",
                           claim.id, claim.kind, self.worker_id)
        except BaseException as exc:  # the job reports every failure; the worker thread lives on
            if _database_lost(exc):
                # The database went away mid-job: the transaction died with it, so nothing was
                # written, and the user should hear that resubmitting is the remedy, not "internal error".
                exc = unavailable(self._engine.url.render_as_string(hide_password=True), exc)
                logger.warning("job %s (%s) lost its database: %s", claim.id, claim.kind, exc.message)
            elif not isinstance(exc, WanggeError):
                logger.exception("job %s (%s) failed", claim.id, claim.kind)
            self._record_failure(claim, exc, fence, state["fraction"])

    def _record_failure(self, claim: _Claim, exc: BaseException, fence: dict[str, Any], fraction: float) -> None:
        stage = f"failed: {exc}" if isinstance(exc, WanggeError) else "failed"
        pause = 0.2
        while True:
            try:
                with self._queue.begin() as conn:
                    conn.execute(text("""
                        UPDATE job SET status = 'failed', stage = :s, fraction = GREATEST(fraction, :f),
                                       error = CAST(:e AS jsonb), finished_at = now()
                        WHERE id = :id AND worker = :w AND attempts = :a AND status = 'running'"""),
                        {"s": stage, "f": fraction, "e": json.dumps(_error_to_row(exc), ensure_ascii=False),
                         **fence})
                return
            except SQLAlchemyError as write_error:
                # The failure may be the database itself: keep trying until it is back (the heartbeat
                # keeps the lease), or until this runner stops and the lease hands the job on.
                if self._stop.is_set():
                    logger.warning("job %s: failure not recorded before shutdown (%s); the lease will re-queue it",
                                   claim.id, write_error.__class__.__name__)
                    return
                self._stop.wait(pause)
                pause = min(pause * 2, 5.0)


def _district_of(parameters: dict[str, Any]) -> str | None:
    for key in ("district_code", "community_code", "street_code"):
        value = parameters.get(key)
        if isinstance(value, str) and len(value) >= 6 and value[:6].isdigit():
            return value[:6]
    return None
