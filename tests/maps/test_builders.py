from __future__ import annotations

import json
import re
import time

import numpy as np
import pandas as pd
import pytest

from gridmap.errors import GridMapError, ValidationError
from tests.maps.conftest import NOW, PAYLOAD, synthetic_city
from web.maps import (
    BrowserMissingError,
    coverage_map,
    dispatch_map,
    heatmap_map,
    render_page,
    render_standalone,
)
from web.maps.coverage import ranked_sites
from web.maps.dispatch import CLUSTER_MIN, MAX_POINTS, urgency_class
from web.maps.heatmap import hotspots, period_window

REMOTE = re.compile(r'(src|href)="https?://')
MB = 1_000_000


def build(city, which: str, lang: str = "zh", **kwargs):
    if which == "dispatch":
        return dispatch_map(
            city["grids"],
            city["incidents"],
            city["workers"],
            city.get("suggestions"),
            now=NOW,
            lang=lang,
            **kwargs,
        )
    if which == "coverage":
        return coverage_map(
            city["grids"], city["stations"], city["demand"], city.get("sites"), lang=lang, **kwargs
        )
    kpi = pd.DataFrame(
        {"closure_rate": np.linspace(0, 1, len(city["grids"])), "overdue_open": 2},
        index=city["grids"]["code"],
    )
    return heatmap_map(city["grids"], city["incidents"], kpi, period="month", lang=lang, **kwargs)


BUILDERS = ["dispatch", "coverage", "heatmap"]
TITLES = {
    ("dispatch", "zh"): "事件派遣图 · 图例",
    ("dispatch", "en"): "Dispatch map · Legend",
    ("coverage", "zh"): "站点服务覆盖图 · 图例",
    ("coverage", "en"): "Station coverage map · Legend",
    ("heatmap", "zh"): "事件热力图 · 图例",
    ("heatmap", "en"): "Incident heat map · Legend",
}


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("which", BUILDERS)
def test_pages_load_nothing_from_the_internet(city, which, lang):
    page = render_page(build(city, which, lang))
    assert not REMOTE.search(page)
    assert '<script src="/static/vendor/leaflet-1.9.3/leaflet.js"></script>' in page
    assert TITLES[which, lang] in page
    assert f'<html lang="{"zh-CN" if lang == "zh" else "en"}">' in page
    assert '"maxZoom": 19' in page  # no tile layer: markers and clusters need it on the map
    assert "tileLayer" not in page
    standalone = render_standalone(build(city, which, lang))
    assert "<script src=" not in standalone


@pytest.mark.parametrize("which", BUILDERS)
def test_user_text_is_escaped_everywhere(city, which):
    page = render_page(build(city, which))
    assert "${window.__pwned" not in page  # "$" became &#36; before reaching a template literal
    assert "<img src=x" not in page
    assert "\\u003cimg src=x" not in page  # nor as JSON inside a script
    assert "`;window.__pwned" not in page
    assert "evaluated" not in page and "block-ran" not in page  # no Jinja ran on user text
    braces = "&#123;&#123;"  # the text is kept, its braces as character references
    assert braces in page or braces.replace("&", "\\u0026") in page


def test_tiles_are_configurable(city):
    page = render_page(
        build(
            city,
            "dispatch",
            tiles="https://tiles.example.org/{z}/{x}/{y}.png",
            attribution="© Example",
        )
    )
    assert "tiles.example.org" in page  # the tile URL lives in JavaScript, not in src/href
    assert not REMOTE.search(page)


def has(page: str, text: str) -> bool:
    """Whether ``text`` is in the page as HTML or as JSON (non-ASCII as \\uXXXX escapes)."""
    return text in page or json.dumps(text)[1:-1] in page


def test_labels_come_from_the_catalog_and_the_model(city):
    zh = render_page(build(city, "coverage"))
    en = render_page(build(city, "coverage", "en"))
    assert has(zh, "红色驿站") and has(en, "Red Home")  # station kinds (legend, layers)
    assert has(zh, "单元网格") and has(en, "Unit grids")  # layer titles (layer control)
    dispatch = render_page(build(city, "dispatch", "en"))
    assert has(dispatch, "Overdue") and has(dispatch, "Grid workers")
    assert has(dispatch, "Exposed rubbish") or has(dispatch, "Illegal advertising")


def test_unknown_language_is_rejected(city):
    with pytest.raises(ValidationError, match="language"):
        build(city, "dispatch", "fr")


