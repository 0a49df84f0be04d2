"""The one OR-Tools routing model builder behind :mod:`optimizer.routing`.

Both the Solomon VRPTW solver and the single-worker patrol planner describe
their problem as a :class:`RoutingData` (floats in the caller's units) and go
through :func:`build` / :func:`search` / :func:`extract`; no other module
creates a routing model.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from optimizer._checks import check_int_total

#: OR-Tools ``RoutingModel.status()`` codes and their names.
STATUS_NAMES = {
    0: "NOT_SOLVED",
    1: "SUCCESS",
    2: "PARTIAL_SUCCESS_LOCAL_OPTIMUM_NOT_REACHED",
    3: "FAIL",
    4: "FAIL_TIMEOUT",
    5: "INVALID",
    6: "INFEASIBLE",
    7: "OPTIMAL",
}


@dataclass(frozen=True, eq=False)
class RoutingData:
    """A routing problem in float units; node ``start`` is the depot.

    ``cost[i, j]`` is the arc cost, ``time[i, j]`` the travel time, ``service[i]``
    the time spent at ``i`` before leaving (0 at the start node); service must start within
    ``[ready[i], due[i]]``; for the depot rows these bound the route start and
    return. ``end`` is the node routes finish at (the depot, or a free-end
    dummy with zero cost and time from every node). ``penalty[i]`` makes a
    visit optional at that cost (NaN = mandatory).
    """

    cost: np.ndarray
    time: np.ndarray
    service: np.ndarray
    ready: np.ndarray
    due: np.ndarray
    demand: np.ndarray
    capacity: int
    vehicles: int
    fixed_cost: float
    penalty: np.ndarray
    scale: float
    start: int = 0
    end: int = 0


@dataclass
class Built:
    """An assembled model: manager, routing model and the time dimension."""

    data: RoutingData
    manager: pywrapcp.RoutingIndexManager
    routing: pywrapcp.RoutingModel
    time: pywrapcp.RoutingDimension


def build(data: RoutingData, vehicles: int | None = None) -> Built:
    """Assemble the routing model (integer-scaled transit matrices, dimensions, disjunctions).

    Arc costs are ``rint(cost * scale)``; transit times are ``ceil((time +
    service_from) * scale)`` and windows ``[ceil(ready * scale), floor(due *
    scale)]``, so an integer-feasible schedule is feasible in exact arithmetic.
    """
    vehicles = data.vehicles if vehicles is None else vehicles
    s = data.scale
    size = data.cost.shape[0]
    cost = np.rint(data.cost * s).astype(np.int64)
    transit = np.ceil((data.time + data.service[:, None]) * s - 1e-6).astype(np.int64)
    np.fill_diagonal(transit, 0)
    ready = np.ceil(data.ready * s - 1e-6).astype(np.int64)
    due = np.floor(data.due * s + 1e-6).astype(np.int64)
    horizon = int(due.max())
    fixed = round(data.fixed_cost * s)
    optional = ~np.isnan(data.penalty)
    penalty = np.rint(np.nan_to_num(data.penalty) * s).astype(np.int64)
    check_int_total(float(max(cost.max(), fixed, penalty.max(initial=0))), 2 * size, "routing")
    check_int_total(float(max(transit.max(), horizon)), 2 * size, "routing")

    manager = pywrapcp.RoutingIndexManager(
        size, vehicles, [data.start] * vehicles, [data.end] * vehicles
    )
    routing = pywrapcp.RoutingModel(manager)
    arc = routing.RegisterTransitMatrix(cost.tolist())
    routing.SetArcCostEvaluatorOfAllVehicles(arc)
    if fixed:
        routing.SetFixedCostOfAllVehicles(fixed)
    step = routing.RegisterTransitMatrix(transit.tolist())
    routing.AddDimension(step, horizon, horizon, False, "Time")
    time_dim = routing.GetDimensionOrDie("Time")
    for node in range(size):
        if node in (data.start, data.end):
            continue
        time_dim.CumulVar(manager.NodeToIndex(node)).SetRange(int(ready[node]), int(due[node]))
    for v in range(vehicles):
        time_dim.CumulVar(routing.Start(v)).SetRange(int(ready[data.start]), int(due[data.start]))
        time_dim.CumulVar(routing.End(v)).SetRange(int(ready[data.end]), int(due[data.end]))
        routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(routing.End(v)))
        routing.AddVariableMaximizedByFinalizer(time_dim.CumulVar(routing.Start(v)))
    if data.demand.any():
        load = routing.RegisterUnaryTransitVector(data.demand.astype(np.int64).tolist())
        routing.AddDimensionWithVehicleCapacity(
            load, 0, [int(data.capacity)] * vehicles, True, "Load"
        )
    for node in np.flatnonzero(optional).tolist():
        if node not in (data.start, data.end):
            routing.AddDisjunction([manager.NodeToIndex(node)], int(penalty[node]))
    return Built(data, manager, routing, time_dim)


def parameters(time_limit: float) -> pywrapcp.DefaultRoutingSearchParameters:
    """PATH_CHEAPEST_ARC first solution, GUIDED_LOCAL_SEARCH, and always a time limit."""
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    params.time_limit.FromMilliseconds(max(round(time_limit * 1000), 10))
    return params


def search(
    model: Built, time_limit: float, initial: list[list[int]] | None = None
) -> tuple[pywrapcp.Assignment | None, str]:
    """Run the search, from ``initial`` routes (node lists per vehicle) if given."""
    params = parameters(time_limit)
    if initial is None:
        solution = model.routing.SolveWithParameters(params)
    else:
        model.routing.CloseModelWithParameters(params)
        start = model.routing.ReadAssignmentFromRoutes(initial, True)
        if start is None:
            solution = model.routing.SolveWithParameters(params)
        else:
            solution = model.routing.SolveFromAssignmentWithParameters(start, params)
    return solution, STATUS_NAMES.get(model.routing.status(), str(model.routing.status()))


def extract(model: Built, solution: pywrapcp.Assignment) -> tuple[list[list[int]], list[int], int]:
    """Return the non-empty routes (node lists, depot and end excluded), dropped nodes, objective."""
    routing, manager = model.routing, model.manager
    routes = []
    for v in range(routing.vehicles()):
        index = solution.Value(routing.NextVar(routing.Start(v)))
        route = []
        while not routing.IsEnd(index):
            route.append(manager.IndexToNode(index))
            index = solution.Value(routing.NextVar(index))
        if route:
            routes.append(route)
    served = {node for route in routes for node in route}
    dropped = [
        node
        for node in range(model.data.cost.shape[0])
        if node not in (model.data.start, model.data.end) and node not in served
    ]
    return routes, dropped, int(solution.ObjectiveValue())


def schedule(data: RoutingData, route: list[int]) -> tuple[np.ndarray, np.ndarray, float]:
    """Earliest schedule of one route in exact (float) arithmetic.

    Returns arrival times and service start times per visit (``start =
    max(arrival, ready)``) and the time the route reaches its end node.
    """
    arrival = np.empty(len(route))
    begin = np.empty(len(route))
    clock, here = float(data.ready[data.start]), data.start
    for k, node in enumerate(route):
        clock += data.service[here] + data.time[here, node]
        arrival[k] = clock
        clock = max(clock, float(data.ready[node]))
        begin[k] = clock
        here = node
    finish = clock + data.service[here] + data.time[here, data.end]
    return arrival, begin, finish


def route_cost(data: RoutingData, route: list[int]) -> float:
    """Float cost of a route from the start node to the end node."""
    nodes = [data.start, *route, data.end]
    return float(sum(data.cost[a, b] for a, b in itertools.pairwise(nodes)))


def is_feasible(data: RoutingData, route: list[int], tol: float = 1e-6) -> bool:
    """Check windows, the return time and capacity of one route in exact arithmetic."""
    _, begin, finish = schedule(data, route)
    due = data.due[route]
    load = int(data.demand[route].sum()) if route else 0
    return bool(
        (begin <= due + tol).all()
        and finish <= data.due[data.end] + tol
        and (not data.demand.any() or load <= data.capacity)
    )
