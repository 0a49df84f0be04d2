r"""p-center solver: a search over the distinct costs with set-covering checks.

See :func:`optimizer.siting.p_center` for the model. The optimal radius is one of
the distinct costs :math:`D^0 < \dots < D^K` of the matrix, and "some ``p`` sites
(existing ones included) are all within ``r`` of every demand point" is
monotone in ``r``: it holds iff the location set covering problem (LSCP) at
radius ``r`` needs at most ``p`` sites. The solver keeps an index interval
``[lo, hi]`` of :math:`D` with every radius below :math:`D^{lo}` proven
infeasible and a solution of radius :math:`D^{hi}` at hand, and bisects it:

1. ``lo`` starts at :math:`\max_j \min_i c_{ji}` (every point needs some site),
   raised by a *packing* bound (more than ``p`` demand points whose sets of
   sites within ``r`` are pairwise disjoint need more than ``p`` sites) at a
   radius found by bisection.
2. ``hi`` starts at the better of the greedy p-center and of a greedy set cover
   with at most ``p`` sites at a radius as small as bisection finds.
3. Each probe ``r`` is decided by the cheap tests first (greedy cover with at
   most ``p`` sites: feasible; packing bound above ``p``: infeasible), then by
   the LSCP MIP (:func:`optimizer.coverage.solve_lscp`) after removing demand
   rows and candidate columns that dominance makes redundant. A feasible
   cover is completed to ``p`` sites greedily and ``hi`` drops to its actual
   radius.

A probe the time limit leaves undecided ends the search: the result is the best
solution, with :math:`D^{lo}` (the smallest cost not proven infeasible) as its
bound.
"""

from __future__ import annotations

import time

import numpy as np

from optimizer.coverage import greedy_cover, solve_lscp
from optimizer.errors import NoSolutionError
from optimizer.results import SitingResult, uncapacitated_result

__all__ = ["greedy_p_center", "solve_p_center"]

#: Largest number of rows (or columns) for the pairwise dominance tests: their
#: ``rows x rows`` (``columns x columns``) products would grow too large beyond.
_MAX_DOMINANCE = 4000


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


def _packing_bound(covers: np.ndarray, limit: int) -> int:
    """Greedy count of rows whose covering sets are pairwise disjoint, stopped above ``limit``.

    Each such row needs a site of its own, so the count bounds the LSCP optimum
    from below. Rows with the fewest covering sites are taken first.
    """
    order = np.argsort(covers.sum(axis=1), kind="stable")
    used = np.zeros(covers.shape[1], dtype=bool)
    count = 0
    for j in order:
        row = covers[j]
        if not (row & used).any():
            used |= row
            count += 1
            if count > limit:
                break
    return count


