"""Layers for the map tests: a small hand-made city, a synthetic large one, a headless browser."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from tests.conftest import random_incidents, square_grids
from web.maps.render import is_local

PAYLOAD = '<img src=x onerror="window.__pwned=1">${window.__pwned=2}'
PAYLOAD_BACKTICK = "`;window.__pwned=3;`${window.__pwned=4}"
#: Jinja syntax: branca parses every rendered script again as a template, on the server.
PAYLOAD_TEMPLATE = "{{ 'eval' ~ 'uated' }}{% set k = 'blo' ~ 'ck-ran' %}{{ k }}{# gone #}"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
NOW = pd.Timestamp("2025-04-02 12:00", tz="Asia/Shanghai")


@pytest.fixture
def city() -> dict[str, gpd.GeoDataFrame]:
    """A 3 x 3 block of grids with cases, workers, stations, demand and sites.

    User text carries XSS payloads: the first case's description, a grid name, a station
    name, a worker name, a site name; and Jinja syntax: a case's description, a grid name.
    """
    grids = square_grids(3)
    grids.loc[4, "name"] = PAYLOAD
    grids.loc[6, "name"] = PAYLOAD_TEMPLATE
    incidents = random_incidents(40, grids, seed=1)
    incidents["status"] = np.where(np.arange(40) % 4 == 0, "closed", "dispatched")
    incidents["deadline"] = NOW + pd.to_timedelta(np.arange(40) - 10, unit="h")
    incidents["worker_id"] = np.where(np.arange(40) % 2 == 0, "W1", "W2")
    incidents.loc[1, "description"] = PAYLOAD
    incidents.loc[2, "description"] = PAYLOAD_BACKTICK
    incidents.loc[3, "description"] = "C:\\users\\x \\u{zz} 路径"
    incidents.loc[5, "description"] = PAYLOAD_TEMPLATE
    x0, y0 = 116.395, 39.885
    workers = gpd.GeoDataFrame(
        {
            "id": ["W1", "W2", "W3"],
            "name": ["张三", PAYLOAD, "无位置"],
            "grid_codes": [["11010100100101"], ["11010100100105"], []],
            "skills": [["sanitation"], ["general"], []],
            "max_open": [15, 3, 10],
        },
        geometry=[shapely.Point(x0, y0), shapely.Point(x0 + 0.005, y0), None],
        crs="EPSG:4326",
    )
    stations = gpd.GeoDataFrame(
        {
            "id": ["S1", "S2", "S3"],
            "kind": ["red_home", "public_toilet", "red_home"],
            "name": [PAYLOAD, "公厕", "已关闭"],
            "status": ["open", "open", "closed"],
            "service_radius_m": [400.0, np.nan, 500.0],
        },
        geometry=[
            shapely.Point(x0, y0),
            shapely.Point(x0 + 0.01, y0 - 0.01),
            shapely.Point(x0 - 0.01, y0),
        ],
        crs="EPSG:4326",
    )
    rng = np.random.default_rng(2)
    minx, miny, maxx, maxy = grids.total_bounds
    demand = gpd.GeoDataFrame(
        {
            "id": [f"D{i}" for i in range(60)],
            "kind": np.where(np.arange(60) % 3 == 0, "courier", "residential"),
            "weight": rng.integers(1, 5, 60).astype(float),
        },
        geometry=gpd.points_from_xy(rng.uniform(minx, maxx, 60), rng.uniform(miny, maxy, 60)),
        crs="EPSG:4326",
    )
    sites = gpd.GeoDataFrame(
        {
            "id": ["A", "B", "C"],
            "kind": ["red_home"] * 3,
            "name": [PAYLOAD, "候选 B", "候选 C"],
            "rank": pd.array([2, 1, None], dtype="Int64"),
            "gain": [12.0, 30.5, np.nan],
        },
        geometry=[
            shapely.Point(x0 + 0.012, y0 + 0.005),
            shapely.Point(x0 - 0.003, y0 - 0.012),
            shapely.Point(x0, y0 + 0.01),
        ],
        crs="EPSG:4326",
    )
    suggestions = pd.DataFrame({"incident_id": incidents["id"].iloc[1:6], "worker_id": "W2"})
    return {
        "grids": grids,
        "incidents": incidents,
        "workers": workers,
        "stations": stations,
        "demand": demand,
        "sites": sites,
        "suggestions": suggestions,
    }


def synthetic_city(
    n_side: int = 100, n_incidents: int = 100_000, seed: int = 0
) -> dict[str, gpd.GeoDataFrame]:
    """Return n_side**2 square grids (~220 m) and many cases, coordinates with 5+ decimals."""
    rng = np.random.default_rng(seed)
    size = 0.002
    col, row = np.meshgrid(np.arange(n_side), np.arange(n_side))
    x0 = 116.3012345 + col.ravel() * size
    y0 = 39.8012345 + row.ravel() * size
    n = n_side * n_side
    grids = gpd.GeoDataFrame(
        {
            "code": [f"G{i:05d}" for i in range(n)],
            "name": [f"网格 {i}" for i in range(n)],
            "population": rng.integers(0, 3000, n).astype(float),
        },
        geometry=shapely.box(x0, y0, x0 + size, y0 + size),
        crs="EPSG:4326",
    )
    minx, miny, maxx, maxy = grids.total_bounds
    reported = pd.Timestamp("2025-09-01", tz="Asia/Shanghai") + pd.to_timedelta(
        rng.integers(0, 60 * 86400, n_incidents), unit="s"
    )

    def points(k: int) -> gpd.array.GeometryArray:
        return gpd.points_from_xy(rng.uniform(minx, maxx, k), rng.uniform(miny, maxy, k))

    incidents = gpd.GeoDataFrame(
        {
            "id": [f"I{i:07d}" for i in range(n_incidents)],
            "category": rng.choice(["E0102", "E0201", "C0104", "H05"], n_incidents),
            "description": [f"问题 {i} 描述" for i in range(n_incidents)],
            "priority": rng.integers(1, 4, n_incidents),
            "reported_at": reported,
            "status": rng.choice(["received", "dispatched", "handling", "closed"], n_incidents),
            "deadline": reported + pd.Timedelta(hours=24),
            "worker_id": rng.choice([f"W{i:03d}" for i in range(200)], n_incidents),
        },
        geometry=points(n_incidents),
        crs="EPSG:4326",
    )
    workers = gpd.GeoDataFrame(
        {"id": [f"W{i:03d}" for i in range(200)], "name": "网格员", "max_open": 15},
        geometry=points(200),
        crs="EPSG:4326",
    )
    stations = gpd.GeoDataFrame(
        {
            "id": [f"S{i}" for i in range(300)],
            "kind": rng.choice(["red_home", "courier_station", "public_toilet"], 300),
            "name": "站点",
            "status": "open",
        },
        geometry=points(300),
        crs="EPSG:4326",
    )
    demand = gpd.GeoDataFrame(
        {"id": [f"D{i}" for i in range(20_000)], "kind": "courier", "weight": 1.0},
        geometry=points(20_000),
        crs="EPSG:4326",
    )
    return {
        "grids": grids,
        "incidents": incidents,
        "workers": workers,
        "stations": stations,
        "demand": demand,
    }


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's chromium: a failure under CI=true when missing, else a skip."""
    exe = shutil.which("chromium")
    if exe is None and os.environ.get("CI") == "true":
        pytest.fail("Debian chromium is not installed (apt-get install chromium)")
    if exe is None:
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    return exe


