"""One example request per route, for walking the access matrix (tests/api/test_access_matrix.py).

Each family of routes adds its own ``examples_<family>()`` here or in a module named
``tests/support/access_examples_<family>.py`` exposing ``EXAMPLES: dict[str, Callable[[dict], Example]]``.
An example is built from the world's ids and says which status an allowed role gets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import api_world


@dataclass
class Example:
    path: str
    json: Any = None
    data: Any = None
    params: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    ok: int = 200


EXAMPLES: dict[str, Callable[[dict], Example]] = {
    "GET /health": lambda w: Example("/health"),
    "POST /auth/token": lambda w: Example("/auth/token", data={"username": "viewer", "password": api_world.PASSWORD}),
    "GET /auth/me": lambda w: Example("/auth/me"),
    "GET /users": lambda w: Example("/users"),
    "POST /users": lambda w: Example("/users", json={"username": "new_user", "password": "long-enough-1",
                                                     "role": "viewer"}, ok=201),
    "GET /users/{user_id}": lambda w: Example(f"/users/{w['users']['viewer']}"),
    "PATCH /users/{user_id}": lambda w: Example(f"/users/{w['users']['facility']}", json={"display_name": "x"},
                                                headers={"If-Match": '"1"'}),
    "PUT /users/{user_id}/grids": lambda w: Example(f"/users/{w['users']['worker_b']}/grids",
                                                    json={"grids": [api_world.GRID_C]}),
    "GET /audit": lambda w: Example("/audit"),
}
