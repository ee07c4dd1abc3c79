"""Use cases that load a district's source data: OSM imports and synthetic districts.

Each runs in one transaction: on any error nothing is written.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from gis.crs import metric_crs_for_frame
from gis.db.frames import allocate_ids, copy_frame, copy_rows
from gis.db.models import Base, Building, District, FacilityType
from gis.errors import Conflict, InvalidInput
from gis.idnumbers import IdKeys
from gis.layers import DistrictLayers
from gis.progress import Progress, noop_progress
from gis.provinces import province_mismatch
from gis.services import privacy
from gis.settings import Settings

OSM_ATTRIBUTION = "© OpenStreetMap contributors (ODbL 1.0)"

# Tables holding a district's source data, children first (the order a replace deletes in).
SOURCE_TABLES = (
    "resident_private", "resident", "household", "dwelling", "party_org", "plan_assignment",
    "facility", "walk_edge", "walk_node", "barrier", "building", "compound_gate", "compound",
)


def check_district_code(code: str) -> str:
    """A district code is the 6-digit adcode (e.g. 320102 for 玄武区)."""
    if not (isinstance(code, str) and len(code) == 6 and code.isdigit()):
        raise InvalidInput.for_field("district_code", f"must be a 6-digit adcode such as 320102, got {code!r}")
    return code


def clear_district_data(session: Session, district_code: str) -> None:
    """Delete a district's buildings, network, facilities and people (boundaries and plans stay)."""
    _delete_district_rows(session, SOURCE_TABLES, district_code)


def _delete_district_rows(session: Session, tables: Sequence[str], district_code: str) -> None:
    """Delete the district's rows of each table, in the order given (children first)."""
    for name in tables:
        table = Base.metadata.tables[name]
        session.execute(delete(table).where(table.c.district_code == district_code))


