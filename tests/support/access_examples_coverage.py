"""Access-matrix examples for supply against demand (api/routes/coverage.py)."""

from __future__ import annotations

from collections.abc import Callable

import coverage_town as town
from access_examples import Example

EXAMPLES: dict[str, Callable[[dict], Example]] = {
    "GET /coverage/supply": lambda w: Example("/coverage/supply", params={"district_code": town.DISTRICT,
                                                                          "type_code": "kindergarten"}),
}
