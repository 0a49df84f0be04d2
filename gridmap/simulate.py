"""Simulated incidents: where and when they are reported, what they are, how each case goes.

*Where*: a share of the reports cluster around the city's hotspots (normal spread around each
hotspot centre); the rest fall in a grid drawn in proportion to its background weight (population,
POIs and area), uniformly inside it. *When*: a day drawn by weekday weight (holidays count as
Sundays), an hour from the citizens' daily profile (hotline, app) or inside the patrol shift
(patrol). *What*: category, source and priority from the configured mix. *How it goes*: every case
follows the workflow of :mod:`gridmap.workflow` (received → registered → dispatched → handling →
resolved → closed; some rejected, returned and re-dispatched, or reworked). Step durations are
drawn in **working hours** and placed on the working calendar, like the deadlines: the time to
close is the category's limit times a log-normal factor whose median makes the configured share of
cases close on time, with a few stalled cases; intake steps (register, dispatch, accept) and the
final check take log-normal working hours. Steps after the end of the period have not happened:
those cases are still open (and some overdue). *Who*: the worker of the grid's patch holding the
category's skill (a returned case first went to a colleague).

The settings are those of ``data/demo.toml`` (:func:`gridmap.demo.load_settings`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from statistics import NormalDist
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from gridmap.calendar import working_calendar
from gridmap.catalog import categories
from gridmap.city import City, grid_of, points_in
from gridmap.gridcodes import numbered_codes
from gridmap.model import CRS
from gridmap.workforce import Workers

__all__ = ["Simulated", "lognormal", "simulate_incidents", "simulated_period"]

_STEPS = (  # (action, from, to): one column of the simulated path, in time order
    ("register", "received", "registered"),
    ("reject", "received", "rejected"),
    ("dispatch", "registered", "dispatched"),  # the first, wrong dispatch of a returned case
    ("return", "dispatched", "registered"),
    ("dispatch", "registered", "dispatched"),
    ("accept", "dispatched", "handling"),
    ("resolve", "handling", "resolved"),  # the first resolution of a reworked case
    ("rework", "resolved", "handling"),
    ("resolve", "handling", "resolved"),
    ("close", "resolved", "closed"),
)
REGISTER, REJECT, DISPATCH1, RETURN, DISPATCH, ACCEPT, RESOLVE1, REWORK, RESOLVE, CLOSE = range(10)
_CENTER = "supervision_center"  # 监督中心: verifies, files, checks and closes
_COMMAND = "command_center"  # 指挥中心: dispatches
_NOTES = {
    REJECT: "not a case (duplicate or outside the catalog)",
    RETURN: "not in this worker's grids or skills",
    REWORK: "check failed (核查未通过)",
}


@dataclass(frozen=True)
class Simulated:
    """Simulated incidents, their workflow history and the KPIs at the end of the period."""

    incidents: gpd.GeoDataFrame
    history: pd.DataFrame
    closed_on_time: float
    overdue_open: int


def simulated_period(start: str | date, months: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Return the simulated period: midnight of ``start`` to ``months`` months later (local)."""
    tz = working_calendar().timezone
    first = pd.Timestamp(start).tz_localize(None).normalize()
    return first.tz_localize(tz), (first + pd.DateOffset(months=int(months))).tz_localize(tz)


def _hours(text: str) -> float:
    hh, mm = text.split(":")
    return int(hh) + int(mm) / 60.0


def lognormal(rng: np.random.Generator, median: float, sigma: float, n: int) -> np.ndarray:
    """Draw ``n`` log-normal values of the given median and log-scale ``sigma``."""
    return median * np.exp(sigma * rng.standard_normal(n))