def store_layers(
    session: Session,
    layers: DistrictLayers,
    *,
    district_code: str,
    name: str,
    source: str,
    attribution: str | None,
    replace: bool = False,
    allow_overlap: bool = False,
    progress: Progress = noop_progress,
) -> dict[str, Any]:
    """Write a district's layers (buildings, network, barriers, compounds, facilities); returns counts.

    Recorded household counts of the buildings replaced are kept (matched by OSM id). Data that
    lies on another district's buildings is refused unless ``allow_overlap``; data far from the
    province of ``district_code`` and an import that keeps no facility are named in ``warnings``.
    """
    check_district_code(district_code)
    held = session.scalar(select(func.count()).select_from(Building).where(Building.district_code == district_code))
    if held and not replace:
        raise Conflict(
            f"replace: district {district_code} already holds {held} buildings; replace them to load it again",
            details={"field": "replace", "district_code": district_code, "buildings": held},
        )
    warnings: list[str] = []
    kept_records = _recorded_counts(session, district_code) if held and not _synthetic(layers) else {}
    if held:
        clear_district_data(session, district_code)
    district = session.scalar(select(District).where(District.code == district_code))
    if district is None:
        district = District(code=district_code, name=name)
        session.add(district)
    district.name, district.source, district.attribution = name, source, attribution
    # The hull of the footprints taken together, not of their union: the same polygon without
    # overlaying every footprint first (0.24 s of a 1.4 s store at 200,000 households).
    hull = (shapely.convex_hull(shapely.geometrycollections(layers.buildings.geometry.values))
            if len(layers.buildings) else None)
    if hull is not None and hull.geom_type == "Polygon":
        district.geom = f"SRID=4490;{shapely.MultiPolygon([hull]).wkt}"
    session.flush()
    district.network_version = (district.network_version or 0) + 1

    progress("compounds", 0.1)
    compound_ids = allocate_ids(session, "compound", len(layers.compounds))
    compounds = layers.compounds.assign(id=compound_ids, district_code=district_code)
    compounds = compounds.set_geometry(_multipolygons(compounds.geometry))
    copy_frame(session, "compound", compounds, ("id", "district_code", "osm_id", "name", "geom"))

    progress("buildings", 0.25)
    buildings = _building_rows(layers.buildings, compounds, district_code, synthetic=_synthetic(layers))
    kept = _keep_recorded(buildings, kept_records)
    buildings["id"] = allocate_ids(session, "building", len(buildings))
    copy_frame(session, "building", buildings, BUILDING_ROW_COLUMNS)
    _check_overlap(session, district_code, len(buildings), allow_overlap=allow_overlap, warnings=warnings)
    if hull is not None:
        centre = hull.centroid
        mismatch = province_mismatch(district_code, centre.x, centre.y)
        if mismatch:
            warnings.append(mismatch)

    progress("walk network", 0.5)
    node_ids = allocate_ids(session, "walk_node", len(layers.nodes))
    id_of = pd.Series(node_ids, index=layers.nodes["node_id"].to_numpy())
    nodes = layers.nodes.assign(id=node_ids, district_code=district_code)
    copy_frame(session, "walk_node", nodes, ("id", "district_code", "osm_id", "geom"))
    edges = layers.edges.assign(
        district_code=district_code,
        source=id_of.reindex(layers.edges["source"].to_numpy()).to_numpy(),
        target=id_of.reindex(layers.edges["target"].to_numpy()).to_numpy(),
        cost=layers.edges["length_m"].to_numpy(),
        reverse_cost=layers.edges["length_m"].to_numpy(),
    )
    if edges["source"].isna().any() or edges["target"].isna().any():
        raise InvalidInput(f"{source}: {int(edges['source'].isna().sum())} walk edges end at unknown nodes")
    copy_frame(session, "walk_edge", edges, ("district_code", "source", "target", "length_m", "cost", "reverse_cost",
                                             "highway", "is_main_road", "name", "osm_id", "geom"))

    progress("barriers and facilities", 0.8)
    barriers = layers.barriers.assign(district_code=district_code)
    copy_frame(session, "barrier", barriers, ("district_code", "kind", "name", "osm_id", "geom"))
    known = set(session.scalars(select(FacilityType.code)))
    facilities = layers.facilities[layers.facilities["type_code"].isin(known)]
    unknown_types = sorted(set(layers.facilities["type_code"]) - known)
    if len(layers.facilities) and not len(facilities):
        why = ("the facility catalogue is empty: run `wangge db migrate` (or `wangge db start`) to fill it"
               if not known else f"none of their types ({', '.join(unknown_types)}) is in the facility catalogue")
        warnings.append(f"none of the {len(layers.facilities)} facilities found in {source} was kept: {why}; "
                        "coverage will find no facilities")
    elif not len(layers.facilities) and not _synthetic(layers):
        warnings.append(f"{source} holds no facility the catalogue recognises (by tag or name); "
                        "coverage will find no facilities")
    facilities = facilities.assign(district_code=district_code, source="synthetic" if _synthetic(layers) else "osm")
    copy_frame(session, "facility", facilities,
               ("district_code", "type_code", "name", "osm_id", "classified_by", "source", "geom"))
    progress("done", 1.0)

    return {
        "district_code": district_code,
        "name": name,
        "buildings": len(buildings),
        "residential_buildings": int((buildings["households"] > 0).sum()),
        "households": int(buildings["households"].sum()),
        "households_estimated": int(buildings.loc[buildings["households_source"] == "estimated", "households"].sum()),
        "nodes": len(nodes),
        "edges": len(edges),
        "main_road_edges": int(edges["is_main_road"].sum()),
        "barriers": {str(k): int(v) for k, v in barriers["kind"].value_counts().items()},
        "compounds": len(compounds),
        "facilities": len(facilities),
        "facilities_by_type": {str(k): int(v) for k, v in facilities["type_code"].value_counts().sort_index().items()},
        "facility_types_not_in_catalogue": unknown_types,
        "network_version": district.network_version,
        "synthetic": _synthetic(layers),
        "recorded_counts_kept": kept,
        "warnings": warnings,
    }


def _recorded_counts(session: Session, district_code: str) -> dict[int, dict[str, Any]]:
    """Counts recorded by people in a district, by OSM id: a re-import keeps them."""
    rows = session.execute(text("""
        SELECT osm_id, households, households_reason_detail, households_recorded_by, households_recorded_at,
               households_recorded_reason
        FROM building WHERE district_code = :d AND households_source = 'recorded' AND osm_id IS NOT NULL
          AND NOT synthetic"""), {"d": district_code}).mappings().all()
    return {int(r["osm_id"]): dict(r) for r in rows}


def _keep_recorded(buildings: gpd.GeoDataFrame, records: dict[int, dict[str, Any]]) -> int:
    """Put recorded counts back on the new rows of the same OSM ids; returns how many."""
    if not records or not len(buildings):
        return 0
    kept = 0
    for i, osm_id in zip(buildings.index, buildings["osm_id"].tolist(), strict=True):
        rec = records.get(int(osm_id)) if osm_id is not None and not pd.isna(osm_id) else None
        if rec is None:
            continue
        detail = dict(rec["households_reason_detail"] or {})
        detail.update(estimate=int(buildings.at[i, "households"]), estimate_reason=buildings.at[i, "households_reason"])
        buildings.at[i, "households"] = int(rec["households"])
        buildings.at[i, "households_source"] = "recorded"
        buildings.at[i, "households_reason"] = "recorded"
        buildings.at[i, "households_reason_detail"] = json.dumps(detail, ensure_ascii=False)
        buildings.at[i, "households_recorded_by"] = rec["households_recorded_by"]
        buildings.at[i, "households_recorded_at"] = rec["households_recorded_at"]
        buildings.at[i, "households_recorded_reason"] = rec["households_recorded_reason"]
        kept += 1
    return kept


