"""Cron schedules for mirrors (`cron = "0 */6 * * *"`, `timezone = "Europe/Berlin"`): pure arithmetic.

`parse(expr)` reads a 5-field Vixie cron expression (minute hour day-of-month month day-of-week;
`*`, `a-b`, `/step`, lists, names `JAN`..`DEC` and `SUN`..`SAT`, day-of-week 0 or 7 = Sunday) or one
of `@hourly @daily @midnight @weekly @monthly @yearly @annually`. `next_fire(spec, after, tz)` gives
the first firing instant strictly after `after`, evaluated on the wall clock of `tz`.

Day matching follows Vixie cron: when both day-of-month and day-of-week are restricted (neither
field starts with `*`), a day matches if EITHER matches; otherwise both must match.

Daylight-saving rule (both cases keep a job firing exactly once per matching wall-clock slot):
- A wall time that does not exist (spring forward, e.g. 02:30 in Berlin on the last Sunday of March)
  fires at the first valid instant after the gap (03:00 local). Several matching times inside one
  gap collapse into that one firing.
- A wall time that happens twice (fall back, e.g. 02:30 in Berlin on the last Sunday of October)
  fires once, at its first occurrence (still on summer time); the repeat is skipped.

Results are aware datetimes in `tz`. Compare them with `<`/`>` or convert to UTC first: by PEP 495 an
ambiguous local time never compares `==` to a time in another zone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["CronSpec", "next_fire", "parse", "zone"]

_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]

# (name, low, high, names mapped to numbers)
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    ("month", 1, 12, {n: i + 1 for i, n in enumerate(_MONTHS)}),
    ("day-of-week", 0, 7, {n: i for i, n in enumerate(_DAYS)}),
)

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_DAYS_IN_MONTH_MAX = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# No valid spec needs more than 28 years to recur (Feb 29 on a given weekday); stop well beyond.
_SEARCH_YEARS = 400


@dataclass(frozen=True)
class CronSpec:
    """A parsed cron expression: the allowed values of each field."""

    expr: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday .. 6 = Saturday (7 folded into 0)
    dom_star: bool  # day-of-month field starts with `*` (Vixie's DOM_STAR)
    dow_star: bool

    def __str__(self) -> str:
        return self.expr

    def day_matches(self, d: date) -> bool:
        if d.month not in self.months:
            return False
        dom = d.day in self.days
        dow = (d.isoweekday() % 7) in self.weekdays
        if self.dom_star or self.dow_star:
            return dom and dow
        return dom or dow


def _number(text: str, field: str, low: int, high: int, names: dict[str, int]) -> int:
    key = text.upper()
    if key in names:
        return names[key]
    if not text.isdigit():
        raise ValueError(f"{field} field: {text!r} is not a number" + (" or a name" if names else ""))
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"{field} field: {value} is out of range {low}-{high}")
    return value


def _field(text: str, field: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise ValueError(f"{field} field: empty list item in {text!r}")
        rng, _, step_text = item.partition("/")
        step = 1
        if _:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ValueError(f"{field} field: step {step_text!r} must be a positive number")
            step = int(step_text)
        if rng == "*":
            first, last = low, high
        elif "-" in rng:
            a, _, b = rng.partition("-")
            first, last = _number(a, field, low, high, names), _number(b, field, low, high, names)
            if first > last:
                raise ValueError(f"{field} field: range {rng!r} runs backwards")
        else:
            first = _number(rng, field, low, high, names)
            # `5/15` means 5-max/15 (cronie); a bare value is just itself.
            last = high if _ else first
        values.update(range(first, last + 1, step))
    return frozenset(values)


def parse(expr: str) -> CronSpec:
    """Parse a cron expression; ValueError names the bad field and why."""
    text = " ".join(expr.split())
    if text.startswith("@"):
        if text.lower() not in _MACROS:
            raise ValueError(f"unknown cron macro {text!r} (known: {', '.join(_MACROS)})")
        body = _MACROS[text.lower()]
    else:
        body = text
    parts = body.split(" ")
    if len(parts) != 5:
        raise ValueError(f"cron expression {expr!r} has {len(parts) if body else 0} fields, expected 5 "
                         "(minute hour day-of-month month day-of-week)")
    sets = [_field(p, name, low, high, names) for p, (name, low, high, names) in zip(parts, _FIELDS, strict=True)]
    minutes, hours, days, months, weekdays = sets
    weekdays = frozenset(d % 7 for d in weekdays)
    spec = CronSpec(text, minutes, hours, days, months, weekdays,
                    dom_star=parts[2].startswith("*"), dow_star=parts[4].startswith("*"))
    # Catch dates that can never happen (`0 0 30 2 *`) now, not as a job that silently never runs.
    if not spec.dow_star and not spec.dom_star:
        return spec
    if spec.dow_star and not any(d <= _DAYS_IN_MONTH_MAX[m - 1] for m in months for d in days):
        raise ValueError(f"day-of-month field: {parts[2]!r} never occurs in month field {parts[3]!r}")
    return spec


def zone(name: str) -> tzinfo:
    """The time zone called `name` ("" = the system's local zone); ValueError if unknown."""
    if not name:
        return _local_zone()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def _local_zone() -> tzinfo:
    tz_env = os.environ.get("TZ", "").lstrip(":")
    if tz_env:
        try:
            return ZoneInfo(tz_env)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        with open("/etc/localtime", "rb") as f:
            return ZoneInfo.from_file(f, key="localtime")
    except OSError:
        return UTC


def _to_utc(wall: datetime, tz: tzinfo) -> datetime:
    """The instant a naive wall time stands for under the DST rule in the module docstring."""
    early = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    late = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if early == late:
        return early
    lo, hi = min(early, late), max(early, late)
    if lo.astimezone(tz).replace(tzinfo=None) == wall:
        return lo  # ambiguous: the first occurrence
    # Nonexistent: find the transition instant (first second with the post-transition offset).
    after_off = hi.astimezone(tz).utcoffset()
    a, b = int(lo.timestamp()), int(hi.timestamp())
    while b - a > 1:
        mid = (a + b) // 2
        if datetime.fromtimestamp(mid, UTC).astimezone(tz).utcoffset() == after_off:
            b = mid
        else:
            a = mid
    return datetime.fromtimestamp(b, UTC)


def _walls_from(spec: CronSpec, start: datetime) -> Iterator[datetime]:
    """Matching naive wall times >= start (minute precision), in increasing order."""
    day = start.date()
    limit = date(min(day.year + _SEARCH_YEARS, 9999), 12, 31)
    hours, minutes = sorted(spec.hours), sorted(spec.minutes)
    while day <= limit:
        if day.month not in spec.months:
            # Jump to the first day of the next month.
            day = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
            continue
        if spec.day_matches(day):
            for h in hours:
                for m in minutes:
                    wall = datetime(day.year, day.month, day.day, h, m)
                    if wall >= start:
                        yield wall
        day += timedelta(days=1)


def next_fire(spec: CronSpec, after: datetime, tz: tzinfo) -> datetime:
    """First firing instant strictly after `after` (aware), returned as an aware time in `tz`."""
    if after.tzinfo is None:
        raise ValueError("next_fire needs an aware datetime")
    after_utc = after.astimezone(UTC)
    start = after.astimezone(tz).replace(tzinfo=None, second=0, microsecond=0, fold=0)
    # Instants grow with wall time under the DST rule, so the first wall whose instant is later wins.
    for wall in _walls_from(spec, start):
        instant = _to_utc(wall, tz)
        if instant > after_utc:
            return instant.astimezone(tz)
    raise ValueError(f"cron expression {spec.expr!r} never fires after {after.isoformat()}")
