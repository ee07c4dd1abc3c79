"""Use cases on street, community and grid boundaries: import, export, check, describe.

Imports are atomic (one transaction; any bad row and nothing is written) and versioned: a
code that already has a current boundary gets a new version, the old one a ``valid_to``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, TypedDict

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from gis.crs import metric_crs_for_frame
from gis.db.frames import read_frame
from gis.db.levels import BOUNDARY_MODELS, PARENT_COLUMN, PARENT_LEVEL, check_level, level_table
from gis.db.models import Building, District
from gis.errors import InvalidInput, NotFound
from gis.four_limits import describe_four_limits
from gis.io.boundaries import read_boundaries, write_boundaries
from gis.services.checks import check_stored
from gis.settings import Settings
from gis.topology import Finding, findings_to_geojson

# A grid may poke out of its community by a sliver of digitising noise, not more.
OUTSIDE_TOLERANCE_M2 = 5.0


class BoundaryImport(TypedDict):
    """What an import stored: units read, how many are new codes and how many new versions, 四至 by code."""

    file: str
    level: str
    imported: int
    new: int
    new_versions: int
    source_crs: str | None
    encoding: str | None
    warnings: list[str]
    four_limits: dict[str, str]


class BoundaryExport(TypedDict):
    level: str
    file: str
    units: int


class BoundaryCheck(TypedDict):
    """Topology and size findings over the current boundaries, counted by kind, as text and as GeoJSON."""

    streets: int
    communities: int
    grids: int
    level_2_grids: int
    clean: bool
    findings_by_kind: dict[str, int]
    communities_without_grids: int | None
    grids_across_barriers: int
    split_buildings: int
    findings: list[str]
    geojson: dict[str, Any]


def current_units(session: Session, level: str, *, district_code: str | None = None,
                  as_of: dt.datetime | None = None) -> gpd.GeoDataFrame:
    """Current (or as-of) boundaries of one level, with ``code``, ``name``, ``parent_code``."""
    t = level_table(level).c
    extra = [t.kind, t.level.label("grid_level"), t.parent_grid_code] if level == "grid" else []
    query = select(t.id, t.code, t.name, t[PARENT_COLUMN[level]].label("parent_code"), t.district_code, t.version,
                   t.four_limits, *extra, func.ST_AsBinary(t.geom).label("geom"))
    if as_of:
        query = query.where(t.valid_from <= as_of, or_(t.valid_to.is_(None), t.valid_to > as_of))
    else:
        query = query.where(t.valid_to.is_(None))
    if district_code:
        query = query.where(t.district_code == district_code)
    return read_frame(session, query.order_by(t.code))


def import_boundaries(
    session: Session,
    path: Path,
    *,
    level: str,
    source_crs: str | None = None,
    encoding: str | None = None,
    code_field: str | None = None,
    name_field: str | None = None,
    reason: str | None = None,
) -> BoundaryImport:
    """Validate a boundary file against the database and store it as new boundary versions."""
    check_level(level)
    read = read_boundaries(path, level=level, source_crs=source_crs, encoding=encoding,
                           code_field=code_field, name_field=name_field)
    frame = read.frame.reset_index(drop=True)
    where = Path(path).name
    warnings = list(read.warnings)
    _check_parents(session, frame, level=level, where=where, warnings=warnings)

    model = BOUNDARY_MODELS[level]
    # rows of the level's model (Street, Community or Grid): the code, id and version are common to all three
    held: list[Any] = list(session.scalars(
        select(model).where(model.valid_to.is_(None), model.code.in_(frame["code"].tolist()))))
    existing: dict[str, Any] = {u.code: u for u in held}
    now = dt.datetime.now(dt.UTC)
    if existing:
        session.execute(update(model).where(model.id.in_([u.id for u in existing.values()])).values(valid_to=now))
        session.flush()
    for row in frame.itertuples():
        previous = existing.get(row.code)
        attrs = row.attrs if isinstance(row.attrs, dict) else {}
        values: dict[str, Any] = {
            "code": row.code, "name": row.name or row.code, "district_code": row.code[:6],
            "geom": f"SRID=4490;{row.geometry.wkt}", "valid_from": now,
            "version": (previous.version + 1) if previous else 1,
            "reason": reason or (f"imported from {where}" if previous is None else f"re-imported from {where}"),
        }
        if level == "community":
            values["street_code"] = row.parent_code
        if level == "grid":
            values["community_code"] = row.parent_code
            values["kind"] = "dedicated" if str(attrs.get("kind", "")).lower() in {"dedicated", "专属", "专属网格"} \
                else "general"
            values["level"] = 2 if str(attrs.get("level", "1")) == "2" else 1
        session.add(model(**values))
    session.flush()
    described = describe_units(session, level=level, codes=frame["code"].tolist())
    return {
        "file": where, "level": level, "imported": len(frame),
        "new": len(frame) - len(existing), "new_versions": len(existing),
        "source_crs": read.source_crs, "encoding": read.encoding, "warnings": warnings,
        "four_limits": described,
    }


def _check_parents(session: Session, frame: gpd.GeoDataFrame, *, level: str, where: str,
                   warnings: list[str]) -> None:
    """Every unit's parent must exist; a grid must lie inside its community."""
    if level == "street":
        known = set(session.scalars(select(District.code)))
        for code in sorted(set(frame["parent_code"]) - known):
            session.add(District(code=code, name=code))
            warnings.append(f"district {code} was not known and has been created with its code as name")
        session.flush()
        return
    parents = current_units(session, PARENT_LEVEL[level])
    parent_geom = dict(zip(parents["code"], parents.geometry, strict=True))
    metric = metric_crs_for_frame(frame)
    for i, row in enumerate(frame.itertuples(), start=1):
        if row.parent_code not in parent_geom:
            raise InvalidInput(
                f"{where}: row {i} (code {row.code}): its {PARENT_LEVEL[level]} {row.parent_code} does not exist; "
                f"import the {PARENT_LEVEL[level]} boundaries first",
                details={"row": i, "code": row.code, "parent_code": row.parent_code},
            )
        if level == "grid":
            outside = shapely.difference(row.geometry, parent_geom[row.parent_code])
            area = gpd.GeoSeries([outside], crs=frame.crs).to_crs(metric).area.iloc[0] if not outside.is_empty else 0
            if area > OUTSIDE_TOLERANCE_M2:
                point = outside.representative_point()
                raise InvalidInput(
                    f"{where}: row {i} (code {row.code}): grid lies {area:,.0f} m² outside its community "
                    f"{row.parent_code} near {point.x:.5f}, {point.y:.5f}",
                    details={"row": i, "code": row.code, "outside_m2": round(float(area), 1)},
                )


