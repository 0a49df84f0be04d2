"""All four models against exhaustive enumeration on small random instances."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer import siting
from optimizer.errors import SpecificationError
from tests.optimizer import brute_force as brute

SEEDS = range(12)


def instance(seed: int, n: int = 9, m: int = 7, integer: bool = True):
    """Random planar instance: demand points x candidate sites, Euclidean costs."""
    rng = np.random.default_rng(seed)
    demand = rng.uniform(0, 100, size=(n, 2))
    sites = rng.uniform(0, 100, size=(m, 2))
    cost = np.linalg.norm(demand[:, None, :] - sites[None, :, :], axis=2)
    if integer:
        cost = np.round(cost / 5.0)  # coarse: many ties
    weights = rng.integers(1, 6, size=n).astype(float)
    p = int(rng.integers(1, 4))
    existing = tuple(int(i) for i in rng.choice(m, size=int(rng.integers(0, p + 1)), replace=False))
    return cost, weights, p, existing, rng


def assert_consistent(result, cost, p=None, existing=()):
    open_sites = set(result.open_sites)
    assert set(existing) <= open_sites
    assert set(result.existing) == set(existing)
    if p is not None:
        assert len(open_sites) == p
    served = result.assignment[result.assignment >= 0]
    assert set(served.tolist()) <= open_sites
    assert result.assignment.shape == (cost.shape[0],)
    assert result.optimal and result.status == "OPTIMAL" and result.gap == 0.0
    assert result.seconds >= 0.0


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("integer", [True, False])
def test_p_median(seed, integer):
    cost, weights, p, existing, _ = instance(seed, integer=integer)
    result = siting.p_median(cost, p, weights=weights, existing=existing)
    assert result.objective == pytest.approx(brute.p_median(cost, p, weights, existing))
    assert_consistent(result, cost, p, existing)
    # Every point is assigned to its nearest open site and the objective matches.
    nearest = cost[:, list(result.open_sites)].min(axis=1)
    assert np.allclose(cost[np.arange(cost.shape[0]), result.assignment], nearest)
    assert result.objective == pytest.approx(float(weights @ nearest))
    assert result.bound == pytest.approx(result.objective)


@pytest.mark.parametrize("seed", range(6))
def test_p_median_exact_model_path(seed):
    """Larger p = 3 instances where the Lagrangian bound alone rarely closes the gap."""
    cost, weights, _, existing, _ = instance(100 + seed, n=24, m=14, integer=True)
    result = siting.p_median(cost, 4, weights=weights, existing=existing[:1])
    assert result.objective == pytest.approx(brute.p_median(cost, 4, weights, existing[:1]))
    assert_consistent(result, cost, 4, existing[:1])


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("fill_existing", [False, True])
def test_capacitated_p_median(seed, fill_existing):
    cost, weights, p, existing, rng = instance(seed, n=6, m=5)
    p = max(p, 2)
    capacity = rng.integers(3, 12, size=5).astype(float)
    if fill_existing and not existing:
        existing = (int(rng.integers(0, 5)),)
    expected = brute.capacitated_p_median(cost, p, weights, capacity, existing, fill_existing)
    call = dict(weights=weights, existing=existing, capacity=capacity, fill_existing=fill_existing)
    if expected == np.inf:
        with pytest.raises(SpecificationError, match="infeasible"):
            siting.p_median(cost, p, **call)
        return
    result = siting.p_median(cost, p, **call)
    assert result.objective == pytest.approx(expected)
    assert_consistent(result, cost, p, existing)
    assert (result.assignment >= 0).all()
    load = np.bincount(result.assignment, weights=weights, minlength=5)
    assert (load <= capacity + 1e-9).all()
    if fill_existing:
        assert np.allclose(load[list(existing)], capacity[list(existing)])
    served_cost = float(weights @ cost[np.arange(6), result.assignment])
    assert result.objective == pytest.approx(served_cost)


@pytest.mark.parametrize("seed", SEEDS)
def test_mclp(seed):
    cost, weights, p, existing, rng = instance(seed)
    radius = float(np.quantile(cost, rng.uniform(0.1, 0.5)))
    result = siting.mclp(cost, radius, p, weights=weights, existing=existing)
    assert result.covered_weight == pytest.approx(brute.mclp(cost, radius, p, weights, existing))
    assert result.objective == result.covered_weight
    assert_consistent(result, cost, p, existing)
    covered = (cost[:, list(result.open_sites)] <= radius).any(axis=1)
    assert np.array_equal(result.assignment >= 0, covered)
    assert result.n_uncovered == int((~covered).sum())
    assert result.total_weight == pytest.approx(weights.sum())


@pytest.mark.parametrize("seed", range(6))
def test_capacitated_mclp(seed):
    cost, weights, p, existing, rng = instance(seed, n=6, m=5)
    p = max(p, 2)
    radius = float(np.quantile(cost, 0.4))
    capacity = rng.integers(2, 9, size=5).astype(float)
    result = siting.mclp(cost, radius, p, weights=weights, existing=existing, capacity=capacity)
    expected = brute.capacitated_mclp(cost, radius, p, weights, capacity, existing)
    assert result.covered_weight == pytest.approx(expected)
    assert_consistent(result, cost, p, existing)
    served = result.assignment >= 0
    assert (cost[np.flatnonzero(served), result.assignment[served]] <= radius).all()
    load = np.bincount(result.assignment[served], weights=weights[served], minlength=5)
    assert (load <= capacity + 1e-9).all()


@pytest.mark.parametrize("seed", SEEDS)
def test_lscp(seed):
    cost, _, _, existing, rng = instance(seed)
    radius = float(np.quantile(cost.min(axis=1), 1.0) + rng.uniform(0, 15))
    result = siting.lscp(cost, radius, existing=existing)
    assert result.objective == brute.lscp(cost, radius, existing)
    assert_consistent(result, cost, None, existing)
    assert len(result.open_sites) == result.objective
    assert (result.assignment >= 0).all()
    assert (cost[np.arange(cost.shape[0]), result.assignment] <= radius).all()


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("integer", [True, False])
def test_p_center(seed, integer):
    cost, _, p, existing, _ = instance(seed, integer=integer)
    result = siting.p_center(cost, p, existing=existing)
    assert result.objective == pytest.approx(brute.p_center(cost, p, existing))
    assert_consistent(result, cost, p, existing)
    assert cost[np.arange(cost.shape[0]), result.assignment].max() == pytest.approx(
        result.objective
    )


def test_p_equal_to_existing_only_evaluates():
    cost, weights, _, _, _ = instance(3)
    result = siting.p_median(cost, 2, weights=weights, existing=[4, 1])
    assert result.open_sites == (1, 4) and result.new_sites == ()
    assert result.objective == pytest.approx(float(weights @ cost[:, [1, 4]].min(axis=1)))
    assert result.optimal
