"""Access-matrix examples for the vector tile routes (api/routes/tiles.py)."""

from __future__ import annotations

from collections.abc import Callable

from access_examples import Example

# z14 tile holding the whole API world (district 320199, Nanjing).
WORLD_TILE = (14, 13600, 6652)

EXAMPLES: dict[str, Callable[[dict], Example]] = {
    "GET /tiles": lambda w: Example("/tiles"),
    "GET /tiles/{layer}/{z}/{x}/{y}.mvt": lambda w: Example("/tiles/grids/{}/{}/{}.mvt".format(*WORLD_TILE)),
}