def describe_units(session: Session, *, level: str, codes: list[str] | None = None) -> dict[str, str]:
    """Compute and store the four limits (四至) of current units; returns code → text."""
    units = current_units(session, level)
    if units.empty:
        return {}
    features = read_frame(session, """
        SELECT name, 'road' AS kind, ST_AsBinary(geom) AS geom FROM walk_edge WHERE name IS NOT NULL
        UNION ALL
        SELECT name, kind, ST_AsBinary(geom) FROM barrier WHERE name IS NOT NULL""")
    out: dict[str, str] = {}
    for row in units.itertuples():
        if codes is not None and row.code not in codes:
            continue
        near = features[features.intersects(row.geometry.buffer(0.002))] if len(features) else features
        limits = describe_four_limits(row.geometry, features=near, neighbours=units[["code", "name", "geometry"]])
        table = level_table(level)
        session.execute(update(table).where(table.c.id == int(row.id)).values(four_limits=limits))
        out[row.code] = limits["text"]
    return out


def export_boundaries(session: Session, *, level: str, path: Path, fmt: str | None = None,
                      district_code: str | None = None, as_of: dt.datetime | None = None) -> BoundaryExport:
    """Write current (or as-of) boundaries of one level to a file."""
    units = current_units(session, level, district_code=district_code, as_of=as_of)
    if units.empty:
        raise NotFound(f"no {level} boundaries to export" + (f" in district {district_code}" if district_code else ""))
    attrs = []
    for row in units.itertuples():
        extra = {"version": row.version}
        if level == "grid":
            extra.update(kind=row.kind, level=row.grid_level)
        if isinstance(row.four_limits, dict):
            extra["four_limits"] = row.four_limits.get("text")
        attrs.append(extra)
    frame = gpd.GeoDataFrame({"code": units["code"], "name": units["name"], "parent_code": units["parent_code"],
                              "attrs": attrs}, geometry=units.geometry, crs=units.crs)
    written = write_boundaries(frame, path, format=fmt)
    return {"level": level, "file": str(written), "units": len(frame)}


