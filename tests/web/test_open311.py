"""Open311 GeoReport v2: services, definitions, reports, queries and tokens, in JSON and XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point

from gridmap import accounts
from gridmap.catalog import categories
from gridmap.errors import StoreError, ValidationError
from tests.conftest import square_grids
from web import open311
from web.http import Request
from web.open311_format import REQUEST_FIELDS, w3c

V2 = "/open311/v2"
SERVICE_FIELDS = [
    "service_code",
    "service_name",
    "description",
    "metadata",
    "type",
    "keywords",
    "group",
]
POST_FIELDS = ["service_request_id", "token", "service_notice", "account_id"]
CONTACT = {
    "email": "li.lei@example.cn",
    "phone": "13800138000",
    "first_name": "Lei",
    "last_name": "Li-secret",
    "device_id": "device-7f3a",
}
GRID_8 = (116.395, 39.875)  # inside the 8th grid of square_grids(3)


@pytest.fixture
def gridded(store):
    store.insert("grids", square_grids(3))
    return store


@pytest.fixture
def key(store):
    return accounts.create_key(store, "citizen")


def report(key, **changes):
    form = {
        "api_key": key,
        "service_code": "C0104",
        "lat": str(GRID_8[1]),
        "long": str(GRID_8[0]),
        "description": "路灯不亮 street light out",
    }
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


def parse(response, fmt):
    """Return the body: JSON data, or the XML root element."""
    if fmt == "xml":
        assert response.content_type == "application/xml; charset=utf-8"
        assert response.data.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
        return ET.fromstring(response.data)
    assert response.content_type == "application/json; charset=utf-8"
    return response.json


def error_texts(response, fmt, status):
    """Assert ``response`` is the spec's error list with ``status``; return its descriptions."""
    assert response.status_code == status, response.data
    body = parse(response, fmt)
    if fmt == "xml":
        assert body.tag == "errors"
        errors = [{c.tag: c.text for c in e} for e in body]
        assert all(e.tag == "error" for e in body)
        assert all(e["code"] == str(status) for e in errors)
    else:
        errors = body
        assert isinstance(errors, list)
        assert all(e["code"] == status for e in errors)
    assert errors and all(set(e) == {"code", "description"} for e in errors)
    return " ".join(e["description"] for e in errors)


def counts(store):
    return store.count("incidents"), len(store.records("requests"))


def test_services_list_the_catalog_in_json_and_xml(client):
    data = parse(client.get(f"{V2}/services.json"), "json")
    assert [s["service_code"] for s in data] == list(categories())
    assert all(list(s) == SERVICE_FIELDS for s in data)
    light = next(s for s in data if s["service_code"] == "C0104")
    assert light["service_name"] == "Street light"
    assert light["metadata"] is False and light["type"] == "realtime"
    assert "路灯" in light["keywords"] and "16 working hours" in light["description"]

    root = parse(client.get(f"{V2}/services.xml"), "xml")
    assert root.tag == "services" and len(root) == len(categories())
    assert all(s.tag == "service" and [c.tag for c in s] == SERVICE_FIELDS for s in root)
    assert root[0].findtext("metadata") == "false"
    assert client.get(f"{V2}/services.json?jurisdiction_id=gridmap.local").status_code == 200


def test_service_definition_and_unknown_service(client):
    assert client.get(f"{V2}/services/C0104.json").json == {
        "service_code": "C0104",
        "attributes": [],
    }
    root = parse(client.get(f"{V2}/services/C0104.xml"), "xml")
    assert root.tag == "service_definition"
    assert [c.tag for c in root] == ["service_code", "attributes"]
    assert root.findtext("service_code") == "C0104" and len(root.find("attributes")) == 0
    for fmt in ("json", "xml"):
        assert "X999" in error_texts(client.get(f"{V2}/services/X999.{fmt}"), fmt, 404)
    assert "format" in error_texts(client.get(f"{V2}/services.html"), "json", 404)


