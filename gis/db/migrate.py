"""Running the Alembic migrations from code (``wangge db migrate``, tests, ``db start``).

Alembic (with Mako and Pygments) is imported by the functions that migrate, not by this module:
``wangge db status`` and ``/health`` only read the head and the current revision.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from gis.db.engine import make_engine, sqlalchemy_url
from gis.db.revisions import SCRIPT_LOCATION, head_revision  # noqa: F401  (callers read them here)

if TYPE_CHECKING:
    from alembic.config import Config



def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Compare only our tables: PostGIS and pgRouting bring their own (spatial_ref_sys...)."""
    from geoalchemy2 import alembic_helpers

    from gis.db.models import Base

    if type_ == "table" and reflected and compare_to is None and name not in Base.metadata.tables:
        return False
    return alembic_helpers.include_object(obj, name, type_, reflected, compare_to)


def alembic_config(url: str) -> Config:
    """An Alembic config pointed at ``url`` and at the migrations shipped with the package."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    # '%' must be doubled for configparser; passwords may hold it.
    cfg.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)




def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, None before the first migration (as Alembic reads it)."""
    with engine.connect() as conn:
        if conn.scalar(text("SELECT to_regclass('alembic_version')")) is None:
            return None
        heads = conn.scalars(text("SELECT version_num FROM alembic_version")).all()
    if len(heads) > 1:
        from alembic.util import CommandError

        raise CommandError("Version table 'alembic_version' has more than one head present; "
                           "please use get_current_heads()")
    return heads[0] if heads else None


def migrate(url: str) -> str | None:
    """Upgrade to head and return the revision now in force."""
    upgrade(url)
    engine = make_engine(url)
    try:
        return current_revision(engine)
    finally:
        engine.dispose()