def household_counts(session: Session, level: str) -> pd.Series:
    """Households per current unit (buildings counted where their point-on-surface falls)."""
    u, b = level_table(level).c, Building.__table__.c
    rows = session.execute(
        select(u.code, func.coalesce(func.sum(b.households), 0))
        .select_from(level_table(level).outerjoin(Building, func.ST_Contains(u.geom, func.ST_PointOnSurface(b.geom))))
        .where(u.valid_to.is_(None)).group_by(u.code)).all()
    return pd.Series({code: int(n) for code, n in rows}, dtype="int64")


def check_boundaries(session: Session, settings: Settings) -> BoundaryCheck:
    """Topology and size findings: grids within communities, communities within streets."""
    streets = current_units(session, "street")
    communities = current_units(session, "community")
    grids = current_units(session, "grid")
    findings: list[Finding] = []
    if len(communities) and len(streets):
        findings += check_stored(
            session, settings, communities, streets, child_level="community",
            households=household_counts(session, "community"),
            min_households=settings.community_min_households, max_households=settings.community_max_households,
        )
    # Level-2 grids tile their parent grid, not the community: checked against it alone, never as
    # overlaps of the level-1 grids.
    from gis.services.levels import level_frames

    first, micro, micro_parents = level_frames(grids) if len(grids) else (grids, grids, grids)
    if len(first) and len(communities):
        # Every community of a district that has grids should have them: one without is a finding.
        gridded = communities[communities["district_code"].isin(set(first["district_code"]))]
        findings += check_stored(
            session, settings, first, gridded, child_level="grid",
            households=household_counts(session, "grid"), dedicated=first.set_index("code")["kind"] == "dedicated",
            min_households=settings.grid_min_households, max_households=settings.grid_max_households,
        )
    if len(micro):
        findings += check_stored(session, settings, micro, micro_parents, child_level="grid", parent_level="grid",
                                 households=household_counts(session, "grid"),
                                 max_households=settings.micro_grid_max_households)
    by_kind: dict[str, int] = {}
    for f in findings:
        by_kind[f.kind] = by_kind.get(f.kind, 0) + 1
    return {
        "streets": len(streets), "communities": len(communities), "grids": len(grids),
        "level_2_grids": len(micro) if len(grids) else 0,
        "clean": not findings, "findings_by_kind": by_kind,
        "communities_without_grids": by_kind.get("empty_parent", 0) if len(grids) else None,
        "grids_across_barriers": by_kind.get("across_barrier", 0),
        "split_buildings": by_kind.get("split_building", 0),
        "findings": [f.message for f in findings],
        "geojson": findings_to_geojson(findings),
    }


def codes_ever_used(session: Session, level: str, parent_code: str) -> list[str]:
    """Every code, current or retired, under a parent: retired codes are never given out again."""
    t = level_table(level).c
    return list(session.scalars(select(t.code).distinct().where(t.code.startswith(parent_code, autoescape=True))))
