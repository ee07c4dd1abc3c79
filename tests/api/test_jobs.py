"""Background jobs: 202 with a Location, progress to done with links, failures in the error model, owners only.

Jobs are rows of the durable queue (gis/services/jobs.py); tests/api/test_jobs_queue.py has
several processes, restarts and dead workers.

A job runs in its own session and commits, outside the test's rolled-back transaction; the
``committed`` fixture deletes what the jobs of a test wrote.
"""

from __future__ import annotations

from collections.abc import Iterator

import coverage_town as town
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine

from gis.errors import InvalidInput
from gis.services.jobs import JobRunner, job_kind

EMPTY_DISTRICT = "320197"
WAIT_S = 600  # an upper bound for a stuck job, not a speed requirement


@pytest.fixture
def committed(api_engine: Engine) -> Iterator[None]:
    """Remove the plans and coverage runs committed during the test, and the empty district it may add."""
    with api_engine.begin() as conn:
        plan_max = conn.execute(text("SELECT coalesce(max(id), 0) FROM plan")).scalar_one()
        run_max = conn.execute(text("SELECT coalesce(max(id), 0) FROM coverage_run")).scalar_one()
    yield
    with api_engine.begin() as conn:
        conn.execute(text("DELETE FROM plan WHERE id > :m"), {"m": plan_max})
        conn.execute(text("DELETE FROM coverage_run WHERE id > :m"), {"m": run_max})
        conn.execute(text("DELETE FROM district WHERE code = :d"), {"d": EMPTY_DISTRICT})


def finish(api_app, client: TestClient, headers: dict, response) -> dict:
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == f"/jobs/{job['id']}" and job["status"] in ("queued", "running", "done")
    api_app.state.jobs.wait(job["id"], timeout=WAIT_S)
    got = client.get(f"/jobs/{job['id']}", headers=headers)
    assert got.status_code == 200
    return got.json()


def test_a_district_grid_suggestion_in_the_background(api_app, client: TestClient, as_user, committed) -> None:
    headers = as_user("planner")
    response = client.post("/plans/grid-suggestions", headers=headers,
                           json={"district_code": town.DISTRICT, "min": 30, "max": 150, "background": True})
    job = finish(api_app, client, headers, response)
    assert job["status"] == "done" and job["fraction"] == 1.0 and job["stage"] == "done", job
    assert job["error"] is None and job["kind"] == "grid_suggestions" and job["owner"] == "planner"
    plans = job["result"]["plans"]
    assert sorted(p["scope_code"] for p in plans) == [town.NORTH, town.SOUTH]
    assert job["links"] == [p["href"] for p in plans]
    shown = client.get(job["links"][0], headers=headers)
    assert shown.status_code == 200 and shown.json()["created_by"] == "planner"

    mine = client.get("/jobs", headers=headers).json()["items"]
    assert [j["id"] for j in mine] == [job["id"]] and "result" not in mine[0]
    assert client.get("/jobs", headers=as_user("viewer")).json()["items"] == []
    assert client.get(f"/jobs/{job['id']}", headers=as_user("viewer")).status_code == 404
    assert client.get(f"/jobs/{job['id']}", headers=as_user("admin")).status_code == 200
    assert job["id"] in [j["id"] for j in client.get("/jobs", headers=as_user("admin")).json()["items"]]


def test_a_coverage_run_in_the_background_links_to_the_run(api_app, client: TestClient, as_user,
                                                           committed) -> None:
    headers = as_user("facility")
    response = client.post("/coverage/runs", headers=headers,
                           json={"district_code": town.DISTRICT, "types": ["kindergarten"], "background": True})
    job = finish(api_app, client, headers, response)
    assert job["status"] == "done" and job["fraction"] == 1.0, job
    [link] = job["links"]
    assert link == f"/coverage/runs/{job['result']['run_id']}"
    run = client.get(link, headers=headers).json()
    assert run["types"]["kindergarten"]["district"]["households_covered"] == 120 and run["created_by"] == "facility"


