"""The OpenAPI document as a contract: what each operation answers on success is written down.

A client generated from ``/openapi.json``, and the fuzz run's ``response_schema_conformance``
(tests/fuzz), can only hold the API to a body the document describes. So: at least 90% of all
operations declare a schema for their success status that says something (not ``{}`` nor a bare
object), every operation that answers success without a body is listed here with the reason,
and every schema in ``components`` is used by some operation (no stale models left behind).
Building the document opens no database connection.
"""

from __future__ import annotations

from typing import Any

import api_world
import pytest

from api.app import openapi_document
from gis.settings import Settings

MIN_DOCUMENTED = 0.90
METHODS = ("get", "put", "post", "patch", "delete")

# Operations whose success answer has no body: (method, path) -> why. None today: every write answers
# with what it wrote. (A tile's 204 below the layer's minimum zoom is not its success answer: the
# 200 with the tile is, documented as a binary body.)
NO_BODY: dict[tuple[str, str], str] = {}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi_document(Settings(database_url=None, secret_key=api_world.SECRET))


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, operation) for path, item in document["paths"].items()
            for method, operation in item.items() if method in METHODS]


def success_status(operation: dict[str, Any]) -> str:
    """The operation's success status: the first 2xx it declares (201 for a create, 200 otherwise)."""
    statuses = sorted(code for code in operation["responses"] if code.startswith("2"))
    assert statuses, f"{operation.get('operationId')}: no success status declared"
    return statuses[0]


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def says_something(document: dict[str, Any], schema: dict[str, Any]) -> bool:
    """Whether ``schema`` describes a body: named members, typed items, a binary body or a union of these.

    ``{}``, ``{"type": "object"}`` and an object with only ``additionalProperties`` (what a
    ``-> dict[str, Any]`` route publishes) do not.
    """
    schema = _resolve(document, schema)
    if "anyOf" in schema or "oneOf" in schema or "allOf" in schema:
        parts = schema.get("anyOf") or schema.get("oneOf") or schema.get("allOf")
        return any(says_something(document, part) for part in parts)
    kind = schema.get("type")
    if kind == "array":
        return says_something(document, schema.get("items", {}))
    if kind == "object" or (kind is None and "properties" in schema):
        return bool(schema.get("properties"))
    if kind == "string":
        return True  # a binary body (tiles, files) or a text answer: its media type says what it is
    return kind is not None


def body_schemas(operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Media type -> schema of the operation's success response."""
    content = operation["responses"][success_status(operation)].get("content") or {}
    return {media: entry.get("schema", {}) for media, entry in content.items()}


def test_operations_document_their_success_body(document: dict[str, Any]) -> None:
    ops = operations(document)
    missing, documented = [], 0
    for method, path, operation in ops:
        if (method, path) in NO_BODY:
            continue
        schemas = body_schemas(operation)
        if schemas and all(says_something(document, s) for s in schemas.values()):
            documented += 1
        else:
            missing.append(f"{method.upper()} {path} {success_status(operation)}")
    with_body = len(ops) - len(NO_BODY)
    share = documented / with_body
    print(f"\nOpenAPI: {documented} of {with_body} operations with a success body document it ({share:.0%}); "
          f"{len(NO_BODY)} answer without a body; {len(ops)} operations in all")
    if missing:
        print("undocumented:\n  " + "\n  ".join(missing))
    assert share >= MIN_DOCUMENTED, f"only {share:.0%} document their success body; undocumented: {missing}"


def test_operations_without_a_body_are_the_listed_ones(document: dict[str, Any]) -> None:
    """An operation listed as bodiless declares no content; one not listed declares some."""
    ops = {(method, path): operation for method, path, operation in operations(document)}
    assert set(NO_BODY) <= set(ops), f"listed but gone: {sorted(set(NO_BODY) - set(ops))}"
    for key, operation in ops.items():
        has_body = bool(operation["responses"][success_status(operation)].get("content"))
        assert has_body != (key in NO_BODY), f"{key}: body {'declared' if has_body else 'missing'}"


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[1]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(value) for value in node))
    return set()


def test_every_component_schema_is_reachable(document: dict[str, Any]) -> None:
    components = document.get("components", {}).get("schemas", {})
    reached: set[str] = set()
    todo = _refs(document["paths"])
    while todo:
        name = todo.pop()
        if name in reached:
            continue
        reached.add(name)
        todo |= _refs(components.get(name, {})) - reached
    assert not reached - set(components), f"references to missing schemas: {sorted(reached - set(components))}"
    assert not set(components) - reached, f"schemas no operation uses: {sorted(set(components) - reached)}"
