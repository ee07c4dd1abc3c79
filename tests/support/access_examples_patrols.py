"""Access-matrix examples for patrol uploads and coverage (api/routes/patrols.py).

The upload is worker_a's own track of grid A, named by id, so the matrix's grid worker
(worker_a), grid leader (leader_a, grid A) and the admin all get 201; the body is multipart
built by hand because the matrix sends raw bodies.
"""

from __future__ import annotations

from collections.abc import Callable

import api_world
from access_examples import Example
from patrol_tracks import MAIN_ROAD_WALK, WEEK, multipart, town_gpx


def _upload(w: dict) -> Example:
    body, headers = multipart({"worker_id": str(w["users"]["worker_a"]), "grid_code": api_world.GRID_A},
                              filename="matrix.gpx", content=town_gpx(MAIN_ROAD_WALK))
    return Example("/patrols", data=body, headers=headers, ok=201)


EXAMPLES: dict[str, Callable[[dict], Example]] = {
    "POST /patrols": _upload,
    "GET /patrols/coverage": lambda w: Example("/patrols/coverage", params={"grid_code": api_world.GRID_A,
                                                                           "week": WEEK}),
    "GET /patrols/weekly": lambda w: Example("/patrols/weekly", params={"district_code": "320199", "week": WEEK}),
}