def test_a_failed_job_reports_its_error_in_the_error_model(api_app, api_engine: Engine, client: TestClient, as_user,
                                                           committed) -> None:
    with api_engine.begin() as conn:  # a district the job's own session can see, with nothing in it
        conn.execute(text("INSERT INTO district (code, name) VALUES (:d, '空区')"), {"d": EMPTY_DISTRICT})
    headers = as_user("facility")
    response = client.post("/coverage/runs", headers=headers,
                           json={"district_code": EMPTY_DISTRICT, "types": ["kindergarten"], "background": True})
    job = finish(api_app, client, headers, response)
    assert job["status"] == "failed" and job["fraction"] < 1.0 and job["links"] == []
    assert job["error"]["error"] == "not_found" and job["error"]["status"] == 404
    assert f"district {EMPTY_DISTRICT} has no residential buildings" in job["error"]["message"]
    assert job["stage"].startswith("failed")


SEEN: list[tuple[str, float]] = []


@job_kind("test.progress")
def _reports_progress(_session, progress, *, settings, owner_id, job_id: str, answer: int) -> dict:
    for stage, fraction in (("loading", 0.2), ("computing", 0.6), ("a sub-step restarting its count", 0.1)):
        progress(stage, fraction)
        with _session.bind.connect() as conn:  # as another process would read it
            row = conn.execute(text("SELECT stage, fraction FROM job WHERE id = :id"), {"id": job_id}).one()
        SEEN.append((row.stage, row.fraction))
    return {"answer": answer, "owner_id": owner_id}


@job_kind("test.broken")
def _broken(_session, _progress, **_params) -> None:
    raise RuntimeError("secret internals")


@job_kind("test.refused")
def _refused(_session, _progress, **_params) -> None:
    raise InvalidInput("min: too small", details={"field": "min"})


def test_the_runner_reports_progress_and_hides_internal_errors(api_engine: Engine) -> None:
    queue = JobRunner(api_engine, workers=0)  # nobody else's workers: this test runs each job itself
    SEEN.clear()
    job = queue.submit(kind="test.progress", parameters={"answer": 42}, owner_id=1, owner="admin")
    # The job's own id is a parameter only so that the work can read its row back.
    with api_engine.begin() as conn:
        conn.execute(text("UPDATE job SET parameters = parameters || jsonb_build_object('job_id', id) "
                          "WHERE id = :id"), {"id": job.id})
    assert queue.run_one() == job.id
    done = queue.get(job.id)
    assert SEEN == [("loading", 0.2), ("computing", 0.6), ("a sub-step restarting its count", 0.6)]
    assert (done.status, done.fraction, done.result, done.stage) == ("done", 1.0, {"answer": 42, "owner_id": 1},
                                                                     "done")

    failed = queue.submit(kind="test.broken", owner_id=2)
    rejected = queue.submit(kind="test.refused", owner_id=2)
    assert queue.run_one() == failed.id and queue.run_one() == rejected.id
    failed, rejected = queue.get(failed.id), queue.get(rejected.id)
    assert failed.status == "failed" and isinstance(failed.error, RuntimeError)
    assert "secret internals" not in str(failed.error)  # the row keeps only that it was internal
    assert rejected.stage == "failed: min: too small" and isinstance(rejected.error, InvalidInput)
    assert rejected.error.details == {"field": "min"}
    assert [j.id for j in queue.list(owner_id=2)][:2] == [rejected.id, failed.id]
    with pytest.raises(ValueError, match="unknown job kind 'no.such.kind'"):
        queue.submit(kind="no.such.kind")
    queue.shutdown()


def test_an_internal_failure_reaches_the_client_without_its_internals() -> None:
    from api.routes.jobs import describe_job
    from gis.services.jobs import Job

    job = Job(id="abc", kind="test", owner_id=1, owner="admin", parameters={}, status="failed",
              error=RuntimeError("secret internals"))
    error = describe_job(job)["error"]
    assert error == {"error": "internal", "message": "internal error; the job id names it in the server log",
                     "details": {"job_id": "abc"}, "status": 500}
