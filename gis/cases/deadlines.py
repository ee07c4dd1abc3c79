"""Time limits of a case (处置时限) per stage × urgency × category, on a working calendar.

The clock rule (documented here once, cited by the stats):

- A case has three clocked stages. **dispatch** (立案派遣) runs from the report, or from a return
  (退回), until the case is dispatched, claimed or rejected; every hand-over (移交: grid →
  community → street → department) starts a new dispatch clock, so each level answers within its
  own limit. **handling** (处置) runs from a dispatch, a claim (认领) or a reopen (返工) until
  feedback. **verification** (核查结案) runs from feedback (or a 随手办 report) until the case is
  closed or reopened. Each new entry into a stage starts a new clock with the full limit; finished
  cases have no clock. A summons (吹哨), report-in (报到), urging (催办) or supervision (督办) never
  stops or restarts a clock: the case stays as late as it is.
- **Normal** cases count *working time*: the working periods (default 08:30–12:00 and
  13:30–17:30, Asia/Shanghai) of working days. Working days follow the State Council holiday
  schedule via ``chinese_calendar``, make-up workdays (调休) included. So "24 h" for an ordinary
  case means 24 working hours, about 3.2 working days with the default 7.5-hour day, and a
  30-minute dispatch limit for a report made at night runs from 08:30 next working morning.
- **Urgent** cases count *wall-clock time* (24 hours a day, holidays included): an urgent case
  cannot wait for Monday. Which urgency uses which clock is a setting (``DeadlineRules.clocks``).
- Time spent in an approved extension (``extended``) or parked (``parked``) does not count.
- For a year ``chinese_calendar`` does not cover (it ships the years published so far), working
  days fall back to Monday–Friday and every result says so (``fallback_years``): update the
  package when the State Council publishes the next schedule.

Default limits (domain.md §5): dispatch 10 min urgent / 30 min normal; handling 2 h urgent /
24 h normal; verification 1 h urban / 2 h rural. Add ``(category, stage, urgency, area)`` keys
to ``DeadlineRules.limits`` to override them; ``None`` matches anything. The city's category
table (``gis/data/incident_categories.csv``) adds one key per category code and stage.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

import chinese_calendar

from gis.errors import InvalidInput
from gis.periods import zone

__all__ = [
    "AREAS",
    "CLOCKS",
    "DEFAULT_LIMITS",
    "DEFAULT_RULES",
    "PAUSED_STATUSES",
    "SLA_STATUSES",
    "STAGES",
    "STAGE_OF_STATUS",
    "URGENCIES",
    "Breach",
    "CaseClock",
    "Deadline",
    "DeadlineRules",
    "Elapsed",
    "Limit",
    "SlaStatus",
    "StageClock",
    "WallClock",
    "WorkingCalendar",
    "due_at",
    "elapsed_working",
    "urgings_due",
    "sla_status",
    "stage_clocks",
]

STAGES = ("dispatch", "handling", "verification")
URGENCIES = ("normal", "urgent")
AREAS = ("urban", "rural")
CLOCKS = ("working", "wall")
SLA_STATUSES = ("on_time", "due_soon", "overdue", "paused", "no_clock")

STAGE_OF_STATUS: dict[str, str] = {
    "reported": "dispatch", "registered": "dispatch", "returned": "dispatch",
    "dispatched": "handling", "handling": "handling", "extension_requested": "handling",
    "extended": "handling", "parked": "handling",
    "feedback": "verification", "verification": "verification",
    "referred": "dispatch", "quick_fixed": "verification",
    # Cases escalated before issue 18 (the status is no longer entered) keep a handling clock.
    "escalated": "handling",
}
# Each of these starts a new run of its stage's clock even within the same stage.
RESTARTING_ACTIONS = frozenset({"hand_over"})
PAUSED_STATUSES = frozenset({"extended", "parked"})

# A wall clock has one interval that never ends; this stands for "never" without overflowing.
_FOREVER = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)
# A working calendar with no working time within this many days is a configuration error.
_MAX_DAYS = 3700


def _aware(value: Any, name: str) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{name}: a timezone-aware datetime is required; got {value!r}", details={"field": name})
    return value


@lru_cache(maxsize=4096)
def _cn_workday(day: dt.date) -> tuple[bool, bool]:
    """(is a working day, the schedule is known) from the State Council schedule."""
    try:
        return bool(chinese_calendar.is_workday(day)), True
    except NotImplementedError:
        return day.weekday() < 5, False


class Calendar(Protocol):
    """What the clock functions need of a calendar: the counting intervals from a moment on."""

    @property
    def timezone(self) -> str:
        """The IANA zone the calendar's days and hours are in."""
        ...  # pragma: no cover

    def intervals(self, start: dt.datetime, fallback: set[int]) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        ...  # pragma: no cover


