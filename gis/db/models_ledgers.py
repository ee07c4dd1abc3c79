"""ORM classes of the community ledgers (三张清单: needs, resources, projects), 双报到 and volunteers (issue 22).

Kept apart from gis.db.models so that this work does not rewrite that shared module; it is imported
at the end of it, so ``Base.metadata`` (alembic, the schema test) holds these tables. Migration 0018.
The codes the check constraints list are those of :mod:`gis.ledgers` (the pure rules).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gis.db.models import Base, _district_code, _geom, _now, _one_of
from gis.ledgers import CLAIMANT_KINDS, NEED_SOURCES, NEED_STATUSES, OUTCOMES, PROJECT_STATUSES, PROVIDER_KINDS


class NeedKind(Base):
    """A kind of need (老年助餐, 课后托管, 停车, 充电桩, 无障碍, ...); a community may add its own."""

    __tablename__ = "need_kind"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    # Null: the catalogue every community shares; else the district of the community that added it.
    district_code: Mapped[str | None] = mapped_column(String(6), index=True)
    community_code: Mapped[str | None] = mapped_column(String(12))
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = _now()


class Need(Base):
    """One need of the needs list (需求清单), located and counted (who is affected: numbers, never names)."""

    __tablename__ = "need"
    __table_args__ = (
        _one_of("source", NEED_SOURCES),
        _one_of("status", NEED_STATUSES),
        CheckConstraint("outcome IS NULL OR outcome IN (" + ", ".join(f"'{o}'" for o in OUTCOMES) + ")",
                        name="outcome"),
        CheckConstraint("affected_households >= 0 AND affected_people >= 0", name="affected_nonnegative"),
        Index("ix_need_community_code_status", "community_code", "status"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    district_code: Mapped[str] = _district_code()
    street_code: Mapped[str | None] = mapped_column(String(9))
    community_code: Mapped[str | None] = mapped_column(String(12))
    grid_code: Mapped[str | None] = mapped_column(String(15), index=True)
    kind_code: Mapped[str] = mapped_column(ForeignKey("need_kind.code"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    # Free text may name people: shown only to those who see the need's grid.
    description: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(20))
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visit.id", ondelete="SET NULL"), index=True)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("household.id", ondelete="SET NULL"))
    building_id: Mapped[int | None] = mapped_column(ForeignKey("building.id", ondelete="SET NULL"))
    address: Mapped[str | None] = mapped_column(Text)
    affected_households: Mapped[int] = mapped_column(Integer, server_default="0")
    affected_people: Mapped[int] = mapped_column(Integer, server_default="0")
    # A resident's contact from the public form: personal, shown masked and audited.
    contact_phone: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), server_default="open", index=True)
    outcome: Mapped[str | None] = mapped_column(String(20))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = _now()
    updated_at: Mapped[dt.datetime] = _now()
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    geom: Mapped[Any] = _geom("POINT")


class NeedEvent(Base):
    """One step of a need's history (recorded, matched, closed, ...): an append-only log."""

    __tablename__ = "need_event"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("need.id", ondelete="CASCADE"), index=True)
    district_code: Mapped[str] = _district_code()
    at: Mapped[dt.datetime] = _now()
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class UnitContact(Base):
    """A signed-in user speaking for one resident unit (实有单位): role unit_contact."""

    __tablename__ = "unit_contact"

    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id", ondelete="CASCADE"), index=True)
    district_code: Mapped[str] = _district_code()
    # 双报到: when the unit reported in to its community.
    community_code: Mapped[str | None] = mapped_column(String(12))
    reported_in_at: Mapped[dt.datetime] = _now()


class Volunteer(Base):
    """A volunteer registered with a community; name and phone are personal (masked, audited)."""

    __tablename__ = "volunteer"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    district_code: Mapped[str] = _district_code()
    community_code: Mapped[str] = mapped_column(String(12), index=True)
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(20))
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id", ondelete="SET NULL"))
    org_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id", ondelete="SET NULL"))
    party_member: Mapped[bool] = mapped_column(Boolean, server_default="false")
    created_at: Mapped[dt.datetime] = _now()


