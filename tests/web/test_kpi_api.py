"""The KPI endpoints: JSON and CSV, groups and periods, who may read them."""

from __future__ import annotations

import csv
import io

import geopandas as gpd
import pytest

from tests.conftest import square_grids
from tests.dispatch_helpers import incident, worker


@pytest.fixture
def filled(store):
    store.insert("grids", square_grids(3))
    store.insert("workers", gpd.GeoDataFrame([worker("W1", [0], ["sanitation"])], crs=4326))
    rows = [incident(f"I{i}", "E0102", grid=i % 2) for i in range(4)]
    store.insert("incidents", gpd.GeoDataFrame(rows, crs="EPSG:4326"))
    for action, extra in [("dispatch", {"worker_id": "W1"}), ("accept", {}), ("resolve", {})]:
        store.transition("I0", action, actor="t", at="2025-03-04T10:00+08:00", **extra)
    store.transition("I0", "close", actor="t", at="2025-03-04T11:00+08:00")
    return store


def test_kpi_json_per_grid(client, filled, bearer):
    r = client.get("/api/kpi?by=grid", headers=bearer("official"))
    assert r.status_code == 200
    rows = {row["grid_code"]: row for row in r.json["rows"]}
    first = rows["11010100100101"]
    assert (first["received"], first["closed"], first["closed_on_time"]) == (2, 1, 1)
    assert rows["11010100100102"]["closed"] == 0
    assert r.json["labels"]["closure_rate"]["zh"] == "结案率"


def test_kpi_csv_matches_json(client, filled, bearer):
    who = bearer("official")
    rows = client.get("/api/kpi?by=grid&period=day", headers=who).json["rows"]
    r = client.get("/api/kpi.csv?by=grid&period=day", headers=who)
    assert r.headers["Content-Type"] == "text/csv; charset=utf-8"
    table = list(csv.DictReader(io.StringIO(r.data.decode("utf-8-sig"))))
    assert len(table) == len(rows)
    assert [int(t["received"]) for t in table] == [row["received"] for row in rows]


@pytest.mark.parametrize(
    ("query", "field"),
    [("by=street", "by"), ("period=year", "period"), ("from=yesterday", "start"), ("x=1", "x")],
)
def test_bad_kpi_parameters_name_the_field(client, filled, bearer, query, field):
    r = client.get(f"/api/kpi?{query}", headers=bearer("official"))
    assert r.status_code == 422
    assert field in r.json["description"]


def test_kpis_are_for_officials_and_dispatchers(client, filled, bearer):
    assert client.get("/api/kpi").status_code == 401
    assert client.get("/api/kpi", headers=bearer("citizen")).status_code == 403
    assert client.get("/api/kpi", headers=bearer("planner")).status_code == 403
    assert client.get("/api/kpi", headers=bearer("dispatcher")).status_code == 200
