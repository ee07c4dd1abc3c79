"""Access-matrix examples for the approval chain and community edits: past the role check, an unknown plan,
code or community answers 404."""

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
    "POST /communities/{code}/split": lambda w: Example(
        "/communities/320199009001/split", ok=404,
        json={"line": {"type": "LineString", "coordinates": [[118.83, 32.02], [118.84, 32.02]]}, "reason": "x"}),
    "POST /communities/merge": lambda w: Example(
        "/communities/merge", ok=404, json={"codes": ["320199009001", "320199009002"], "reason": "x",
                                            "versions": {}}),
}
