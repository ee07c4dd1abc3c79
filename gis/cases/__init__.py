"""The case workflow core (事件): states and roles, deadlines on a working calendar, duplicates, figures.

Pure: plain values, arrays and frames in, results out; no database, HTTP or CLI. The services
load cases and events, call these functions and store what they return.

- :mod:`gis.cases.workflow`: the one transition table and ``apply_action``.
- :mod:`gis.cases.deadlines`: time limits, the working calendar, SLA status, automatic escalation.
- :mod:`gis.cases.duplicates`: the duplicate hint for a new report.
- :mod:`gis.cases.stats`: response, resolution, on-time closure and satisfaction rates.

The category list ships as ``gis/data/incident_categories.csv``: the 数字城管 classes (6 event
classes, 7 component classes, common subcategories) and the social-governance ones (矛盾纠纷, 物业,
消防隐患, 供暖, 特殊人群服务需求, 治安隐患). Each row also carries the city's rules for that category:
``dispatch_minutes``, ``handling_hours`` and ``verification_hours`` (the normal-urgency limits; an
empty cell keeps the general limit), ``department_kind`` and ``department`` (the department that
handles it: a hand-over to departments offers the case to the department of that name, or to the
departments registered for the code) and ``quick_fix`` (yes/no: may a grid worker report it fixed
on the spot, 随手办). A city replaces the file by pointing ``WANGGE_CASE_CATEGORIES_PATH`` at its own
copy with the same columns; a bad file is refused naming the file, row and column.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from gis.errors import InvalidInput

__all__ = ["CATEGORY_CLASSES", "DEFAULT_CATEGORIES", "DEPARTMENT_KINDS", "RULE_COLUMNS", "IncidentCategory",
           "check_category", "load_categories"]

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
    # The city's rules for the category (None: the general limit / no department).
    dispatch_minutes: float | None = None
    handling_hours: float | None = None
    verification_hours: float | None = None
    department_kind: str | None = None
    department: str | None = None
    quick_fix: bool = False


def load_categories(path: Path | str | None = None) -> tuple[IncidentCategory, ...]:
    """The categories of a CSV (the shipped list when ``path`` is None), in file order."""
    return _load(Path(path) if path else DEFAULT_CATEGORIES)


_BASIC = ("code", "category_class", "category", "category_en", "subcategory", "subcategory_en")
_LIMITS = ("dispatch_minutes", "handling_hours", "verification_hours")
RULE_COLUMNS = (*_LIMITS, "department_kind", "department", "quick_fix")
DEPARTMENT_KINDS = ("functional", "member", "stationed")  # 职能部门, 成员单位, 驻区单位
_YES = {"yes": True, "y": True, "true": True, "1": True, "是": True,
        "no": False, "n": False, "false": False, "0": False, "否": False, "": False}


def _refuse(path: Path, lineno: int, column: str, message: str) -> InvalidInput:
    return InvalidInput(f"{path}: row {lineno}, column {column}: {message}",
                        details={"file": str(path), "row": lineno, "column": column})


@lru_cache(maxsize=8)
def _load(path: Path) -> tuple[IncidentCategory, ...]:
    rows = []
    seen: set[str] = set()
    if not path.is_file():
        raise InvalidInput(f"{path}: the category file does not exist (WANGGE_CASE_CATEGORIES_PATH)",
                           details={"file": str(path)})
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        missing = [c for c in _BASIC if c not in header]
        if missing:
            raise _refuse(path, 1, missing[0], f"the header lacks the column(s) {', '.join(missing)}; expected "
                                               f"{', '.join(_BASIC + RULE_COLUMNS)}")
        for lineno, row in enumerate(reader, start=2):
            if None in row or any(v is None for v in row.values()):
                raise _refuse(path, lineno, "*", f"expected {len(header)} cells as in the header")
            cells = {k: (v or "").strip() for k, v in row.items()}
            for column in _BASIC:
                if column not in ("category_en", "subcategory_en") and not cells[column]:
                    raise _refuse(path, lineno, column, "empty")
            if cells["category_class"] not in CATEGORY_CLASSES:
                raise _refuse(path, lineno, "category_class",
                              f"{cells['category_class']!r} is not one of {', '.join(CATEGORY_CLASSES)}")
            if cells["code"] in seen:
                raise _refuse(path, lineno, "code", f"{cells['code']!r} is used twice")
            seen.add(cells["code"])
            limits: dict[str, float | None] = {}
            for column in _LIMITS:
                raw = cells.get(column, "")
                try:
                    value = float(raw) if raw else None
                except ValueError:
                    raise _refuse(path, lineno, column, f"{raw!r} is not a number") from None
                if value is not None and not (value > 0 and value < 1e6):
                    raise _refuse(path, lineno, column, f"{raw!r}: a limit must be a positive number")
                limits[column] = value
            kind = cells.get("department_kind", "") or None
            if kind is not None and kind not in DEPARTMENT_KINDS:
                raise _refuse(path, lineno, "department_kind",
                              f"{kind!r} is not one of {', '.join(DEPARTMENT_KINDS)} (职能部门, 成员单位, 驻区单位)")
            department = cells.get("department", "") or None
            if (kind is None) != (department is None):
                raise _refuse(path, lineno, "department" if kind else "department_kind",
                              "department and department_kind go together: give both or neither")
            quick = cells.get("quick_fix", "").lower()
            if quick not in _YES:
                raise _refuse(path, lineno, "quick_fix", f"{cells.get('quick_fix')!r}: write yes or no")
            fields: dict[str, Any] = {**{k: cells[k] for k in _BASIC}, **limits}
            rows.append(IncidentCategory(**fields, department_kind=kind, department=department,
                                         quick_fix=_YES[quick]))
    if not rows:
        raise _refuse(path, 2, "code", "the file lists no category")
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
