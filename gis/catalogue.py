"""The facility catalogue of the life circles (GB 50180-2018), as editable data.

The defaults ship as ``gis/data/facility_catalogue.csv``; a deployment can point
``load_catalogue`` at its own copy. Classification looks at the Chinese name first,
because OSM often tags a 幼儿园 as ``amenity=school``; tags decide only when the name
says nothing.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

DEFAULT_CATALOGUE = Path(__file__).parent / "data" / "facility_catalogue.csv"

LEVELS = ("5min", "10min", "15min", "block")
TARGET_GROUPS = ("all", "age_0_3", "age_3_6", "school_age", "age_12_15", "age_60_plus")

# Age ranges (inclusive) of each target group; "school_age" is primary-school age.
TARGET_AGES: dict[str, tuple[int, int]] = {
    "all": (0, 200),
    "age_0_3": (0, 2),
    "age_3_6": (3, 6),
    "school_age": (6, 12),
    "age_12_15": (12, 15),
    "age_60_plus": (60, 200),
}


@dataclass(frozen=True)
class FacilityType:
    """One catalogue row: what a facility is and how far people should walk to it."""

    code: str
    name_zh: str
    name_en: str
    level: str
    radius_m: float
    target_group: str
    capacity_per_1000: float | None = None
    name_patterns: tuple[str, ...] = field(default=())
    osm_tags: tuple[tuple[str, str], ...] = field(default=())


def load_catalogue(path: Path | str | None = None) -> dict[str, FacilityType]:
    """Read a catalogue CSV (the shipped defaults when ``path`` is None), keyed by type code."""
    return dict(_load(Path(path) if path else DEFAULT_CATALOGUE))


@lru_cache(maxsize=8)
def _load(path: Path) -> tuple[tuple[str, FacilityType], ...]:
    rows = []
    with path.open(encoding="utf-8", newline="") as fh:
        for lineno, row in enumerate(csv.DictReader(fh), start=2):
            if row["level"] not in LEVELS:
                raise ValueError(f"{path}:{lineno}: level {row['level']!r} is not one of {LEVELS}")
            if row["target_group"] not in TARGET_GROUPS:
                raise ValueError(
                    f"{path}:{lineno}: target_group {row['target_group']!r} is not one of {TARGET_GROUPS}"
                )
            tags = tuple(
                tuple(t.split("=", 1)) for t in row["osm_tags"].split("|") if t  # type: ignore[misc]
            )
            rows.append(
                (
                    row["code"],
                    FacilityType(
                        code=row["code"],
                        name_zh=row["name_zh"],
                        name_en=row["name_en"],
                        level=row["level"],
                        radius_m=float(row["radius_m"]),
                        target_group=row["target_group"],
                        capacity_per_1000=float(row["capacity_per_1000"]) if row["capacity_per_1000"] else None,
                        name_patterns=tuple(p for p in row["name_patterns"].split("|") if p),
                        osm_tags=tags,
                    ),
                )
            )
    return tuple(rows)


# Schools outside the life circles (colleges, vocational and party schools, senior high).
_NOT_COMPULSORY_SCHOOL = ("大学", "学院", "高等", "党校", "职业", "技术", "中专", "技校", "高中", "高级中学", "培训")


def classify_facility(
    tags: Mapping[str, str], catalogue: Mapping[str, FacilityType] | None = None
) -> tuple[str, str] | None:
    """Return ``(type_code, "name" | "tag")`` for an OSM object, or None when it is no catalogue facility.

    The name decides first; the longest matching pattern wins so that 社区卫生服务中心
    is a health centre and not a health station.
    """
    cat = catalogue if catalogue is not None else load_catalogue()
    name = tags.get("name:zh") or tags.get("name") or ""
    if name:
        best: tuple[int, str] | None = None
        for ft in cat.values():
            for pattern in ft.name_patterns:
                if pattern in name and (best is None or len(pattern) > best[0]):
                    best = (len(pattern), ft.code)
        if best is not None and _plausible_by_name(tags, best[1]):
            return best[1], "name"
    for ft in cat.values():
        for key, value in ft.osm_tags:
            if tags.get(key) == value:
                return ft.code, "tag"
    if tags.get("amenity") == "school" and "primary_school" in cat:
        if any(word in name for word in _NOT_COMPULSORY_SCHOOL):
            return None
        # A school with no telling name: isced level 2 is a middle school, else primary.
        level = tags.get("isced:level", "")
        if level.startswith("2") and "middle_school" in cat:
            return "middle_school", "tag"
        return "primary_school", "tag"
    return None


def _plausible_by_name(tags: Mapping[str, str], code: str) -> bool:
    """Reject name matches on linear features: a road named 小学路 is no school."""
    return not any(k in tags for k in ("highway", "railway", "waterway"))
