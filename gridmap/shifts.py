"""Planning time: the instant a plan is made at and the workers' shifts around it.

Shifts (``shift_start``/``shift_end`` of the workers layer, ``HH:MM`` in the calendar's time zone)
repeat every day; one whose end is not after its start runs past midnight. The working calendar
(:mod:`gridmap.calendar`) decides deadlines, not who is on shift.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

import numpy as np
import pandas as pd

from gridmap.calendar import working_calendar
from gridmap.errors import ValidationError
from gridmap.stats import data_as_of
from gridmap.stores.base import Store

__all__ = [
    "NEXT_WORKDAY",
    "next_workday_start",
    "remaining_shift_hours",
    "resolve_now",
    "shift_bounds",
]

NEXT_WORKDAY = "next-workday"


def resolve_now(store: Store, now: datetime | str | None = None) -> pd.Timestamp:
    """Return the planning instant in the calendar's time zone.

    Parameters
    ----------
    store : Store
        The store (its data's end is the default, see :func:`gridmap.stats.data_as_of`).
    now : datetime, str or None
        None: now, or the end of a historical data set. An ISO date-time (naive ones are in the
        calendar's time zone). ``"next-workday"``: the start of the first working period of the
        next working day after that default (a dispatcher's first run in the morning).

    Raises
    ------
    ValidationError
        If the text is neither an ISO date-time nor ``next-workday``.
    """
    tz = working_calendar().timezone
    if now is None or now == NEXT_WORKDAY:
        base = data_as_of(store).tz_convert(tz)
        return base if now is None else next_workday_start(base)
    try:
        stamp = pd.Timestamp(now)
    except ValueError:
        stamp = pd.NaT
    if stamp is pd.NaT or not 1 <= stamp.year <= 9999:  # "" and "NaT" parse as NaT; year -1
        raise ValidationError(
            f"now {now!r} is not a date-time such as 2025-12-01T09:00 or {NEXT_WORKDAY!r}"
        )
    return stamp.tz_localize(tz) if stamp.tz is None else stamp.tz_convert(tz)


def next_workday_start(after: pd.Timestamp) -> pd.Timestamp:
    """Return the start of the first working period on the first working day after ``after``."""
    cal = working_calendar()
    day = after.tz_convert(cal.timezone).date() + timedelta(days=1)
    while not cal.is_working_day(day):
        day += timedelta(days=1)
    return pd.Timestamp(datetime.combine(day, cal.periods[0][0], cal.timezone))


def _clock(text: object, what: str) -> time:
    try:
        return time.fromisoformat(str(text))
    except ValueError:
        raise ValidationError(f"{what} {text!r} is not a time of day such as 08:30") from None


def shift_bounds(
    start: object, end: object, now: pd.Timestamp, *, worker: str = ""
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Return the worker's current or next shift around ``now`` as two instants.

    Shifts repeat every day; one whose end is not after its start runs past midnight.

    Raises
    ------
    ValidationError
        If a shift time is not ``HH:MM``.
    """
    who = f"worker {worker}: " if worker else ""
    begin, finish = _clock(start, f"{who}shift_start"), _clock(end, f"{who}shift_end")
    tz = now.tz
    day = now.date()
    for offset in (-1, 0, 1):
        lo = pd.Timestamp(datetime.combine(day + timedelta(days=offset), begin), tz=tz)
        hi = pd.Timestamp(datetime.combine(lo.date(), finish), tz=tz)
        if hi <= lo:
            hi += pd.Timedelta(days=1)
        if now < hi:
            return lo, hi
    raise AssertionError("unreachable: tomorrow's shift ends after now")  # pragma: no cover


def remaining_shift_hours(workers: pd.DataFrame, now: pd.Timestamp) -> np.ndarray:
    """Return the hours left in each worker's shift at ``now`` (a full shift if it starts later today)."""
    hours = np.zeros(len(workers))
    for i, (wid, start, end) in enumerate(
        zip(workers["id"], workers["shift_start"], workers["shift_end"], strict=True)
    ):
        lo, hi = shift_bounds(start, end, now, worker=str(wid))
        if lo.date() <= now.date():  # the current shift, or one starting later today
            hours[i] = (hi - max(lo, now)).total_seconds() / 3600.0
    return hours
