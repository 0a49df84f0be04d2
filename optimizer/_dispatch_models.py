"""Solver back ends of :mod:`optimizer.dispatch`: min-cost flow and CP-SAT.

Both take the feasible arcs (incident, worker, integer cost) already filtered
for skills, range, shift and capacity, and return the chosen arc per incident.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from ortools.graph.python import min_cost_flow
from ortools.sat.python import cp_model

from optimizer.errors import NoSolutionError


@dataclass(frozen=True)
class Arcs:
    """Feasible incident-worker arcs of a dispatch model (all int64 / int arrays)."""

    incident: np.ndarray
    worker: np.ndarray
    cost: np.ndarray
    n: int
    m: int
    penalty: np.ndarray
    capacity: np.ndarray


@dataclass(frozen=True)
class Solved:
    """Chosen arc per incident (-1 = unassigned) and the solver's figures."""

    chosen: np.ndarray
    objective: int
    bound: int
    status: str


def solve_flow(arcs: Arcs) -> Solved:
    """Solve the plain dispatch model exactly as a min-cost flow.

    Network: incident nodes ``0..n-1`` (supply 1 each), worker nodes
    ``n..n+m-1``, sink ``n+m`` (demand ``n``). Arcs incident -> worker
    (capacity 1, cost ``c_iw``), worker -> sink (capacity = remaining cases,
    cost 0), incident -> sink (capacity 1, cost = the unassigned penalty).
    The penalty arcs make every instance feasible; integral capacities give an
    integral optimal flow, so the LP optimum is the assignment optimum.
    """
    n, m = arcs.n, arcs.m
    sink = n + m
    used_workers = np.unique(arcs.worker)
    tails = np.concatenate([arcs.incident, n + used_workers, np.arange(n)])
    heads = np.concatenate(
        [n + arcs.worker, np.full(used_workers.size, sink), np.full(n, sink)]
    ).astype(np.int64)
    caps = np.concatenate(
        [np.ones(arcs.incident.size), arcs.capacity[used_workers], np.ones(n)]
    ).astype(np.int64)
    costs = np.concatenate([arcs.cost, np.zeros(used_workers.size), arcs.penalty]).astype(np.int64)
    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(
        tails.astype(np.int32), heads.astype(np.int32), caps, costs
    )
    supplies = np.zeros(n + m + 1, dtype=np.int64)
    supplies[:n] = 1
    supplies[sink] = -n
    flow.set_nodes_supplies(np.arange(n + m + 1, dtype=np.int32), supplies)
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise NoSolutionError(f"dispatch: min-cost flow returned status {status}")
    used = flow.flows(np.arange(arcs.incident.size, dtype=np.int32)) > 0
    chosen = np.full(n, -1, dtype=np.int64)
    chosen[arcs.incident[used]] = np.flatnonzero(used)
    total = int(flow.optimal_cost())
    return Solved(chosen, total, total, "OPTIMAL")


