"""The building blocks of the exact p-median: radius MIP, Lagrangian fixing, swaps."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from optimizer import _mip, lagrangian, pmedian
from optimizer.branch_and_bound import lagrangian_branch_and_bound
from optimizer.heuristics import (
    LocalSearchSchedule,
    greedy_p_median,
    interchange_p_median,
    p_median_value,
)
from optimizer.instances import read_orlib_pmed
from optimizer.lagrangian import lagrangian_p_median, radius_caps
from tests.optimizer import brute_force as brute
from tests.optimizer.test_instances import PMED
from tests.optimizer.test_siting_brute_force import instance


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("integer", [True, False])
def test_radius_model_alone_matches_enumeration(seed, integer):
    """The chained radius formulation, over all sites, without any fixing."""
    cost, weights, _, existing, _ = instance(200 + seed, n=14, m=9, integer=integer)
    p = 3
    forced = np.array(sorted(existing[:2]), dtype=np.intp)
    free = np.setdiff1d(np.arange(9), forced)
    solver, y, _ = pmedian._radius_model(cost, weights, p, free, forced)
    out = _mip.solve(solver, 30.0)
    assert out.status == "OPTIMAL"
    assert out.objective == pytest.approx(brute.p_median(cost, p, weights, tuple(forced)))
    chosen = np.concatenate([forced, [i for i, v in y.items() if v.solution_value() > 0.5]])
    assert chosen.size == p
    assert p_median_value(cost, weights, chosen) == pytest.approx(out.objective)


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize(("max_iter", "heuristic_every"), [(60, 25), (12, 0)])
def test_lagrangian_bounds_and_fixings_are_valid(seed, max_iter, heuristic_every):
    """Fixings hold for every solution better than the incumbent (weak incumbents too)."""
    cost, weights, _, existing, rng = instance(300 + seed, n=16, m=10, integer=seed % 2 == 0)
    p = 4
    existing = np.array(existing[:1], dtype=np.intp)
    others = np.setdiff1d(np.arange(10), existing)
    start = np.concatenate([existing, rng.choice(others, p - existing.size, replace=False)])
    out = lagrangian_p_median(
        cost, weights, p, start, existing, max_iter=max_iter, heuristic_every=heuristic_every
    )
    optimum = brute.p_median(cost, p, weights, tuple(existing))
    assert out.lower_bound <= optimum + 1e-9 <= out.upper_bound + 2e-9
    assert p_median_value(cost, weights, out.best_open) == pytest.approx(out.upper_bound)
    assert out.fixed_open[existing].all()
    assert not (out.fixed_open & out.fixed_closed).any() or out.proven
    tol = 1e-9 * max(1.0, out.upper_bound)
    caps = radius_caps(cost, weights, p, out)
    better = 0
    for sites in brute.site_sets(10, p, tuple(existing)):
        if p_median_value(cost, weights, np.array(sites)) < out.upper_bound - tol:
            assert not out.fixed_closed[list(sites)].any()
            assert set(np.flatnonzero(out.fixed_open)) <= set(sites)
            assert (cost[:, list(sites)].min(axis=1) <= caps).all()
            better += 1
    if heuristic_every == 0:
        assert better > 0  # the random start is beaten: the check above was exercised


@pytest.mark.parametrize("seed", range(10))
def test_interchange_ends_in_a_swap_local_optimum(seed):
    cost, weights, _, existing, rng = instance(400 + seed, n=20, m=12, integer=False)
    p = 4
    fixed = np.array(existing[:1], dtype=np.intp)
    others = np.setdiff1d(np.arange(12), fixed)
    start = np.concatenate([fixed, rng.choice(others, p - fixed.size, replace=False)])
    result = interchange_p_median(cost, weights, start, fixed)
    assert result.size == p and set(fixed) <= set(result)
    value = p_median_value(cost, weights, result)
    assert value <= p_median_value(cost, weights, start) + 1e-9
    closed = np.setdiff1d(np.arange(12), result)
    for out_site, in_site in itertools.product(np.setdiff1d(result, fixed), closed):
        swapped = np.append(result[result != out_site], in_site)
        assert p_median_value(cost, weights, swapped) >= value - 1e-9


def test_lagrangian_fixings_with_a_greedy_incumbent():
    """Partial fixings (some sites fixed, better solutions still exist) stay valid."""
    exercised = capped = 0
    for seed in range(500, 530):
        cost, weights, _, existing, _ = instance(seed, n=30, m=14, integer=seed % 2 == 0)
        existing = np.array(existing[:1], dtype=np.intp)
        start = greedy_p_median(cost, weights, 4, existing)
        out = lagrangian_p_median(
            cost, weights, 4, start, existing, max_iter=300, heuristic_every=0
        )
        caps = radius_caps(cost, weights, 4, out)
        better = [
            sites
            for sites in brute.site_sets(14, 4, tuple(existing))
            if p_median_value(cost, weights, np.array(sites)) < out.upper_bound - 1e-9
        ]
        for sites in better:
            assert not out.fixed_closed[list(sites)].any()
            assert set(np.flatnonzero(out.fixed_open)) <= set(sites)
            assert (cost[:, list(sites)].min(axis=1) <= caps).all()
        fixed = int(out.fixed_closed.sum() + out.fixed_open.sum()) - existing.size
        exercised += bool(better) and fixed > 0
        capped += bool(better) and np.isfinite(caps).any()
    assert exercised >= 2 and capped >= 2


@pytest.mark.parametrize("seed", range(12))
def test_branch_and_bound_from_a_weak_root_reaches_the_optimum(seed):
    cost, weights, _, existing, _ = instance(600 + seed, n=30, m=14, integer=seed % 3 != 0)
    existing = np.array(existing[:1], dtype=np.intp)
    start = greedy_p_median(cost, weights, 4, existing)
    root = lagrangian_p_median(cost, weights, 4, start, existing, max_iter=5, heuristic_every=0)
    out = lagrangian_branch_and_bound(cost, weights, 4, root, existing, time_budget=30.0)
    optimum = brute.p_median(cost, 4, weights, tuple(existing))
    assert out.complete
    assert out.upper_bound == pytest.approx(optimum)
    assert out.lower_bound == pytest.approx(optimum)
    assert p_median_value(cost, weights, out.best_open) == pytest.approx(optimum)
    assert set(existing) <= set(out.best_open.tolist()) and out.best_open.size == 4


def test_branch_and_bound_on_random_costs_needs_branching():
    """Non-metric random costs leave real root gaps: the trees have to branch."""
    node_counts = []
    for seed in range(8):
        rng = np.random.default_rng(seed)
        cost = rng.integers(0, 100, size=(60, 22)).astype(float)
        if seed % 2:
            cost += rng.random(cost.shape)
        weights = rng.integers(1, 5, 60).astype(float)
        existing = np.array([int(rng.integers(0, 22))] if seed % 3 == 0 else [], dtype=np.intp)
        start = greedy_p_median(cost, weights, 5, existing)
        root = lagrangian_p_median(cost, weights, 5, start, existing, max_iter=5, heuristic_every=0)
        out = lagrangian_branch_and_bound(cost, weights, 5, root, existing, time_budget=30.0)
        assert out.complete
        assert out.upper_bound == pytest.approx(brute.p_median(cost, 5, weights, tuple(existing)))
        assert set(existing) <= set(out.best_open.tolist())
        node_counts.append(out.nodes)
    assert max(node_counts) >= 5 and sum(node_counts) >= 20  # branching was exercised


def test_branch_and_bound_out_of_time_keeps_a_valid_bound():
    cost, weights, _, _, _ = instance(650, n=40, m=20, integer=True)
    none = np.zeros(0, dtype=np.intp)
    start = greedy_p_median(cost, weights, 5, none)
    root = lagrangian_p_median(cost, weights, 5, start, none, max_iter=3, heuristic_every=0)
    out = lagrangian_branch_and_bound(cost, weights, 5, root, none, time_budget=0.0)
    assert not out.complete and out.nodes == 0
    assert out.lower_bound <= brute.p_median(cost, 5, weights) <= out.upper_bound


@pytest.mark.parametrize(("name", "optimum"), [("pmed2", 4093), ("pmed3", 4250)])
def test_radius_mip_fallback_proves_published_optima(name, optimum):
    """With no share for branch and bound, the radius MIP closes the root gap."""
    inst = read_orlib_pmed(PMED / f"{name}.txt")
    none = np.zeros(0, dtype=np.intp)
    result = pmedian.solve_uncapacitated(
        inst.cost, np.ones(inst.n), inst.p, none, 60.0, 0, time.perf_counter(), bnb_share=0.0
    )
    assert "radius MIP" in result.method
    assert result.objective == optimum and result.optimal and result.bound == optimum


def test_root_bound_stops_creeping_on_pmed4():
    """pmed4's multipliers gain only rounding noise per step: that counts as a stall."""
    inst = read_orlib_pmed(PMED / "pmed4.txt")
    weights, none = np.ones(inst.n), np.zeros(0, dtype=np.intp)
    start = greedy_p_median(inst.cost, weights, inst.p, none)
    out = lagrangian_p_median(inst.cost, weights, inst.p, start, none, time_budget=60.0)
    assert out.proven and out.upper_bound == 3034
    assert out.iterations < 500


