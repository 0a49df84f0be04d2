"""p-center solver (Elloumi, Labbé and Pochet 2004 radius formulation); see :mod:`optimizer.siting`."""

from __future__ import annotations

import time

import numpy as np

from optimizer import _mip
from optimizer.results import SitingResult, uncapacitated_result

__all__ = ["greedy_p_center", "solve_p_center"]


def _radius(cost: np.ndarray, open_sites: np.ndarray) -> float:
    return float(cost[:, open_sites].min(axis=1).max())


def greedy_p_center(cost: np.ndarray, p: int, existing: np.ndarray) -> np.ndarray:
    """Greedy p-center: repeatedly open the site that minimises the current radius.

    Parameters
    ----------
    cost : numpy.ndarray
        ``(n, m)`` demand x candidate costs.
    p : int
        Total number of open sites, existing ones included.
    existing : numpy.ndarray
        Columns that are open from the start.

    Returns
    -------
    numpy.ndarray
        Sorted open columns.
    """
    opened = np.zeros(cost.shape[1], dtype=bool)
    opened[existing] = True
    nearest = cost[:, existing].min(axis=1) if existing.size else np.full(cost.shape[0], np.inf)
    while opened.sum() < p:
        radii = np.minimum(nearest[:, None], cost).max(axis=0)
        radii[opened] = np.inf
        best = int(np.argmin(radii))
        opened[best] = True
        nearest = np.minimum(nearest, cost[:, best])
    return np.flatnonzero(opened)


def solve_p_center(
    cost: np.ndarray,
    p: int,
    existing: np.ndarray,
    time_limit: float,
    seed: int,
    t0: float,
) -> SitingResult:
    """Minimise the largest demand-to-nearest-open-site cost.

    Only the distinct costs between the lower bound ``max_j min_i c_ji`` and the
    greedy solution's radius are levels of the model, and for each demand
    point only the last level before a new site reaches it gives a row (the
    other rows are implied through ``u_{k-1} >= u_k``).

    Parameters
    ----------
    cost : numpy.ndarray
        Validated ``(n, m)`` cost matrix.
    p : int
        Total number of open sites, existing ones included.
    existing : numpy.ndarray
        Existing (always open) columns.
    time_limit, seed, t0
        Time limit in seconds, solver seed, and start time of the call.

    Returns
    -------
    SitingResult
        ``objective`` = the largest assigned cost.
    """
    m = cost.shape[1]
    start = greedy_p_center(cost, p, existing)
    upper = _radius(cost, start)
    lower = float(cost.min(axis=1).max())
    if upper <= lower or p == existing.size:
        return uncapacitated_result(
            cost, start, upper, upper, existing, t0, "greedy (radius = lower bound)"
        )

    levels = np.unique(cost[(cost >= lower) & (cost <= upper)])
    solver = _mip.new_solver("p-center")
    y = [solver.BoolVar(f"y_{i}") for i in range(m)]
    for i in existing:
        y[int(i)].SetLb(1.0)
    solver.Add(solver.Sum(y) == p)
    u = [solver.NumVar(0.0, 1.0, f"u_{k}") for k in range(levels.size - 1)]
    for k in range(1, len(u)):
        solver.Add(u[k - 1] >= u[k])
    rows = set()
    for j in range(cost.shape[0]):
        row = cost[j]
        if existing.size and row[existing].min() <= levels[0]:
            continue
        for k in range(len(u)):
            # Row for level k only if level k + 1 brings a new site within reach of j.
            if (row == levels[k + 1]).any() or k == len(u) - 1:
                members = np.flatnonzero(row <= levels[k])
                key = (k, members.tobytes())
                if key in rows:
                    continue
                rows.add(key)
                solver.Add(u[k] + solver.Sum([y[i] for i in members]) >= 1)
    objective = solver.Objective()
    for k in range(len(u)):
        objective.SetCoefficient(u[k], float(levels[k + 1] - levels[k]))
    objective.SetOffset(float(levels[0]))
    objective.SetMinimization()
    in_start = set(start.tolist())
    hint = (y, [1.0 if i in in_start else 0.0 for i in range(m)])
    remaining = max(time_limit - (time.perf_counter() - t0), 0.05)
    out = _mip.solve(solver, remaining, seed=seed, hint=hint, what="p-center")
    open_sites = np.array([i for i in range(m) if y[i].solution_value() > 0.5], dtype=np.intp)
    value = _radius(cost, open_sites)
    if value > upper:  # keep the greedy solution if the solver returned a worse one
        open_sites, value = start, upper
    bound = out.objective if out.status == "OPTIMAL" else out.bound
    return uncapacitated_result(
        cost, open_sites, value, bound, existing, t0, "radius formulation MIP (SCIP)"
    )
