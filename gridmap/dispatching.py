"""Dispatch plans: hand the store's registered incidents to grid workers (:mod:`optimizer.dispatch`).

:meth:`DispatchPlan.from_store` turns the store into the optimizer's arrays:

- incidents: the open ``registered`` ones (and ``received`` ones with ``include_received``: the
  case is filed and dispatched in one go), the skill their category needs (``data/categories.csv``),
  their priority, the working hours left until their deadline on the working calendar, their grid
  and an on-site handling time;
- workers: skills, open cases (incidents assigned to them in ``dispatched``, ``handling`` or
  ``resolved``), ``max_open``, the hours left in today's shift at ``now`` and the grids they look
  after (an incident outside them costs ``outside_grid_penalty``);
- travel seconds from the worker's last known location (the centroid of their grids when it is
  unknown) to the incident: the dense matrix of :func:`gridmap.travel.travel_matrix` (straight
  lines or the road network), or, for large straight-line problems, the ``k`` nearest qualified
  available workers per incident on metric coordinates (:func:`optimizer.candidates.nearest_pairs`).

:meth:`DispatchPlan.apply` then moves each assigned incident to ``dispatched`` through the
workflow, one transition per incident with the version the plan read, so a case someone else
changed in the meantime is reported, not overwritten.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap.calendar import working_calendar
from gridmap.catalog import categories
from gridmap.errors import ConflictError, GridMapError, NotFoundError
from gridmap.shifts import remaining_shift_hours, resolve_now
from gridmap.spatial import metric_crs
from gridmap.stores.base import Store
from optimizer.dispatch import DispatchResult, Incidents, Workers, dispatch, nearest_pairs
from optimizer.errors import NoSolutionError, SpecificationError

__all__ = [
    "ASSIGNED_STATES",
    "ApplyReport",
    "DispatchPlan",
    "IncidentDispatch",
    "service_seconds",
    "worker_locations",
]

#: States in which an incident counts as one of its worker's open cases.
ASSIGNED_STATES = ("dispatched", "handling", "resolved")
#: Default travel speed: an electric bicycle in city traffic (as optimizer.candidates).
DEFAULT_SPEED_KMH = 15.0
#: Default on-site handling time per case.
DEFAULT_SERVICE_MINUTES = 15.0
#: Above this many incident-worker pairs, straight-line travel uses k nearest pairs.
DENSE_PAIRS = 2_000_000


def worker_locations(store: Store, workers: gpd.GeoDataFrame) -> gpd.GeoSeries:
    """Return each worker's last known location, else the centroid of their grids (None if neither)."""
    points = workers.geometry.copy()
    missing = points.isna() | points.is_empty
    if missing.any():
        grids = store.read("grids")
        metric = grids.to_crs(metric_crs(grids)) if len(grids) else grids
        centre = dict(zip(grids["code"], metric.geometry.centroid, strict=True))
        for i in np.flatnonzero(missing.to_numpy()):
            parts = [centre[c] for c in workers["grid_codes"].iloc[i] if c in centre]
            if parts:
                mid = shapely.centroid(shapely.multipoints(parts))
                points.iloc[i] = gpd.GeoSeries([mid], crs=metric.crs).to_crs(points.crs).iloc[0]
    return points


def service_seconds(codes: pd.Series, service_minutes: float | Mapping[str, float]) -> np.ndarray:
    """Return on-site seconds per incident: one figure, or a mapping by category code or skill.

    A mapping may hold ``"default"`` for codes and skills it does not name (else 15 min).
    """
    if not isinstance(service_minutes, Mapping):
        return np.full(len(codes), 60.0 * float(service_minutes))
    catalog = categories()
    fallback = float(service_minutes.get("default", DEFAULT_SERVICE_MINUTES))
    minutes = [
        service_minutes.get(c, service_minutes.get(catalog[c].skill, fallback)) for c in codes
    ]
    return 60.0 * np.asarray(minutes, dtype=float)


@dataclass(frozen=True)
class IncidentDispatch:
    """The plan for one incident, with the cost parts that explain it.

    ``worker_id`` is None when the incident stays unassigned; ``reason`` then says why
    (:data:`optimizer.dispatch.REASONS`). Costs are in travel-second equivalents.
    """

    incident_id: str
    status: str
    version: int
    category: str
    priority: int
    grid_code: str | None
    hours_to_deadline: float
    worker_id: str | None
    reason: str
    travel_minutes: float
    outside_grid: bool
    travel_cost: float
    outside_grid_cost: float
    unassigned_cost: float
    penalty: float


