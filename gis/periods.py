"""Time zones and calendar periods as users name them (a week ``2026-W47``, a month ``2026-12``).

Pure: no database, so engines and services share one reading of a zone name and one error for a bad one.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from functools import lru_cache

from gis.errors import InvalidInput

DEFAULT_TIMEZONE = "Asia/Shanghai"


@lru_cache(maxsize=64)
def zone(name: str, *, field: str = "timezone") -> dt.tzinfo:
    """The IANA time zone ``name`` (``UTC`` included); a name that is not a zone is an ``InvalidInput`` on ``field``."""
    try:
        return dt.UTC if name.upper() == "UTC" else zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, AttributeError):
        raise InvalidInput(f"{field}: {name!r} is not a time zone; expected an IANA name such as Asia/Shanghai",
                           details={"field": field}) from None