@pytest.fixture(scope="module")
def chromium(request: pytest.FixtureRequest, chromium_path: str) -> Iterator[object]:
    """A headless Chromium, launched through the Playwright sync API with executable_path.

    Reuses pytest-playwright's session ``playwright`` instance when that plugin is active (two
    sync Playwright instances cannot run at once in one thread).
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("the playwright package is not installed")
        pytest.skip("the playwright package is not installed")
    owned = None
    try:
        pw = request.getfixturevalue("playwright")
    except pytest.FixtureLookupError:
        owned = sync_playwright().start()
        pw = owned
    browser = pw.chromium.launch(
        executable_path=chromium_path, headless=True, args=["--no-sandbox"]
    )
    yield browser
    browser.close()
    if owned is not None:
        owned.stop()


@pytest.fixture
def open_page(chromium, tmp_path: Path) -> Iterator[Callable[[str, str], tuple]]:
    """Return ``open(html, name) -> (page, errors, outside)`` for a page written to a file.

    Requests that are not file:, data: or localhost are blocked and recorded in ``outside``;
    page errors and console errors are recorded in ``errors``.
    """
    contexts = []

    def open_(html: str, name: str) -> tuple:
        path = tmp_path / f"{name}.html"
        path.write_text(html, encoding="utf-8")
        context = chromium.new_context(viewport={"width": 1280, "height": 800})
        contexts.append(context)
        errors: list[str] = []
        outside: list[str] = []

        def route(r) -> None:
            if is_local(r.request.url):
                r.continue_()
            else:
                outside.append(r.request.url)
                r.abort()

        context.route("**/*", route)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
        page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
        page.goto(path.as_uri(), wait_until="load")
        page.wait_for_selector(".leaflet-container")
        page.wait_for_timeout(200)
        return page, errors, outside

    yield open_
    for context in contexts:
        context.close()
