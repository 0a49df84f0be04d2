"""The pieces behind the pages: language, cookies, charts, the page cache, fingerprints, layers."""

from __future__ import annotations

import threading
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gridmap.stores import open_store
from tests.conftest import square_grids
from tests.maps.conftest import NOW, synthetic_city
from tests.pages.conftest import PAYLOAD, fill_city
from web.maps import dispatch_map, render_page
from web.maps.attribution import OSM_ATTRIBUTION, DataAttribution, osm_attribution
from web.maps.base import grid_layer
from web.maps.memo import MEMO_MIN, remember
from web.pages import cache
from web.pages.charts import line_chart, nice_scale
from web.pages.data import digest, incidents_fingerprint
from web.pages.i18n import preferred, tr, url_with
from web.pages.session import cookie_credentials, read_cookie, safe_next


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("zh-TW", "zh"),
        ("en-US,en;q=0.9", "en"),
        ("en;q=0.5, zh;q=0.8", "zh"),
        ("de-DE, fr;q=0.9", "en"),
        ("zh;q=0, en;q=0.1", "en"),
        ("zh;q=abc", "en"),
        (None, "en"),
    ],
)
def test_accept_language(header, lang):
    assert preferred(header) == lang


def test_labels_and_urls():
    assert tr("open_count", "en", n=3, k=1) == "3 open cases, 1 overdue"
    assert tr("open_count", "zh", n=3, k=1) == "在办 3 件，其中超时 1 件"
    assert tr("no such key", "en") == "no such key"
    assert url_with("/x", {"a": ["1", "2"], "b": ["<"]}, b=None, c="é") == "/x?a=1&a=2&c=%C3%A9"
    assert url_with("/x", {}) == "/x"


def test_cookie_credentials_only_with_the_pages_header_for_changes():
    cookie = {"Cookie": "other=1; gridmap_session=gms_abc"}
    assert read_cookie(cookie) == "gms_abc"
    assert read_cookie({"Cookie": "bad;;=="}) is None
    assert cookie_credentials("GET", cookie)["Authorization"] == "Bearer gms_abc"
    assert "Authorization" not in cookie_credentials("POST", cookie)
    posted = cookie_credentials("POST", {**cookie, "X-Requested-With": "GridMap"})
    assert posted["Authorization"] == "Bearer gms_abc"
    given = {**cookie, "authorization": "Bearer gm_key"}
    assert cookie_credentials("GET", given) == given  # an explicit header wins
    assert cookie_credentials("GET", {}) == {}


@pytest.mark.parametrize(
    ("target", "ok"),
    [
        ("/dispatch?lang=en", True),
        ("/heatmap", True),
        ("//evil.example/", False),
        ("/\\evil.example", False),
        ("https://evil.example/", False),
        ("javascript:alert(1)", False),
        ("/x\r\nSet-Cookie: a=b", False),
        ("", False),
        (None, False),
    ],
)
def test_next_stays_on_this_site(target, ok):
    assert (safe_next(target) is not None) is ok


def test_nice_scale():
    assert nice_scale(0) == (1.0, 0.2)
    assert nice_scale(23) == (25.0, 5.0)
    assert nice_scale(903) == (1000.0, 200.0)
    assert nice_scale(0.3) == (0.3, 0.1)
    assert nice_scale(float("nan")) == (1.0, 0.2)


def test_line_chart_escapes_and_breaks_lines_at_gaps():
    svg = line_chart(
        ["03-01", "03-02", "03-03", "03-04"],
        {PAYLOAD: [1.0, None, 3.0, 4.0], "b": [float("nan")] * 4},
        title="<t>",
    )
    assert svg.startswith('<svg class="gm-chart"') and svg.endswith("</svg>")
    assert "<script" not in svg and PAYLOAD not in svg and "&lt;img src=x" in svg
    assert "<title>&lt;t&gt;</title>" in svg
    assert svg.count("<polyline") == 1 and svg.count("<circle") == 1  # 1 | gap | 3, 4
    empty = line_chart([], {}, title="none")
    assert "<polyline" not in empty and ">-</text>" in empty


def test_cache_reuses_until_the_fingerprint_changes(tmp_path):
    store = open_store(tmp_path / "c.gpkg")
    calls = []

    def make(value):
        def run():
            calls.append(value)
            return value

        return run

    assert cache.cached(store, "k", 1, make("a")) == "a"
    assert cache.cached(store, "k", 1, make("b")) == "a"
    assert cache.cached(store, "k", 2, make("c")) == "c"
    assert calls == ["a", "c"]
    assert cache.known(store, "k", 2) and not cache.known(store, "k", 1)
    store.close()


