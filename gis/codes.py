"""Unit codes: district(6) + street(3) + community(3) + grid(3) = a 15-digit grid code.

``assign_codes`` numbers new units inside their parent in reading order, west→east
along a row and rows from north to south (domain §2), and never reuses a retired code.

Reading order
-------------
Each unit is represented by its representative point (always inside the unit). Rows are
bands of latitude: the band height is half the median north–south extent of the units,
so units of a regular layout whose centres lie within half a unit height of each other
share a row. Bands are anchored, not chained: the northernmost unnumbered point opens a
row, every point within the band height south of it joins that row, and the next
unnumbered point opens the next row. Within a row units run west→east. Anchoring keeps a
staggered layout from collapsing into one long row.
"""

from __future__ import annotations

from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.errors import Conflict, Infeasible, InvalidGeometry, InvalidInput


def assign_codes(
    units: gpd.GeoDataFrame,
    *,
    parent_code: str,
    existing_codes: Iterable[str] = (),
    digits: int = 3,
) -> pd.Series:
    """Codes for the units of one parent, numbered in reading order after every code ever used.

    Parameters
    ----------
    units
        The units under ``parent_code`` (grids of a community, communities of a street,
        streets of a district). An optional ``keep_code`` column holds the code a unit
        keeps (null for a new unit); a kept code must start with ``parent_code``.
    parent_code
        The parent's code, all digits (6 for a district, 9 for a street, 12 for a community).
    existing_codes
        Every code ever used under this parent, current and retired. New units get the
        numbers after the largest of these (and of the kept codes): a retired number is
        never issued again, and holes below the maximum are not filled.
    digits
        Digits of the unit's own number (3: 001–999).

    Returns
    -------
    pandas.Series
        The code of each unit (str), indexed like ``units``, named ``code``.

    Raises
    ------
    Infeasible
        When the numbers after the largest used one do not suffice for the new units.
    InvalidInput
        When a code does not belong to ``parent_code`` or has the wrong length.
    Conflict
        When two units keep the same code.
    """
    if not isinstance(units, gpd.GeoDataFrame):
        raise InvalidInput(f"units must be a GeoDataFrame, received {type(units).__name__}")
    parent_code = str(parent_code).strip()
    if not parent_code.isdigit():
        raise InvalidInput(f"parent_code must be digits, received {parent_code!r}", details={"field": "parent_code"})
    if not units.index.is_unique:
        raise InvalidInput("units must have a unique index; the codes are returned indexed like units")
    if not isinstance(digits, int) or digits < 1:
        raise InvalidInput(f"digits must be a positive integer, received {digits!r}", details={"field": "digits"})
    width = len(parent_code) + digits
    capacity = 10**digits - 1

    used = {_number_of(c, parent_code, width, "existing code") for c in existing_codes}

    codes = pd.Series([None] * len(units), index=units.index, dtype=object, name="code")
    if "keep_code" in units.columns:
        kept = units["keep_code"]
        for label, value in kept.items():
            if value is None or pd.isna(value) or str(value).strip() == "":
                continue
            code = str(value).strip()
            used.add(_number_of(code, parent_code, width, f"keep_code of unit {label!r}"))
            codes[label] = code
        dup = codes.dropna()
        dup = dup[dup.duplicated(keep=False)]
        if not dup.empty:
            raise Conflict(
                f"units {', '.join(map(repr, dup.index))} all keep code {dup.iloc[0]}; a code belongs to one unit"
            )

    new = codes.index[codes.isna()]
    if len(new) == 0:
        return codes
    start = max(used, default=0) + 1
    if start + len(new) - 1 > capacity:
        left = max(capacity - start + 1, 0)
        raise Infeasible(
            f"parent {parent_code} has room for {left} more code(s) ({digits}-digit numbers up to "
            f"{capacity:0{digits}d}, {max(used, default=0):0{digits}d} already used) but {len(new)} new "
            f"unit(s) need one; retired codes are never reused",
            details={"parent_code": parent_code, "needed": len(new), "available": left},
        )

    order = reading_order(units.loc[new].geometry)
    for k, label in enumerate(order):
        codes[label] = f"{parent_code}{start + k:0{digits}d}"
    return codes


def reading_order(geoms: gpd.GeoSeries) -> list:
    """Index labels of ``geoms`` in reading order: rows north→south, west→east within a row."""
    values = geoms.to_numpy()
    bad = [label for label, g in zip(geoms.index, values, strict=True) if g is None or g.is_empty]
    if bad:
        raise InvalidGeometry(f"units {', '.join(map(repr, bad[:5]))} have no geometry; cannot number them")
    points = shapely.point_on_surface(values)
    xy = shapely.get_coordinates(points)
    x, y = xy[:, 0], xy[:, 1]
    bounds = shapely.bounds(values)
    heights = bounds[:, 3] - bounds[:, 1]
    band = 0.5 * float(np.median(heights)) if len(heights) else 0.0

    labels = np.asarray(geoms.index, dtype=object)
    remaining = list(np.lexsort((x, -y)))  # north first, then west
    order: list = []
    while remaining:
        top = y[remaining[0]]
        row = [i for i in remaining if y[i] >= top - band]
        row_set = set(row)
        remaining = [i for i in remaining if i not in row_set]
        order.extend(labels[i] for i in sorted(row, key=lambda i: (x[i], -y[i])))
    return order


def _number_of(code: str, parent_code: str, width: int, what: str) -> int:
    code = str(code).strip()
    if len(code) != width or not code.isdigit() or not code.startswith(parent_code):
        raise InvalidInput(
            f"{what} {code!r} is not a {width}-digit code under parent {parent_code}"
        )
    return int(code[len(parent_code):])
