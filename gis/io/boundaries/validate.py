"""Validation of a raw read: codes, names and parents found and checked, every problem listed with its row."""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from typing import Any

import numpy as np
import pandas as pd
import shapely
from shapely.validation import explain_validity

from gis.errors import CRSMismatch, InvalidGeometry, InvalidInput, WanggeError
from gis.io.boundaries.common import LEVELS, POLYGONAL, Level, Raw, fail, one_line


def _find_field(fields: dict[str, np.ndarray], candidates: tuple[str, ...]) -> str | None:
    lower = {name.lower(): name for name in fields}
    for candidate in candidates:
        if candidate.lower() in lower:
            return lower[candidate.lower()]
    return None


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, str) and value.strip() == "":
        return True
    return bool(pd.isna(value)) if np.isscalar(value) else False


def _code_text(value: Any) -> str | None:
    """A code cell as text; integral floats become digit strings (1e15 is still exact in float64)."""
    if _is_missing(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    return str(value).strip()


def _json_value(value: Any) -> Any:
    if _is_missing(value):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (_dt.date, _dt.datetime, _dt.time, pd.Timestamp)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value


def _row_label(row: int, code: str | None) -> str:
    return f"row {row} (code {code})" if code else f"row {row}"


def validate_raw(
    raw: Raw, *, where: str, level: str, code_field: str | None, name_field: str | None
) -> tuple[pd.DataFrame, list[dict[str, Any]], list[str]]:
    """The table (code, name, parent_code, attrs) of a raw read, every problem found, and notes for the user."""
    spec = LEVELS[level]
    n = len(raw.geoms)
    if n == 0:
        raise fail(InvalidInput, where, "has no features; expected at least one boundary")
    code_col, name_col, parent_col, notes = _columns(raw, spec, where, code_field, name_field)

    code_values = raw.fields[code_col]
    if code_values.dtype.kind in "iuf":
        notes.append(
            f"{where}: code field {code_col!r} is numeric ({code_values.dtype}); codes converted to digit strings "
            "(store codes as text so leading zeros cannot be lost)"
        )
    codes = [_code_text(v) for v in code_values]
    names = [None if _is_missing(v) else str(v).strip() for v in raw.fields[name_col]] if name_col else [None] * n
    given_parents = [_code_text(v) for v in raw.fields[parent_col]] if parent_col else [None] * n

    problems: list[dict[str, Any]] = []

    def add(row0: int, code: str | None, cls: type[WanggeError], problem: str) -> None:
        problems.append({"row": row0 + 1, "code": code, "problem": problem, "error": cls.__name__})

    code_re = re.compile(rf"[0-9]{{{spec.digits}}}", re.ASCII)
    parents: list[str | None] = []
    seen: dict[str, int] = {}
    for i in range(n):
        code = codes[i]
        geometry_problem = _geometry_problem(raw, i)
        if geometry_problem is not None:
            add(i, code, InvalidGeometry, geometry_problem)

        parent = None
        if code is None:
            add(i, None, InvalidInput, f"missing code (field {code_col!r} is empty)")
        elif not code_re.fullmatch(code):
            got = (
                f"got {len(code)} characters" if len(code) != spec.digits
                else "got characters other than 0-9"
            )
            add(i, code, InvalidInput, f"malformed {level} code {code!r}: expected {spec.digits} digits, {got}")
        else:
            parent = code[: spec.parent_digits]
            if code in seen:
                add(i, code, InvalidInput, f"duplicate code {code}, also used by row {seen[code] + 1}")
            else:
                seen[code] = i
            given = given_parents[i]
            if given is not None and given != parent:
                add(
                    i, code, InvalidInput,
                    f"parent {spec.parent_name} code {given} (field {parent_col!r}) does not match the code's "
                    f"prefix {parent}",
                )
        parents.append(parent)

    attrs = _attributes(raw, {code_col, name_col, parent_col})
    table = pd.DataFrame({"code": codes, "name": names, "parent_code": parents, "attrs": attrs})
    return table, problems, notes


def _columns(raw: Raw, spec: Level, where: str, code_field: str | None,
             name_field: str | None) -> tuple[str, str | None, str | None, list[str]]:
    """The code, name and parent fields: as given, else found by their usual names; notes on what is missing."""
    notes: list[str] = []
    present = list(raw.fields)
    if code_field is not None:
        if code_field not in raw.fields:
            raise fail(InvalidInput, where, f"code_field {code_field!r} is not a field; fields present: {present}",
                       field="code_field")
        code_col = code_field
    else:
        found = _find_field(raw.fields, spec.code_fields)
        if found is None:
            raise fail(
                InvalidInput, where,
                f"no code field found: expected one of {', '.join(spec.code_fields)}; fields present: {present}; "
                "pass code_field",
                field="code_field",
            )
        code_col = found
    if name_field is not None:
        if name_field not in raw.fields:
            raise fail(InvalidInput, where, f"name_field {name_field!r} is not a field; fields present: {present}",
                       field="name_field")
        name_col: str | None = name_field
    else:
        name_col = _find_field({k: v for k, v in raw.fields.items() if k != code_col}, spec.name_fields)
        if name_col is None:
            notes.append(f"{where}: no name field found (expected one of {', '.join(spec.name_fields)}); "
                         "names left empty")
    parent_col = _find_field({k: v for k, v in raw.fields.items() if k not in (code_col, name_col)}, spec.parent_fields)
    return code_col, name_col, parent_col, notes


def _geometry_problem(raw: Raw, i: int) -> str | None:
    """What is wrong with row ``i``'s geometry (unreadable, empty, not polygonal, invalid), or None."""
    geom = raw.geoms[i]
    if i in raw.unreadable:
        return f"unreadable geometry: {raw.unreadable[i]}"
    if geom is None or shapely.is_empty(geom):
        return "empty geometry (no coordinates); expected a polygon"
    if geom.geom_type not in POLYGONAL:
        return f"geometry is a {geom.geom_type}; expected Polygon or MultiPolygon"
    if not shapely.is_valid(geom):
        return (f"invalid polygon: {explain_validity(geom)}; boundaries are not repaired automatically, "
                "fix it in the source data")
    return None


def _attributes(raw: Raw, skip: set[str | None]) -> list[dict[str, Any]]:
    """Per row, the fields other than ``skip`` as JSON values (our own exports' ``attrs`` object unpacked)."""
    attrs: list[dict[str, Any]] = [{} for _ in range(len(raw.geoms))]
    for key, values in raw.fields.items():
        if key in skip:
            continue
        for i, value in enumerate(values):
            value = _json_value(value)
            # Our own exports carry the attributes as one JSON object in ``attrs``.
            if key == "attrs" and isinstance(value, str) and value.startswith("{"):
                try:
                    attrs[i].update(json.loads(value))
                    continue
                except json.JSONDecodeError:
                    pass
            attrs[i][key] = value
    return attrs


def to_multipolygons(geoms: np.ndarray) -> tuple[np.ndarray, bool]:
    has_z = bool(np.any(shapely.has_z(geoms)))
    if has_z:
        geoms = shapely.force_2d(geoms)
    out = np.array(
        [shapely.MultiPolygon([g]) if g is not None and g.geom_type == "Polygon" else g for g in geoms], dtype=object
    )
    return out, has_z


def raise_problems(problems: list[dict[str, Any]], where: str) -> None:
    first = problems[0]
    cls = {"InvalidGeometry": InvalidGeometry, "CRSMismatch": CRSMismatch}.get(first["error"], InvalidInput)
    if first.get("message"):
        text = first["message"]
    else:
        text = f"{where}: {_row_label(first['row'], first['code'])}: {first['problem']}"
    if len(problems) > 1:
        text += f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''}, see details)"
    clean = [{k: v for k, v in p.items() if k != "message"} for p in problems]
    raise cls(one_line(text), details={"file": where, "problems": clean})
