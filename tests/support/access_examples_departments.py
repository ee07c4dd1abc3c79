"""Access-matrix examples for departments and summons (issue 18); tests/api/test_cases_departments.py walks them."""

from __future__ import annotations

from collections.abc import Callable

import coverage_town as town
from access_examples import Example

EXAMPLES: dict[str, Callable[[dict], Example]] = {
    "GET /incidents/summons": lambda w: Example("/incidents/summons", params={"missed": "true"}),
    "GET /departments": lambda w: Example("/departments"),
    "POST /departments": lambda w: Example("/departments", json={"name": "环卫所", "kind": "functional",
                                                                  "district_code": town.DISTRICT}, ok=201),
    "GET /departments/{department_id}": lambda w: Example("/departments/999999", ok=404),
    "PUT /departments/{department_id}/staff": lambda w: Example("/departments/999999/staff", json={"staff": []},
                                                                ok=404),
}
