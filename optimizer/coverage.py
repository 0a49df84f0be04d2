"""Coverage models (MCLP, LSCP) built for SCIP; see :mod:`optimizer.siting`."""

from __future__ import annotations

import time

import numpy as np

from optimizer import _mip
from optimizer.results import CoverageResult, SitingResult, relative_gap

__all__ = ["greedy_cover", "solve_lscp", "solve_mclp"]


def _nearest_covering(cost: np.ndarray, covers: np.ndarray, open_sites: np.ndarray) -> np.ndarray:
    """Nearest open site covering each demand point, ``-1`` if none covers it."""
    assignment = np.full(cost.shape[0], -1, dtype=np.int64)
    if open_sites.size == 0:
        return assignment
    sub = np.where(covers[:, open_sites], cost[:, open_sites], np.inf)
    best = np.argmin(sub, axis=1)
    covered = np.isfinite(sub[np.arange(cost.shape[0]), best])
    assignment[covered] = open_sites[best[covered]]
    return assignment


def greedy_cover(covers: np.ndarray, existing: np.ndarray) -> np.ndarray:
    """Greedy set cover: open the site covering most uncovered points until all are covered.

    Parameters
    ----------
    covers : numpy.ndarray
        ``(n, m)`` boolean coverage matrix; every row must have a ``True``.
    existing : numpy.ndarray
        Columns that are open from the start.

    Returns
    -------
    numpy.ndarray
        Sorted open columns (existing included) covering every row.
    """
    opened = np.zeros(covers.shape[1], dtype=bool)
    opened[existing] = True
    uncovered = ~covers[:, opened].any(axis=1)
    while uncovered.any():
        gains = covers[uncovered].sum(axis=0)
        gains[opened] = -1
        best = int(np.argmax(gains))
        opened[best] = True
        uncovered &= ~covers[:, best]
    return np.flatnonzero(opened)


def solve_lscp(
    cost: np.ndarray,
    covers: np.ndarray,
    existing: np.ndarray,
    time_limit: float,
    seed: int,
    t0: float,
) -> SitingResult:
    """Minimum number of open sites covering every demand point (set covering).

    Parameters
    ----------
    cost : numpy.ndarray
        ``(n, m)`` costs (used to assign each point to its nearest covering site).
    covers : numpy.ndarray
        ``(n, m)`` boolean, ``covers[j, i]`` iff ``cost[j, i] <= radius``; every
        row has at least one ``True`` (checked by the caller).
    existing : numpy.ndarray
        Columns that are open and stay open.
    time_limit, seed, t0
        Time limit in seconds, solver seed, and start time of the call.

    Returns
    -------
    SitingResult
        ``objective`` = number of open sites, existing ones included.
    """
    m = covers.shape[1]
    start = greedy_cover(covers, existing)
    pending = ~covers[:, existing].any(axis=1) if existing.size else np.ones(len(covers), bool)
    rows = np.unique(covers[pending], axis=0)  # identical rows give identical constraints
    solver = _mip.new_solver("lscp")
    y = [solver.BoolVar(f"y_{i}") for i in range(m)]
    for i in existing:
        y[int(i)].SetLb(1.0)
    for row in rows:
        solver.Add(solver.Sum([y[i] for i in np.flatnonzero(row)]) >= 1)
    solver.Minimize(solver.Sum(y))
    in_start = set(start.tolist())
    hint = (y, [1.0 if i in in_start else 0.0 for i in range(m)])
    remaining = max(time_limit - (time.perf_counter() - t0), 0.05)
    out = _mip.solve(solver, remaining, seed=seed, hint=hint, what="LSCP")
    open_sites = np.array([i for i in range(m) if y[i].solution_value() > 0.5], dtype=np.intp)
    return _finish(cost, covers, open_sites, out, existing, t0, "set covering MIP (SCIP)")


