"""Case KPIs as officials read them (DOMAIN.md §6): counts, 结案率, 按期结案率, 返工率, 延期率, times.

:func:`kpis` is pure: it takes the incidents layer and the transition history as frames and
returns one row per group (grid, worker or category, and/or report period). :func:`store_kpis`
reads them from a store first. Everything is vectorised over the cases, so a million incidents
take seconds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from gridmap.calendar import working_calendar
from gridmap.errors import ValidationError
from gridmap.stores.base import Store, utcnow

__all__ = ["GROUPS", "KPI_COLUMNS", "KPI_LABELS", "PERIODS", "kpis", "store_kpis"]

#: ``by`` -> the incidents column grouped on.
GROUPS = {"grid": "grid_code", "worker": "worker_id", "category": "category"}
#: ``period`` values: calendar day, week (Monday to Sunday) or month of the report.
PERIODS = ("day", "week", "month")

_COUNTS = (
    *("registered", "due", "closed", "closed_on_time"),
    *("checked", "reworked", "extended", "overdue_open"),
)
_TIMES = ("response", "closure")

#: The KPI columns of :func:`kpis`, after its group columns.
KPI_COLUMNS = (
    *("received", "registered", "due", "closed", "closed_on_time", "closure_rate"),
    *("on_time_rate", "reworked", "rework_rate", "extended", "extension_rate"),
    *("response_p50_h", "response_p90_h", "closure_p50_h", "closure_p90_h", "overdue_open"),
)

#: column -> (zh, en) display labels, for the KPI columns and the group columns.
KPI_LABELS: dict[str, tuple[str, str]] = {
    "period": ("时段", "Period"),
    "grid_code": ("网格", "Grid"),
    "worker_id": ("网格员", "Worker"),
    "category": ("类别", "Category"),
    "received": ("受理数", "Received"),
    "registered": ("立案数", "Registered"),
    "due": ("应结案数", "Due"),
    "closed": ("结案数", "Closed"),
    "closed_on_time": ("按期结案数", "Closed on time"),
    "closure_rate": ("结案率", "Closure rate"),
    "on_time_rate": ("按期结案率", "On-time rate"),
    "reworked": ("返工数", "Reworked"),
    "rework_rate": ("返工率", "Rework rate"),
    "extended": ("延期数", "Extended"),
    "extension_rate": ("延期率", "Extension rate"),
    "response_p50_h": ("响应时长中位数(时)", "Response p50 (h)"),
    "response_p90_h": ("响应时长P90(时)", "Response p90 (h)"),
    "closure_p50_h": ("结案时长中位数(时)", "Closure p50 (h)"),
    "closure_p90_h": ("结案时长P90(时)", "Closure p90 (h)"),
    "overdue_open": ("超期未结数", "Overdue open"),
}


def kpis(
    incidents: pd.DataFrame,
    history: pd.DataFrame,
    *,
    by: str | None = None,
    period: str | None = None,
    start: Any = None,
    end: Any = None,
    now: datetime | None = None,
) -> pd.DataFrame:
    """Return the case KPIs, one row per group.

    Definitions (a case is one incident; times are instants, durations wall-clock hours):

    - ``received`` (受理数): cases reported.
    - ``registered`` (立案数): cases ever filed, i.e. whose status is neither ``received`` nor
      ``rejected`` (a case leaves ``received`` only by 立案 or 注销, and never returns to it).
    - ``due`` (应结案数): registered cases that are closed, or whose deadline is before ``now``.
    - ``closed`` (结案数): cases whose status is ``closed``.
    - ``closed_on_time`` (按期结案数): closed cases whose close time is at or before their
      deadline. The close time is that of the last history entry going to ``closed``; the
      deadline is the current one, so an extension (延期) granted in time moves it.
    - ``closure_rate`` (结案率) = closed / due; ``on_time_rate`` (按期结案率) =
      closed_on_time / due.
    - ``reworked`` / ``rework_rate`` (返工率): cases now ``resolved`` or ``closed`` that had a
      ``rework`` action, as a share of the cases now ``resolved`` or ``closed``.
    - ``extended`` / ``extension_rate`` (延期率): registered cases that had an ``extend`` action,
      as a share of the registered cases.
    - ``response_p50_h`` / ``response_p90_h``: percentiles of the hours from the report to the
      first ``dispatch`` entry, over the dispatched cases.
    - ``closure_p50_h`` / ``closure_p90_h``: percentiles of the hours from the report to the
      close time, over the closed cases.
    - ``overdue_open`` (超期未结数): cases neither closed nor rejected whose deadline is before
      ``now``.

    A rate or percentile is NaN when its denominator is 0 (no case to measure). Statuses are
    the current ones: ``now`` only decides which deadlines have passed, it does not replay the
    history to an earlier state.

    Parameters
    ----------
    incidents : pandas.DataFrame
        The incidents layer as ``store.read("incidents")`` returns it (at least ``id``,
        ``status``, ``reported_at``, ``deadline`` and the grouped column).
    history : pandas.DataFrame
        The transitions as ``store.history()`` returns them (at least ``incident_id``, ``at``,
        ``to_status`` and ``action``); entries of incidents not in ``incidents`` are ignored.
    by : {None, "grid", "worker", "category"}
        Group on ``grid_code``, ``worker_id`` or ``category`` (missing values form a group).
    period : {None, "day", "week", "month"}
        Group on the day, week (from Monday) or month of the report, in the working calendar's
        time zone; the ``period`` column holds ``2025-03-04`` (day, week start) or ``2025-03``.
    start, end : datetime, date or str, optional
        Keep the cases reported in ``[start, end)``; naive values are in the calendar's zone.
    now : datetime, optional
        The instant deadlines are judged at (default: now); naive values are in the calendar's
        zone.

    Returns
    -------
    pandas.DataFrame
        The ``period`` and group columns (when asked, sorted), then :data:`KPI_COLUMNS`. Without
        grouping, exactly one row. ``attrs["as_of"]`` holds ``now`` in ISO 8601.

    Raises
    ------
    ValidationError
        If ``by`` or ``period`` is unknown or a time is not a date-time.
    """
    if by is not None and by not in GROUPS:
        raise ValidationError(f"cannot group KPIs by {by!r}; use one of {', '.join(GROUPS)}")
    if period is not None and period not in PERIODS:
        raise ValidationError(f"unknown KPI period {period!r}; use one of {', '.join(PERIODS)}")
    at = _instant(now, "now") or pd.Timestamp(utcnow())
    incidents = _between(incidents, _instant(start, "start"), _instant(end, "end"))
    cases = _cases(incidents, history, at)
    keys = {}
    if period is not None:
        keys["period"] = _period_start(incidents["reported_at"], period)
    if by is not None:
        keys[GROUPS[by]] = incidents[GROUPS[by]].to_numpy()
    out = _aggregate(cases, keys)
    if period is not None:
        out["period"] = out["period"].dt.strftime("%Y-%m" if period == "month" else "%Y-%m-%d")
    out.attrs["as_of"] = at.tz_convert(working_calendar().timezone).isoformat()
    return out


def store_kpis(
    store: Store,
    *,
    by: str | None = None,
    period: str | None = None,
    start: Any = None,
    end: Any = None,
    now: datetime | None = None,
) -> pd.DataFrame:
    """Return :func:`kpis` of the cases of a store reported in ``[start, end)``.

    Parameters
    ----------
    store : Store
        The store; its incidents are filtered on ``reported_at`` by the store itself.
    by, period, start, end
        As for :func:`kpis`.
    now : datetime, optional
        Default: now, or the latest report or transition when sooner (a historical data set is
        judged as of its own end, like :func:`gridmap.stats.data_as_of`).

    Returns
    -------
    pandas.DataFrame
        As :func:`kpis`.
    """
    lo, hi = _instant(start, "start"), _instant(end, "end")
    where = None if lo is None and hi is None else {"reported_at": slice(lo, hi)}
    incidents = store.read("incidents", where=where)
    history = store.history()
    if now is None:
        now = _data_end(incidents, history)
    return kpis(incidents, history, by=by, period=period, now=now)


def _instant(value: Any, what: str) -> pd.Timestamp | None:
    """Return a timezone-aware instant (naive values in the calendar's zone), None for None."""
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{what} {value!r} is not a date or date-time") from None
    if stamp is pd.NaT:
        raise ValidationError(f"{what} {value!r} is not a date or date-time")
    tz = working_calendar().timezone
    return stamp.tz_localize(tz) if stamp.tz is None else stamp


def _between(
    incidents: pd.DataFrame, lo: pd.Timestamp | None, hi: pd.Timestamp | None
) -> pd.DataFrame:
    """Return the incidents reported in ``[lo, hi)``, with a fresh positional index."""
    keep = np.ones(len(incidents), dtype=bool)
    reported = _utc(incidents["reported_at"])
    if lo is not None:
        keep &= reported >= _utc([lo])[0]
    if hi is not None:
        keep &= reported < _utc([hi])[0]
    return incidents[keep].reset_index(drop=True)


def _utc(times: pd.Series | list[pd.Timestamp]) -> np.ndarray:
    """Return timezone-aware times as naive UTC ``datetime64[us]`` (NaT for missing)."""
    utc = pd.to_datetime(pd.Series(times), utc=True).dt.tz_localize(None)
    return utc.to_numpy().astype("datetime64[us]")


def _data_end(incidents: pd.DataFrame, history: pd.DataFrame) -> pd.Timestamp:
    """Return ``min(now, latest report or transition)``; now when there is no incident.

    :func:`gridmap.stats.data_as_of` from frames already read (it would read the history again).
    """
    now = pd.Timestamp(utcnow())
    if incidents.empty:
        return now
    latest = incidents["reported_at"].max()
    if len(history):
        latest = max(latest, history["at"].max())
    return min(now, latest)


def _cases(incidents: pd.DataFrame, history: pd.DataFrame, now: pd.Timestamp) -> pd.DataFrame:
    """Return per case (positional): the KPI flags and the response and closure hours."""
    status = incidents["status"]
    reported = _utc(incidents["reported_at"])
    deadline = _utc(incidents["deadline"])
    past_due = deadline < _utc([now])[0]
    dispatched, closed_at, reworked, extended = _events(incidents["id"], history)
    registered = ~status.isin(["received", "rejected"]).to_numpy()
    closed = status.eq("closed").to_numpy()
    checked = status.isin(["resolved", "closed"]).to_numpy()
    hour = np.timedelta64(3600, "s")
    return pd.DataFrame(
        {
            "registered": registered,
            "due": registered & (closed | past_due),
            "closed": closed,
            "closed_on_time": closed & (closed_at <= deadline),
            "checked": checked,
            "reworked": checked & reworked,
            "extended": registered & extended,
            "overdue_open": ~status.isin(["closed", "rejected"]).to_numpy() & past_due,
            "response": (dispatched - reported) / hour,
            "closure": np.where(closed, (closed_at - reported) / hour, np.nan),
        }
    )


def _events(
    ids: pd.Series, history: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return per case (as ``ids``): first dispatch, last close, had a rework, had an extension.

    Times are naive UTC ``datetime64[us]``, NaT when the case has no such entry.
    """
    n = len(ids)
    pos = pd.Index(ids).get_indexer(history["incident_id"])
    known = pos >= 0
    action = history["action"]
    at = _utc(history["at"])

    def flag(mask: np.ndarray) -> np.ndarray:
        out = np.zeros(n, dtype=bool)
        out[pos[mask & known]] = True
        return out

    def time(mask: np.ndarray, how: str) -> np.ndarray:
        sel = mask & known
        per_case = pd.Series(at[sel]).groupby(pos[sel]).agg(how)
        out = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
        out[per_case.index.to_numpy()] = per_case.to_numpy()
        return out

    return (
        time(action.eq("dispatch").to_numpy(), "min"),
        time(history["to_status"].eq("closed").to_numpy(), "max"),
        flag(action.eq("rework").to_numpy()),
        flag(action.eq("extend").to_numpy()),
    )


def _period_start(reported_at: pd.Series, period: str) -> np.ndarray:
    """Return the local start (naive midnight) of each report's day, week or month."""
    local = pd.DatetimeIndex(pd.to_datetime(reported_at, utc=True))
    local = local.tz_convert(working_calendar().timezone)
    day = local.tz_localize(None).normalize()
    if period == "day":
        return day.to_numpy()
    back = day.day_of_week if period == "week" else day.day - 1
    return (day - pd.to_timedelta(np.asarray(back), unit="D")).to_numpy()


def _aggregate(cases: pd.DataFrame, keys: dict[str, np.ndarray]) -> pd.DataFrame:
    """Return the counts, rates and percentiles of the cases per group of ``keys``."""
    names = list(keys) or ["_all"]
    frame = cases.assign(**keys) if keys else cases.assign(_all=0)
    groups = frame.groupby(names, dropna=False, sort=True)
    out = groups[list(_COUNTS)].sum()
    out.insert(0, "received", groups.size())
    for name in _TIMES:
        for q in (50, 90):
            out[f"{name}_p{q}_h"] = groups[name].quantile(q / 100)
    if not keys:  # one row even without cases
        out = out.reindex([0])
        counts = ["received", *_COUNTS]
        out[counts] = out[counts].fillna(0).astype("int64")
    out["closure_rate"] = _rate(out["closed"], out["due"])
    out["on_time_rate"] = _rate(out["closed_on_time"], out["due"])
    out["rework_rate"] = _rate(out["reworked"], out["checked"])
    out["extension_rate"] = _rate(out["extended"], out["registered"])
    out = out.reset_index()
    return out[[*keys, *KPI_COLUMNS]]


def _rate(part: pd.Series, whole: pd.Series) -> pd.Series:
    """Return ``part / whole``, NaN where ``whole`` is 0."""
    return part / whole.where(whole > 0)
