"""p-center: radius search against brute force, optimality certificates and time limits."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import optimizer.pcenter as pcenter
from optimizer import siting
from optimizer.errors import NoSolutionError
from tests.optimizer import brute_force as brute

SF = Path(__file__).resolve().parents[2].parent / "shared" / "benchmarks" / "spopt_sf_testdata"

# Demand at x = 0, 4, 10, 14 on a line; candidate sites at x = 0, 2, 4, 10, 12, 14.
LINE = np.abs(np.array([0, 4, 10, 14])[:, None] - np.array([0, 2, 4, 10, 12, 14])[None, :])


def planar(n: int, m: int, seed: int, size: float = 3000.0) -> np.ndarray:
    """Uniform demand and sites in a ``size`` metre square, costs rounded to whole metres."""
    rng = np.random.default_rng(seed)
    demand = rng.uniform(0, size, (n, 2))
    sites = rng.uniform(0, size, (m, 2))
    return np.round(np.linalg.norm(demand[:, None, :] - sites[None, :, :], axis=2))


def brute_p_center(cost: np.ndarray, p: int) -> float:
    """Vectorised enumeration of every p-subset of the columns."""
    best = np.inf
    subsets = np.array(list(itertools.combinations(range(cost.shape[1]), p)), dtype=np.intp)
    for chunk in np.array_split(subsets, max(1, len(subsets) // 2000)):
        radii = cost[:, chunk].min(axis=2).max(axis=0)
        best = min(best, float(radii.min()))
    return best


def assert_certified(result, cost: np.ndarray, p: int, existing=()) -> None:
    """The solution has radius ``objective``, and one cost less is infeasible (public LSCP)."""
    assert result.optimal and result.status == "OPTIMAL" and result.gap == 0.0
    assert result.bound == result.objective
    assert len(result.open_sites) == p and set(existing) <= set(result.open_sites)
    served = cost[np.arange(cost.shape[0]), result.assignment]
    assert served.max() == result.objective
    np.testing.assert_array_equal(served, cost[:, list(result.open_sites)].min(axis=1))
    smaller = cost[cost < result.objective]
    if smaller.size and smaller.max() >= cost.min(axis=1).max():
        cover = siting.lscp(cost, float(smaller.max()), existing=existing)
        assert cover.optimal and cover.objective > p


@pytest.fixture
def lscp_calls(monkeypatch):
    """Count the set-covering MIPs the radius search solves."""
    calls = []
    real = pcenter.solve_lscp

    def counted(*args, **kwargs):
        calls.append(args[1].shape)
        return real(*args, **kwargs)

    monkeypatch.setattr(pcenter, "solve_lscp", counted)
    return calls


@pytest.mark.parametrize(
    ("p", "existing", "expected"),
    [(1, (), 10), (2, (), 2), (3, (), 2), (4, (), 0), (2, (0,), 4), (1, (3,), 10), (3, (0,), 2)],
)
def test_hand_checked_line(p, existing, expected):
    # p = 1: the middle sites 4 and 10 are 10 from the far end. p = 2: {2, 12}. Below 2 every
    # point needs its own site (p = 4: radius 0). With x = 0 open and one more site, x = 4 is
    # served from 0 (cost 4) and 10, 12 or 14 serves the right pair.
    result = siting.p_center(LINE, p, existing=existing)
    assert result.objective == expected == brute.p_center(LINE, p, existing)
    assert_certified(result, LINE, p, existing)


@pytest.mark.parametrize("seed", range(10))
def test_against_brute_force_with_mips(seed):
    """Instances big enough for the greedy bounds to leave set-covering MIPs to solve."""
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(20, 50)), int(rng.integers(9, 14))
    cost = planar(n, m, seed) if seed % 2 else rng.integers(0, 40, (n, m)).astype(float)
    p = int(rng.integers(2, 6))
    existing = tuple(int(i) for i in rng.choice(m, size=int(rng.integers(0, 3)), replace=False))
    result = siting.p_center(cost, p, existing=existing)
    assert result.objective == brute.p_center(cost, p, existing)
    assert_certified(result, cost, p, existing)


def test_mip_checks_are_exercised(lscp_calls):
    cost = planar(45, 13, 3)
    result = siting.p_center(cost, 4)
    assert result.objective == brute_p_center(cost, 4)
    assert lscp_calls, "expected the search to need at least one set-covering MIP"
    assert f"{len(lscp_calls)} set-covering MIPs" in result.method


def test_p_equal_to_existing_only_evaluates(lscp_calls):
    result = siting.p_center(LINE, 2, existing=[5, 1])
    assert result.open_sites == (1, 5) and result.new_sites == ()
    assert result.objective == 4 and result.optimal and not lscp_calls


@pytest.fixture(scope="module")
def sf_cost():
    distances = pd.read_csv(SF / "SF_network_distance_candidateStore_16_censusTract_205_new.csv")
    return distances.pivot_table(
        values="distance", index="DestinationName", columns="name"
    ).to_numpy()


@pytest.mark.parametrize("p", [2, 3, 5, 8])
def test_spopt_sf_against_brute_force(sf_cost, p):
    """spopt's San Francisco stores (205 tracts x 16 sites): every p-subset enumerated."""
    result = siting.p_center(sf_cost, p)
    assert result.objective == brute_p_center(sf_cost, p)
    assert_certified(result, sf_cost, p)
    assert result.seconds < 10.0


