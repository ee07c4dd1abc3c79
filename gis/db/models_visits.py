"""ORM classes of household visits and their cadence (issue 18, migration 0017).

Kept apart from gis.db.models so that the work on visits does not rewrite that shared module; it
is imported at the end of it, so ``Base.metadata`` (alembic, the schema test) holds these tables.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gis.db.models import Base, _district_code, _now, _one_of

PURPOSES = ("routine", "care", "info_check", "case_follow_up", "other")


class Visit(Base):
    """A grid worker's visit to a household (入户走访); the findings are sealed (gis.visits.seal_findings)."""

    __tablename__ = "visit"
    __table_args__ = (
        _one_of("purpose", PURPOSES),
        Index("ix_visit_grid_code_visited_at", "grid_code", "visited_at"),
        Index("ix_visit_household_id_visited_at", "household_id", "visited_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    district_code: Mapped[str] = _district_code()
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id", ondelete="CASCADE"))
    # The household's grid when visited, copied so scoped lists and coverage need no spatial join.
    grid_code: Mapped[str] = mapped_column(String(15))
    worker_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    # When the visit happened (an offline phone may send it hours later), not when it arrived.
    visited_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    purpose: Mapped[str] = mapped_column(String(20))
    findings: Mapped[str | None] = mapped_column(Text)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = _now()


class VisitCadence(Base):
    """How many days may pass between visits to a household with a member of ``tag`` (``other``: the rest)."""

    __tablename__ = "visit_cadence"
    __table_args__ = (CheckConstraint("days BETWEEN 1 AND 366", name="days"),)

    district_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    tag: Mapped[str] = mapped_column(String(40), primary_key=True)
    days: Mapped[int] = mapped_column(SmallInteger)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    updated_at: Mapped[dt.datetime] = _now()
