"""The city's case rules from Settings: deadline limits and working calendar, the workflow table, the catalogue.

The rules themselves are :mod:`gis.cases`'; this module only reads the settings into them.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from types import MappingProxyType
from typing import Any, TypedDict

from gis.cases import IncidentCategory, check_category, load_categories
from gis.cases.deadlines import (
    DEFAULT_LIMITS,
    DeadlineRules,
    WorkingCalendar,
)
from gis.cases.routing import (
    category_limits,
)
from gis.cases.workflow import transitions
from gis.errors import InvalidInput
from gis.settings import Settings

SOURCES = ("patrol", "hotline_12345", "resident", "video", "higher_level", "open311")


URGENCIES = ("normal", "urgent")


AREAS = ("urban", "rural")


class CategoryEntry(TypedDict):
    """A report's catalogue entry: its code (None for a class + category the city's table gives no code) and names."""

    category_code: str | None
    category_class: str
    category: str
    subcategory: str | None


def _hhmm(value: str, name: str) -> dt.time:
    try:
        return dt.time.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name}: expected a time HH:MM, got {value!r}", details={"field": name}) from None


def deadline_rules(settings: Settings) -> DeadlineRules:
    """The deadline rules of :mod:`gis.cases.deadlines` with the limits and calendar of ``settings``."""
    key = (settings.case_dispatch_minutes_urgent, settings.case_dispatch_minutes_normal,
           settings.case_handling_hours_urgent, settings.case_handling_hours_normal,
           settings.case_verification_hours_urban, settings.case_verification_hours_rural,
           tuple(tuple(p) for p in settings.case_working_periods), settings.case_timezone,
           settings.case_urgent_wall_clock, settings.case_due_soon_share)
    return _deadline_rules(key, incident_categories(settings))


# Every report, case step and case read needs the rules; building them (the category table's limits,
# the calendar) cost more than the rest of a case step's Python. Keyed by the values, not the
# Settings object, so a changed setting is never answered from the cache.
@lru_cache(maxsize=16)
def _deadline_rules(key: tuple[Any, ...], categories: tuple[IncidentCategory, ...]) -> DeadlineRules:
    (dispatch_urgent, dispatch_normal, handling_urgent, handling_normal, verification_urban, verification_rural,
     working_periods, timezone, urgent_wall_clock, due_soon_share) = key
    limits = dict(DEFAULT_LIMITS)
    limits.update({
        (None, "dispatch", "urgent", None): dt.timedelta(minutes=dispatch_urgent),
        (None, "dispatch", "normal", None): dt.timedelta(minutes=dispatch_normal),
        (None, "handling", "urgent", None): dt.timedelta(hours=handling_urgent),
        (None, "handling", "normal", None): dt.timedelta(hours=handling_normal),
        (None, "verification", None, "urban"): dt.timedelta(hours=verification_urban),
        (None, "verification", None, "rural"): dt.timedelta(hours=verification_rural),
    })
    periods = tuple((_hhmm(a, "case_working_periods"), _hhmm(b, "case_working_periods"))
                    for a, b in working_periods)
    # The city's category table: a limit per category code and stage (its own file when it has one).
    limits.update(category_limits(categories, urgent={
        "dispatch": limits[(None, "dispatch", "urgent", None)], "handling": limits[(None, "handling", "urgent", None)],
        "verification": limits[(None, "verification", None, "urban")]}))
    calendar = WorkingCalendar(timezone=timezone, periods=periods)
    clocks = {"urgent": "wall" if urgent_wall_clock else "working", "normal": "working"}
    return DeadlineRules(limits=MappingProxyType(limits), clocks=MappingProxyType(clocks), calendar=calendar,
                         due_soon_share=due_soon_share)


def case_table(settings: Settings) -> dict[tuple[str | None, str], tuple[str, frozenset[str]]]:
    """The workflow table with the verifying roles of ``settings`` (``WANGGE_CASE_VERIFIER_ROLES``)."""
    return transitions(frozenset(settings.case_verifier_roles))


def incident_categories(settings: Settings) -> tuple[IncidentCategory, ...]:
    """The category catalogue: the shipped list, or the city's own file (``case_categories_path``)."""
    return load_categories(settings.case_categories_path)


def resolve_category(settings: Settings, *, category_code: str | None = None, category_class: str | None = None,
                     category: str | None = None, subcategory: str | None = None) -> CategoryEntry:
    """The catalogue entry of a report: by code (``E0101``), or by class + category (+ subcategory)."""
    known = incident_categories(settings)
    if category_code is not None:
        found = next((c for c in known if c.code == category_code.strip()), None)
        if found is None:
            raise InvalidInput(f"category_code {category_code!r} is not in the catalogue; see "
                               "GET /open311/v2/services.json for the codes (e.g. E0101 暴露垃圾)",
                               details={"field": "category_code"})
        return {"category_code": found.code, "category_class": found.category_class, "category": found.category,
                "subcategory": found.subcategory}
    if category_class is None or category is None:
        raise InvalidInput("category: send category_code (e.g. E0101), or category_class and category "
                           "(and subcategory)", details={"field": "category_code"})
    check_category(category_class, category, subcategory, categories=known)
    code = next((c.code for c in known if (c.category_class, c.category, c.subcategory)
                 == (category_class, category, subcategory)), None)
    return {"category_code": code, "category_class": category_class, "category": category,
            "subcategory": subcategory}
