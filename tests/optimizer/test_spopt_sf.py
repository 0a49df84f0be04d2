"""spopt's own asserted values on its San Francisco and school test data.

Data and values: ``shared/benchmarks/spopt_sf_testdata/README.md`` (copied from
pysal/spopt ``spopt/tests/test_locate/``); the matrices are built exactly as
spopt's tests build them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optimizer import siting
from optimizer.errors import SpecificationError

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "benchmarks" / "spopt_sf_testdata"


@pytest.fixture(scope="module")
def sf():
    distances = pd.read_csv(DATA / "SF_network_distance_candidateStore_16_censusTract_205_new.csv")
    cost = distances.pivot_table(
        values="distance", index="DestinationName", columns="name"
    ).to_numpy()
    demand = pd.read_csv(DATA / "SF_demand_205_centroid_uniform_weight.csv")
    weights = demand.sort_values(by=["NAME"]).reset_index()["POP2000"].to_numpy()
    return cost, weights


@pytest.fixture(scope="module")
def schools():
    journeys = pd.read_csv(DATA / "example_subject_student_school_journeys.csv")
    cost = (
        journeys.pivot_table(
            columns="school", fill_value=10000, index="student", sort=False, values="time"
        )
        .astype(int)
        .to_numpy()
    )
    students = pd.read_csv(DATA / "example_subject_students.csv")
    facilities = pd.read_csv(DATA / "example_subject_schools.csv")
    return cost, len(students), facilities


def test_sf_shapes(sf):
    cost, weights = sf
    assert cost.shape == (205, 16) and weights.shape == (205,)


def test_mclp_p4_5km(sf):
    cost, weights = sf
    result = siting.mclp(cost, 5000.0, 4, weights=weights)
    assert result.optimal
    assert result.n_uncovered == 21
    assert (1 - result.n_uncovered / cost.shape[0]) * 100.0 == pytest.approx(89.75609756097561)
    assert result.covered_weight == pytest.approx(875247)


def test_p_median_p4_mean_distance(sf):
    cost, weights = sf
    result = siting.p_median(cost, 4, weights=weights)
    assert result.optimal
    assert result.objective / weights.sum() == pytest.approx(2982.1268579890657, rel=1e-12)


def test_lscp_5km_is_consistent_with_mclp(sf):
    cost, _ = sf
    result = siting.lscp(cost, 5000.0)
    assert result.optimal and (result.assignment >= 0).all()
    k = int(result.objective)
    assert siting.mclp(cost, 5000.0, k).n_uncovered == 0
    assert siting.mclp(cost, 5000.0, k - 1).n_uncovered > 0


@pytest.mark.parametrize("p", [1000, 0])
def test_infeasible_p(sf, p):
    cost, weights = sf
    with pytest.raises(SpecificationError, match=r"larger than the number|at least 1"):
        siting.mclp(cost, 5000.0, p, weights=weights)
    with pytest.raises(SpecificationError, match=r"larger than the number|at least 1"):
        siting.p_median(cost, p, weights=weights)


def test_capacitated_school_mean_time(schools):
    cost, n_students, facilities = schools
    priority_1 = facilities.index[facilities["priority"] == 1].to_numpy()
    result = siting.p_median(
        cost,
        10,
        weights=np.ones(n_students),
        existing=priority_1,
        capacity=facilities["Count"].to_numpy(),
        fill_existing=True,
    )
    assert result.optimal and result.status == "OPTIMAL"
    assert result.objective / n_students == pytest.approx(87.2)
    load = np.bincount(result.assignment, minlength=cost.shape[1])
    np.testing.assert_array_equal(load[priority_1], facilities["Count"].to_numpy()[priority_1])


def test_capacitated_school_priority_3_cannot_be_filled(schools):
    cost, n_students, facilities = schools
    priority_3 = facilities.index[facilities["priority"] == 3].to_numpy()
    capacity = facilities["Count"].to_numpy()
    call = dict(weights=np.ones(n_students), existing=priority_3, capacity=capacity)
    # spopt's case (p = 10): the 19 existing schools do not even fit in p.
    with pytest.raises(SpecificationError, match="smaller than the number of existing"):
        siting.p_median(cost, 10, fill_existing=True, **call)
    # With room for them, filling their 28 places needs more than 10 students.
    with pytest.raises(SpecificationError, match="cannot be filled"):
        siting.p_median(cost, 20, fill_existing=True, **call)


def test_capacitated_school_demand_above_capacity(schools):
    cost, n_students, facilities = schools
    priority_1 = facilities.index[facilities["priority"] == 1].to_numpy()
    with pytest.raises(SpecificationError, match="largest possible capacity"):
        siting.p_median(
            cost,
            10,
            weights=np.full(n_students, 5),
            existing=priority_1,
            capacity=facilities["Count"].to_numpy(),
            fill_existing=True,
        )
