"""The boundary levels as tables: one place that says which table holds a level and which column names its parent.

Services build their queries from these (``level_table(level).c[...]``), never by putting a level's name into an
f-string, so a level that is not one of ours cannot reach SQL.
"""

from __future__ import annotations

from sqlalchemy import Table

from gis.db.models import Community, Grid, Street
from gis.errors import InvalidInput

BOUNDARY_MODELS: dict[str, type[Street] | type[Community] | type[Grid]] = {
    "street": Street, "community": Community, "grid": Grid,
}
PARENT_LEVEL = {"street": "district", "community": "street", "grid": "community"}
PARENT_COLUMN = {"street": "district_code", "community": "street_code", "grid": "community_code"}
CODE_LENGTH = {"street": 9, "community": 12, "grid": 15}
PLURAL = {"street": "streets", "community": "communities", "grid": "grids"}


def check_level(level: str, *, field: str = "level") -> str:
    """``level`` if it is street, community or grid; else an ``InvalidInput`` on ``field``."""
    if level not in BOUNDARY_MODELS:
        raise InvalidInput(f"{field} must be one of street, community, grid; got {level!r}", details={"field": field})
    return level


def level_table(level: str) -> Table:
    """The table of boundary level ``level`` (checked)."""
    return BOUNDARY_MODELS[check_level(level)].__table__  # type: ignore[return-value]
