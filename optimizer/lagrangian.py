"""Lagrangian lower bound and variable fixing for the uncapacitated p-median.

Relaxing the assignment constraints ``sum_i x_ji = 1`` of the classical
formulation with multipliers ``lambda_j`` gives (Beasley 1985, 1993)

.. math::

    L(\\lambda) = \\sum_j \\lambda_j + \\min_{y \\in Y} \\sum_i \\rho_i(\\lambda) y_i,
    \\qquad \\rho_i(\\lambda) = \\sum_j \\min(0, w_j c_{ji} - \\lambda_j),

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

from optimizer.heuristics import interchange_p_median, p_median_value

__all__ = ["LagrangeOutcome", "lagrangian_p_median"]


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
    """

    lower_bound: float
    upper_bound: float
    best_open: np.ndarray
    fixed_closed: np.ndarray
    fixed_open: np.ndarray
    iterations: int

    @property
    def proven(self) -> bool:
        """True when the lower bound meets the upper bound."""
        return self.lower_bound >= self.upper_bound - 1e-9 * max(1.0, abs(self.upper_bound))


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
        Seconds after which the optimisation stops.
    heuristic_every : int, default 20
        Run the interchange heuristic from the Lagrangian open set every this
        many iterations (when that set changed).

    Returns
    -------
    LagrangeOutcome
        Bounds, best solution and fixings.
    """
    t_end = time.perf_counter() + time_budget
    n, m = cost.shape
    wc = weights[:, None] * cost
    integral = bool(np.all(wc == np.round(wc)) and np.abs(wc).sum() < 2**52)
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
    best_lb = -math.inf
    theta, stall, tried = 2.0, 0, set()
    iteration = 0
    for iteration in range(1, max_iter + 1):  # noqa: B007 - reported below
        reduced = np.minimum(wc - lam[:, None], 0.0)
        rho = reduced.sum(axis=0)
        order = free[np.argsort(rho[free], kind="stable")]
        chosen = order[:p_free]
        value = lam.sum() + rho[is_existing].sum() + rho[chosen].sum()
        if value > best_lb:
            best_lb, stall = value, 0
        else:
            stall += 1
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

        # Lagrangian heuristic.
        if iteration % heuristic_every == 1:
            key = chosen.tobytes()
            if key not in tried:
                tried.add(key)
                start_set = np.concatenate([np.flatnonzero(is_existing), chosen])
                candidate = interchange_p_median(cost, weights, start_set, existing)
                cand_value = p_median_value(cost, weights, candidate)
                if cand_value < ub - tol:
                    # Fixings derived with the old UB stay valid for a smaller one.
                    ub, best_open = cand_value, candidate

        rounded = math.ceil(best_lb - 1e-6) if integral else best_lb
        if rounded >= ub - tol or theta < 1e-3 or time.perf_counter() > t_end:
            break
        sub = 1.0 - (reduced[:, np.concatenate([np.flatnonzero(is_existing), chosen])] < 0).sum(
            axis=1
        )
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
    )
