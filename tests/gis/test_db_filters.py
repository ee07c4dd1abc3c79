"""The one WHERE builder (gis.db.filters.Where): conditions grow with bound parameters, values never enter the SQL."""

from __future__ import annotations

import datetime as dt

import pytest

from gis.db.filters import Where, check_grid_code
from gis.errors import InvalidInput


def test_an_empty_where_is_true_and_a_scope_comes_first() -> None:
    assert Where().sql == "TRUE"
    where = Where.scoped(("r.district_code = :scope_d", {"scope_d": "320102"}))
    where.equal("r.building_id", "building_id", 7)
    assert where.sql == "r.district_code = :scope_d AND r.building_id = :building_id"
    assert where.params == {"scope_d": "320102", "building_id": 7}


def test_a_filter_not_given_adds_nothing_and_given_ones_are_kept_for_the_audit_row() -> None:
    where = Where()
    where.equal("n.status", "status", None)
    where.equal("n.kind_code", "kind_code", "parking")
    where.equal("r.id", "resident_id", 5, audit=False)
    where.period("i.reported_at", dt.datetime(2026, 3, 1, tzinfo=dt.UTC), None)
    assert where.conditions == ["n.kind_code = :kind_code", "r.id = :resident_id", "i.reported_at >= :since"]
    # Times are kept as text, so the audit row's JSON holds them; the id asked for is not a filter.
    assert where.given == {"kind_code": "parking", "since": "2026-03-01T00:00:00+00:00"}


def test_a_value_is_bound_never_spliced_into_the_sql() -> None:
    where = Where()
    hostile = "x'; DROP TABLE resident; --"
    where.equal("c.name", "name", hostile)
    where.prefix("g.code", "prefix", "3201")
    assert hostile not in where.sql and "3201" not in where.sql
    assert where.params == {"name": hostile, "prefix": "3201%"}
    assert where.given == {"name": hostile, "prefix": "3201"}


def test_spatial_filters_bind_the_box_and_the_unit_code() -> None:
    where = Where()
    where.bbox("b.geom", (118.7, 32.0, 118.8, 32.1))
    where.within_unit("grid", "320102001001001", "b.geom")
    assert where.params == {"bx0": 118.7, "by0": 32.0, "bx1": 118.8, "by1": 32.1, "in_grid": "320102001001001"}
    assert "FROM grid wu" in where.conditions[1] and "ST_PointOnSurface(b.geom)" in where.conditions[1]


def test_a_grid_filter_checks_the_code_and_names_the_field() -> None:
    where = Where()
    where.in_grid("h.building_id", "320102001001001")
    assert where.params == {"grid_code": "320102001001001"}
    with pytest.raises(InvalidInput) as caught:
        check_grid_code("3201", where="grid")
    assert caught.value.details == {"field": "grid"}
    assert str(caught.value.message).startswith("grid:")
