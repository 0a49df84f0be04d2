"""Fast p-median heuristics: greedy construction and vertex substitution.

Both work on a dense ``(demand, candidate)`` cost matrix with numpy only. They
are used as warm starts and upper bounds for the exact models in
:mod:`optimizer.pmedian`, and are exposed for callers who only need a good
solution quickly.
"""

from __future__ import annotations

import math
import time

import numpy as np

__all__ = [
    "LocalSearchSchedule",
    "greedy_p_median",
    "interchange_p_median",
    "p_median_heuristic",
    "p_median_value",
]

_EPS = 1e-9


def p_median_value(cost: np.ndarray, weights: np.ndarray, open_sites: np.ndarray) -> float:
    """Return ``sum_j w_j min_{i in open} c_ji``, the p-median objective.

    Parameters
    ----------
    cost : numpy.ndarray
        ``(n, m)`` demand x candidate costs.
    weights : numpy.ndarray
        ``(n,)`` demand weights.
    open_sites : numpy.ndarray
        Indices of the open candidate columns (at least one).

    Returns
    -------
    float
        The weighted sum of each demand point's distance to its closest open site.
    """
    return float(weights @ cost[:, np.asarray(open_sites, dtype=np.intp)].min(axis=1))


def greedy_p_median(
    cost: np.ndarray,
    weights: np.ndarray,
    p: int,
    existing: np.ndarray | None = None,
    deadline: float = math.inf,
) -> np.ndarray:
    """Greedy construction: repeatedly open the site that lowers the objective most.

    Parameters
    ----------
    cost : numpy.ndarray
        ``(n, m)`` demand x candidate costs.
    weights : numpy.ndarray
        ``(n,)`` non-negative demand weights.
    p : int
        Total number of open sites, existing ones included.
    existing : numpy.ndarray, optional
        Candidate columns that are open from the start.
    deadline : float, default inf
        ``time.perf_counter()`` value after which the sites still missing are
        opened at once, in decreasing order of their current gain.

    Returns
    -------
    numpy.ndarray
        Sorted indices of the ``p`` open columns.
    """
    m = cost.shape[1]
    opened = np.zeros(m, dtype=bool)
    existing = np.zeros(0, dtype=np.intp) if existing is None else np.asarray(existing)
    opened[existing] = True
    if existing.size:
        d1 = cost[:, existing].min(axis=1)
    else:
        # First site: the best 1-median.
        first = int(np.argmin(weights @ cost))
        opened[first] = True
        d1 = cost[:, first].copy()
    while opened.sum() < p:
        gain = weights @ np.maximum(d1[:, None] - cost, 0.0)
        gain[opened] = -np.inf
        if time.perf_counter() > deadline:
            opened[np.argsort(-gain, kind="stable")[: p - int(opened.sum())]] = True
            break
        best = int(np.argmax(gain))
        opened[best] = True
        d1 = np.minimum(d1, cost[:, best])
    return np.flatnonzero(opened)