class LedgerResource(Base):
    """One entry of the resources list (资源清单): what a unit, facility, party member or volunteer offers."""

    __tablename__ = "ledger_resource"
    __table_args__ = (
        _one_of("provider_kind", PROVIDER_KINDS),
        CheckConstraint("capacity IS NULL OR capacity >= 0", name="capacity_nonnegative"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    district_code: Mapped[str] = _district_code()
    community_code: Mapped[str | None] = mapped_column(String(12), index=True)
    grid_code: Mapped[str | None] = mapped_column(String(15))
    provider_kind: Mapped[str] = mapped_column(String(20))
    org_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id", ondelete="CASCADE"), index=True)
    facility_id: Mapped[int | None] = mapped_column(ForeignKey("facility.id", ondelete="CASCADE"))
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id", ondelete="CASCADE"))
    volunteer_id: Mapped[int | None] = mapped_column(ForeignKey("volunteer.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    # The need kinds it can serve (need_kind codes).
    kind_codes: Mapped[list[str]] = mapped_column(ARRAY(String(40)), server_default="{}")
    available: Mapped[str | None] = mapped_column(Text)
    capacity: Mapped[int | None] = mapped_column(Integer)
    address: Mapped[str | None] = mapped_column(Text)
    contact_name: Mapped[str | None] = mapped_column(String(100))
    contact_phone: Mapped[str | None] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = _now()
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    geom: Mapped[Any] = _geom("POINT")


class LedgerProject(Base):
    """One entry of the projects list (项目清单): a need met with resources, an owner, dates, status, outcome."""

    __tablename__ = "ledger_project"
    __table_args__ = (
        _one_of("status", PROJECT_STATUSES),
        CheckConstraint("ends_on IS NULL OR starts_on IS NULL OR ends_on >= starts_on", name="dates_in_order"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    district_code: Mapped[str] = _district_code()
    community_code: Mapped[str | None] = mapped_column(String(12), index=True)
    grid_code: Mapped[str | None] = mapped_column(String(15))
    need_id: Mapped[int] = mapped_column(ForeignKey("need.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    starts_on: Mapped[dt.date | None] = mapped_column(Date)
    ends_on: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), server_default="planned")
    outcome: Mapped[str | None] = mapped_column(Text)
    posts: Mapped[list[str]] = mapped_column(ARRAY(String(100)), server_default="{}")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = _now()
    version: Mapped[int] = mapped_column(Integer, server_default="1")


class ProjectResource(Base):
    """Which resources a project uses."""

    __tablename__ = "project_resource"

    project_id: Mapped[int] = mapped_column(ForeignKey("ledger_project.id", ondelete="CASCADE"), primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("ledger_resource.id", ondelete="CASCADE"),
                                             primary_key=True)
    district_code: Mapped[str] = _district_code()
    distance_m: Mapped[float | None] = mapped_column(Float)


class ProjectClaim(Base):
    """双报到: a resident unit or a party member claiming a project (or one of its posts)."""

    __tablename__ = "project_claim"
    __table_args__ = (
        _one_of("claimant_kind", CLAIMANT_KINDS),
        CheckConstraint("(claimant_kind = 'unit' AND org_unit_id IS NOT NULL AND resident_id IS NULL) OR "
                        "(claimant_kind = 'party_member' AND resident_id IS NOT NULL AND org_unit_id IS NULL)",
                        name="one_claimant"),
        Index("uq_project_claim_unit", "project_id", "org_unit_id", unique=True,
              postgresql_where=text("org_unit_id IS NOT NULL")),
        Index("uq_project_claim_member", "project_id", "resident_id", unique=True,
              postgresql_where=text("resident_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("ledger_project.id", ondelete="CASCADE"), index=True)
    district_code: Mapped[str] = _district_code()
    claimant_kind: Mapped[str] = mapped_column(String(20))
    org_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id", ondelete="CASCADE"))
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id", ondelete="CASCADE"))
    post: Mapped[str | None] = mapped_column(String(100))
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    claimed_at: Mapped[dt.datetime] = _now()


class VolunteerShift(Base):
    """A volunteer signed up for a project's post, and the hours served (null until recorded)."""

    __tablename__ = "volunteer_shift"
    __table_args__ = (CheckConstraint("hours IS NULL OR (hours > 0 AND hours <= 24)", name="hours_in_a_day"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("ledger_project.id", ondelete="CASCADE"), index=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteer.id", ondelete="CASCADE"), index=True)
    district_code: Mapped[str] = _district_code()
    post: Mapped[str | None] = mapped_column(String(100))
    signed_up_at: Mapped[dt.datetime] = _now()
    served_on: Mapped[dt.date | None] = mapped_column(Date)
    hours: Mapped[float | None] = mapped_column(Float)
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    recorded_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
