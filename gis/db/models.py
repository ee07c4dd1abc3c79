"""Schema v1: the ORM models. Migrations in ``migrations/`` must agree with these (tested).

Conventions, so that the schema stays shardable by district (see docs/scaling.md):
every large table carries ``district_code`` (the 6-digit adcode); every geometry column is
``geom`` with an explicit type, SRID 4490 (CGCS2000) and a GiST index; boundaries are
versioned rows (``valid_from``/``valid_to``) and never overwritten in place; rows that users
edit carry an optimistic-concurrency ``version``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from geoalchemy2 import Geometry
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
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gis.roles import ROLES  # noqa: F401  (kept importable from here: api.access, gis.services.users)

SRID = 4490

# Deterministic constraint names, so that migrations can drop what they created.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSONB}


def _geom(kind: str, *, nullable: bool = False) -> Mapped[Any]:
    return mapped_column(Geometry(kind, srid=SRID, spatial_index=True), nullable=nullable)


def _district_code() -> Mapped[str]:
    return mapped_column(String(6), index=True)


def _now() -> Mapped[dt.datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now())


def _one_of(column: str, values: tuple[str, ...], name: str | None = None) -> CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({listed})", name=name or column)


def _digits(column: str, n: int) -> CheckConstraint:
    return CheckConstraint(f"{column} ~ '^[0-9]{{{n}}}$'", name=f"{column}_digits")


# --- administrative boundaries ------------------------------------------------------------


class District(Base):
    """A district (区), the unit of sharding and of per-district analysis jobs."""

    __tablename__ = "district"
    __table_args__ = (_digits("code", 6),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(6), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    geom: Mapped[Any] = _geom("MULTIPOLYGON", nullable=True)
    # Bumped whenever the walk network changes, so cached routing graphs know to reload.
    network_version: Mapped[int] = mapped_column(Integer, server_default="0")
    source: Mapped[str | None] = mapped_column(Text)
    attribution: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = _now()


def _boundary_table_args(table: str, code_digits: int) -> tuple[Any, ...]:
    return (
        _digits("code", code_digits),
        CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="valid_period"),
        # At most one current version per code; history rows share the code.
        Index(f"uq_{table}_current_code", "code", unique=True, postgresql_where=text("valid_to IS NULL")),
    )


class _BoundaryVersion:
    """Columns shared by versioned boundary rows (street, community, grid)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    district_code: Mapped[str] = _district_code()
    name: Mapped[str] = mapped_column(String(100))
    valid_from: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    valid_to: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    reason: Mapped[str | None] = mapped_column(Text)
    four_limits: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime] = _now()


class Street(_BoundaryVersion, Base):
    """A street/subdistrict (街道/镇) boundary version."""

    __tablename__ = "street"
    __table_args__ = _boundary_table_args("street", 9)

    code: Mapped[str] = mapped_column(String(9), index=True)
    geom: Mapped[Any] = _geom("MULTIPOLYGON")
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plan.id"))
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    # A district without streets stands as one provisional street until real boundaries are imported.
    provisional: Mapped[bool] = mapped_column(Boolean, server_default="false")


class Community(_BoundaryVersion, Base):
    """A community (社区/村) boundary version."""

    __tablename__ = "community"
    __table_args__ = _boundary_table_args("community", 12)

    code: Mapped[str] = mapped_column(String(12), index=True)
    street_code: Mapped[str] = mapped_column(String(9), index=True)
    geom: Mapped[Any] = _geom("MULTIPOLYGON")
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plan.id"))
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))


class Grid(_BoundaryVersion, Base):
    """A grid (网格) boundary version: 15-digit code, general or dedicated, level 1 or 2."""

    __tablename__ = "grid"
    __table_args__ = (
        *_boundary_table_args("grid", 15),
        _one_of("kind", ("general", "dedicated")),
        CheckConstraint("level IN (1, 2)", name="level"),
    )

    code: Mapped[str] = mapped_column(String(15), index=True)
    community_code: Mapped[str] = mapped_column(String(12), index=True)
    kind: Mapped[str] = mapped_column(String(20), server_default="general")
    level: Mapped[int] = mapped_column(SmallInteger, server_default="1")
    parent_grid_code: Mapped[str | None] = mapped_column(String(15))
    geom: Mapped[Any] = _geom("MULTIPOLYGON")
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plan.id"))
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))