def test_cache_makes_a_value_once_for_concurrent_requests(tmp_path):
    store = open_store(tmp_path / "c.gpkg")
    calls = []

    def slow():
        calls.append(1)
        time.sleep(0.3)
        return "v"

    found = []
    threads = [
        threading.Thread(target=lambda: found.append(cache.cached(store, "s", 1, slow)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found == ["v"] * 3 and calls == [1]
    store.close()


def test_cache_serves_a_slow_value_stale_while_it_is_made_again(tmp_path, monkeypatch):
    store = open_store(tmp_path / "c.gpkg")
    monkeypatch.setattr(cache, "SLOW_S", 0.0)
    assert cache.cached(store, "x", 1, lambda: "old", stale_ok=True) == "old"
    done = threading.Event()

    def new():
        done.set()
        return "new"

    assert cache.cached(store, "x", 2, new, stale_ok=True) == "old"
    assert done.wait(5)
    deadline = time.monotonic() + 5
    while not cache.known(store, "x", 2) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cache.cached(store, "x", 2, lambda: "again", stale_ok=True) == "new"
    store.close()


def test_incidents_fingerprint_follows_every_change(tmp_path):
    store = open_store(tmp_path / "f.gpkg")
    fill_city(store)
    before = incidents_fingerprint(store)
    assert before == (24, 24)
    store.transition("I00", "dispatch", actor="t", worker_id="W1")
    assert incidents_fingerprint(store) == (24, 25)
    store.delete("incidents", ["J00"])
    assert incidents_fingerprint(store)[0] == 23
    store.close()


def test_digest_sees_attributes_geometries_and_lists():
    grids = square_grids(2)
    grids["lists"] = [["a"], ["b"], [], ["c", "d"]]
    base = digest(grids)
    assert digest(grids.copy()) == base
    moved = grids.copy()
    moved.loc[0, "geometry"] = shapely.box(0, 0, 1, 1)
    renamed = grids.copy()
    renamed.loc[0, "name"] = "x"
    relisted = grids.copy()
    relisted.at[0, "lists"] = ["z"]
    assert len({base, digest(moved), digest(renamed), digest(relisted)}) == 4
    assert digest(None) != digest(grids.iloc[:0])


def test_grid_styles_are_listed_once_not_switched_per_feature():
    big = synthetic_city(n_side=30, n_incidents=10)
    grids = big["grids"]
    page = render_page(
        _map_with(grid_layer(grids[["code", "geometry"]], name="g", fields={"code": "Code"}))
    )
    assert "case " not in page and '"s": 0' in page
    colours = {"a": "#ff0000", "b": "#00ff00"}

    def style(feature):
        colour = colours["a" if int(feature["id"]) % 2 else "b"]
        return {"fillColor": colour, "color": "#555555", "weight": 1}

    layer = grid_layer(grids[["code", "geometry"]], name="g", fields={"code": "C"}, style=style)
    page = render_page(_map_with(layer))
    assert "case " not in page and page.count("#ff0000") == 1 and '"s": 1' in page


def _map_with(layer):
    import folium

    m = folium.Map(tiles=None, maxZoom=19)
    layer.add_to(m)
    return m


def test_many_workers_are_clustered_few_are_badges():
    city = synthetic_city(n_side=10, n_incidents=50)
    few = render_page(dispatch_map(city["grids"], city["incidents"], city["workers"], now=NOW))
    assert "markerClusterGroup" not in few and "row_layer_" in few  # 50 circles, 200 badges
    rng = np.random.default_rng(0)
    many = gpd.GeoDataFrame(
        {"id": [f"W{i}" for i in range(400)], "name": PAYLOAD, "max_open": 5},
        geometry=gpd.points_from_xy(
            rng.uniform(116.30, 116.32, 400), rng.uniform(39.80, 39.82, 400)
        ),
        crs="EPSG:4326",
    )
    page = render_page(dispatch_map(city["grids"], city["incidents"].iloc[:5], many, now=NOW))
    assert page.count("markerClusterGroup") == 1 and "gm-worker-cluster" in page
    assert PAYLOAD not in page


def test_data_attribution():
    assert osm_attribution(["Simulated", "(c) OpenStreetMap contributors, ODbL"]) == OSM_ATTRIBUTION
    assert osm_attribution(["Simulated", ""]) is None
    element = DataAttribution("<b>x</b>")
    assert element.text == "&lt;b&gt;x&lt;/b&gt;"


def test_memo_remembers_only_big_layers():
    calls = []
    assert remember(("t", 1), lambda: calls.append(1) or "a", MEMO_MIN) == "a"
    assert remember(("t", 1), lambda: calls.append(2) or "b", MEMO_MIN) == "a"
    assert remember(("t", 2), lambda: calls.append(3) or "c", 1) == "c"
    assert remember(("t", 2), lambda: calls.append(4) or "d", 1) == "d"
    assert calls == [1, 3, 4]


def test_big_store_pages_answer_with_an_estimate_first(tmp_path, monkeypatch):
    from web.pages import data

    store = open_store(tmp_path / "e.gpkg")
    fill_city(store)
    monkeypatch.setattr(data, "LARGE", 10)
    monkeypatch.setattr(data, "ESTIMATE_DELAY_S", 0.0)
    stamp = pd.Timestamp("2020-01-01", tz="Asia/Shanghai")
    assert data.as_of(store, lambda: stamp) == stamp
    deadline = time.monotonic() + 10
    while not cache.known(store, ("as_of",)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert data.as_of(store, lambda: stamp) != stamp  # the exact instant, once known
    store.close()


def test_a_big_store_is_read_ahead_and_a_small_one_is_not(tmp_path, monkeypatch):
    from web.maps.aggregate import light_grids
    from web.pages import data

    monkeypatch.setattr("web.maps.memo.MEMO_MIN", 1)  # remember even these 9 grids
    store = open_store(tmp_path / "r.gpkg")
    fill_city(store)
    assert data.read_ahead(store) == 0  # 24 cases: read when a page asks
    assert not cache.known(store, ("snapshot",))
    grids = store.read("grids")
    monkeypatch.setattr(
        "web.maps.aggregate._simplified", lambda *_: pytest.fail("the grids were simplified again")
    )
    assert len(light_grids(grids, {})) == len(grids)
    monkeypatch.setattr(data, "LARGE", 10)
    assert data.read_ahead(store) == len(store.read("incidents"))
    assert cache.known(store, ("snapshot",), incidents_fingerprint(store))
    store.close()
