"""Working calendar: case deadlines count working hours, not wall-clock time.

A limit of ``h`` working hours starting at ``t`` ends at the instant when ``h`` hours of working
periods (e.g. 09:00-12:00 and 13:00-18:00 on working days) have elapsed after ``t``. Weekends and
public holidays are skipped; adjusted working days (调休) on weekends count.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from gridmap.catalog import data_dir
from gridmap.errors import GridMapError

_MAX_DAYS = 3660  # a limit of working hours must run out within ten years


@dataclass(frozen=True)
class WorkingCalendar:
    """Working periods per day, weekend days, holidays and adjusted working days."""

    timezone: ZoneInfo
    periods: tuple[tuple[time, time], ...]
    weekend: frozenset[int]
    holidays: frozenset[date]
    workdays: frozenset[date]

    def is_working_day(self, day: date) -> bool:
        """Return whether ``day`` is a working day."""
        if day in self.workdays:
            return True
        return day.weekday() not in self.weekend and day not in self.holidays

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """Return the instant ``hours`` working hours after ``start`` (timezone-aware).

        The one-deadline twin of :meth:`add_working_hours_many` (same result), walking the
        working periods from ``start`` instead of building a timeline: what a single report needs.
        """
        if start.tzinfo is None:
            raise GridMapError("the start of a deadline must be timezone-aware")
        if isinstance(start, pd.Timestamp):  # plain datetimes add up many times faster
            start = start.to_pydatetime(warn=False)
        t = start.astimezone(self.timezone)
        remaining = float(hours) * 3600.0
        if remaining <= 0:
            return t
        day = t.date()
        for _ in range(_MAX_DAYS):
            if self.is_working_day(day):
                for begin, end in self.periods:
                    hi = datetime.combine(day, end, self.timezone)
                    if hi <= t:
                        continue
                    lo = max(datetime.combine(day, begin, self.timezone), t)
                    span = (hi - lo).total_seconds()
                    if remaining <= span:
                        return lo + timedelta(seconds=remaining)
                    remaining -= span
            day += timedelta(days=1)
        raise GridMapError("a limit of working hours does not fit in the calendar")

    def add_working_hours_many(
        self, starts: pd.DatetimeIndex, hours: np.ndarray
    ) -> pd.DatetimeIndex:
        """Return, for each start, the instant when its limit of working hours runs out.

        Vectorised over a timeline of working periods: the working seconds elapsed before each
        start are looked up, the limit is added, and the result is mapped back to an instant.

        Parameters
        ----------
        starts : DatetimeIndex
            Timezone-aware start instants.
        hours : ndarray
            Working hours to add to each start (>= 0).

        Returns
        -------
        DatetimeIndex
            Deadlines in the calendar's time zone.
        """
        starts = pd.DatetimeIndex(starts)
        if starts.tz is None:
            raise GridMapError("the start of a deadline must be timezone-aware")
        if len(starts) == 0:
            return pd.DatetimeIndex([], tz=self.timezone)
        t = starts.as_unit("us").asi8 // 1_000_000 + (starts.as_unit("us").asi8 % 1_000_000) / 1e6
        limit = np.asarray(hours, dtype=float) * 3600.0
        first = starts.min().tz_convert(self.timezone).date() - timedelta(days=1)
        days = int((starts.max() - starts.min()).days) + 14 + int(limit.max() / 3600.0 / 2)
        for _ in range(12):
            lo, hi = self._timeline(first, days)
            done = np.concatenate(([0.0], np.cumsum(hi - lo)))
            k = np.searchsorted(hi, t, side="right")  # periods that ended at or before t
            before = done[k] + np.clip(t - lo[np.minimum(k, len(lo) - 1)], 0, None) * (k < len(lo))
            target = before + limit
            if target.max() <= done[-1]:
                j = np.searchsorted(done, target, side="left") - 1  # period where target falls
                j = np.clip(j, 0, len(lo) - 1)
                end = np.where(limit > 0, np.maximum(lo[j] + (target - done[j]), t), t)
                micros = np.round(end * 1e6).astype("int64")
                return pd.DatetimeIndex(pd.to_datetime(micros, unit="us", utc=True)).tz_convert(
                    self.timezone
                )
            days *= 2
        raise GridMapError("a limit of working hours does not fit in the calendar")

    def _timeline(self, first: date, days: int) -> tuple[np.ndarray, np.ndarray]:
        """Return the starts and ends (epoch seconds) of the working periods from ``first``."""
        lo, hi = [], []
        for n in range(days):
            day = first + timedelta(days=n)
            if self.is_working_day(day):
                for begin, end in self.periods:
                    lo.append(datetime.combine(day, begin, self.timezone).timestamp())
                    hi.append(datetime.combine(day, end, self.timezone).timestamp())
        return np.array(lo), np.array(hi)

    def working_hours_between(self, start: datetime, end: datetime) -> float:
        """Return the working hours between two instants (negative if ``end`` < ``start``)."""
        if end < start:
            return -self.working_hours_between(end, start)
        total = timedelta()
        a, b = start.astimezone(self.timezone), end.astimezone(self.timezone)
        day = a.date()
        while day <= b.date():
            if self.is_working_day(day):
                for begin, stop in self.periods:
                    lo = max(datetime.combine(day, begin, self.timezone), a)
                    hi = min(datetime.combine(day, stop, self.timezone), b)
                    if hi > lo:
                        total += hi - lo
            day += timedelta(days=1)
        return total.total_seconds() / 3600.0


def _time(text: str) -> time:
    return time.fromisoformat(text)


@cache
def working_calendar() -> WorkingCalendar:
    """Return the working calendar from ``data/calendar.toml``."""
    path = data_dir() / "calendar.toml"
    with path.open("rb") as f:
        raw = tomllib.load(f)
    return WorkingCalendar(
        timezone=ZoneInfo(raw["timezone"]),
        periods=tuple((_time(a), _time(b)) for a, b in raw["periods"]),
        weekend=frozenset(raw.get("weekend", [5, 6])),
        holidays=frozenset(date.fromisoformat(d) for d in raw.get("holidays", [])),
        workdays=frozenset(date.fromisoformat(d) for d in raw.get("workdays", [])),
    )
