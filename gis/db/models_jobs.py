"""Background jobs (issue 20): one row per job, the queue that every server process takes work from.

The row is the whole truth of a job: what to run (``kind`` and JSON ``parameters``), who asked,
where it is (status, stage, fraction), which worker holds it and until when (``heartbeat_at``
plus the lease), and how it ended (``result`` or ``error``). See gis/services/jobs.py.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, Float, ForeignKey, Index, SmallInteger, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gis.db.models import Base


class Job(Base):
    """A background job: queued → running → done | failed; a running job whose worker is gone is taken back."""

    __tablename__ = "job"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="status"),
        CheckConstraint("fraction >= 0 AND fraction <= 1", name="fraction"),
        # The workers' claim reads the oldest queued job; the reaper reads running jobs by heartbeat.
        Index("ix_job_queued", "created_at", postgresql_where=text("status = 'queued'")),
        Index("ix_job_running", "heartbeat_at", postgresql_where=text("status = 'running'")),
        Index("ix_job_owner_id_created_at", "owner_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(60))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    owner: Mapped[str | None] = mapped_column(String(100))
    # The district the job works on, when its parameters name one: the table shards with the rest.
    district_code: Mapped[str | None] = mapped_column(String(6))
    status: Mapped[str] = mapped_column(String(10), server_default="queued")
    stage: Mapped[str] = mapped_column(Text, server_default="queued")
    fraction: Mapped[float] = mapped_column(Float, server_default="0")
    result: Mapped[Any | None] = mapped_column(JSONB)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    links: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    # Claims so far; a claim by a new worker after the last one's lease ran out counts again.
    attempts: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    worker: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
