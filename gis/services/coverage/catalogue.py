"""The facility catalogue as a deployment edits it: its types with their facility counts, and one type changed."""

from __future__ import annotations

from typing import Any, TypedDict

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from gis.catalogue import LEVELS, TARGET_GROUPS
from gis.db import models
from gis.errors import InvalidInput, NotFound
from gis.services.coverage.district import facility_types

EDITABLE = ("radius_m", "level", "target_group", "capacity_per_1000", "name_zh", "name_en")


class CatalogueEntry(TypedDict):
    """One facility type of the catalogue and how many facilities of it are stored."""

    code: str
    name_zh: str
    name_en: str
    level: str
    radius_m: float
    target_group: str
    capacity_per_1000: float | None
    facilities: int


def list_facility_types(session: Session) -> list[CatalogueEntry]:
    """The catalogue rows as the database holds them, with the number of facilities of each type."""
    facility = models.Facility
    counts = {code: n for code, n in session.execute(select(facility.type_code, func.count())
                                                      .group_by(facility.type_code))}
    return [CatalogueEntry(code=ft.code, name_zh=ft.name_zh, name_en=ft.name_en, level=ft.level,
                           radius_m=ft.radius_m, target_group=ft.target_group,
                           capacity_per_1000=ft.capacity_per_1000, facilities=int(counts.get(ft.code, 0)))
            for ft in facility_types(session).values()]


def _check_changes(changes: dict[str, Any]) -> None:
    """Each change names an editable field and a value it may take; else an ``InvalidInput`` on that field."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise InvalidInput(f"cannot change {', '.join(sorted(unknown))}; editable: {', '.join(sorted(EDITABLE))}",
                           details={"field": sorted(unknown)[0]})
    if not changes:
        raise InvalidInput("nothing to change: give radius_m, level, target_group or capacity_per_1000",
                           details={"field": "radius_m"})
    if "radius_m" in changes and not float(changes["radius_m"]) > 0:
        raise InvalidInput(f"radius_m must be a positive number of metres; got {changes['radius_m']}",
                           details={"field": "radius_m"})
    if "level" in changes and changes["level"] not in LEVELS:
        raise InvalidInput(f"level must be one of {', '.join(LEVELS)}; got {changes['level']!r}",
                           details={"field": "level"})
    if "target_group" in changes and changes["target_group"] not in TARGET_GROUPS:
        raise InvalidInput(f"target_group must be one of {', '.join(TARGET_GROUPS)}; got {changes['target_group']!r}",
                           details={"field": "target_group"})
    if "capacity_per_1000" in changes and float(changes["capacity_per_1000"]) < 0:
        raise InvalidInput(f"capacity_per_1000 must not be negative; got {changes['capacity_per_1000']}",
                           details={"field": "capacity_per_1000"})


def update_facility_type(session: Session, code: str, **changes: Any) -> CatalogueEntry:
    """Edit one catalogue row (radius_m, level, target_group, capacity_per_1000, names); returns the new row."""
    changes = {k: v for k, v in changes.items() if v is not None}
    _check_changes(changes)
    row = models.FacilityType
    if session.execute(select(row.code).where(row.code == code)).first() is None:
        raise NotFound(f"facility type {code!r} is not in the catalogue", details={"field": "code"})
    session.execute(update(row).where(row.code == code).values(**changes))
    return next(entry for entry in list_facility_types(session) if entry["code"] == code)