@dataclass(frozen=True)
class WorkingCalendar:
    """Working periods of working days, Chinese public holidays and make-up workdays included."""

    timezone: str = "Asia/Shanghai"
    periods: tuple[tuple[dt.time, dt.time], ...] = ((dt.time(8, 30), dt.time(12, 0)),
                                                    (dt.time(13, 30), dt.time(17, 30)))
    public_holidays: bool = True  # False: Monday–Friday only

    def __post_init__(self) -> None:
        zone(self.timezone)
        previous = None
        for start, end in self.periods:
            if not start < end or (previous is not None and start < previous):
                raise InvalidInput(f"working periods must be ordered, non-overlapping (start, end) times within a "
                                   f"day; got {[(s.isoformat(), e.isoformat()) for s, e in self.periods]}")
            previous = end
        if not self.periods:
            raise InvalidInput("working periods: at least one (start, end) period is required")

    def is_workday(self, day: dt.date) -> tuple[bool, bool]:
        """(``day`` is a working day, the holiday schedule for its year is known)."""
        if not self.public_holidays:
            return day.weekday() < 5, True
        return _cn_workday(day)

    def hours_per_day(self) -> float:
        """Working hours in one working day."""
        return sum((dt.datetime.combine(dt.date.min, e) - dt.datetime.combine(dt.date.min, s)).total_seconds()
                   for s, e in self.periods) / 3600.0

    def intervals(self, start: dt.datetime, fallback: set[int]) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        """Working intervals from ``start`` on, in order; years with no known schedule go into ``fallback``."""
        tz = zone(self.timezone)
        first = start.astimezone(tz).date()
        for n in range(_MAX_DAYS):
            day = first + dt.timedelta(days=n)
            workday, known = self.is_workday(day)
            if not known:
                fallback.add(day.year)
            if not workday:
                continue
            for begin, end in self.periods:
                a = dt.datetime.combine(day, begin, tzinfo=tz)
                b = dt.datetime.combine(day, end, tzinfo=tz)
                if b > start:
                    yield max(a, start), b
        raise InvalidInput(f"the working calendar has no working time within {_MAX_DAYS} days of {start.isoformat()}")


@dataclass(frozen=True)
class WallClock:
    """Every moment counts (urgent cases): 24 hours a day, holidays included."""

    timezone: str = "Asia/Shanghai"

    def intervals(self, start: dt.datetime, fallback: set[int]) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        """One interval from ``start`` to (practically) forever."""
        yield start, _FOREVER


@dataclass(frozen=True)
class Limit:
    """A stage's time limit and the clock it runs on ("working" or "wall")."""

    duration: dt.timedelta
    clock: str = "working"


