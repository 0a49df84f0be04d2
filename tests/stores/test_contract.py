"""The store contract: every backend behaves the same (run against each backend)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point, Polygon

from gridmap.errors import ConflictError, NotFoundError, ValidationError
from gridmap.model import LAYERS
from gridmap.stores import Store
from tests.conftest import random_incidents, square_grids


def counts(store) -> dict[str, int]:
    return {name: store.count(name) for name in LAYERS} | {"history": len(store.history())}


@pytest.fixture
def filled(store):
    store.insert("grids", square_grids())
    store.insert(
        "workers",
        pd.DataFrame(
            {
                "id": ["w1", "w2"],
                "name": ["张三", "李四"],
                "grid_codes": [["11010100100101", "11010100100102"], ["11010100100103"]],
                "skills": ["sanitation,enforcement", "municipal"],
            }
        ),
    )
    store.insert("incidents", random_incidents(20, square_grids()))
    return store


def test_store_satisfies_protocol(store):
    assert isinstance(store, Store)


def test_init_is_idempotent(store_factory):
    first = store_factory()
    first.insert("grids", square_grids(2))
    second = store_factory()
    second.init()
    assert second.count("grids") == 4


def test_grids_round_trip(store):
    grids = square_grids()
    assert store.insert("grids", grids) == 9
    back = store.read("grids")
    assert back["code"].tolist() == grids["code"].tolist()
    assert back["name"].tolist() == grids["name"].tolist()
    assert back["population"].tolist() == grids["population"].tolist()
    assert back["households"].tolist() == grids["households"].tolist()
    assert all(back.geom_type == "MultiPolygon")
    assert shapely.equals(back.geometry.values, grids.geometry.values).all()
    # area derived in a metric CRS: a 0.01 degree square at 39.9N is about 1.11 km x 0.85 km
    assert np.allclose(back["area_m2"], 1113.2 * 854.0, rtol=0.01)


def test_incidents_round_trip_keeps_instants_and_time_zone(filled):
    source = random_incidents(20, square_grids())
    back = filled.read("incidents")
    assert back["id"].tolist() == source["id"].tolist()
    assert back["description"].tolist() == source["description"].tolist()
    assert (back["reported_at"] == source["reported_at"].dt.floor("ms")).all()
    assert str(back["reported_at"].dt.tz) == "Asia/Shanghai"
    utc = source.assign(reported_at=source["reported_at"].dt.tz_convert("UTC"))
    filled.insert("incidents", utc.assign(id=utc["id"] + "u"))
    again = filled.read("incidents", where={"id": "I000003u"})
    assert again["reported_at"].iloc[0] == source["reported_at"].iloc[3].floor("ms")
    assert shapely.equals(back.geometry.values, source.geometry.values).all()


def test_incident_gets_grid_deadline_and_version(filled):
    incidents = filled.read("incidents")
    grids = filled.read("grids")
    for _, row in incidents.iterrows():
        holder = grids[grids.covers(row.geometry)]
        assert row["grid_code"] == holder["code"].min()
        assert row["deadline"] > row["reported_at"]
    assert set(incidents["version"]) == {1}
    assert set(incidents["status"]) == {"received"}


def test_incident_outside_every_grid_has_no_grid(store):
    store.insert("grids", square_grids())
    far = random_incidents(1, square_grids()).set_geometry([Point(120.0, 30.0)], crs=4326)
    store.insert("incidents", far)
    assert store.get("incidents", "I000000")["grid_code"] is None


def test_list_fields_round_trip(filled):
    w = filled.get("workers", "w1")
    assert w["grid_codes"] == ["11010100100101", "11010100100102"]
    assert w["skills"] == ["sanitation", "enforcement"]
    assert w["max_open"] == 10 and w.geometry is None


def test_stations_get_default_radius_by_kind(store):
    stations = gpd.GeoDataFrame(
        {
            "id": ["s1", "s2", "s3"],
            "kind": ["public_toilet", "service_center", "red_home"],
            "service_radius_m": [None, None, 750.0],
        },
        geometry=[Point(116.38, 39.89)] * 3,
        crs=4326,
    )
    store.insert("stations", stations)
    assert store.read("stations")["service_radius_m"].tolist() == [300.0, 1000.0, 750.0]


def test_bbox_where_limit_offset(filled):
    everything = filled.read("incidents")
    bbox = (116.385, 39.875, 116.395, 39.885)
    inside = everything[everything.intersects(shapely.box(*bbox))]
    got = filled.read("incidents", bbox=bbox)
    assert sorted(got["id"]) == sorted(inside["id"])
    assert filled.count("incidents", bbox=bbox) == len(inside)
    cat = everything["category"].iloc[0]
    assert (
        filled.count("incidents", where={"category": cat}) == (everything["category"] == cat).sum()
    )
    both = filled.read("incidents", where={"category": ["E0102", "H05"]})
    assert set(both["category"]) <= {"E0102", "H05"}
    assert len(both) == everything["category"].isin(["E0102", "H05"]).sum()
    t = everything["reported_at"].sort_values().iloc[10]
    early = filled.read("incidents", where={"reported_at": slice(None, t)})
    assert len(early) == 10
    page = filled.read("incidents", limit=5, offset=5)
    assert page["id"].tolist() == everything["id"].tolist()[5:10]
    with pytest.raises(ValidationError, match="cannot be filtered by"):
        filled.read("incidents", where={"nope": 1})


def test_bad_rows_are_rejected_and_nothing_is_written(filled):
    before = counts(filled)
    bad = random_incidents(5, square_grids(), prefix="X")
    bad.loc[3, "category"] = "ZZ99"
    with pytest.raises(ValidationError) as err:
        filled.insert("incidents", bad)
    assert "row 3: category" in err.value.reasons[0]
    dup = random_incidents(2, square_grids())  # ids I000000, I000001 exist
    with pytest.raises(ValidationError, match="already exists"):
        filled.insert("incidents", dup)
    invalid = square_grids(1).assign(code="X")
    invalid.geometry = [Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])]
    with pytest.raises(ValidationError, match="Self-intersection"):
        filled.insert("grids", invalid)
    assert counts(filled) == before


def test_bulk_write_matches_row_writes_and_index_works(store_factory):
    from gridmap.stores.geopackage import BULK_ROWS

    grids = square_grids(4)
    big = random_incidents(BULK_ROWS + 10, grids, seed=3)
    a = store_factory()
    a.insert("grids", grids)
    a.insert("incidents", big)  # one bulk write
    small = big.iloc[:50]
    assert a.count("incidents") == len(big)
    bbox = (116.39, 39.87, 116.40, 39.88)
    expected = big[big.intersects(shapely.box(*bbox))]["id"]
    assert sorted(a.read("incidents", bbox=bbox)["id"]) == sorted(expected)
    a.delete("incidents", small["id"].tolist())
    a.insert("incidents", small)  # row writes after a bulk write keep the index right
    assert sorted(a.read("incidents", bbox=bbox)["id"]) == sorted(expected)


def test_replace_swaps_a_layer_atomically(filled):
    filled.insert("grids", square_grids(2), replace=True)
    assert filled.count("grids") == 4
    bad = square_grids(2).assign(code=None)
    with pytest.raises(ValidationError):
        filled.insert("grids", bad, replace=True)
    assert filled.count("grids") == 4


def test_update_changes_fields_and_checks_them(filled):
    row = filled.update("grids", "11010100100101", {"name": "新名字", "population": 5.0})
    assert row["name"] == "新名字" and row["population"] == 5.0
    with pytest.raises(ValidationError, match="cannot be set directly"):
        filled.update("grids", "11010100100101", {"area_m2": 1.0})
    with pytest.raises(ValidationError, match="workflow action"):
        filled.update("incidents", "I000000", {"status": "closed"})
    with pytest.raises(ValidationError, match="below"):
        filled.update("grids", "11010100100101", {"population": -1})
    with pytest.raises(NotFoundError):
        filled.update("grids", "nope", {"name": "x"})
    moved = filled.update("incidents", "I000000", {"geometry": Point(116.405, 39.875)})
    assert moved["grid_code"] == "11010100100109"
    assert moved["version"] == 2


def test_delete(filled):
    assert filled.delete("incidents", ["I000000", "I000001", "missing"]) == 2
    assert filled.count("incidents") == 18
    assert len(filled.history("I000000")) == 0


def test_workflow_records_every_transition(filled):
    s = filled
    s.transition("I000000", "register", actor="op1", note="ok")
    s.transition("I000000", "dispatch", actor="op1", worker_id="w1")
    s.transition("I000000", "accept", actor="w1")
    s.transition("I000000", "resolve", actor="w1", note="cleaned")
    s.transition("I000000", "rework", actor="checker", note="still dirty")
    s.transition("I000000", "resolve", actor="w1")
    row = s.transition("I000000", "close", actor="checker")
    assert row["status"] == "closed" and row["worker_id"] == "w1" and row["version"] == 8
    h = s.history("I000000")
    assert h["seq"].tolist() == list(range(8))
    assert h["action"].tolist() == [
        "report",
        "register",
        "dispatch",
        "accept",
        "resolve",
        "rework",
        "resolve",
        "close",
    ]
    assert h["from_status"].tolist()[1:] == h["to_status"].tolist()[:-1]
    assert h["at"].is_monotonic_increasing
    with pytest.raises(ConflictError, match="allowed actions: none"):
        s.transition("I000000", "dispatch", actor="op1", worker_id="w1")
    with pytest.raises(ConflictError, match="allowed actions: register, reject"):
        s.transition("I000001", "accept", actor="w1")
    s.transition("I000002", "register", actor="op")
    with pytest.raises(NotFoundError, match="nobody"):
        s.transition("I000002", "dispatch", actor="op", worker_id="nobody")
    assert s.get("incidents", "I000002")["status"] == "registered"


def test_extension_moves_the_deadline_only_forward(filled):
    s = filled
    s.transition("I000004", "register", actor="op")
    row = s.transition("I000004", "dispatch", actor="op", worker_id="w2")
    later = row["deadline"] + pd.Timedelta(hours=8)
    with pytest.raises(ValidationError, match="later"):
        s.transition(
            "I000004", "extend", actor="w2", deadline=row["deadline"], at=row["reported_at"]
        )
    out = s.transition("I000004", "extend", actor="w2", deadline=later, at=row["reported_at"])
    assert out["deadline"] == later and out["status"] == "dispatched"
    with pytest.raises(ConflictError, match="before the deadline"):
        s.transition(
            "I000004",
            "extend",
            actor="w2",
            deadline=later + pd.Timedelta(hours=1),
            at=later + pd.Timedelta(hours=1),
        )


def test_concurrent_writers_never_lose_an_update(store_factory):
    a = store_factory()
    a.insert("grids", square_grids())
    a.insert("workers", pd.DataFrame({"id": ["w1", "w2"]}))
    a.insert("incidents", random_incidents(1, square_grids()))
    a.transition("I000000", "register", actor="a")
    b = store_factory()
    seen_a = a.get("incidents", "I000000")["version"]
    seen_b = b.get("incidents", "I000000")["version"]
    a.transition("I000000", "dispatch", actor="a", worker_id="w1", expected_version=seen_a)
    with pytest.raises(ConflictError, match="changed by someone else"):
        b.transition("I000000", "dispatch", actor="b", worker_id="w2", expected_version=seen_b)
    assert b.get("incidents", "I000000")["worker_id"] == "w1"


def test_locate_points(filled):
    pts = gpd.GeoSeries([Point(116.385, 39.895), Point(116.39, 39.89), Point(0, 0)], crs=4326)
    codes = filled.locate(pts)
    assert codes.iloc[0] == "11010100100101"
    assert codes.iloc[1] == "11010100100101"  # shared corner of four grids: smallest code
    assert pd.isna(codes.iloc[2])


def test_layer_info(filled):
    info = filled.layer_info("grids")
    assert info.count == 9
    assert info.bbox == pytest.approx((116.38, 39.87, 116.41, 39.90), abs=1e-5)
    filled.set_layer_info("incidents", description="Simulated, seed 1", simulated=True)
    assert filled.layer_info("incidents").simulated
    assert filled.layer_info("incidents").description == "Simulated, seed 1"
    assert not filled.layer_info("grids").simulated
    with pytest.raises(NotFoundError):
        filled.layer_info("nope")


def test_imported_history_must_end_in_the_status(store):
    store.insert("grids", square_grids())
    inc = random_incidents(2, square_grids()).assign(status=["closed", "received"])
    at = inc["reported_at"].iloc[0]
    history = pd.DataFrame(
        {
            "incident_id": ["I000000"] * 2,
            "at": [at + pd.Timedelta(hours=1), at + pd.Timedelta(hours=5)],
            "from_status": ["received", "registered"],
            "to_status": ["registered", "handling"],
            "action": ["register", "x"],
            "actor": ["op", "op"],
            "note": ["", ""],
        }
    )
    with pytest.raises(ValidationError, match="ends in 'handling'"):
        store.insert("incidents", inc, history=history)
    assert store.count("incidents") == 0
    plain = store.insert("incidents", inc)
    assert plain == 2
    assert store.history("I000000")["action"].tolist() == ["report", "import"]


def candidate_sites(n: int = 5) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "id": [f"c{i}" for i in range(n)],
            "kind": ["red_home"] * (n - 1) + ["public_toilet"],
            "name": [f"候选{i}" for i in range(n)],
        },
        geometry=[Point(116.38 + 0.001 * i, 39.89) for i in range(n)],
        crs=4326,
    )


def test_set_values_writes_many_rows_and_resets_the_others(store):
    store.insert("sites", candidate_sites())
    store.set_values("sites", ["c0", "c1", "c4"], {"rank": [1, 2, 1], "gain": [5.0, 2.5, 1.0]})
    n = store.set_values(
        "sites",
        ["c2", "c1"],
        {"rank": [1, 2], "gain": [7.0, None], "suggested_by": ["mclp", "mclp"]},
        reset={"kind": "red_home"},
    )
    assert n == 2
    rows = store.read("sites").set_index("id")
    assert rows["rank"].isna().tolist() == [True, False, False, True, False]
    assert rows.loc["c2", "rank"] == 1 and rows.loc["c1", "rank"] == 2
    assert rows.loc["c2", "gain"] == 7.0 and np.isnan(rows.loc["c1", "gain"])
    assert rows.loc["c2", "suggested_by"] == "mclp" and rows.loc["c0", "suggested_by"] is None
    assert rows.loc["c4", "rank"] == 1 and rows.loc["c4", "gain"] == 1.0  # other kind: kept
    assert rows.loc["c0", "name"] == "候选0"  # other columns untouched


def test_set_values_is_checked_and_atomic(store):
    store.insert("sites", candidate_sites())
    store.set_values("sites", ["c0"], {"rank": [1]})
    before = store.read("sites")
    with pytest.raises(ValidationError, match="below 1"):
        store.set_values("sites", ["c1", "c2"], {"rank": [1, 0]}, reset={"kind": "red_home"})
    with pytest.raises(ValidationError, match="not an integer"):
        store.set_values("sites", ["c1"], {"rank": ["first"]})
    with pytest.raises(NotFoundError, match="nope"):
        store.set_values("sites", ["c1", "nope"], {"rank": [1, 2]}, reset={"kind": "red_home"})
    with pytest.raises(ValidationError, match="cannot be set"):
        store.set_values("sites", ["c1"], {"id": ["x"]})
    with pytest.raises(ValidationError, match="one value per key"):
        store.set_values("sites", ["c1", "c2"], {"rank": [1]})
    with pytest.raises(ValidationError, match="given twice"):
        store.set_values("sites", ["c1", "c1"], {"rank": [1, 2]})
    with pytest.raises(ValidationError, match="no field"):
        store.set_values("sites", ["c1"], {"nope": [1]})
    with pytest.raises(ValidationError, match="cannot be filtered"):
        store.set_values("sites", ["c1"], {"rank": [1]}, reset={"nope": 1})
    after = store.read("sites")
    pd.testing.assert_frame_equal(pd.DataFrame(before), pd.DataFrame(after))


def test_road_edges_round_trip(store):
    roads = gpd.GeoDataFrame(
        {
            "id": ["e1", "e2"],
            "u": ["1", "2"],
            "v": ["2", "3"],
            "length_m": [85.2, 120.0],
            "name": ["长安街", None],
            "highway": ["primary", "residential"],
            "oneway": [1, None],
        },
        geometry=[
            shapely.LineString([(116.380, 39.900), (116.381, 39.900)]),
            shapely.MultiLineString([[(116.381, 39.900), (116.381, 39.901)]]),
        ],
        crs=4326,
    )
    assert store.insert("roads", roads) == 2
    back = store.read("roads")
    assert back["name"].tolist() == ["长安街", None]
    assert back["oneway"].tolist() == [1, 0]
    assert back["speed_kmh"].isna().all()
    assert (back.geom_type == "LineString").all()
    assert store.layer_info("roads").bbox == pytest.approx((116.38, 39.9, 116.381, 39.901))
    two = roads.iloc[:1].assign(id="e3")
    two.geometry = [shapely.MultiLineString([[(0, 0), (0, 1)], [(1, 1), (1, 2)]])]
    with pytest.raises(ValidationError, match="MultiLineString with several lines"):
        store.insert("roads", two)
