"""Bringing a database to a usable state: server up, database and extensions there, schema at head."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Engine, make_url

from gis.db import migrate as migrations
from gis.db.cluster import Log
from gis.db.engine import (
    cluster_for,
    database_url,
    describe_url,
    drop_database,
    ensure_database,
    make_engine,
    transaction,
)
from gis.settings import Settings

if TYPE_CHECKING:
    from gis.catalogue import FacilityType


def prepare_database(settings: Settings, *, log: Log = lambda _m: None) -> str:
    """Start the embedded cluster when no URL is set, create the database, migrate; return the URL."""
    if not settings.database_url:
        cluster_for(settings, log=log).start()
    url = database_url(settings)
    ensure_database(url)
    log(f"migrating {describe_url(url)}")
    migrate_and_seed(url)
    return url


def migrate_and_seed(url: str, revision: str = "head") -> None:
    """Schema to ``revision``, then (at head) the reference data the code relies on (the facility catalogue).

    ``wangge db migrate`` comes here too, so a database made with it alone holds the catalogue:
    without it every OSM facility would be dropped as of an unknown type.
    """
    # Imported here, not at the top: `wangge db status` imports this module and needs neither
    # shapely (the catalogue) nor the ORM models.
    from gis.catalogue import load_catalogue

    migrations.upgrade(url, revision)
    if revision != "head" and revision != migrations.head_revision():
        return  # an older schema may lack the catalogue's columns; the upgrade to head seeds it
    engine = make_engine(url)
    try:
        sync_facility_types(engine, load_catalogue())
    finally:
        engine.dispose()


def sync_facility_types(engine: Engine, catalogue: Mapping[str, FacilityType]) -> int:
    """Add catalogue types the database lacks; types already there keep local edits. Returns rows added."""
    from gis.db.models import FacilityType as FacilityTypeRow

    with transaction(engine) as session:
        present = set(session.scalars(select(FacilityTypeRow.code)))
        rows = [
            {"code": ft.code, "name_zh": ft.name_zh, "name_en": ft.name_en, "level": ft.level,
             "radius_m": ft.radius_m, "target_group": ft.target_group, "capacity_per_1000": ft.capacity_per_1000}
            for ft in catalogue.values() if ft.code not in present
        ]
        if rows:
            session.execute(insert(FacilityTypeRow).values(rows).on_conflict_do_nothing())
    return len(rows)


@contextmanager
def scratch_database(settings: Settings, *, prefix: str = "wangge_scratch", server_url: str | None = None,
                     log: Log = lambda _m: None) -> Iterator[str]:
    """A throw-away database at head on ``server_url`` (default: the embedded cluster), dropped afterwards."""
    if server_url is None:
        cluster_for(settings, log=log).start()
        server_url = cluster_for(settings).url("postgres")
    url = make_url(server_url).set(database=f"{prefix}_{uuid.uuid4().hex[:10]}").render_as_string(
        hide_password=False)
    ensure_database(url)
    try:
        migrate_and_seed(url)
        yield url
    finally:
        drop_database(url)