def test_discovery_names_the_endpoint_and_formats(client):
    body = client.get(f"{V2}/discovery.json").json
    assert body["endpoints"][0]["url"].endswith("/open311/v2")
    assert body["endpoints"][0]["formats"] == ["text/xml", "application/json"]
    root = parse(client.get(f"{V2}/discovery.xml"), "xml")
    assert [f.text for f in root.find("endpoints/endpoint/formats")] == [
        "text/xml",
        "application/json",
    ]


def test_post_creates_a_located_incident_with_private_contact(client, gridded, key):
    form = report(key, address_string="东城区 北河沿大街 1号", media_url="https://example.cn/a.jpg")
    r = client.post(f"{V2}/requests.json", data={**form, **CONTACT, "account_id": "acc-1"})
    assert r.status_code == 201
    (created,) = r.json
    assert list(created) == POST_FIELDS and created["account_id"] == "acc-1"
    assert "16 working hours" in created["service_notice"]
    incident = gridded.get("incidents", created["service_request_id"])
    assert incident["grid_code"] == "11010100100108"
    assert incident["source"] == "open311" and incident["category"] == "C0104"

    (record,) = gridded.records("requests")
    assert {k: record[k] for k in CONTACT} == CONTACT
    assert record["api_key"] == accounts.identify_key(gridded, key).name
    assert record["token"] == created["token"] and record["address"].startswith("东城区")

    rid = created["service_request_id"]
    (shown,) = client.get(f"{V2}/requests/{rid}.json").json
    assert list(shown) == list(REQUEST_FIELDS)
    assert shown["expected_datetime"] == w3c(incident["deadline"])
    assert shown["expected_datetime"][-6:] == "+08:00"
    assert shown["status"] == "open" and shown["agency_responsible"] == "11010100100108"
    assert (shown["lat"], shown["long"]) == (GRID_8[1], GRID_8[0])
    assert shown["address"] == "东城区 北河沿大街 1号"
    assert shown["media_url"] == "https://example.cn/a.jpg"
    assert shown["service_name"] == "Street light"

    pages = [
        f"{V2}/requests/{rid}.json",
        f"{V2}/requests/{rid}.xml",
        f"{V2}/requests.json",
        f"{V2}/requests.xml",
        f"{V2}/requests.xml?service_request_id={rid}",
        f"{V2}/tokens/{created['token']}.json",
        f"{V2}/tokens/{created['token']}.xml",
    ]
    for url in pages:
        got = client.get(url)
        assert got.status_code == 200 and rid.encode() in got.data, url
        text = got.data.decode("utf-8")
        assert not [v for v in CONTACT.values() if v in text], url


def test_post_in_xml_answers_a_service_requests_list(client, gridded, key):
    r = client.post(f"{V2}/requests.xml", data=report(key))
    assert r.status_code == 201
    root = parse(r, "xml")
    assert root.tag == "service_requests" and [e.tag for e in root] == ["request"]
    assert [c.tag for c in root[0]] == POST_FIELDS
    assert root[0].findtext("service_request_id").startswith("R")
    assert root[0].find("account_id").text is None


def test_repeated_idempotency_key_is_one_case(client, gridded, key):
    header = {"Idempotency-Key": "app-123"}
    first = client.post(f"{V2}/requests.json", data=report(key), headers=header)
    again = client.post(f"{V2}/requests.json", data=report(key, description="x"), headers=header)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json[0]["service_request_id"] == first.json[0]["service_request_id"]
    assert again.json[0]["token"] == first.json[0]["token"]
    assert counts(gridded) == (1, 1)
    assert gridded.records("requests")[0]["request_key"] == "app-123"
    long_key = {"Idempotency-Key": "k" * 201}
    r = client.post(f"{V2}/requests.xml", data=report(key), headers=long_key)
    assert "Idempotency-Key" in error_texts(r, "xml", 400)
    assert counts(gridded) == (1, 1)


def test_repeated_device_description_and_place_is_one_case(client, gridded, key):
    form = report(key, device_id="dev-1")
    first = client.post(f"{V2}/requests.json", data=form)
    near = {**form, "lat": str(GRID_8[1] + 1e-7)}  # the same place to 5 decimals
    again = client.post(f"{V2}/requests.json", data=near)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json[0]["service_request_id"] == first.json[0]["service_request_id"]
    assert counts(gridded) == (1, 1)
    other = client.post(f"{V2}/requests.json", data={**form, "description": "另一个问题"})
    no_device = client.post(f"{V2}/requests.json", data=report(key))
    assert (other.status_code, no_device.status_code) == (201, 201)
    assert counts(gridded) == (3, 3)


