"""Prepared walk networks shared by every server process (issue 20; migration 0015).

A row is one district's network prepared for coverage (graph, attached buildings, geometries
as arrays), keyed by the ``layer_version`` rows of the tables it was built from; see
gis/services/coverage/cache.py. It is a cache: any row may be deleted at any time.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Float, LargeBinary, String, func
from sqlalchemy.orm import Mapped, mapped_column

from gis.db.models import Base


class CoverageNetworkCache(Base):
    """One district's prepared walk network for one network key (a numpy archive)."""

    __tablename__ = "coverage_network_cache"

    district_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    network_key: Mapped[str] = mapped_column(String(400), primary_key=True)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    prepare_s: Mapped[float] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
