"""Merging bordering grids of one community, or communities of one street (撤并): the first code continues."""

from __future__ import annotations

from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy.orm import Session

from gis.db.levels import PLURAL
from gis.errors import InvalidGeometry, InvalidInput
from gis.services.edits.geometry import (
    Metric,
    clean,
    parts,
)
from gis.services.edits.units import (
    Unit,
    check_code,
    check_name,
    check_reason,
    check_versions,
    children,
    lock_parent,
    lock_unit,
)
from gis.services.edits.writing import Edit, EditResult, NewVersion, apply, retire_grids_of, staff_of
from gis.services.users import SYSTEM, Principal
from gis.settings import Settings


def _merge_request(level: str, codes: Any, reason: str, name: str | None) -> tuple[list[str], str, str | None]:
    """The codes, reason and new name of a merge, checked: at least two distinct units of one parent."""
    plural, parent_len, parents, hint = {
        "grid": ("grids", 12, "communities", " (redraw the communities first)"),
        "community": ("communities", 9, "streets", ""),
    }[level]
    if not isinstance(codes, list | tuple) or len(codes) < 2:
        raise InvalidInput(f"codes: name at least two {plural} to merge; received {codes!r}",
                           details={"field": "codes"})
    codes = [check_code(level, c, field="codes") for c in codes]
    dup = sorted({c for c in codes if codes.count(c) > 1})
    if dup:
        raise InvalidInput(f"codes: {level} {', '.join(dup)} is named more than once", details={"field": "codes"})
    parent_codes = sorted({c[:parent_len] for c in codes})
    if len(parent_codes) > 1:
        raise InvalidInput(f"codes: {plural} {', '.join(codes)} lie in {parents} {', '.join(parent_codes)}; "
                           f"only {plural} of one {parents[:-1] if parents == 'streets' else 'community'} merge{hint}",
                           details={"field": "codes"})
    reason = check_reason(reason, f"merging {plural} {', '.join(codes)}")
    return codes, reason, check_name(name)


def _lock_for_merge(session: Session, level: str, codes: list[str], versions: dict[str, int] | None,
                    principal: Principal) -> tuple[Unit, dict[str, Unit]]:
    """The parent and the units to merge, locked, at the versions the caller saw."""
    parent = lock_parent(session, level, codes[0], principal)
    units = {c: lock_unit(session, level, c) for c in sorted(codes)}
    check_versions([units[c] for c in codes], {str(k): v for k, v in (versions or {}).items()}, field="versions")
    return parent, units


def _one_piece(plural: str, codes: list[str], units: dict[str, Unit], metric: Metric) -> BaseGeometry:
    """The union of the units to merge, refused when they do not border each other."""
    merged = clean(shapely.union_all([units[c].geom for c in codes]), metric)
    pieces = parts(merged, metric)
    if len(pieces) > 1:
        groups = [sorted(c for c in codes if units[c].geom.intersects(p)) for p in pieces]
        raise InvalidGeometry(f"{plural} {', '.join(codes)} do not form one piece: their union has {len(pieces)} "
                              f"separate parts ({'; '.join(', '.join(g) for g in groups)}); merge {plural} that "
                              f"border each other", details={"parts": groups, "field": "codes"})
    return merged


def _merge(session: Session, level: str, codes: list[str], reason: str, versions: dict[str, int],
           name: str | None, principal: Principal, request_id: str | None, settings: Settings | None) -> EditResult:
    """Merge units of ``level``: the first code continues with the union of all, the others retire."""
    plural = PLURAL[level]
    codes, reason, new_name = _merge_request(level, codes, reason, name)
    parent, units = _lock_for_merge(session, level, codes, versions, principal)
    kinds = {units[c].kind for c in codes}
    if len(kinds) > 1:
        said = ", ".join(f"{c} is {units[c].kind}" for c in codes)
        raise InvalidInput(f"{plural} of different kinds do not merge ({said}); a dedicated grid (专属网格) stays "
                           f"apart", details={"field": "codes"})
    merged = _one_piece(plural, codes, units, Metric(parent.geom))
    first = units[codes[0]]
    siblings = children(session, level, parent.code)
    write = [NewVersion(code=first.code, name=new_name or first.name, geom=merged, previous=first, kind=first.kind,
                        grid_level=first.grid_level, parent_grid_code=first.parent_grid_code)]
    edit = Edit("merge", level, parent, [units[c] for c in codes], write, reason, {"codes": codes})
    result = apply(session, edit, principal=principal, request_id=request_id, settings=settings, siblings=siblings)
    result.update({"code": first.code, "version": result["written"][0]["version"], "merged": codes})
    return result


def merge_grids(
    session: Session,
    *,
    codes: list[str],
    reason: str,
    versions: dict[str, int],
    name: str | None = None,
    principal: Principal = SYSTEM,
    request_id: str | None = None,
    settings: Settings | None = None,
) -> EditResult:
    """Merge bordering grids of one community: the first code continues as the merged grid, the others retire."""
    return _merge(session, "grid", codes, reason, versions, name, principal, request_id, settings)


def merge_communities(
    session: Session,
    *,
    codes: list[str],
    reason: str,
    versions: dict[str, int],
    name: str | None = None,
    principal: Principal = SYSTEM,
    request_id: str | None = None,
    settings: Settings | None = None,
) -> EditResult:
    """Merge bordering communities of one street (撤并): the first code continues, the others retire with grids."""
    result = _merge(session, "community", codes, reason, versions, name, principal, request_id, settings)
    # A community's grids tile the old boundary: they retire, and the merged community needs a grid split.
    retired_grids = retire_grids_of(session, result["plan_id"], result["merged"])
    result.update({"retired_grids": retired_grids, "needs_grid_split": [result["written"][0]["code"]],
                   "staff_to_reassign": staff_of(session, [g for r in retired_grids for g in r["grids"]])})
    return result