def _subsets(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``out[k, l]`` iff the ``True`` set of row ``a[k]`` is contained in that of row ``b[l]``."""
    inter = a.astype(np.float32) @ b.astype(np.float32).T  # exact: counts stay below 2**24
    return inter >= a.sum(axis=1)[:, None] - 0.5


def _reduce(covers: np.ndarray, existing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of an LSCP that dominance leaves relevant.

    A row whose covering set contains another row's is implied by it; a column
    whose covered rows are a subset of another column's (ties: the later one)
    can be replaced by it in any cover. Existing columns are never dropped,
    rows they cover are. Repeated until nothing changes.

    Returns
    -------
    tuple of numpy.ndarray
        Indices of the kept rows, and a boolean mask of the kept columns.
    """
    cols = np.ones(covers.shape[1], dtype=bool)
    cols[existing] = False
    rows = np.arange(covers.shape[0])
    if existing.size:
        rows = rows[~covers[:, existing].any(axis=1)]
    while True:
        _, first = np.unique(covers[np.ix_(rows, cols)], axis=0, return_index=True)
        changed = first.size < rows.size
        rows = rows[np.sort(first)]
        columns = np.flatnonzero(cols)
        if columns.size <= _MAX_DOMINANCE:
            sub = covers[np.ix_(rows, columns)].T
            inside = _subsets(sub, sub)  # inside[a, b]: column a's rows within column b's
            np.fill_diagonal(inside, False)
            later = np.arange(columns.size)[:, None] > np.arange(columns.size)[None, :]
            dominated = (inside & (~inside.T | later)).any(axis=1)  # ties: keep the first
            cols[columns[dominated]] = False
            changed |= bool(dominated.any())
        if rows.size <= _MAX_DOMINANCE:
            sub = covers[np.ix_(rows, cols)]
            inside = _subsets(sub, sub)  # inside[k, j]: row k's sites within row j's
            np.fill_diagonal(inside, False)
            earlier = np.arange(rows.size)[:, None] < np.arange(rows.size)[None, :]
            implied = (inside & (~inside.T | earlier)).any(axis=0)
            rows = rows[~implied]
            changed |= bool(implied.any())
        if not changed:
            break
    cols[existing] = True
    return rows, cols


def _check(
    cost: np.ndarray,
    radius: float,
    p: int,
    existing: np.ndarray,
    deadline: float,
    seed: int,
) -> tuple[bool | None, np.ndarray, bool]:
    """Decide whether at most ``p`` sites can serve every demand point within ``radius``.

    Returns
    -------
    tuple
        ``(verdict, sites, used_mip)``: ``True`` with a cover of at most ``p``
        sites, ``False`` when proven impossible, ``None`` when the time limit
        left it undecided.
    """
    covers = cost <= radius
    cover = greedy_cover(covers, existing)
    if cover.size <= p:
        return True, cover, False
    pending = ~covers[:, existing].any(axis=1) if existing.size else np.ones(len(covers), bool)
    if existing.size + _packing_bound(covers[pending], p - existing.size) > p:
        return False, cover, False
    if time.perf_counter() >= deadline:
        return None, cover, False
    rows, cols = _reduce(covers, existing)
    reduced = covers[rows] & cols
    start = time.perf_counter()
    if start >= deadline:
        return None, cover, False
    try:
        out = solve_lscp(cost[rows], reduced, existing, deadline - start, seed, start)
    except NoSolutionError:
        return None, cover, True
    if out.objective <= p:
        return True, np.asarray(out.open_sites, dtype=np.intp), True
    if out.bound > p + 1e-6:  # the optimum is an integer above its (fractional) bound
        return False, cover, True
    return None, cover, True


def _greedy_cover_radius(
    cost: np.ndarray, levels: np.ndarray, p: int, existing: np.ndarray
) -> np.ndarray | None:
    """Bisect ``levels`` for a small radius whose greedy cover has at most ``p`` sites."""
    lo, hi, best = 0, levels.size - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        cover = greedy_cover(cost <= levels[mid], existing)
        if cover.size <= p:
            best, hi = cover, mid - 1
        else:
            lo = mid + 1
    return best


def _packing_level(cost: np.ndarray, levels: np.ndarray, p: int, existing: np.ndarray) -> int:
    """Bisect ``levels`` for a high index whose radius the packing bound proves infeasible.

    Returns the index just above it (0 when no level was proven infeasible).
    """
    limit = p - existing.size
    served = cost[:, existing].min(axis=1) if existing.size else np.full(cost.shape[0], np.inf)
    lo, hi, first = 0, levels.size - 1, 0
    while lo <= hi:
        mid = (lo + hi) // 2
        pending = served > levels[mid]
        if _packing_bound(cost[pending] <= levels[mid], limit) > limit:
            first, lo = mid + 1, mid + 1
        else:
            hi = mid - 1
    return first


def solve_p_center(
    cost: np.ndarray,
    p: int,
    existing: np.ndarray,
    time_limit: float,
    seed: int,
    t0: float,
) -> SitingResult:
    """Minimise the largest demand-to-nearest-open-site cost by a search over radii.

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
        ``objective`` = the largest assigned cost; ``bound`` = the smallest
        distinct cost not proven infeasible.
    """
    deadline = t0 + time_limit
    best = greedy_p_center(cost, p, existing)
    upper = _radius(cost, best)
    lower = float(cost.min(axis=1).max())
    if p == existing.size:
        return uncapacitated_result(cost, best, upper, upper, existing, t0, "existing sites only")
    if upper <= lower:
        return uncapacitated_result(
            cost, best, upper, upper, existing, t0, "greedy (radius = lower bound)"
        )
    levels = np.unique(cost[(cost >= lower) & (cost <= upper)])
    cover = _greedy_cover_radius(cost, levels, p, existing)
    if cover is not None:
        sites = greedy_p_center(cost, p, cover)
        if _radius(cost, sites) < upper:
            best, upper = sites, _radius(cost, sites)
    lo = _packing_level(cost, levels, p, existing)
    hi = int(np.searchsorted(levels, upper))
    probes = mips = 0
    while lo < hi:
        mid = (lo + hi) // 2
        verdict, sites, used_mip = _check(cost, float(levels[mid]), p, existing, deadline, seed)
        probes += 1
        mips += used_mip
        if verdict is None:
            break
        if verdict:  # the cover, completed to p sites, has radius <= levels[mid]
            sites = greedy_p_center(cost, p, sites)
            if _radius(cost, sites) < upper:
                best, upper = sites, _radius(cost, sites)
            hi = min(mid, int(np.searchsorted(levels, upper)))
        else:
            lo = mid + 1
    method = (
        f"radius search over {levels.size} costs: {probes} checks, {mips} set-covering MIPs (SCIP)"
    )
    return uncapacitated_result(cost, best, upper, float(levels[lo]), existing, t0, method)
