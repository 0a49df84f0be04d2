"""Fixtures of the page tests: the web fixtures (both stores), a small city, a browser."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point

from tests.conftest import square_grids
from tests.dispatch_helpers import GRID, TUESDAY, centre, incident, worker
from tests.maps.conftest import chromium, chromium_path  # noqa: F401  (browser fixtures)
from tests.web.conftest import (  # noqa: F401  (web fixtures, over both stores)
    app,
    bearer,
    client,
    live_url,
    make_app,
    store,
    store_url,
)

PAYLOAD = '<img src=x onerror="window.__pwned=1">${window.__pwned=2}`'
#: Jinja syntax: branca parses every rendered script again as a template, on the server.
PAYLOAD_TEMPLATE = "{{ 'eval' ~ 'uated' }}{% set k = 'blo' ~ 'ck-ran' %}{{ k }}{# gone #}"
#: Cases the dispatcher's page suggests (registered, in the first grids).
REGISTERED = ("I00", "I01", "I02", "I03")


def fill_city(target) -> None:
    """Fill a store with 9 grids, 2 workers, stations, demand, ranked sites and 24 cases.

    The description of case I01, the name of grid 5 and of site A carry an XSS payload; the
    description of case I02 and the name of grid 7 Jinja syntax.
    """
    grids = square_grids(3)
    grids.loc[4, "name"] = PAYLOAD
    grids.loc[6, "name"] = PAYLOAD_TEMPLATE
    target.insert("grids", grids)
    workers = [
        worker("W1", [0, 1, 2], ["sanitation", "general"]),
        worker("W2", [3, 4, 5], ["sanitation", "general"]),
    ]
    target.insert("workers", gpd.GeoDataFrame(workers, crs="EPSG:4326"))
    rows = [
        incident(rid, "E0102", grid=i % 3, priority=1 + i % 3) for i, rid in enumerate(REGISTERED)
    ]
    for i in range(20):
        status = ("dispatched", "handling", "closed", "received")[i % 4]
        reported = (pd.Timestamp(TUESDAY) - pd.Timedelta(hours=5 * i)).isoformat()
        rows.append(
            incident(
                f"J{i:02d}",
                ("E0102", "E0201", "C0104", "H05")[i % 4],
                grid=i % 9,
                status=status,
                worker_id="W1" if status in ("dispatched", "handling", "closed") else None,
                reported=reported,
            )
        )
    frame = gpd.GeoDataFrame(rows, crs="EPSG:4326")
    frame["description"] = [f"问题 {i} <b>'\"" for i in range(len(frame))]
    frame.loc[1, "description"] = PAYLOAD
    frame.loc[2, "description"] = PAYLOAD_TEMPLATE
    target.insert("incidents", frame)
    x, y = centre(4)
    target.insert(
        "stations",
        gpd.GeoDataFrame(
            {
                "id": ["S1", "S2"],
                "kind": ["red_home", "public_toilet"],
                "name": ["驿站一", "公厕"],
                "status": ["open", "open"],
                "service_radius_m": [400.0, np.nan],
            },
            geometry=[Point(x, y), Point(*centre(0))],
            crs="EPSG:4326",
        ),
    )
    rng = np.random.default_rng(3)
    lon = rng.uniform(116.38, 116.41, 40)
    lat = rng.uniform(39.87, 39.90, 40)
    target.insert(
        "demand",
        gpd.GeoDataFrame(
            {
                "id": [f"D{i}" for i in range(40)],
                "kind": np.where(np.arange(40) % 2 == 0, "courier", "residential"),
                "weight": 1.0,
            },
            geometry=gpd.points_from_xy(lon, lat),
            crs="EPSG:4326",
        ),
    )
    target.insert(
        "sites",
        gpd.GeoDataFrame(
            {
                "id": ["A", "B", "C"],
                "kind": ["red_home"] * 3,
                "name": [PAYLOAD, "候选 B", "候选 C"],
                "rank": pd.array([2, 1, None], dtype="Int64"),
                "gain": [4.0, 9.0, np.nan],
                "suggested_by": ["mclp p=2", "mclp p=2", None],
            },
            geometry=[Point(*centre(8)), Point(*centre(6)), Point(*centre(2))],
            crs="EPSG:4326",
        ),
    )


@pytest.fixture
def city(store):  # noqa: F811  (the web fixture)
    """The app's store, filled by :func:`fill_city`."""
    fill_city(store)
    return store


__all__ = ["GRID", "PAYLOAD", "PAYLOAD_TEMPLATE", "REGISTERED", "fill_city"]
