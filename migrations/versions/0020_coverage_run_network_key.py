"""The network key each coverage run was computed on (issue 20).

A stored run was stale only when ``district.network_version`` moved (a re-import, a facility
changed). Roads, gates, rivers, buildings and residents edited in place bump their
``layer_version`` rows instead (migrations 0003 and 0015), which the coverage network cache
already keys on; a run now keeps that key, and is stale when the district's key has moved since.
Runs stored before keep NULL and are judged by the version alone, as before.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 04:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add coverage_run.network_key."""
    op.add_column("coverage_run", sa.Column("network_key", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop coverage_run.network_key."""
    op.drop_column("coverage_run", "network_key")