# --- buildings and people -----------------------------------------------------------------


class Compound(Base):
    """A residential compound (小区/院落)."""

    __tablename__ = "compound"

    id: Mapped[int] = mapped_column(primary_key=True)
    district_code: Mapped[str] = _district_code()
    osm_id: Mapped[int | None] = mapped_column(BigInteger)
    name: Mapped[str | None] = mapped_column(String(200))
    geom: Mapped[Any] = _geom("MULTIPOLYGON")


class CompoundGate(Base):
    """A gate of a compound: the entrance people walk through."""

    __tablename__ = "compound_gate"

    id: Mapped[int] = mapped_column(primary_key=True)
    district_code: Mapped[str] = _district_code()
    compound_id: Mapped[int] = mapped_column(ForeignKey("compound.id", ondelete="CASCADE"), index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    geom: Mapped[Any] = _geom("POINT")


class Building(Base):
    """A building footprint with its floors and households (recorded or estimated)."""

    __tablename__ = "building"
    __table_args__ = (
        _one_of("households_source", ("recorded", "estimated")),
        CheckConstraint("households >= 0", name="households_nonnegative"),
        Index("ix_building_district_osm", "district_code", "osm_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    district_code: Mapped[str] = _district_code()
    osm_id: Mapped[int | None] = mapped_column(BigInteger)
    name: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str | None] = mapped_column(String(50))
    levels: Mapped[int | None] = mapped_column(SmallInteger)
    height_m: Mapped[float | None] = mapped_column(Float)
    floors: Mapped[int | None] = mapped_column(SmallInteger)
    floors_estimated: Mapped[bool] = mapped_column(Boolean, server_default="true")
    area_m2: Mapped[float | None] = mapped_column(Float)
    households: Mapped[int] = mapped_column(Integer, server_default="0")
    households_source: Mapped[str] = mapped_column(String(10), server_default="estimated")
    # Why the count is what it is (migration 0006): a code of gis.households.REASONS and its parameters;
    # a recorded count also keeps who set it, when and why.
    households_reason: Mapped[str | None] = mapped_column(String(40))
    households_reason_detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    households_recorded_by: Mapped[str | None] = mapped_column(String(100))
    households_recorded_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    households_recorded_reason: Mapped[str | None] = mapped_column(Text)
    compound_id: Mapped[int | None] = mapped_column(ForeignKey("compound.id", ondelete="SET NULL"), index=True)
    address: Mapped[str | None] = mapped_column(Text)
    synthetic: Mapped[bool] = mapped_column(Boolean, server_default="false")
    geom: Mapped[Any] = _geom("MULTIPOLYGON")
    created_at: Mapped[dt.datetime] = _now()


class Dwelling(Base):
    """A dwelling with its standard address (一标三实: 楼栋-单元-楼层-房号)."""

    __tablename__ = "dwelling"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    district_code: Mapped[str] = _district_code()
    building_id: Mapped[int] = mapped_column(ForeignKey("building.id", ondelete="CASCADE"), index=True)
    unit: Mapped[str | None] = mapped_column(String(20))
    floor: Mapped[int | None] = mapped_column(SmallInteger)
    room: Mapped[str | None] = mapped_column(String(20))
    address: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[Any] = _geom("POINT", nullable=True)


class Household(Base):
    """A household living in a dwelling (人房关联)."""

    __tablename__ = "household"
    __table_args__ = (Index("uq_household_district_no", "district_code", "household_no", unique=True,
                            postgresql_where=text("household_no IS NOT NULL")),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    district_code: Mapped[str] = _district_code()
    building_id: Mapped[int] = mapped_column(ForeignKey("building.id", ondelete="CASCADE"), index=True)
    dwelling_id: Mapped[int | None] = mapped_column(ForeignKey("dwelling.id", ondelete="SET NULL"), index=True)
    # 户编号 of a population register; None for synthetic households. Re-imports find the household by it.
    household_no: Mapped[str | None] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(SmallInteger, server_default="1")
    synthetic: Mapped[bool] = mapped_column(Boolean, server_default="false")
    created_at: Mapped[dt.datetime] = _now()


class Resident(Base):
    """A resident's ordinary attributes. Identity numbers and sensitive tags live in ResidentPrivate."""

    __tablename__ = "resident"
    __table_args__ = (
        _one_of("residency", ("permanent", "floating", "overseas")),
        _one_of("sex", ("M", "F")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    district_code: Mapped[str] = _district_code()
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id", ondelete="CASCADE"), index=True)
    # Denormalised from the household so grid-scoped queries need one join, not three.
    building_id: Mapped[int] = mapped_column(ForeignKey("building.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    sex: Mapped[str] = mapped_column(String(1))
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    relation: Mapped[str | None] = mapped_column(String(20))
    residency: Mapped[str] = mapped_column(String(10), server_default="permanent")
    # 户籍地址 from a register; 人户分离 when it lies outside the building the person lives in.
    registered_address: Mapped[str | None] = mapped_column(Text)
    registered_building_id: Mapped[int | None] = mapped_column(ForeignKey("building.id", ondelete="SET NULL"))
    separated: Mapped[bool] = mapped_column(Boolean, server_default="false")
    party_member: Mapped[bool] = mapped_column(Boolean, server_default="false")
    # 预备党员 (migration 0012): a party member not yet full; branches need 3 full members.
    party_probationary: Mapped[bool] = mapped_column(Boolean, server_default="false")
    synthetic: Mapped[bool] = mapped_column(Boolean, server_default="false")
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    created_at: Mapped[dt.datetime] = _now()
    updated_at: Mapped[dt.datetime] = _now()


class ResidentPrivate(Base):
    """Sensitive personal data (PIPL art. 28), kept apart: ID and phone numbers, key-population tags."""

    __tablename__ = "resident_private"

    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id", ondelete="CASCADE"), primary_key=True)
    district_code: Mapped[str] = _district_code()
    # Ciphertext (gis.idnumbers: wg1.<key id>.<data>), its keyed lookup hash, and the masked form shown.
    id_number: Mapped[str | None] = mapped_column(Text)
    id_number_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    id_number_masked: Mapped[str | None] = mapped_column(String(18))
    phone: Mapped[str | None] = mapped_column(String(20))
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(40)), server_default="{}")
    health_notes: Mapped[str | None] = mapped_column(Text)


class ResidentAway(Base):
    """人户分离, the other way: registered (户籍) in the district, living elsewhere. Kept and counted, never shown."""

    __tablename__ = "resident_away"
    __table_args__ = (Index("uq_resident_away_district_hash", "district_code", "id_number_hash", unique=True),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    district_code: Mapped[str] = _district_code()
    household_no: Mapped[str | None] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100))
    sex: Mapped[str] = mapped_column(String(1))
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    id_number: Mapped[str] = mapped_column(Text)
    id_number_hash: Mapped[str] = mapped_column(String(64))
    id_number_masked: Mapped[str] = mapped_column(String(18))
    registered_address: Mapped[str | None] = mapped_column(Text)
    registered_building_id: Mapped[int | None] = mapped_column(ForeignKey("building.id", ondelete="SET NULL"))
    address: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = _now()


class ResidentMove(Base):
    """A move seen between two register imports: from one address (or away) to another."""

    __tablename__ = "resident_move"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    district_code: Mapped[str] = _district_code()
    id_number_hash: Mapped[str] = mapped_column(String(64), index=True)
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id", ondelete="SET NULL"))
    from_building_id: Mapped[int | None] = mapped_column(ForeignKey("building.id", ondelete="SET NULL"))
    to_building_id: Mapped[int | None] = mapped_column(ForeignKey("building.id", ondelete="SET NULL"))
    from_address: Mapped[str | None] = mapped_column(Text)
    to_address: Mapped[str | None] = mapped_column(Text)
    source_file: Mapped[str | None] = mapped_column(Text)
    moved_at: Mapped[dt.datetime] = _now()


class StandardAddress(Base):
    """A standard address (标准地址) and the building it was attached to, with how."""

    __tablename__ = "standard_address"
    __table_args__ = (
        _one_of("match", ("building_id", "inside", "nearest", "ambiguous", "unmatched")),
        Index("uq_standard_address_district_key", "district_code", "address_key", unique=True),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    district_code: Mapped[str] = _district_code()
    address: Mapped[str] = mapped_column(Text)
    # The normalised form (gis.io.registers.normalise_address) that register addresses are matched on.
    address_key: Mapped[str] = mapped_column(Text)
    building_id: Mapped[int | None] = mapped_column(ForeignKey("building.id", ondelete="SET NULL"), index=True)
    match: Mapped[str] = mapped_column(String(12))
    distance_m: Mapped[float | None] = mapped_column(Float)
    geom: Mapped[Any] = _geom("POINT", nullable=True)
    created_at: Mapped[dt.datetime] = _now()


class OrgUnit(Base):
    """实有单位: an organisation or shop at an address, with a contact."""

    __tablename__ = "org_unit"
    __table_args__ = (Index("uq_org_unit_district_key", "district_code", "unit_key", unique=True),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    district_code: Mapped[str] = _district_code()
    # 统一社会信用代码 when given, else name and normalised address: what re-imports match on.
    unit_key: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str | None] = mapped_column(String(40))
    credit_code: Mapped[str | None] = mapped_column(String(18))
    address: Mapped[str | None] = mapped_column(Text)
    building_id: Mapped[int | None] = mapped_column(ForeignKey("building.id", ondelete="SET NULL"), index=True)
    contact_name: Mapped[str | None] = mapped_column(String(100))
    contact_phone: Mapped[str | None] = mapped_column(String(20))
    employees: Mapped[int | None] = mapped_column(Integer)
    geom: Mapped[Any] = _geom("POINT", nullable=True)
    created_at: Mapped[dt.datetime] = _now()


class PartyOrg(Base):
    """A party organisation following the grid: 网格党支部 or 楼栋党小组."""

    __tablename__ = "party_org"
    __table_args__ = (
        _one_of("kind", ("grid_branch", "building_group")),
        # One branch per grid (migration 0012); groups are per building or level-2 grid.
        Index("uq_party_org_grid_branch", "grid_code", unique=True, postgresql_where=text("kind = 'grid_branch'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    district_code: Mapped[str] = _district_code()
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    grid_code: Mapped[str | None] = mapped_column(String(15), index=True)
    building_id: Mapped[int | None] = mapped_column(ForeignKey("building.id", ondelete="SET NULL"), index=True)
    secretary_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = _now()


class GridContact(Base):
    """A building or unit head (楼栋长/单元长) of a level-2 grid; the phone is only ever shown masked."""

    __tablename__ = "grid_contact"
    __table_args__ = (_one_of("role", ("building_head", "unit_head")),)

    id: Mapped[int] = mapped_column(primary_key=True)
    district_code: Mapped[str] = _district_code()
    grid_code: Mapped[str] = mapped_column(String(15), index=True)
    role: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(20))
    building_id: Mapped[int | None] = mapped_column(ForeignKey("building.id", ondelete="SET NULL"))
    unit: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = _now()


# --- facilities and the walk network ------------------------------------------------------


class FacilityType(Base):
    """The facility catalogue (GB 50180-2018 life circles); editable per deployment."""

    __tablename__ = "facility_type"
    __table_args__ = (_one_of("level", ("5min", "10min", "15min", "block")),)

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(10))
    radius_m: Mapped[float] = mapped_column(Float)
    target_group: Mapped[str] = mapped_column(String(20))
    capacity_per_1000: Mapped[float | None] = mapped_column(Float)


class Facility(Base):
    """A public service facility located at a point."""

    __tablename__ = "facility"

    id: Mapped[int] = mapped_column(primary_key=True)
    district_code: Mapped[str] = _district_code()
    type_code: Mapped[str] = mapped_column(ForeignKey("facility_type.code"), index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    osm_id: Mapped[int | None] = mapped_column(BigInteger)
    capacity: Mapped[int | None] = mapped_column(Integer)
    floor_area_m2: Mapped[float | None] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(Text)
    classified_by: Mapped[str | None] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(20), server_default="manual")
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    geom: Mapped[Any] = _geom("POINT")
    created_at: Mapped[dt.datetime] = _now()


class WalkNode(Base):
    """A node of the walking network."""

    __tablename__ = "walk_node"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    district_code: Mapped[str] = _district_code()
    osm_id: Mapped[int | None] = mapped_column(BigInteger)
    geom: Mapped[Any] = _geom("POINT")


class WalkEdge(Base):
    """An undirected walkable segment; ``cost``/``reverse_cost`` in metres, as pgRouting expects."""

    __tablename__ = "walk_edge"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    district_code: Mapped[str] = _district_code()
    source: Mapped[int] = mapped_column(ForeignKey("walk_node.id", ondelete="CASCADE"), index=True)
    target: Mapped[int] = mapped_column(ForeignKey("walk_node.id", ondelete="CASCADE"), index=True)
    length_m: Mapped[float] = mapped_column(Float)
    cost: Mapped[float] = mapped_column(Float)
    reverse_cost: Mapped[float] = mapped_column(Float)
    highway: Mapped[str | None] = mapped_column(String(40))
    is_main_road: Mapped[bool] = mapped_column(Boolean, server_default="false")
    name: Mapped[str | None] = mapped_column(String(200))
    osm_id: Mapped[int | None] = mapped_column(BigInteger)
    geom: Mapped[Any] = _geom("LINESTRING")


class Barrier(Base):
    """A line or area people cannot cross freely: waterways, water bodies, railways."""

    __tablename__ = "barrier"
    __table_args__ = (_one_of("kind", ("waterway", "water", "railway")),)

    id: Mapped[int] = mapped_column(primary_key=True)
    district_code: Mapped[str] = _district_code()
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str | None] = mapped_column(String(200))
    osm_id: Mapped[int | None] = mapped_column(BigInteger)
    geom: Mapped[Any] = _geom("GEOMETRY")


# --- plans --------------------------------------------------------------------------------


class Plan(Base):
    """A suggested or hand-made set of boundaries: a draft until adopted."""

    __tablename__ = "plan"
    __table_args__ = (
        _one_of("kind", ("grid_split", "community_redraw", "manual_edit", "import", "micro_split")),
        _one_of("status", ("draft", "proposed", "reviewed", "approved", "adopted", "archived")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    district_code: Mapped[str] = _district_code()
    kind: Mapped[str] = mapped_column(String(20))
    scope_code: Mapped[str] = mapped_column(String(15), index=True)
    status: Mapped[str] = mapped_column(String(10), server_default="draft")
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    base_plan_id: Mapped[int | None] = mapped_column(ForeignKey("plan.id"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[dt.datetime] = _now()
    adopted_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    adopted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    # The approval's document number (批复文号), set by the approve step of the chain.
    document_no: Mapped[str | None] = mapped_column(String(100))


class PlanApproval(Base):
    """One step of a plan's approval chain: who moved it from which status to which, when, and why."""

    __tablename__ = "plan_approval"
    __table_args__ = (_one_of("step", ("propose", "review", "approve", "return", "adopt")),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id", ondelete="CASCADE"), index=True)
    district_code: Mapped[str] = _district_code()
    step: Mapped[str] = mapped_column(String(10))
    from_status: Mapped[str] = mapped_column(String(10))
    to_status: Mapped[str] = mapped_column(String(10))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    at: Mapped[dt.datetime] = _now()
    note: Mapped[str | None] = mapped_column(Text)
    document_no: Mapped[str | None] = mapped_column(String(100))


class CommunityCode(Base):
    """A community code given out by a plan: provisional until the statistics bureau confirms it.

    Kept by code rather than on the versioned community rows, so edits and reverts that write
    new versions never lose it; imported codes have no row and count as confirmed.
    """

    __tablename__ = "community_code"
    __table_args__ = (
        _one_of("status", ("provisional", "confirmed")),
        _one_of("committee", ("neighbourhood", "village")),
    )

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    district_code: Mapped[str] = _district_code()
    status: Mapped[str] = mapped_column(String(12), server_default="provisional")
    committee: Mapped[str] = mapped_column(String(15))
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plan.id"))
    issued_at: Mapped[dt.datetime] = _now()
    confirmed_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)


class PlanUnit(Base):
    """One proposed unit (grid or community) of a plan."""

    __tablename__ = "plan_unit"
    __table_args__ = (_one_of("kind", ("general", "dedicated")),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id", ondelete="CASCADE"), index=True)
    district_code: Mapped[str] = _district_code()
    label: Mapped[str] = mapped_column(String(50))
    code: Mapped[str | None] = mapped_column(String(15))
    parent_code: Mapped[str | None] = mapped_column(String(15))
    kind: Mapped[str] = mapped_column(String(20), server_default="general")
    locked: Mapped[bool] = mapped_column(Boolean, server_default="false")
    households: Mapped[int] = mapped_column(Integer, server_default="0")
    geom: Mapped[Any] = _geom("MULTIPOLYGON")


class PlanAssignment(Base):
    """Which plan unit a building falls in, so that plan diffs can name what moves."""

    __tablename__ = "plan_assignment"

    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id", ondelete="CASCADE"), primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("building.id", ondelete="CASCADE"), primary_key=True)
    plan_unit_id: Mapped[int] = mapped_column(ForeignKey("plan_unit.id", ondelete="CASCADE"), index=True)
    district_code: Mapped[str] = _district_code()


# --- incidents and patrols ----------------------------------------------------------------


class Incident(Base):
    """A case (事件) located at a point and routed to its grid."""

    __tablename__ = "incident"
    __table_args__ = (
        _one_of("category_class", ("event", "component")),
        _one_of("urgency", ("normal", "urgent")),
        _one_of("source", ("patrol", "hotline_12345", "resident", "video", "higher_level", "open311")),
        _one_of("area", ("urban", "rural")),  # migration 0004
        _one_of("level", ("grid", "community", "street", "department")),  # migration 0016
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    district_code: Mapped[str] = _district_code()
    street_code: Mapped[str | None] = mapped_column(String(9))
    community_code: Mapped[str | None] = mapped_column(String(12))
    grid_code: Mapped[str | None] = mapped_column(String(15), index=True)
    category_class: Mapped[str] = mapped_column(String(10))
    category: Mapped[str] = mapped_column(String(50))
    subcategory: Mapped[str | None] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(20))
    urgency: Mapped[str] = mapped_column(String(10), server_default="normal")
    status: Mapped[str] = mapped_column(String(20), server_default="reported", index=True)
    address: Mapped[str | None] = mapped_column(Text)
    building_id: Mapped[int | None] = mapped_column(ForeignKey("building.id", ondelete="SET NULL"))
    reported_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    reporter_contact: Mapped[str | None] = mapped_column(String(100))
    reported_at: Mapped[dt.datetime] = _now()
    due_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    satisfaction: Mapped[int | None] = mapped_column(SmallInteger)
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("incident.id"))
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    geom: Mapped[Any] = _geom("POINT")
    # migration 0004 (the case loop): catalogue code, urban/rural limits, who holds the case now
    category_code: Mapped[str | None] = mapped_column(String(20))
    area: Mapped[str] = mapped_column(String(10), server_default="urban")
    handler_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    # migration 0016 (issue 18): who holds it (grid, community, street, department), which department, 随手办
    level: Mapped[str] = mapped_column(String(12), server_default="grid")
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), index=True)
    quick_fix: Mapped[bool] = mapped_column(Boolean, server_default="false")


class IncidentEvent(Base):
    """One transition of a case. Append-only: a trigger refuses updates and deletes."""

    __tablename__ = "incident_event"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), index=True)
    district_code: Mapped[str] = _district_code()
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    at: Mapped[dt.datetime] = _now()
    action: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[Any] = _geom("POINT", nullable=True)
    # migration 0004: system/citizen act without a user id; what the action assigned or scored
    actor_role: Mapped[str | None] = mapped_column(String(20))
    handler_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    satisfaction: Mapped[int | None] = mapped_column(SmallInteger)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class IncidentPhoto(Base):
    """A photo attached to a case, stored as a file; the row keeps its checksum."""

    __tablename__ = "incident_photo"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), index=True)
    district_code: Mapped[str] = _district_code()
    path: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(50))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[dt.datetime] = _now()
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))  # migration 0004
    kind: Mapped[str | None] = mapped_column(String(10))  # migration 0016: before/after of a 随手办