DEFAULT_LIMITS: dict[tuple[str | None, str, str | None, str | None], dt.timedelta] = {
    # (category, stage, urgency, area): duration; None matches anything.
    (None, "dispatch", "urgent", None): dt.timedelta(minutes=10),
    (None, "dispatch", "normal", None): dt.timedelta(minutes=30),
    (None, "handling", "urgent", None): dt.timedelta(hours=2),
    (None, "handling", "normal", None): dt.timedelta(hours=24),
    (None, "verification", None, "urban"): dt.timedelta(hours=1),
    (None, "verification", None, "rural"): dt.timedelta(hours=2),
}


@dataclass(frozen=True)
class DeadlineRules:
    """The configurable numbers: limits, which clock each urgency uses, the calendar, the due-soon share."""

    limits: Mapping[tuple[str | None, str, str | None, str | None], dt.timedelta] = field(
        default_factory=lambda: dict(DEFAULT_LIMITS))
    clocks: Mapping[str, str] = field(default_factory=lambda: {"urgent": "wall", "normal": "working"})
    calendar: WorkingCalendar = field(default_factory=WorkingCalendar)
    # A running stage is "due soon" once no more than this share of its limit is left.
    due_soon_share: float = 0.25

    def __post_init__(self) -> None:
        for key, value in self.limits.items():
            if len(key) != 4 or key[1] not in STAGES:
                raise InvalidInput(f"deadline limit key {key!r}: expected (category, stage, urgency, area) with "
                                   f"stage one of {STAGES}")
            if not isinstance(value, dt.timedelta) or value <= dt.timedelta(0):
                raise InvalidInput(f"deadline limit {key!r}: a positive timedelta is required; got {value!r}")
        for urgency, clock in self.clocks.items():
            if clock not in CLOCKS:
                raise InvalidInput(f"clock for urgency {urgency!r}: {clock!r} is not one of {CLOCKS}")
        if not 0 <= self.due_soon_share < 1:
            raise InvalidInput(f"due_soon_share: a share from 0 to below 1 is required; got {self.due_soon_share!r}")

    def limit_for(self, stage: str, *, category: str | None = None, urgency: str = "normal",
                  area: str = "urban") -> Limit:
        """The limit of ``stage`` for a case: the most specific matching key wins, category first."""
        if stage not in STAGES:
            raise InvalidInput(f"stage {stage!r} does not exist; choose one of {', '.join(STAGES)}")
        if urgency not in self.clocks:
            raise InvalidInput(f"urgency {urgency!r} has no clock; known: {', '.join(self.clocks)}")
        for cat in ((category, None) if category is not None else (None,)):
            for urg in (urgency, None):
                for ar in (area, None):
                    duration = self.limits.get((cat, stage, urg, ar))
                    if duration is not None:
                        return Limit(duration=duration, clock=self.clocks[urgency])
        raise InvalidInput(f"no time limit for stage {stage!r}, urgency {urgency!r}, area {area!r}"
                           f"{f', category {category!r}' if category else ''}; add one to DeadlineRules.limits")

    def calendar_for(self, clock: str) -> WorkingCalendar | WallClock:
        """The calendar a clock runs on."""
        return WallClock(self.calendar.timezone) if clock == "wall" else self.calendar


DEFAULT_RULES = DeadlineRules()

Pause = tuple[dt.datetime, dt.datetime | None]


@dataclass(frozen=True)
class Deadline:
    """A due time (None while an open-ended pause holds the clock) and the years counted on weekends only."""

    at: dt.datetime | None
    fallback_years: tuple[int, ...] = ()

    @property
    def calendar_fallback(self) -> bool:
        """True when part of the count used the weekends-only fallback."""
        return bool(self.fallback_years)


@dataclass(frozen=True)
class Elapsed:
    """Counted time between two moments, the counted time lost to pauses, and fallback years."""

    counted: dt.timedelta
    paused: dt.timedelta
    fallback_years: tuple[int, ...] = ()

    @property
    def calendar_fallback(self) -> bool:
        """True when part of the count used the weekends-only fallback."""
        return bool(self.fallback_years)


