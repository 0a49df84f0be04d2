r"""Lagrangian lower bound and variable fixing for the uncapacitated p-median.

Relaxing the assignment constraints ``sum_i x_ji = 1`` of the classical
formulation with multipliers ``lambda_j`` gives (Beasley 1985, 1993)

.. math::

    L(\lambda) = \sum_j \lambda_j + \min_{y \in Y} \sum_i \rho_i(\lambda) y_i,
    \qquad \rho_i(\lambda) = \sum_j \min(0, w_j c_{ji} - \lambda_j),

where ``Y`` = {``p`` open sites, existing ones included}: the inner problem
opens the existing sites and the ``p - |E|`` other sites with the smallest
``rho_i``. ``L`` is a lower bound for every ``lambda``; its maximum equals the
LP-relaxation bound. It is maximised by subgradient optimisation, and each
iterate is used twice: (1) its open set seeds an interchange local search (a
"Lagrangian heuristic") that can improve the upper bound ``UB``; (2) *fixing*:
forcing a closed site ``i`` open raises the bound to
``L - rho_last + rho_i``, and forcing an open one closed to
``L - rho_i + rho_first_out``; if that reaches ``UB`` no solution better than
the incumbent has the site in that state, so it can be fixed for the exact
model.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from optimizer.heuristics import LocalSearchSchedule, interchange_p_median, p_median_value

__all__ = [
    "LagrangeOutcome",
    "SortedCosts",
    "integral_objective",
    "lagrangian_p_median",
    "radius_caps",
]


def integral_objective(wc: np.ndarray) -> bool:
    """Tell whether every weighted cost is an integer (and sums stay exact in float64).

    Then every objective value is an integer, so a bound ``L`` proves
    ``ceil(L)`` and only solutions at least 1 better than the incumbent matter.

    Parameters
    ----------
    wc : numpy.ndarray
        Weighted costs ``w_j c_ji``.

    Returns
    -------
    bool
        Whether the objective is integral.
    """
    return bool(np.all(wc == np.round(wc)) and np.abs(wc).sum() < 2**52)


@dataclass(frozen=True)
class LagrangeOutcome:
    """Bounds, best solution and fixings found by :func:`lagrangian_p_median`.

    Attributes
    ----------
    lower_bound : float
        Best Lagrangian bound (rounded up if the objective is integral).
    upper_bound : float
        Value of ``best_open``.
    best_open : numpy.ndarray
        Open columns of the best solution found.
    fixed_closed : numpy.ndarray
        Boolean mask: columns that are closed in every solution better than
        ``upper_bound``.
    fixed_open : numpy.ndarray
        Boolean mask: columns that are open in every solution better than
        ``upper_bound`` (existing sites included).
    iterations : int
        Subgradient iterations run.
    multipliers : numpy.ndarray
        The multipliers ``lambda`` of the best bound (a warm start for
        :mod:`optimizer.branch_and_bound`).
    """

    lower_bound: float
    upper_bound: float
    best_open: np.ndarray
    fixed_closed: np.ndarray
    fixed_open: np.ndarray
    iterations: int
    multipliers: np.ndarray

    @property
    def proven(self) -> bool:
        """True when the lower bound meets the upper bound."""
        return self.lower_bound >= self.upper_bound - 1e-9 * max(1.0, abs(self.upper_bound))


class SortedCosts:
    """Each demand point's weighted costs, sorted, for fast Lagrangian evaluation.

    Only the entries with ``w_j c_ji < lambda_j`` contribute to ``rho``; they
    are a prefix of each sorted row, so the work per evaluation is
    ``O(n * width)`` with ``width`` the longest such prefix (adapted on the
    fly) instead of ``O(n * m)``.

    Parameters
    ----------
    wc : numpy.ndarray
        ``(n, m)`` weighted costs ``w_j c_ji``.
    """

    def __init__(self, wc: np.ndarray) -> None:
        self.columns = wc.shape[1]
        self.idx = np.argsort(wc, axis=1, kind="stable")
        self.vals = np.take_along_axis(wc, self.idx, axis=1)
        self.width = min(8, self.columns)

    def evaluate(self, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return ``rho``, the negative-part matrix of the prefix and its column ids.

        Parameters
        ----------
        lam : numpy.ndarray
            ``(n,)`` multipliers.

        Returns
        -------
        tuple of numpy.ndarray
            ``rho`` (``(m,)``), ``min(0, w_j c_ji - lambda_j)`` on the sorted
            prefix (``(n, width)``) and the matching column indices.
        """
        vals, width = self.vals, self.width
        while width < self.columns and (vals[:, width - 1] < lam).any():
            width = min(self.columns, 2 * width)
        while width > 8 and (vals[:, width // 2 - 1] >= lam).all():
            width //= 2
        self.width = width
        reduced = np.minimum(vals[:, :width] - lam[:, None], 0.0)
        idx = self.idx[:, :width]
        rho = np.bincount(idx.ravel(), weights=reduced.ravel(), minlength=self.columns)
        return rho, reduced, idx

    @staticmethod
    def subgradient(reduced: np.ndarray, idx: np.ndarray, is_open: np.ndarray) -> np.ndarray:
        """Return ``1 - #{open i with w_j c_ji < lambda_j}`` per demand point."""
        return 1.0 - ((reduced < 0) & is_open[idx]).sum(axis=1)


def lagrangian_p_median(
    cost: np.ndarray,
    weights: np.ndarray,
    p: int,
    start: np.ndarray,
    existing: np.ndarray,
    *,
    max_iter: int = 3000,
    time_budget: float = 10.0,
    heuristic_every: int = 20,
) -> LagrangeOutcome:
    """Subgradient optimisation of the Lagrangian bound, with heuristic and fixing.

    Parameters
    ----------
    cost : numpy.ndarray
        ``(n, m)`` demand x candidate costs.
    weights : numpy.ndarray
        ``(n,)`` non-negative demand weights.
    p : int
        Total number of open sites, existing ones included.
    start : numpy.ndarray
        Open columns of an initial feasible solution (the incumbent).
    existing : numpy.ndarray
        Columns that must stay open.
    max_iter : int, default 3000
        Iteration cap.
    time_budget : float, default 10.0
        Seconds after which the optimisation (local searches included) stops;
        the only reading of the clock, so that the iterates do not depend on
        the speed of the machine.
    heuristic_every : int, default 20
        Run the interchange heuristic from the Lagrangian open set every this
        many iterations when that set is new, the interval doubling after each
        run that does not improve the incumbent (see
        :class:`optimizer.heuristics.LocalSearchSchedule`); 0 disables it.

    Returns
    -------
    LagrangeOutcome
        Bounds, best solution and fixings.
    """
    t_end = time.perf_counter() + time_budget
    m = cost.shape[1]
    wc = weights[:, None] * cost
    sorted_costs = SortedCosts(wc)
    integral = integral_objective(wc)
    # A solution must beat UB by at least `step` to matter.
    step = 1.0 - 1e-6 if integral else 0.0

    is_existing = np.zeros(m, dtype=bool)
    is_existing[existing] = True
    free = np.flatnonzero(~is_existing)
    p_free = p - int(is_existing.sum())

    best_open = np.sort(np.asarray(start, dtype=np.intp))
    ub = p_median_value(cost, weights, best_open)
    fixed_closed = np.zeros(m, dtype=bool)
    fixed_open = is_existing.copy()
    tol = 1e-9 * max(1.0, abs(ub))

    lam = weights * cost[:, best_open].min(axis=1)
    best_lb, best_lam = -math.inf, lam
    theta, stall, tried = 2.0, 0, set()
    schedule = LocalSearchSchedule(heuristic_every)
    iteration = 0
    for iteration in range(1, max_iter + 1):
        rho, reduced, idx = sorted_costs.evaluate(lam)
        order = free[np.argsort(rho[free], kind="stable")]
        chosen = order[:p_free]
        value = lam.sum() + rho[is_existing].sum() + rho[chosen].sum()
        # Gains within rounding noise count as stalls: on degenerate
        # multipliers the bound can creep by 1e-12 per step for ever.
        stall = 0 if value > best_lb + tol else stall + 1
        if value > best_lb:
            best_lb, best_lam = value, lam
        if stall >= 30:
            theta, stall = theta / 2.0, 0

        # Fixing (valid for every lambda, so fixings accumulate).
        threshold = ub - step - tol
        if p_free > 0:
            last_in = rho[chosen[-1]]
            first_out = rho[order[p_free]] if order.size > p_free else math.inf
            in_chosen = np.zeros(m, dtype=bool)
            in_chosen[chosen] = True
            closed = ~in_chosen & ~is_existing
            fixed_closed |= closed & (value - last_in + rho > threshold)
            fixed_open |= in_chosen & (value - rho + first_out > threshold)

        # Lagrangian heuristic, from round `heuristic_every` on (the first
        # multipliers are uninformed), on open sets not tried yet.
        if schedule.due(iteration) and (key := chosen.tobytes()) not in tried:
            tried.add(key)
            start_set = np.concatenate([np.flatnonzero(is_existing), chosen])
            candidate = interchange_p_median(cost, weights, start_set, existing, deadline=t_end)
            cand_value = p_median_value(cost, weights, candidate)
            schedule.ran(iteration, cand_value < ub - tol)
            if cand_value < ub - tol:
                # Fixings derived with the old UB stay valid for a smaller one.
                ub, best_open = cand_value, candidate

        rounded = math.ceil(best_lb - 1e-6) if integral else best_lb
        if rounded >= ub - tol or theta < 1e-3 or time.perf_counter() > t_end:
            break
        opened = is_existing.copy()
        opened[chosen] = True
        sub = sorted_costs.subgradient(reduced, idx, opened)
        norm = float(sub @ sub)
        if norm == 0.0:
            # The relaxed solution is feasible, hence optimal: L equals its value.
            relaxed = np.concatenate([np.flatnonzero(is_existing), chosen])
            relaxed_value = p_median_value(cost, weights, relaxed)
            if relaxed_value < ub - tol:
                ub, best_open = relaxed_value, relaxed
            break
        lam = lam + theta * (ub - value) / norm * sub

    lower = math.ceil(best_lb - 1e-6) if integral else best_lb
    lower = min(lower, ub)
    return LagrangeOutcome(
        lower_bound=float(lower),
        upper_bound=float(ub),
        best_open=np.sort(best_open),
        fixed_closed=fixed_closed,
        fixed_open=fixed_open,
        iterations=iteration,
        multipliers=best_lam,
    )


def radius_caps(
    cost: np.ndarray,
    weights: np.ndarray,
    p: int,
    root: LagrangeOutcome,
    deadline: float = math.inf,
) -> np.ndarray:
    """Per demand point, a cost within which every solution better than the incumbent has a site.

    Requiring that demand ``j`` has no open site within ``D`` closes the sites
    ``N_j(D)``; with the root multipliers, the Lagrangian bound of that
    restricted problem is ``sum(lambda) + sum_F rho + (the q smallest rho among
    the free sites outside N_j(D))``. The smallest ``D`` where it exceeds the
    incumbent (by the integrality step) caps ``j``'s distance.

    Parameters
    ----------
    cost : numpy.ndarray
        ``(n, m)`` demand x candidate costs.
    weights : numpy.ndarray
        ``(n,)`` demand weights.
    p : int
        Total number of open sites, existing ones included.
    root : LagrangeOutcome
        Multipliers, fixings and incumbent value of the root.
    deadline : float, default inf
        ``time.perf_counter()`` value after which the demand points not yet
        examined keep the (always valid) cap ``inf``.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` caps (``inf`` where none is proven).
    """
    wc = weights[:, None] * cost
    lam, fixed_open, fixed_closed = root.multipliers, root.fixed_open, root.fixed_closed
    ub = root.upper_bound
    step = 1.0 - 1e-6 if integral_objective(wc) else 0.0
    threshold = ub - step - 1e-9 * max(1.0, abs(ub))
    n, m = cost.shape
    caps = np.full(n, np.inf)
    if root.proven:
        return caps
    rho = np.minimum(wc - lam[:, None], 0.0).sum(axis=0)
    free = np.flatnonzero(~fixed_open & ~fixed_closed)
    q = p - int(fixed_open.sum())
    if q <= 0 or free.size <= q:
        return caps
    base = lam.sum() + rho[fixed_open].sum()
    by_rho = free[np.argsort(rho[free], kind="stable")]
    rank = np.empty(m, dtype=np.intp)
    rank[by_rho] = np.arange(by_rho.size)
    ranked_rho = rho[by_rho]
    initial = base + ranked_rho[:q].sum()
    for j in range(n):
        if time.perf_counter() > deadline:
            break
        order = free[np.argsort(cost[j, free], kind="stable")]
        removed = np.zeros(by_rho.size, dtype=bool)
        value, boundary = initial, q  # ranks < boundary not removed = the q chosen
        for t, site in enumerate(order):
            r = rank[site]
            removed[r] = True
            if r < boundary:
                # Replace it by the next not-removed site in rho order.
                while boundary < by_rho.size and removed[boundary]:
                    boundary += 1
                if boundary == by_rho.size:
                    # Fewer than q free sites remain: no solution keeps this level empty.
                    caps[j] = cost[j, site]
                    break
                value += ranked_rho[boundary] - ranked_rho[r]
                boundary += 1
            last_of_level = t + 1 == order.size or cost[j, order[t + 1]] > cost[j, site]
            if last_of_level and value > threshold:
                caps[j] = cost[j, site]
                break
    return caps
