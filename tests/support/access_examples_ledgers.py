"""Access-matrix examples for the community ledgers (one request per route, past the role check)."""

from __future__ import annotations

from collections.abc import Callable

import coverage_town as town
from access_examples import Example
from coverage_town import DISTRICT, NORTH

_A = town._lonlat([town.p(300, 60)])[0]  # a point in grid A (lon/lat)

EXAMPLES: dict[str, Callable[[dict], Example]] = {
    "GET /ledgers/kinds": lambda w: Example("/ledgers/kinds", params={"community_code": NORTH}),
    "POST /ledgers/kinds": lambda w: Example("/ledgers/kinds", ok=201, json={
        "code": "lift_retrofit", "name_zh": "加装电梯", "name_en": "Lift retrofit", "community_code": NORTH}),
    "GET /ledgers/needs": lambda w: Example("/ledgers/needs"),
    # Building N lies in grid A: admin, leader_a and worker_a may record there.
    "POST /ledgers/needs": lambda w: Example("/ledgers/needs", ok=201, json={
        "kind_code": "elderly_meals", "building_id": w["N"], "affected_people": 2}),
    # No file: past the role check, the form is refused (422).
    "POST /ledgers/needs/import": lambda w: Example("/ledgers/needs/import", ok=422),
    "GET /ledgers/needs/reach": lambda w: Example("/ledgers/needs/reach", params={"district_code": DISTRICT}),
    "GET /ledgers/needs/layer": lambda w: Example("/ledgers/needs/layer"),
    "GET /ledgers/needs/{need_id}": lambda w: Example("/ledgers/needs/999999", ok=404),
    "POST /ledgers/needs/{need_id}/actions": lambda w: Example("/ledgers/needs/999999/actions", ok=404,
                                                               json={"action": "reopen"}),
    "POST /ledgers/public/needs": lambda w: Example("/ledgers/public/needs", ok=201, json={
        "kind_code": "parking", "lon": _A.x, "lat": _A.y}),
    "GET /ledgers/resources": lambda w: Example("/ledgers/resources"),
    "POST /ledgers/resources": lambda w: Example("/ledgers/resources", ok=201, json={
        "provider_kind": "other", "name": "社区活动室", "lon": _A.x, "lat": _A.y}),
    "PATCH /ledgers/resources/{resource_id}": lambda w: Example("/ledgers/resources/999999", ok=404,
                                                                json={"available": "周末"}),
    "POST /ledgers/unit-contacts": lambda w: Example("/ledgers/unit-contacts", ok=404,
                                                     json={"user_id": 999999, "org_unit_id": 999999}),
    "GET /ledgers/projects": lambda w: Example("/ledgers/projects"),
    "POST /ledgers/projects": lambda w: Example("/ledgers/projects", ok=404, json={"need_id": 999999, "title": "x"}),
    "GET /ledgers/projects/{project_id}": lambda w: Example("/ledgers/projects/999999", ok=404),
    "POST /ledgers/projects/{project_id}/actions": lambda w: Example("/ledgers/projects/999999/actions", ok=404,
                                                                     json={"action": "start"}),
    "POST /ledgers/projects/{project_id}/claims": lambda w: Example("/ledgers/projects/999999/claims", ok=404,
                                                                    json={"org_unit_id": 1}),
    "POST /ledgers/projects/{project_id}/signups": lambda w: Example("/ledgers/projects/999999/signups", ok=404,
                                                                     json={"volunteer_id": 1}),
    "PUT /ledgers/signups/{shift_id}/hours": lambda w: Example("/ledgers/signups/999999/hours", ok=404,
                                                               json={"hours": 2}),
    "GET /ledgers/volunteers": lambda w: Example("/ledgers/volunteers"),
    "POST /ledgers/volunteers": lambda w: Example("/ledgers/volunteers", ok=201, json={
        "community_code": NORTH, "name": "李志愿", "phone": "13700001234"}),
    "GET /ledgers/communities/{code}/lists": lambda w: Example(f"/ledgers/communities/{NORTH}/lists"),
    "GET /ledgers/communities/{code}/export": lambda w: Example(f"/ledgers/communities/{NORTH}/export"),
    "GET /stats/ledgers": lambda w: Example("/stats/ledgers"),
}