# Another district's buildings may touch the new data along a shared edge; more than this share
# (or this many) lying on new buildings means the same data loaded twice.
_OVERLAP_SHARE = 0.05
_OVERLAP_MIN = 10


def _check_overlap(session: Session, district_code: str, n_new: int, *, allow_overlap: bool,
                   warnings: list[str]) -> None:
    """Refuse data that lies on another district's buildings (the same extract under a second code)."""
    if not n_new:
        return
    rows = session.execute(text("""
        SELECT o.district_code, d.name, count(DISTINCT o.id) AS n
        FROM building n JOIN building o ON o.district_code <> n.district_code
             AND o.geom && n.geom AND ST_Contains(n.geom, ST_PointOnSurface(o.geom))
        LEFT JOIN district d ON d.code = o.district_code
        WHERE n.district_code = :d GROUP BY o.district_code, d.name ORDER BY n DESC"""), {"d": district_code}).all()
    for other, name, n in rows:
        if n < _OVERLAP_MIN and n < _OVERLAP_SHARE * n_new:
            continue
        text_ = (f"the data of district {district_code} overlaps district {other} ({name or 'unnamed'}): {n} of its "
                 f"buildings lie on buildings being imported")
        if not allow_overlap:
            raise Conflict(f"allow_overlap: {text_}; is this the same extract under a second code? Allow the "
                           "overlap to import it anyway",
                           details={"field": "allow_overlap", "district_code": district_code, "overlaps": other,
                                    "buildings": int(n)})
        warnings.append(text_ + " (allowed by allow_overlap)")


BUILDING_ROW_COLUMNS = (
    "id", "district_code", "osm_id", "name", "kind", "levels", "height_m", "floors", "floors_estimated", "area_m2",
    "households", "households_source", "households_reason", "households_reason_detail", "households_recorded_by",
    "households_recorded_at", "households_recorded_reason", "compound_id", "synthetic", "geom",
)


def _synthetic(layers: DistrictLayers) -> bool:
    return bool(layers.report.get("synthetic", False))


def _multipolygons(geoms: gpd.GeoSeries) -> gpd.GeoSeries:
    """Polygons as one-part MultiPolygons (the tables' type); other geometries and None as they are."""
    values = np.asarray(geoms.values, dtype=object)
    polygons = np.flatnonzero(shapely.get_type_id(values) == shapely.GeometryType.POLYGON)
    if len(polygons):
        values = values.copy()
        values[polygons] = shapely.multipolygons(values[polygons], indices=np.arange(len(polygons)))
    return gpd.GeoSeries(values, index=geoms.index, crs=geoms.crs, name=geoms.name)


def _building_rows(
    buildings: gpd.GeoDataFrame, compounds: gpd.GeoDataFrame, district_code: str, *, synthetic: bool
) -> gpd.GeoDataFrame:
    """Buildings as rows of the building table: metric area, compound link, households source."""
    frame = buildings.copy()
    metric = metric_crs_for_frame(frame) if len(frame) else "EPSG:4549"
    frame["area_m2"] = frame.geometry.to_crs(metric).area.round(1) if len(frame) else []
    frame["compound_id"] = pd.array([pd.NA] * len(frame), dtype="Int64")
    if len(frame) and len(compounds):
        points = gpd.GeoDataFrame(geometry=frame.geometry.representative_point(), crs=frame.crs)
        hit = gpd.sjoin(points, compounds[["id", "geometry"]], predicate="within", how="inner")
        hit = hit[~hit.index.duplicated()]
        frame.loc[hit.index, "compound_id"] = hit["id"].to_numpy()
    for column, default in (("floors", pd.NA), ("floors_estimated", True), ("height", np.nan), ("levels", pd.NA)):
        if column not in frame:
            frame[column] = default
    frame["height_m"] = frame["height"]
    frame["households"] = frame["households"].fillna(0).astype(int)
    estimated = frame["households_estimated"].fillna(True).astype(bool)
    frame["households_source"] = np.where(estimated, "estimated", "recorded")
    if "households_reason" not in frame:
        frame["households_reason"] = None
    details = frame["households_reason_detail"] if "households_reason_detail" in frame else [None] * len(frame)
    frame["households_reason_detail"] = [json.dumps(d, ensure_ascii=False) if isinstance(d, dict) else None
                                         for d in details]
    for column in ("households_recorded_by", "households_recorded_at", "households_recorded_reason"):
        frame[column] = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    frame["district_code"] = district_code
    frame["synthetic"] = synthetic
    frame = frame.set_geometry(_multipolygons(frame.geometry))
    return frame