@dataclass(frozen=True)
class ApplyReport:
    """What :meth:`DispatchPlan.apply` wrote: dispatched (and first registered) incidents, conflicts."""

    dispatched: tuple[str, ...]
    registered: tuple[str, ...]
    conflicts: tuple[tuple[str, str], ...]


@dataclass(frozen=True, eq=False)
class DispatchPlan:
    """A dispatch of the store's open incidents at ``now`` (see the module docstring).

    Attributes
    ----------
    now : pandas.Timestamp
        The planning instant (also the time the transitions are recorded at).
    incidents : tuple of IncidentDispatch
        One entry per incident considered, in store order.
    result : optimizer.dispatch.DispatchResult
        The optimizer's result (indices into ``incidents`` and ``worker_ids``).
    worker_ids : tuple of str
        The workers given to the optimizer.
    unlocated_workers : tuple of str
        Workers left out: no location and no grid to place them.
    travel : str
        How travel times were measured.
    inputs : tuple of (optimizer.dispatch.Incidents, optimizer.dispatch.Workers)
        The arrays given to the optimizer.
    received_waiting : int
        Received reports not planned (``include_received`` was False).
    """

    now: pd.Timestamp
    incidents: tuple[IncidentDispatch, ...]
    result: DispatchResult
    worker_ids: tuple[str, ...]
    unlocated_workers: tuple[str, ...]
    travel: str
    inputs: tuple[Incidents, Workers]
    received_waiting: int = 0

    @classmethod
    def from_store(
        cls,
        store: Store,
        *,
        now: datetime | str | None = None,
        k: int = 20,
        method: str = "straight",
        detour: float = 1.3,
        speed_kmh: float = DEFAULT_SPEED_KMH,
        service_minutes: float | Mapping[str, float] = DEFAULT_SERVICE_MINUTES,
        include_received: bool = False,
        outside_grid_penalty: float = 900.0,
        max_travel_minutes: float | None = None,
        cumulative_shift: bool = True,
        time_limit: float = 10.0,
        dense_pairs: int = DENSE_PAIRS,
    ) -> DispatchPlan:
        """Read the store, solve the dispatch and return the plan (nothing is written).

        Parameters
        ----------
        store : Store
            The store to read.
        now : datetime, str or None
            Planning instant, see :func:`gridmap.shifts.resolve_now`.
        k : int, default 20
            Candidate workers per incident when the problem is too large for a dense matrix.
        method : {"straight", "network"}
            Travel on straight lines (times ``detour``) or on the store's road network.
        detour, speed_kmh : float
            Straight-line detour factor; travel speed (default 15 km/h, an e-bike).
        service_minutes : float or mapping
            On-site handling time, counted against the shift (see :func:`service_seconds`).
        include_received : bool, default False
            Also plan ``received`` incidents (they are registered, then dispatched).
        outside_grid_penalty : float, default 900
            Cost, in travel seconds, of sending a worker outside their own grids.
        max_travel_minutes : float, optional
            Longest acceptable trip.
        cumulative_shift : bool, default True
            All new cases of a worker (trip + handling each) must fit in the remaining shift
            together (CP-SAT); False checks each case alone (exact min-cost flow, fastest).
        time_limit : float, default 10
            Seconds for CP-SAT.
        dense_pairs : int
            Largest incidents x workers product measured as a dense matrix (straight lines).

        Raises
        ------
        NotFoundError
            If the store has no worker.
        GridMapError
            On invalid options, shift times, or (network) a store without roads.
        """
        at = resolve_now(store, now)
        states = ["registered", *(["received"] if include_received else [])]
        rows = store.read(
            "incidents", where={"status": ["received", "registered", *ASSIGNED_STATES]}
        )
        waiting = int((rows["status"] == "received").sum()) * (not include_received)
        staff = store.read("workers")
        if staff.empty:
            raise NotFoundError(f"{store.url} has no workers: import the workers layer first")
        held = rows.loc[rows["status"].isin(ASSIGNED_STATES), "worker_id"].value_counts()
        todo = rows[rows["status"].isin(states)].reset_index(drop=True)
        where = worker_locations(store, staff)
        located = ~(where.isna() | where.is_empty).to_numpy()
        lost = tuple(str(w) for w in staff["id"][~located])
        staff = staff[located].reset_index(drop=True)
        where = where[located].reset_index(drop=True)
        if staff.empty:
            raise NotFoundError("no worker has a location or a grid: dispatch needs one of them")

        incidents, workers = _problem(todo, staff, held, at, service_minutes)
        options = {"detour": detour, "speed_kmh": speed_kmh, "k": k, "dense_pairs": dense_pairs}
        travel, label, sparse = _travel(
            store, todo.geometry, where, incidents, workers, method, **options
        )
        limit = np.inf if max_travel_minutes is None else 60.0 * max_travel_minutes
        try:
            result = dispatch(
                incidents,
                workers,
                travel,
                max_travel_seconds=limit,
                outside_grid_penalty=outside_grid_penalty,
                cumulative_shift=cumulative_shift,
                time_limit=time_limit,
            )
        except (SpecificationError, NoSolutionError) as exc:
            raise GridMapError(f"dispatch: {exc}") from None
        reasons = (
            _sparse_reasons(result.reason, travel, incidents, workers) if sparse else result.reason
        )
        ids = tuple(str(w) for w in staff["id"])
        entries = tuple(
            IncidentDispatch(
                incident_id=str(r.id),
                status=str(r.status),
                version=int(r.version),
                category=str(r.category),
                priority=int(r.priority),
                grid_code=r.grid_code if isinstance(r.grid_code, str) else None,
                hours_to_deadline=float(incidents.hours_to_deadline[i]),
                worker_id=ids[result.worker[i]] if result.worker[i] >= 0 else None,
                reason=reasons[i],
                travel_minutes=float(result.travel_seconds[i]) / 60.0,
                outside_grid=bool(result.outside_grid[i]),
                travel_cost=float(result.travel_cost[i]),
                outside_grid_cost=float(result.outside_grid_cost[i]),
                unassigned_cost=float(result.unassigned_cost[i]),
                penalty=float(result.penalty[i]),
            )
            for i, r in enumerate(todo.itertuples(index=False))
        )
        return cls(at, entries, result, ids, lost, label, (incidents, workers), waiting)

    @property
    def assigned(self) -> tuple[IncidentDispatch, ...]:
        """The incidents given to a worker."""
        return tuple(e for e in self.incidents if e.worker_id is not None)

    def summary(self) -> dict[str, Any]:
        """Return the plan's figures as plain data (what ``gridmap dispatch`` prints)."""
        done = self.assigned
        minutes = np.array([e.travel_minutes for e in done])
        reasons: dict[str, int] = {}
        for e in self.incidents:
            if e.worker_id is None:
                reasons[e.reason] = reasons.get(e.reason, 0) + 1
        r = self.result
        return {
            "now": self.now.isoformat(),
            "travel": self.travel,
            "workers": len(self.worker_ids),
            "on_shift": int((self.inputs[1].shift_hours > 0).sum()),
            "received_waiting": self.received_waiting,
            "unlocated_workers": list(self.unlocated_workers),
            "considered": len(self.incidents),
            "assigned": len(done),
            "unassigned": dict(sorted(reasons.items())),
            "mean_travel_minutes": float(minutes.mean()) if len(done) else math.nan,
            "max_travel_minutes": float(minutes.max()) if len(done) else math.nan,
            "outside_own_grid": sum(e.outside_grid for e in done),
            "objective": r.objective,
            "bound": r.bound,
            "gap": r.gap,
            "status": r.status,
            "method": r.method,
            "seconds": r.seconds,
        }

    def apply(self, store: Store, actor: str = "dispatcher") -> ApplyReport:
        """Move every assigned incident to ``dispatched`` (registering received ones first).

        Each transition carries the version the plan read; an incident changed since (or a
        worker deleted) is reported in ``conflicts`` and left as it is. The history entry of a
        dispatch names the worker (``note`` "to W001") and is stamped at :attr:`now`.
        """
        dispatched, registered, conflicts = [], [], []
        at = self.now.to_pydatetime()
        for e in self.assigned:
            version = e.version
            try:
                if e.status == "received":
                    row = store.transition(
                        e.incident_id, "register", actor=actor, expected_version=version, at=at
                    )
                    registered.append(e.incident_id)
                    version = int(row["version"])
                store.transition(
                    e.incident_id,
                    "dispatch",
                    actor=actor,
                    note=f"to {e.worker_id}",
                    worker_id=e.worker_id,
                    expected_version=version,
                    at=at,
                )
            except (ConflictError, NotFoundError) as exc:
                conflicts.append((e.incident_id, str(exc)))
                continue
            dispatched.append(e.incident_id)
        return ApplyReport(tuple(dispatched), tuple(registered), tuple(conflicts))


