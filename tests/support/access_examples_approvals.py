"""Access-matrix examples for the approval chain: past the role check, an unknown plan or code answers 404."""

from __future__ import annotations

from collections.abc import Callable

from access_examples import Example

EXAMPLES: dict[str, Callable[[dict], Example]] = {
    "POST /plans/{plan_id}/propose": lambda w: Example("/plans/999999/propose", ok=404, json={}),
    "POST /plans/{plan_id}/review": lambda w: Example("/plans/999999/review", ok=404, json={}),
    "POST /plans/{plan_id}/approve": lambda w: Example("/plans/999999/approve", ok=404,
                                                       json={"document_no": "宁政复[2026]1号"}),
    "POST /plans/{plan_id}/return": lambda w: Example("/plans/999999/return", ok=404, json={"note": "x"}),
    "GET /plans/{plan_id}/approvals": lambda w: Example("/plans/999999/approvals", ok=404),
    "POST /community-codes/{code}/confirm": lambda w: Example("/community-codes/320199001999/confirm", ok=404,
                                                              json={}),
}