def import_osm(
    session: Session,
    path: Path,
    *,
    district_code: str,
    name: str,
    settings: Settings,
    replace: bool = False,
    allow_overlap: bool = False,
    review_top: int = 5,
    progress: Progress = noop_progress,
) -> dict[str, Any]:
    """Read an OSM extract, estimate households, and store it as a district (atomic).

    The report's ``review`` lists the ``review_top`` estimates most likely wrong
    (``gis.services.households.review_households``).
    """
    from gis.services.households import review_households

    check_district_code(district_code)
    started = time.perf_counter()
    layers = read_osm_with_households(path, settings, progress=lambda stage, f: progress(f"reading: {stage}", 0.4 * f))
    report = store_layers(
        session, layers, district_code=district_code, name=name, source=str(Path(path).name),
        attribution=OSM_ATTRIBUTION, replace=replace, allow_overlap=allow_overlap,
        progress=lambda stage, f: progress(f"storing: {stage}", 0.4 + 0.6 * f),
    )
    report["review"] = review_households(session, settings, district_code=district_code, top=review_top)
    report["read"] = {k: v for k, v in layers.report.items() if k not in {"elapsed_s"}}
    report["invalid_repaired"] = layers.report.get("invalid_repaired", 0)
    report["invalid_skipped"] = layers.report.get("invalid_skipped", 0)
    report["elapsed_s"] = round(time.perf_counter() - started, 2)
    report["attribution"] = OSM_ATTRIBUTION
    return report


def read_osm_with_households(path: Path, settings: Settings, *, progress: Progress = noop_progress) -> DistrictLayers:
    """Read an OSM extract and estimate households per building with the configured parameters.

    Few Chinese extracts map residential land, and ``building=yes`` is the usual tag of a
    housing block there, so an unspecific building counts as housing unless its name or
    its use as a facility says otherwise (see ``gis.households.estimate_households``).
    """
    from gis.catalogue import GENERAL_HOSPITAL
    from gis.households import estimate_households
    from gis.osm import read_osm

    counts_as = {GENERAL_HOSPITAL: settings.general_hospital_counts_as} if settings.general_hospital_counts_as else None
    layers = read_osm(path, counts_as=counts_as, progress=progress)
    layers.buildings = estimate_households(
        layers.buildings,
        context_areas=layers.land_use,
        non_residential_ids=_facility_building_ids(layers),
        **estimate_options(settings),
    )
    return layers