def _problem(
    todo: pd.DataFrame,
    staff: pd.DataFrame,
    held: pd.Series,
    at: pd.Timestamp,
    service: float | Mapping[str, float],
) -> tuple[Incidents, Workers]:
    """Return the optimizer's incidents and workers (skill, grid and worker indices)."""
    catalog = categories()
    needed = [catalog[c].skill for c in todo["category"]]
    names = sorted({*needed, *(s for row in staff["skills"] for s in row)})
    skill_of = {s: j for j, s in enumerate(names)}
    skills = np.zeros((len(staff), len(names)), dtype=bool)
    for w, row in enumerate(staff["skills"]):
        skills[w, [skill_of[s] for s in row]] = True
    located = [c if isinstance(c, str) else None for c in todo["grid_code"]]
    codes = sorted({c for c in located if c} | {c for row in staff["grid_codes"] for c in row})
    grid_of = {c: g for g, c in enumerate(codes)}
    own = np.zeros((len(staff), len(codes)), dtype=bool)
    for w, row in enumerate(staff["grid_codes"]):
        own[w, [grid_of[c] for c in row]] = True
    cal = working_calendar()
    incidents = Incidents(
        skill=np.array([skill_of[s] for s in needed], dtype=np.int64),
        priority=todo["priority"].astype("int64").to_numpy(),
        hours_to_deadline=[cal.working_hours_between(at, d) for d in todo["deadline"]],
        grid=np.array([grid_of[c] if c else -1 for c in located], dtype=np.int64),
        handling_seconds=service_seconds(todo["category"], service),
    )
    workers = Workers(
        skills=skills,
        open_cases=staff["id"].map(held).fillna(0).astype("int64").to_numpy(),
        max_open_cases=staff["max_open"].astype("int64").to_numpy(),
        shift_hours=remaining_shift_hours(staff, at),
        grids=own,
    )
    return incidents, workers