def test_longest_description_and_attributes_are_accepted(client, gridded, key):
    form = report(key, description="长" * 4000, **{"attribute[WHISPAWN]": "123"})
    assert client.post(f"{V2}/requests.json", data=form).status_code == 201


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_api_key_is_required(client, gridded, key, fmt):
    missing = client.post(f"{V2}/requests.{fmt}", data=report(None))
    assert "api_key" in error_texts(missing, fmt, 403)
    wrong = client.post(f"{V2}/requests.{fmt}", data=report(key + "x"))
    assert wrong.status_code == 403  # refused by web.auth before the route: the core's JSON error
    assert b"Invalid api_key received" in wrong.data
    assert counts(gridded) == (0, 0)


BAD_REPORTS = [
    ({"service_code": None}, 400, "service_code was not provided"),
    ({"service_code": "X999"}, 404, "'X999' was not found"),
    ({"lat": "north"}, 400, "lat: 'north' is not a number"),
    ({"lat": "95"}, 400, "outside -90..90"),
    ({"long": "-181"}, 400, "outside -180..180"),
    ({"long": None}, 400, "both"),
    ({"lat": None, "long": None, "address_string": "北河沿大街"}, 400, "lat and long"),
    ({"description": "长" * 4001}, 400, "longer than 4000"),
    ({"email": "x" * 201}, 400, "email is longer than 200"),
    ({"jurisdiction_id": "other.city"}, 404, "jurisdiction_id 'other.city' was not found"),
    ({"media_url": "javascript:alert(1)"}, 400, "media_url"),
]


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(("changes", "status", "fragment"), BAD_REPORTS)
def test_refused_reports_write_nothing(client, gridded, key, fmt, changes, status, fragment):
    before = counts(gridded)
    r = client.post(f"{V2}/requests.{fmt}", data=report(key, **changes))
    assert fragment in error_texts(r, fmt, status)
    assert counts(gridded) == before == (0, 0)


def test_unknown_format_is_404_and_writes_nothing(client, gridded, key):
    r = client.post(f"{V2}/requests.html", data=report(key))
    assert "use .xml or .json" in error_texts(r, "json", 404)
    assert counts(gridded) == (0, 0)


def test_store_refusals_and_outages_render_as_open311_errors():
    req = Request("POST", "/open311/v2/requests.xml")
    refused = open311.render_error(req, ValidationError("bad", ["row 1: x"]), 422)
    root = ET.fromstring(refused.payload())
    assert refused.status == 400 and [e.findtext("description") for e in root] == [
        "bad",
        "row 1: x",
    ]
    down = open311.render_error(req, StoreError("down"), 503)
    assert down.status == 503 and down.headers["Retry-After"] == "5"


@pytest.fixture
def history(gridded):
    """Four incidents: A open 1 day ago, B closed 2 days, C rejected 3 days, D 100 days ago."""
    now = pd.Timestamp.now(tz="Asia/Shanghai").floor("s")
    rows = [
        ("A", "E0102", "received", 1, (116.385, 39.895)),
        ("B", "C0104", "closed", 2, (116.395, 39.895)),
        ("C", "E0102", "rejected", 3, (116.405, 39.895)),
        ("D", "E0102", "handling", 100, (116.385, 39.885)),
    ]
    frame = gpd.GeoDataFrame(
        {
            "id": [r[0] for r in rows],
            "category": [r[1] for r in rows],
            "status": [r[2] for r in rows],
            "reported_at": [now - pd.Timedelta(days=r[3]) for r in rows],
            "description": "问题",
            "source": "hotline",
        },
        geometry=[Point(*r[4]) for r in rows],
        crs="EPSG:4326",
    )
    gridded.insert("incidents", frame)
    return now