def test_urgency_classes():
    deadline = pd.Series(NOW + pd.to_timedelta([-1, 2, 10, 10, 10, np.nan], unit="h"))
    priority = pd.Series([3, 3, 1, 2, 3, None])
    cls, hours = urgency_class(deadline, priority, NOW)
    assert cls.tolist() == [0, 1, 2, 3, 4, 4]
    assert hours[:3].tolist() == [-1.0, 2.0, 10.0] and np.isnan(hours[5])


def test_dispatch_clusters_many_cases(city):
    incidents = pd.concat([city["incidents"]] * (CLUSTER_MIN // 30 + 2), ignore_index=True)
    incidents["id"] = [f"X{i}" for i in range(len(incidents))]
    page = render_page(dispatch_map(city["grids"], incidents, city["workers"], now=NOW))
    assert "L.markerClusterGroup" in page
    assert "AwesomeMarkers" not in page  # custom callback: awesome-markers is not vendored


def test_period_window_and_hotspots(city):
    reported = pd.Series(
        pd.to_datetime(["2025-03-01 10:00", "2025-03-31 09:00"]).tz_localize("UTC")
    )
    start, end = period_window(reported, "week")
    assert end == reported.max() and end - start == pd.Timedelta(days=7)
    start, _ = period_window(reported, "month")
    assert start == pd.Timestamp("2025-02-28 09:00", tz="UTC")
    with pytest.raises(ValueError, match="period"):
        period_window(reported, "year")
    codes = pd.Series(["B", "A", "B", "C", "A", None])
    top = hotspots(codes, city["grids"].assign(code=list("ABCDEFGHI")), top=2)
    assert top["code"].tolist() == ["A", "B"] and top["count"].tolist() == [2, 2]


def test_ranked_sites(city):
    ranked = ranked_sites(city["sites"])
    assert ranked["id"].tolist() == ["B", "A"] and ranked["rank"].tolist() == [1, 2]
    assert ranked_sites(None).empty


def test_payload_names_still_read_as_text(city):
    page = render_page(build(city, "coverage"))
    assert (
        "&lt;img src=x onerror=&quot;window.__pwned=1&quot;&gt;&#36;&#123;window.__pwned=2&#125;"
        in page
    )
    assert PAYLOAD not in page


@pytest.mark.slow
def test_page_size_for_10k_grids_and_100k_incidents():
    big = synthetic_city(n_side=100, n_incidents=100_000)
    assert len(big["grids"]) == 10_000
    started = time.perf_counter()
    sizes = {}
    for which in BUILDERS:
        sizes[which] = len(render_page(build(big, which)).encode("utf-8"))
    elapsed = time.perf_counter() - started
    assert all(size < 5 * MB for size in sizes.values()), sizes
    assert elapsed < 60, elapsed  # about 8 s on one core
    open_cases = int(big["incidents"]["status"].ne("closed").sum())
    assert open_cases > MAX_POINTS  # the dispatch page really had to cap the cases


def test_builders_accept_minimal_and_empty_layers(city):
    grids, incidents, workers = city["grids"], city["incidents"], city["workers"]
    stations, demand = city["stations"], city["demand"]
    maps = [
        dispatch_map(
            grids, incidents[["id", "geometry"]], workers.iloc[:0], now="2025-04-02 12:00"
        ),
        dispatch_map(grids.iloc[:0], incidents.iloc[:0], workers, now=NOW),
        heatmap_map(grids, incidents[["id", "reported_at", "geometry"]], period="day"),
        heatmap_map(grids.iloc[:0], incidents.iloc[:0]),
        coverage_map(grids, stations[["id", "kind", "geometry"]], demand, kind="red_home"),
        coverage_map(grids.iloc[:0], stations.iloc[:0], demand.iloc[:0]),
    ]
    for m in maps:
        assert not REMOTE.search(render_page(m))


def test_unknown_metric_and_kpi_are_rejected(city):
    with pytest.raises(ValueError, match="coverage metric"):
        build(city, "coverage", metric="nope")
    with pytest.raises(ValueError, match="KPI"):
        build(city, "heatmap", kpi="nope")


def test_to_png_without_chromium_is_a_gridmap_error(monkeypatch, tmp_path):
    import web.maps.render as render

    monkeypatch.setattr(render.shutil, "which", lambda _name: None)
    with pytest.raises(GridMapError, match="chromium is not installed"):
        render.to_png(tmp_path / "a.html", tmp_path / "a.png")
    assert issubclass(BrowserMissingError, GridMapError)
