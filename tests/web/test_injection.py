"""SQL metacharacters in every text field and filter are stored and returned verbatim."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import Point

from gridmap import accounts
from tests.conftest import square_grids

PAYLOADS = [
    "'; DROP TABLE incidents; --",
    '" OR 1=1 --',
    "Robert'); DELETE FROM requests WHERE ('1'='1",
    "%_\\' UNION SELECT secret FROM accounts --",
    "路灯 ' ; -- /* */ $1 ? :name",
]


@pytest.fixture
def city(store):
    store.insert("grids", square_grids(2))
    return store


@pytest.mark.parametrize("payload", PAYLOADS)
def test_text_fields_round_trip_verbatim(client, city, bearer, payload):
    key = accounts.create_key(city, "citizen")
    form = {
        "api_key": key,
        "service_code": "E0102",
        "lat": "39.895",
        "long": "116.385",
        "description": payload,
        "address_string": payload,
        "first_name": payload,
        "email": payload,
        "device_id": payload,
    }
    r = client.post("/open311/v2/requests.json", data=form, headers={"Idempotency-Key": payload})
    assert r.status_code == 201, r.json
    case = r.json[0]["service_request_id"]
    assert client.get(f"/open311/v2/requests/{case}.json").json[0]["description"] == payload
    item = client.get(f"/collections/incidents/items/{case}", headers=bearer("official")).json
    assert item["properties"]["description"] == payload
    detail = client.get(f"/api/incidents/{case}", headers=bearer("dispatcher")).json
    assert detail["reporter"]["first_name"] == payload and detail["reporter"]["email"] == payload
    # the same key again finds the same case: the key was compared, not interpreted
    again = client.post(
        "/open311/v2/requests.json", data=form, headers={"Idempotency-Key": payload}
    )
    assert again.status_code == 200 and again.json[0]["service_request_id"] == case
    note = client.post(
        f"/api/incidents/{case}/actions",
        json={"action": "register", "note": payload},
        headers=bearer("dispatcher"),
    )
    assert note.status_code == 200
    history = client.get(f"/api/incidents/{case}", headers=bearer("dispatcher")).json["history"]
    assert history[-1]["note"] == payload
    assert city.count("incidents") == 1 and len(city.records("requests")) == 1


@pytest.mark.parametrize("payload", PAYLOADS)
def test_filters_with_metacharacters_match_nothing_and_break_nothing(client, city, bearer, payload):
    stations = gpd.GeoDataFrame(
        {"id": ["S1", "S2"], "kind": "red_home", "name": [payload, "plain"]},
        geometry=[Point(116.385, 39.895), Point(116.386, 39.896)],
        crs=4326,
    )
    city.insert("stations", stations)
    found = client.get("/collections/stations/items", query_string={"name": payload}).json
    assert [f["id"] for f in found["features"]] == ["S1"]
    assert found["features"][0]["properties"]["name"] == payload
    r = client.get("/collections/stations/items", query_string={"opening_hours": payload})
    assert r.status_code == 200 and r.json["numberMatched"] == 0
    r = client.get("/open311/v2/requests.json", query_string={"service_request_id": payload})
    assert r.status_code in (200, 400, 404)
    r = client.get("/api/kpi", query_string={"by": payload}, headers=bearer("official"))
    assert r.status_code == 422
    assert city.count("stations") == 2 and city.count("grids") == 4
    assert {a["name"] for a in city.records("accounts")} >= {"official-user"}
