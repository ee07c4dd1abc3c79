"""What every coverage use case reads of a district: the district, the catalogue, facilities, people and units.

Also the facility × building reach table that siting and what-if share (cached on the prepared network).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import ARRAY, BigInteger, any_, func, literal, select, text
from sqlalchemy.orm import Session

from gis.catalogue import TARGET_BANDS, TARGET_GROUPS, FacilityType, load_catalogue
from gis.coverage.distances import Reach, reach_by_network
from gis.coverage.network import AttachedNetwork, locate_sites
from gis.coverage.rollup import estimate_population
from gis.db.frames import read_frame
from gis.db.levels import level_table
from gis.db.models import Building
from gis.errors import InvalidInput, NotFound
from gis.services.coverage.cache import Homes, PreparedDistrict

MODES = ("network", "straight_line")
LEVEL_COLUMNS = {"street": "street_code", "community": "community_code", "grid": "grid_code"}
STRAIGHT_LINE_NOTE = ("straight-line mode: distances as the crow flies, a draft for areas without a walk network; "
                      "it overstates coverage wherever a main road, river or railway is in the way")
NETWORK_NOTE = "walking distance along the stored network (GB 50180-2018 radii)"


def check_mode(mode: str) -> str:
    """``mode`` if it is a coverage mode (network or straight_line); else an ``InvalidInput`` on ``mode``."""
    if mode not in MODES:
        raise InvalidInput(f"mode must be one of {', '.join(MODES)}; got {mode!r}", details={"field": "mode"})
    return mode


def resolve_district(session: Session, district_code: str | None) -> tuple[str, str, int]:
    """(code, name, network_version) of the named district, or of the only one when none is named."""
    if district_code:
        row = session.execute(text("SELECT code, name, network_version FROM district WHERE code = :d"),
                              {"d": district_code}).first()
        if row is None:
            raise NotFound(f"district {district_code} does not exist; import it first (wangge import osm ...)",
                           details={"field": "district_code"})
        return str(row[0]), str(row[1]), int(row[2])
    rows = session.execute(text(
        "SELECT code, name, network_version FROM district d WHERE EXISTS "
        "(SELECT 1 FROM building b WHERE b.district_code = d.code) ORDER BY code")).all()
    if not rows:
        raise NotFound("no district with buildings in the database: run `wangge demo` or `wangge import osm` first")
    if len(rows) > 1:
        raise InvalidInput("district_code: several districts are loaded (" + ", ".join(r[0] for r in rows)
                           + "); name one", details={"field": "district_code"})
    return str(rows[0][0]), str(rows[0][1]), int(rows[0][2])


def facility_types(session: Session) -> dict[str, FacilityType]:
    """The catalogue as the database holds it (a deployment's edits included), else the shipped file."""
    rows = session.execute(text(
        "SELECT code, name_zh, name_en, level, radius_m, target_group, capacity_per_1000 FROM facility_type")).all()
    if not rows:
        return load_catalogue()
    order = list(load_catalogue())
    types = {r[0]: FacilityType(code=r[0], name_zh=r[1], name_en=r[2], level=r[3], radius_m=float(r[4]),
                                target_group=r[5], capacity_per_1000=r[6]) for r in rows}
    rank = {c: i for i, c in enumerate(order)}
    return dict(sorted(types.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))


def check_types(catalogue: Mapping[str, FacilityType], types: Iterable[str] | None) -> list[str]:
    """The facility types named (every type when none is); an ``InvalidInput`` on ``types`` for an unknown one."""
    if not types:
        return list(catalogue)
    codes = list(dict.fromkeys(t.strip() for t in types if t and t.strip()))
    unknown = [c for c in codes if c not in catalogue]
    if unknown:
        raise InvalidInput(f"types: unknown facility type {', '.join(unknown)}; known: {', '.join(catalogue)}",
                           details={"field": "types"})
    return codes


def check_type(catalogue: Mapping[str, FacilityType], type_code: str) -> str:
    """The one facility type ``type_code`` names (blanks around it dropped); InvalidInput when it names none."""
    code = type_code.strip()
    if code not in catalogue:
        raise InvalidInput(f"type_code: {type_code!r} is not a facility type; known: {', '.join(catalogue)}",
                           details={"field": "type_code"})
    return code


def read_facilities(session: Session, district_code: str, types: Sequence[str]) -> gpd.GeoDataFrame:
    """The district's facilities of ``types`` (id, type_code, name, capacity, point), by id."""
    return read_frame(session, """
        SELECT id, type_code, name, capacity, ST_AsBinary(geom) AS geom FROM facility
        WHERE district_code = :d AND type_code = ANY(:t) ORDER BY id""", {"d": district_code, "t": list(types)})


def population_of(session: Session, homes: Homes) -> tuple[pd.DataFrame, str]:
    """People per building (rows in ``homes`` order) and target group; estimated when none are recorded."""
    groups = ", ".join(f"count(*) FILTER (WHERE {band_condition(name)}) AS {name}"
                       for name in TARGET_BANDS if name != "all")
    # The only text put into this SQL is the catalogue's band names and integer bounds, never input.
    rows = session.execute(text(f"""
        SELECT building_id, count(*) AS "all", {groups}
        FROM (SELECT building_id, date_part('year', age(current_date, birth_date))::int AS age
              FROM resident WHERE district_code = :d) r
        GROUP BY building_id"""), {"d": homes.district_code}).mappings().all()
    if not rows:
        return estimate_population(homes.households), "estimated from households (no residents recorded)"
    frame = pd.DataFrame(rows).set_index("building_id").reindex(homes.building_ids).fillna(0).astype(np.int64)
    return frame.reset_index(drop=True)[list(TARGET_GROUPS)], "residents"


def band_condition(group: str, column: str = "age") -> str:
    """SQL condition for target ``group`` on completed years in ``column`` (half-open, never BETWEEN)."""
    low, high = TARGET_BANDS[group]
    return f"{column} >= {int(low)}" + (f" AND {column} < {int(high)}" if high is not None else "")


def unit_names(session: Session, level: str, district_code: str) -> dict[str, str]:
    """Code → name of the district's current units of ``level`` (street, community or grid)."""
    unit = level_table(level)
    rows = session.execute(select(unit.c.code, unit.c.name).where(
        unit.c.valid_to.is_(None), unit.c.district_code == district_code))
    return {code: name for code, name in rows}


def _unit_of_buildings(session: Session, level: str, district_code: str, ids: np.ndarray) -> pd.Series:
    """The code of the current unit of ``level`` each building's point-on-surface falls in (by building id)."""
    unit = level_table(level).alias("u")
    building = Building.__table__.alias("b")
    code = (select(unit.c.code)
            .where(unit.c.valid_to.is_(None), unit.c.district_code == building.c.district_code,
                   func.ST_Intersects(unit.c.geom, func.ST_PointOnSurface(building.c.geom)))
            .order_by(unit.c.code).limit(1).scalar_subquery())
    rows = session.execute(select(building.c.id, code).where(
        building.c.district_code == district_code,
        building.c.id == any_(literal(ids.tolist(), ARRAY(BigInteger))))).all()
    return pd.Series({int(i): c for i, c in rows if c is not None}, dtype=object)


def units_of(session: Session, homes: Homes) -> tuple[pd.DataFrame, dict[str, dict[str, str]]]:
    """Street, community and grid code of every building (where its point-on-surface falls), and unit names."""
    frame = pd.DataFrame(index=pd.Index(homes.building_ids, name="id"),
                         columns=list(LEVEL_COLUMNS.values()), dtype=object)
    names: dict[str, dict[str, str]] = {}
    for level, column in LEVEL_COLUMNS.items():
        names[level] = unit_names(session, level, homes.district_code)
        if not names[level]:
            continue  # no boundaries of this level: nothing to look up per building
        found = _unit_of_buildings(session, level, homes.district_code, homes.building_ids)
        frame.loc[found.index, column] = found.to_numpy()
    frame = frame.reset_index(drop=True)
    return frame.astype(object).where(frame.notna(), None), names


def metric_points(frame: gpd.GeoDataFrame, crs: str) -> np.ndarray:
    """The frame's geometries in the metric ``crs``, as a numpy array (empty for an empty frame)."""
    return np.asarray(frame.geometry.to_crs(crs).values, dtype=object) if len(frame) else np.empty(0, dtype=object)


def require_network(prepared: PreparedDistrict, code: str) -> AttachedNetwork:
    """The district's attached walk network; an ``InvalidInput`` when it has none."""
    if prepared.graph is None:
        raise InvalidInput(f"district {code} has no walk network: siting, what-if and isochrones need one",
                           details={"field": "district_code"})
    return prepared.graph


def facility_reach(prepared: PreparedDistrict, facilities: gpd.GeoDataFrame, type_code: str,
                   limit_m: float) -> tuple[Reach, np.ndarray]:
    """The type's facility × building reach table, cached with the network until a facility changes."""
    graph = require_network(prepared, prepared.district_code)
    ids = facilities["id"].to_numpy(dtype=np.int64)
    pts = metric_points(facilities, prepared.crs)
    key = (type_code, limit_m, tuple(ids.tolist()), tuple(shapely.to_wkb(pts).tolist()) if len(pts) else ())
    hit = prepared.reach_cache.get(key)
    if hit is None:
        hit = (reach_by_network(graph, locate_sites(graph, pts), limit_m=limit_m), ids)
        prepared.reach_cache.clear()  # one type at a time is what interactive what-if needs
        prepared.reach_cache[key] = hit
    return hit
