"""Supply against demand: places needed (千人指标 × residents) against places provided, per community or street."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

import numpy as np
import pandas as pd
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from gis.catalogue import FacilityType, load_catalogue
from gis.coverage.supply import supply_table
from gis.db.levels import PLURAL, level_table
from gis.db.models import Facility
from gis.errors import InvalidInput
from gis.jsonable import plain
from gis.services.coverage.cache import Homes
from gis.services.coverage.district import (
    LEVEL_COLUMNS,
    check_type,
    facility_types,
    population_of,
    resolve_district,
    units_of,
)

SUPPLY_LEVELS = ("community", "street")
SUPPLY_BASES = ("residents", "target_group")


class SupplyDemand(TypedDict):
    """Per type with a standard: district totals and unit rows ranked by shortfall; types without one listed."""

    district_code: str
    district_name: str
    level: str
    population_source: str
    basis: str
    types: dict[str, dict[str, Any]]
    no_standard: list[str]


def supply_demand(
    session: Session,
    *,
    type_code: str | None = None,
    level: str = "community",
    per: str = "residents",
    district_code: str | None = None,
) -> SupplyDemand:
    """Places needed (``capacity_per_1000`` × residents) against places provided, per community or street.

    With ``per="target_group"`` a place is needed for every person of the type's target group
    (types whose target group is everybody are then left out).

    Provided places are the facilities' recorded capacities, or the type's default capacity where
    none is recorded (counted as assumed). Types without a ``capacity_per_1000`` are listed as such.
    Rows are ranked by shortfall.
    """
    if level not in SUPPLY_LEVELS:
        raise InvalidInput(f"level must be community or street; got {level!r}", details={"field": "level"})
    if per not in SUPPLY_BASES:
        raise InvalidInput(f"per must be residents or target_group; got {per!r}", details={"field": "per"})
    code, name, _ = resolve_district(session, district_code)
    catalogue = facility_types(session)
    codes = [check_type(catalogue, type_code)] if type_code else list(catalogue)
    homes = _homes(session, code)
    population, population_source = population_of(session, homes)
    units, names = units_of(session, homes)
    demand = pd.DataFrame({"unit": units[LEVEL_COLUMNS[level]].to_numpy(), "residents": population["all"].to_numpy()})
    fac = _facility_units(session, code, level, codes)
    out: dict[str, Any] = {}
    no_standard = []
    for tc in codes:
        ft = catalogue[tc]
        if per == "residents":
            per_1000, basis = ft.capacity_per_1000, "residents"
        else:
            per_1000, basis = (None if ft.target_group == "all" else 1000.0), "target_population"
        if per_1000 is None:
            no_standard.append(tc)
            continue
        out[tc] = _type_supply(ft, level, demand.assign(target_population=population[ft.target_group].to_numpy()),
                               fac[fac["type_code"] == tc], per_1000, basis, names.get(level, {}))
    return SupplyDemand(
        district_code=code, district_name=name, level=level, population_source=population_source,
        basis=("places needed = capacity_per_1000 × residents / 1,000 (千人指标), rounded up per unit"
               if per == "residents" else "places needed = one per person of the type's target group"),
        types=out, no_standard=no_standard)


def _homes(session: Session, code: str) -> Homes:
    """The district's residential buildings: households recorded or estimated, or residents registered."""
    rows = session.execute(text("""
        SELECT b.id, b.households FROM building b WHERE b.district_code = :d AND (b.households > 0
               OR EXISTS (SELECT 1 FROM resident r WHERE r.building_id = b.id)) ORDER BY b.id"""), {"d": code}).all()
    return Homes(code, np.array([r[0] for r in rows], dtype=np.int64),
                 np.array([r[1] or 0 for r in rows], dtype=np.int64))


def _facility_units(session: Session, code: str, level: str, codes: list[str]) -> pd.DataFrame:
    """The district's facilities of ``codes`` with their capacity and the unit of ``level`` each lies in."""
    unit = level_table(level).alias("u")
    facility = Facility.__table__.alias("f")
    unit_code = (select(unit.c.code)
                 .where(unit.c.valid_to.is_(None), unit.c.district_code == facility.c.district_code,
                        func.ST_Intersects(unit.c.geom, facility.c.geom))
                 .order_by(unit.c.code).limit(1).scalar_subquery())
    rows = session.execute(select(facility.c.id, facility.c.type_code, facility.c.capacity, unit_code).where(
        facility.c.district_code == code, facility.c.type_code.in_(codes))).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=["id", "type_code", "capacity", "unit"])


def _type_supply(ft: FacilityType, level: str, demand: pd.DataFrame, facilities: pd.DataFrame, per_1000: float,
                 basis: str, unit_names: Mapping[str, str]) -> dict[str, Any]:
    """One type's supply table: district totals, a row per unit and a note on assumed capacities."""
    shipped = load_catalogue()
    default = shipped[ft.code].default_capacity if ft.code in shipped else None
    column = LEVEL_COLUMNS[level]
    table = supply_table(demand, facilities[["unit", "capacity"]].astype({"capacity": float}),
                         capacity_per_1000=float(per_1000), default_capacity=default, basis=basis)
    rows = [{column: r.pop("unit"), "name": None, **{k: plain(v) for k, v in r.items()}}
            for r in table.to_dict("records")]
    for r in rows:
        r["name"] = unit_names.get(r[column]) if r[column] else "(outside every unit)"
    totals = {k: int(table[k].sum()) for k in ("residents", "target_population", "places_needed", "facilities",
                                               "places_provided", "facilities_capacity_assumed")}
    totals["shortfall"] = int(table["shortfall"].sum())  # units short, not netted against others' surplus
    assumed = totals["facilities_capacity_assumed"]
    note = None
    if assumed:
        note = (f"{assumed} facilities without a recorded capacity counted at the type default ({default} places)"
                if default else f"{assumed} facilities without a recorded capacity counted as 0 places "
                                "(no type default)")
    return {"name_zh": ft.name_zh, "capacity_per_1000": ft.capacity_per_1000, "places_per_1000": per_1000,
            "per": basis, "default_capacity": default,
            "target_group": ft.target_group, "district": totals, PLURAL[level]: rows, "capacity_note": note}
