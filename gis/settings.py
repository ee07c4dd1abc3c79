"""Settings: one pydantic-settings class, built at start-up and passed down.

Nothing in Wangge reads the environment at import time; call ``Settings()`` at the edge.
Every threshold the domain calls configurable lives here (env prefix ``WANGGE_``).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


DEMO_SECRET = "wangge-demo-secret-do-not-use-in-production-0000"


class Settings(BaseSettings):
    """Runtime configuration, from ``WANGGE_*`` environment variables or a ``.env`` file."""

    model_config = SettingsConfigDict(env_prefix="WANGGE_", env_file=".env", extra="ignore")

    # Database. With no URL, the embedded project-local cluster under ``home`` is used.
    database_url: str | None = None
    test_database_url: str | None = None
    home: Path = Field(default=Path(".wangge"), description="project-local state: cluster, logs, uploads")
    pg_port: int | None = Field(default=None, description="port of the embedded cluster; chosen free at creation")
    db_name: str = "wangge"
    auto_install: bool = Field(default=True, description="install missing PostgreSQL/PostGIS packages with apt")

    # HTTP
    host: str = "127.0.0.1"
    port: int = 8000

    # Grid and community sizes (households), see docs: domain §3.
    grid_min_households: int = 300
    grid_max_households: int = 500
    grid_max_residents: int = 2500
    community_min_households: int = 1000
    community_max_households: int = 3000

    # Household estimates from building footprints (domain §3).
    mean_dwelling_m2: float = 90.0
    usable_share: float = 0.75
    default_residential_floors: int = 6

    # Privacy (domain §6).
    patrol_retention_days: int = 180

    # Sign-in. The demo secret is public (it is in this file): the app refuses it in production
    # and on any non-loopback address, so that a demo set-up cannot be exposed by accident.
    secret_key: str = Field(default=DEMO_SECRET, description="HMAC key for access tokens (32+ characters)")
    token_minutes: int = Field(default=480, description="access token lifetime: one working shift")
    environment: str = Field(default="local", description="local | production (production refuses demo secrets)")

    def uses_demo_secret(self) -> bool:
        """True while the public demo secret (or a short one) signs tokens."""
        return self.secret_key == DEMO_SECRET or len(self.secret_key) < 32

    def state_dir(self) -> Path:
        """Absolute path of the project-local state folder."""
        return self.home.expanduser().resolve()
