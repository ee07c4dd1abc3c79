"""Household visits (入户走访, 民情日志): the rules, without a database.

Why hand-written: the rules are small and local (a cadence table, a due date, a month in
Asia/Shanghai, a sealed text); no library holds the practice of a grid worker's visit round.

- **Cadence**: how many days may pass between visits to a household, by the groups its members
  belong to (resident tags): 独居老人 weekly, 重点人员 and 低保 monthly, every other household
  quarterly (``other``). A household in several groups follows the shortest.
- **Due**: a household is due ``days`` after its last visit; one never visited is due from the
  day it was recorded (nobody has been to see it yet).
- **Time**: ``visited_at`` is when the visit happened, as the phone recorded it; an offline
  phone may send it hours later. A time in the future, or before the household was recorded,
  is refused: neither can be a visit that happened.
- **Findings** name people and their circumstances (health, family, money: PIPL art. 28), so they
  are sealed at rest like ID numbers: AES-256-GCM under a key derived from the ID key (HKDF, its
  own label), bound to this column, as ``wv1.<ID key id>.<data>``. The key id is the ID key's, so
  the keys that ``WANGGE_ID_KEYS_PREVIOUS`` keeps for ID numbers open older findings too.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gis.errors import InvalidInput
from gis.idnumbers import IdKeys, seal, unseal
from gis.periods import DEFAULT_TIMEZONE, zone

PURPOSES = ("routine", "care", "info_check", "case_follow_up", "other")
OTHER = "other"
# The shipped cadence (days), also what migration 0017 seeded; a district's own rows win (visit_cadence).
DEFAULT_CADENCE: dict[str, int] = {
    "elderly_alone": 7, "key_person": 30, "community_correction": 30, "mental_disorder": 30, "drug_user": 30,
    "low_income": 30, "disabled": 30, "left_behind_child": 30, "special_support": 90, "veteran": 90, OTHER: 90,
}
MAX_CADENCE_DAYS = 366
MAX_FINDINGS = 4000
TIMEZONE = DEFAULT_TIMEZONE
# A phone's clock may run a little fast; beyond this a visit "in the future" is refused.
CLOCK_SKEW = dt.timedelta(minutes=5)
HEAD_RELATIONS = frozenset({"head", "户主", "本人"})

_MONTH = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")
_TAG = re.compile(r"^[a-z][a-z0-9_:.-]{0,39}$")
FINDINGS_PREFIX = "wv1"
_FINDINGS_AAD = b"wangge:visit.findings"
_FINDINGS_INFO = b"wangge visit findings"


# --- checks -----------------------------------------------------------------------------------


def check_purpose(purpose: str | None) -> str:
    """A purpose code, or InvalidInput naming the field and the codes."""
    if purpose not in PURPOSES:
        raise InvalidInput(f"purpose: one of {', '.join(PURPOSES)}; got {purpose!r}", details={"field": "purpose"})
    return purpose


def check_findings(findings: str | None) -> str | None:
    """The findings text trimmed (None when blank), at most MAX_FINDINGS characters."""
    if findings is None:
        return None
    if not isinstance(findings, str):
        raise InvalidInput("findings: text expected", details={"field": "findings"})
    value = findings.strip()
    if len(value) > MAX_FINDINGS:
        raise InvalidInput(f"findings: at most {MAX_FINDINGS} characters, got {len(value)}",
                           details={"field": "findings"})
    return value or None


def check_visit_time(visited_at: dt.datetime, *, now: dt.datetime, household_since: dt.datetime | None) -> dt.datetime:
    """The time of the visit, refused when it has no offset, lies in the future or before the household existed."""
    if not isinstance(visited_at, dt.datetime) or visited_at.tzinfo is None or visited_at.utcoffset() is None:
        raise InvalidInput(f"visited_at: a time with its UTC offset is required (e.g. 2026-12-06T09:30:00+08:00); "
                           f"got {visited_at!r}", details={"field": "visited_at"})
    if visited_at > now + CLOCK_SKEW:
        raise InvalidInput(f"visited_at {visited_at.isoformat()} is in the future (now {now.isoformat()}); send the "
                           "time the visit happened", details={"field": "visited_at"})
    if household_since is not None and visited_at < household_since:
        raise InvalidInput(f"visited_at {visited_at.isoformat()} is before the household was recorded "
                           f"({household_since.isoformat()})", details={"field": "visited_at"})
    return visited_at


def check_cadence_days(tag: str, days: int) -> tuple[str, int]:
    """A cadence row (tag, days), or InvalidInput naming it."""
    tag = (tag or "").strip()
    if not _TAG.match(tag):
        raise InvalidInput(f"cadence tag {tag!r}: lower-case letters, digits and _:.- (at most 40), e.g. "
                           "elderly_alone, or 'other' for every other household", details={"field": "tag"})
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_CADENCE_DAYS:
        raise InvalidInput(f"cadence {tag}: days between 1 and {MAX_CADENCE_DAYS}, got {days!r}",
                           details={"field": "days", "tag": tag})
    return tag, days


def parse_cadence_setting(text: str) -> tuple[str, int]:
    """One cadence change written ``TAG=DAYS`` as (tag, days); the error names ``changes``, the service's field."""
    tag, sep, days = (text or "").partition("=")
    if not sep or not days.strip().lstrip("-").isdigit():
        raise InvalidInput(f"changes: {text!r}: expected TAG=DAYS, e.g. elderly_alone=7", details={"field": "changes"})
    return check_cadence_days(tag, int(days.strip()))


