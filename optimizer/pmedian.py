r"""Exact p-median solvers (uncapacitated and capacitated); see :func:`optimizer.siting.p_median`.

Uncapacitated pipeline
----------------------
1. Greedy + vertex substitution (:mod:`optimizer.heuristics`) gives an
   incumbent ``UB``.
2. Subgradient optimisation of the Lagrangian bound
   (:mod:`optimizer.lagrangian`) improves ``UB`` with a Lagrangian heuristic,
   gives a lower bound ``LB`` (often ``LB = UB``: optimality proven here) and
   fixes sites open/closed that cannot differ in any solution better than
   ``UB``.
3. Otherwise a Lagrangian branch and bound (:mod:`optimizer.branch_and_bound`)
   over the unfixed sites closes the gap, within a share of the time left.
4. If it does not finish, the *radius* ("sorted distances") formulation of
   Elloumi (2010) is solved with SCIP on the reduced candidate set (with the
   per-demand distance caps of the root), warm-started with the incumbent.

Radius formulation with chained covering rows
---------------------------------------------
For demand ``j`` let ``D_j^1 < ... < D_j^{K_j}`` be its distinct distances to
the remaining candidates and ``z_jk = 1`` iff no open site is within
``D_j^k``. Elloumi's rows ``z_jk + sum_{i: c_ji <= D_j^k} y_i >= 1`` are
written as the equivalent chain (by induction, same LP relaxation)

.. math::

    z_{j1} + \sum_{i: c_{ji} = D_j^1} y_i \ge 1, \qquad
    z_{jk} - z_{j,k-1} + \sum_{i: c_{ji} = D_j^k} y_i \ge 0,

so every ``y_i`` appears once per demand point (``O(nm)`` non-zeros instead of
``O(n m K)``). Levels are cut where the distance is guaranteed: at the
distance to the nearest site that is open for sure, and at the first level
with fewer than ``p`` remaining candidates farther away.
"""

from __future__ import annotations

import math
import time

import numpy as np
from ortools.linear_solver import pywraplp

from optimizer import _mip
from optimizer.branch_and_bound import lagrangian_branch_and_bound
from optimizer.errors import NoSolutionError
from optimizer.heuristics import p_median_heuristic, p_median_value
from optimizer.lagrangian import (
    LagrangeOutcome,
    integral_objective,
    lagrangian_p_median,
    radius_caps,
)
from optimizer.results import SitingResult, relative_gap, uncapacitated_result

__all__ = ["solve_capacitated", "solve_uncapacitated"]

#: Solver, ``y`` variable of each free site, and each ``z`` with its demand point and level.
_RadiusModel = tuple[
    pywraplp.Solver, dict[int, pywraplp.Variable], list[tuple[pywraplp.Variable, int, float]]
]


def _radius_model(
    cost: np.ndarray,
    weights: np.ndarray,
    p: int,
    free: np.ndarray,
    forced: np.ndarray,
    caps: np.ndarray | None = None,
    deadline: float = math.inf,
) -> _RadiusModel | None:
    """Build the chained radius formulation over ``free`` sites, ``forced`` ones open.

    ``caps[j]`` (optional) is a cost within which demand ``j`` has an open
    site in every solution worth finding (from
    :func:`optimizer.lagrangian.radius_caps`): the row
    ``sum_{i: c_ji <= caps_j} y_i >= 1`` is added and ``j``'s levels stop there.

    Returns the solver, the ``y`` variable of each free site, and for every
    ``z`` its demand point and level (to build a complete warm start); or
    ``None`` if the ``time.perf_counter()`` value ``deadline`` passes first.
    """
    solver = _mip.new_solver("p-median-radius")
    p_rest = p - forced.size
    y = {int(i): solver.BoolVar(f"y_{i}") for i in free}
    solver.Add(solver.Sum(list(y.values())) == p_rest)
    objective = solver.Objective()
    constant = 0.0
    levels_of: list[tuple[pywraplp.Variable, int, float]] = []
    free_cost = cost[:, free]
    cap = cost[:, forced].min(axis=1) if forced.size else np.full(cost.shape[0], np.inf)
    if caps is not None:
        for j in np.flatnonzero(caps < cap):
            if time.perf_counter() > deadline:
                return None
            within = free[free_cost[j] <= caps[j]]
            solver.Add(solver.Sum([y[int(i)] for i in within]) >= 1)
        cap = np.minimum(cap, caps)
    for j in range(cost.shape[0]):
        if time.perf_counter() > deadline:
            return None
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
            levels_of.append((z, j, float(levels[k])))
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
    return solver, y, levels_of


