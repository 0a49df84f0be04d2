"""OGC API - Features (read): landing page, collections, items and their parameters, access.

Every test runs against a GeoPackage and a PostGIS store (the ``store_url`` fixture). The last
test reads every layer with a real client, GDAL's OAPIF driver.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
from urllib.parse import parse_qs, urlsplit

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, Point, box, shape

from gridmap import accounts
from gridmap.model import LAYERS
from tests.conftest import random_incidents, square_grids
from tests.dispatch_helpers import worker

PUBLIC = ["grids", "stations", "sites", "demand", "roads"]
PRIVATE = ["incidents", "workers"]
CONF = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"
DEFAULT, MAXIMUM = 4, 7


@pytest.fixture
def app(make_app):
    """The app with small pages, so that a few rows take several pages."""
    return make_app(default_items=DEFAULT, max_items=MAXIMUM)


def _points(prefix: str, n: int, **columns) -> gpd.GeoDataFrame:
    rows = [
        {
            "id": f"{prefix}{i}",
            **{k: v[i] if isinstance(v, list) else v for k, v in columns.items()},
            "geometry": Point(116.381 + 0.003 * i, 39.899 - 0.003 * i),
        }
        for i in range(n)
    ]
    return gpd.GeoDataFrame(rows, crs="EPSG:4326")


@pytest.fixture
def layers(store):
    """Fill every layer with a few rows; return the store."""
    grids = square_grids(3)
    store.insert("grids", grids)
    store.insert("incidents", random_incidents(23, grids))
    store.insert(
        "stations",
        _points(
            "S",
            5,
            kind=["red_home", "courier_station", "service_center", "public_toilet", "other"],
            name=[f"站点{i}" for i in range(5)],
            capacity=[10, 20, None, 40, 50],
        ),
    )
    store.insert(
        "sites", _points("C", 3, kind="courier_station", cost=[1.5, 2.5, 3.5], rank=[1, None, 2])
    )
    store.insert(
        "demand", _points("D", 8, kind=["residential", "courier"] * 4, weight=list(range(8)))
    )
    roads = [
        {
            "id": f"R{i}",
            "u": f"n{i}",
            "v": f"n{i + 1}",
            "length_m": 100.0 * (i + 1),
            "name": f"路{i}",
            "oneway": i % 2,
            "geometry": LineString([(116.38 + 0.01 * i, 39.88), (116.39 + 0.01 * i, 39.89)]),
        }
        for i in range(4)
    ]
    store.insert("roads", gpd.GeoDataFrame(roads, crs="EPSG:4326"))
    workers = [
        worker("W1", [0, 1], ["sanitation", "greening"]),
        worker("W2", [2], ["sanitation"]),
        worker("W3", [4], ["traffic"]),
    ]
    workers[2]["geometry"] = None  # a worker without a known position
    store.insert("workers", gpd.GeoDataFrame(workers, geometry="geometry", crs="EPSG:4326"))
    return store


def _get(client, url, headers=None, status=200):
    response = client.get(url, headers=headers or {})
    assert response.status_code == status, response.get_data(as_text=True)
    return response


def _links(body) -> dict[str, dict]:
    return {link["rel"]: link for link in body["links"]}


def _path(href: str) -> str:
    parts = urlsplit(href)
    return parts.path + (f"?{parts.query}" if parts.query else "")


# -- landing page, conformance, collections --------------------------------------------------


def test_landing_page_links_its_parts(client):
    body = _get(client, "/").json
    links = _links(body)
    assert body["title"] == "GridMap"
    assert links["self"]["href"] == "http://localhost/"
    assert links["conformance"]["href"] == "http://localhost/conformance"
    assert links["data"]["href"] == "http://localhost/collections"
    assert links["service-desc"]["href"] == "http://localhost/openapi.json"
    assert links["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0"


def test_conformance_lists_core_geojson_and_oas30(client):
    classes = _get(client, "/conformance").json["conformsTo"]
    assert {CONF + c for c in ("core", "geojson", "oas30")} <= set(classes)
    assert CONF + "html" not in classes


def test_collections_show_private_layers_to_staff_only(client, layers, bearer):
    anonymous = _get(client, "/collections").json
    assert [c["id"] for c in anonymous["collections"]] == PUBLIC
    assert _links(anonymous)["self"]["href"] == "http://localhost/collections"
    for role in ("citizen",):
        shown = _get(client, "/collections", bearer(role)).json["collections"]
        assert [c["id"] for c in shown] == PUBLIC
    staff = _get(client, "/collections", bearer("dispatcher")).json["collections"]
    assert [c["id"] for c in staff] == list(LAYERS)


def test_collection_metadata(client, layers):
    layers.set_layer_info("stations", description="民政局站点名录 2025", simulated=True)
    grids = _get(client, "/collections/grids").json
    assert grids["id"] == "grids"
    assert "单元网格" in grids["title"] and "Unit grids" in grids["title"]
    assert grids["itemType"] == "feature"
    assert grids["crs"] == ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"]
    extent = grids["extent"]["spatial"]
    assert extent["crs"] == "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
    np.testing.assert_allclose(extent["bbox"][0], [116.38, 39.87, 116.41, 39.90], atol=1e-5)
    np.testing.assert_allclose(extent["bbox"][0], layers.layer_info("grids").bbox)
    links = _links(grids)
    assert links["self"]["href"] == "http://localhost/collections/grids"
    assert links["items"]["href"] == "http://localhost/collections/grids/items"
    assert links["items"]["type"] == "application/geo+json"
    stations = _get(client, "/collections/stations").json
    assert stations["description"] == "民政局站点名录 2025"
    assert stations["simulated"] is True


def test_empty_collection_has_no_extent_and_no_items(client, store):
    body = _get(client, "/collections/roads").json
    assert "extent" not in body
    items = _get(client, "/collections/roads/items").json
    assert items["features"] == [] and items["numberMatched"] == 0
    assert "next" not in _links(items)


def test_unknown_collection_and_item_are_404(client, layers):
    response = _get(client, "/collections/accounts", status=404)
    assert "grids" in response.json["description"] and "roads" in response.json["description"]
    _get(client, "/collections/requests/items", status=404)
    _get(client, "/collections/grids/items/NOPE", status=404)


# -- access -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PRIVATE)
def test_private_layers_need_staff(client, layers, bearer, name):
    key = layers.read(name, limit=1)[LAYERS[name].key].iloc[0]
    for url in (
        f"/collections/{name}",
        f"/collections/{name}/items",
        f"/collections/{name}/items/{key}",
    ):
        _get(client, url, status=401)
        _get(client, url, bearer("citizen"), status=403)
        _get(client, url, bearer("dispatcher"))
        _get(client, url, bearer("planner"))
    # an unknown token is refused, even for a public layer, rather than taken as anonymous
    _get(client, "/collections/grids/items", {"Authorization": "Bearer nope"}, status=401)


# -- items ------------------------------------------------------------------------------------


def test_items_are_geojson_features_of_the_layer(client, layers):
    response = _get(client, "/collections/grids/items")
    assert response.content_type.startswith("application/geo+json")
    body = response.json
    assert body["type"] == "FeatureCollection"
    assert body["numberMatched"] == 9
    assert body["numberReturned"] == DEFAULT == len(body["features"])
    assert pd.Timestamp(body["timeStamp"]).tzinfo is not None
    stored = layers.read("grids", limit=DEFAULT)
    for feature, (_, row) in zip(body["features"], stored.iterrows(), strict=True):
        assert feature["type"] == "Feature"
        assert feature["id"] == row["code"]
        assert list(feature["properties"]) == LAYERS["grids"].columns
        assert feature["properties"]["households"] == row["households"]
        assert feature["properties"]["population"] == pytest.approx(row["population"])
        assert feature["properties"]["street"] is None
        geometry = shape(feature["geometry"])
        assert feature["geometry"]["type"] == "MultiPolygon"
        assert geometry.equals_exact(row.geometry, 1e-9)
        minx, miny, _, _ = geometry.bounds
        assert 116 < minx < 117 and 39 < miny < 40  # longitude first
    links = _links(body)
    assert _path(links["self"]["href"]) == "/collections/grids/items"
    assert links["self"]["type"] == "application/geo+json"
    assert links["alternate"]["type"] == "application/json"
    assert (
        _path(links["next"]["href"]) == f"/collections/grids/items?limit={DEFAULT}&offset={DEFAULT}"
    )
    assert "prev" not in links


def test_item_times_are_iso_8601_and_lists_arrays(client, layers, bearer):
    staff = bearer("dispatcher")
    stored = layers.get("incidents", "I000005")
    feature = _get(client, "/collections/incidents/items/I000005", staff).json
    assert feature["type"] == "Feature" and feature["id"] == "I000005"
    props = feature["properties"]
    for name in ("reported_at", "deadline", "updated_at"):
        assert isinstance(props[name], str)
        assert pd.Timestamp(props[name]) == stored[name]
    assert props["worker_id"] is None
    assert props["priority"] == stored["priority"]
    assert props["description"] == stored["description"]
    assert feature["geometry"]["type"] == "Point"
    np.testing.assert_allclose(feature["geometry"]["coordinates"], stored.geometry.coords[0])
    assert _links(feature)["collection"]["href"] == "http://localhost/collections/incidents"
    w1 = _get(client, "/collections/workers/items/W1", staff).json
    assert w1["properties"]["skills"] == ["sanitation", "greening"]
    assert w1["properties"]["grid_codes"] == ["11010100100101", "11010100100102"]
    w3 = _get(client, "/collections/workers/items/W3", staff).json
    assert w3["geometry"] is None


def test_paging_with_next_and_prev_links_covers_every_row_once(client, layers):
    url, seen, pages = "/collections/demand/items?limit=3&kind=residential&kind=courier", [], 0
    while url:
        body = _get(client, url).json
        links = _links(body)
        assert body["numberMatched"] == 8
        if pages:
            prev = parse_qs(urlsplit(links["prev"]["href"]).query)
            assert prev["offset"] == [str(3 * (pages - 1))]
        else:
            assert "prev" not in links
        for rel in ("self", "next", "prev"):
            if rel in links:  # the other parameters are kept
                assert parse_qs(urlsplit(links[rel]["href"]).query)["kind"] == [
                    "residential",
                    "courier",
                ]
        seen += [f["id"] for f in body["features"]]
        url = _path(links["next"]["href"]) if "next" in links else None
        pages += 1
    assert pages == 3
    assert seen == layers.read("demand")["id"].tolist()


def test_offset_beyond_the_end_and_prev_link(client, layers):
    body = _get(client, "/collections/grids/items?offset=20&limit=3").json
    assert body["features"] == [] and body["numberMatched"] == 9
    links = _links(body)
    assert "next" not in links
    assert parse_qs(urlsplit(links["prev"]["href"]).query)["offset"] == ["17"]
    body = _get(client, "/collections/grids/items?offset=2&limit=3").json
    assert [f["id"] for f in body["features"]] == layers.read("grids")["code"].tolist()[2:5]
    assert parse_qs(urlsplit(_links(body)["prev"]["href"]).query)["offset"] == ["0"]


def test_limit_above_the_maximum_is_clamped(client, layers):
    body = _get(client, "/collections/grids/items?limit=1000").json
    assert body["numberReturned"] == MAXIMUM
    query = parse_qs(urlsplit(_links(body)["next"]["href"]).query)
    assert query["limit"] == [str(MAXIMUM)] and query["offset"] == [str(MAXIMUM)]
    last = _get(client, _path(_links(body)["next"]["href"])).json
    assert last["numberReturned"] == 9 - MAXIMUM and "next" not in _links(last)


def test_f_json_changes_the_media_type_only(client, layers):
    response = _get(client, "/collections/grids/items?f=json&limit=2")
    assert response.content_type.startswith("application/json")
    links = _links(response.json)
    assert links["self"]["type"] == "application/json"
    assert parse_qs(urlsplit(links["alternate"]["href"]).query)["f"] == ["geojson"]
    assert parse_qs(urlsplit(links["next"]["href"]).query)["f"] == ["json"]


def test_bbox_selects_what_intersects_the_box(client, layers, bearer):
    area = (116.381, 39.881, 116.389, 39.899)  # inside the first column of grids
    body = _get(client, "/collections/grids/items?bbox=" + ",".join(map(str, area))).json
    assert sorted(f["id"] for f in body["features"]) == [
        "11010100100101",
        "11010100100104",
    ]
    staff = bearer("dispatcher")
    incidents = layers.read("incidents")
    inside = incidents[incidents.intersects(box(*area))]["id"].tolist()
    assert 0 < len(inside) < len(incidents)
    url = "/collections/incidents/items?limit=100&bbox=" + ",".join(map(str, area))
    body = _get(client, url, staff).json
    assert body["numberMatched"] == len(inside)
    assert [f["id"] for f in body["features"]] == inside[:MAXIMUM]
    six = "116.381,39.881,0,116.389,39.899,100"  # with heights: ignored
    assert _get(client, f"/collections/grids/items?bbox={six}").json["numberMatched"] == 2


def _expected(frame: pd.DataFrame, lo=None, hi=None, *, inclusive=True) -> list[str]:
    times = frame["reported_at"].dt.floor("ms")
    keep = pd.Series(True, index=frame.index)
    if lo is not None:
        keep &= times >= pd.Timestamp(lo)
    if hi is not None:
        keep &= times <= pd.Timestamp(hi) if inclusive else times < pd.Timestamp(hi)
    return frame.loc[keep, "id"].tolist()


def _ids(client, url, headers) -> tuple[list[str], int]:
    body = _get(client, url, headers).json
    ids = [f["id"] for f in body["features"]]
    while "next" in _links(body):
        body = _get(client, _path(_links(body)["next"]["href"]), headers).json
        ids += [f["id"] for f in body["features"]]
    return ids, body["numberMatched"]


def test_datetime_instants_and_intervals(client, layers, bearer):
    staff = bearer("dispatcher")
    incidents = layers.read("incidents")
    one = incidents["reported_at"].iloc[7].tz_convert("UTC")
    instant = one.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert _ids(client, f"/collections/incidents/items?datetime={instant}", staff)[0] == ["I000007"]
    a, b = "2025-03-08T00:00:00Z", "2025-03-20T12:30:00Z"
    cases = {
        f"{a}/{b}": _expected(incidents, a, b),
        f"../{b}": _expected(incidents, None, b),
        f"{a}/..": _expected(incidents, a),
        f"{a}/": _expected(incidents, a),
        "2025-03-10": _expected(
            incidents, "2025-03-10T00:00Z", "2025-03-11T00:00Z", inclusive=False
        ),
        "2025-03-08T08:00:00+08:00/2025-03-20T20:30:00%2B08:00": _expected(incidents, a, b),
        "2025-03-08T08:00:00+08:00/..": _expected(incidents, a),  # "+" unencoded: a space
        f"{instant}/{instant}": ["I000007"],
    }
    for value, expected in cases.items():
        assert 0 < len(expected) < len(incidents) or value.startswith(instant)
        ids, matched = _ids(client, f"/collections/incidents/items?datetime={value}", staff)
        assert ids == expected, value
        assert matched == len(expected), value


def test_property_filters_take_the_field_types(client, layers, bearer):
    staff = bearer("dispatcher")
    incidents = layers.read("incidents")
    ids, matched = _ids(client, "/collections/incidents/items?priority=1", staff)
    assert ids == incidents.loc[incidents["priority"] == 1, "id"].tolist() and matched == len(ids)
    ids, _ = _ids(client, "/collections/incidents/items?category=H05&category=E0102", staff)
    assert ids == incidents.loc[incidents["category"].isin(["H05", "E0102"]), "id"].tolist()
    ids, _ = _ids(client, "/collections/incidents/items?source=app&priority=2", staff)
    both = (incidents["source"] == "app") & (incidents["priority"] == 2)
    assert ids == incidents.loc[both, "id"].tolist()
    # a date-time property takes an instant or interval; with ``datetime`` both apply
    url = "/collections/incidents/items?reported_at=2025-03-10/..&datetime=../2025-03-20T00:00:00Z"
    ids, _ = _ids(client, url, staff)
    assert ids == _expected(incidents, "2025-03-10T00:00Z", "2025-03-20T00:00Z")
    assert _ids(client, "/collections/grids/items?households=302", None)[0] == ["11010100100103"]
    assert _ids(client, "/collections/grids/items?population=1004", None)[0] == ["11010100100105"]
    assert _ids(client, "/collections/grids/items?name=网格9", None)[0] == ["11010100100109"]
    assert _ids(client, "/collections/stations/items?kind=other", None)[0] == ["S4"]
    assert _ids(client, "/collections/roads/items?oneway=1", None)[0] == ["R1", "R3"]
    # a list property matches rows whose list holds the value (paged like the rest)
    ids, matched = _ids(client, "/collections/workers/items?skills=sanitation&limit=1", staff)
    assert ids == ["W1", "W2"] and matched == 2
    assert _ids(client, "/collections/workers/items?grid_codes=11010100100105", staff)[0] == ["W3"]
    assert _ids(client, "/collections/workers/items?skills=none", staff) == ([], 0)


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("limit=0", "limit"),
        ("limit=-5", "limit"),
        ("limit=ten", "limit"),
        ("limit=2.5", "limit"),
        ("limit=2&limit=3", "limit"),
        ("offset=-1", "offset"),
        ("offset=x", "offset"),
        ("offset=99999999999999999999", "offset"),  # past a 64-bit integer: was a 500
        ("households=-99999999999999999999", "households"),
        ("bbox=1,2,3", "bbox"),
        ("bbox=a,b,c,d", "bbox"),
        ("bbox=0,0,nan,1", "bbox"),
        ("bbox=116,39,200,40", "bbox"),
        ("bbox=39,116,40,117", "bbox"),  # lat,lon order
        ("bbox=117,39,116,40", "bbox"),  # min above max
        ("datetime=2025-03-03T08:00:00Z", "datetime"),  # grids have no time
        ("f=html", "f"),
        ("colour=red", "colour"),
        ("households=many", "households"),
        ("households=3.5", "households"),
        ("population=inf", "population"),
        ("name=", "name"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(client, query, parameter):
    response = _get(client, f"/collections/grids/items?{query}", status=400)
    assert response.json["description"].startswith(f"{parameter}: "), response.json


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("datetime=yesterday", "datetime"),
        ("datetime=2025-03-03T08:00:00", "datetime"),  # no time zone
        ("datetime=2025-02-30T08:00:00Z", "datetime"),
        ("datetime=2025-03-20T00:00:00Z/2025-03-01T00:00:00Z", "datetime"),
        ("datetime=a/b/c", "datetime"),
        ("datetime=..", "datetime"),
        ("reported_at=2025-13-01", "reported_at"),
        ("priority=7", "priority"),
        ("status=lost", "status"),
        ("category=NOPE", "category"),
        ("reported_at=2025-03-01&reported_at=2025-03-02", "reported_at"),
    ],
)
def test_bad_time_and_choice_values_are_400(client, bearer, query, parameter):
    response = _get(
        client, f"/collections/incidents/items?{query}", bearer("dispatcher"), status=400
    )
    assert response.json["description"].startswith(f"{parameter}: "), response.json


# -- a real client: GDAL's OGC API - Features driver -------------------------------------------

#: Runs in a child process: pyogrio keeps the GIL while GDAL fetches pages, so a GDAL read in
#: this process would wait forever for the server thread serving it.
_GDAL_READER = textwrap.dedent(
    """
    import pickle, sys
    import pyogrio
    from pyogrio.errors import DataLayerError

    base, token, out, *names = sys.argv[1:]
    found = {}
    for given in names:  # "+name": read with the bearer token
        if given.startswith("+"):  # GDAL_HTTP_HEADERS loses to the driver's own Accept header
            pyogrio.set_gdal_config_options({"GDAL_HTTP_AUTH": "BEARER", "GDAL_HTTP_BEARER": token})
        try:
            found[given] = pyogrio.read_dataframe("OAPIF:" + base, layer=given.lstrip("+"))
        except DataLayerError as exc:
            found[given] = str(exc)
        finally:
            pyogrio.set_gdal_config_options({"GDAL_HTTP_AUTH": None, "GDAL_HTTP_BEARER": None})
    with open(out, "wb") as f:
        pickle.dump(found, f)
    """
)


def _read_with_gdal(base_url: str, token: str, names: list[str], out) -> dict:
    subprocess.run(
        [sys.executable, "-c", _GDAL_READER, base_url, token, str(out), *names],
        check=True,
        timeout=300,
        capture_output=True,
    )
    with open(out, "rb") as f:
        return pickle.load(f)


def test_gdal_reads_every_layer_through_the_paging_links(layers, live_url, tmp_path):
    accounts.create_user(layers, "gdal", "dispatcher", "password-1")
    token, _, _ = accounts.sign_in(layers, "gdal", "password-1")
    names = [*PUBLIC, *(f"+{name}" for name in PRIVATE), *PRIVATE]
    found = _read_with_gdal(live_url, token, names, tmp_path / "read.pickle")
    for name in PRIVATE:  # anonymous: GDAL does not see them
        assert isinstance(found.pop(name), str)
        found[name] = found.pop(f"+{name}")
    for name in LAYERS:
        frame, stored = found[name], layers.read(name)
        assert isinstance(frame, gpd.GeoDataFrame), frame
        assert len(frame) == len(stored) == layers.count(name), name
        key = LAYERS[name].key
        assert frame[key].tolist() == stored[key].tolist(), name
        assert frame.crs.to_epsg() == 4326
        for i in (0, len(stored) - 1):
            if stored.geometry.iloc[i] is not None:
                assert frame.geometry.iloc[i].equals_exact(stored.geometry.iloc[i], 1e-9), name
    assert min(len(found[name]) for name in ("grids", "incidents", "demand")) > MAXIMUM  # paged
    incidents, stored = found["incidents"], layers.read("incidents")
    assert incidents["category"].tolist() == stored["category"].tolist()
    assert incidents["priority"].tolist() == stored["priority"].tolist()
    assert incidents["description"].tolist() == stored["description"].tolist()
    assert (pd.to_datetime(incidents["reported_at"], utc=True) == stored["reported_at"]).all()
    grids = found["grids"]
    assert grids["households"].tolist() == layers.read("grids")["households"].tolist()
    assert grids["name"].tolist()[:2] == ["网格1", "网格2"]
    skills = found["workers"].set_index("id")["skills"]
    assert list(skills["W1"]) == ["sanitation", "greening"]
    assert found["workers"].geometry.isna().tolist() == [False, False, True]
