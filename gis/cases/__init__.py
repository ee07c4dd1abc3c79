"""The case workflow core (事件): states and roles, deadlines on a working calendar, duplicates, figures.

Pure: plain values, arrays and frames in, results out; no database, HTTP or CLI. The services
load cases and events, call these functions and store what they return.

- :mod:`gis.cases.workflow`: the one transition table and ``apply_action``.
- :mod:`gis.cases.deadlines`: time limits, the working calendar, SLA status, automatic escalation.
- :mod:`gis.cases.duplicates`: the duplicate hint for a new report.
- :mod:`gis.cases.stats`: response, resolution, on-time closure and satisfaction rates.

The category list (6 event classes, 7 component classes, common subcategories) ships as
``gis/data/incident_categories.csv``; a city extends it by pointing :func:`load_categories`
at its own copy with the same columns.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from gis.errors import InvalidInput

__all__ = ["CATEGORY_CLASSES", "DEFAULT_CATEGORIES", "IncidentCategory", "check_category", "load_categories"]

DEFAULT_CATEGORIES = Path(__file__).resolve().parent.parent / "data" / "incident_categories.csv"
CATEGORY_CLASSES = ("event", "component")  # 事件, 部件


@dataclass(frozen=True)
class IncidentCategory:
    """One subcategory (小类) with its category (大类) and class (事件/部件)."""

    code: str
    category_class: str
    category: str
    category_en: str
    subcategory: str
    subcategory_en: str


def load_categories(path: Path | str | None = None) -> tuple[IncidentCategory, ...]:
    """The categories of a CSV (the shipped list when ``path`` is None), in file order."""
    return _load(Path(path) if path else DEFAULT_CATEGORIES)


@lru_cache(maxsize=8)
def _load(path: Path) -> tuple[IncidentCategory, ...]:
    rows = []
    seen: set[str] = set()
    with path.open(encoding="utf-8", newline="") as fh:
        for lineno, row in enumerate(csv.DictReader(fh), start=2):
            if row["category_class"] not in CATEGORY_CLASSES:
                raise InvalidInput(f"{path}:{lineno}: category_class {row['category_class']!r} is not one of "
                                   f"{CATEGORY_CLASSES}")
            if row["code"] in seen:
                raise InvalidInput(f"{path}:{lineno}: code {row['code']!r} is used twice")
            seen.add(row["code"])
            rows.append(IncidentCategory(**{k: row[k].strip() for k in IncidentCategory.__dataclass_fields__}))
    return tuple(rows)


def check_category(category_class: str, category: str, subcategory: str | None = None, *,
                   categories: tuple[IncidentCategory, ...] | None = None) -> None:
    """Raise InvalidInput unless the class, category and (when given) subcategory are in the list."""
    known = categories if categories is not None else load_categories()
    if category_class not in CATEGORY_CLASSES:
        raise InvalidInput(f"category_class {category_class!r}: choose event (事件) or component (部件)")
    in_class = [c for c in known if c.category_class == category_class]
    names = list(dict.fromkeys(c.category for c in in_class))
    if category not in names:
        raise InvalidInput(f"category {category!r} is not among the {category_class} categories; choose one of "
                           f"{', '.join(names)}")
    subs = [c.subcategory for c in in_class if c.category == category]
    if subcategory is not None and subcategory not in subs:
        raise InvalidInput(f"subcategory {subcategory!r} is not under {category_class} category {category!r}; "
                           f"choose one of {', '.join(subs)}")
