"""Shared test helpers and geometries (WKT literals in Nanjing, lon/lat CGCS2000)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

# A 1 km² community-sized square near Xinjiekou and a building inside it.
COMMUNITY_WKT = "MULTIPOLYGON(((118.780 32.040, 118.790 32.040, 118.790 32.049, 118.780 32.049, 118.780 32.040)))"
GRID_WKT = "MULTIPOLYGON(((118.780 32.040, 118.785 32.040, 118.785 32.049, 118.780 32.049, 118.780 32.040)))"
BUILDING_WKT = ("MULTIPOLYGON(((118.7810 32.0410, 118.7813 32.0410, 118.7813 32.0412, 118.7810 32.0412, "
                "118.7810 32.0410)))")
POINT_WKT = "POINT(118.7811 32.0411)"
# The tests' ID key (AES-256, base64url): not the demo key, which only demo mode may use.
ID_KEY = "d2FuZ2dlLXRlc3QtaWQta2V5LXRlc3RzLW9ubHktMDA="


def count_rows(session: Session, table: str) -> int:
    """Rows in ``table``: tests use it to prove that a failed operation changed nothing."""
    return session.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one()


def ewkt(wkt: str, srid: int = 4490) -> str:
    return f"SRID={srid};{wkt}"


@contextmanager
def rolled_back_session(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back at the end, whatever it committed."""
    with engine.connect() as conn:
        outer = conn.begin()
        session = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
        try:
            yield session
        finally:
            session.close()
            outer.rollback()


def copy_database(template_url: str, *, prefix: str) -> str:
    """A new database cloned from ``template_url`` (CREATE DATABASE ... TEMPLATE); drop it when done.

    Cloning a loaded demo takes a second where loading it takes a minute. The template must have
    no other session, so a just-disposed engine elsewhere is waited for a little.
    """
    import time
    import uuid

    import psycopg
    from sqlalchemy.engine import make_url

    from gis.db.engine import libpq_url

    template = make_url(template_url)
    url = template.set(database=f"{prefix}_{uuid.uuid4().hex[:8]}").render_as_string(hide_password=False)
    admin = libpq_url(template.set(database="postgres").render_as_string(hide_password=False))
    for attempt in range(10):
        try:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{make_url(url).database}" TEMPLATE "{template.database}"')
            return url
        except psycopg.errors.ObjectInUse:
            if attempt == 9:
                raise
            time.sleep(1)
    return url


def built_once_per_run(template_url: str, *, name: str, build: Callable[[str], None]) -> str:
    """The database ``name``, cloned from ``template_url`` and filled by ``build(url)``, made once for all workers.

    Every pytest-xdist worker of a run asks for it; the first builds it while holding an advisory lock
    named after it, the others wait on the lock and find it built (a failed build is dropped, so the
    next worker tries again). Nothing here drops it: the run's controller does at the end
    (tests/conftest.py), since no worker knows whether another still needs it.
    """
    import psycopg
    from sqlalchemy.engine import make_url

    from gis.db.engine import drop_database, libpq_url

    template = make_url(template_url)
    url = template.set(database=name).render_as_string(hide_password=False)
    admin = libpq_url(template.set(database="postgres").render_as_string(hide_password=False))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (name,))
        try:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template.database}"')
                try:
                    build(url)
                except BaseException:
                    drop_database(url)
                    raise
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (name,))
    return url


@contextmanager
def fresh_database(template_url: str, *, prefix: str) -> Iterator[str]:
    """A database cloned from ``template_url`` (the session's migrated template), dropped afterwards.

    It holds what ``scratch_database`` would give (schema at head, the catalogue) without migrating again.
    """
    from gis.db.engine import drop_database

    url = copy_database(template_url, prefix=prefix)
    try:
        yield url
    finally:
        drop_database(url)
