"""Idempotency keys (issue 17): one row per (user, key) holding what the first request got back.

A field app that lost its network cannot know whether a POST reached the server; it sends the
same request again under the same ``Idempotency-Key`` and must get the first answer rather than
a second record. The row holds a digest of the request (so that a key reused for another request
is refused) and, once the request finished, the response itself.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, LargeBinary, SmallInteger, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gis.db.models import Base


class IdempotencyKey(Base):
    """A request sent under an ``Idempotency-Key``: its digest, then its response (NULL status while it runs)."""

    __tablename__ = "idempotency_key"
    __table_args__ = (
        CheckConstraint("method IN ('POST', 'PUT', 'PATCH')", name="method"),
        Index("ix_idempotency_key_created_at", "created_at"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    # The user's district when the key was first used: the table shards with the rest by district.
    district_code: Mapped[str | None] = mapped_column(String(6))
    method: Mapped[str] = mapped_column(String(6))
    path: Mapped[str] = mapped_column(String(2000))
    request_hash: Mapped[bytes] = mapped_column(LargeBinary)
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    response_headers: Mapped[list[Any] | None] = mapped_column(JSONB)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