def month_period(month: str, *, timezone: str = TIMEZONE) -> tuple[dt.datetime, dt.datetime]:
    """[first instant, first instant of the next month) of ``YYYY-MM`` in local time."""
    found = _MONTH.match(month or "")
    if not found:
        raise InvalidInput(f"month: YYYY-MM (e.g. 2026-12), got {month!r}", details={"field": "month"})
    year, mon = int(found.group(1)), int(found.group(2))
    tz = zone(timezone)
    lo = dt.datetime(year, mon, 1, tzinfo=tz)
    hi = dt.datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=tz)
    return lo, hi


def local_date(at: dt.datetime, *, timezone: str = TIMEZONE) -> dt.date:
    """The local calendar day of an instant."""
    return at.astimezone(zone(timezone)).date()


def mask_name(name: str | None) -> str | None:
    """A name with the surname shown and the rest starred (张**), as a visit list shows the head of a household."""
    if not name:
        return name
    name = name.strip()
    if len(name) <= 1:
        return "*"
    return name[0] + "*" * (len(name) - 1)


# --- cadence and due dates --------------------------------------------------------------------


@dataclass(frozen=True)
class Cadence:
    """The days allowed between visits to one household, and the group (tag) that sets them."""

    days: int
    tag: str


def household_cadence(tags: Iterable[str], cadence: Mapping[str, int]) -> Cadence:
    """The shortest cadence among the household's tags; ``other`` when none has one."""
    found = [(cadence[t], t) for t in set(tags or ()) if t in cadence and t != OTHER]
    if found:
        days, tag = min(found)
        return Cadence(days=days, tag=tag)
    return Cadence(days=cadence.get(OTHER, DEFAULT_CADENCE[OTHER]), tag=OTHER)


@dataclass(frozen=True)
class DueVisit:
    """One household's place in the visit round."""

    household_id: int
    grid_code: str | None
    head_name: str | None  # masked
    tag: str
    cadence_days: int
    last_visit: dt.datetime | None
    due_date: dt.date
    overdue_days: int  # 0 when due today; negative: not yet due

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["last_visit"] = self.last_visit.isoformat() if self.last_visit else None
        out["due_date"] = self.due_date.isoformat()
        return out


def due_date(*, last_visit: dt.datetime | None, recorded_at: dt.datetime, days: int,
             timezone: str = TIMEZONE) -> dt.date:
    """The local day a household is due: ``days`` after its last visit, or the day it was recorded."""
    if last_visit is None:
        return local_date(recorded_at, timezone=timezone)
    return local_date(last_visit, timezone=timezone) + dt.timedelta(days=days)


def due_visit(*, household_id: int, grid_code: str | None, head_name: str | None, tags: Iterable[str],
              last_visit: dt.datetime | None, recorded_at: dt.datetime, cadence: Mapping[str, int],
              today: dt.date, timezone: str = TIMEZONE) -> DueVisit:
    """Where one household stands: its cadence, due date and days overdue on ``today``."""
    rule = household_cadence(tags, cadence)
    due = due_date(last_visit=last_visit, recorded_at=recorded_at, days=rule.days, timezone=timezone)
    return DueVisit(household_id=household_id, grid_code=grid_code, head_name=mask_name(head_name), tag=rule.tag,
                    cadence_days=rule.days, last_visit=last_visit, due_date=due, overdue_days=(today - due).days)


def is_due_in(item: DueVisit, *, until: dt.date) -> bool:
    """Whether a household falls due on or before ``until``."""
    return item.due_date <= until


def coverage_share(visited: int, due: int) -> float | None:
    """Visited over due, rounded to 4 places; None when nothing was due."""
    return round(visited / due, 4) if due else None


# --- findings at rest -------------------------------------------------------------------------


def _findings_key(id_key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_FINDINGS_INFO).derive(id_key)


def seal_findings(keys: IdKeys, findings: str) -> str:
    """``wv1.<ID key id>.<nonce+ciphertext>`` of a visit's findings (a fresh nonce each time)."""
    return seal(_findings_key(keys.current), key_label=keys.current_id, prefix=FINDINGS_PREFIX,
                plaintext=findings.encode("utf-8"), aad=_FINDINGS_AAD)


def open_findings(keys: IdKeys, token: str | None) -> str | None:
    """The findings sealed in ``token``; SetupError when no key held here sealed them."""
    if token is None:
        return None
    return unseal(keys, token, prefix=FINDINGS_PREFIX, aad=_FINDINGS_AAD, what="visit findings",
                  derive=_findings_key).decode("utf-8")