def interchange_p_median(
    cost: np.ndarray,
    weights: np.ndarray,
    open_sites: np.ndarray,
    fixed: np.ndarray | None = None,
    max_iter: int = 10_000,
    deadline: float = math.inf,
) -> np.ndarray:
    r"""Best-improvement vertex substitution (Teitz-Bart swaps), vectorised.

    Every iteration evaluates all swaps (open candidate ``i``, close site ``r``)
    at once: with ``d1_j``/``d2_j`` the distances of demand ``j`` to its closest
    and second-closest open site and ``r(j)`` its closest site,

    .. math::

        \Delta(i, r) = \sum_j w_j (\min(d1_j, c_{ji}) - d1_j)
            + \sum_{j: r(j) = r} w_j (\min(d2_j, c_{ji}) - \min(d1_j, c_{ji})),

    where the second sum is one matrix product with the assignment indicator.
    The best improving swap is applied until none improves.

    Parameters
    ----------
    cost : numpy.ndarray
        ``(n, m)`` demand x candidate costs.
    weights : numpy.ndarray
        ``(n,)`` non-negative demand weights.
    open_sites : numpy.ndarray
        Initial open columns.
    fixed : numpy.ndarray, optional
        Open columns that may never be closed (existing sites).
    max_iter : int, default 10000
        Safety cap on the number of swaps.
    deadline : float, default inf
        ``time.perf_counter()`` value after which no further swap is searched
        (the current, possibly not locally optimal, set is returned).

    Returns
    -------
    numpy.ndarray
        Sorted indices of the open columns of the local optimum.
    """
    m = cost.shape[1]
    is_open = np.zeros(m, dtype=bool)
    is_open[np.asarray(open_sites, dtype=np.intp)] = True
    closable = is_open.copy()
    if fixed is not None:
        closable[np.asarray(fixed, dtype=np.intp)] = False
    if not closable.any() or is_open.all():
        return np.flatnonzero(is_open)
    scale = max(1.0, float(np.abs(weights).sum() * np.abs(cost).max()))
    rows = np.arange(cost.shape[0])
    for _ in range(max_iter):
        if time.perf_counter() > deadline:
            break
        cols = np.flatnonzero(is_open)
        sub = cost[:, cols]
        nearest = np.argmin(sub, axis=1)
        d1 = sub[rows, nearest]
        if cols.size > 1:
            sub[rows, nearest] = np.inf  # sub is a copy (fancy indexing)
            d2 = sub.min(axis=1)
        else:
            d2 = np.full_like(d1, np.inf)
        low = np.minimum(cost, d1[:, None])
        gain = weights @ (low - d1[:, None])
        extra = weights[:, None] * (np.minimum(cost, d2[:, None]) - low)
        # Column r of `grouped`: sum of `extra` over the demand points whose nearest is r.
        by_site = np.argsort(nearest, kind="stable")
        sites, starts = np.unique(nearest[by_site], return_index=True)
        grouped = np.zeros((cost.shape[1], cols.size))
        grouped[:, sites] = np.add.reduceat(extra[by_site], starts, axis=0).T
        delta = gain[:, None] + grouped
        delta[is_open, :] = np.inf
        delta[:, ~closable[cols]] = np.inf
        flat = int(np.argmin(delta))
        i, r = divmod(flat, cols.size)
        if not delta[i, r] < -_EPS * scale:
            break
        is_open[cols[r]] = False
        closable[cols[r]] = False
        is_open[i] = True
        closable[i] = True
    return np.flatnonzero(is_open)


def p_median_heuristic(
    cost: np.ndarray,
    weights: np.ndarray,
    p: int,
    existing: np.ndarray | None = None,
    restarts: int = 0,
    seed: int = 0,
    deadline: float = math.inf,
) -> np.ndarray:
    """Greedy + interchange, optionally with random restarts; best solution kept.

    Parameters
    ----------
    cost : numpy.ndarray
        ``(n, m)`` demand x candidate costs.
    weights : numpy.ndarray
        ``(n,)`` non-negative demand weights.
    p : int
        Total number of open sites, existing ones included.
    existing : numpy.ndarray, optional
        Candidate columns that are already open (kept open).
    restarts : int, default 0
        Number of extra local searches from random starting sets.
    seed : int, default 0
        Seed of the random starts (results are deterministic for a seed).
    deadline : float, default inf
        ``time.perf_counter()`` value after which the construction and the
        local searches stop early (see :func:`greedy_p_median`).

    Returns
    -------
    numpy.ndarray
        Sorted indices of the ``p`` open columns of the best solution found.
    """
    existing = np.zeros(0, dtype=np.intp) if existing is None else np.asarray(existing)
    greedy = greedy_p_median(cost, weights, p, existing, deadline)
    best = interchange_p_median(cost, weights, greedy, existing, deadline=deadline)
    best_value = p_median_value(cost, weights, best)
    rng = np.random.default_rng(seed)
    free = np.setdiff1d(np.arange(cost.shape[1]), existing)
    for _ in range(restarts):
        start = np.concatenate([existing, rng.choice(free, p - existing.size, replace=False)])
        sol = interchange_p_median(cost, weights, start, existing, deadline=deadline)
        value = p_median_value(cost, weights, sol)
        if value < best_value - _EPS:
            best, best_value = sol, value
    return best


class LocalSearchSchedule:
    """Deterministic back-off for a local search run from relaxed solutions.

    The search is due every ``every`` rounds (first at round ``first``). A run
    that does not improve the incumbent doubles the interval (up to ``16 *
    every``), an improving one resets it: the search takes a bounded share of
    the work without any reading of the clock, so runs are repeatable.

    Parameters
    ----------
    every : int
        Shortest interval, in rounds (0 disables the search).
    first : int, optional
        First round at which the search is due (default ``every``).
    """

    def __init__(self, every: int, first: int | None = None) -> None:
        self.every = every
        self.interval = every
        self.next = every if first is None else first

    def due(self, round_: int) -> bool:
        """Tell whether the search should run at ``round_``."""
        return self.every > 0 and round_ >= self.next

    def ran(self, round_: int, improved: bool) -> None:
        """Record a run at ``round_`` and whether it improved the incumbent."""
        self.interval = self.every if improved else min(2 * self.interval, 16 * self.every)
        self.next = round_ + self.interval
