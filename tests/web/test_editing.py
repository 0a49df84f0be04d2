"""Writes to the layers (OGC API Part 4) and the planner's siting runs."""

from __future__ import annotations

import time

import geopandas as gpd
import pytest
from shapely.geometry import Point

from tests.conftest import square_grids


def station(sid="S1", x=116.385, y=39.895, **properties):
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [x, y]},
        "properties": {"id": sid, "kind": "red_home", "name": "红色驿站", **properties},
    }


def test_planner_adds_changes_and_removes_a_station(client, store, bearer):
    who = bearer("planner")
    r = client.post("/collections/stations/items", json=station(), headers=who)
    assert r.status_code == 201, r.json
    assert r.headers["Location"] == "/collections/stations/items/S1"
    assert r.json["properties"]["service_radius_m"] == 500  # the kind's default
    r = client.patch(
        "/collections/stations/items/S1",
        json={"type": "Feature", "properties": {"capacity": 12}},
        headers=who,
    )
    assert r.status_code == 200 and r.json["properties"]["capacity"] == 12
    assert store.get("stations", "S1")["capacity"] == 12
    assert client.delete("/collections/stations/items/S1", headers=who).status_code == 204
    assert store.count("stations") == 0
    assert client.delete("/collections/stations/items/S1", headers=who).status_code == 404


@pytest.mark.parametrize(
    ("feature", "field"),
    [
        (station(kind="castle"), "kind"),
        (station(capacity=-1), "capacity"),
        (station(x=500.0), "geometry"),
        ({"type": "Feature", "geometry": {"type": "Blob"}, "properties": {"id": "S2"}}, "geometry"),
        (  # a polygon without rings: was a 500 (IndexError in shapely's shape())
            {
                "type": "Feature",
                "geometry": {"type": "MultiPolygon", "coordinates": [[]]},
                "properties": {"id": "S2", "kind": "red_home"},
            },
            "geometry",
        ),
        ({"type": "Point", "coordinates": [1, 2]}, "Feature"),
        (station(sid=""), "id"),
    ],
)
def test_bad_features_are_refused_naming_the_field(client, store, bearer, feature, field):
    r = client.post("/collections/stations/items", json=feature, headers=bearer("planner"))
    assert 400 <= r.status_code < 500
    assert field in r.json["description"] + " ".join(r.json.get("reasons", []))
    assert store.count("stations") == 0


def test_duplicate_id_is_refused(client, store, bearer):
    who = bearer("planner")
    assert (
        client.post("/collections/stations/items", json=station(), headers=who).status_code == 201
    )
    r = client.post("/collections/stations/items", json=station(), headers=who)
    assert r.status_code == 422 and "already exists" in r.json["description"]
    assert store.count("stations") == 1


def test_incidents_are_not_edited_through_the_items_api(client, bearer):
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [116.385, 39.895]},
        "properties": {"id": "I1", "category": "E0102", "reported_at": "2025-03-04T09:00+08:00"},
    }
    r = client.post("/collections/incidents/items", json=feature, headers=bearer("admin"))
    assert r.status_code == 403 and "workflow" in r.json["description"]


def test_dispatchers_edit_workers_planners_do_not(client, store, bearer):
    store.insert("grids", square_grids(1))
    worker = {
        "type": "Feature",
        "geometry": None,
        "properties": {"id": "W1", "name": "李", "grid_codes": ["11010100100101"]},
    }
    assert (
        client.post(
            "/collections/workers/items", json=worker, headers=bearer("planner")
        ).status_code
        == 403
    )
    assert (
        client.post(
            "/collections/workers/items", json=worker, headers=bearer("dispatcher")
        ).status_code
        == 201
    )
    assert store.get("workers", "W1")["grid_codes"] == ["11010100100101"]


def test_siting_run_suggests_and_planner_accepts(client, store, bearer):
    store.insert("grids", square_grids(3))
    demand = gpd.GeoDataFrame(
        {"id": [f"D{i}" for i in range(6)], "kind": "courier", "weight": 1.0},
        geometry=[Point(116.381 + 0.005 * i, 39.895) for i in range(6)],
        crs=4326,
    )
    store.insert("demand", demand)
    sites = gpd.GeoDataFrame(
        {"id": ["A", "B", "C"], "kind": "red_home"},
        geometry=[Point(116.383, 39.895), Point(116.395, 39.895), Point(116.45, 39.80)],
        crs=4326,
    )
    store.insert("sites", sites)
    who = bearer("planner")
    body = {"model": "mclp", "kind": "red_home", "p": 2, "radius_m": 600, "demand": "courier"}
    r = client.post("/api/siting", json=body, headers=who)
    assert r.status_code == 202, r.json
    job = r.json
    for _ in range(500):
        job = client.get(f"/api/jobs/{job['id']}", headers=who).json
        if job["status"] in ("done", "failed"):
            break
        time.sleep(0.02)
    assert job["status"] == "done", job
    ranked = [s["id"] for s in job["result"]["suggestions"]]
    assert sorted(ranked) == ["A", "B"]
    # straight lines x 1.3 detour: A reaches the first two points, B the next two
    assert job["result"]["after"]["covered_share"] == pytest.approx(4 / 6)
    assert job["result"]["before"]["covered_share"] == 0
    r = client.post(f"/api/siting/{job['id']}/accept", headers=who)
    assert r.status_code == 200 and r.json["ranked"] == 2
    assert store.get("sites", ranked[0])["rank"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "best", "kind": "red_home"}, "model"),
        ({"model": "mclp", "kind": "red_home", "p": 0}, "p"),
        ({"model": "mclp", "kind": "red_home", "p": 1, "radius_m": -5}, "radius_m"),
        ({"model": "mclp", "kind": "red_home", "colour": 1}, "colour"),
    ],
)
def test_bad_siting_requests_name_the_field(client, bearer, body, field):
    r = client.post("/api/siting", json=body, headers=bearer("planner"))
    assert r.status_code == 422 and field in r.json["description"]
