"""Access-matrix examples for map search and unit cards (api/routes/maps.py)."""

from __future__ import annotations

from collections.abc import Callable

import api_world
from access_examples import Example

EXAMPLES: dict[str, Callable[[dict], Example]] = {
    "GET /search": lambda w: Example("/search", params={"q": api_world.GRID_A[:12]}),
    "GET /units/{code}": lambda w: Example(f"/units/{api_world.GRID_A}"),
}
