r"""Staffing: give every grid exactly one responsible worker, balancing workload.

Model (centre-based districting, CP-SAT)
----------------------------------------
Grids :math:`g, h \in 0..G-1` with expected workload :math:`w_g` (e.g. the
per-grid case rate from history and population), centroid distances
:math:`d_{gh}` and adjacency pairs; :math:`m` workers. Every worker's district
is built around a *centre* grid. :math:`y_{gh} = 1` when grid :math:`g` is in
the district centred at :math:`h` (:math:`y_{hh} = 1`: :math:`h` is a centre);
only the ``candidates`` nearest centres of each grid (by path length through
adjacent grids, :math:`D_{gh}`) are variables.

.. math::

    \min\ G\,(L_{\max} - L_{\min})
        + \sum_{g,h} \bigl(\lambda\,\hat d_{gh} + 10^4 \mu\,[c_g \ne c_h]\bigr)\, y_{gh}
    \quad\text{s.t.}\quad
    \sum_h y_{gh} = 1\ \forall g, \quad
    y_{gh} \le y_{hh}, \quad
    \sum_h y_{hh} = m,

    L_h = \sum_g \hat w_g y_{gh} \le L_{\max}\ \forall h, \qquad
    y_{hh} = 1 \Rightarrow L_{\min} \le L_h,

    y_{gh} \le \sum_{g' \in N(g):\ D_{g'h} < D_{gh}} y_{g'h}
    \quad (g \ne h,\ \text{contiguity, optional})

Workloads are scaled so the mean district load is 10,000
(:math:`\hat w_g = 10^4 w_g m / \sum w`) and distances so one step between
adjacent centroids is 10,000 (:math:`\hat d = 10^4 d / \bar d_{\text{adj}}`);
``compactness_weight`` :math:`\lambda` thus trades one percent of load spread
against :math:`0.01/\lambda` average steps from a grid to its district's centre.
:math:`c_g` is the current worker of grid :math:`g`; the small :math:`\mu` term
(``change_weight``) prefers, among equally good plans, the one that moves
fewest grids away from their current worker.
The contiguity rows (a grid joins a district only next to a grid of it that is
closer to the centre) make every district connected; they are always
satisfiable because a shortest path to the centre only gets closer.

The search starts from a complete feasible plan: balanced region growing from
spread-out seeds, then boundary-grid moves while the objective falls
(:mod:`optimizer._districts`). Districts are then matched to workers (:func:`scipy.optimize.linear_sum_assignment`)
so that each worker keeps as much of their current workload as possible.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, shortest_path

from optimizer._checks import (
    float_vector,
    frozen,
    in_range,
    int_vector,
    non_negative,
    positive_seconds,
)
from optimizer._districts import grow, improve
from optimizer.errors import NoSolutionError, SpecificationError
from optimizer.results import relative_gap

__all__ = ["StaffingResult", "balance_workload", "spread", "workload_per_worker"]

_UNIT = 10_000


@dataclass(frozen=True, eq=False)
class StaffingResult:
    """Grid-to-worker assignment with workload spread before and after.

    Attributes
    ----------
    assignment : numpy.ndarray
        ``(G,)`` int64 worker responsible for each grid.
    centres : numpy.ndarray
        ``(m,)`` int64 centre grid of each worker's district.
    workload, workload_before : numpy.ndarray
        ``(m,)`` expected workload per worker after and before.
    spread, spread_before : float
        ``max - min`` of the workload per worker, after and before.
    cv, cv_before : float
        Coefficient of variation (std / mean) of the workload per worker.
    compactness, compactness_before : float
        Sum over grids of the centroid distance to their district's centre
        (before: to the medoid of each current district).
    contiguous : bool
        Every district is connected through adjacent grids.
    changed_grids : int
        Grids whose responsible worker changed.
    objective, bound, gap : float
        Solver objective (scaled units, see the module docstring), bound, gap.
    optimal : bool
        Optimality proven.
    status : str
        ``"OPTIMAL"`` or ``"FEASIBLE"``.
    seconds : float
        Wall-clock time of the call.
    """

    assignment: np.ndarray
    centres: np.ndarray
    workload: np.ndarray
    workload_before: np.ndarray
    spread: float
    spread_before: float
    cv: float
    cv_before: float
    compactness: float
    compactness_before: float
    contiguous: bool
    changed_grids: int
    objective: float
    bound: float
    gap: float
    optimal: bool
    status: str
    seconds: float

    def __post_init__(self) -> None:
        for name in ("assignment", "centres"):
            object.__setattr__(self, name, frozen(getattr(self, name), np.int64))
        for name in ("workload", "workload_before"):
            object.__setattr__(self, name, frozen(getattr(self, name), np.float64))


def workload_per_worker(assignment: np.ndarray, workload: np.ndarray, m: int) -> np.ndarray:
    """Sum the grid workloads per responsible worker."""
    return np.bincount(assignment, weights=workload, minlength=m).astype(np.float64)


def spread(loads: np.ndarray) -> tuple[float, float]:
    """Return ``(max - min, std / mean)`` of per-worker workloads."""
    mean = float(loads.mean())
    cv = float(loads.std() / mean) if mean > 0 else 0.0
    return float(loads.max() - loads.min()), cv


def balance_workload(
    workload: object,
    distance: object,
    adjacency: object,
    current: object,
    *,
    n_workers: int | None = None,
    compactness_weight: float = 0.02,
    change_weight: float = 0.005,
    candidates: int = 40,
    contiguity: bool = True,
    time_limit: float = 10.0,
    num_workers: int = 2,
    seed: int = 0,
) -> StaffingResult:
    r"""Reassign grids to workers so that workloads are balanced and districts compact.

    Parameters
    ----------
    workload : array_like
        ``(G,)`` non-negative expected workload per grid.
    distance : array_like
        ``(G, G)`` centroid distances (metres), symmetric, zero diagonal.
    adjacency : array_like
        ``(E, 2)`` pairs of adjacent grid indices (shared border).
    current : array_like
        ``(G,)`` current responsible worker per grid (the "before" plan).
    n_workers : int, optional
        Number of workers; default ``current.max() + 1``.
    compactness_weight : float, optional
        :math:`\lambda` in the model (0 = balance only).
    change_weight : float, optional
        :math:`\mu`: cost of a grid joining a centre that is not its current
        worker's, as a share of the mean load (a tie-breaker towards stability).
    candidates : int, optional
        Candidate centres per grid (nearest by path length).
    contiguity : bool, optional
        Require connected districts.
    time_limit : float, optional
        CP-SAT seconds.
    num_workers, seed : int, optional
        CP-SAT workers (default 2, the CI machine's cores: on two cores 2 did
        better than 8) and seed. Runs that stop on the time limit may differ.

    Returns
    -------
    StaffingResult
        The new assignment and the before/after figures.

    Raises
    ------
    SpecificationError
        On bad shapes or indices, more workers than grids, or fewer workers
        than connected groups of grids.
    NoSolutionError
        If CP-SAT finds no assignment in the time limit.
    """
    t0 = time.perf_counter()
    load = float_vector(workload, None, "workload")
    non_negative(load, "workload")
    n = load.shape[0]
    dist = np.asarray(distance, dtype=np.float64)
    if dist.shape != (n, n) or not np.isfinite(dist).all() or (dist < 0).any():
        raise SpecificationError(f"distance must be a finite non-negative ({n}, {n}) matrix")
    now = int_vector(current, n, "current")
    m = int(now.max()) + 1 if n_workers is None else int(n_workers)
    in_range(now, 0, m, "current")
    if not 1 <= m <= n:
        raise SpecificationError(f"need between 1 and {n} workers for {n} grids, got {m}")
    if load.sum() <= 0:
        raise SpecificationError("total workload is zero: nothing to balance")
    time_limit = positive_seconds(time_limit)
    pairs = _adjacency(adjacency, n)
    path, parts = _path_lengths(pairs, dist, n)
    if parts > m:
        raise SpecificationError(f"the grids form {parts} disconnected groups but only {m} workers")

    step = float(dist[pairs[:, 0], pairs[:, 1]].mean()) if len(pairs) else float(dist.mean())
    w_int = np.rint(_UNIT * load * m / load.sum()).astype(np.int64)
    d_int = np.rint(_UNIT * dist / max(step, 1e-9)).astype(np.int64)
    moved = now[:, None] != now[None, :]  # grid g would leave the worker of centre h
    pair_cost = np.rint(compactness_weight * d_int + change_weight * _UNIT * moved).astype(np.int64)
    k = min(max(int(candidates), 1), n)
    near = np.argsort(path, axis=1, kind="stable")[:, :k]

    model = cp_model.CpModel()
    y: dict[tuple[int, int], cp_model.IntVar] = {}
    for g in range(n):
        for h in near[g].tolist():
            if np.isfinite(path[g, h]):
                y[g, h] = model.new_bool_var(f"y{g}_{h}")
    for h in range(n):
        if (h, h) not in y:
            y[h, h] = model.new_bool_var(f"y{h}_{h}")
    neighbours = [[] for _ in range(n)]
    for a, b in pairs.tolist():
        neighbours[a].append(b)
        neighbours[b].append(a)
    if contiguity:
        for (g, h), var in list(y.items()):
            if g == h:
                continue
            closer = [y[j, h] for j in neighbours[g] if (j, h) in y and path[j, h] < path[g, h]]
            if closer:
                model.add(var <= sum(closer))
            else:
                model.add(var == 0)
    by_grid: list[list[cp_model.IntVar]] = [[] for _ in range(n)]
    by_centre: list[list[tuple[int, cp_model.IntVar]]] = [[] for _ in range(n)]
    for (g, h), var in y.items():
        by_grid[g].append(var)
        by_centre[h].append((g, var))
        if g != h:
            model.add_implication(var, y[h, h])
    for g in range(n):
        model.add_exactly_one(by_grid[g])
    model.add(sum(y[h, h] for h in range(n)) == m)
    total = int(w_int.sum())
    high = model.new_int_var(0, total, "L_max")
    low = model.new_int_var(0, total, "L_min")
    for h in range(n):
        members = by_centre[h]
        district = cp_model.LinearExpr.weighted_sum(
            [v for _, v in members], [int(w_int[g]) for g, _ in members]
        )
        model.add(district <= high)
        model.add(low <= district).only_enforce_if(y[h, h])
    terms = [(var, int(pair_cost[g, h])) for (g, h), var in y.items()]
    terms = [(v, c) for v, c in terms if c]
    model.minimize(
        n * (high - low)
        + cp_model.LinearExpr.weighted_sum([v for v, _ in terms], [c for _, c in terms])
    )
    before_centres = _medoids(now, dist, m)
    start = grow(load, path, neighbours, y, m)
    if (start >= 0).all():
        start = improve(start, w_int, pair_cost, path, neighbours, y, weight=n)
    for (g, h), var in y.items():
        if start[g] >= 0:
            model.add_hint(var, bool(start[g] == h))

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(time_limit - (time.perf_counter() - t0), 0.05)
    solver.parameters.num_workers = num_workers
    solver.parameters.random_seed = seed
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        raise NoSolutionError(
            f"staffing: CP-SAT status {solver.status_name(status)} after "
            f"{time.perf_counter() - t0:.2f} s"
        )
    district = np.empty(n, dtype=np.int64)
    for (g, h), var in y.items():
        if solver.boolean_value(var):
            district[g] = h
    assignment, centres = _match(district, now, load, m)
    return _result(assignment, centres, now, before_centres, load, dist, pairs, solver, status, t0)


def _adjacency(adjacency: object, n: int) -> np.ndarray:
    pairs = np.asarray(adjacency, dtype=np.int64).reshape(-1, 2) if np.size(adjacency) else None
    if pairs is None:
        return np.zeros((0, 2), dtype=np.int64)
    in_range(pairs.ravel(), 0, n, "adjacency")
    return pairs[pairs[:, 0] != pairs[:, 1]]


def _path_lengths(pairs: np.ndarray, dist: np.ndarray, n: int) -> tuple[np.ndarray, int]:
    """All-pairs path lengths through adjacent grids (edge = centroid distance) and #components."""
    weights = np.maximum(dist[pairs[:, 0], pairs[:, 1]], 1e-9)
    graph = coo_matrix((weights, (pairs[:, 0], pairs[:, 1])), shape=(n, n)).tocsr()
    parts, _ = connected_components(graph, directed=False)
    return shortest_path(graph, method="D", directed=False), int(parts)


