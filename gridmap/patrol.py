"""Patrol routes: the order in which a worker visits their cases today (:func:`optimizer.routing.plan_patrol`).

The visits are the worker's ``dispatched`` and ``handling`` incidents and one patrol round in each
grid the worker looks after (at a point inside the grid, any time in the shift). The route leaves the
worker's last known location (the centroid of their grids when unknown) when the shift starts,
or now if the shift is under way, and comes back by the shift's end. Each visit takes its
handling time and must be finished by the incident's deadline; a case that cannot be (overdue,
or due too soon) may be visited any time in the shift. A visit that does not fit is dropped at a
cost of :func:`optimizer.dispatch_data.unassigned_penalty` (urgent and overdue cases weigh
more) and reported with the reason; a patrol round left out costs :data:`ROUND_PENALTY` seconds,
less than any case, so rounds fill the time the cases leave.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

import geopandas as gpd
import numpy as np
import pandas as pd

from gridmap.calendar import working_calendar
from gridmap.dispatching import (
    DEFAULT_SERVICE_MINUTES,
    DEFAULT_SPEED_KMH,
    service_seconds,
    worker_locations,
)
from gridmap.errors import GridMapError, NotFoundError, ValidationError
from gridmap.shifts import resolve_now, shift_bounds
from gridmap.stores.base import Store
from optimizer.dispatch_data import unassigned_penalty
from optimizer.errors import NoSolutionError, SpecificationError
from optimizer.routing import PatrolPlan, plan_patrol

__all__ = ["DroppedVisit", "PatrolRoute", "PatrolVisit"]

#: States of the cases a worker visits.
VISIT_STATES = ("dispatched", "handling")
#: Minutes a patrol round of one grid takes, unless told otherwise.
ROUND_MINUTES = 10.0
#: Cost of leaving a grid's round out, in travel seconds (any case is worth more).
ROUND_PENALTY = 600.0


@dataclass(frozen=True)
class PatrolVisit:
    """One stop of the route (times are instants in the calendar's time zone).

    ``kind`` is ``incident`` (``stop_id`` is the incident's id) or ``patrol`` (a round of the
    grid ``stop_id``; its category is ``patrol``, its deadline the shift's end).
    """

    kind: str
    stop_id: str
    category: str
    priority: int
    deadline: pd.Timestamp
    arrival: pd.Timestamp
    start: pd.Timestamp
    finish: pd.Timestamp
    latest_start: pd.Timestamp
    late: bool  # cannot be finished by its deadline whatever the route


@dataclass(frozen=True)
class DroppedVisit:
    """A case left out of the day, and why.

    ``reason`` is ``deadline_unreachable`` (cannot be reached before the latest start),
    ``outside_shift`` (even alone it does not fit in the shift) or ``no_time_left`` (it would fit
    alone, but the visits kept are worth more). ``kind`` and ``stop_id`` as in
    :class:`PatrolVisit`.
    """

    kind: str
    stop_id: str
    priority: int
    deadline: pd.Timestamp
    reason: str
    penalty: float


@dataclass(frozen=True, eq=False)
class PatrolRoute:
    """A worker's route for one shift."""

    worker_id: str
    shift_start: pd.Timestamp
    shift_end: pd.Timestamp
    visits: tuple[PatrolVisit, ...]
    dropped: tuple[DroppedVisit, ...]
    travel_minutes: float
    back_at: pd.Timestamp
    plan: PatrolPlan | None

    @classmethod
    def from_store(
        cls,
        store: Store,
        worker_id: str,
        *,
        day: date | str | None = None,
        now: datetime | str | None = None,
        method: str = "straight",
        detour: float = 1.3,
        speed_kmh: float = DEFAULT_SPEED_KMH,
        service_minutes: float | Mapping[str, float] = DEFAULT_SERVICE_MINUTES,
        time_limit: float = 5.0,
        round_minutes: float = ROUND_MINUTES,
    ) -> PatrolRoute:
        """Plan the worker's visits for one shift.

        Parameters
        ----------
        store : Store
            The store to read.
        worker_id : str
            The worker.
        day : date or str, optional
            The day whose shift to plan (``YYYY-MM-DD``); default the worker's current or next
            shift at ``now``.
        now : datetime or str, optional
            See :func:`gridmap.shifts.resolve_now`; a shift under way starts now.
        method, detour, speed_kmh : optional
            Travel times, as :meth:`gridmap.dispatching.DispatchPlan.from_store`.
        service_minutes : float or mapping
            Handling time per visit (see :func:`gridmap.dispatching.service_seconds`).
        time_limit : float, default 5
            Search seconds.
        round_minutes : float, default 10
            Minutes of a patrol round in each of the worker's grids (0: no rounds).

        Raises
        ------
        NotFoundError
            If there is no such worker.
        GridMapError
            If the day's shift is over, the worker cannot be located, or the options are invalid.
        """
        staff = store.read("workers", where={"id": worker_id})
        if staff.empty:
            raise NotFoundError(f"workers: no row with id {worker_id!r}")
        worker = staff.iloc[0]
        at = resolve_now(store, now)
        lo, hi = _shift(worker, day, at)
        begin = max(lo, at)
        if begin >= hi:
            raise GridMapError(f"the shift of {worker_id} on {lo:%Y-%m-%d} is over at {at:%H:%M}")
        home = worker_locations(store, staff)
        if home.isna().iloc[0] or home.is_empty.iloc[0]:
            raise GridMapError(f"worker {worker_id} has no location and no grid to start from")
        stops = _stops(store, worker, hi, service_minutes, round_minutes)
        if stops.empty:
            return cls(worker_id, begin, hi, (), (), 0.0, begin, None)
        from gridmap.travel import travel_matrix

        points = pd.concat([home, stops.geometry.to_crs(home.crs)], ignore_index=True)
        travel = travel_matrix(
            store, points, points, method=method, unit="s", detour=detour, speed_kmh=speed_kmh
        )
        serve = stops["service_s"].to_numpy(dtype=float)
        end = (hi - begin).total_seconds()
        due = np.array([(d - begin).total_seconds() for d in stops["deadline"]])
        close = np.minimum(due - serve, end)
        late = close < 0
        close[late] = end
        windows = np.column_stack([np.zeros(len(stops)), close])
        cal = working_calendar()
        hours = [cal.working_hours_between(begin, d) for d in stops["deadline"]]
        penalty = unassigned_penalty(stops["priority"].astype(int).to_numpy(), hours)
        penalty[stops["kind"].to_numpy() == "patrol"] = ROUND_PENALTY
        try:
            plan = plan_patrol(travel, windows, serve, (0.0, end), penalty, time_limit=time_limit)
        except (SpecificationError, NoSolutionError) as exc:
            raise GridMapError(f"patrol of {worker_id}: {exc}") from None

        def stamp(seconds: float) -> pd.Timestamp:
            return begin + pd.Timedelta(seconds=float(seconds))

        rows = stops.to_dict("records")
        visits = tuple(
            PatrolVisit(
                kind=rows[i]["kind"],
                stop_id=rows[i]["stop_id"],
                category=rows[i]["category"],
                priority=int(rows[i]["priority"]),
                deadline=rows[i]["deadline"],
                arrival=stamp(arrive),
                start=stamp(start),
                finish=stamp(start + serve[i]),
                latest_start=stamp(close[i]),
                late=bool(late[i]),
            )
            for i, arrive, start in zip(plan.order, plan.arrival, plan.start, strict=True)
        )
        dropped = tuple(
            DroppedVisit(
                kind=rows[i]["kind"],
                stop_id=rows[i]["stop_id"],
                priority=int(rows[i]["priority"]),
                deadline=rows[i]["deadline"],
                reason=_why(i, travel, windows, serve, end),
                penalty=float(penalty[i]),
            )
            for i in plan.dropped
        )
        return cls(
            worker_id, begin, hi, visits, dropped, plan.travel_seconds / 60.0,
            stamp(plan.end_time), plan,
        )  # fmt: skip


def _stops(
    store: Store,
    worker: pd.Series,
    shift_end: pd.Timestamp,
    service_minutes: float | Mapping[str, float],
    round_minutes: float,
) -> gpd.GeoDataFrame:
    """Return the worker's stops: open cases (by id), then one round per grid (by code)."""
    cases = store.read(
        "incidents", where={"worker_id": str(worker["id"]), "status": list(VISIT_STATES)}
    ).sort_values("id")
    parts = [
        gpd.GeoDataFrame(
            {
                "kind": "incident",
                "stop_id": cases["id"].astype(str).to_numpy(),
                "category": cases["category"].to_numpy(),
                "priority": cases["priority"].astype(int).to_numpy(),
                "deadline": cases["deadline"].to_numpy(),
                "service_s": service_seconds(cases["category"], service_minutes),
            },
            geometry=cases.geometry.to_numpy(),
            crs=cases.crs,
        )
    ]
    codes = sorted(worker["grid_codes"] or [])
    if round_minutes > 0 and codes:
        grids = store.read("grids", where={"code": codes}).sort_values("code")
        parts.append(
            gpd.GeoDataFrame(
                {
                    "kind": "patrol",
                    "stop_id": grids["code"].astype(str).to_numpy(),
                    "category": "patrol",
                    "priority": 3,
                    "deadline": shift_end,
                    "service_s": round_minutes * 60.0,
                },
                geometry=grids.geometry.representative_point().to_numpy(),
                crs=grids.crs,
            )
        )
    stops = pd.concat(parts, ignore_index=True)
    stops["deadline"] = pd.to_datetime(stops["deadline"], utc=True).dt.tz_convert(shift_end.tz)
    return gpd.GeoDataFrame(stops, geometry="geometry", crs=parts[0].crs)


def _shift(worker: pd.Series, day: date | str | None, at: pd.Timestamp):
    """Return the worker's shift on ``day``, or the current or next one at ``at``."""
    wid = str(worker["id"])
    if day is None:
        return shift_bounds(worker["shift_start"], worker["shift_end"], at, worker=wid)
    try:
        when = day if isinstance(day, date) else date.fromisoformat(str(day))
    except ValueError:
        raise ValidationError(f"date {day!r} is not a day such as 2025-12-01") from None
    first = pd.Timestamp(datetime.combine(when, datetime.min.time()), tz=at.tz)
    lo, hi = shift_bounds(worker["shift_start"], worker["shift_end"], first, worker=wid)
    if lo.date() < when:  # a night shift from the day before: take the one starting this day
        lo, hi = shift_bounds(worker["shift_start"], worker["shift_end"], hi, worker=wid)
    return lo, hi


def _why(i: int, travel: np.ndarray, windows: np.ndarray, serve: np.ndarray, end: float) -> str:
    arrive = travel[0, i + 1]
    if arrive > windows[i, 1]:
        return "deadline_unreachable"
    if max(arrive, windows[i, 0]) + serve[i] + travel[i + 1, 0] > end:
        return "outside_shift"
    return "no_time_left"
