r"""Vehicle routing with time windows (Solomon VRPTW) and single-worker patrol plans.

Model (both problems, one builder in :mod:`optimizer._routing_model`)
--------------------------------------------------------------------
Nodes :math:`0..N`, node 0 the depot / the worker's start; vehicles
:math:`v \in V` of capacity :math:`Q`; arc cost :math:`c_{ij}`, travel time
:math:`t_{ij}`, service :math:`s_i`, window :math:`[a_i, b_i]`, demand
:math:`q_i`, drop penalty :math:`p_i` (optional visits only), fixed cost
:math:`F` per used vehicle. OR-Tools routing decides the successor of every
node and the service start :math:`T_i` (the ``Time`` dimension cumul):

.. math::

    \min \sum_v \sum_{(i,j) \in \text{route}_v} c_{ij}
        + F\,|\{v : \text{route}_v \ne \emptyset\}|
        + \sum_{i\ \text{dropped}} p_i

    T_j \ge T_i + s_i + t_{ij}\ \text{for consecutive}\ i \to j, \quad
    a_i \le T_i \le b_i, \quad \sum_{i \in \text{route}_v} q_i \le Q.

Transit matrices are integers (``scale`` units per input unit) registered with
``RegisterTransitMatrix``; times are rounded up and windows inwards, so a
schedule that is feasible for the solver is feasible in exact arithmetic.
Search: ``PATH_CHEAPEST_ARC`` then ``GUIDED_LOCAL_SEARCH`` until the time limit.

Solomon's ranking is hierarchical (vehicles, then distance). :func:`solve_vrptw`
puts a fixed cost :math:`F = (N + |V|)\,\max c_{ij}` on every used vehicle:
no total distance of any solution reaches it, so one vehicle less always beats
any distance saving, and the guided local search works on the sum. (A second
phase with the vehicle count fixed and :math:`F = 0` was tried and did worse on
C101/R101/RC101: without a spare vehicle the search has less room to move.)
Every customer gets a drop penalty above :math:`F` plus any route, so the
first-solution heuristic always completes (``PATH_CHEAPEST_ARC`` alone stalls
on R101's tight windows) and the search reinserts what it dropped; a customer
still dropped at the end is reported in ``dropped`` and ``feasible`` is False.

Results depend on the time limit (the search stops on the clock); for the
same limit and an idle machine they are usually, not always, identical.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from optimizer import _routing_model as rm
from optimizer._checks import float_vector, non_negative, positive_seconds
from optimizer.errors import NoSolutionError, SpecificationError
from optimizer.solomon import VRPTWInstance, read_solomon

__all__ = ["PatrolPlan", "VRPTWResult", "plan_patrol", "read_solomon", "solve_vrptw"]


@dataclass(frozen=True)
class VRPTWResult:
    """A VRPTW solution.

    Attributes
    ----------
    vehicles : int
        Number of routes used.
    distance : float
        Total Euclidean length of the routes in double precision (not rounded).
    routes : tuple of tuple of int
        Customer numbers per used vehicle in visiting order, depot excluded
        (sorted by first customer).
    start_times : tuple of tuple of float
        Earliest service start per visit, recomputed in exact arithmetic.
    dropped : tuple of int
        Customers no route serves (empty for a complete solution).
    feasible : bool
        All customers served, windows and capacities respected.
    objective : int
        The solver's integer objective (scaled distance, fixed costs and
        penalties).
    status : str
        OR-Tools routing status (``SUCCESS`` = stopped by the time limit with
        a solution).
    seconds : float
        Wall-clock time of the call.
    """

    vehicles: int
    distance: float
    routes: tuple[tuple[int, ...], ...]
    start_times: tuple[tuple[float, ...], ...]
    dropped: tuple[int, ...]
    feasible: bool
    objective: int
    status: str
    seconds: float


@dataclass(frozen=True)
class PatrolPlan:
    """One worker's day: which visits, in which order, at what times.

    Attributes
    ----------
    order : tuple of int
        Visit indices (0-based rows of ``windows``) in visiting order.
    arrival : tuple of float
        Arrival time (seconds) at each visit of ``order``, leaving the start
        at the shift start and waiting at a visit until its window opens (the
        earliest schedule, recomputed in exact arithmetic).
    start : tuple of float
        Service start per visit: ``max(arrival, window open)``.
    dropped : tuple of int
        Visits left out.
    dropped_penalty : float
        Sum of the penalties of the dropped visits.
    travel_seconds : float
        Total travel time, including the way back if ``return_to_start``.
    end_time : float
        When the worker is back at the start (or finishes the last visit).
    objective : float
        ``travel_seconds + dropped_penalty`` as optimised (solver rounding aside).
    status : str
        OR-Tools routing status.
    seconds : float
        Wall-clock time of the call.
    """

    order: tuple[int, ...]
    arrival: tuple[float, ...]
    start: tuple[float, ...]
    dropped: tuple[int, ...]
    dropped_penalty: float
    travel_seconds: float
    end_time: float
    objective: float
    status: str
    seconds: float


def solve_vrptw(
    instance: VRPTWInstance,
    *,
    time_limit: float = 30.0,
    scale: float = 1000.0,
) -> VRPTWResult:
    """Solve a VRPTW instance, vehicles first, then distance (see the module docstring).

    Parameters
    ----------
    instance : VRPTWInstance
        The instance (e.g. from :func:`read_solomon`).
    time_limit : float, optional
        Seconds for the search (model building comes on top: a few ms).
    scale : float, optional
        Integer solver units per distance unit (1000: distances to 0.001).

    Returns
    -------
    VRPTWResult
        The best solution found.

    Raises
    ------
    NoSolutionError
        If the search returns no solution at all.
    """
    t0 = time.perf_counter()
    time_limit = positive_seconds(time_limit)
    dist = instance.distances()
    size = dist.shape[0]
    longest = float(dist.max())
    fixed = (size + instance.vehicles) * longest
    data = rm.RoutingData(
        cost=dist,
        time=dist,
        service=np.concatenate([[0.0], instance.service[1:]]),
        ready=instance.ready,
        due=instance.due,
        demand=instance.demand,
        capacity=instance.capacity,
        vehicles=instance.vehicles,
        fixed_cost=fixed,
        penalty=np.full(size, 3.0 * fixed),
        scale=scale,
    )
    model = rm.build(data)
    solution, status = rm.search(model, time_limit)
    if solution is None:
        raise NoSolutionError(f"VRPTW {instance.name}: no solution ({status})")
    routes, dropped, objective = rm.extract(model, solution)
    routes = sorted(routes)
    starts = tuple(tuple(float(t) for t in rm.schedule(data, r)[1]) for r in routes)
    feasible = not dropped and all(rm.is_feasible(data, r) for r in routes)
    return VRPTWResult(
        vehicles=len(routes),
        distance=sum(rm.route_cost(data, r) for r in routes),
        routes=tuple(tuple(r) for r in routes),
        start_times=starts,
        dropped=tuple(dropped),
        feasible=feasible,
        objective=objective,
        status=status,
        seconds=time.perf_counter() - t0,
    )


def plan_patrol(
    travel_seconds: object,
    windows: object,
    service: object,
    shift: tuple[float, float],
    penalties: object,
    *,
    return_to_start: bool = True,
    time_limit: float = 5.0,
    scale: float = 1.0,
) -> PatrolPlan:
    """Plan one worker's visits for the day (a single-vehicle VRPTW with optional visits).

    The same model as :func:`solve_vrptw` with one vehicle, no capacity and no
    fixed cost; the objective is travel seconds plus the penalties of the
    visits left out.

    Parameters
    ----------
    travel_seconds : array_like
        ``(k + 1, k + 1)`` travel times; row/column 0 is the start (the
        worker's station), rows ``1..k`` the visits.
    windows : array_like
        ``(k, 2)`` earliest and latest service start per visit (seconds, same
        clock as ``shift``).
    service : array_like
        ``(k,)`` seconds spent at each visit.
    shift : tuple of float
        ``(start, end)``: leave the start no earlier than ``start``; be back
        (or, with ``return_to_start=False``, be done) by ``end``.
    penalties : array_like
        ``(k,)`` cost of leaving each visit out, in travel seconds; ``inf``
        makes a visit mandatory.
    return_to_start : bool, optional
        End the day at the start node (default) or wherever the last visit is.
    time_limit : float, optional
        Search seconds.
    scale : float, optional
        Integer solver units per second.

    Returns
    -------
    PatrolPlan
        The visiting order with arrival and service start times, the dropped
        visits and the cost parts.

    Raises
    ------
    SpecificationError
        On bad shapes, negative times, empty windows or a shift that ends
        before it starts.
    NoSolutionError
        If no plan respects the mandatory visits.
    """
    t0 = time.perf_counter()
    time_limit = positive_seconds(time_limit)
    travel = np.asarray(travel_seconds, dtype=np.float64)
    if travel.ndim != 2 or travel.shape[0] != travel.shape[1] or travel.shape[0] < 1:
        raise SpecificationError(
            f"travel_seconds must be square (k + 1, k + 1), got {travel.shape}"
        )
    if not np.isfinite(travel).all() or (travel < 0).any():
        raise SpecificationError("travel_seconds must be finite and non-negative")
    k = travel.shape[0] - 1
    win = np.asarray(windows, dtype=np.float64).reshape(-1, 2) if k else np.zeros((0, 2))
    if win.shape != (k, 2) or not np.isfinite(win).all() or (win[:, 0] > win[:, 1]).any():
        raise SpecificationError(f"windows must be ({k}, 2) finite [open, close] pairs")
    serve = float_vector(service, k, "service")
    non_negative(serve, "service")
    pen = float_vector(penalties, k, "penalties", finite=False)
    non_negative(pen, "penalties")
    begin, end = (float(v) for v in shift)
    if not begin <= end:
        raise SpecificationError(f"shift ends before it starts: {shift}")

    size = k + 1 if return_to_start else k + 2
    cost = np.zeros((size, size))
    cost[: k + 1, : k + 1] = travel  # a free-end dummy (last node) costs nothing to reach
    data = rm.RoutingData(
        cost=cost,
        time=cost,
        service=np.concatenate([[0.0], serve, [0.0] * (size - k - 1)]),
        ready=np.concatenate([[begin], win[:, 0], [begin] * (size - k - 1)]),
        due=np.concatenate([[end], win[:, 1], [end] * (size - k - 1)]),
        demand=np.zeros(size, dtype=np.int64),
        capacity=0,
        vehicles=1,
        fixed_cost=0.0,
        penalty=np.concatenate(
            [[np.nan], np.where(np.isinf(pen), np.nan, pen), [np.nan] * (size - k - 1)]
        ),
        scale=scale,
        end=0 if return_to_start else size - 1,
    )
    model = rm.build(data)
    solution, status = rm.search(model, time_limit)
    if solution is None:
        raise NoSolutionError(f"patrol: no plan serves every mandatory visit ({status})")
    routes, dropped, _ = rm.extract(model, solution)
    route = routes[0] if routes else []
    arrival, start, finish = rm.schedule(data, route)
    dropped_visits = tuple(int(i) - 1 for i in dropped)
    lost = float(pen[list(dropped_visits)].sum()) if dropped_visits else 0.0
    travel_total = rm.route_cost(data, route)
    return PatrolPlan(
        order=tuple(int(i) - 1 for i in route),
        arrival=tuple(float(t) for t in arrival),
        start=tuple(float(t) for t in start),
        dropped=dropped_visits,
        dropped_penalty=lost,
        travel_seconds=travel_total,
        end_time=float(finish),
        objective=travel_total + lost,
        status=status,
        seconds=time.perf_counter() - t0,
    )
