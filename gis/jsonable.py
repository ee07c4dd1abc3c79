"""Values from numpy and pandas as the plain Python values JSON and response models take.

A frame's cell is a numpy scalar, or NaN where the database said NULL once pandas has touched the column;
answers must carry ``int``/``float``/``str`` and ``None``. Pure: used by services and report maps alike.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def plain(value: Any) -> Any:
    """``value`` with numpy scalars as Python values and NaN/inf (or pandas' NA/NaT) as None; dicts and lists deep."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is not None and type(value).__name__ in {"NAType", "NaTType"}:
        return None
    return value
