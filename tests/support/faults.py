"""Fault injection for the fault tests: stop the database at an exact statement, and compare databases."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import api_world
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gis.db.cluster import EmbeddedCluster
from gis.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def fault_settings() -> Settings:
    return Settings(database_url=None, home=REPO / ".wangge", secret_key=api_world.SECRET)


@dataclass
class Outage:
    """Stop the server just before the ``at``-th statement matching ``pattern`` is sent on ``engine``
    (or, with ``at_commit``, just before the first COMMIT).

    The statement then goes out on a dead connection, exactly as if the database had gone away
    between two statements of the operation. ``mode`` is ``fast`` (a clean restart: the server
    rolls back open transactions) or ``immediate`` (a crash: WAL recovery at the next start).
    """

    cluster: EmbeddedCluster
    pattern: str = r"."
    at: int = 1
    mode: str = "fast"
    at_commit: bool = False
    seen: int = 0
    fired_on: str | None = None
    # Set once the stop has returned. A test that restarts the server itself waits for it: pg_ctl's
    # ``stop -w`` waits until no postmaster.pid is left, so a server started before it returned made
    # it wait out its whole 60 s timeout (the fault fires on the caller's thread, which waited too).
    stopped: bool = False

    def before_statement(self, conn, cursor, statement: str, parameters, context, executemany) -> None:
        matches = re.search(self.pattern, statement, re.IGNORECASE | re.DOTALL)
        if self.at_commit or self.fired_on is not None or not matches:
            return
        self.seen += 1
        if self.seen == self.at:
            self.fired_on = " ".join(statement.split())[:120]
            self.cluster.stop(mode=self.mode)
            self.stopped = True

    def before_commit(self, conn) -> None:
        if self.at_commit and self.fired_on is None:
            self.fired_on = "COMMIT"
            self.cluster.stop(mode=self.mode)
            self.stopped = True


def count_statements(engine: Engine, operation: Callable[[Session], object], pattern: str = r".") -> list[str]:
    """The statements ``operation`` sends (matching ``pattern``), found by running it once and rolling back."""
    sent: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        if re.search(pattern, statement, re.IGNORECASE | re.DOTALL):
            sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        with Session(engine) as session:
            session.begin()
            try:
                operation(session)
            finally:
                session.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return sent


def snapshot(engine: Engine) -> dict[str, tuple[int, str]]:
    """Row count and a content digest of every table: "exactly as it was" means this is unchanged."""
    with engine.connect() as conn:
        tables = conn.scalars(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")).all()
        found = {}
        for table in tables:
            count, digest = conn.execute(text(
                f"SELECT count(*), coalesce(md5(string_agg(md5(t::text), '' ORDER BY md5(t::text))), '') "
                f"FROM public.{table} AS t")).one()
            found[table] = (count, digest)
    return found


def changed(before: dict, after: dict) -> dict[str, tuple]:
    return {t: (before.get(t), after.get(t)) for t in set(before) | set(after) if before.get(t) != after.get(t)}
