"""Shared fixtures: stores of every backend, small real layers."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from gridmap.stores import open_store
from tests.pg_cluster import pg_databases, pg_server, pg_url  # noqa: F401  (fixtures)

BACKENDS = ["gpkg", "postgis"]
_MARKS = {"postgis": [pytest.mark.postgis]}


@pytest.fixture(params=[pytest.param(b, marks=_MARKS.get(b, [])) for b in BACKENDS])
def store_factory(request, tmp_path) -> Iterator[Callable[[], object]]:
    """Return a function opening (another connection to) one fresh store of each backend.

    A PostGIS store is a fresh schema with the migrations applied, on the test server of
    tests/pg_cluster.py (marked ``postgis``: ``-m "not postgis"`` leaves it out).
    """
    opened = []
    if request.param == "postgis":
        url = request.getfixturevalue("pg_url")
    else:
        url = str(tmp_path / "store.gpkg")

    def factory():
        store = open_store(url)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def store(store_factory):
    return store_factory()


def square_grids(n: int = 3, *, x0: float = 116.38, y0: float = 39.90, size: float = 0.01):
    """Return an n x n block of square grids with hierarchical codes, numbered from the north-west."""
    rows = []
    for i in range(n * n):
        r, c = divmod(i, n)
        rows.append(
            {
                "code": f"110101001001{i + 1:02d}",
                "name": f"网格{i + 1}",
                "district": "东城区",
                "population": 1000.0 + i,
                "households": 300 + i,
                "geometry": box(
                    x0 + c * size, y0 - (r + 1) * size, x0 + (c + 1) * size, y0 - r * size
                ),
            }
        )
    return gpd.GeoDataFrame(rows, crs="EPSG:4326")


def random_incidents(n: int, grids: gpd.GeoDataFrame, *, seed: int = 0, prefix: str = "I"):
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = grids.total_bounds
    start = pd.Timestamp("2025-03-03 08:00", tz="Asia/Shanghai")
    return gpd.GeoDataFrame(
        {
            "id": [f"{prefix}{i:06d}" for i in range(n)],
            "category": rng.choice(["E0102", "E0201", "C0104", "H05"], n),
            "description": [f"问题 {i} <b>'\"" for i in range(n)],
            "source": rng.choice(["hotline", "app", "patrol"], n),
            "priority": rng.integers(1, 4, n),
            "reported_at": start + pd.to_timedelta(rng.integers(0, 30 * 86400, n), unit="s"),
        },
        geometry=gpd.points_from_xy(rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)),
        crs="EPSG:4326",
    )