def _medoids(assignment: np.ndarray, dist: np.ndarray, m: int) -> np.ndarray:
    """Grid of each worker's district with the least total distance to the others (-1 if empty)."""
    centres = np.full(m, -1, dtype=np.int64)
    for w in range(m):
        grids = np.flatnonzero(assignment == w)
        if grids.size:
            centres[w] = grids[np.argmin(dist[np.ix_(grids, grids)].sum(axis=1))]
    return centres


def _match(district, current, load, m):
    """Give each district to the worker who keeps the most of their current workload."""
    centres = np.unique(district)
    kept = np.zeros((centres.size, m))
    np.add.at(kept, (np.searchsorted(centres, district), current), load + 1e-9)
    rows, cols = linear_sum_assignment(-kept)
    worker_of = np.empty(centres.size, dtype=np.int64)
    worker_of[rows] = cols
    worker_centre = np.empty(m, dtype=np.int64)
    worker_centre[cols] = centres[rows]
    return worker_of[np.searchsorted(centres, district)], worker_centre


def _connected(assignment, pairs, m):
    same = assignment[pairs[:, 0]] == assignment[pairs[:, 1]]
    n = assignment.size
    inner = pairs[same]
    graph = coo_matrix((np.ones(len(inner)), (inner[:, 0], inner[:, 1])), shape=(n, n))
    parts, _ = connected_components(graph, directed=False)
    return parts == m


