"""Behaviour at the time limit: a solution is returned unproven, none raises."""

from __future__ import annotations

import numpy as np
import pytest
from ortools.linear_solver import pywraplp

from optimizer import siting
from optimizer.errors import NoSolutionError
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


def test_solver_stopping_without_solution_raises(monkeypatch):
    """A solver stopping with no solution surfaces as NoSolutionError, not a result."""
    monkeypatch.setattr(pywraplp.Solver, "Solve", lambda self, *a: pywraplp.Solver.NOT_SOLVED)
    cost = np.array([[1.0, 4.0], [3.0, 2.0]])
    with pytest.raises(NoSolutionError, match=r"LSCP: no feasible solution found within 0\.\d+ s"):
        siting.lscp(cost, 5.0, time_limit=0.5)
    with pytest.raises(NoSolutionError, match="NOT_SOLVED"):
        siting.mclp(cost, 5.0, 1, capacity=[2, 2], time_limit=0.5)