def _travel(store, points, where, incidents, workers, method, *, detour, speed_kmh, k, dense_pairs):
    """Return (dense matrix or candidate pairs, description, sparse?) of travel seconds."""
    from gridmap.travel import travel_matrix

    n, m = len(incidents), len(workers)
    label = (
        f"road network, {speed_kmh:g} km/h where roads have no speed"
        if method == "network"
        else f"straight line x {detour:g}, {speed_kmh:g} km/h"
    )
    if method == "network" or n * m <= dense_pairs:
        matrix = travel_matrix(
            store, where, points, method=method, unit="s", detour=detour, speed_kmh=speed_kmh
        )
        return np.ascontiguousarray(matrix.T), label, False
    if not (speed_kmh > 0 and detour > 0):
        raise GridMapError("the detour factor and the speed must be positive")
    crs = metric_crs(points)
    inc_xy = shapely.get_coordinates(points.to_crs(crs).values)
    wrk_xy = shapely.get_coordinates(where.to_crs(crs).centroid.values)
    available = (workers.remaining > 0) & (workers.shift_hours > 0)
    pairs = nearest_pairs(
        inc_xy,
        wrk_xy,
        (incidents.skill, workers.skills),
        int(k),
        available=available,
        speed=speed_kmh / 3.6,
        detour=detour,
    )
    return pairs, f"{label}, {k} nearest available qualified workers", True


def _sparse_reasons(reasons, pairs, incidents, workers) -> tuple[str, ...]:
    """Name the real filter for incidents that got no candidate because no qualified worker is free.

    Candidate pairs skip unavailable workers and have no range limit, so an incident without
    pairs whose skill some worker has is off shift everywhere (``outside_shift``) or meets only
    full workers (``all_at_capacity``), not ``no_worker_in_range``.
    """
    out = list(reasons)
    has_pairs = np.bincount(pairs.incident, minlength=len(incidents)) > 0
    lacking = (np.array(reasons, dtype=object) == "no_worker_in_range") & ~has_pairs
    for i in np.flatnonzero(lacking):
        s = incidents.skill[i]
        qualified = np.ones(len(workers), bool) if s < 0 else workers.skills[:, s]
        on_shift = qualified & (workers.shift_hours > 0)
        out[i] = "all_at_capacity" if on_shift.any() else "outside_shift"
    return tuple(out)
