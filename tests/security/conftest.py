"""Security tests reuse the API fixtures (tests/api/conftest.py): the same world, app and signed-in clients."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("security_api_fixtures",
                                               Path(__file__).resolve().parents[1] / "api" / "conftest.py")
assert _spec is not None and _spec.loader is not None
_api = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_api)

# Re-exported as fixtures of this folder (pytest collects fixtures by name from a conftest's globals).
api_database = _api.api_database
api_database_url = _api.api_database_url
world = _api.world
api_app = _api.api_app
api_engine = _api.api_engine
api_session = _api.api_session
client = _api.client
tokens = _api.tokens
as_user = _api.as_user
api_settings = _api.api_settings