def solve_cpsat(
    arcs: Arcs,
    load: list[tuple[str, np.ndarray, np.ndarray]],
    *,
    relaxed: Solved,
    time_limit: float,
    num_workers: int,
    seed: int,
) -> Solved:
    r"""Solve the dispatch model with per-worker knapsack side constraints (CP-SAT).

    .. math::

        \min \sum_{(i,w)} c_{iw} x_{iw} + \sum_i P_i u_i \quad\text{s.t.}\quad
        \sum_w x_{iw} + u_i = 1,\;
        \sum_i x_{iw} \le K_w,\;
        \sum_i a^r_{iw} x_{iw} \le B^r_w \;(r \in \text{load})

    ``load`` holds, per side constraint ``r``, the integer use ``a^r`` of each
    arc and the per-worker budget ``B^r`` (e.g. travel seconds, or travel plus
    handling seconds against the remaining shift). ``relaxed`` is the min-cost
    flow optimum without the side constraints: a lower bound, and, repaired to
    feasibility, the complete hint the search starts from.
    """
    n, m = arcs.n, arcs.m
    model = cp_model.CpModel()
    x = [model.new_bool_var(f"x{e}") for e in range(arcs.incident.size)]
    u = [model.new_bool_var(f"u{i}") for i in range(n)]
    by_incident: list[list[int]] = [[] for _ in range(n)]
    for e, i in enumerate(arcs.incident.tolist()):
        by_incident[i].append(e)
    for i in range(n):
        model.add_exactly_one([x[e] for e in by_incident[i]] + [u[i]])
    order = np.argsort(arcs.worker, kind="stable")
    starts = np.searchsorted(arcs.worker[order], np.arange(m + 1))
    for w in range(m):
        edges = order[starts[w] : starts[w + 1]].tolist()
        if not edges:
            continue
        if len(edges) > arcs.capacity[w]:
            model.add(sum(x[e] for e in edges) <= int(arcs.capacity[w]))
        for _, use, budget in load:
            if int(use[edges].sum()) > int(budget[w]):
                model.add(
                    cp_model.LinearExpr.weighted_sum([x[e] for e in edges], use[edges].tolist())
                    <= int(budget[w])
                )
    model.minimize(
        cp_model.LinearExpr.weighted_sum(x + u, arcs.cost.tolist() + arcs.penalty.tolist())
    )
    hint = _repair(arcs, load, relaxed.chosen)
    on = np.zeros(len(x), dtype=bool)
    on[hint[hint >= 0]] = True
    for var, value in zip(x, on.tolist(), strict=True):
        model.add_hint(var, value)
    for var, e in zip(u, hint.tolist(), strict=True):
        model.add_hint(var, e < 0)

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(time_limit, 0.01)
    solver.parameters.num_workers = num_workers
    solver.parameters.random_seed = seed
    t0 = time.perf_counter()
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        raise NoSolutionError(
            f"dispatch: CP-SAT status {solver.status_name(status)} after "
            f"{time.perf_counter() - t0:.2f} s"
        )
    values = np.array([solver.boolean_value(var) for var in x], dtype=bool)
    chosen = np.full(n, -1, dtype=np.int64)
    chosen[arcs.incident[values]] = np.flatnonzero(values)
    objective = round(solver.objective_value)
    bound = max(round(solver.best_objective_bound), relaxed.objective)
    name = "OPTIMAL" if status == cp_model.OPTIMAL or bound >= objective else "FEASIBLE"
    return Solved(chosen, objective, min(bound, objective), name)


def _repair(
    arcs: Arcs, load: list[tuple[str, np.ndarray, np.ndarray]], chosen: np.ndarray
) -> np.ndarray:
    """Make the relaxed plan feasible, then fill the room that is left greedily.

    Each worker drops its least valuable cases (penalty saved minus cost)
    until its side constraints hold; then unassigned incidents, most
    expensive penalty first, take their cheapest arc that still fits and costs
    less than the penalty.
    """
    chosen = chosen.copy()
    owner = np.full(chosen.size, -1, dtype=np.int64)
    owner[chosen >= 0] = arcs.worker[chosen[chosen >= 0]]
    for w in np.unique(owner[owner >= 0]).tolist():
        mine = np.flatnonzero(owner == w)
        edges = chosen[mine]
        value = arcs.penalty[mine] - arcs.cost[edges]
        keep = np.ones(mine.size, dtype=bool)
        for j in np.argsort(value, kind="stable"):
            if all(int(use[edges[keep]].sum()) <= int(budget[w]) for _, use, budget in load):
                break
            keep[j] = False
        chosen[mine[~keep]] = -1

    used = chosen[chosen >= 0]
    free = arcs.capacity - np.bincount(arcs.worker[used], minlength=arcs.m)
    slack = [
        budget - np.bincount(arcs.worker[used], use[used], minlength=arcs.m)
        for _, use, budget in load
    ]
    starts = np.searchsorted(arcs.incident, np.arange(arcs.n + 1))
    for i in np.argsort(-arcs.penalty, kind="stable").tolist():
        if chosen[i] >= 0:
            continue
        edges = np.arange(starts[i], starts[i + 1])
        edges = edges[np.argsort(arcs.cost[edges], kind="stable")]
        for e in edges.tolist():
            w = arcs.worker[e]
            if arcs.cost[e] >= arcs.penalty[i]:
                break
            if free[w] > 0 and all(
                room[w] >= use[e] for room, (_, use, _) in zip(slack, load, strict=True)
            ):
                chosen[i] = e
                free[w] -= 1
                for room, (_, use, _) in zip(slack, load, strict=True):
                    room[w] -= use[e]
                break
    return chosen
