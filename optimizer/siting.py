r"""Facility-siting models: p-median, MCLP, LSCP and p-center.

Conventions shared by all functions
-----------------------------------
- ``cost`` is a ``(n, m)`` array, **rows = demand points, columns = candidate
  sites**; finite and non-negative (use a large finite value for pairs that
  cannot be served).
- ``existing`` lists candidate columns that are already open. They stay open,
  are never "re-chosen", and **count toward** ``p``: ``p`` is the total number
  of open sites, existing ones included (spopt's ``p_facilities``
  convention). ``p = len(existing)`` just evaluates the existing network.
- Invalid or provably infeasible specifications raise
  :class:`~optimizer.errors.SpecificationError` before any solver runs. A
  solve that reaches ``time_limit`` without any solution raises
  :class:`~optimizer.errors.NoSolutionError`; one that reaches it with a
  solution returns it with ``optimal=False`` and its ``bound`` and ``gap``.
- Solvers run with an explicit time limit, one thread and a fixed random seed
  (SCIP through OR-Tools' ``pywraplp``), so results are repeatable.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import numpy as np

from optimizer import _mip
from optimizer import _validate as check
from optimizer.coverage import solve_lscp, solve_mclp
from optimizer.errors import SpecificationError
from optimizer.pcenter import solve_p_center
from optimizer.pmedian import solve_capacitated, solve_uncapacitated
from optimizer.results import CoverageResult, SitingResult

__all__ = ["lscp", "mclp", "p_center", "p_median"]


def p_median(
    cost: np.ndarray,
    p: int,
    *,
    weights: np.ndarray | None = None,
    existing: Iterable[int] = (),
    capacity: np.ndarray | None = None,
    time_limit: float = 60.0,
    fill_existing: bool = False,
) -> SitingResult:
    r"""Open ``p`` sites minimising the total weighted cost to the nearest open site.

    Formulation (classical; ``E`` = existing sites)

    .. math::

        \min \sum_{j}\sum_{i} w_j c_{ji} x_{ji}
        \quad\text{s.t.}\quad \sum_i x_{ji} = 1\ \forall j,\quad
        x_{ji} \le y_i,\quad \sum_i y_i = p,\quad y_i = 1\ \forall i \in E,\quad
        x, y \in \{0, 1\}.

    Uncapacitated, it is solved exactly by: greedy + vertex substitution for an
    incumbent; subgradient optimisation of the Lagrangian relaxation of
    :math:`\sum_i x_{ji} = 1` (lower bound, Lagrangian heuristic, and fixing of
    sites that cannot change in any better solution); if the bound does not
    close the gap, a Lagrangian branch and bound on the unfixed sites (60 % of
    the time left); if that does not finish either, SCIP on the *radius
    formulation* (Elloumi 2010) restricted to the unfixed sites, with
    :math:`D_j^1 < \dots < D_j^{K_j}` the distinct costs of demand ``j``:

    .. math::

        \min \sum_j w_j \Big(D_j^1 + \sum_{k<K_j} (D_j^{k+1} - D_j^k)\, z_{jk}\Big)
        \quad\text{s.t.}\quad
        z_{jk} \ge 1 - \sum_{i: c_{ji} \le D_j^k} y_i,\quad
        \sum_i y_i = p,\quad y \in \{0,1\},\ z \ge 0,

    written as chained rows
    :math:`z_{jk} \ge z_{j,k-1} - \sum_{i: c_{ji} = D_j^k} y_i`
    (same LP bound, each :math:`y_i` once per demand point).

    Capacitated (``capacity`` given): single sourcing as spopt's capacitated
    p-median -- the model above with binary :math:`x` plus
    :math:`\sum_j w_j x_{ji} \le Q_i y_i`; with ``fill_existing=True`` also
    :math:`\sum_j w_j x_{ji} = Q_i` for :math:`i \in E` (spopt's
    ``fulfill_predefined_fac=True``). Solved directly with SCIP.

    Parameters
    ----------
    cost : array_like
        ``(n, m)`` demand x candidate costs.
    p : int
        Total number of open sites, **existing ones included**; ``1 <= p <= m``.
    weights : array_like, optional
        ``(n,)`` demand weights (default 1). With ``capacity`` they are also the
        demand quantities.
    existing : iterable of int, default ()
        Candidate columns already open.
    capacity : array_like, optional
        ``(m,)`` capacity per candidate, same units as ``weights``.
    time_limit : float, default 60.0
        Seconds for the whole call.
    fill_existing : bool, default False
        Capacitated only: each existing site must serve exactly its capacity.

    Returns
    -------
    SitingResult
        ``objective`` = :math:`\sum_j w_j c_{j, a(j)}`; divide by
        ``weights.sum()`` for spopt's ``mean_dist``.

    Raises
    ------
    SpecificationError
        On invalid input, ``p`` outside ``[max(1, len(existing)), m]``, total
        capacity of the best ``p`` sites below total demand, a demand weight
        above every capacity, existing sites whose capacities exceed the total
        demand with ``fill_existing``, or a capacitated model proven infeasible.
    NoSolutionError
        If the time limit is reached before any solution.
    """
    t0 = time.perf_counter()
    cost = check.cost_matrix(cost)
    n, m = cost.shape
    w = check.weight_vector(weights, n)
    sites = check.existing_sites(existing, m)
    p = check.site_count(p, m, sites.size)
    limit = check.time_limit_value(time_limit)
    if capacity is None:
        if fill_existing:
            raise SpecificationError("fill_existing needs capacity")
        return solve_uncapacitated(cost, w, p, sites, limit, _mip.DEFAULT_SEED, t0)
    cap = check.capacity_vector(capacity, m)
    _check_capacities(cap, w, p, sites, fill_existing)
    return solve_capacitated(cost, w, p, sites, cap, fill_existing, limit, _mip.DEFAULT_SEED, t0)


def _check_capacities(
    cap: np.ndarray, w: np.ndarray, p: int, sites: np.ndarray, fill_existing: bool
) -> None:
    demand = float(w.sum())
    others = np.delete(cap, sites)
    best = float(cap[sites].sum() + np.sort(others)[::-1][: p - sites.size].sum())
    if best < demand:
        raise SpecificationError(
            f"infeasible: total demand {demand:g} exceeds the largest possible capacity "
            f"{best:g} of {p} open sites (existing ones plus the largest others)"
        )
    if w.size and float(w.max()) > float(cap.max()):
        raise SpecificationError(
            f"infeasible: demand point {int(np.argmax(w))} has weight {float(w.max()):g}, "
            f"above every site capacity (max {float(cap.max()):g}); demand is single-sourced"
        )
    if fill_existing and float(cap[sites].sum()) > demand:
        raise SpecificationError(
            f"infeasible: the existing sites cannot be filled, their capacity "
            f"{float(cap[sites].sum()):g} exceeds the total demand {demand:g}"
        )


def mclp(
    cost: np.ndarray,
    radius: float,
    p: int,
    *,
    weights: np.ndarray | None = None,
    existing: Iterable[int] = (),
    capacity: np.ndarray | None = None,
    time_limit: float = 60.0,
) -> CoverageResult:
    r"""Maximal covering location: open ``p`` sites covering the most demand weight.

    A demand point ``j`` is covered by site ``i`` when :math:`c_{ji} \le r`
    (``radius``); :math:`N_j = \{i : c_{ji} \le r\}`.

    .. math::

        \max \sum_j w_j u_j \quad\text{s.t.}\quad u_j \le \sum_{i \in N_j} y_i,\quad
        \sum_i y_i = p,\quad y_i = 1\ \forall i \in E,\quad
        y \in \{0,1\},\ 0 \le u \le 1.

    Capacitated (``capacity`` given), each covered point is served whole by one
    open site within reach and each site serves at most its capacity
    (single sourcing; a point's weight is counted at most once):

    .. math::

        \max \sum_j \sum_{i \in N_j} w_j x_{ji} \quad\text{s.t.}\quad
        \sum_{i \in N_j} x_{ji} \le 1,\quad x_{ji} \le y_i,\quad
        \sum_j w_j x_{ji} \le Q_i y_i,\quad \sum_i y_i = p,\quad x, y \in \{0,1\}.

    Total capacity below total demand is allowed here: the uncovered rest is
    simply not counted.

    Parameters
    ----------
    cost : array_like
        ``(n, m)`` demand x candidate costs.
    radius : float
        Coverage radius (same units as ``cost``), inclusive.
    p : int
        Total number of open sites, **existing ones included**.
    weights : array_like, optional
        ``(n,)`` demand weights (default 1).
    existing : iterable of int, default ()
        Candidate columns already open.
    capacity : array_like, optional
        ``(m,)`` capacity per candidate, same units as ``weights``.
    time_limit : float, default 60.0
        Seconds for the whole call.

    Returns
    -------
    CoverageResult
        ``objective == covered_weight``; ``assignment`` is the nearest covering
        open site (uncapacitated) or the serving site (capacitated), ``-1`` if
        uncovered; ``n_uncovered`` counts those points.

    Raises
    ------
    SpecificationError
        On invalid input or ``p`` outside ``[max(1, len(existing)), m]``.
    NoSolutionError
        If the time limit is reached before any solution.
    """
    t0 = time.perf_counter()
    cost = check.cost_matrix(cost)
    n, m = cost.shape
    r = check.radius_value(radius)
    w = check.weight_vector(weights, n)
    sites = check.existing_sites(existing, m)
    p = check.site_count(p, m, sites.size)
    limit = check.time_limit_value(time_limit)
    cap = None if capacity is None else check.capacity_vector(capacity, m)
    return solve_mclp(cost, cost <= r, w, p, sites, cap, limit, _mip.DEFAULT_SEED, t0)


def lscp(
    cost: np.ndarray,
    radius: float,
    *,
    existing: Iterable[int] = (),
    time_limit: float = 60.0,
) -> SitingResult:
    r"""Location set covering: the fewest open sites covering every demand point.

    .. math::

        \min \sum_i y_i \quad\text{s.t.}\quad \sum_{i \in N_j} y_i \ge 1\ \forall j,\quad
        y_i = 1\ \forall i \in E,\quad y \in \{0, 1\},

    with :math:`N_j = \{i : c_{ji} \le r\}`. Identical rows are merged and a
    greedy cover is the warm start.

    Parameters
    ----------
    cost : array_like
        ``(n, m)`` demand x candidate costs.
    radius : float
        Coverage radius (same units as ``cost``), inclusive.
    existing : iterable of int, default ()
        Candidate columns already open (kept, counted in the objective).
    time_limit : float, default 60.0
        Seconds for the whole call.

    Returns
    -------
    SitingResult
        ``objective`` = number of open sites, existing ones included;
        ``assignment`` = nearest open site within the radius.

    Raises
    ------
    SpecificationError
        On invalid input, or when some demand point has no candidate within
        ``radius`` (the message lists them).
    NoSolutionError
        If the time limit is reached before any solution.
    """
    t0 = time.perf_counter()
    cost = check.cost_matrix(cost)
    m = cost.shape[1]
    r = check.radius_value(radius)
    sites = check.existing_sites(existing, m)
    limit = check.time_limit_value(time_limit)
    covers = cost <= r
    orphans = np.flatnonzero(~covers.any(axis=1))
    if orphans.size:
        shown = ", ".join(str(int(j)) for j in orphans[:10])
        more = "" if orphans.size <= 10 else f" (+{orphans.size - 10} more)"
        raise SpecificationError(
            f"infeasible: {orphans.size} demand point(s) have no candidate within radius "
            f"{r:g}: rows {shown}{more}"
        )
    return solve_lscp(cost, covers, sites, limit, _mip.DEFAULT_SEED, t0)


def p_center(
    cost: np.ndarray,
    p: int,
    *,
    existing: Iterable[int] = (),
    time_limit: float = 60.0,
) -> SitingResult:
    r"""Open ``p`` sites minimising the largest cost from a demand point to its nearest site.

    .. math::

        r^* = \min_{S \supseteq E,\ |S| = p}\ \max_j \min_{i \in S} c_{ji}.

    :math:`r^*` is one of the distinct costs :math:`D^0 < \dots < D^K` of the
    matrix, and the test "``p`` sites can serve every demand point within
    ``r``" is monotone in ``r``: it holds iff the location set covering problem
    (:func:`lscp`) at radius ``r`` needs at most ``p`` sites,

    .. math::

        L(r) = \min \sum_i y_i \quad\text{s.t.}\quad
        \sum_{i: c_{ji} \le r} y_i \ge 1\ \forall j,\quad
        y_i = 1\ \forall i \in E,\quad y \in \{0,1\};
        \qquad r^* = \min\{D^k : L(D^k) \le p\}.

    So :math:`r^*` is found by bisection over the :math:`D^k`, starting from

    - a lower bound: :math:`\max_j \min_i c_{ji}`, raised past a :math:`D^k`
      (found by bisection) at which more than ``p`` demand points have
      pairwise disjoint sets of sites within :math:`D^k` (a greedy packing;
      each of them needs its own site);
    - an upper bound: the better of the greedy p-center (open the site that
      lowers the radius most, ``p`` times) and a greedy set cover with at most
      ``p`` sites at a :math:`D^k` as small as bisection finds.

    Each probe is decided by the greedy cover (at most ``p`` sites: feasible)
    or that packing bound (above ``p``: infeasible) when they suffice, and
    otherwise by the LSCP MIP (SCIP), with demand rows whose covering set
    contains another row's and sites whose covered rows are a subset of
    another site's removed first. A feasible probe's cover is completed to
    ``p`` sites greedily, and the upper bound drops to its actual radius.

    At the time limit (a probe left undecided) the best solution found is
    returned with ``optimal=False``, ``bound`` = the smallest :math:`D^k` not
    proven infeasible, and ``gap = (objective - bound) / objective``. There is
    always a solution (the greedy one), so no ``NoSolutionError`` is raised.

    Parameters
    ----------
    cost : array_like
        ``(n, m)`` demand x candidate costs.
    p : int
        Total number of open sites, **existing ones included**.
    existing : iterable of int, default ()
        Candidate columns already open.
    time_limit : float, default 60.0
        Seconds for the whole call (each set-covering MIP gets the time left).

    Returns
    -------
    SitingResult
        ``objective`` = the largest demand-to-nearest-open-site cost;
        ``assignment`` = nearest open site.

    Raises
    ------
    SpecificationError
        On invalid input or ``p`` outside ``[max(1, len(existing)), m]``.
    """
    t0 = time.perf_counter()
    cost = check.cost_matrix(cost)
    m = cost.shape[1]
    sites = check.existing_sites(existing, m)
    p = check.site_count(p, m, sites.size)
    limit = check.time_limit_value(time_limit)
    return solve_p_center(cost, p, sites, limit, _mip.DEFAULT_SEED, t0)