def simulate_incidents(
    rng: np.random.Generator,
    city: City,
    workers: Workers,
    s: Mapping[str, Any],
    n: int,
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    full_history: bool,
) -> Simulated:
    """Simulate ``n`` incidents over ``[start, end)`` on ``city``; vectorised throughout."""
    cal = working_calendar()
    catalog = categories()
    space, times, flow = s["space"], s["time"], s["workflow"]

    # where: hotspots, then background grids
    x, y = np.empty(n), np.empty(n)
    grid = np.full(n, -1, dtype=np.intp)
    hot = rng.random(n) < (space["hotspot_share"] if len(city.hotspots) else 0.0)
    todo = np.flatnonzero(hot)
    if len(todo):
        centre = rng.choice(
            len(city.hotspots), size=len(todo), p=city.hotspot_weights / city.hotspot_weights.sum()
        )
        for _ in range(10):
            if len(todo) == 0:
                break
            c = city.hotspots[centre]
            px = c[:, 0] + rng.normal(0.0, city.hotspot_sigma, len(todo))
            py = c[:, 1] + rng.normal(0.0, city.hotspot_sigma, len(todo))
            g = grid_of(city.polygons, px, py)
            ok = g >= 0
            x[todo[ok]], y[todo[ok]], grid[todo[ok]] = px[ok], py[ok], g[ok]
            todo, centre = todo[~ok], centre[~ok]
    rest = np.flatnonzero(grid < 0)
    grid[rest] = rng.choice(len(city.polygons), size=len(rest), p=city.weights / city.weights.sum())
    x[rest], y[rest] = points_in(rng, city.polygons, grid[rest])

    # what: category, source, priority
    codes = np.array(list(s["categories"]), dtype=object)
    mix = np.array([float(s["categories"][c]) for c in codes])
    cat = rng.choice(len(codes), size=n, p=mix / mix.sum())
    is_hotline = np.array([catalog[c].kind == "hotline" for c in codes])[cat]
    names = np.array(list(s["sources"]), dtype=object)
    share = np.array([float(s["sources"][k]) for k in names])
    citizen = np.array([k in ("hotline", "app") for k in names]) & (share > 0)
    u = rng.random(n)
    src = np.searchsorted(np.cumsum(share) / share.sum(), u, side="right")
    if citizen.any():
        cshare = np.where(citizen, share, 0.0)
        csrc = np.searchsorted(np.cumsum(cshare) / cshare.sum(), u, side="right")
        src = np.where(is_hotline, csrc, src)
    src = np.minimum(src, len(names) - 1)
    pr = s["priorities"]
    levels = np.array(sorted(pr["shares"], key=int), dtype=np.int64)
    pshare = np.array([float(pr["shares"][k]) for k in sorted(pr["shares"], key=int)])
    priority = levels[rng.choice(len(levels), size=n, p=pshare / pshare.sum())]
    urgent = np.isin(codes, list(pr["urgent_categories"]))[cat]
    priority[urgent] = 1

    # when: day by weekday weight, hour by profile (citizens) or patrol shift
    first = start.tz_localize(None)
    days = pd.date_range(first, end.tz_localize(None), freq="D", inclusive="left")
    weekday = np.array(times["weekday"], dtype=float)
    working = np.array([cal.is_working_day(d.date()) for d in days])
    dweight = np.where(
        (days.day_of_week < 5) & ~working, weekday[6], weekday[days.day_of_week.to_numpy()]
    )
    day = rng.choice(len(days), size=n, p=dweight / dweight.sum())
    hour_w = np.array(times["hour"], dtype=float)
    hour = rng.choice(24, size=n, p=hour_w / hour_w.sum()) + rng.random(n)
    lo, hi = (_hours(t) for t in times["patrol_hours"])
    patrol = names[src] == "patrol"
    hour[patrol] = rng.uniform(lo, hi, int(patrol.sum()))
    seconds = day.astype(np.int64) * 86_400 + np.floor(hour * 3600).astype(np.int64)
    naive = first.to_datetime64().astype("datetime64[s]") + seconds.astype("timedelta64[s]")
    reported = pd.DatetimeIndex(naive).tz_localize(
        cal.timezone, ambiguous=np.zeros(n, dtype=bool), nonexistent="shift_forward"
    )

    # chronological ids
    order = np.argsort(reported.asi8, kind="stable")
    x, y, grid, cat, src, priority = (
        x[order],
        y[order],
        grid[order],
        cat[order],
        src[order],
        priority[order],
    )
    reported = reported[order]
    ids = numbered_codes("I", n, width=7)

    # how it goes: working-hour offsets of each step from the report
    limit = np.array([catalog[c].limit_hours for c in codes])[cat]
    on_time = np.array([flow["on_time"].get(catalog[c].kind, 0.85) for c in codes])[cat]
    sigma = float(flow["spread"])
    factor = np.exp(sigma * (rng.standard_normal(n) - _inv_cdf(on_time)))
    stuck = rng.random(n) < flow["stuck_share"]
    factor[stuck] *= rng.uniform(2.0, 6.0, int(stuck.sum()))
    reject = rng.random(n) < flow["reject_share"]
    returned = (rng.random(n) < flow["return_share"]) & ~reject
    rework = (rng.random(n) < flow["rework_share"]) & ~reject
    factor[rework] *= 1.3
    total = limit * factor
    reg = lognormal(rng, flow["register_hours"], 0.8, n)
    disp = lognormal(rng, flow["dispatch_hours"], 0.8, n)
    acc = lognormal(rng, flow["accept_hours"], 0.8, n)
    chk = lognormal(rng, flow["check_hours"], 0.8, n)
    scale = np.minimum(1.0, 0.5 * total / (reg + disp + acc + chk))
    reg, disp, acc, chk = reg * scale, disp * scale, acc * scale, chk * scale
    accepted = reg + disp + acc
    handling = total - chk - accepted
    alive = ~reject
    offsets = np.full((n, len(_STEPS)), np.nan)
    offsets[alive, REGISTER] = reg[alive]
    offsets[reject, REJECT] = reg[reject]
    offsets[returned, DISPATCH1] = (reg + 0.4 * disp)[returned]
    offsets[returned, RETURN] = (reg + 0.7 * disp)[returned]
    offsets[alive, DISPATCH] = (reg + disp)[alive]
    offsets[alive, ACCEPT] = accepted[alive]
    offsets[rework, RESOLVE1] = (accepted + 0.55 * handling)[rework]
    offsets[rework, REWORK] = (accepted + 0.65 * handling)[rework]
    offsets[alive, RESOLVE] = (total - chk)[alive]
    offsets[alive, CLOSE] = total[alive]

    # onto the calendar, whole seconds, strictly increasing along each path
    present = ~np.isnan(offsets)
    row, col = np.nonzero(present)
    at = cal.add_working_hours_many(reported[row], offsets[row, col])
    stamp = np.full(offsets.shape, np.iinfo(np.int64).max)
    stamp[row, col] = at.as_unit("s").asi8
    last = reported.as_unit("s").asi8.copy()
    for c in range(len(_STEPS)):
        here = present[:, c]
        stamp[here, c] = np.maximum(stamp[here, c], last[here] + 1)
        last[here] = stamp[here, c]

    # the state at the end of the period
    end_s = int(end.timestamp())
    done = present & (stamp <= end_s)
    has = done.any(axis=1)
    last_col = len(_STEPS) - 1 - np.argmax(done[:, ::-1], axis=1)
    to_status = np.array([step[2] for step in _STEPS], dtype=object)
    status = np.where(has, to_status[last_col], "received").astype(object)

    # who handles it
    slot = np.array([workers.slot[catalog[c].skill] for c in codes], dtype=np.intp)[cat]
    patch = workers.patch[grid]
    per = workers.table.shape[1]
    right = workers.table[patch, slot]
    wrong = (
        workers.table[patch, (slot + 1) % per]
        if per > 1
        else workers.table[(patch + 1) % workers.table.shape[0], 0]
    )
    holding = np.isin(status, ["dispatched", "handling", "resolved", "closed"])
    worker = np.where(holding, workers.ids[right], None).astype(object)
    first_dispatch = has & (last_col == DISPATCH1)
    worker[first_dispatch] = workers.ids[wrong[first_dispatch]]

    deadline = cal.add_working_hours_many(reported, limit)
    closed = status == "closed"
    closed_at = stamp[:, CLOSE]
    on_time_share = (
        float(np.mean(closed_at[closed] <= deadline.as_unit("s").asi8[closed]))
        if closed.any()
        else float("nan")
    )
    open_ = np.isin(status, ["received", "registered", "dispatched", "handling", "resolved"])
    overdue = int(np.sum(open_ & (deadline.as_unit("s").asi8 < end_s)))

    geoms = shapely.points(
        *pyproj.Transformer.from_crs(city.crs, CRS, always_xy=True).transform(x, y)
    )
    zh = np.array([catalog[c].zh for c in codes], dtype=object)[cat]
    incidents = gpd.GeoDataFrame(
        {
            "id": ids,
            "category": codes[cat],
            "description": zh,
            "source": names[src],
            "priority": priority,
            "reported_at": reported,
            "status": status,
            "worker_id": worker,
        },
        geometry=geoms,
        crs=CRS,
    )
    history = (
        _full_history(ids, stamp, done, right, wrong, workers.ids)
        if full_history
        else _condensed_history(ids, stamp, has, last_col, status)
    )
    return Simulated(incidents, history, on_time_share, overdue)


