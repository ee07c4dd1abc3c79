"""Coverage network version keys (issue 20).

Reserved: filled in by the work on that issue; until then it changes nothing.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 21:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