def estimate_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments of ``gis.households.estimate_households`` that settings configure."""
    return {
        "mean_dwelling_m2": settings.mean_dwelling_m2,
        "usable_share": settings.usable_share,
        "default_residential_floors": settings.default_residential_floors,
        "storey_height_m": settings.storey_height_m,
        "neighbour_radius_m": settings.neighbour_floors_radius_m,
        "neighbour_min": settings.neighbour_floors_min,
        "large_single_storey_m2": settings.large_single_storey_m2,
        "large_footprint_m2": settings.large_footprint_m2,
        "house_footprint_m2": settings.house_footprint_m2,
    }


def _facility_building_ids(layers: DistrictLayers) -> dict[int, str]:
    """OSM ids of buildings that are themselves facilities (schools, clinics), with their type: not housing."""
    if not len(layers.facilities) or "osm_id" not in layers.facilities:
        return {}
    frame = layers.facilities.dropna(subset=["osm_id"])
    return {int(i): str(t) for i, t in zip(frame["osm_id"], frame["type_code"], strict=True)}


def generate_and_store_district(
    session: Session,
    *,
    households: int,
    seed: int,
    district_code: str,
    name: str,
    replace: bool = False,
    progress: Progress = noop_progress,
) -> dict[str, Any]:
    """Generate a synthetic district (gis.synthetic) and store it like an import."""
    from gis.synthetic import generate_district

    started = time.perf_counter()
    layers = generate_district(households=households, seed=seed,
                               progress=lambda stage, f: progress(f"generating: {stage}", 0.5 * f))
    report = store_layers(
        session, layers, district_code=district_code, name=name,
        source=f"synthetic(households={households}, seed={seed})",
        attribution="synthetic data, not a real place", replace=replace,
        progress=lambda stage, f: progress(f"storing: {stage}", 0.5 + 0.5 * f),
    )
    report["elapsed_s"] = round(time.perf_counter() - started, 2)
    return report


def write_people(
    session: Session, households: pd.DataFrame, residents: pd.DataFrame, *, district_code: str, keys: IdKeys
) -> dict[str, int]:
    """COPY generated households (with their dwellings) and residents, the private part kept apart.

    ID numbers are written as privacy.seal_id_number makes them (ciphertext, lookup hash, mask), never plain.
    """
    dwelling_ids = allocate_ids(session, "dwelling", len(households))
    household_ids = allocate_ids(session, "household", len(households))
    hh = households.assign(dwelling_db_id=dwelling_ids, household_db_id=household_ids, district_code=district_code)
    copy_rows(session, "dwelling", ("id", "district_code", "building_id", "unit", "floor", "room", "address"),
              zip(hh["dwelling_db_id"], hh["district_code"], hh["building_id"], hh["unit"].astype(str),
                  hh["floor"], hh["room"].astype(str), hh.get("address", pd.Series([None] * len(hh))), strict=True))
    copy_rows(session, "household", ("id", "district_code", "building_id", "dwelling_id", "size", "synthetic"),
              zip(hh["household_db_id"], hh["district_code"], hh["building_id"], hh["dwelling_db_id"], hh["size"],
                  hh["synthetic"], strict=True))
    db_household = pd.Series(household_ids, index=households["household_id"].to_numpy())
    resident_ids = allocate_ids(session, "resident", len(residents))
    res = residents.assign(
        id=resident_ids, district_code=district_code,
        household_db_id=db_household.reindex(residents["household_id"].to_numpy()).to_numpy(),
    )
    copy_rows(session, "resident",
              ("id", "district_code", "household_id", "building_id", "name", "sex", "birth_date", "relation",
               "residency", "party_member", "synthetic"),
              zip(res["id"], res["district_code"], res["household_db_id"], res["building_id"], res["name"], res["sex"],
                  res["birth_date"], res["relation"], res["residency"], res["party_member"], res["synthetic"],
                  strict=True))
    sealed = [privacy.seal_id_number(keys, n) if n else (None, None, None) for n in res["id_number"]]
    copy_rows(session, "resident_private",
              ("resident_id", "district_code", "id_number", "id_number_hash", "id_number_masked", "phone", "tags"),
              ((rid, d, *seal, phone, list(t) if t is not None else [])
               for rid, d, seal, phone, t in zip(res["id"], res["district_code"], sealed, res["phone"], res["tags"],
                                                 strict=True)))
    return {"households": len(households), "residents": len(residents)}


def generate_residents_for_district(session: Session, *, district_code: str, seed: int, keys: IdKeys,
                                    replace: bool = False, progress: Progress = noop_progress) -> dict[str, Any]:
    """Synthetic households and residents for every residential building of a district (atomic)."""
    from gis.synthetic import generate_residents

    held = session.scalar(text("SELECT count(*) FROM resident WHERE district_code = :d"), {"d": district_code})
    if held and not replace:
        raise Conflict(f"replace: district {district_code} already has {held} residents; replace them to generate "
                       "again", details={"field": "replace", "district_code": district_code, "residents": held})
    if held:
        _delete_district_rows(session, ("resident_private", "resident", "household", "dwelling"), district_code)
    progress("reading buildings", 0.05)
    buildings = pd.DataFrame(
        session.execute(text("SELECT id AS building_id, households FROM building "
                             "WHERE district_code = :d AND households > 0 ORDER BY id"), {"d": district_code}).all(),
        columns=["building_id", "households"],
    )
    if buildings.empty:
        raise InvalidInput(f"district {district_code} has no residential buildings: import it first")
    progress("generating", 0.2)
    households, residents = generate_residents(buildings, seed=seed, district_code=district_code)
    progress("storing", 0.6)
    counts = write_people(session, households, residents, district_code=district_code, keys=keys)
    progress("done", 1.0)
    ages = (pd.Timestamp("today") - pd.to_datetime(residents["birth_date"])).dt.days / 365.25
    return {
        "district_code": district_code, "seed": seed, "synthetic": True, **counts,
        "aged_60_plus": int((ages >= 60).sum()), "aged_3_6": int(((ages >= 3) & (ages < 7)).sum()),
        "tags": {str(k): int(v) for k, v in residents["tags"].explode().dropna().value_counts().items()},
    }


