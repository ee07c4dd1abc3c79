"""Injection strings and oversized values in every parameter of every route: 4xx or a clean answer, never 5xx.

Routes and their path/query parameters come from the app's OpenAPI schema; JSON bodies start from each
route's access-matrix example (a valid request) with one string field replaced at a time.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from pathlib import Path
from typing import Any

import access_examples
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.access import ACCESS

INJECTIONS = ["' OR 1=1 --", "'; DROP TABLE grid; --", "1) UNION SELECT username, password_hash FROM app_user --",
              "\"; DELETE FROM resident; --", "320199' AND pg_sleep(0) IS NULL --"]
MEGABYTE = "A" * (1024 * 1024)
# httpx refuses URLs over 64 KiB (and uvicorn's h11 request lines over 16 KiB get 400 before the app):
# path and query values get the longest a client can send, bodies a full megabyte.
LONG_URL_VALUE = "A" * 60_000
TABLES = ("grid", "resident", "app_user", "building", "incident")
# Routes whose success legitimately adds rows to a watched table.
WRITES = {"POST /users": {"app_user"}, "POST /incidents": {"incident"}, "PATCH /grids/{code}": {"grid"},
          "POST /grids/{code}/split": {"grid"}, "POST /grids/merge": {"grid"},
          "POST /grids/{code}/move-buildings": {"grid"}}
ADMIN_LIKE = ("admin", "worker_a")  # admin reaches every route but field staff's grid-scoped ones shape reports


def _examples() -> dict:
    found = dict(access_examples.EXAMPLES)
    for module in pkgutil.iter_modules([str(Path(access_examples.__file__).parent)]):
        if module.name.startswith("access_examples_"):
            found.update(importlib.import_module(module.name).EXAMPLES)
    return found


EXAMPLES = _examples()


def operations(api_app) -> list[tuple[str, str, dict]]:
    schema = api_app.openapi()
    return [(method.upper(), path, op) for path, item in schema["paths"].items() for method, op in item.items()
            if f"{method.upper()} {path}" in ACCESS]


def counts(session: Session) -> dict[str, int]:
    return {t: session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


def check(response, key: str, before: dict[str, int], session: Session, what: str) -> dict[str, int]:
    """Assert a clean answer and no unexpected row change; the counts now (the next request's baseline)."""
    assert response.status_code < 500, f"{key} {what}: {response.status_code} {response.text[:300]}"
    assert "Traceback" not in response.text and "psycopg" not in response.text, f"{key} {what}"
    if response.status_code >= 400 and response.headers.get("content-type", "").startswith("application/json"):
        body = response.json()
        if key.split(" ", 1)[1].startswith("/open311/"):  # GeoReport's error list (issue 23)
            assert [set(e) for e in body] == [{"code", "description"}], f"{key} {what}: {response.text[:200]}"
        else:
            assert set(body) == {"error", "message", "details"}, f"{key} {what}: {response.text[:200]}"
    after = counts(session)
    changed = {t for t in TABLES if after[t] != before[t]}
    allowed = WRITES.get(key, set()) if response.status_code < 300 else set()
    assert changed <= allowed, f"{key} {what}: {changed} changed ({before} -> {after})"
    return after


def fill_path(path: str, example_path: str, name: str, value: str) -> str:
    """The example's concrete path with the parameter ``name`` replaced by ``value`` (URL-quoted by httpx)."""
    names = re.findall(r"{(\w+)}", path)
    regex = "^" + "".join("([^/]+?)" if re.fullmatch(r"{\w+}", part) else re.escape(part)
                          for part in re.split(r"({\w+})", path)) + "$"
    match = re.match(regex, example_path.split("?")[0])
    if match is None:
        pytest.fail(f"cannot match example {example_path} to {path}")
    concrete = path
    for n, v in zip(names, match.groups(), strict=True):
        concrete = concrete.replace("{" + n + "}", value.replace("/", "%2F") if n == name else v, 1)
    return concrete


def string_fields(body: Any, prefix: tuple = ()) -> list[tuple]:
    """Paths to every string leaf in a JSON example (not inside GeoJSON coordinates)."""
    found: list[tuple] = []
    if isinstance(body, dict):
        for k, v in body.items():
            found += string_fields(v, (*prefix, k))
    elif isinstance(body, list):
        for i, v in enumerate(body):
            found += string_fields(v, (*prefix, i))
    elif isinstance(body, str):
        found.append(prefix)
    return found


def replaced(body: Any, where: tuple, value: Any) -> Any:
    copy = json.loads(json.dumps(body))
    target = copy
    for step in where[:-1]:
        target = target[step]
    target[where[-1]] = value
    return copy


def test_injection_and_oversized_strings_in_every_parameter(api_app, client: TestClient, as_user, world: dict,
                                                            api_session: Session) -> None:
    before = start = counts(api_session)
    sent = 0
    for method, path, op in operations(api_app):
        key = f"{method} {path}"
        example = EXAMPLES[key](world)
        roles = ACCESS[key]
        user = "admin" if (not roles or "admin" in roles) else "worker_a"
        headers = {**example.headers, **as_user(user)}
        for param in op.get("parameters", []):
            name, where = param["name"], param["in"]
            for value in [*INJECTIONS, LONG_URL_VALUE]:
                if where == "path":
                    url, params = fill_path(path, example.path, name, value), example.params
                elif where == "query":
                    url, params = example.path, {**(example.params or {}), name: value}
                else:
                    continue
                response = client.request(method, url, params=params, json=example.json, data=example.data,
                                          headers=headers)
                before = check(response, key, before, api_session, f"{where} {name}={value[:30]!r}")
                sent += 1
        if isinstance(example.json, (dict, list)):
            for field in string_fields(example.json):
                for value in [*INJECTIONS, MEGABYTE]:
                    response = client.request(method, example.path, params=example.params,
                                              json=replaced(example.json, field, value), headers=headers)
                    before = check(response, key, before, api_session, f"body {field}={value[:30]!r}")
                    sent += 1
    assert sent > 300  # the walk really covered the routes
    assert counts(api_session)["resident"] == start["resident"]


def test_oversized_bodies_get_413_with_the_error_model(client: TestClient, as_user, api_session: Session) -> None:
    before = counts(api_session)
    # A polygon with 1,000,000 vertices (~30 MB of GeoJSON) as a grid's new boundary.
    ring = [[118.0 + i * 1e-7, 32.0 + (i % 2) * 1e-7] for i in range(999_999)] + [[118.0, 32.0]]
    body = {"geometry": {"type": "Polygon", "coordinates": [ring]}, "reason": "huge"}
    response = client.patch(f"/grids/{access_examples.api_world.GRID_A}", json=body,
                            headers={**as_user("planner"), "If-Match": '"1"'})
    # ~22 MB as httpx writes it: under the 25 MB cap, so the geometry check refuses it (a zigzag crossing itself).
    assert response.status_code in (413, 422), response.text[:300]
    assert set(response.json()) == {"error", "message", "details"}
    padded = client.patch(f"/grids/{access_examples.api_world.GRID_A}", json={**body, "reason": "x" * 8_000_000},
                          headers={**as_user("planner"), "If-Match": '"1"'})
    assert padded.status_code == 413, padded.text[:300]
    assert padded.json()["error"] == "payload_too_large" and "byte limit" in padded.json()["message"]
    # A 26 MB patrol upload and a 26 MB photo are refused before they are read.
    blob = b"<gpx>" + b" " * (26 * 1024 * 1024)
    for url in ("/patrols", "/incidents/1/photos"):
        response = client.post(url, files={"file": ("big.gpx", blob, "application/gpx+xml")},
                               headers=as_user("worker_a"))
        assert response.status_code == 413 and response.json()["error"] == "payload_too_large", url
    # A streamed body without Content-Length is counted as it arrives.
    chunks = (b"x" * (1024 * 1024) for _ in range(27))
    response = client.post("/users", content=chunks, headers={**as_user("admin"), "Content-Type": "application/json"})
    assert response.status_code == 413 and response.json()["error"] == "payload_too_large", response.text[:300]
    assert counts(api_session) == before
