"""Who may do what: every write endpoint (and every read of private data) x every role."""

from __future__ import annotations

import time

import pytest
from shapely.geometry import Point

from gridmap import accounts
from tests.conftest import square_grids

ROLES = ("citizen", "dispatcher", "planner", "official", "admin")
POINT = {"type": "Point", "coordinates": [116.385, 39.895]}


def feature(**properties):
    return {"type": "Feature", "geometry": POINT, "properties": properties}


#: method, path, JSON body, roles allowed besides admin (None: nobody, admin neither)
MATRIX = [
    ("POST", "/api/logout", None, ROLES),
    ("GET", "/api/me", None, ROLES),
    ("GET", "/api/accounts", None, ()),
    ("POST", "/api/accounts", {"kind": "key", "role": "citizen"}, ()),
    ("DELETE", "/api/accounts/nobody", None, ()),
    ("GET", "/api/incidents/{case}", None, ("dispatcher", "planner", "official")),
    ("POST", "/api/incidents/{case}/actions", {"action": "register"}, ("dispatcher",)),
    ("POST", "/api/dispatch", {"now": "2025-03-04T09:00"}, ("dispatcher",)),
    ("GET", "/api/jobs/none", None, ("dispatcher", "planner", "official")),
    ("POST", "/api/jobs/none/accept", None, ("dispatcher",)),
    ("GET", "/api/kpi", None, ("dispatcher", "official")),
    ("GET", "/api/kpi.csv", None, ("dispatcher", "official")),
    ("POST", "/collections/stations/items", feature(id="S9", kind="red_home"), ("planner",)),
    (
        "PATCH",
        "/collections/stations/items/S1",
        {"type": "Feature", "properties": {"capacity": 3}},
        ("planner",),
    ),
    ("DELETE", "/collections/sites/items/none", None, ("planner",)),
    ("POST", "/collections/demand/items", feature(id="D9", kind="courier"), ("planner",)),
    ("POST", "/collections/grids/items", feature(code="G9"), ("planner",)),
    ("POST", "/collections/workers/items", feature(id="W9"), ("dispatcher",)),
    ("POST", "/collections/incidents/items", feature(id="I9", category="E0102"), None),
    ("POST", "/api/siting", {"model": "mclp", "kind": "red_home", "p": 1}, ("planner",)),
    ("POST", "/api/siting/none/accept", None, ("planner",)),
    ("GET", "/collections/incidents/items", None, ("dispatcher", "planner", "official")),
    ("GET", "/collections/workers/items", None, ("dispatcher", "planner", "official")),
]


@pytest.fixture
def world(store):
    store.insert("grids", square_grids(2))
    case = store.intake(
        {"category": "E0102", "description": "垃圾", "geometry": Point(116.385, 39.895)},
        {"email": "secret@example.cn", "phone": "13800000000"},
    )
    station = feature(id="S1", kind="red_home")
    store.insert(
        "stations",
        __import__("geopandas").GeoDataFrame(
            [station["properties"]], geometry=[Point(116.385, 39.895)], crs=4326
        ),
    )
    return case.incident_id


def call(client, method, path, body, headers):
    if body is None:
        return client.open(path, method=method, headers=headers)
    return client.open(path, method=method, json=body, headers=headers)


def test_every_endpoint_by_every_role(client, store, world, bearer):
    failures = []
    for method, template, body, allowed in MATRIX:
        path = template.format(case=world)
        r = call(client, method, path, body, {})
        if r.status_code != 401:
            failures.append(f"anonymous {method} {path}: {r.status_code}")
        for role in ROLES:
            r = call(client, method, path, body, bearer(role))
            may = allowed is not None and (role == "admin" or role in allowed)
            if may and r.status_code in (401, 403):
                failures.append(f"{role} {method} {path}: refused {r.status_code} {r.json}")
            if not may and r.status_code != 403:
                failures.append(f"{role} {method} {path}: {r.status_code}, expected 403")
            if r.status_code >= 500:
                failures.append(f"{role} {method} {path}: server error {r.status_code}")
    assert failures == []


