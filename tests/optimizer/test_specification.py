"""Invalid and infeasible specifications raise SpecificationError before solving."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer import _mip, siting
from optimizer.errors import SpecificationError

COST = np.array([[1.0, 4.0, 9.0], [3.0, 2.0, 8.0], [7.0, 6.0, 1.0], [5.0, 5.0, 5.0]])


@pytest.fixture(autouse=True)
def no_solver_calls(monkeypatch):
    """Fail if any MIP solve starts: every case here must be rejected beforehand."""

    def refuse(*args, **kwargs):
        raise AssertionError("the solver was called for an invalid specification")

    monkeypatch.setattr(_mip, "solve", refuse)


def test_specification_error_is_a_value_error():
    assert issubclass(SpecificationError, ValueError)


ALL_P_MODELS = [
    lambda cost, p, **kw: siting.p_median(cost, p, **kw),
    lambda cost, p, **kw: siting.mclp(cost, 3.0, p, **kw),
    lambda cost, p, **kw: siting.p_center(cost, p, **kw),
]


@pytest.mark.parametrize("model", ALL_P_MODELS)
@pytest.mark.parametrize(
    ("p", "existing", "reason"),
    [
        (4, (), "larger than the number of candidate sites"),
        (0, (), "at least 1"),
        (1, (0, 2), "smaller than the number of existing sites"),
        (2, (3,), "out of range"),
        (2, (-1,), "out of range"),
        (2, (1, 1), "duplicate"),
        (2.5, (), "must be an integer"),
        (True, (), "must be an integer"),
    ],
)
def test_bad_p_or_existing(model, p, existing, reason):
    with pytest.raises(SpecificationError, match=reason):
        model(COST, p, existing=existing)


@pytest.mark.parametrize(
    ("cost", "reason"),
    [
        (np.where(COST == 2.0, -2.0, COST), "negative"),
        (np.where(COST == 2.0, np.nan, COST), "NaN"),
        (np.where(COST == 2.0, np.inf, COST), "infinite"),
        (COST[0], "must be 2-D"),
        (np.zeros((0, 3)), "no demand points"),
        ([["a", "b"]], "numeric"),
    ],
)
def test_bad_cost(cost, reason):
    for call in (
        lambda: siting.p_median(cost, 1),
        lambda: siting.mclp(cost, 3.0, 1),
        lambda: siting.lscp(cost, 3.0),
        lambda: siting.p_center(cost, 1),
    ):
        with pytest.raises(SpecificationError, match=reason):
            call()


def test_weights_shape_mismatch_and_values():
    with pytest.raises(SpecificationError, match=r"weights has shape \(3,\) but there are 4"):
        siting.p_median(COST, 1, weights=[1, 1, 1])
    with pytest.raises(SpecificationError, match="weights contains negative"):
        siting.mclp(COST, 3.0, 1, weights=[1, -1, 1, 1])
    with pytest.raises(SpecificationError, match="NaN"):
        siting.p_median(COST, 1, weights=[1, np.nan, 1, 1])


def test_capacity_shape_and_values():
    with pytest.raises(SpecificationError, match=r"capacity has shape \(2,\) but there are 3"):
        siting.p_median(COST, 2, capacity=[5, 5])
    with pytest.raises(SpecificationError, match="capacity contains negative"):
        siting.mclp(COST, 3.0, 2, capacity=[5, -5, 5])


def test_total_capacity_below_total_demand():
    with pytest.raises(SpecificationError, match="exceeds the largest possible capacity"):
        siting.p_median(COST, 2, weights=[2, 2, 2, 2], capacity=[3, 4, 2])
    # Existing sites count with their own capacity, not the largest ones.
    with pytest.raises(SpecificationError, match="exceeds the largest possible capacity"):
        siting.p_median(COST, 2, existing=[2], capacity=[3, 2, 0.5])


def test_demand_point_heavier_than_every_capacity():
    with pytest.raises(SpecificationError, match="above every site capacity"):
        siting.p_median(COST, 3, weights=[1, 1, 6, 1], capacity=[5, 5, 5])


def test_fill_existing_needs_capacity_and_room():
    with pytest.raises(SpecificationError, match="needs capacity"):
        siting.p_median(COST, 2, existing=[0], fill_existing=True)
    with pytest.raises(SpecificationError, match="cannot be filled"):
        siting.p_median(COST, 2, existing=[0, 1], capacity=[3, 2, 9], fill_existing=True)


def test_lscp_uncoverable_demand_point():
    with pytest.raises(SpecificationError, match=r"1 demand point\(s\) have no candidate.*rows 3"):
        siting.lscp(COST, 4.0)


@pytest.mark.parametrize("radius", [-1.0, np.nan, np.inf, "far"])
def test_bad_radius(radius):
    with pytest.raises(SpecificationError, match="radius"):
        siting.mclp(COST, radius, 1)
    with pytest.raises(SpecificationError, match="radius"):
        siting.lscp(COST, radius)


@pytest.mark.parametrize("limit", [0, -1, np.nan, np.inf])
def test_bad_time_limit(limit):
    with pytest.raises(SpecificationError, match="time_limit"):
        siting.p_center(COST, 1, time_limit=limit)