def solve_uncapacitated(
    cost: np.ndarray,
    weights: np.ndarray,
    p: int,
    existing: np.ndarray,
    time_limit: float,
    seed: int,
    t0: float,
    bnb_share: float = 0.6,
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
        Seconds for the whole solve, counted from ``t0``. Every phase (local
        searches, subgradient runs, tree search, building and solving the
        MIP) stops at the end of its share, so the call returns about then
        with the best solution, a valid bound and status ``"FEASIBLE"``.
    seed : int
        Random seed of the restarts and of the MIP solver.
    t0 : float
        ``time.perf_counter()`` at the start of the call.
    bnb_share : float, default 0.6
        Share of the time left after the root that the Lagrangian branch and
        bound may use before the radius MIP takes over (0 skips it).

    Returns
    -------
    SitingResult
        The best solution, its bound and gap.
    """
    m = cost.shape[1]
    if p == existing.size or p == m:
        chosen = existing if p == existing.size else np.arange(m)
        value = p_median_value(cost, weights, chosen)
        return uncapacitated_result(cost, chosen, value, value, existing, t0, "nothing to choose")

    start = p_median_heuristic(
        cost, weights, p, existing, seed=seed, deadline=t0 + 0.25 * time_limit
    )
    budget = max(0.0, time_limit - (time.perf_counter() - t0))
    lag = lagrangian_p_median(
        cost, weights, p, start, existing, time_budget=min(0.3 * budget, 20.0)
    )
    ub, best = lag.upper_bound, lag.best_open
    if lag.proven:
        return uncapacitated_result(
            cost, best, ub, ub, existing, t0, "heuristic + Lagrangian bound"
        )

    forced = np.flatnonzero(lag.fixed_open)
    free = np.flatnonzero(~lag.fixed_open & ~lag.fixed_closed)
    if forced.size == p:  # the only candidate better than UB is the forced set
        value = p_median_value(cost, weights, forced)
        if value < ub:
            ub, best = value, forced
    if forced.size >= p or free.size < p - forced.size:
        # No solution better than UB survives the fixings: UB is optimal.
        return uncapacitated_result(
            cost, best, ub, ub, existing, t0, "heuristic + Lagrangian fixing"
        )

    remaining = time_limit - (time.perf_counter() - t0)
    bnb = lagrangian_branch_and_bound(
        cost, weights, p, lag, existing, time_budget=max(bnb_share * remaining, 0.0)
    )
    ub, best = bnb.upper_bound, bnb.best_open
    lower = max(lag.lower_bound, bnb.lower_bound)
    if bnb.complete:
        method = f"Lagrangian branch and bound ({bnb.nodes} nodes, {free.size} free sites)"
        return uncapacitated_result(cost, best, ub, ub, existing, t0, method)
    if time_limit - (time.perf_counter() - t0) < 0.25:  # no time left to build a MIP
        method = f"time limit in Lagrangian branch and bound ({bnb.nodes} nodes)"
        return uncapacitated_result(cost, best, ub, lower, existing, t0, method)
    return _radius_phase(cost, weights, p, existing, lag, ub, best, lower, time_limit, seed, t0)


def _radius_phase(
    cost: np.ndarray,
    weights: np.ndarray,
    p: int,
    existing: np.ndarray,
    lag: LagrangeOutcome,
    ub: float,
    best: np.ndarray,
    lower: float,
    time_limit: float,
    seed: int,
    t0: float,
) -> SitingResult:
    """Radius MIP on the sites left free by the root fixings (valid for any ``ub <= root``).

    Building the model may use half of the time left; SCIP is only called if
    at least as much time as the build took is left for it (its own model
    extraction, which its time limit does not cover, takes about as long).
    """
    integral = integral_objective(weights[:, None] * cost)
    forced = np.flatnonzero(lag.fixed_open)
    free = np.flatnonzero(~lag.fixed_open & ~lag.fixed_closed)
    method = f"Lagrangian fixing ({free.size} free sites) + radius MIP"
    t_build = time.perf_counter()
    build_end = t_build + 0.5 * (time_limit - (t_build - t0))
    caps = radius_caps(cost, weights, p, lag, deadline=build_end)
    model = _radius_model(cost, weights, p, free, forced, caps, deadline=build_end)
    built = time.perf_counter() - t_build
    remaining = time_limit - (time.perf_counter() - t0)
    if model is None or remaining < max(0.25, 2.0 * built):
        return uncapacitated_result(cost, best, ub, lower, existing, t0, method + " (time limit)")
    solver, y, levels_of = model
    hint = None
    best_set = set(best.tolist())
    reach = cost[:, best].min(axis=1)
    if (
        set(forced.tolist()) <= best_set <= set(free.tolist()) | set(forced.tolist())
        and (reach <= caps).all()
    ):
        # A complete hint (z too): SCIP uses it at once instead of repairing it late.
        hint = (
            list(y.values()) + [z for z, _, _ in levels_of],
            [1.0 if i in best_set else 0.0 for i in y]
            + [1.0 if reach[j] > level else 0.0 for _, j, level in levels_of],
        )
    try:
        out = _mip.solve(
            solver,
            max(time_limit - (time.perf_counter() - t0) - built, 0.05),
            seed=seed,
            hint=hint,
            what="p-median",
            allow_infeasible=True,
        )
    except NoSolutionError:
        return uncapacitated_result(cost, best, ub, lower, existing, t0, method + " (time limit)")
    if out.status == "INFEASIBLE":
        return uncapacitated_result(cost, best, ub, ub, existing, t0, method)
    mip_bound = math.ceil(out.bound - 1e-6) if integral else out.bound
    if out.objective < ub - 1e-9 * max(1.0, abs(ub)):
        best = np.sort(
            np.concatenate([forced, [i for i, v in y.items() if v.solution_value() > 0.5]])
        )
        ub = p_median_value(cost, weights, best)
    bound = max(lower, min(ub, mip_bound))
    return uncapacitated_result(cost, best, ub, bound, existing, t0, method)


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
            solver.Add(
                solver.Sum([float(weights[j]) * x[j][int(i)] for j in range(n)])
                == float(capacity[int(i)])
            )
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
