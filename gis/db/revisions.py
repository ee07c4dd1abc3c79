"""The migrations' revisions read from their text, without SQLAlchemy or Alembic.

`wangge db status` prints the head revision beside the database's; loading Alembic (and SQLAlchemy, and through
the scripts GeoAlchemy2, shapely and numpy) to read one string from ten files would be most of its start-up.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import migrations

SCRIPT_LOCATION = Path(next(iter(migrations.__path__)))


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

    from gis.db.migrate import alembic_config

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
