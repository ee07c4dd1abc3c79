"""Running the Alembic migrations from code (``wangge db migrate``, tests, ``db start``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from geoalchemy2 import alembic_helpers
from sqlalchemy.engine import Engine

import migrations

from gis.db.engine import make_engine, sqlalchemy_url

SCRIPT_LOCATION = Path(next(iter(migrations.__path__)))


def include_object(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    """Compare only our tables: PostGIS and pgRouting bring their own (spatial_ref_sys...)."""
    from gis.db.models import Base

    if type_ == "table" and reflected and compare_to is None and name not in Base.metadata.tables:
        return False
    return alembic_helpers.include_object(obj, name, type_, reflected, compare_to)


def alembic_config(url: str) -> Config:
    """An Alembic config pointed at ``url`` and at the migrations shipped with the package."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    # '%' must be doubled for configparser; passwords may hold it.
    cfg.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("postgresql://x@localhost/x")).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(url: str) -> str | None:
    """Upgrade to head and return the revision now in force."""
    upgrade(url)
    engine = make_engine(url)
    try:
        return current_revision(engine)
    finally:
        engine.dispose()
