"""Background jobs: long suggestions and coverage computations run in a worker thread, with progress.

A job runs one function ``work(session, progress)`` in its own database session (from the
engine it is given), committed when the function returns and rolled back when it raises.
The services' ``progress(stage, fraction)`` callbacks feed the job's stage text and fraction.

Jobs live in this process's memory: this suits a single-process deployment (``wangge serve``),
and a restart forgets every job (their results, plans and coverage runs, are in the database).
One worker runs jobs one at a time, because the machine this targets has two cores and one
job already keeps one busy; the others wait as ``queued``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from gis.db.engine import unavailable
from gis.errors import NotFound, WanggeError

logger = logging.getLogger("wangge.jobs")

Progress = Callable[[str, float], None]
Work = Callable[[Session, Progress], Any]
STATUSES = ("queued", "running", "done", "failed")
# Finished jobs kept in memory; older ones are forgotten first.
KEEP_FINISHED = 200


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Job:
    """One background job and what is known of it so far."""

    id: str
    kind: str
    owner_id: int | None
    owner: str | None
    parameters: dict[str, Any]
    status: str = "queued"
    fraction: float = 0.0
    stage: str = "queued"
    created_at: dt.datetime = field(default_factory=_now)
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    result: Any = None
    error: BaseException | None = None
    links: list[str] = field(default_factory=list)
    done_event: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")


class JobRunner:
    """Runs jobs on one worker thread, each in its own session of ``engine``; keeps them in memory."""

    def __init__(self, engine: Engine, *, workers: int = 1, keep_finished: int = KEEP_FINISHED) -> None:
        self._engine = engine
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="wangge-job")
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._keep = keep_finished

    def submit(self, *, kind: str, work: Work, owner_id: int | None = None, owner: str | None = None,
               parameters: dict[str, Any] | None = None,
               links: Callable[[Any], list[str]] | None = None) -> Job:
        """Queue ``work``; ``links(result)`` names what it created (e.g. ``/plans/12``) once it is done."""
        job = Job(id=uuid.uuid4().hex, kind=kind, owner_id=owner_id, owner=owner, parameters=dict(parameters or {}))
        with self._lock:
            self._jobs[job.id] = job
            self._forget_old()
        self._executor.submit(self._run, job, work, links)
        return job

    def _run(self, job: Job, work: Work, links: Callable[[Any], list[str]] | None) -> None:
        def progress(stage: str, fraction: float) -> None:
            with self._lock:
                job.stage = str(stage)
                # Services report per sub-step; the job's fraction never goes backwards.
                job.fraction = max(job.fraction, min(max(float(fraction), 0.0), 1.0))

        with self._lock:
            job.status, job.stage, job.started_at = "running", "starting", _now()
        try:
            with Session(self._engine, expire_on_commit=False) as session, session.begin():
                result = work(session, progress)
            found = links(result) if links is not None else []
        except BaseException as exc:  # the job reports every failure; the worker thread lives on
            if isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated):
                # The database went away mid-job: the transaction died with it, so nothing was
                # written, and the user should hear that resubmitting is the remedy, not "internal error".
                exc = unavailable(self._engine.url.render_as_string(hide_password=True), exc)
                logger.warning("job %s (%s) lost its database: %s", job.id, job.kind, exc.message)
            if not isinstance(exc, WanggeError):
                logger.exception("job %s (%s) failed", job.id, job.kind)
            with self._lock:
                job.status, job.error, job.finished_at = "failed", exc, _now()
                job.stage = f"failed: {exc}" if isinstance(exc, WanggeError) else "failed"
        else:
            with self._lock:
                job.status, job.result, job.links, job.finished_at = "done", result, found, _now()
                job.fraction, job.stage = 1.0, "done"
        finally:
            job.done_event.set()

    def _forget_old(self) -> None:
        finished = [j.id for j in self._jobs.values() if j.finished]
        for job_id in finished[:max(0, len(finished) - self._keep)]:
            del self._jobs[job_id]

    def get(self, job_id: str, *, owner_id: int | None = None) -> Job:
        """The job ``job_id``; NotFound when unknown or, with ``owner_id``, when someone else's."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or (owner_id is not None and job.owner_id != owner_id):
            raise NotFound(f"job {job_id} does not exist (jobs are kept in memory until the server restarts)",
                           details={"job_id": job_id})
        return job

    def list(self, *, owner_id: int | None = None) -> list[Job]:
        """Jobs, newest first; only those of ``owner_id`` when given."""
        with self._lock:
            jobs = list(self._jobs.values())
        return [j for j in reversed(jobs) if owner_id is None or j.owner_id == owner_id]

    def wait(self, job_id: str, *, timeout: float | None = None) -> Job:
        """Block until the job has finished (or ``timeout`` seconds passed); returns it."""
        job = self.get(job_id)
        job.done_event.wait(timeout)
        return job

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop taking jobs; with ``wait``, let the running one finish."""
        self._executor.shutdown(wait=wait, cancel_futures=True)
