"""Exact p-median solvers (uncapacitated and capacitated); see :func:`optimizer.siting.p_median`.

Uncapacitated pipeline
----------------------
1. Greedy + vertex substitution (:mod:`optimizer.heuristics`) gives an
   incumbent ``UB``.
2. Subgradient optimisation of the Lagrangian bound
   (:mod:`optimizer.lagrangian`) improves ``UB`` with a Lagrangian heuristic,
   gives a lower bound ``LB`` (often ``LB = UB``: optimality proven here) and
   fixes sites open/closed that cannot differ in any solution better than
   ``UB``.
3. Otherwise the *radius* ("sorted distances") formulation of Elloumi (2010)
   is solved with SCIP on the reduced candidate set, warm-started with the
   incumbent. Its optimum is compared with ``UB``.

Radius formulation with chained covering rows
---------------------------------------------
For demand ``j`` let ``D_j^1 < ... < D_j^{K_j}`` be its distinct distances to
the remaining candidates and ``z_jk = 1`` iff no open site is within
``D_j^k``. Elloumi's rows ``z_jk + sum_{i: c_ji <= D_j^k} y_i >= 1`` are
written as the equivalent chain (by induction, same LP relaxation)

.. math::

    z_{j1} + \\sum_{i: c_{ji} = D_j^1} y_i \\ge 1, \\qquad
    z_{jk} - z_{j,k-1} + \\sum_{i: c_{ji} = D_j^k} y_i \\ge 0,

so every ``y_i`` appears once per demand point (``O(nm)`` non-zeros instead of
``O(n m K)``). Levels are cut where the distance is guaranteed: at the
distance to the nearest site that is open for sure, and at the first level
with fewer than ``p`` remaining candidates farther away.
"""

from __future__ import annotations

import math
import time

import numpy as np

from optimizer import _mip
from optimizer.errors import NoSolutionError
from optimizer.heuristics import p_median_heuristic, p_median_value
from optimizer.lagrangian import lagrangian_p_median
from optimizer.results import SitingResult, relative_gap

__all__ = ["solve_capacitated", "solve_uncapacitated"]


def _assignment(cost: np.ndarray, open_sites: np.ndarray) -> np.ndarray:
    open_sites = np.asarray(open_sites, dtype=np.intp)
    return open_sites[np.argmin(cost[:, open_sites], axis=1)]


def _radius_model(
    cost: np.ndarray,
    weights: np.ndarray,
    p: int,
    free: np.ndarray,
    forced: np.ndarray,
    integral: bool,
):
    """Build the chained radius formulation over ``free`` sites, ``forced`` ones open.

    With an integral objective the ``z`` are declared binary (instead of
    continuous in [0, 1], which is enough for correctness) so that the solver
    knows the objective is integral and prunes nodes whose bound exceeds
    ``incumbent - 1``.
    """
    solver = _mip.new_solver("p-median-radius")
    p_rest = p - forced.size
    y = {int(i): solver.BoolVar(f"y_{i}") for i in free}
    solver.Add(solver.Sum(list(y.values())) == p_rest)
    objective = solver.Objective()
    constant = 0.0
    free_cost = cost[:, free]
    cap = cost[:, forced].min(axis=1) if forced.size else np.full(cost.shape[0], np.inf)
    for j in range(cost.shape[0]):
        row = free_cost[j]
        inside = row < cap[j]
        levels = np.unique(row[inside])
        if math.isfinite(cap[j]):
            levels = np.append(levels, cap[j])
        # Guaranteed level: fewer than p_rest free candidates strictly farther.
        last = len(levels) - 1
        if p_rest > 0:
            farther = row.size - np.searchsorted(np.sort(row), levels, side="right")
            sure = np.flatnonzero(farther < p_rest)
            if sure.size:
                last = min(last, int(sure[0]))
        constant += weights[j] * levels[0]
        previous = None
        for k in range(last):
            z = solver.NumVar(0.0, 1.0, "")
            members = free[row == levels[k]]
            row_ct = solver.Constraint(1.0 if previous is None else 0.0, solver.infinity())
            row_ct.SetCoefficient(z, 1.0)
            if previous is not None:
                row_ct.SetCoefficient(previous, -1.0)
            for i in members:
                row_ct.SetCoefficient(y[int(i)], 1.0)
            objective.SetCoefficient(z, float(weights[j] * (levels[k + 1] - levels[k])))
            previous = z
    objective.SetOffset(float(constant))
    objective.SetMinimization()
    return solver, y


