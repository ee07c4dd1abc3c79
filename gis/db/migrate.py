"""Running the Alembic migrations from code (``wangge db migrate``, tests, ``db start``).

Alembic (with Mako and Pygments) is imported by the functions that migrate, not by this module:
``wangge db status`` and ``/health`` only read the head and the current revision.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

import migrations
from gis.db.engine import make_engine, sqlalchemy_url

if TYPE_CHECKING:
    from alembic.config import Config

SCRIPT_LOCATION = Path(next(iter(migrations.__path__)))


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


def head_revision() -> str | None:
    """The newest shipped revision, read from the scripts' text when the history is one plain line.

    Alembic's ScriptDirectory runs every script, and through them imports GeoAlchemy2, shapely and
    numpy: a quarter of a second that ``wangge db status`` would pay to print one string. Anything
    unusual (branches, a revision that is not a literal) is left to Alembic.
    """
    declared = [_declared_revisions(path) for path in (SCRIPT_LOCATION / "versions").glob("*.py")]
    if declared and all(d is not None for d in declared):
        revisions = {d[0] for d in declared if d is not None}
        parents = {p for d in declared if d is not None for p in d[1]}
        heads = revisions - parents
        if len(heads) == 1 and parents <= revisions and len(revisions) == len(declared):
            return heads.pop()
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("postgresql://x@localhost/x")).get_current_head()


# A module-level ``revision = "0010"`` or ``down_revision: str | None = "0009"`` line.
_DECLARATION = re.compile(r"^(?P<name>revision|down_revision)\b[^=\n]*=(?P<value>[^\n#]*)", re.MULTILINE)


def _declared_revisions(path: Path) -> tuple[str, tuple[str, ...]] | None:
    """A script's ``revision`` and ``down_revision`` when both are one-line literals, else None."""
    # A line scan, not ast.parse: parsing the ten scripts took 50 ms, a tenth of the whole status.
    values: dict[str, object] = {}
    for match in _DECLARATION.finditer(path.read_text(encoding="utf-8")):
        try:
            values[match["name"]] = ast.literal_eval(match["value"].strip())
        except (ValueError, SyntaxError):
            return None
    revision, down = values.get("revision"), values.get("down_revision", ...)
    if not isinstance(revision, str):
        return None
    if down is None:
        return revision, ()
    if isinstance(down, str):
        return revision, (down,)
    if isinstance(down, tuple | list) and all(isinstance(d, str) for d in down):
        return revision, tuple(down)
    return None


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
