"""registers (一标三实): standard addresses, register households and residents, 人户分离, moves, units;
ID numbers encrypted at rest.

``resident_private.id_number`` becomes ciphertext (gis.idnumbers), with a keyed lookup hash and the
masked form beside it. A migration holds no key, so numbers already stored in plain text are only masked
here; ``wangge keys rotate`` then encrypts them (and hashes them) with WANGGE_ID_KEY.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _point() -> Geometry:
    return Geometry(geometry_type="POINT", srid=4490, dimension=2, spatial_index=False,
                    from_text="ST_GeomFromEWKT", name="geometry")


def upgrade() -> None:
    # resident_private: ciphertext, lookup hash, masked form.
    op.alter_column("resident_private", "id_number", type_=sa.Text(), existing_type=sa.String(length=18))
    op.add_column("resident_private", sa.Column("id_number_hash", sa.String(length=64), nullable=True))
    op.add_column("resident_private", sa.Column("id_number_masked", sa.String(length=18), nullable=True))
    op.create_index(op.f("ix_resident_private_id_number_hash"), "resident_private", ["id_number_hash"])
    op.execute("""UPDATE resident_private SET id_number_masked =
                  CASE WHEN length(id_number) <= 10 THEN repeat('*', length(id_number))
                       ELSE left(id_number, 6) || repeat('*', length(id_number) - 10) || right(id_number, 4) END
                  WHERE id_number IS NOT NULL AND id_number NOT LIKE 'wg1.%'""")

    # household: the register's 户编号.
    op.add_column("household", sa.Column("household_no", sa.String(length=40), nullable=True))
    op.create_index("uq_household_district_no", "household", ["district_code", "household_no"], unique=True,
                    postgresql_where=sa.text("household_no IS NOT NULL"))

    # resident: 境外 residency, 户籍地址, 人户分离.
    op.drop_constraint(op.f("ck_resident_residency"), "resident", type_="check")
    op.create_check_constraint(op.f("ck_resident_residency"), "resident",
                               "residency IN ('permanent', 'floating', 'overseas')")
    op.add_column("resident", sa.Column("registered_address", sa.Text(), nullable=True))
    op.add_column("resident", sa.Column("registered_building_id", sa.BigInteger(), nullable=True))
    op.add_column("resident", sa.Column("separated", sa.Boolean(), server_default="false", nullable=False))
    op.create_foreign_key(op.f("fk_resident_registered_building_id_building"), "resident", "building",
                          ["registered_building_id"], ["id"], ondelete="SET NULL")

    op.create_table(
        "resident_away",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("district_code", sa.String(length=6), nullable=False),
        sa.Column("household_no", sa.String(length=40), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("sex", sa.String(length=1), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("id_number", sa.Text(), nullable=False),
        sa.Column("id_number_hash", sa.String(length=64), nullable=False),
        sa.Column("id_number_masked", sa.String(length=18), nullable=False),
        sa.Column("registered_address", sa.Text(), nullable=True),
        sa.Column("registered_building_id", sa.BigInteger(), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["registered_building_id"], ["building.id"],
                                name=op.f("fk_resident_away_registered_building_id_building"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resident_away")),
    )
    op.create_index(op.f("ix_resident_away_district_code"), "resident_away", ["district_code"])
    op.create_index("uq_resident_away_district_hash", "resident_away", ["district_code", "id_number_hash"],
                    unique=True)

    op.create_table(
        "resident_move",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("district_code", sa.String(length=6), nullable=False),
        sa.Column("id_number_hash", sa.String(length=64), nullable=False),
        sa.Column("resident_id", sa.BigInteger(), nullable=True),
        sa.Column("from_building_id", sa.BigInteger(), nullable=True),
        sa.Column("to_building_id", sa.BigInteger(), nullable=True),
        sa.Column("from_address", sa.Text(), nullable=True),
        sa.Column("to_address", sa.Text(), nullable=True),
        sa.Column("source_file", sa.Text(), nullable=True),
        sa.Column("moved_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["resident_id"], ["resident.id"], name=op.f("fk_resident_move_resident_id_resident"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["from_building_id"], ["building.id"],
                                name=op.f("fk_resident_move_from_building_id_building"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["to_building_id"], ["building.id"],
                                name=op.f("fk_resident_move_to_building_id_building"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resident_move")),
    )
    op.create_index(op.f("ix_resident_move_district_code"), "resident_move", ["district_code"])
    op.create_index(op.f("ix_resident_move_id_number_hash"), "resident_move", ["id_number_hash"])

    op.create_geospatial_table(
        "standard_address",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("district_code", sa.String(length=6), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("address_key", sa.Text(), nullable=False),
        sa.Column("building_id", sa.BigInteger(), nullable=True),
        sa.Column("match", sa.String(length=12), nullable=False),
        sa.Column("distance_m", sa.Float(), nullable=True),
        sa.Column("geom", _point(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("match IN ('building_id', 'inside', 'nearest', 'ambiguous', 'unmatched')",
                           name=op.f("ck_standard_address_match")),
        sa.ForeignKeyConstraint(["building_id"], ["building.id"],
                                name=op.f("fk_standard_address_building_id_building"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_standard_address")),
    )
    op.create_geospatial_index("idx_standard_address_geom", "standard_address", ["geom"], unique=False,
                               postgresql_using="gist", postgresql_ops={})
    op.create_index(op.f("ix_standard_address_district_code"), "standard_address", ["district_code"])
    op.create_index(op.f("ix_standard_address_building_id"), "standard_address", ["building_id"])
    op.create_index("uq_standard_address_district_key", "standard_address", ["district_code", "address_key"],
                    unique=True)

    op.create_geospatial_table(
        "org_unit",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("district_code", sa.String(length=6), nullable=False),
        sa.Column("unit_key", sa.Text(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=True),
        sa.Column("credit_code", sa.String(length=18), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("building_id", sa.BigInteger(), nullable=True),
        sa.Column("contact_name", sa.String(length=100), nullable=True),
        sa.Column("contact_phone", sa.String(length=20), nullable=True),
        sa.Column("employees", sa.Integer(), nullable=True),
        sa.Column("geom", _point(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["building_id"], ["building.id"], name=op.f("fk_org_unit_building_id_building"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_unit")),
    )
    op.create_geospatial_index("idx_org_unit_geom", "org_unit", ["geom"], unique=False,
                               postgresql_using="gist", postgresql_ops={})
    op.create_index(op.f("ix_org_unit_district_code"), "org_unit", ["district_code"])
    op.create_index(op.f("ix_org_unit_building_id"), "org_unit", ["building_id"])
    op.create_index("uq_org_unit_district_key", "org_unit", ["district_code", "unit_key"], unique=True)


def downgrade() -> None:
    for table in ("org_unit", "standard_address", "resident_move", "resident_away"):
        op.drop_table(table)
    op.drop_constraint(op.f("fk_resident_registered_building_id_building"), "resident", type_="foreignkey")
    for column in ("separated", "registered_building_id", "registered_address"):
        op.drop_column("resident", column)
    op.execute("UPDATE resident SET residency = 'floating' WHERE residency = 'overseas'")
    op.drop_constraint(op.f("ck_resident_residency"), "resident", type_="check")
    op.create_check_constraint(op.f("ck_resident_residency"), "resident", "residency IN ('permanent', 'floating')")
    op.drop_index("uq_household_district_no", table_name="household")
    op.drop_column("household", "household_no")
    op.drop_index(op.f("ix_resident_private_id_number_hash"), table_name="resident_private")
    op.drop_column("resident_private", "id_number_masked")
    op.drop_column("resident_private", "id_number_hash")
    # Ciphertext does not fit the old column and cannot be decrypted here (no key): it is dropped.
    op.execute("UPDATE resident_private SET id_number = NULL WHERE id_number LIKE 'wg1.%'")
    op.alter_column("resident_private", "id_number", type_=sa.String(length=18), existing_type=sa.Text())