def _inv_cdf(p: np.ndarray) -> np.ndarray:
    """Return the standard normal quantiles of ``p`` (vectorised over the few distinct values)."""
    values, inverse = np.unique(p, return_inverse=True)
    return np.array([NormalDist().inv_cdf(float(v)) for v in values])[inverse]


def _times(stamp: np.ndarray) -> pd.DatetimeIndex:
    tz = working_calendar().timezone
    return pd.DatetimeIndex(pd.to_datetime(stamp, unit="s", utc=True)).tz_convert(tz)


def _full_history(
    ids: np.ndarray,
    stamp: np.ndarray,
    done: np.ndarray,
    right: np.ndarray,
    wrong: np.ndarray,
    worker_ids: np.ndarray,
) -> pd.DataFrame:
    """Return every transition that happened, one row each, in path order per incident."""
    row, col = np.nonzero(done)  # row-major: per incident, in path order
    actor = np.full(len(row), _CENTER, dtype=object)
    actor[np.isin(col, [DISPATCH1, DISPATCH])] = _COMMAND
    by_worker = np.isin(col, [ACCEPT, RESOLVE1, RESOLVE])
    actor[by_worker] = worker_ids[right[row[by_worker]]]
    actor[col == RETURN] = worker_ids[wrong[row[col == RETURN]]]
    note = np.full(len(row), "", dtype=object)
    for c, text in _NOTES.items():
        note[col == c] = text
    note[col == DISPATCH1] = "to " + worker_ids[wrong[row[col == DISPATCH1]]]
    note[col == DISPATCH] = "to " + worker_ids[right[row[col == DISPATCH]]]
    steps = np.array(_STEPS, dtype=object)
    return pd.DataFrame(
        {
            "incident_id": ids[row],
            "at": _times(stamp[row, col]),
            "from_status": steps[col, 1],
            "to_status": steps[col, 2],
            "action": steps[col, 0],
            "actor": actor,
            "note": note,
        }
    )


def _condensed_history(
    ids: np.ndarray,
    stamp: np.ndarray,
    has: np.ndarray,
    last_col: np.ndarray,
    status: np.ndarray,
) -> pd.DataFrame:
    """Return one ``import`` transition per case past ``received``, at its last step's time."""
    rows = np.flatnonzero(has)
    return pd.DataFrame(
        {
            "incident_id": ids[rows],
            "at": _times(stamp[rows, last_col[rows]]),
            "from_status": "received",
            "to_status": status[rows],
            "action": "import",
            "actor": "simulation",
            "note": "condensed simulated history",
        }
    )