def test_root_does_not_depend_on_the_speed_of_the_clock(monkeypatch):
    """Iterations and local searches follow counts; only the time limit reads the clock."""
    inst = read_orlib_pmed(PMED / "pmed2.txt")
    weights, none = np.ones(inst.n), np.zeros(0, dtype=np.intp)
    start = greedy_p_median(inst.cost, weights, inst.p, none)

    def root():
        return lagrangian_p_median(inst.cost, weights, inst.p, start, none, time_budget=60.0)

    real = root()
    # A machine on which each local search seems to take 0.2 s.
    clock, offset = time.perf_counter, [0.0]
    local_search = lagrangian.interchange_p_median

    def slow_local_search(*args, **kwargs):
        offset[0] += 0.2
        return local_search(*args, **kwargs)

    monkeypatch.setattr(time, "perf_counter", lambda: clock() + offset[0])
    monkeypatch.setattr(lagrangian, "interchange_p_median", slow_local_search)
    slow = root()
    assert offset[0] > 0
    assert (slow.iterations, slow.lower_bound, slow.upper_bound) == (
        real.iterations,
        real.lower_bound,
        real.upper_bound,
    )
    np.testing.assert_array_equal(slow.multipliers, real.multipliers)
    np.testing.assert_array_equal(slow.fixed_closed, real.fixed_closed)


