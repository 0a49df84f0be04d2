"""Staffing plans: workload balance across workers on the demo and on small stores."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from scipy.spatial.distance import cdist
from shapely.geometry import box

from gridmap.errors import GridMapError, NotFoundError
from gridmap.staffing_plan import StaffingPlan, grid_adjacency
from gridmap.stores import open_store
from tests.conftest import square_grids
from tests.dispatch_helpers import GRID, copy_of, demo_copy, incident, small_store, worker


@pytest.fixture(scope="module")
def demo_path(tmp_path_factory):
    return demo_copy(tmp_path_factory)


def owners(store, team_skills: set[str]) -> dict[str, list[str]]:
    """Return grid -> workers of the team listing it."""
    out: dict[str, list[str]] = {}
    for row in store.read("workers").itertuples():
        if set(row.skills) == team_skills:
            for code in row.grid_codes:
                out.setdefault(code, []).append(row.id)
    return out


def test_demo_staffing_lowers_the_spread_and_keeps_one_worker_per_grid(demo_path, tmp_path):
    store = open_store(copy_of(demo_path, tmp_path))
    codes = set(store.read("grids")["code"])
    plan = StaffingPlan.from_store(store, time_limit=8)  # CP-SAT needs ~1 s for a first plan
    assert len(plan.teams) == 2  # the demo's two skill sets
    for team in plan.teams:
        r = team.result
        assert len(team.worker_ids) == 6 and set(team.grid_codes) == codes
        assert r.spread < r.spread_before and r.cv < r.cv_before
        assert r.contiguous
        assert np.bincount(r.assignment, minlength=6).min() >= 1
        assert team.links >= 1  # the demo's blocks form separate groups
        assert len(team.moves()) == r.changed_grids
    written = plan.apply(store)
    assert written >= 1
    for team in plan.teams:
        listed = owners(store, set(team.skills))
        assert set(listed) == codes
        assert all(len(ws) == 1 for ws in listed.values())
        got = {g: ws[0] for g, ws in listed.items()}
        assert got == {g: w for w, gs in team.grids_of().items() for g in gs}


def test_adjacency_shared_edges_and_links():
    grids = square_grids(3)
    metric = grids.to_crs(32650).geometry
    xy = np.column_stack([metric.centroid.x, metric.centroid.y])
    pairs, links = grid_adjacency(metric, cdist(xy, xy))
    assert links == 0
    assert len(pairs) == 12  # 3 x 3 squares: 6 horizontal + 6 vertical edges, no corners
    apart = gpd.GeoSeries(
        [box(0, 0, 100, 100), box(100, 0, 200, 100), box(500, 0, 600, 100), box(900, 0, 1e3, 100)],
        crs=32650,
    )
    xy = np.column_stack([apart.centroid.x, apart.centroid.y])
    pairs, links = grid_adjacency(apart, cdist(xy, xy))
    assert links == 2
    assert sorted(map(tuple, pairs.tolist())) == [(0, 1), (1, 2), (2, 3)]


def test_small_store_balances_a_lopsided_assignment(tmp_path):
    rows = [incident(f"I{i}", "E0102", grid=i % 9) for i in range(36)]
    store = small_store(
        tmp_path / "s.gpkg",
        [
            worker("W1", list(range(8)), ["sanitation"]),
            worker("W2", [8], ["sanitation"]),
            worker("W3", [4], ["enforcement"]),  # a team of one keeps its grid
        ],
        rows,
    )
    plan = StaffingPlan.from_store(store, population_weight=0.0, time_limit=2)
    team = next(t for t in plan.teams if t.skills == ("sanitation",))
    assert team.result.spread_before == pytest.approx(7 * 36 / 9 / plan.period_days)
    assert team.result.spread < team.result.spread_before
    plan.apply(store)
    listed = owners(store, {"sanitation"})
    assert set(listed) == set(GRID) and all(len(ws) == 1 for ws in listed.values())
    assert store.get("workers", "W3")["grid_codes"] == [GRID[4]]
    summary = plan.summary()
    assert [t["workers"] for t in summary["teams"]] == [2, 1]


def test_user_errors(tmp_path):
    empty = small_store(tmp_path / "e.gpkg", [], [])
    with pytest.raises(NotFoundError, match="no workers"):
        StaffingPlan.from_store(empty)
    crowded = small_store(
        tmp_path / "c.gpkg",
        [worker(f"W{i}", [0], ["sanitation"]) for i in range(3)],
        [incident("A", "E0102")],
    )
    with pytest.raises(GridMapError, match="staffing of the team sanitation"):
        StaffingPlan.from_store(crowded, time_limit=1)  # 3 workers for the 1 grid they cover
    with pytest.raises(GridMapError, match="population_weight"):
        StaffingPlan.from_store(crowded, population_weight=2)
