"""Queries over the boundary units (streets, communities, grids) that more than one service reads.

A unit's households are those of the buildings whose point on surface lies in it (as
``gis.services.boundaries.household_counts`` counts them), summed in a LATERAL subquery so that
one query returns each unit with its figures.
"""

from __future__ import annotations

from sqlalchemy import FromClause, Integer, func, select
from sqlalchemy.sql.selectable import LateralFromClause

from gis.db.models import Building


def unit_households(unit: FromClause) -> LateralFromClause:
    """LATERAL ``hh`` of ``unit``: ``households``, ``estimated`` (of them) and ``buildings`` inside it.

    Join it to the unit with ``unit.outerjoin(hh, sqlalchemy.true())``.
    """
    b = Building.__table__.alias("b")
    households = func.coalesce(func.sum(b.c.households), 0)
    estimated = func.coalesce(func.sum(b.c.households).filter(b.c.households_source == "estimated"), 0)
    return select(
        households.cast(Integer).label("households"),
        estimated.cast(Integer).label("estimated"),
        func.count(b.c.id).cast(Integer).label("buildings"),
    ).where(
        func.ST_Intersects(unit.c.geom, b.c.geom), func.ST_Contains(unit.c.geom, func.ST_PointOnSurface(b.c.geom)),
    ).lateral("hh")
