r"""Lagrangian branch and bound for the uncapacitated p-median (Beasley 1985 style).

Each node restricts the open set (``must`` sites open, ``never`` sites closed)
and is bounded by the Lagrangian relaxation of the assignment constraints
(see :mod:`optimizer.lagrangian`) restricted to those sites:

.. math::

    L(\lambda) = \sum_j \lambda_j + \sum_{i \in M} \rho_i(\lambda)
        + \min_{S \subseteq F, |S| = p - |M|} \sum_{i \in S} \rho_i(\lambda),

maximised by a short subgradient run warm-started from the parent's
multipliers. Inside a node the same fixing tests as at the root shrink ``F``;
the relaxed open set of every node is itself a feasible solution and updates
the incumbent. A node is pruned once its bound reaches the incumbent (with an
integral objective: exceeds ``incumbent - 1``). Nodes are explored best-first;
the node branches on the free site of its relaxed solution that serves the
most demand points (child 1: site closed, child 2: site open).
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass

import numpy as np

from optimizer.heuristics import LocalSearchSchedule, interchange_p_median, p_median_value
from optimizer.lagrangian import LagrangeOutcome, SortedCosts, integral_objective

__all__ = ["BranchAndBoundOutcome", "lagrangian_branch_and_bound"]

#: Subgradient iterations and initial step factor for a child node (warm-started
#: from its parent's multipliers).
CHILD_ITERATIONS = 60
CHILD_STEP = 2.0
#: Consecutive non-improving iterations before the step factor is halved.
STALL_LIMIT = 8


@dataclass(frozen=True)
class BranchAndBoundOutcome:
    """Result of :func:`lagrangian_branch_and_bound`.

    Attributes
    ----------
    upper_bound : float
        Value of ``best_open``.
    best_open : numpy.ndarray
        Open columns of the best solution found.
    lower_bound : float
        Proven lower bound (equal to ``upper_bound`` when ``complete``).
    nodes : int
        Nodes processed.
    complete : bool
        True when the tree was exhausted: ``best_open`` is optimal.
    """

    upper_bound: float
    best_open: np.ndarray
    lower_bound: float
    nodes: int
    complete: bool


@dataclass
class _Node:
    bound: float
    lam: np.ndarray
    must: np.ndarray
    never: np.ndarray
    chosen: np.ndarray


class _Bounder:
    """Subgradient optimisation of the node bound over the active columns."""

    def __init__(self, wc: np.ndarray, p: int, step: float) -> None:
        self.m, self.p, self.step = wc.shape[1], p, step
        self.costs = SortedCosts(wc)

    def pruned(self, bound: float, ub: float) -> bool:
        return bound > ub - self.step - 1e-9 * max(1.0, abs(ub))

    def run(
        self,
        lam: np.ndarray,
        must: np.ndarray,
        never: np.ndarray,
        ub: float,
        iterations: int,
        theta: float,
        deadline: float,
    ) -> _Node | None:
        m = self.m
        must, never = must.copy(), never.copy()
        best: _Node | None = None
        stall = 0
        tol = 1e-9 * max(1.0, abs(ub))
        for _ in range(iterations):
            q = self.p - int(must.sum())
            free = np.flatnonzero(~must & ~never)
            if q < 0 or free.size < q:
                return None  # no feasible open set in this node
            rho, reduced, idx = self.costs.evaluate(lam)
            order = free[np.argsort(rho[free], kind="stable")]
            chosen = order[:q]
            value = lam.sum() + rho[must].sum() + rho[chosen].sum()
            # Gains within rounding noise count as stalls (see the root).
            stall = 0 if best is None or value > best.bound + tol else stall + 1
            if best is None or value > best.bound:
                opened = np.concatenate([np.flatnonzero(must), chosen])
                best = _Node(value, lam, must.copy(), never.copy(), opened)
            if stall >= STALL_LIMIT:
                theta, stall = theta / 2.0, 0
            if self.pruned(best.bound, ub) or theta < 1e-3 or time.perf_counter() > deadline:
                break
            if q > 0:  # fixing, valid in the whole subtree
                threshold = ub - self.step - 1e-9 * max(1.0, abs(ub))
                first_out = rho[order[q]] if order.size > q else math.inf
                in_chosen = np.zeros(m, dtype=bool)
                in_chosen[chosen] = True
                never |= ~in_chosen & ~must & (value - rho[chosen[-1]] + rho > threshold)
                must |= in_chosen & (value - rho + first_out > threshold)
                best.must, best.never = must.copy(), never.copy()
            opened = must.copy()
            opened[chosen] = True
            sub = self.costs.subgradient(reduced, idx, opened)
            norm = float(sub @ sub)
            if norm == 0.0:
                break
            lam = lam + theta * max(ub - value, 1e-9) / norm * sub
        return best


def lagrangian_branch_and_bound(
    cost: np.ndarray,
    weights: np.ndarray,
    p: int,
    root: LagrangeOutcome,
    existing: np.ndarray,
    *,
    time_budget: float,
    node_limit: int = 200_000,
) -> BranchAndBoundOutcome:
    """Close the gap left at the root by Lagrangian branch and bound.

    Parameters
    ----------
    cost : numpy.ndarray
        ``(n, m)`` demand x candidate costs.
    weights : numpy.ndarray
        ``(n,)`` non-negative demand weights.
    p : int
        Total number of open sites, existing ones included.
    root : LagrangeOutcome
        Root bound, incumbent, fixings and multipliers; sites fixed open there
        (existing ones included) stay open, sites fixed closed are dropped.
    existing : numpy.ndarray
        Columns that must stay open (kept open by the local search too).
    time_budget : float
        Seconds after which the search stops (``complete=False``); node
        bounding and local searches stop then too. Everything else depends on
        iteration and node counts only.
    node_limit : int, default 200000
        Maximum number of nodes processed.

    Returns
    -------
    BranchAndBoundOutcome
        Incumbent, proven lower bound and whether the search finished.
    """
    t_end = time.perf_counter() + time_budget
    active = np.flatnonzero(~root.fixed_closed)
    wc = weights[:, None] * cost[:, active]
    integral = integral_objective(wc)
    bounder = _Bounder(wc, p, 1.0 - 1e-6 if integral else 0.0)
    ub, best_open = root.upper_bound, root.best_open

    def consider(sites: np.ndarray) -> bool:
        nonlocal ub, best_open
        value = p_median_value(cost, weights, sites)
        improved = value < ub - 1e-9 * max(1.0, abs(ub))
        if improved:
            ub, best_open = value, np.sort(sites)
        return improved

    start = bounder.run(
        root.multipliers,
        root.fixed_open[active],
        np.zeros(active.size, dtype=bool),
        ub,
        400,
        1.0,
        t_end,
    )
    heap: list[tuple[float, int, _Node]] = []
    if start is not None:
        heap.append((start.bound, 0, start))
    counter, nodes = 1, 0
    schedule = LocalSearchSchedule(5, first=1)
    while heap:
        if time.perf_counter() > t_end or nodes >= node_limit:
            lower = min(entry[0] for entry in heap)
            lower = math.ceil(lower - 1e-6) if integral else lower
            return BranchAndBoundOutcome(ub, best_open, float(min(lower, ub)), nodes, False)
        bound, _, node = heapq.heappop(heap)
        if bounder.pruned(bound, ub):
            continue
        nodes += 1
        consider(active[node.chosen])
        # Lagrangian heuristic: local search from the relaxed open set, from
        # every fifth node on, less often while it finds nothing.
        if schedule.due(nodes):
            local = interchange_p_median(
                cost, weights, active[node.chosen], existing, deadline=t_end
            )
            schedule.ran(nodes, consider(local))
        free_chosen = node.chosen[~node.must[node.chosen]]
        if free_chosen.size == 0:
            continue  # the node's only solution is its forced set, evaluated above
        served = (wc[:, free_chosen] - node.lam[:, None] < 0).sum(axis=0)
        site = free_chosen[int(np.argmax(served))]
        for open_it in (False, True):
            must, never = node.must.copy(), node.never.copy()
            (must if open_it else never)[site] = True
            child = bounder.run(node.lam, must, never, ub, CHILD_ITERATIONS, CHILD_STEP, t_end)
            if child is not None and not bounder.pruned(child.bound, ub):
                heapq.heappush(heap, (child.bound, counter, child))
                counter += 1
    return BranchAndBoundOutcome(ub, best_open, ub, nodes, True)
