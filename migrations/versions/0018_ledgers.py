"""Community ledgers: needs, resources, projects, 双报到 claims, volunteers and their hours (issue 22).

Needs (需求清单) are located points with a kind from ``need_kind`` (a shared catalogue that a
community extends), counts of who is affected (never names), a status and an append-only history
(``need_event``); a need recorded on a visit points at ``visit.id`` (migration 0017). Resources
(资源清单) are what a unit, facility, party member or volunteer offers, where and when. Projects
(项目清单) match a need with resources, are claimed by units and party members (``project_claim``)
and staffed by volunteers whose hours are kept (``volunteer_shift``). A resident unit's user holds
the new role ``unit_contact`` and is tied to its unit by ``unit_contact``.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 21:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The catalogue as of this revision (gis.ledgers.DEFAULT_KINDS may grow; later revisions add to it).
KINDS = [
    ("elderly_meals", "老年助餐", "Meals for elderly people"),
    ("after_school_care", "课后托管（四点半课堂）", "After-school childcare"),
    ("parking", "停车", "Parking"),
    ("ev_charging", "电动车充电", "EV charging"),
    ("accessibility", "无障碍设施", "Accessibility"),
    ("home_care", "居家养老服务", "Home care for elderly people"),
    ("medical_help", "就医帮扶", "Help with medical visits"),
    ("venue", "活动场地", "A venue for activities"),
    ("employment", "就业帮扶", "Help finding work"),
    ("other", "其他", "Other"),
]
TABLES = ["volunteer_shift", "project_claim", "project_resource", "ledger_project", "ledger_resource", "volunteer",
          "need_event", "need", "unit_contact", "need_kind"]


def upgrade() -> None:
    """Create the ledgers' tables, seed the need kinds and add the unit_contact role."""
    op.create_table('need_kind',
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('district_code', sa.String(length=6), nullable=True),
    sa.Column('community_code', sa.String(length=12), nullable=True),
    sa.Column('name_zh', sa.String(length=100), nullable=False),
    sa.Column('name_en', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_need_kind'))
    )
    op.create_index(op.f('ix_need_kind_district_code'), 'need_kind', ['district_code'], unique=False)
    op.create_table('unit_contact',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('org_unit_id', sa.BigInteger(), nullable=False),
    sa.Column('district_code', sa.String(length=6), nullable=False),
    sa.Column('community_code', sa.String(length=12), nullable=True),
    sa.Column('reported_in_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_unit.id'], name=op.f('fk_unit_contact_org_unit_id_org_unit'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_unit_contact_user_id_app_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_unit_contact'))
    )
    op.create_index(op.f('ix_unit_contact_district_code'), 'unit_contact', ['district_code'], unique=False)
    op.create_index(op.f('ix_unit_contact_org_unit_id'), 'unit_contact', ['org_unit_id'], unique=False)
    op.create_table('need',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('district_code', sa.String(length=6), nullable=False),
    sa.Column('street_code', sa.String(length=9), nullable=True),
    sa.Column('community_code', sa.String(length=12), nullable=True),
    sa.Column('grid_code', sa.String(length=15), nullable=True),
    sa.Column('kind_code', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('visit_id', sa.BigInteger(), nullable=True),
    sa.Column('household_id', sa.BigInteger(), nullable=True),
    sa.Column('building_id', sa.BigInteger(), nullable=True),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('affected_households', sa.Integer(), server_default='0', nullable=False),
    sa.Column('affected_people', sa.Integer(), server_default='0', nullable=False),
    sa.Column('contact_phone', sa.String(length=20), nullable=True),
    sa.Column('status', sa.String(length=20), server_default='open', nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4490, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.CheckConstraint("outcome IS NULL OR outcome IN ('met', 'partly_met', 'unmet')", name=op.f('ck_need_outcome')),
    sa.CheckConstraint("source IN ('visit', 'staff', 'public_form', 'open311', 'import')", name=op.f('ck_need_source')),
    sa.CheckConstraint("status IN ('open', 'matched', 'in_progress', 'closed', 'rejected')", name=op.f('ck_need_status')),
    sa.CheckConstraint('affected_households >= 0 AND affected_people >= 0', name=op.f('ck_need_affected_nonnegative')),
    sa.ForeignKeyConstraint(['building_id'], ['building.id'], name=op.f('fk_need_building_id_building'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by'], ['app_user.id'], name=op.f('fk_need_created_by_app_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], name=op.f('fk_need_household_id_household'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['kind_code'], ['need_kind.code'], name=op.f('fk_need_kind_code_need_kind')),
    sa.ForeignKeyConstraint(['visit_id'], ['visit.id'], name=op.f('fk_need_visit_id_visit'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_need'))
    )
    op.create_index('idx_need_geom', 'need', ['geom'], unique=False, postgresql_using='gist')
    op.create_index('ix_need_community_code_status', 'need', ['community_code', 'status'], unique=False)
    op.create_index(op.f('ix_need_district_code'), 'need', ['district_code'], unique=False)
    op.create_index(op.f('ix_need_grid_code'), 'need', ['grid_code'], unique=False)
    op.create_index(op.f('ix_need_kind_code'), 'need', ['kind_code'], unique=False)
    op.create_index(op.f('ix_need_status'), 'need', ['status'], unique=False)
    op.create_index(op.f('ix_need_visit_id'), 'need', ['visit_id'], unique=False)
    op.create_table('volunteer',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('district_code', sa.String(length=6), nullable=False),
    sa.Column('community_code', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('resident_id', sa.BigInteger(), nullable=True),
    sa.Column('org_unit_id', sa.BigInteger(), nullable=True),
    sa.Column('party_member', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_unit.id'], name=op.f('fk_volunteer_org_unit_id_org_unit'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['resident_id'], ['resident.id'], name=op.f('fk_volunteer_resident_id_resident'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_volunteer'))
    )
    op.create_index(op.f('ix_volunteer_community_code'), 'volunteer', ['community_code'], unique=False)
    op.create_index(op.f('ix_volunteer_district_code'), 'volunteer', ['district_code'], unique=False)
    op.create_table('ledger_project',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('district_code', sa.String(length=6), nullable=False),
    sa.Column('community_code', sa.String(length=12), nullable=True),
    sa.Column('grid_code', sa.String(length=15), nullable=True),
    sa.Column('need_id', sa.BigInteger(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('starts_on', sa.Date(), nullable=True),
    sa.Column('ends_on', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=20), server_default='planned', nullable=False),
    sa.Column('outcome', sa.Text(), nullable=True),
    sa.Column('posts', postgresql.ARRAY(sa.String(length=100)), server_default='{}', nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.CheckConstraint("status IN ('planned', 'active', 'done', 'cancelled')", name=op.f('ck_ledger_project_status')),
    sa.CheckConstraint('ends_on IS NULL OR starts_on IS NULL OR ends_on >= starts_on', name=op.f('ck_ledger_project_dates_in_order')),
    sa.ForeignKeyConstraint(['created_by'], ['app_user.id'], name=op.f('fk_ledger_project_created_by_app_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['need_id'], ['need.id'], name=op.f('fk_ledger_project_need_id_need'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['owner_id'], ['app_user.id'], name=op.f('fk_ledger_project_owner_id_app_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_project'))
    )
    op.create_index(op.f('ix_ledger_project_community_code'), 'ledger_project', ['community_code'], unique=False)
    op.create_index(op.f('ix_ledger_project_district_code'), 'ledger_project', ['district_code'], unique=False)
    op.create_index(op.f('ix_ledger_project_need_id'), 'ledger_project', ['need_id'], unique=False)
    op.create_table('ledger_resource',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('district_code', sa.String(length=6), nullable=False),
    sa.Column('community_code', sa.String(length=12), nullable=True),
    sa.Column('grid_code', sa.String(length=15), nullable=True),
    sa.Column('provider_kind', sa.String(length=20), nullable=False),
    sa.Column('org_unit_id', sa.BigInteger(), nullable=True),
    sa.Column('facility_id', sa.Integer(), nullable=True),
    sa.Column('resident_id', sa.BigInteger(), nullable=True),
    sa.Column('volunteer_id', sa.BigInteger(), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('kind_codes', postgresql.ARRAY(sa.String(length=40)), server_default='{}', nullable=False),
    sa.Column('available', sa.Text(), nullable=True),
    sa.Column('capacity', sa.Integer(), nullable=True),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('contact_name', sa.String(length=100), nullable=True),
    sa.Column('contact_phone', sa.String(length=20), nullable=True),
    sa.Column('active', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4490, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.CheckConstraint("provider_kind IN ('unit', 'facility', 'party_member', 'volunteer', 'other')", name=op.f('ck_ledger_resource_provider_kind')),
    sa.CheckConstraint('capacity IS NULL OR capacity >= 0', name=op.f('ck_ledger_resource_capacity_nonnegative')),
    sa.ForeignKeyConstraint(['created_by'], ['app_user.id'], name=op.f('fk_ledger_resource_created_by_app_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['facility_id'], ['facility.id'], name=op.f('fk_ledger_resource_facility_id_facility'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_unit.id'], name=op.f('fk_ledger_resource_org_unit_id_org_unit'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['resident_id'], ['resident.id'], name=op.f('fk_ledger_resource_resident_id_resident'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteer.id'], name=op.f('fk_ledger_resource_volunteer_id_volunteer'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_resource'))
    )
    op.create_index('idx_ledger_resource_geom', 'ledger_resource', ['geom'], unique=False, postgresql_using='gist')
    op.create_index(op.f('ix_ledger_resource_community_code'), 'ledger_resource', ['community_code'], unique=False)
    op.create_index(op.f('ix_ledger_resource_district_code'), 'ledger_resource', ['district_code'], unique=False)
    op.create_index(op.f('ix_ledger_resource_org_unit_id'), 'ledger_resource', ['org_unit_id'], unique=False)
    op.create_table('need_event',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('need_id', sa.BigInteger(), nullable=False),
    sa.Column('district_code', sa.String(length=6), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=30), nullable=False),
    sa.Column('from_status', sa.String(length=20), nullable=True),
    sa.Column('to_status', sa.String(length=20), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['app_user.id'], name=op.f('fk_need_event_actor_id_app_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['need_id'], ['need.id'], name=op.f('fk_need_event_need_id_need'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_need_event'))
    )
    op.create_index(op.f('ix_need_event_district_code'), 'need_event', ['district_code'], unique=False)
    op.create_index(op.f('ix_need_event_need_id'), 'need_event', ['need_id'], unique=False)
    op.create_table('project_claim',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('district_code', sa.String(length=6), nullable=False),
    sa.Column('claimant_kind', sa.String(length=20), nullable=False),
    sa.Column('org_unit_id', sa.BigInteger(), nullable=True),
    sa.Column('resident_id', sa.BigInteger(), nullable=True),
    sa.Column('post', sa.String(length=100), nullable=True),
    sa.Column('claimed_by', sa.Integer(), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("(claimant_kind = 'unit' AND org_unit_id IS NOT NULL AND resident_id IS NULL) OR (claimant_kind = 'party_member' AND resident_id IS NOT NULL AND org_unit_id IS NULL)", name=op.f('ck_project_claim_one_claimant')),
    sa.CheckConstraint("claimant_kind IN ('unit', 'party_member')", name=op.f('ck_project_claim_claimant_kind')),
    sa.ForeignKeyConstraint(['claimed_by'], ['app_user.id'], name=op.f('fk_project_claim_claimed_by_app_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_unit.id'], name=op.f('fk_project_claim_org_unit_id_org_unit'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['project_id'], ['ledger_project.id'], name=op.f('fk_project_claim_project_id_ledger_project'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['resident_id'], ['resident.id'], name=op.f('fk_project_claim_resident_id_resident'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_project_claim'))
    )
    op.create_index(op.f('ix_project_claim_district_code'), 'project_claim', ['district_code'], unique=False)
    op.create_index(op.f('ix_project_claim_project_id'), 'project_claim', ['project_id'], unique=False)
    op.create_index('uq_project_claim_member', 'project_claim', ['project_id', 'resident_id'], unique=True, postgresql_where=sa.text('resident_id IS NOT NULL'))
    op.create_index('uq_project_claim_unit', 'project_claim', ['project_id', 'org_unit_id'], unique=True, postgresql_where=sa.text('org_unit_id IS NOT NULL'))
    op.create_table('project_resource',
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('resource_id', sa.BigInteger(), nullable=False),
    sa.Column('district_code', sa.String(length=6), nullable=False),
    sa.Column('distance_m', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['project_id'], ['ledger_project.id'], name=op.f('fk_project_resource_project_id_ledger_project'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['resource_id'], ['ledger_resource.id'], name=op.f('fk_project_resource_resource_id_ledger_resource'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id', 'resource_id', name=op.f('pk_project_resource'))
    )
    op.create_index(op.f('ix_project_resource_district_code'), 'project_resource', ['district_code'], unique=False)
    op.create_table('volunteer_shift',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('volunteer_id', sa.BigInteger(), nullable=False),
    sa.Column('district_code', sa.String(length=6), nullable=False),
    sa.Column('post', sa.String(length=100), nullable=True),
    sa.Column('signed_up_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('served_on', sa.Date(), nullable=True),
    sa.Column('hours', sa.Float(), nullable=True),
    sa.Column('recorded_by', sa.Integer(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('hours IS NULL OR (hours > 0 AND hours <= 24)', name=op.f('ck_volunteer_shift_hours_in_a_day')),
    sa.ForeignKeyConstraint(['project_id'], ['ledger_project.id'], name=op.f('fk_volunteer_shift_project_id_ledger_project'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recorded_by'], ['app_user.id'], name=op.f('fk_volunteer_shift_recorded_by_app_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteer.id'], name=op.f('fk_volunteer_shift_volunteer_id_volunteer'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_volunteer_shift'))
    )
    op.create_index(op.f('ix_volunteer_shift_district_code'), 'volunteer_shift', ['district_code'], unique=False)
    op.create_index(op.f('ix_volunteer_shift_project_id'), 'volunteer_shift', ['project_id'], unique=False)
    op.create_index(op.f('ix_volunteer_shift_volunteer_id'), 'volunteer_shift', ['volunteer_id'], unique=False)

    kinds = sa.table("need_kind", sa.column("code"), sa.column("name_zh"), sa.column("name_en"))
    op.bulk_insert(kinds, [{"code": c, "name_zh": zh, "name_en": en} for c, zh, en in KINDS])
    op.execute("INSERT INTO role (code, name_zh, name_en) VALUES ('unit_contact', '单位联系人', 'Unit contact') "
               "ON CONFLICT (code) DO NOTHING")


def downgrade() -> None:
    """Drop the ledgers (their rows go with them) and the unit_contact role, once no user holds it."""
    op.execute("DELETE FROM role WHERE code = 'unit_contact' "
               "AND NOT EXISTS (SELECT 1 FROM app_user WHERE role_code = 'unit_contact')")
    for table in TABLES:
        op.drop_table(table)