def _merge_pauses(pauses: Iterable[Pause], start: dt.datetime) -> list[Pause]:
    """Pauses sorted and merged, those over before ``start`` dropped; an open end stays None."""
    cleaned: list[Pause] = []
    for pause in pauses:
        s, e = pause
        _aware(s, "pause start")
        if e is not None and _aware(e, "pause end") < s:
            raise InvalidInput(f"pause ends ({e.isoformat()}) before it starts ({s.isoformat()})")
        if e is None or e > start:
            cleaned.append((s, e))
    cleaned.sort(key=lambda p: p[0])
    merged: list[Pause] = []
    for s, e in cleaned:
        if merged and (merged[-1][1] is None or s <= merged[-1][1]):
            last_s, last_e = merged[-1]
            merged[-1] = (last_s, None if last_e is None or e is None else max(last_e, e))
        else:
            merged.append((s, e))
    return merged


def _pieces(calendar: Calendar, start: dt.datetime, pauses: Iterable[Pause], fallback: set[int]
            ) -> Iterator[tuple[dt.datetime, dt.datetime]]:
    """Counting intervals from ``start`` with the pauses cut out; stops at an open-ended pause."""
    merged = _merge_pauses(pauses, start)
    i = 0
    for a, b in calendar.intervals(start, fallback):
        while True:
            while i < len(merged) and (ended := merged[i][1]) is not None and ended <= a:
                i += 1
            if i == len(merged) or merged[i][0] >= b:
                yield a, b
                break
            ps, pe = merged[i]
            if ps > a:
                yield a, ps
            if pe is None:
                return
            if pe >= b:
                break
            a = pe


def due_at(start: dt.datetime, duration: dt.timedelta, *, calendar: Calendar,
           pauses: Iterable[Pause] = ()) -> Deadline:
    """When ``duration`` of counted time after ``start`` is used up, skipping non-working time and pauses.

    A limit that ends exactly at the end of a working period is due then (17:30), not at the next
    opening. ``at`` is None when an open-ended pause (end None) stops the clock before the limit.
    """
    _aware(start, "start")
    if not isinstance(duration, dt.timedelta) or duration < dt.timedelta(0):
        raise InvalidInput(f"duration: a non-negative timedelta is required; got {duration!r}")
    tz = zone(calendar.timezone)
    if duration == dt.timedelta(0):
        return Deadline(start.astimezone(tz))
    fallback: set[int] = set()
    remaining = duration
    for a, b in _pieces(calendar, start, pauses, fallback):
        if b - a >= remaining:
            return Deadline((a + remaining).astimezone(tz), tuple(sorted(fallback)))
        remaining -= b - a
    return Deadline(None, tuple(sorted(fallback)))


def _counted(calendar: Calendar, start: dt.datetime, end: dt.datetime, pauses: Iterable[Pause],
             fallback: set[int]) -> dt.timedelta:
    total = dt.timedelta(0)
    closed = [(s, e if e is not None else end) for s, e in pauses]
    for a, b in _pieces(calendar, start, closed, fallback):
        if a >= end:
            break
        total += min(b, end) - a
    return total


def elapsed_working(start: dt.datetime, end: dt.datetime, *, pauses: Iterable[Pause] = (),
                    calendar: Calendar) -> Elapsed:
    """Counted time from ``start`` to ``end`` on ``calendar``, without the pauses (an open pause runs to ``end``)."""
    _aware(start, "start")
    _aware(end, "end")
    if end < start:
        raise InvalidInput(f"end ({end.isoformat()}) is before start ({start.isoformat()})")
    pauses = list(pauses)
    fallback: set[int] = set()
    counted = _counted(calendar, start, end, pauses, fallback)
    gross = _counted(calendar, start, end, (), fallback) if pauses else counted
    return Elapsed(counted, gross - counted, tuple(sorted(fallback)))


# --- a case's clocks from its event log ----------------------------------------------------------