def _result(assignment, centres, before, before_centres, load, dist, pairs, solver, status, t0):
    m = centres.size
    after_load = workload_per_worker(assignment, load, m)
    before_load = workload_per_worker(before, load, m)
    s_after, cv_after = spread(after_load)
    s_before, cv_before = spread(before_load)
    has = before_centres[before] >= 0
    objective = float(solver.objective_value)
    bound = float(solver.best_objective_bound)
    gap = relative_gap(objective, bound)
    optimal = status == cp_model.OPTIMAL or gap == 0.0
    return StaffingResult(
        assignment=assignment,
        centres=centres,
        workload=after_load,
        workload_before=before_load,
        spread=s_after,
        spread_before=s_before,
        cv=cv_after,
        cv_before=cv_before,
        compactness=float(dist[np.arange(len(load)), centres[assignment]].sum()),
        compactness_before=float(dist[np.flatnonzero(has), before_centres[before[has]]].sum()),
        contiguous=bool(_connected(assignment, pairs, m)),
        changed_grids=int((assignment != before).sum()),
        objective=objective,
        bound=bound,
        gap=0.0 if optimal else gap,
        optimal=optimal,
        status="OPTIMAL" if optimal else "FEASIBLE",
        seconds=time.perf_counter() - t0,
    )
