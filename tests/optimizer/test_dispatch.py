"""Dispatch: optimality (brute force, OR-Library assign100), hard constraints, reasons."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

from optimizer.dispatch import (
    CandidatePairs,
    Incidents,
    Workers,
    dispatch,
    nearest_pairs,
    unassigned_penalty,
)
from optimizer.errors import SpecificationError

ASSIGN = Path(__file__).resolve().parents[2].parent / "shared" / "benchmarks" / "assign"


def random_case(seed: int, n: int, m: int, skills: int = 2, grids: int = 3):
    rng = np.random.default_rng(seed)
    incidents = Incidents(
        skill=rng.integers(-1, skills, n),
        priority=rng.integers(1, 4, n),
        hours_to_deadline=rng.choice([-1.0, 1.0, 24.0], n),
        grid=rng.integers(0, grids, n),
        handling_seconds=rng.integers(0, 3, n) * 600.0,
    )
    workers = Workers(
        skills=rng.random((m, skills)) < 0.6,
        open_cases=rng.integers(0, 3, m),
        max_open_cases=rng.integers(1, 4, m),
        shift_hours=rng.choice([0.0, 0.5, 1.0, 4.0], m),
        grids=rng.random((m, grids)) < 0.5,
        travel_budget=rng.integers(0, 6, m) * 600.0,
    )
    travel = rng.integers(60, 5400, (n, m)).astype(float)
    travel[rng.random((n, m)) < 0.15] = np.inf
    return incidents, workers, travel


def plan_cost(inc, wrk, travel, plan, penalty, outside_penalty=900.0, max_travel=np.inf, **side):
    """Cost of a plan (worker per incident, -1 = none), or None if it breaks a constraint."""
    total = 0.0
    load = np.zeros(len(wrk), dtype=int)
    spent = np.zeros(len(wrk))
    busy = np.zeros(len(wrk))
    for i, w in enumerate(plan):
        if w < 0:
            total += penalty[i]
            continue
        t = travel[i, w]
        s = inc.skill[i]
        if not np.isfinite(t) or t > max_travel or (s >= 0 and not wrk.skills[w, s]):
            return None
        if t + inc.handling_seconds[i] > 3600 * wrk.shift_hours[w]:
            return None
        load[w] += 1
        spent[w] += t
        busy[w] += t + inc.handling_seconds[i]
        outside = not (0 <= inc.grid[i] < wrk.grids.shape[1] and wrk.grids[w, inc.grid[i]])
        total += t + outside_penalty * outside
    if (load > wrk.remaining).any():
        return None
    if side.get("budget") and (spent > wrk.travel_budget + 1e-9).any():
        return None
    if side.get("cumulative") and (busy > 3600 * wrk.shift_hours + 1e-9).any():
        return None
    return total


def brute_force(inc, wrk, travel, penalty, **side):
    best = np.inf
    for plan in itertools.product(range(-1, len(wrk)), repeat=len(inc)):
        cost = plan_cost(inc, wrk, travel, plan, penalty, **side)
        if cost is not None and cost < best:
            best = cost
    return best


def without_budget(workers: Workers) -> Workers:
    return Workers(
        workers.skills,
        workers.open_cases,
        workers.max_open_cases,
        workers.shift_hours,
        workers.grids,
    )


@pytest.mark.parametrize("seed", range(12))
def test_min_cost_flow_is_optimal_by_enumeration(seed):
    inc, wrk, travel = random_case(seed, n=5, m=3)
    wrk = without_budget(wrk)
    result = dispatch(inc, wrk, travel)
    assert result.method == "min_cost_flow" and result.optimal
    assert result.objective == pytest.approx(brute_force(inc, wrk, travel, result.penalty))
    assert result.cost.sum() == pytest.approx(result.objective)
    assert plan_cost(inc, wrk, travel, result.worker, result.penalty) == pytest.approx(
        result.objective
    )


@pytest.mark.parametrize("seed", range(6))
def test_cp_sat_side_constraints_are_optimal_by_enumeration(seed):
    inc, wrk, travel = random_case(100 + seed, n=5, m=3)
    result = dispatch(inc, wrk, travel, cumulative_shift=True, num_workers=2, time_limit=10)
    assert result.method == "cp_sat" and result.optimal
    best = brute_force(inc, wrk, travel, result.penalty, budget=True, cumulative=True)
    assert result.objective == pytest.approx(best)
    cost = plan_cost(inc, wrk, travel, result.worker, result.penalty, budget=True, cumulative=True)
    assert cost == pytest.approx(result.objective)


def read_assign(path: Path) -> np.ndarray:
    tokens = path.read_text().split()
    n = int(tokens[0])
    return np.array(tokens[1 : 1 + n * n], dtype=float).reshape(n, n)


def test_or_library_assign100_matches_linear_sum_assignment():
    cost = read_assign(ASSIGN / "assign100.txt")
    n = cost.shape[0]
    rows, cols = linear_sum_assignment(cost)
    assert cost[rows, cols].sum() == 305
    incidents = Incidents(
        skill=np.full(n, -1), priority=np.ones(n), hours_to_deadline=np.ones(n), grid=np.zeros(n)
    )
    workers = Workers(
        skills=np.ones((n, 1), bool),
        open_cases=np.zeros(n),
        max_open_cases=np.ones(n),
        shift_hours=np.full(n, 8.0),
        grids=np.ones((n, 1), bool),
    )
    result = dispatch(incidents, workers, cost, penalty=np.full(n, 1e6))
    assert result.optimal and result.objective == 305
    assert sorted(result.worker.tolist()) == list(range(n))
    assert cost[np.arange(n), result.worker].sum() == 305


case_settings = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@case_settings
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 25),
    m=st.integers(1, 8),
    sparse=st.booleans(),
    side=st.sampled_from(["none", "budget", "cumulative"]),
)
def test_hard_constraints_never_violated(seed, n, m, sparse, side):
    inc, wrk, travel = random_case(seed, n, m, skills=3)
    if side != "budget":
        wrk = without_budget(wrk)
    if sparse:
        i, w = np.nonzero(np.isfinite(travel))
        keep = np.random.default_rng(seed).random(i.size) < 0.7
        given = CandidatePairs(i[keep], w[keep], travel[i[keep], w[keep]])
        dense = np.full_like(travel, np.inf)
        dense[i[keep], w[keep]] = travel[i[keep], w[keep]]
    else:
        given, dense = travel, travel
    result = dispatch(
        inc,
        wrk,
        given,
        max_travel_seconds=4000,
        cumulative_shift=side == "cumulative",
        num_workers=2,
        time_limit=5,
    )
    cost = plan_cost(
        inc,
        wrk,
        dense,
        result.worker,
        result.penalty,
        max_travel=4000,
        budget=side == "budget",
        cumulative=side == "cumulative",
    )
    assert cost is not None  # skills, range, shift, capacity (and side rows) all hold
    assert cost == pytest.approx(result.objective)
    assert np.array_equal(
        result.new_cases, np.bincount(result.worker[result.worker >= 0], minlength=m)
    )
    assert all((r == "") == (w >= 0) for r, w in zip(result.reason, result.worker, strict=True))


def hand_case():
    """Six incidents, three workers; each unassigned incident has one clear reason."""
    incidents = Incidents(
        skill=[2, 0, 1, 0, 0, 0],
        priority=[1, 3, 3, 1, 3, 1],
        hours_to_deadline=[5, 5, 5, 5, 5, -2],
        grid=[0, 0, 0, 1, 1, 1],
    )
    workers = Workers(
        skills=[[1, 0, 0], [1, 1, 0], [1, 1, 0]],  # nobody has skill 2
        open_cases=[0, 3, 0],
        max_open_cases=[1, 3, 5],  # worker 1 is full
        shift_hours=[8.0, 8.0, 0.1],  # worker 2: 6 minutes left
        grids=[[0], [0], [1]],
    )
    inf = np.inf
    travel = np.array(
        [
            [100, 100, 100],  # 0: skill 2 -> no_qualified_worker
            [inf, 100, 100],  # 1: only w1 (full) and w2 (short shift: 100 s fits) -> w2
            [inf, inf, 1000],  # 2: skill 1, only w2 in range, trip 1000 s > 360 s -> outside_shift
            [300, inf, inf],  # 3: urgent, w0 in range -> w0
            [2000, inf, inf],  # 4: w0 also wanted, taken by 3 -> all_at_capacity
            [inf, inf, inf],  # 5: nobody in range -> no_worker_in_range
        ]
    )
    return incidents, workers, travel


def test_reasons_on_hand_made_case():
    incidents, workers, travel = hand_case()
    result = dispatch(incidents, workers, travel)
    assert result.worker.tolist() == [-1, 2, -1, 0, -1, -1]
    assert result.reason == (
        "no_qualified_worker",
        "",
        "outside_shift",
        "",
        "all_at_capacity",
        "no_worker_in_range",
    )
    assert result.outside_grid.tolist() == [False, True, False, True, False, False]
    assert result.travel_cost[[1, 3]].tolist() == [100, 300]
    assert result.outside_grid_cost[[1, 3]].tolist() == [900, 900]
    assert result.reason_counts()["all_at_capacity"] == 1


def test_reason_penalty_cheaper_and_worker_at_capacity_before_dispatch():
    incidents = Incidents(skill=[0, 0], priority=[3, 3], hours_to_deadline=[24, 24], grid=[0, 0])
    workers = Workers(
        skills=[[1], [1]],
        open_cases=[0, 2],
        max_open_cases=[5, 2],
        shift_hours=[8, 8],
        grids=[[0], [0]],
    )
    travel = np.array([[7200.0, 10.0], [100.0, 10.0]])  # penalty for normal, not due = 3600
    result = dispatch(incidents, workers, travel)
    assert result.worker.tolist() == [-1, 0]
    assert result.reason[0] == "penalty_cheaper"
    only_full = dispatch(incidents, workers, np.array([[np.inf, 10.0], [100.0, 10.0]]))
    assert only_full.reason[0] == "all_at_capacity"


def test_reason_over_travel_budget():
    incidents = Incidents(skill=[0, 0], priority=[1, 3], hours_to_deadline=[5, 5], grid=[0, 0])
    workers = Workers(
        skills=[[1]],
        open_cases=[0],
        max_open_cases=[5],
        shift_hours=[8],
        grids=[[0]],
        travel_budget=[1000.0],
    )
    result = dispatch(incidents, workers, np.array([[800.0], [600.0]]), num_workers=2)
    assert result.method == "cp_sat" and result.optimal
    assert result.worker.tolist() == [0, -1]  # the urgent one wins the budget
    assert result.reason == ("", "over_travel_budget")


def test_penalty_schedule():
    pen = unassigned_penalty([1, 2, 3, 3, 3], [10, 10, 10, 1, -1])
    assert pen.tolist() == [14400, 7200, 3600, 7200, 14400]


def test_deterministic():
    inc, wrk, travel = random_case(7, n=25, m=6)
    first = dispatch(inc, without_budget(wrk), travel)
    again = dispatch(inc, without_budget(wrk), travel)
    assert np.array_equal(first.worker, again.worker) and first.reason == again.reason
    cp_a = dispatch(inc, wrk, travel, num_workers=1)
    cp_b = dispatch(inc, wrk, travel, num_workers=1)
    assert cp_a.optimal and cp_a.objective == cp_b.objective
    assert np.array_equal(cp_a.worker, cp_b.worker)
    cp_c = dispatch(inc, wrk, travel, num_workers=2)
    assert cp_c.objective == cp_a.objective


def test_min_cost_flow_and_cp_sat_agree_without_side_constraints():
    inc, wrk, travel = random_case(11, n=30, m=6)
    loose = Workers(
        wrk.skills,
        wrk.open_cases,
        wrk.max_open_cases,
        wrk.shift_hours,
        wrk.grids,
        travel_budget=np.full(len(wrk), 1e7),
    )
    flow = dispatch(inc, without_budget(wrk), travel)
    sat = dispatch(inc, loose, travel, num_workers=2)
    assert sat.method == "cp_sat" and sat.optimal
    assert sat.objective == pytest.approx(flow.objective)


def brute_nearest(inc_xy, wrk_xy, ok, k):
    d = np.sqrt(((inc_xy[:, None] - wrk_xy[None]) ** 2).sum(-1))
    out = set()
    for i in range(len(inc_xy)):
        cand = [w for w in np.argsort(d[i], kind="stable") if ok[i, w]][:k]
        out |= {(i, int(w)) for w in cand}
    return out


@pytest.mark.parametrize("form", ["skills", "matrix"])
def test_nearest_pairs_keeps_k_nearest_qualified(form):
    rng = np.random.default_rng(5)
    inc_xy, wrk_xy = rng.uniform(0, 5000, (60, 2)), rng.uniform(0, 5000, (40, 2))
    skill = rng.integers(-1, 3, 60)
    skills = rng.random((40, 3)) < 0.3
    available = rng.random(40) < 0.8
    ok = ((skill[:, None] < 0) | skills[:, np.maximum(skill, 0)].T) & available[None, :]
    qualified = (skill, skills) if form == "skills" else ok
    pairs = nearest_pairs(inc_xy, wrk_xy, qualified, 4, available=available, speed=5.0, detour=1.0)
    got = set(zip(pairs.incident.tolist(), pairs.worker.tolist(), strict=True))
    assert got == brute_nearest(inc_xy, wrk_xy, ok, 4)
    d = np.hypot(*(inc_xy[pairs.incident] - wrk_xy[pairs.worker]).T)
    np.testing.assert_allclose(pairs.seconds, d / 5.0)


def test_sparse_pairs_equal_dense_when_complete():
    inc, wrk, travel = random_case(3, n=20, m=5)
    wrk = without_budget(wrk)
    i, w = np.nonzero(np.isfinite(travel))
    sparse = dispatch(inc, wrk, CandidatePairs(i, w, travel[i, w]))
    dense = dispatch(inc, wrk, travel)
    assert sparse.objective == dense.objective
    assert np.array_equal(sparse.worker, dense.worker)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t[:, :1], "travel must have shape"),
        (lambda t: np.where(t > 3000, np.nan, t), "no NaN"),
        (lambda t: -t, "non-negative"),
    ],
)
def test_bad_travel_raises(change, message):
    inc, wrk, travel = random_case(1, n=4, m=3)
    with pytest.raises(SpecificationError, match=message):
        dispatch(inc, without_budget(wrk), change(travel))


def test_bad_inputs_raise():
    with pytest.raises(SpecificationError, match="priority"):
        Incidents(skill=[0], priority=[4], hours_to_deadline=[1], grid=[0])
    with pytest.raises(SpecificationError, match="needs skill 3"):
        inc = Incidents(skill=[3], priority=[1], hours_to_deadline=[1], grid=[0])
        wrk = Workers(
            skills=[[1]], open_cases=[0], max_open_cases=[1], shift_hours=[1], grids=[[0]]
        )
        dispatch(inc, wrk, np.array([[1.0]]))
    with pytest.raises(SpecificationError, match="candidate pair index"):
        dispatch(
            inc := Incidents(skill=[0], priority=[1], hours_to_deadline=[1], grid=[0]),
            Workers(skills=[[1]], open_cases=[0], max_open_cases=[1], shift_hours=[1], grids=[[0]]),
            CandidatePairs([0], [1], [5.0]),
        )
    assert len(inc) == 1
