"""``gridmap dispatch``, ``staff`` and ``patrol`` as a user runs them."""

from __future__ import annotations

import pandas as pd
import pytest

from gridmap.cli import main
from gridmap.patrol import PatrolRoute
from gridmap.stores import open_store
from tests.dispatch_helpers import GRID, copy_of, demo_copy, incident, small_store, worker

LAYERS = ("grids", "workers", "incidents")


@pytest.fixture(scope="module")
def demo_path(tmp_path_factory):
    return demo_copy(tmp_path_factory)


@pytest.fixture
def demo(demo_path, tmp_path):
    return str(copy_of(demo_path, tmp_path))


def snapshot(url: str) -> dict[str, pd.DataFrame]:
    store = open_store(url)
    try:
        frames = {name: store.read(name) for name in LAYERS}
        frames["history"] = store.history()
    finally:
        store.close()
    return frames


def assert_unchanged(before: dict, after: dict) -> None:
    for name, frame in before.items():
        assert len(after[name]) == len(frame), name
        pd.testing.assert_frame_equal(after[name], frame, obj=name)


def test_dry_runs_change_nothing(demo, capsys):
    before = snapshot(demo)
    args = ["--store", demo, "dispatch", "--dry-run", "--register", "--now", "next-workday"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "incidents considered: 52" in out and "assigned: 52; unassigned: 0" in out
    assert "solver: cp_sat; status OPTIMAL" in out and "dry run: nothing written" in out
    assert "outside own grid:" in out and "mean" in out and "... 42 more" in out
    assert_unchanged(before, snapshot(demo))


def test_staff_dry_run_then_apply(tmp_path, capsys):
    rows = [incident(f"I{i}", "E0102", grid=i % 9) for i in range(18)]
    workers = [worker("W1", list(range(8)), ["sanitation"]), worker("W2", [8], ["sanitation"])]
    small_store(tmp_path / "s.gpkg", workers, rows).close()
    url = str(tmp_path / "s.gpkg")
    before = snapshot(url)
    assert main(["--store", url, "staff", "--dry-run", "--time-limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "team sanitation: 2 worker(s), 9 grid(s)" in out and "dry run: nothing written" in out
    assert "moved grids (" in out and "W1 -> W2" in out
    assert_unchanged(before, snapshot(url))
    assert main(["--store", url, "staff", "--time-limit", "2"]) == 0
    assert "grid_codes written for 2 worker(s)" in capsys.readouterr().out
    after = snapshot(url)["workers"].set_index("id")["grid_codes"]
    assert sorted(after["W1"] + after["W2"]) == sorted(before["workers"]["grid_codes"].sum())


def test_dispatch_then_patrol(demo, capsys):
    assert main(["--store", demo, "dispatch"]) == 0  # Sunday evening: nothing registered
    out = capsys.readouterr().out
    assert "incidents considered: 0" in out and "--register" in out
    assert main(["dispatch", "--store", demo, "--register", "--now", "2025-12-01T09:30"]) == 0
    out = capsys.readouterr().out
    assert "dispatched 52 incident(s)" in out and "(52 registered first)" in out
    store = open_store(demo)
    dispatched = store.read("incidents", where={"status": "dispatched"})
    assert len(dispatched) == 52
    assert main(["--store", demo, "patrol", "--worker", "W001", "--time-limit", "0.5"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("route of W001 on 2025-12-01: shift until 17:30, leaving at 09:30")
    route = PatrolRoute.from_store(store, "W001", time_limit=0.5)
    mine = store.read(
        "incidents", where={"worker_id": "W001", "status": ["dispatched", "handling"]}
    )
    cases = [v for v in route.visits if v.kind == "incident"]
    left = [d for d in route.dropped if d.kind == "incident"]
    assert len(cases) + len(left) == len(mine)
    rounds = {v.stop_id for v in route.visits if v.kind == "patrol"}
    rounds |= {d.stop_id for d in route.dropped if d.kind == "patrol"}
    worker = store.read("workers", where={"id": "W001"}).iloc[0]
    assert rounds == set(worker["grid_codes"])  # one round per grid the worker looks after
    check_route(route)
    store.close()


def check_route(route: PatrolRoute) -> None:
    assert route.shift_start <= route.back_at <= route.shift_end
    previous = route.shift_start
    for v in route.visits:
        assert previous <= v.arrival <= v.start <= v.latest_start
        if not v.late:
            assert v.finish <= v.deadline
        previous = v.finish
    assert route.back_at >= previous


def test_patrol_respects_windows_and_reports_dropped_visits(tmp_path, capsys):
    far = (116.62, 39.895)  # 20 km east: 104 min away at 15 km/h x 1.3
    rows = [
        # E0104 (dirty road): 2 working hours from 09:00, due 11:00; reachable only if first
        incident("soon", "E0104", grid=8, status="dispatched", worker_id="W1"),
        incident("far", "E0104", at=far, status="dispatched", worker_id="W1"),
        *(incident(f"I{i}", "E0108", grid=i, status="handling", worker_id="W1") for i in range(6)),
        incident("other", "E0108", grid=1, status="handling", worker_id="W2"),
    ]
    store = small_store(
        tmp_path / "s.gpkg",
        [
            worker("W1", [0, 1, 2], ["sanitation"], shift=("09:30", "12:00")),
            worker("W2", [3], ["sanitation"]),
        ],
        rows,
    )
    route = PatrolRoute.from_store(
        store, "W1", day="2025-03-04", now="2025-03-04T08:00", time_limit=1, round_minutes=0
    )
    assert route.shift_start == pd.Timestamp("2025-03-04 09:30", tz="Asia/Shanghai")
    check_route(route)
    visited = {v.stop_id for v in route.visits}
    dropped = {d.stop_id: d.reason for d in route.dropped}
    assert visited | set(dropped) == {"soon", "far", *(f"I{i}" for i in range(6))}
    assert dropped == {"far": "deadline_unreachable"}  # 09:30 + 104 min > 11:00 - 15 min
    assert "soon" in visited
    store.close()
    capsys.readouterr()
    url = str(tmp_path / "s.gpkg")
    args = ["--store", url, "patrol", "--worker", "W1", "--date", "2025-03-04", "--rounds", "0"]
    assert main([*args, "--now", "2025-03-04T08:00", "--time-limit", "1"]) == 0
    out = capsys.readouterr().out
    assert "dropped incident far" in out and "deadline_unreachable" in out


def test_patrol_rounds_fill_the_time_the_cases_leave(tmp_path):
    rows = [incident("I0", "E0108", grid=0, status="handling", worker_id="W1")]
    store = small_store(
        tmp_path / "r.gpkg",
        [worker("W1", [0, 1, 2], ["sanitation"], shift=("09:00", "12:00"))],
        rows,
    )
    route = PatrolRoute.from_store(store, "W1", day="2025-03-04", now="2025-03-04T08:00")
    check_route(route)
    kinds = [(v.kind, v.stop_id) for v in route.visits]
    assert ("incident", "I0") in kinds
    assert sorted(s for k, s in kinds if k == "patrol") == GRID[:3]  # three short rounds fit
    tight = PatrolRoute.from_store(
        store, "W1", day="2025-03-04", now="2025-03-04T11:20", round_minutes=30
    )
    check_route(tight)
    # 40 minutes left: the case comes first, the rounds that do not fit are dropped
    assert [v.stop_id for v in tight.visits if v.kind == "incident"] == ["I0"]
    assert {d.kind for d in tight.dropped} == {"patrol"}
    store.close()


def test_user_errors_are_one_line(tmp_path, capsys):
    url = str(tmp_path / "s.gpkg")
    small_store(tmp_path / "s.gpkg", [], [incident("A", "E0102")]).close()
    assert main(["--store", url, "dispatch", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gridmap: error:") and "no workers" in err and err.count("\n") == 1
    assert main(["--store", url, "patrol", "--worker", "W9"]) == 2
    assert "no row with id 'W9'" in capsys.readouterr().err
    assert main(["--store", url, "staff"]) == 2
    assert "no workers" in capsys.readouterr().err
    assert main(["--store", url, "dispatch", "--now", "soon"]) == 2
    assert "not a date-time" in capsys.readouterr().err


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert all(command in out for command in ("dispatch", "staff", "patrol"))
