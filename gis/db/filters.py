"""The one WHERE builder: conditions with bound parameters, grown filter by filter, for the services' SQL text.

A service starts a :class:`Where` (from its reader's scope when the rows are personal), adds the filters
the caller gave, and splices ``where.sql`` into its statement with ``where.params`` bound. Values never
enter the SQL text; only conditions written in code do. ``given`` keeps the filters as the caller gave
them, which is what an audit row of a personal read names.

Spatial filters (a bounding box, "lies in the current unit") are here too, so every list places a row
in a unit the same way household counts do: by the point on surface of its geometry.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from gis.errors import InvalidInput

Bbox = tuple[float, float, float, float]
_GRID_CODE = re.compile(r"^[0-9]{15}$")

# Rows whose geometry's point on surface lies in the current unit of a level. One literal per level
# (with ``{geom}`` for the row's geometry column), so no level or table name is spliced into SQL.
_IN_CURRENT_UNIT = {
    "street": "EXISTS (SELECT 1 FROM street wu WHERE wu.code = :in_street AND wu.valid_to IS NULL "
              "AND ST_Intersects(wu.geom, {geom}) AND ST_Contains(wu.geom, ST_PointOnSurface({geom})))",
    "community": "EXISTS (SELECT 1 FROM community wu WHERE wu.code = :in_community AND wu.valid_to IS NULL "
                 "AND ST_Intersects(wu.geom, {geom}) AND ST_Contains(wu.geom, ST_PointOnSurface({geom})))",
    "grid": "EXISTS (SELECT 1 FROM grid wu WHERE wu.code = :in_grid AND wu.valid_to IS NULL "
            "AND ST_Intersects(wu.geom, {geom}) AND ST_Contains(wu.geom, ST_PointOnSurface({geom})))",
}

# Buildings whose point on surface lies in the current grid :grid_code (as household counts place them).
BUILDINGS_IN_GRID = """
    SELECT gb.id FROM building gb JOIN grid gg
      ON gg.valid_to IS NULL AND gg.code = :grid_code
     AND ST_Intersects(gg.geom, gb.geom) AND ST_Contains(gg.geom, ST_PointOnSurface(gb.geom))
"""


def check_grid_code(code: str, *, where: str = "grid_code") -> str:
    """A 15-digit grid code, or InvalidInput on field ``where``."""
    if not _GRID_CODE.match(code):
        raise InvalidInput(f"{where}: a grid code has 15 digits, got {code!r}", details={"field": where})
    return code


def _audited(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date | dt.datetime) else value


@dataclass
class Where:
    """A WHERE clause being built: conditions, their bound parameters, and the filters as given (for audit rows)."""

    conditions: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    given: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def scoped(cls, scope: tuple[str, dict[str, Any]]) -> Where:
        """Start from a scope condition (``privacy.scope_filter`` or a ledger's area), which every query carries."""
        return cls([scope[0]], dict(scope[1]))

    def require(self, condition: str, **params: Any) -> None:
        """Add ``condition`` always, with its parameters (a rule of the query, not a caller's filter)."""
        self.conditions.append(condition)
        self.params.update(params)

    def add(self, condition: str, name: str, value: Any, *, audit: bool = True) -> None:
        """Add ``condition`` with ``:name`` bound to ``value``; nothing when ``value`` is None."""
        if value is None:
            return
        self.conditions.append(condition)
        self.params[name] = value
        if audit:
            self.given[name] = _audited(value)

    def equal(self, column: str, name: str, value: Any, *, audit: bool = True) -> None:
        """``column = :name`` when ``value`` is given."""
        self.add(f"{column} = :{name}", name, value, audit=audit)

    def prefix(self, column: str, name: str, value: str | None) -> None:
        """``column`` starts with ``value`` (codes nest, so a prefix is a unit and everything in it)."""
        if value is not None:
            self.add(f"{column} LIKE :{name}", name, value + "%", audit=False)
            self.given[name] = value

    def period(self, column: str, since: dt.datetime | None, until: dt.datetime | None) -> None:
        """``since`` <= column < ``until``, either end open."""
        self.add(f"{column} >= :since", "since", since)
        self.add(f"{column} < :until", "until", until)

    def bbox(self, column: str, bbox: Bbox | None) -> None:
        """Rows whose geometry ``column`` (EPSG:4490) meets the lon/lat box."""
        if bbox is not None:
            self.require(f"{column} && ST_MakeEnvelope(:bx0, :by0, :bx1, :by1, 4490) AND "
                         f"ST_Intersects({column}, ST_MakeEnvelope(:bx0, :by0, :bx1, :by1, 4490))",
                         bx0=bbox[0], by0=bbox[1], bx1=bbox[2], by1=bbox[3])

    def within_unit(self, level: str, code: str | None, geom: str) -> None:
        """Rows whose geometry ``geom`` has its point on surface in the current unit ``code`` of ``level``."""
        if code is not None:
            self.add(_IN_CURRENT_UNIT[level].format(geom=geom), f"in_{level}", code)

    def in_grid(self, building_column: str, grid_code: str | None) -> None:
        """Rows whose building (``building_column`` holds its id) lies in the current grid ``grid_code``."""
        if grid_code is not None:
            self.add(f"{building_column} IN ({BUILDINGS_IN_GRID})", "grid_code", check_grid_code(grid_code))

    @property
    def sql(self) -> str:
        """The conditions joined by AND (TRUE when there are none)."""
        return " AND ".join(self.conditions) if self.conditions else "TRUE"