@pytest.fixture(scope="module")
def city():
    """The demo city's size: 357 courier demand points x 469 candidate sites, metres."""
    return planar(357, 469, 2024)


def test_city_sub_instance_against_brute_force(city):
    sub = city[::4, ::20]  # 90 x 24
    result = siting.p_center(sub, 4)
    assert result.objective == brute_p_center(sub, 4)
    assert_certified(result, sub, 4)


@pytest.mark.parametrize("p", [5, 10])  # p = 20 (a few seconds more) is in the benchmark
def test_city_size_proven_optimal(city, p):
    result = siting.p_center(city, p, time_limit=60.0)
    assert_certified(result, city, p)
    assert result.seconds < 30.0  # a few seconds; generous for a loaded machine


def test_city_size_with_existing(city):
    existing = (3, 100, 250)
    result = siting.p_center(city, 8, existing=existing)
    assert_certified(result, city, 8, existing)
    assert result.existing == existing


@pytest.fixture(scope="module")
def incidents():
    """The demo's size for incidents as demand: 3000 x 469."""
    return planar(3000, 469, 7)


def test_time_limit_returns_best_solution_with_gap(incidents):
    p = 20
    result = siting.p_center(incidents, p, time_limit=0.2)
    assert not result.optimal and result.status == "FEASIBLE"
    assert len(result.open_sites) == p
    assert incidents[:, list(result.open_sites)].min(axis=1).max() == result.objective
    assert 0 < result.bound < result.objective
    assert result.gap == pytest.approx((result.objective - result.bound) / result.objective)
    assert result.bound >= incidents.min(axis=1).max()
    assert result.seconds < 10.0  # the heuristics, then it stops; not a full solve


def test_undecided_check_stops_with_bounds(monkeypatch):
    """A set-covering MIP stopping without an answer ends the search with the bounds so far."""
    cost = planar(45, 13, 3)
    optimum = brute_p_center(cost, 4)

    def no_answer(*args, **kwargs):
        raise NoSolutionError("LSCP: no feasible solution found within 0.1 s")

    monkeypatch.setattr(pcenter, "solve_lscp", no_answer)
    result = siting.p_center(cost, 4)
    assert not result.optimal and result.status == "FEASIBLE"
    assert result.bound <= optimum < result.objective
    assert result.gap == pytest.approx((result.objective - result.bound) / result.objective)
    assert len(result.open_sites) == 4
    assert cost[:, list(result.open_sites)].min(axis=1).max() == result.objective