def ids(client, query="", fmt="json"):
    r = client.get(f"{V2}/requests.{fmt}{query}")
    assert r.status_code == 200, r.data
    if fmt == "xml":
        return [e.findtext("service_request_id") for e in parse(r, "xml")]
    return [e["service_request_id"] for e in r.json]


def test_get_requests_filters(client, history):
    assert ids(client) == ["A", "B", "C"]  # the last 90 days, newest first
    assert ids(client, fmt="xml") == ["A", "B", "C"]
    assert ids(client, "?status=open") == ["A"]
    assert ids(client, "?status=closed") == ["B", "C"]
    assert ids(client, "?status=open,closed") == ["A", "B", "C"]
    assert ids(client, "?service_code=C0104") == ["B"]
    assert ids(client, "?service_code=C0104,E0102&status=closed") == ["B", "C"]
    assert ids(client, "?service_request_id=D,A&status=closed") == ["A", "D"]
    assert ids(client, "?service_request_id=NOPE") == []
    old = {
        "start_date": (history - pd.Timedelta(days=120)).isoformat(),
        "end_date": (history - pd.Timedelta(days=95)).isoformat(),
    }
    assert ids(client, "?" + urlencode(old)) == ["D"]
    assert ids(client, f"?start_date={old['start_date']}&end_date={old['end_date']}") == ["D"]
    since = (history - pd.Timedelta(days=2, hours=1)).tz_convert("UTC")
    assert ids(client, f"?start_date={since.strftime('%Y-%m-%dT%H:%M:%SZ')}") == ["A", "B"]
    until = (history - pd.Timedelta(days=2)).isoformat().replace("+", "%2B")
    assert ids(client, f"?end_date={until}") == ["B", "C"]

    shown = {e["service_request_id"]: e for e in client.get(f"{V2}/requests.json").json}
    assert shown["B"]["status"] == "closed" and "Closed" in shown["B"]["status_notes"]
    assert shown["C"]["status"] == "closed" and "Rejected" in shown["C"]["status_notes"]
    assert shown["A"]["status_notes"].startswith("Received")
    assert shown["A"]["address"] is None and shown["A"]["requested_datetime"].endswith("+08:00")
    root = parse(client.get(f"{V2}/requests.xml"), "xml")
    assert root.tag == "service_requests"
    assert all(e.tag == "request" and [c.tag for c in e] == list(REQUEST_FIELDS) for e in root)


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("?start_date=2026-01-01T00:00:00Z&end_date=2026-04-02T00:00:00Z", "more than 90 days"),
        ("?start_date=2026-02-01T00:00:00Z&end_date=2026-01-01T00:00:00Z", "after end_date"),
        ("?start_date=yesterday", "not a W3C date-time"),
        ("?status=pending", "'pending' is not open or closed"),
    ],
)
def test_get_requests_refuses_bad_filters(client, history, fmt, query, fragment):
    assert fragment in error_texts(client.get(f"{V2}/requests.{fmt}{query}"), fmt, 400)


def test_get_requests_returns_at_most_the_newest(client, history, monkeypatch):
    monkeypatch.setattr(open311, "MAX_REQUESTS", 2)
    assert ids(client) == ["A", "B"]
    assert ids(client, "?status=closed") == ["B", "C"]


def test_one_request_and_tokens(client, gridded, key):
    created = client.post(f"{V2}/requests.json", data=report(key)).json[0]
    rid, token = created["service_request_id"], created["token"]
    assert client.get(f"{V2}/tokens/{token}.json").json == [
        {"service_request_id": rid, "token": token}
    ]
    root = parse(client.get(f"{V2}/tokens/{token}.xml"), "xml")
    assert [(c.tag, c.text) for c in root[0]] == [("service_request_id", rid), ("token", token)]
    root = parse(client.get(f"{V2}/requests/{rid}.xml"), "xml")
    assert root[0].findtext("service_request_id") == rid
    assert root[0].find("zipcode").text is None
    for fmt in ("json", "xml"):
        assert "NOPE" in error_texts(client.get(f"{V2}/requests/NOPE.{fmt}"), fmt, 404)
        assert "was not found" in error_texts(client.get(f"{V2}/tokens/nope.{fmt}"), fmt, 404)