def test_local_search_schedule_backs_off_while_nothing_improves():
    schedule = LocalSearchSchedule(5, first=1)
    assert not schedule.due(0) and schedule.due(1)
    schedule.ran(1, improved=False)
    assert not schedule.due(10) and schedule.due(11)
    schedule.ran(11, improved=False)
    assert schedule.next == 31
    schedule.ran(31, improved=True)
    assert schedule.next == 36
    for _ in range(10):
        schedule.ran(schedule.next, improved=False)
    assert schedule.interval == 80  # capped at 16 intervals
    assert not LocalSearchSchedule(0).due(100)


def test_phases_past_their_deadline_stay_valid():
    """Out of time, every phase still returns something valid, at once."""
    cost, weights, _, existing, _ = instance(700, n=40, m=20, integer=True)
    existing = np.array(existing[:1], dtype=np.intp)
    past = time.perf_counter() - 1.0
    greedy = greedy_p_median(cost, weights, 5, existing, deadline=past)
    assert greedy.size == 5 and set(existing) <= set(greedy.tolist())
    start = np.sort(np.concatenate([existing, np.setdiff1d(np.arange(20), existing)[:4]]))
    assert (interchange_p_median(cost, weights, start, existing, deadline=past) == start).all()
    root = lagrangian_p_median(cost, weights, 5, start, existing, max_iter=3, heuristic_every=0)
    assert not root.proven
    assert np.isinf(radius_caps(cost, weights, 5, root, deadline=past)).all()
    free = np.flatnonzero(~root.fixed_open & ~root.fixed_closed)
    forced = np.flatnonzero(root.fixed_open)
    assert pmedian._radius_model(cost, weights, 5, free, forced, deadline=past) is None