def solve_mclp(
    cost: np.ndarray,
    covers: np.ndarray,
    weights: np.ndarray,
    p: int,
    existing: np.ndarray,
    capacity: np.ndarray | None,
    time_limit: float,
    seed: int,
    t0: float,
) -> CoverageResult:
    """Maximal covering location, optionally capacitated (single sourcing).

    Parameters
    ----------
    cost, covers, existing, time_limit, seed, t0
        As for :func:`solve_lscp` (rows of ``covers`` may be empty here).
    weights : numpy.ndarray
        ``(n,)`` demand weights.
    p : int
        Total number of open sites, existing ones included.
    capacity : numpy.ndarray or None
        ``(m,)`` capacities, or None for the uncapacitated model.

    Returns
    -------
    CoverageResult
        ``objective`` = ``covered_weight``.
    """
    n, m = covers.shape
    solver = _mip.new_solver("mclp")
    y = [solver.BoolVar(f"y_{i}") for i in range(m)]
    for i in existing:
        y[int(i)].SetLb(1.0)
    count = solver.RowConstraint(float(p), float(p), "p")
    for var in y:
        count.SetCoefficient(var, 1.0)
    objective = solver.Objective()
    reachable = np.flatnonzero(covers.any(axis=1))
    pairs: dict[tuple[int, int], object] = {}
    if capacity is None:
        already = covers[:, existing].any(axis=1) if existing.size else np.zeros(n, bool)
        objective.SetOffset(float(weights[already].sum()))
        open_rows = reachable[~already[reachable]]
        # demand points reached by the same sites are one point with their summed weight
        patterns, group = np.unique(covers[open_rows], axis=0, return_inverse=True)
        merged = np.bincount(group.ravel(), weights=weights[open_rows], minlength=len(patterns))
        for k, pattern in enumerate(patterns):
            u = solver.NumVar(0.0, 1.0, f"u_{k}")  # u_k <= sum of the sites reaching it
            row = solver.RowConstraint(-solver.infinity(), 0.0, f"reach_{k}")
            row.SetCoefficient(u, 1.0)
            for i in np.flatnonzero(pattern):
                row.SetCoefficient(y[i], -1.0)
            objective.SetCoefficient(u, float(merged[k]))
    else:
        for j in reachable:
            for i in np.flatnonzero(covers[j]):
                pairs[(int(j), int(i))] = solver.BoolVar(f"x_{j}_{i}")
        by_site: dict[int, list] = {}
        for j in reachable:
            row = [pairs[(int(j), int(i))] for i in np.flatnonzero(covers[j])]
            solver.Add(solver.Sum(row) <= 1)
        for (j, i), x in pairs.items():
            solver.Add(x <= y[i])
            objective.SetCoefficient(x, float(weights[j]))
            by_site.setdefault(i, []).append((j, x))
        for i, items in by_site.items():
            load = solver.Sum([float(weights[j]) * x for j, x in items])
            solver.Add(load <= float(capacity[i]) * y[i])
    objective.SetMaximization()
    remaining = max(time_limit - (time.perf_counter() - t0), 0.05)
    out = _mip.solve(solver, remaining, seed=seed, what="MCLP")
    open_sites = np.array([i for i in range(m) if y[i].solution_value() > 0.5], dtype=np.intp)
    if capacity is None:
        assignment = _nearest_covering(cost, covers, open_sites)
    else:
        assignment = np.full(n, -1, dtype=np.int64)
        for (j, i), x in pairs.items():
            if x.solution_value() > 0.5:
                assignment[j] = i
    covered = float(weights[assignment >= 0].sum())
    gap = 0.0 if out.status == "OPTIMAL" else relative_gap(covered, out.bound)
    return CoverageResult(
        open_sites=tuple(int(i) for i in open_sites),
        assignment=assignment,
        objective=covered,
        bound=float(max(out.bound, covered)),
        gap=gap,
        optimal=out.status == "OPTIMAL",
        status=out.status,
        seconds=time.perf_counter() - t0,
        existing=tuple(int(i) for i in existing),
        method="maximal covering MIP (SCIP)"
        + (", single-sourcing capacities" if capacity is not None else ""),
        covered_weight=covered,
        total_weight=float(weights.sum()),
        n_uncovered=int((assignment < 0).sum()),
    )


def _finish(
    cost: np.ndarray,
    covers: np.ndarray,
    open_sites: np.ndarray,
    out: _mip.MipOutcome,
    existing: np.ndarray,
    t0: float,
    method: str,
) -> SitingResult:
    objective = float(open_sites.size)
    gap = 0.0 if out.status == "OPTIMAL" else relative_gap(objective, out.bound)
    return SitingResult(
        open_sites=tuple(int(i) for i in open_sites),
        assignment=_nearest_covering(cost, covers, open_sites),
        objective=objective,
        bound=float(min(out.bound, objective)),
        gap=gap,
        optimal=out.status == "OPTIMAL",
        status=out.status,
        seconds=time.perf_counter() - t0,
        existing=tuple(int(i) for i in existing),
        method=method,
    )
