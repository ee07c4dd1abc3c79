"""A household estimate's reason in words, and what about an estimated home a person should review."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gis.households.rules import CONTEXT_KINDS, DEFAULT_NAMES, FLOORS_FROM, REASONS


def describe_reason(code: str, detail: Mapping[str, Any] | None = None, *, lang: str = "en") -> str:
    """The reason ``code`` with its stored parameters in words (``lang``: en or zh)."""
    if code not in REASONS:
        return code
    detail = dict(detail or {})
    k = 1 if lang == "zh" else 0
    params = {"kind": "yes", "match": "", "tag": "", "facility": "", "context": "", "context_name": "",
              "area_m2": 0.0, **detail}
    if params["context_name"] and k == 0:
        params["context_name"] = f"({params['context_name']})"
    elif params["context_name"]:
        params["context_name"] = f"（{params['context_name']}）"
    text = REASONS[code][k].format(**params)
    if code == "recorded":
        who = detail.get("by")
        why = detail.get("why")
        if who or why:
            text += (f" (由 {who}：{why})" if k else f" (by {who}: {why})") if who else f" ({why})"
        if "estimate" in detail:
            text += (f"；估算为 {detail['estimate']} 户" if k else f"; the estimate was {detail['estimate']}")
        return text
    if code.startswith("home_") and "floors" in detail:
        how = FLOORS_FROM.get(str(detail.get("floors_from")), ("", ""))[k].format(
            height_m=detail.get("height_m", 0.0), neighbours=detail.get("neighbours", 0))
        area, floors = detail.get("area_m2", 0.0), detail["floors"]
        share, mean = detail.get("usable_share", 0.75), detail.get("mean_dwelling_m2", 90.0)
        if k:
            text += f"；{area:,.0f} 平方米 × {floors} 层（{how}）× {share:g} ÷ {mean:g} 平方米"
        else:
            text += f"; {area:,.0f} m² × {floors} floors ({how}) × {share:g} ÷ {mean:g} m²"
    return text


def review_concerns(
    *, households: int, code: str, detail: Mapping[str, Any] | None, name: str | None,
    large_households: int = 300, large_footprint_m2: float = 5000.0,
) -> list[str]:
    """Why a person should look at an estimated home: name, context, size or footprint against it.

    Codes: ``name_says_not_home`` (the name matches a non-home fragment although another rule
    made it a home), ``context_says_not_home`` (it lies in a campus, hospital, commercial ...
    area), ``large_estimate`` (``large_households`` or more), ``large_footprint``, and
    ``floors_guessed`` (no levels or height on a building of 100 households or more).
    """
    detail = detail or {}
    if households <= 0 or not code.startswith("home_"):
        return []
    concerns = []
    if name and DEFAULT_NAMES.non_home(name):
        concerns.append("name_says_not_home")
    if detail.get("context") in CONTEXT_KINDS:
        concerns.append("context_says_not_home")
    if households >= large_households:
        concerns.append("large_estimate")
    if float(detail.get("area_m2", 0.0)) >= large_footprint_m2:
        concerns.append("large_footprint")
    if detail.get("floors_from") in ("neighbours", "default") and households >= 100:
        concerns.append("floors_guessed")
    return concerns
