"""Schema v1: models and migrations agree, conventions hold, constraints bite, downgrades work."""

from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from helpers import BUILDING_WKT, COMMUNITY_WKT, GRID_WKT, POINT_WKT, count_rows, ewkt
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from gis.db import migrate as migrations
from gis.db.engine import drop_database, ensure_database, make_engine
from gis.db.models import Base, Building, Community, District, Grid, IncidentEvent
from gis.roles import ROLES

# Small reference tables need no district code (district itself is keyed by it), nor does the tile cache (a tile
# spans districts); all others carry one.
WITHOUT_DISTRICT = {"district", "facility_type", "role", "app_user", "grid_assignment", "audit_log", "rate_limit",
                    "tile_cache"}


def test_models_and_migrations_agree(engine: Engine) -> None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"include_object": migrations.include_object, "compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []


def test_every_geometry_column_is_geom_in_srid_4490_with_a_gist_index(engine: Engine) -> None:
    with engine.connect() as conn:
        columns = conn.execute(text(
            "SELECT f_table_name, f_geometry_column, srid FROM geometry_columns WHERE f_table_schema = 'public'"
        )).all()
        gist = {row[0] for row in conn.execute(text(
            "SELECT tablename FROM pg_indexes WHERE schemaname = 'public' AND indexdef ILIKE '%USING gist (geom)%'"
        ))}
    with_geom = {name for name, table in Base.metadata.tables.items() if "geom" in table.c}
    assert {c[0] for c in columns} == with_geom
    assert {c[1] for c in columns} == {"geom"}
    assert {c[2] for c in columns} == {4490}
    assert {c[0] for c in columns} <= gist


def test_large_tables_carry_the_district_code(engine: Engine) -> None:
    insp = inspect(engine)
    missing = [
        t for t in Base.metadata.tables
        if t not in WITHOUT_DISTRICT and "district_code" not in {c["name"] for c in insp.get_columns(t)}
    ]
    assert missing == []


def test_roles_are_seeded(db: Session) -> None:
    roles = set(db.execute(text("SELECT code FROM role")).scalars())
    # Every role of gis.roles has its row (migrations 0001, 0016 and later add them).
    from gis.roles import ROLES
    assert roles == set(ROLES)


def _grid(code: str, **kw: object) -> Grid:
    return Grid(code=code, district_code=code[:6], community_code=code[:12], name=f"网格{code[-3:]}",
                geom=ewkt(GRID_WKT), **kw)


def test_one_current_version_per_grid_code_but_history_is_kept(db: Session) -> None:
    db.add(_grid("320102001001001", valid_to=None))
    db.add(_grid("320102001001001", valid_from="2020-01-01", valid_to="2021-01-01", version=0))
    db.flush()
    db.add(_grid("320102001001001"))
    with pytest.raises(IntegrityError, match="uq_grid_current_code"):
        db.flush()


def test_codes_must_have_the_right_number_of_digits(db: Session) -> None:
    db.add(_grid("32010200100100"))  # 14 digits
    with pytest.raises(IntegrityError, match="ck_grid_code_digits"):
        db.flush()


def test_geometry_type_and_srid_are_enforced(db: Session) -> None:
    db.add(Community(code="320102001001", street_code="320102001", district_code="320102", name="x",
                     geom=ewkt(COMMUNITY_WKT, srid=4326)))
    with pytest.raises(DBAPIError, match="SRID"):
        db.flush()


def test_incident_events_are_append_only(db: Session) -> None:
    db.execute(text(
        "INSERT INTO incident (id, district_code, category_class, category, source, geom) "
        "VALUES (1, '320102', 'event', '市容环境', 'patrol', ST_GeomFromEWKT(:g))"
    ), {"g": ewkt(POINT_WKT)})
    db.add(IncidentEvent(incident_id=1, district_code="320102", action="report", to_status="reported"))
    db.flush()
    with pytest.raises(DBAPIError, match="append-only"):
        db.execute(text("UPDATE incident_event SET note = 'rewritten'"))


def test_downgrade_to_base_and_upgrade_again_on_a_populated_database(database_url: str) -> None:
    url = make_url(database_url).set(database=f"wangge_mig_{uuid.uuid4().hex[:8]}").render_as_string(
        hide_password=False)
    ensure_database(url)
    engine = make_engine(url)
    try:
        migrations.upgrade(url)
        with Session(engine) as s, s.begin():
            s.add(District(code="320102", name="玄武区"))
            s.add(Community(code="320102001001", street_code="320102001", district_code="320102", name="社区",
                            geom=ewkt(COMMUNITY_WKT)))
            s.add(_grid("320102001001001"))
            s.add(Building(district_code="320102", households=120, households_source="recorded",
                           geom=ewkt(BUILDING_WKT)))
        migrations.downgrade(url, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version", "spatial_ref_sys"}
        migrations.upgrade(url)
        assert migrations.current_revision(engine) == migrations.head_revision()
        with Session(engine) as s:
            assert count_rows(s, "grid") == 0
            assert count_rows(s, "role") == len(ROLES)  # every migration's roles again (0001, 0016, 0018)
    finally:
        engine.dispose()
        drop_database(url)
