"""Access-matrix examples for the routes the web app added: coverage what-if and isochrones."""

from __future__ import annotations

from collections.abc import Callable

import coverage_town as town
from access_examples import Example


def _new_kindergarten() -> list[float]:
    point = town._lonlat([town.p(300, 100)])[0]  # north of the main road, between N and Q
    return [point.x, point.y]


EXAMPLES: dict[str, Callable[[dict], Example]] = {
    "POST /coverage/what-if": lambda w: Example("/coverage/what-if", json={
        "type_code": "kindergarten", "district_code": town.DISTRICT, "add": _new_kindergarten()}),
    "GET /coverage/isochrones": lambda w: Example("/coverage/isochrones", params={
        "type_code": "kindergarten", "district_code": town.DISTRICT}),
}
