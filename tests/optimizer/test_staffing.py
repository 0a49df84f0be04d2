"""Staffing: every grid has exactly one worker, districts connected, spread lowered."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from optimizer.errors import SpecificationError
from optimizer.staffing import balance_workload, spread, workload_per_worker


def square_grids(side: int, size: float = 500.0):
    n = side * side
    xy = np.array([(i % side, i // side) for i in range(n)], dtype=float) * size
    dist = np.hypot(*(xy[:, None] - xy[None]).transpose(2, 0, 1))
    adjacency = [(i, i + 1) for i in range(n) if i % side < side - 1]
    adjacency += [(i, i + side) for i in range(n - side)]
    return dist, np.array(adjacency)


def check_plan(result, n_grids, m, adjacency, load):
    assert result.assignment.shape == (n_grids,)  # exactly one worker per grid
    assert set(result.assignment.tolist()) == set(range(m))  # every worker has grids
    assert result.centres.shape == (m,)
    assert (result.assignment[result.centres] == np.arange(m)).all()  # centre in own district
    np.testing.assert_allclose(result.workload, workload_per_worker(result.assignment, load, m))
    assert result.spread == pytest.approx(spread(result.workload)[0])
    # connected districts, checked by a plain flood fill
    neighbours = {g: set() for g in range(n_grids)}
    for a, b in adjacency:
        neighbours[a].add(b)
        neighbours[b].add(a)
    for w in range(m):
        grids = set(np.flatnonzero(result.assignment == w).tolist())
        seen, todo = set(), [next(iter(grids))]
        while todo:
            g = todo.pop()
            if g in seen:
                continue
            seen.add(g)
            todo.extend(neighbours[g] & grids)
        assert seen == grids, f"district of worker {w} is not connected"
    assert result.contiguous


def test_bad_initial_assignment_is_balanced():
    dist, adjacency = square_grids(6)
    load = np.random.default_rng(4).gamma(2.0, 5.0, 36)
    current = np.array([0] * 27 + [1, 1, 1, 2, 2, 2, 3, 3, 3])  # worker 0 holds three quarters
    result = balance_workload(load, dist, adjacency, current, time_limit=3.0, num_workers=2)
    check_plan(result, 36, 4, adjacency, load)
    assert result.spread_before > 100
    assert result.spread < 0.2 * result.spread_before
    assert result.cv < result.cv_before / 3
    assert result.spread_before == pytest.approx(np.ptp(np.bincount(current, load)))
    assert result.status in {"OPTIMAL", "FEASIBLE"} and result.seconds < 6.0


def test_workers_without_grids_before_get_one():
    dist, adjacency = square_grids(4)
    load = np.ones(16)
    current = np.zeros(16, dtype=int)
    result = balance_workload(
        load, dist, adjacency, current, n_workers=4, time_limit=3.0, num_workers=2
    )
    check_plan(result, 16, 4, adjacency, load)
    assert result.spread == 0 and result.cv_before > 1


def test_balance_only_matches_enumeration():
    # 2 x 3 block, integer loads: the best split into two groups has spread 0 (10 | 10).
    dist, adjacency = square_grids(3)
    keep = [0, 1, 2, 3, 4, 5]
    dist = dist[np.ix_(keep, keep)]
    adjacency = adjacency[(adjacency < 6).all(axis=1)]
    load = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 5.0])
    best = min(
        abs(load[list(s)].sum() - (load.sum() - load[list(s)].sum()))
        for r in range(1, 6)
        for s in itertools.combinations(range(6), r)
    )
    result = balance_workload(
        load,
        dist,
        adjacency,
        np.array([0, 0, 0, 0, 0, 1]),
        compactness_weight=0.0,
        contiguity=False,
        time_limit=5.0,
        num_workers=2,
    )
    assert result.optimal
    assert result.spread == pytest.approx(best)


def test_keeps_workers_on_their_grids_when_already_balanced():
    dist, adjacency = square_grids(4)
    load = np.ones(16)
    current = np.array([0, 0, 1, 1] * 2 + [2, 2, 3, 3] * 2)  # four 2 x 2 blocks
    # Without the compactness term (T-shaped tetrominoes would be more compact than
    # squares), the change cost is the tie-breaker: the balanced plan stays as it is.
    result = balance_workload(
        load, dist, adjacency, current, compactness_weight=0.0, time_limit=3.0, num_workers=2
    )
    check_plan(result, 16, 4, adjacency, load)
    assert result.spread == 0
    assert result.changed_grids == 0


def test_invalid_inputs():
    dist, adjacency = square_grids(2)
    with pytest.raises(SpecificationError, match="between 1 and 4 workers"):
        balance_workload(np.ones(4), dist, adjacency, [0, 1, 2, 3], n_workers=5)
    with pytest.raises(SpecificationError, match="disconnected groups"):
        balance_workload(np.ones(4), dist, [(0, 1)], [0, 0, 0, 0], n_workers=2)
    with pytest.raises(SpecificationError, match="distance"):
        balance_workload(np.ones(4), dist[:3], adjacency, [0, 0, 1, 1])
    with pytest.raises(SpecificationError, match="outside"):
        balance_workload(np.ones(4), dist, adjacency, [0, 0, 1, 7], n_workers=2)
