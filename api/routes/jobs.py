"""Background jobs: status, progress, result or error, and links to what they created.

Jobs are rows of the durable queue (``gis.services.jobs``): any server process queues, runs and
answers for any job, and queued jobs survive a restart. A user sees their own jobs; an admin
sees everyone's. Each process runs ``WANGGE_JOB_WORKERS`` worker threads (0: it only queues).
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from api.deps import PrincipalDep
from api.errors import ERROR_RESPONSES, error_body, public_message, status_for
from api.schemas.jobs import JobListPublic, JobPublic
from gis.errors import WanggeError
from gis.services.jobs import Job, JobLost, JobRunner
from gis.services.users import Principal

router = APIRouter(tags=["jobs"], responses=ERROR_RESPONSES)
_RUNNER_LOCK = threading.Lock()


def job_runner(app: Any) -> JobRunner:
    """The app's job runner, made on first use with the app's engine and started (its workers polling)."""
    state = app.state
    with _RUNNER_LOCK:
        runner = getattr(state, "jobs", None)
        if runner is None:
            settings = state.settings
            runner = state.jobs = JobRunner(state.engine, settings=settings, workers=settings.job_workers,
                                            lease_seconds=settings.job_lease_seconds,
                                            poll_seconds=settings.job_poll_seconds)
            runner.start()
    return runner


def get_job_runner(request: Request) -> JobRunner:
    """The app's job runner (a dependency)."""
    return job_runner(request.app)


JobsDep = Annotated[JobRunner, Depends(get_job_runner)]
# What a route that takes ``"background": true`` declares besides its own answer.
JOB_STARTED: dict[int | str, dict[str, Any]] = {
    202: {"description": "Started as a background job (background: true): the job as GET /jobs/{job_id} shows it; "
                         "Location names it", "model": JobPublic},
}


def describe_job(job: Job, *, with_result: bool = True) -> dict[str, Any]:
    """A job as the API shows it; a failure in the one error model, with the status it would have had."""
    out: dict[str, Any] = {
        "id": job.id, "href": f"/jobs/{job.id}", "kind": job.kind, "status": job.status,
        "fraction": round(job.fraction, 4), "stage": job.stage, "owner": job.owner, "parameters": job.parameters,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "links": job.links, "error": None,
    }
    if job.error is not None:
        exc = job.error
        if isinstance(exc, WanggeError):
            message = public_message(exc)
            if message != exc.message:  # the stage repeats the message: the server's own words stay in its log
                out["stage"], details = f"failed: {message}", {"job_id": job.id}
            else:
                details = exc.details
            # A lost job is the server's failure, not the caller's: 500, though its words are for people.
            status = 500 if isinstance(exc, JobLost) else status_for(exc)
            out["error"] = {**error_body(exc.code, message, details), "status": status}
        else:  # the log has the traceback; the client gets the job id to name it
            out["error"] = {**error_body("internal", "internal error; the job id names it in the server log",
                                         {"job_id": job.id}), "status": 500}
    if with_result:
        out["result"] = job.result
    return out


def start_job(runner: JobRunner, principal: Principal, *, kind: str, parameters: dict[str, Any]) -> JSONResponse:
    """Queue a job of ``kind`` (registered with ``gis.services.jobs.job_kind``) for ``principal``; 202 with Location."""
    job = runner.submit(kind=kind, owner_id=principal.user_id, owner=principal.username, parameters=parameters)
    return JSONResponse(describe_job(job), status_code=202, headers={"Location": f"/jobs/{job.id}"})


@router.get("/jobs", summary="Your background jobs, newest first (admins: everyone's)",
            response_model=JobListPublic, response_model_exclude_unset=True)  # a listed job has no result
def list_jobs(runner: JobsDep, principal: PrincipalDep) -> dict[str, Any]:
    owner = None if principal.role == "admin" else principal.user_id
    jobs = [describe_job(j, with_result=False) for j in runner.list(owner_id=owner)]
    return {"items": jobs, "total": len(jobs)}


@router.get("/jobs/{job_id}", summary="A background job: status, progress, result or error",
            response_model=JobPublic)
def get_job(job_id: str, runner: JobsDep, principal: PrincipalDep) -> dict[str, Any]:
    owner = None if principal.role == "admin" else principal.user_id
    return describe_job(runner.get(job_id, owner_id=owner))
