"""Change windows and the session's clock, read from the task and from tool results.

A change window is when a change record allows a change to run (`window: Sat 2025-06-21
02:00-04:00 UTC`, "approved for the Sunday 02:00-04:00 UTC window"); the clock is what the
session was told the time is (`now: 2025-06-18T10:12Z`, the output of `date -u`, "today is
Wednesday"). Both are parsed into small values that the session keeps as strings, and a
change is outside its window only when the two say so: no clock, no verdict. Pure: the
current time comes only from the session's own data, never from this machine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from gate.core.memo import text_cache

__all__ = ["Moment", "Window", "parse_moment", "parse_window", "date_output", "task_clock", "task_today", "outside", "day_of",
           "NOW_PREFIX", "WINDOW_PREFIX", "NOW_KEY", "WINDOW_KEY"]

NOW_PREFIX = "now:"
WINDOW_PREFIX = "window:"
# Result fields that say what time it is, and fields that give a change record's window.
NOW_KEY = re.compile(r"(?i)^(?:now|current_?(?:time|date|datetime)|server_?time|system_?time|utc_?now|time_?now|today)$")
WINDOW_KEY = re.compile(r"(?i)^(?:(?:change|maintenance|approved|scheduled|deploy(?:ment)?|implementation)_?)?window$")

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DOW = re.compile(r"(?i)\b(mon|tue|wed|thu|fri|sat|sun)(?:day|sday|nesday|rsday|urday)?(?:s|'s)?\b")
_ISO_DATE = re.compile(r"(?<![\w-])(20\d\d)-(\d\d)-(\d\d)(?![\d-])")
_RANGE = re.compile(r"(?<![\d:])([01]?\d|2[0-3]):([0-5]\d)\s*(?:-|–|—|to|until)\s*([01]?\d|2[0-3]):([0-5]\d)(?![\d:])")
_TIME = re.compile(r"(?<![\d:])([01]?\d|2[0-3]):([0-5]\d)(?::\d\d)?(?![\d])")
_TODAY = re.compile(r"(?i)\btoday\b|\btonight\b")
# `Wed Jun 12 11:05:32 UTC 2024`: what `date` prints.
_DATE_OUTPUT = re.compile(r"^\s*(mon|tue|wed|thu|fri|sat|sun)\s+(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)\s+(\d{1,2})\s+"
                          r"(\d\d):(\d\d):\d\d\s+(?:[A-Z]{2,5}\s+)?(20\d\d)\s*$", re.I)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
# Sentences of a task that state the clock: "today is Wednesday", "(now 14:05)".
_TASK_NOW = re.compile(r"(?i)\b(?:today\s+is|it\s+is\s+now|it'?s\s+now|now\s+is|the\s+time\s+is|current\s+time(?:\s+is|:)|now)\s*:?\s*"
                       r"((?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*,?\s*)?(?:20\d\d-\d\d-\d\d)?(?:[T\s]*[0-2]?\d:[0-5]\d)?)")
# Clauses of a task that state a window: "…scheduled for Saturday 02:00 UTC", "…window (02:00-04:00)".
_WINDOW_WORD = re.compile(r"(?i)\bwindow\b|\bscheduled\s+(?:for|on|at)\b|\bapproved\s+for\b")
_CLAUSE = re.compile(r";|\.(?:\s|$)|\n")


@dataclass(frozen=True)
class Moment:
    """A point in time as far as it is known: a date, a day of the week (0 = Monday), a minute of the day."""

    day: str | None = None
    dow: int | None = None
    minute: int | None = None

    def encode(self) -> str:
        return f"{NOW_PREFIX}{self.day or ''}|{'' if self.dow is None else self.dow}|{'' if self.minute is None else self.minute}"

    @classmethod
    def decode(cls, s: str) -> Moment:
        d, w, m = s[len(NOW_PREFIX):].split("|")
        return cls(d or None, int(w) if w else None, int(m) if m else None)

    def key(self) -> tuple[str, int, int]:
        return (self.day or "", -1 if self.dow is None else self.dow, -1 if self.minute is None else self.minute)


@dataclass(frozen=True)
class Window:
    """When a change may run: a date or a day of the week (or `today`), from `start` to `end`
    (minutes of the day; `end` may be None, and an `end` before `start` runs past midnight)."""

    day: str | None = None
    dow: int | None = None
    start: int | None = None
    end: int | None = None
    today: bool = False

    def encode(self) -> str:
        parts = (self.day or "", "" if self.dow is None else str(self.dow), "" if self.start is None else str(self.start),
                 "" if self.end is None else str(self.end), "t" if self.today else "")
        return WINDOW_PREFIX + "|".join(parts)

    @classmethod
    def decode(cls, s: str) -> Window:
        d, w, a, b, t = s[len(WINDOW_PREFIX):].split("|")
        return cls(d or None, int(w) if w else None, int(a) if a else None, int(b) if b else None, t == "t")


def _iso_day(text: str) -> tuple[str, int] | None:
    m = _ISO_DATE.search(text)
    if not m:
        return None
    try:
        d = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None
    return d.isoformat(), d.weekday()


def _dow(text: str) -> int | None:
    m = _DOW.search(text)
    return _DAYS.index(m.group(1).lower()) if m else None


def parse_moment(text: str) -> Moment | None:
    """`2025-06-18T10:12Z`, `2024-06-13T14:12:09Z (Thursday)`, `Wednesday`, `14:05`, or None."""
    if len(text) > 80:
        return None
    iso = _iso_day(text)
    rest = _ISO_DATE.sub(" ", text)
    t = _TIME.search(rest)
    minute = int(t.group(1)) * 60 + int(t.group(2)) if t else None
    if iso:
        return Moment(iso[0], iso[1], minute)
    dow = _dow(rest)
    if dow is None and minute is None:
        return None
    return Moment(None, dow, minute)


def date_output(text: str) -> Moment | None:
    """The moment `date` printed (`Wed Jun 12 11:05:32 UTC 2024`), or None."""
    m = _DATE_OUTPUT.match(text)
    if not m:
        return None
    try:
        d = date(int(m.group(6)), _MONTHS.index(m.group(2).lower()) + 1, int(m.group(3)))
    except ValueError:
        return None
    return Moment(d.isoformat(), d.weekday(), int(m.group(4)) * 60 + int(m.group(5)))


def parse_window(text: str) -> Window | None:
    """`Sat 2025-06-21 02:00-04:00 UTC`, `Sunday 02:00-04:00`, `Saturday 02:00`, `14:00-15:00 today`, or None."""
    iso = _iso_day(text)
    rest = _ISO_DATE.sub(" ", text)
    r = _RANGE.search(rest)
    if r:
        start, end = int(r.group(1)) * 60 + int(r.group(2)), int(r.group(3)) * 60 + int(r.group(4))
    else:
        t = _TIME.search(rest)
        start, end = (int(t.group(1)) * 60 + int(t.group(2)) if t else None), None
    today = bool(_TODAY.search(rest))
    if iso:
        return Window(iso[0], iso[1], start, end, today)
    dow = _dow(rest)
    if dow is None and start is None:
        return None
    return Window(None, dow, start, end, today)


@text_cache(1024)
def task_clock(task: str) -> tuple[tuple[Window, ...], Moment | None]:
    """The windows a task states and the clock it gives ("today is Wednesday"), if any."""
    if not _WINDOW_WORD.search(task):
        return (), None
    now: Moment | None = None
    spans: list[tuple[int, int]] = []
    for m in _TASK_NOW.finditer(task):
        got = parse_moment(m.group(1)) if m.group(1).strip() else None
        if got is not None:
            now = got if now is None else max(now, got, key=Moment.key)
            spans.append((m.start(), m.end()))
    for a, b in reversed(spans):
        task = task[:a] + " " * (b - a) + task[b:]   # the clock is no part of a window
    windows = []
    for clause in _CLAUSE.split(task):
        if _WINDOW_WORD.search(clause):
            w = parse_window(clause)
            if w is not None:
                windows.append(w)
    return tuple(windows), now


def _in_range(minute: int, start: int, end: int) -> bool:
    """Within [start, end) of the window's own day (a window past midnight runs to the day's end)."""
    return start <= minute < end if start <= end else minute >= start


def outside(w: Window, now: Moment) -> bool | None:
    """True when `now` is outside `w`, False when inside, None when the two cannot be compared
    (a window by date and a clock by weekday only still compare by weekday)."""
    same_day: bool | None = None
    next_day = False          # `now` is the day after the window's (a window past midnight)
    if w.today:
        same_day = True
    elif w.day is not None and now.day is not None:
        same_day = w.day == now.day
        if not same_day:
            next_day = date.fromisoformat(w.day).toordinal() + 1 == date.fromisoformat(now.day).toordinal()
    elif w.dow is not None and now.dow is not None:
        same_day = w.dow == now.dow
        next_day = (w.dow + 1) % 7 == now.dow
    if same_day is False:
        if next_day and w.start is not None and w.end is not None and w.end < w.start and now.minute is not None:
            return now.minute >= w.end
        return True
    if w.start is None or now.minute is None:
        return None
    if w.end is None:
        # a start without an end: only before the start is known to be outside
        return True if same_day and now.minute < w.start else None
    if same_day is None and w.day is None and w.dow is None:
        same_day = True       # a window by time of day only is today's
    if same_day is None:
        return None
    return not _in_range(now.minute, w.start, w.end)


def task_today(task: str) -> str | None:
    """The ISO date a task says it is ("Today is 2024-11-25"), whatever else it states, or None."""
    if "20" not in task:
        return None
    for m in _TASK_NOW.finditer(task):
        got = parse_moment(m.group(1)) if m.group(1).strip() else None
        if got is not None and got.day:
            return got.day
    # round 17: a date written out ("Today is 21 November 2024", "today is Nov 21, 2024", "today (21.11.2024)")
    m = _TASK_TODAY_WRITTEN17.search(task)
    if m is not None:
        return _written_day17(m.group(1))
    return None


_MONTHS17 = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_TASK_TODAY_WRITTEN17 = re.compile(r"(?i)\btoday(?:\s+is|\s*\(|\s*:|,)\s*(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*,?\s+)?"
                                   r"(\d{1,2}\s+[a-z]{3,9}\.?,?\s+20\d\d|[a-z]{3,9}\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+20\d\d|"
                                   r"\d{1,2}[./]\d{1,2}[./]20\d\d)")


def _written_day17(text: str) -> str | None:
    """`21 November 2024`, `Nov 21, 2024`, `21.11.2024` (day first), `11/21/2024` (when the
    first number cannot be a day-of-month-first reading) as an ISO date, else None."""
    parts = re.findall(r"[A-Za-z]+|\d+", text)
    try:
        if parts[0].isdigit() and parts[1].isdigit():
            a, b, y = int(parts[0]), int(parts[1]), int(parts[2])
            sep = text[len(parts[0])]
            day, month = (a, b) if sep == "." or a > 12 else (b, a) if b > 12 else (0, 0)
        else:
            word = parts[1] if parts[0].isdigit() else parts[0]
            month = _MONTHS17.index(word[:3].lower()) + 1
            day = int(parts[0] if parts[0].isdigit() else parts[1])
            y = int(parts[-1])
        return date(y, month, day).isoformat()
    except (ValueError, IndexError):
        return None


# A date as a record carries it: ISO (`2026-11-30`, with a time after it or not), year first with
# slashes or dots (`2026/11/30`), written out (`30 Nov 2026`, `Nov 30, 2026`, `30 November 2026`),
# or day and month in numbers (`30.11.2026`; `11/30/2026` only when the first number cannot be a day).
_DAY_TEXT = re.compile(r"(?i)(?<![\w-])(?:(20\d\d)([-/.])(\d\d?)\2(\d\d?)(?!\d)"
                       r"|(\d{1,2}(?:st|nd|rd|th)?\s+[a-z]{3,9}\.?,?\s+20\d\d|[a-z]{3,9}\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+20\d\d"
                       r"|\d{1,2}[./]\d{1,2}[./]20\d\d)(?!\d))")


def day_of(value: object) -> str | None:
    """The ISO day (`2026-11-30`) a result's value gives, or None: a `datetime.date` or
    `datetime.datetime` (what YAML makes of an unquoted date, or a Python caller passes), or the
    first date in a text of at most 200 characters, in any of the forms above.

    >>> day_of("Nov 30, 2026"), day_of("2026/11/30"), day_of("approved"), day_of(date(2026, 11, 30))
    ('2026-11-30', '2026-11-30', None, '2026-11-30')
    """
    if isinstance(value, date):
        return value.isoformat()[:10]
    if not isinstance(value, str) or len(value) > 200:
        return None
    m = _DAY_TEXT.search(value)
    if m is None:
        return None
    if m.group(1):
        try:
            return date(int(m.group(1)), int(m.group(3)), int(m.group(4))).isoformat()
        except ValueError:
            return None
    return _written_day17(re.sub(r"(?i)(?<=\d)(?:st|nd|rd|th)\b", "", m.group(5)))