@dataclass(frozen=True)
class StageClock:
    """One run of a stage's clock: when it started and ended, its pauses, due time and use of the limit."""

    stage: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    pauses: tuple[Pause, ...]
    limit: Limit
    due_at: dt.datetime | None
    elapsed: dt.timedelta  # counted time until ended_at (or now), pauses excluded
    paused: bool  # the clock is stopped right now
    fallback_years: tuple[int, ...] = ()

    @property
    def remaining(self) -> dt.timedelta:
        """Counted time left before the limit (negative once overdue)."""
        return self.limit.duration - self.elapsed

    @property
    def overdue(self) -> bool:
        """The stage took, or has taken so far, more counted time than its limit."""
        return self.elapsed > self.limit.duration


def _field(event: Any, key: str) -> Any:
    return event.get(key) if isinstance(event, Mapping) else getattr(event, key, None)


def _sorted_events(case_events: Iterable[Any]) -> list[Any]:
    events = list(case_events)
    for e in events:
        _aware(_field(e, "at"), f"event {_field(e, 'action')!r} at")
    # Stable: events logged at the same instant keep their log order.
    return sorted(events, key=lambda e: _field(e, "at"))


def stage_clocks(case_events: Iterable[Any], *, now: dt.datetime, rules: DeadlineRules = DEFAULT_RULES,
                 category: str | None = None, urgency: str = "normal", area: str = "urban") -> list[StageClock]:
    """Every stage clock of a case, oldest first, from its events (``action``, ``to_status``, ``at``).

    Events may be :class:`gis.cases.workflow.Event` objects, database rows or mappings.
    """
    _aware(now, "now")
    runs: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    pause_start: dt.datetime | None = None
    for event in _sorted_events(case_events):
        at, to = _field(event, "at"), _field(event, "to_status")
        stage = STAGE_OF_STATUS.get(to)
        if pause_start is not None and to not in PAUSED_STATUSES:
            current["pauses"].append((pause_start, at))  # type: ignore[index]
            pause_start = None
        if current is not None and (stage != current["stage"] or _field(event, "action") in RESTARTING_ACTIONS):
            current["ended_at"] = at
            current = None
        if stage is not None and current is None:
            current = {"stage": stage, "started_at": at, "ended_at": None, "pauses": []}
            runs.append(current)
        if to in PAUSED_STATUSES and pause_start is None:
            pause_start = at
    if pause_start is not None and current is not None:
        current["pauses"].append((pause_start, None))

    clocks = []
    for run in runs:
        limit = rules.limit_for(run["stage"], category=category, urgency=urgency, area=area)
        calendar = rules.calendar_for(limit.clock)
        pauses = tuple(run["pauses"])
        deadline = due_at(run["started_at"], limit.duration, calendar=calendar, pauses=pauses)
        end = run["ended_at"] if run["ended_at"] is not None else max(now, run["started_at"])
        spent = elapsed_working(run["started_at"], end, pauses=pauses, calendar=calendar)
        paused = run["ended_at"] is None and bool(pauses) and pauses[-1][1] is None
        fallback = tuple(sorted(set(deadline.fallback_years) | set(spent.fallback_years)))
        clocks.append(StageClock(stage=run["stage"], started_at=run["started_at"], ended_at=run["ended_at"],
                                 pauses=pauses, limit=limit, due_at=deadline.at, elapsed=spent.counted,
                                 paused=paused, fallback_years=fallback))
    return clocks


