"""Response bodies of the API, one module per area (``…Public`` models), declared on the routes as ``response_model``.

The OpenAPI document built from them is what Schemathesis checks every response against (tests/fuzz), and what a
client generator reads. Shared shapes (GeoJSON features typed by their properties, pages) live in ``common``.
"""