class Patrol(Base):
    """A grid worker's patrol track (行踪轨迹: sensitive, kept for a retention period)."""

    __tablename__ = "patrol"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    district_code: Mapped[str] = _district_code()
    worker_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    grid_code: Mapped[str] = mapped_column(String(15), index=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    length_m: Mapped[float | None] = mapped_column(Float)
    point_count: Mapped[int] = mapped_column(Integer, server_default="0")
    source_name: Mapped[str | None] = mapped_column(Text)
    uploaded_at: Mapped[dt.datetime] = _now()
    geom: Mapped[Any] = _geom("LINESTRING", nullable=True)


class PatrolPoint(Base):
    """One timestamped point of a patrol track."""

    __tablename__ = "patrol_point"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    patrol_id: Mapped[int] = mapped_column(ForeignKey("patrol.id", ondelete="CASCADE"), index=True)
    district_code: Mapped[str] = _district_code()
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    geom: Mapped[Any] = _geom("POINT")


# --- users, access and audit --------------------------------------------------------------


class Role(Base):
    """A role; what each role may do is declared in one table in the API."""

    __tablename__ = "role"

    code: Mapped[str] = mapped_column(String(30), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(50))
    name_en: Mapped[str] = mapped_column(String(50))


class AppUser(Base):
    """A person who signs in."""

    __tablename__ = "app_user"
    __table_args__ = (
        CheckConstraint("street_code IS NULL OR (street_code ~ '^[0-9]{9}$' AND district_code IS NOT NULL "
                        "AND left(street_code, 6) = district_code)", name="street_in_district"),
        CheckConstraint("community_code IS NULL OR (community_code ~ '^[0-9]{12}$' AND district_code IS NOT NULL "
                        "AND left(community_code, 6) = district_code)", name="community_in_district"),  # 0016
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    role_code: Mapped[str] = mapped_column(ForeignKey("role.code"))
    phone: Mapped[str | None] = mapped_column(String(20))
    district_code: Mapped[str | None] = mapped_column(String(6))
    # A user scoped to one street of their district (the 街道 that proposes plans); None: the whole district.
    street_code: Mapped[str | None] = mapped_column(String(9))
    # migration 0016: a community officer's community; a department_staff user's department
    community_code: Mapped[str | None] = mapped_column(String(12))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    is_active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    created_at: Mapped[dt.datetime] = _now()


class GridAssignment(Base):
    """Which grids a leader or worker is responsible for; the public phone goes on the grid notice."""

    __tablename__ = "grid_assignment"
    __table_args__ = (_one_of("duty", ("leader", "worker")),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    grid_code: Mapped[str] = mapped_column(String(15), index=True)
    duty: Mapped[str] = mapped_column(String(10))
    public_phone: Mapped[str | None] = mapped_column(String(20))
    valid_from: Mapped[dt.datetime] = _now()
    valid_to: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class AuditLog(Base):
    """Who read or changed what, when and why. Kept even when the user is deleted."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[dt.datetime] = _now()
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), index=True)
    username: Mapped[str | None] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(30))
    entity: Mapped[str] = mapped_column(String(50))
    entity_id: Mapped[str | None] = mapped_column(String(50))
    district_code: Mapped[str | None] = mapped_column(String(6), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(64))
    client_ip: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # What the client sent as X-Request-ID, kept apart from the server's own id (request_id).
    client_request_id: Mapped[str | None] = mapped_column(String(64))


class RateLimit(Base):
    """Hits per bucket (e.g. Open311 filings of one address) in one fixed window, shared by every process."""

    __tablename__ = "rate_limit"

    bucket: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    hits: Mapped[int] = mapped_column(Integer, server_default="0")


# --- coverage -----------------------------------------------------------------------------


class CoverageRun(Base):
    """One life-circle coverage computation: its parameters, the network version it saw, its roll-ups.

    ``summary`` holds the figures per facility type and per street, community and grid;
    the per-building truth is in ``building_coverage``. A run is a snapshot: building and
    facility ids in it are those of ``network_version`` and are not foreign keys, so that
    re-importing a district neither rewrites nor slows down on old runs.
    """

    __tablename__ = "coverage_run"
    __table_args__ = (
        _one_of("mode", ("network", "straight_line")),
        _one_of("status", ("running", "done", "failed")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    district_code: Mapped[str] = _district_code()
    mode: Mapped[str] = mapped_column(String(20), server_default="network")
    status: Mapped[str] = mapped_column(String(10), server_default="done")
    network_version: Mapped[int] = mapped_column(Integer)
    # The layer versions of what the run walked (gis.services.coverage.cache.network_key); NULL before 0020.
    network_key: Mapped[str | None] = mapped_column(Text)
    type_codes: Mapped[list[str]] = mapped_column(ARRAY(String(40)), server_default="{}")
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    summary: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = _now()


class BuildingCoverage(Base):
    """Per building and facility type: the nearest facility on foot, how far, and whether within the standard."""

    __tablename__ = "building_coverage"

    run_id: Mapped[int] = mapped_column(ForeignKey("coverage_run.id", ondelete="CASCADE"), primary_key=True)
    type_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    building_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    district_code: Mapped[str] = _district_code()
    # Null when no facility of the type lies within the search limit (a multiple of the radius).
    facility_id: Mapped[int | None] = mapped_column(Integer)
    distance_m: Mapped[float | None] = mapped_column(Float)
    within_standard: Mapped[bool] = mapped_column(Boolean, server_default="false")
    households: Mapped[int] = mapped_column(Integer, server_default="0")
    target_population: Mapped[int] = mapped_column(Integer, server_default="0")


# --- vector tile versions -----------------------------------------------------------------


class LayerVersion(Base):
    """A change counter per source table and district, bumped by triggers (migration 0003); tiles' ETags use it."""

    __tablename__ = "layer_version"

    source: Mapped[str] = mapped_column(String(40), primary_key=True)
    district_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, server_default="0")
    changed_at: Mapped[dt.datetime] = _now()


class TileCache(Base):
    """A rendered vector tile, shared by every server process (migration 0011: UNLOGGED, older versions pruned)."""

    __tablename__ = "tile_cache"
    __table_args__ = (Index("ix_tile_cache_layer_version", "layer", "version"),)

    # A digest of the layer, version, tile and the exact statement with its parameters (scope included).
    key: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    layer: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(BigInteger)
    z: Mapped[int] = mapped_column(SmallInteger)
    x: Mapped[int] = mapped_column(Integer)
    y: Mapped[int] = mapped_column(Integer)
    scope: Mapped[str] = mapped_column(Text, server_default="")
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = _now()


# Each area's classes live in their own module (visits, idempotency keys, the job queue, departments, ledgers,
# prepared coverage networks), loaded here for Base.metadata. Every area's module is imported whole, not by name:
# importing one of them first (a CLI command that needs only its own tables) then finds this module complete
# when it imports its names back.
from gis.db import (  # noqa: E402
    models_cases,  # noqa: F401
    models_coverage,  # noqa: F401
    models_idempotency,  # noqa: F401
    models_jobs,  # noqa: F401
    models_ledgers,  # noqa: F401
    models_visits,  # noqa: F401
)