def solve_uncapacitated(
    cost: np.ndarray,
    weights: np.ndarray,
    p: int,
    existing: np.ndarray,
    time_limit: float,
    seed: int,
    t0: float,
) -> SitingResult:
    """Solve the uncapacitated p-median to proven optimality (or to the time limit).

    Parameters
    ----------
    cost : numpy.ndarray
        Validated ``(n, m)`` cost matrix.
    weights : numpy.ndarray
        Validated ``(n,)`` weights.
    p : int
        Total number of open sites, existing ones included.
    existing : numpy.ndarray
        Existing (always open) columns.
    time_limit : float
        Seconds for the whole solve, counted from ``t0``.
    seed : int
        Random seed of the restarts and of the MIP solver.
    t0 : float
        ``time.perf_counter()`` at the start of the call.

    Returns
    -------
    SitingResult
        The best solution, its bound and gap.
    """
    m = cost.shape[1]
    integral = bool(np.all(weights[:, None] * cost == np.round(weights[:, None] * cost)))
    if p == existing.size or p == m:
        chosen = existing if p == existing.size else np.arange(m)
        value = p_median_value(cost, weights, chosen)
        return _result(cost, chosen, value, value, existing, t0, "nothing to choose")

    start = p_median_heuristic(cost, weights, p, existing, restarts=2, seed=seed)
    budget = max(0.0, time_limit - (time.perf_counter() - t0))
    lag = lagrangian_p_median(
        cost, weights, p, start, existing, time_budget=min(0.3 * budget, 20.0)
    )
    ub, best = lag.upper_bound, lag.best_open
    if lag.proven:
        return _result(cost, best, ub, ub, existing, t0, "heuristic + Lagrangian bound")

    forced = np.flatnonzero(lag.fixed_open)
    free = np.flatnonzero(~lag.fixed_open & ~lag.fixed_closed)
    if forced.size > p or free.size < p - forced.size or forced.size == p:
        # No solution better than UB survives the fixings: UB is optimal.
        return _result(cost, best, ub, ub, existing, t0, "heuristic + Lagrangian fixing")

    solver, y = _radius_model(cost, weights, p, free, forced, integral)
    hint = None
    best_set = set(best.tolist())
    if set(forced.tolist()) <= best_set and best_set <= set(free.tolist()) | set(forced.tolist()):
        hint = (list(y.values()), [1.0 if i in best_set else 0.0 for i in y])
    remaining = time_limit - (time.perf_counter() - t0)
    try:
        out = _mip.solve(
            solver,
            max(remaining, 0.05),
            seed=seed,
            hint=hint,
            what="p-median",
            allow_infeasible=True,
        )
    except NoSolutionError:
        return _result(cost, best, ub, lag.lower_bound, existing, t0, "time limit in MIP")
    method = f"Lagrangian fixing ({free.size} free sites) + radius MIP"
    if out.status == "INFEASIBLE":
        return _result(cost, best, ub, ub, existing, t0, method)
    mip_bound = math.ceil(out.bound - 1e-6) if integral else out.bound
    if out.objective < ub - 1e-9 * max(1.0, abs(ub)):
        best = np.sort(np.concatenate([forced, [i for i, v in y.items() if v.solution_value() > 0.5]]))
        ub = p_median_value(cost, weights, best)
    bound = max(lag.lower_bound, min(ub, mip_bound))
    return _result(cost, best, ub, bound, existing, t0, method)


def _result(
    cost: np.ndarray,
    open_sites: np.ndarray,
    objective: float,
    bound: float,
    existing: np.ndarray,
    t0: float,
    method: str,
) -> SitingResult:
    bound = min(bound, objective)
    gap = relative_gap(objective, bound)
    return SitingResult(
        open_sites=tuple(int(i) for i in open_sites),
        assignment=_assignment(cost, open_sites),
        objective=float(objective),
        bound=float(bound),
        gap=gap,
        optimal=gap == 0.0,
        status="OPTIMAL" if gap == 0.0 else "FEASIBLE",
        seconds=time.perf_counter() - t0,
        existing=tuple(int(i) for i in existing),
        method=method,
    )


def solve_capacitated(
    cost: np.ndarray,
    weights: np.ndarray,
    p: int,
    existing: np.ndarray,
    capacity: np.ndarray,
    fill_existing: bool,
    time_limit: float,
    seed: int,
    t0: float,
) -> SitingResult:
    """Single-sourcing capacitated p-median with SCIP (assignment formulation).

    Parameters
    ----------
    cost, weights, p, existing, time_limit, seed, t0
        As for :func:`solve_uncapacitated`.
    capacity : numpy.ndarray
        ``(m,)`` capacity of each candidate, in units of ``weights``.
    fill_existing : bool
        Require each existing site to serve exactly its capacity.

    Returns
    -------
    SitingResult
        The best solution, its bound and gap.
    """
    n, m = cost.shape
    solver = _mip.new_solver("capacitated-p-median")
    y = [solver.BoolVar(f"y_{i}") for i in range(m)]
    x = [[solver.BoolVar(f"x_{j}_{i}") for i in range(m)] for j in range(n)]
    for j in range(n):
        solver.Add(solver.Sum(x[j]) == 1)
        for i in range(m):
            solver.Add(x[j][i] <= y[i])
    for i in range(m):
        load = solver.Sum([float(weights[j]) * x[j][i] for j in range(n)])
        solver.Add(load <= float(capacity[i]) * y[i])
    solver.Add(solver.Sum(y) == p)
    for i in existing:
        solver.Add(y[int(i)] == 1)
        if fill_existing:
            solver.Add(solver.Sum([float(weights[j]) * x[j][int(i)] for j in range(n)]) == float(capacity[int(i)]))
    objective = solver.Objective()
    for j in range(n):
        for i in range(m):
            objective.SetCoefficient(x[j][i], float(weights[j] * cost[j, i]))
    objective.SetMinimization()
    remaining = max(time_limit - (time.perf_counter() - t0), 0.05)
    out = _mip.solve(solver, remaining, seed=seed, what="capacitated p-median")
    open_sites = np.array([i for i in range(m) if y[i].solution_value() > 0.5], dtype=np.intp)
    assignment = np.array(
        [max(range(m), key=lambda i, j=j: x[j][i].solution_value()) for j in range(n)],
        dtype=np.int64,
    )
    gap = 0.0 if out.status == "OPTIMAL" else relative_gap(out.objective, out.bound)
    return SitingResult(
        open_sites=tuple(int(i) for i in open_sites),
        assignment=assignment,
        objective=float(out.objective),
        bound=float(min(out.bound, out.objective)),
        gap=gap,
        optimal=out.status == "OPTIMAL",
        status=out.status,
        seconds=time.perf_counter() - t0,
        existing=tuple(int(i) for i in existing),
        method="single-sourcing assignment MIP (SCIP)",
    )