@dataclass(frozen=True)
class SlaStatus:
    """Where a case stands against the limit of its current stage."""

    status: str  # one of SLA_STATUSES
    stage: str | None
    started_at: dt.datetime | None = None
    due_at: dt.datetime | None = None
    limit: Limit | None = None
    elapsed: dt.timedelta | None = None
    remaining: dt.timedelta | None = None
    fallback_years: tuple[int, ...] = ()

    @property
    def calendar_fallback(self) -> bool:
        """True when part of the count used the weekends-only fallback."""
        return bool(self.fallback_years)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values; durations in seconds."""
        return {
            "status": self.status, "stage": self.stage,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "limit_seconds": self.limit.duration.total_seconds() if self.limit else None,
            "clock": self.limit.clock if self.limit else None,
            "elapsed_seconds": self.elapsed.total_seconds() if self.elapsed is not None else None,
            "remaining_seconds": self.remaining.total_seconds() if self.remaining is not None else None,
            "calendar_fallback": self.calendar_fallback, "fallback_years": list(self.fallback_years),
        }


def sla_status(case_events: Iterable[Any], *, now: dt.datetime, rules: DeadlineRules = DEFAULT_RULES,
               category: str | None = None, urgency: str = "normal", area: str = "urban") -> SlaStatus:
    """``on_time``, ``due_soon`` or ``overdue`` for the running stage, with its due time.

    ``paused``: the clock is stopped (extension approved, parked) and the limit is not yet used up;
    ``no_clock``: no stage is running (rejected, closed, evaluated).
    ``due_soon``: at most ``rules.due_soon_share`` of the limit is left.
    """
    clocks = stage_clocks(case_events, now=now, rules=rules, category=category, urgency=urgency, area=area)
    if not clocks or clocks[-1].ended_at is not None:
        return SlaStatus(status="no_clock", stage=None,
                         fallback_years=clocks[-1].fallback_years if clocks else ())
    clock = clocks[-1]
    if clock.overdue:
        status = "overdue"
    elif clock.paused:
        status = "paused"
    elif clock.remaining <= clock.limit.duration * rules.due_soon_share:
        status = "due_soon"
    else:
        status = "on_time"
    return SlaStatus(status=status, stage=clock.stage, started_at=clock.started_at, due_at=clock.due_at,
                     limit=clock.limit, elapsed=clock.elapsed, remaining=clock.remaining,
                     fallback_years=clock.fallback_years)


@dataclass(frozen=True)
class CaseClock:
    """A case as the deadline functions see it: its id, events and the facts that pick its limits."""

    case_id: Hashable
    events: Sequence[Any]
    category: str | None = None
    urgency: str = "normal"
    area: str = "urban"


@dataclass(frozen=True)
class Breach:
    """A case whose running stage is over its limit and has not been urged automatically in this run."""

    case_id: Hashable
    status: str
    stage: str
    due_at: dt.datetime | None
    overdue_by: dt.timedelta  # counted time beyond the limit
    fallback_years: tuple[int, ...] = ()


def urgings_due(cases: Iterable[CaseClock], *, now: dt.datetime, rules: DeadlineRules = DEFAULT_RULES
                ) -> list[Breach]:
    """Overdue cases the scheduler should urge (催办, role ``system``) now, most overdue first.

    A case qualifies when its running stage is overdue and no ``urge`` by ``system`` was logged
    since that stage's clock started: one automatic urging per late stage run, however often the
    scheduler runs. Urging leaves status and clock alone: the case stays on the overdue list.
    """
    breaches = []
    for case in cases:
        events = _sorted_events(case.events)
        if not events:
            continue
        sla = sla_status(events, now=now, rules=rules, category=case.category, urgency=case.urgency, area=case.area)
        if sla.status != "overdue" or sla.started_at is None:
            continue
        if any(_field(e, "action") == "urge" and _field(e, "actor_role") == "system"
               and _field(e, "at") >= sla.started_at for e in events):
            continue
        breaches.append(Breach(case_id=case.case_id, status=_field(events[-1], "to_status"), stage=sla.stage or "",
                               due_at=sla.due_at,
                               overdue_by=-sla.remaining if sla.remaining is not None else dt.timedelta(0),
                               fallback_years=sla.fallback_years))
    breaches.sort(key=lambda b: b.overdue_by, reverse=True)
    return breaches
