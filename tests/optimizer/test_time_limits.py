"""Behaviour at the time limit: a solution is returned unproven, none raises."""

from __future__ import annotations

import time

import numpy as np
import pytest
from ortools.linear_solver import pywraplp

from optimizer import siting
from optimizer.errors import NoSolutionError
from optimizer.heuristics import p_median_value
from optimizer.instances import read_orlib_pmed
from tests.optimizer.test_instances import PMED, published_optima


def test_time_limit_with_a_solution_returns_it_unproven():
    # pmed16 (p=5) has a 0.9 % root gap; 50 ms leave no time to close it.
    inst = read_orlib_pmed(PMED / "pmed16.txt")
    result = siting.p_median(inst.cost, inst.p, time_limit=0.05)
    assert not result.optimal and result.status == "FEASIBLE"
    assert result.bound <= published_optima()["pmed16"] <= result.objective
    assert result.gap == pytest.approx((result.objective - result.bound) / result.objective)
    assert result.gap > 0
    assert result.seconds < 30.0  # stops near the limit, not after a full solve


@pytest.mark.parametrize(("p", "limit"), [(5, 1.0), (20, 2.0), (100, 1.0)])
def test_large_p_median_returns_within_its_time_limit(p, limit):
    """4,000 demand points x 500 sites: every phase stops at the deadline."""
    rng = np.random.default_rng(p)
    demand, sites = rng.uniform(0, 10_000, (4000, 2)), rng.uniform(0, 10_000, (500, 2))
    cost = np.linalg.norm(demand[:, None, :] - sites[None, :, :], axis=2)
    start = time.perf_counter()
    result = siting.p_median(cost, p, time_limit=limit)
    wall = time.perf_counter() - start
    assert wall <= limit + 1.5  # generous margin on a loaded machine
    assert result.status == "FEASIBLE" and not result.optimal
    assert len(result.open_sites) == p
    assert result.objective == pytest.approx(
        p_median_value(cost, np.ones(4000), np.array(result.open_sites))
    )
    assert 0 < result.bound <= result.objective
    assert result.gap == pytest.approx((result.objective - result.bound) / result.objective)


def test_solver_stopping_without_solution_raises(monkeypatch):
    """A solver stopping with no solution surfaces as NoSolutionError, not a result."""
    monkeypatch.setattr(pywraplp.Solver, "Solve", lambda self, *a: pywraplp.Solver.NOT_SOLVED)
    cost = np.array([[1.0, 4.0], [3.0, 2.0]])
    with pytest.raises(NoSolutionError, match=r"LSCP: no feasible solution found within 0\.\d+ s"):
        siting.lscp(cost, 5.0, time_limit=0.5)
    with pytest.raises(NoSolutionError, match="NOT_SOLVED"):
        siting.mclp(cost, 5.0, 1, capacity=[2, 2], time_limit=0.5)