def test_reporter_contact_is_private(client, world, bearer):
    url = f"/api/incidents/{world}"
    for role in ("planner",):
        assert "secret@example.cn" not in client.get(url, headers=bearer(role)).get_data(
            as_text=True
        )
    for role in ("dispatcher", "official", "admin"):
        assert (
            client.get(url, headers=bearer(role)).json["reporter"]["email"] == "secret@example.cn"
        )
    for path in (
        "/collections/incidents/items",
        f"/collections/incidents/items/{world}",
        "/open311/v2/requests.json",
        f"/open311/v2/requests/{world}.xml",
    ):
        text = client.get(path, headers=bearer("official")).get_data(as_text=True)
        assert "secret@example.cn" not in text and "13800000000" not in text, path


def test_open311_post_needs_a_key_of_any_role(client, store, world, bearer):
    form = {"service_code": "E0102", "lat": "39.895", "long": "116.385", "description": "x"}
    assert client.post("/open311/v2/requests.json", data=form).status_code == 403
    assert (
        client.post("/open311/v2/requests.json", data={**form, "api_key": "gm_x_y"}).status_code
        == 403
    )
    key = accounts.create_key(store, "citizen")
    assert (
        client.post("/open311/v2/requests.json", data={**form, "api_key": key}).status_code == 201
    )
    admin_key = accounts.create_key(store, "admin")
    as_bearer = {"Authorization": f"Bearer {admin_key}"}
    assert client.get("/api/accounts", headers=as_bearer).status_code == 403  # Open311 only
    assert client.post("/open311/v2/requests.json", data=form, headers=as_bearer).status_code == 201
    expired = accounts.create_key(store, "citizen", days=-1)
    assert (
        client.post("/open311/v2/requests.json", data={**form, "api_key": expired}).status_code
        == 403
    )


def test_a_revoked_key_stops_working(make_app, bearer, world):
    app = make_app(key_cache_seconds=0.3)
    store, client = app.extensions["gridmap"].store, app.test_client()
    form = {"service_code": "E0102", "lat": "39.895", "long": "116.385", "description": "x"}

    def post(key: str) -> int:
        return client.post("/open311/v2/requests.json", data={**form, "api_key": key}).status_code

    key = accounts.create_key(store, "citizen")
    assert post(key) == 201
    name = "_".join(key.split("_")[:2])
    admin = bearer("admin")
    assert client.delete(f"/api/accounts/{name}", headers=admin).status_code == 204
    assert post(key) == 403  # revoked through the service: at once

    other = accounts.create_key(store, "citizen")
    assert post(other) == 201
    store.delete_records("accounts", {"name": "_".join(other.split("_")[:2])})  # elsewhere
    assert post(other) == 201  # still believed for a moment
    time.sleep(0.4)
    assert post(other) == 403


def test_sessions_expire(make_app, bearer):
    app = make_app(session_hours=-1)
    store = app.extensions["gridmap"].store
    accounts.create_user(store, "late", "official", "password-9")
    client = app.test_client()
    r = client.post("/api/login", json={"name": "late", "password": "password-9"})
    token = r.json["token"]
    assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_passwords_are_stored_hashed(client, store):
    accounts.create_user(store, "li", "dispatcher", "correct horse")
    (row,) = store.records("accounts", {"name": "li"})
    assert "correct horse" not in row["secret"] and row["secret"].startswith("scrypt$")
    assert (
        client.post("/api/login", json={"name": "li", "password": "wrong one"}).status_code == 401
    )
    assert (
        client.post("/api/login", json={"name": "li", "password": "correct horse"}).status_code
        == 200
    )


@pytest.mark.parametrize("days", [0, -1, 1e308, 36_526, "7"])
def test_api_key_lifetime_must_be_a_positive_number_of_days_that_fits(client, store, bearer, days):
    r = client.post(
        "/api/accounts",
        json={"kind": "key", "role": "citizen", "days": days},
        headers=bearer("admin"),
    )
    assert r.status_code == 422, r.json  # 1e308 days was a 500 (no such time)
    assert "days" in r.json["description"]
    assert not store.records("accounts", {"kind": "key"})
