"""A synthetic city of any size, for scale benchmarks: square grids and random places.

Square grids in rows from the north-west (UTM zone 50N) with 14-digit hierarchical codes (admin +
street + community + 2-digit sequence; the ``[synthetic]`` table of ``data/demo.toml``), log-normal
population, hotspots at random grids, residential demand at every grid, and courier demand,
candidate sites and stations at random places. Every draw comes from the caller's generator.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from gridmap.city import City, points_in
from gridmap.errors import GridMapError
from gridmap.gridcodes import numbered_codes
from gridmap.model import CRS
from gridmap.simulate import lognormal

__all__ = ["synthetic_city", "synthetic_layers"]

_STATION_KINDS = np.array(
    ["public_toilet", "service_center", "red_home", "courier_station"], dtype=object
)


def synthetic_city(
    rng: np.random.Generator, grids: int, cfg: Mapping[str, Any]
) -> tuple[gpd.GeoDataFrame, City]:
    """Return the grids layer (with population) and the city of ``grids`` synthetic grids."""
    frame, polygons, crs = _synthetic_grids(int(grids), cfg)
    population = np.round(lognormal(rng, float(cfg["population_median"]), 0.8, grids), 0)
    frame["population"] = population
    frame["households"] = np.round(population / 2.6).astype("int64")
    n_hot = max(3, grids // int(cfg["grids_per_hotspot"]))
    hot_grid = rng.integers(grids, size=n_hot)
    hot_xy = shapely.get_coordinates(shapely.centroid(polygons[hot_grid]))
    city = City(
        crs,
        frame["code"].to_numpy(dtype=object),
        polygons,
        population + 50.0,
        hot_xy,
        lognormal(rng, 1.0, 0.5, n_hot),
        float(cfg["hotspot_sigma_m"]),
    )
    return frame, city


def synthetic_layers(
    rng: np.random.Generator, grids: gpd.GeoDataFrame, city: City
) -> dict[str, gpd.GeoDataFrame]:
    """Return the stations, demand and sites of a synthetic city (layer name → layer).

    Residential demand sits at every grid's centre (weight: its population); one courier point
    per 10 grids, one candidate site per 5 and one station per 25 lie at random places.
    """
    n = len(grids)
    polygons, crs = city.polygons, city.crs
    centres = gpd.GeoSeries(shapely.centroid(polygons), crs=crs).to_crs(CRS).values
    n_courier, n_sites, n_stations = max(1, n // 10), max(1, n // 5), max(1, n // 25)
    courier = _random_points(rng, polygons, n_courier, crs)
    demand = gpd.GeoDataFrame(
        {
            "id": np.concatenate(
                [grids["code"].to_numpy(dtype=object), numbered_codes("C", n_courier, width=5)]
            ),
            "kind": ["residential"] * n + ["courier"] * n_courier,
            "weight": np.concatenate([grids["population"].to_numpy(), np.ones(n_courier)]),
        },
        geometry=np.concatenate([centres, courier]),
        crs=CRS,
    )
    site_pts = _random_points(rng, polygons, n_sites, crs)
    area = lognormal(rng, 600.0, 0.7, n_sites)
    sites = gpd.GeoDataFrame(
        {
            "id": numbered_codes("S", n_sites, width=5),
            "kind": "red_home",
            "cost": np.round(50_000.0 + 100.0 * area),
            "capacity": np.clip(np.round(area / 25.0), 4, 40).astype("int64"),
        },
        geometry=site_pts,
        crs=CRS,
    )
    station_pts = _random_points(rng, polygons, n_stations, crs)
    stations = gpd.GeoDataFrame(
        {
            "id": numbered_codes("T", n_stations, width=5),
            "kind": _STATION_KINDS[rng.integers(len(_STATION_KINDS), size=n_stations)],
            "status": "open",
        },
        geometry=station_pts,
        crs=CRS,
    )
    return {"stations": stations, "demand": demand, "sites": sites}


def _synthetic_grids(
    n: int, cfg: Mapping[str, Any]
) -> tuple[gpd.GeoDataFrame, np.ndarray, pyproj.CRS]:
    """``n`` square grids in rows from the north-west, with 14-digit hierarchical codes."""
    crs = pyproj.CRS("EPSG:32650")
    size = float(cfg["cell_m"])
    k, m = int(cfg["community_cells"]), int(cfg["street_communities"])
    if k * k > 99:
        raise GridMapError("synthetic.community_cells must be at most 9 (99 grids a community)")
    cols = max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    r, c = np.divmod(np.arange(n), cols)
    x0, y0 = (float(v) for v in cfg["origin_utm50"])
    xs = x0 + np.arange(cols + 1) * size
    ys = y0 - np.arange(rows + 1) * size
    polygons = shapely.box(xs[c], ys[r + 1], xs[c + 1], ys[r])
    cr, cc = r // k, c // k  # community row and column
    street_cols = math.ceil(math.ceil(cols / k) / m)
    street = (cr // m) * street_cols + cc // m + 1
    community = (cr % m) * m + cc % m + 1
    seq = (r % k) * k + c % k + 1
    if n and street.max() > 999:
        raise GridMapError(f"{n:,} grids need more than 999 streets; use larger streets")
    admin = str(cfg["admin_code"])
    codes = (
        pd.Series(street)
        .map("{:03d}".format)
        .radd(admin)
        .add(pd.Series(community).map("{:03d}".format))
        .add(pd.Series(seq).map("{:02d}".format))
        .to_numpy(dtype=object)
    )
    frame = gpd.GeoDataFrame(
        {
            "code": codes,
            "name": codes,
            "district": admin,
            "street": [code[:9] for code in codes],
            "community": [code[:12] for code in codes],
        },
        geometry=gpd.GeoSeries(polygons, crs=crs).to_crs(CRS).values,
        crs=CRS,
    )
    return frame, polygons, crs


def _random_points(
    rng: np.random.Generator, polygons: np.ndarray, count: int, crs: pyproj.CRS
) -> np.ndarray:
    """Return ``count`` points (EPSG:4326) uniform inside random ``polygons`` (metric ``crs``)."""
    which = rng.integers(len(polygons), size=count)
    x, y = points_in(rng, polygons, which)
    return gpd.GeoSeries(shapely.points(x, y), crs=crs).to_crs(CRS).values
