"""Rate limits kept in PostgreSQL, so that every server process counts against the same numbers.

A fixed window per bucket (``open311:addr:203.0.113.9``): one upsert counts a hit and returns the
count, atomically, in its own short transaction, so a refused or failed request still counts and
a rolled-back request cannot hand its hit back. Failed sign-ins (api/ratelimit.py LoginLimiter)
use a sliding window over the same table.
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


# --- failed sign-ins: a sliding window over the same table ---------------------------------------
#
# A row per failure time (window_start is the failure's own instant, hits > 1 only when two land
# on the same microsecond), so that the wait is exact: the oldest failure in the window leaves it
# at a known moment. Every server process counts against the same rows.


def failure_wait(engine: Engine, limits: dict[str, int], *, window_seconds: float, now: float) -> float:
    """Seconds until the fullest of ``limits`` (bucket → failures allowed) has room again; 0 when all have room."""
    with engine.begin() as conn:
        rows = conn.execute(text("""
            SELECT bucket, sum(hits) AS n, extract(epoch FROM min(window_start)) AS oldest FROM rate_limit
            WHERE bucket = ANY(CAST(:b AS text[])) AND window_start > to_timestamp(:cut) GROUP BY bucket"""),
            {"b": list(limits), "cut": now - window_seconds}).all()
    waits = [float(r.oldest) + window_seconds - now for r in rows if r.n >= limits[r.bucket]]
    return max([0.0, *waits])


def record_failure(engine: Engine, buckets: list[str], *, window_seconds: float, now: float, prefix: str) -> None:
    """Count one failure at ``now`` on each bucket; drop what has left their window, and day-old rows of ``prefix``."""
    with engine.begin() as conn:
        conn.execute(text("""
            INSERT INTO rate_limit (bucket, window_start, hits)
            SELECT b, to_timestamp(:now), 1 FROM unnest(CAST(:b AS text[])) b
            ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limit.hits + 1"""),
            {"b": buckets, "now": now})
        conn.execute(text("""
            DELETE FROM rate_limit WHERE (bucket = ANY(CAST(:b AS text[])) AND window_start <= to_timestamp(:cut))
               OR (bucket LIKE :prefix AND window_start < to_timestamp(:now) - interval '1 day')"""),
            {"b": buckets, "cut": now - window_seconds, "now": now, "prefix": f"{prefix}:%"})


def clear(engine: Engine, bucket: str) -> None:
    """Forget every failure of ``bucket`` (a right password clears its username)."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM rate_limit WHERE bucket = :b"), {"b": bucket})
