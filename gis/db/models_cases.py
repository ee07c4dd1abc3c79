"""ORM classes of departments, summons (吹哨报到) and urging (催办/督办) (issue 18, migration 0016).

Kept apart from gis.db.models so that the case work does not rewrite that shared module; it is
imported at the end of it, so ``Base.metadata`` (alembic, the schema test) holds these tables.
The columns this issue adds to incident, incident_photo and app_user are on those classes.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from gis.db.models import Base, _district_code, _now, _one_of

DEPARTMENT_KINDS = ("functional", "member", "stationed")  # 职能部门, 成员单位, 驻区单位


class Department(Base):
    """A department or unit a case can be handed to or summoned to (职能部门, 成员单位, 驻区单位)."""

    __tablename__ = "department"
    __table_args__ = (
        _one_of("kind", DEPARTMENT_KINDS),
        CheckConstraint("street_code IS NULL OR left(street_code, 6) = district_code", name="street_in_district"),
        UniqueConstraint("district_code", "name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    district_code: Mapped[str] = _district_code()
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(12))
    # A department of one street (a 街道's own office); None: the whole district.
    street_code: Mapped[str | None] = mapped_column(String(9))
    is_active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    created_at: Mapped[dt.datetime] = _now()


class DepartmentCategory(Base):
    """A case category (catalogue code) a department handles."""

    __tablename__ = "department_category"

    department_id: Mapped[int] = mapped_column(ForeignKey("department.id", ondelete="CASCADE"), primary_key=True)
    category_code: Mapped[str] = mapped_column(String(20), primary_key=True, index=True)
    district_code: Mapped[str] = _district_code()


class CaseSummons(Base):
    """One department summoned on a case (吹哨) and its report-in (报到)."""

    __tablename__ = "case_summons"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), index=True)
    district_code: Mapped[str] = _district_code()
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    summoned_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    summoned_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    report_in_hours: Mapped[float] = mapped_column(Float)
    report_in_due_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    reported_in_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    reported_in_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    note: Mapped[str | None] = mapped_column(Text)


class IncidentUrging(Base):
    """One 催办 (urge) or 督办 (supervise) of a late case, and whom it was aimed at."""

    __tablename__ = "incident_urging"
    __table_args__ = (_one_of("kind", ("urge", "supervise")),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), index=True)
    district_code: Mapped[str] = _district_code()
    kind: Mapped[str] = mapped_column(String(10))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    actor_role: Mapped[str] = mapped_column(String(20))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    grid_code: Mapped[str | None] = mapped_column(String(15))
    level: Mapped[str] = mapped_column(String(12))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    target_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    stage: Mapped[str | None] = mapped_column(String(20))
    due_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    overdue: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(Text)
