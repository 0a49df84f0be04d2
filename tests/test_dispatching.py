"""Dispatch plans on the real demo store and on small hand-made stores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridmap.catalog import categories
from gridmap.dispatching import ASSIGNED_STATES, DispatchPlan
from gridmap.errors import NotFoundError, ValidationError
from gridmap.shifts import next_workday_start, remaining_shift_hours, resolve_now, shift_bounds
from gridmap.stores import open_store
from tests.dispatch_helpers import TUESDAY, copy_of, demo_copy, incident, small_store, worker

TZ = "Asia/Shanghai"


@pytest.fixture(scope="module")
def demo_path(tmp_path_factory):
    return demo_copy(tmp_path_factory)


@pytest.fixture
def demo(demo_path, tmp_path):
    store = open_store(copy_of(demo_path, tmp_path))
    yield store
    store.close()


def held(store) -> pd.Series:
    rows = store.read("incidents", where={"status": list(ASSIGNED_STATES)})
    return rows["worker_id"].value_counts()


# -- the demo ------------------------------------------------------------------------------------
def test_demo_dispatch_moves_incidents_with_history_within_skills_and_capacity(demo):
    received = demo.read("incidents", where={"status": "received"})
    plan = DispatchPlan.from_store(demo, now="next-workday", include_received=True)
    assert plan.now == pd.Timestamp("2025-12-01 09:00", tz=TZ)  # Monday after the data's end
    assert len(plan.incidents) == len(received) > 40
    assert len(plan.assigned) == len(received)  # everyone on shift, enough room
    report = plan.apply(demo)
    assert not report.conflicts
    assert sorted(report.dispatched) == sorted(report.registered) == sorted(received["id"])
    rows = demo.read("incidents").set_index("id")
    history = demo.history()
    for e in plan.assigned:
        assert rows.loc[e.incident_id, "status"] == "dispatched"
        assert rows.loc[e.incident_id, "worker_id"] == e.worker_id
        steps = history[history["incident_id"] == e.incident_id].tail(2)
        assert steps["action"].tolist() == ["register", "dispatch"]
        last = steps.iloc[-1]
        assert last["note"] == f"to {e.worker_id}" and last["actor"] == "dispatcher"
        assert last["at"] == plan.now and last["to_status"] == "dispatched"
    workers = demo.read("workers").set_index("id")
    counts = held(demo)
    assert (counts <= workers.loc[counts.index, "max_open"]).all()
    catalog = categories()
    for row in demo.read("incidents", where={"status": "dispatched"}).itertuples():
        assert catalog[row.category].skill in workers.loc[row.worker_id, "skills"]
    summary = plan.summary()
    assert summary["status"] == "OPTIMAL" and summary["gap"] == 0
    assert summary["outside_own_grid"] == sum(e.outside_grid for e in plan.assigned)
    assert 0 < summary["mean_travel_minutes"] <= summary["max_travel_minutes"] < 30


def test_demo_plan_is_deterministic_and_sparse_agrees(demo):
    a = DispatchPlan.from_store(demo, now="next-workday", include_received=True)
    b = DispatchPlan.from_store(demo, now="next-workday", include_received=True)
    assert [e.worker_id for e in a.incidents] == [e.worker_id for e in b.incidents]
    sparse = DispatchPlan.from_store(demo, now="next-workday", include_received=True, dense_pairs=0)
    assert "nearest" in sparse.travel
    assert len(sparse.assigned) == len(a.assigned)
    assert sparse.result.objective == pytest.approx(a.result.objective, rel=0.01)


def test_demo_after_hours_nobody_is_on_shift(demo):
    plan = DispatchPlan.from_store(demo, include_received=True)  # Sunday 18:33, the data's end
    assert plan.summary()["on_shift"] == 0
    assert {e.reason for e in plan.incidents} == {"outside_shift"}
    registered_only = DispatchPlan.from_store(demo)
    assert registered_only.incidents == ()
    assert registered_only.received_waiting == len(plan.incidents)


# -- hand-made cases -----------------------------------------------------------------------------
def test_reasons_for_unassigned_incidents(tmp_path):
    far = (116.73, 39.9)  # 30 km east: a 2.6 h trip, within the shift but dearer than waiting
    store = small_store(
        tmp_path / "s.gpkg",
        [
            worker("W1", [0, 1], ["sanitation"], max_open=1),
            worker("W2", [2], ["enforcement"], shift=("06:00", "08:00")),
            worker("W3", [8], ["greening"], at=far),
        ],
        [
            incident("held", "E0102", status="handling", worker_id="W1"),  # W1 is full
            incident("full", "E0104", grid=1),  # sanitation: only W1, at capacity
            incident("skill", "E0501", grid=2),  # emergency: nobody
            incident("shift", "E0101", grid=2),  # enforcement: W2, off shift at 10:00
            incident("cheap", "E0106", grid=8),  # greening: W3, 30 km away
        ],
    )
    plan = DispatchPlan.from_store(store, now="2025-03-04T10:00")
    reasons = {e.incident_id: e.reason for e in plan.incidents}
    assert reasons == {
        "full": "all_at_capacity",
        "skill": "no_qualified_worker",
        "shift": "outside_shift",
        "cheap": "penalty_cheaper",
    }
    assert all(e.worker_id is None and e.unassigned_cost == e.penalty for e in plan.incidents)
    ranged = DispatchPlan.from_store(store, now="2025-03-04T10:00", max_travel_minutes=30)
    assert {e.incident_id: e.reason for e in ranged.incidents}["cheap"] == "no_worker_in_range"
    sparse = DispatchPlan.from_store(store, now="2025-03-04T10:00", dense_pairs=0)
    assert {e.incident_id: e.reason for e in sparse.incidents} == reasons
    assert plan.apply(store).dispatched == ()


def test_capacity_priority_and_outside_grid(tmp_path):
    store = small_store(
        tmp_path / "s.gpkg",
        [worker("W1", [0], ["sanitation"], max_open=2), worker("W2", [4], ["enforcement"])],
        [
            incident("A", "E0102", grid=0),
            incident("B", "E0102", grid=1),
            incident("C", "E0102", grid=0, priority=1),
            incident("D", "E0101", grid=0),  # enforcement in W1's grid: W2 goes outside its own
        ],
    )
    plan = DispatchPlan.from_store(store, now="2025-03-04T10:00")
    got = {e.incident_id: e for e in plan.incidents}
    assert got["C"].worker_id == "W1"  # urgent first
    assert got["A"].worker_id == "W1"  # the nearer of the two normal ones
    assert got["B"].reason == "all_at_capacity"
    assert got["D"].worker_id == "W2" and got["D"].outside_grid
    assert got["D"].outside_grid_cost == 900.0 and got["D"].travel_minutes > 0
    assert not got["A"].outside_grid
    report = plan.apply(store, actor="desk 3")
    assert sorted(report.dispatched) == ["A", "C", "D"]
    assert held(store)["W1"] == 2
    entry = store.history("D").iloc[-1]
    assert entry["actor"] == "desk 3" and entry["note"] == "to W2"


def test_conflicts_are_reported_not_fatal(tmp_path):
    store = small_store(
        tmp_path / "s.gpkg",
        [worker("W1", [0], ["sanitation"])],
        [incident("A", "E0102"), incident("B", "E0102", grid=1)],
    )
    plan = DispatchPlan.from_store(store, now="2025-03-04T10:00")
    store.update("incidents", "A", {"description": "edited meanwhile"})
    report = plan.apply(store)
    assert report.dispatched == ("B",)
    assert [i for i, _ in report.conflicts] == ["A"]
    assert "changed by someone else" in report.conflicts[0][1]
    assert store.get("incidents", "A")["status"] == "registered"


def test_cumulative_shift_limits_new_cases(tmp_path):
    rows = [incident(f"I{i}", "E0102", grid=i % 3) for i in range(6)]
    store = small_store(tmp_path / "s.gpkg", [worker("W1", [0, 1, 2], ["sanitation"])], rows)
    late = "2025-03-04T17:20"  # 40 minutes of shift left, 15 minutes on site per case
    together = DispatchPlan.from_store(store, now=late)
    alone = DispatchPlan.from_store(store, now=late, cumulative_shift=False)
    assert len(alone.assigned) == 6
    assert 1 <= len(together.assigned) <= 2
    assert {e.reason for e in together.incidents if e.worker_id is None} == {"outside_shift"}


def test_worker_without_location_uses_its_grids(tmp_path):
    w = worker("W1", [4], ["sanitation"])
    w["geometry"] = None
    store = small_store(tmp_path / "s.gpkg", [w], [incident("A", "E0102", grid=4)])
    plan = DispatchPlan.from_store(store, now="2025-03-04T10:00")
    assert plan.assigned[0].worker_id == "W1"
    assert plan.assigned[0].travel_minutes < 0.01  # at the centre of its grid


def test_no_workers_is_a_user_error(tmp_path):
    store = small_store(tmp_path / "s.gpkg", [], [incident("A", "E0102")])
    with pytest.raises(NotFoundError, match="no workers"):
        DispatchPlan.from_store(store, now=TUESDAY)


# -- time ----------------------------------------------------------------------------------------
def test_shifts_and_now(tmp_path):
    at = pd.Timestamp("2025-03-04 10:00", tz=TZ)
    lo, hi = shift_bounds("09:00", "18:00", at)
    assert (lo.hour, hi.hour) == (9, 18) and lo.date() == at.date()
    lo, hi = shift_bounds("22:00", "06:00", at)  # a night shift: tonight's
    assert lo == pd.Timestamp("2025-03-04 22:00", tz=TZ) and hi.day == 5
    lo, hi = shift_bounds("22:00", "06:00", pd.Timestamp("2025-03-04 02:00", tz=TZ))
    assert lo.day == 3 and hi == pd.Timestamp("2025-03-04 06:00", tz=TZ)
    staff = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d"],
            "shift_start": ["09:00", "08:00", "12:00", "22:00"],
            "shift_end": ["18:00", "09:30", "20:00", "06:00"],
        }
    )
    np.testing.assert_allclose(remaining_shift_hours(staff, at), [8.0, 0.0, 8.0, 8.0])
    with pytest.raises(ValidationError, match="shift_end"):
        shift_bounds("09:00", "6 pm", at)

    store = small_store(tmp_path / "s.gpkg", [], [])
    friday = resolve_now(store, "2025-03-07T19:00")
    assert friday == pd.Timestamp("2025-03-07 19:00", tz=TZ)
    assert resolve_now(store, "2025-03-07T11:00:00Z").hour == 19
    assert next_workday_start(friday) == pd.Timestamp("2025-03-10 09:00", tz=TZ)
    with pytest.raises(ValidationError, match="next-workday"):
        resolve_now(store, "tomorrow")
    for no_time in ("", "NaT", "-1"):  # pandas reads these as no time or year -1: were 500s
        with pytest.raises(ValidationError, match="next-workday"):
            resolve_now(store, no_time)
