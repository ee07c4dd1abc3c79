"""Rate limits kept in PostgreSQL, so that every server process counts against the same numbers.

A fixed window per bucket (``open311:addr:203.0.113.9``): one upsert counts a hit and returns the
count, atomically, in its own short transaction, so a refused or failed request still counts and
a rolled-back request cannot hand its hit back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math

from sqlalchemy import text
from sqlalchemy.engine import Engine

from gis.errors import InvalidInput, TooManyRequests


def key_bucket(prefix: str, secret: str) -> str:
    """A bucket name for a secret (an api key) that does not store the secret."""
    return f"{prefix}:{hashlib.sha256(secret.encode('utf-8')).hexdigest()[:24]}"


def hit(engine: Engine, bucket: str, *, limit: int, window_seconds: int, what: str,
        now: dt.datetime | None = None) -> int:
    """Count one hit on ``bucket``; TooManyRequests (with Retry-After) once it is past ``limit`` in the window."""
    if limit < 1 or window_seconds < 1:
        raise InvalidInput(f"rate limit for {what}: limit and window must be 1 or more, got {limit}/{window_seconds}s")
    now = now or dt.datetime.now(dt.UTC)
    epoch = now.timestamp()
    start = dt.datetime.fromtimestamp(epoch - epoch % window_seconds, dt.UTC)
    with engine.begin() as conn:
        hits = conn.execute(text("""
            INSERT INTO rate_limit (bucket, window_start, hits) VALUES (:b, :w, 1)
            ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limit.hits + 1
            RETURNING hits"""), {"b": bucket, "w": start}).scalar_one()
        if hits == 1:  # the first hit of a window clears the bucket's old windows, and any a day old
            conn.execute(text("DELETE FROM rate_limit WHERE (bucket = :b AND window_start < :w) "
                              "OR window_start < :w - interval '1 day'"), {"b": bucket, "w": start})
    if hits > limit:
        retry = max(1, math.ceil(start.timestamp() + window_seconds - epoch))
        raise TooManyRequests(f"too many {what}: {limit} per {window_seconds} s; retry in {retry} s",
                              details={"retry_after_seconds": retry, "limit": limit,
                                       "window_seconds": window_seconds})
    return int(hits)
