"""The city a simulation runs on: grids in a metric CRS and where reports come from.

:func:`osm_city` makes it from grids and points of interest of an OpenStreetMap extract: each
grid's background weight mixes its population, POIs and area, and the hotspots are the POI-densest
places. :func:`points_in` and :func:`grid_of` place simulated points in the grids.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from gridmap.spatial import metric_crs

__all__ = ["City", "grid_of", "osm_city", "points_in"]

_HOTSPOT_SEPARATION = 2.0  # hotspots are at least this many density radii apart


@dataclass(frozen=True)
class City:
    """Grids in a metric CRS and where reports come from."""

    crs: pyproj.CRS
    codes: np.ndarray  # object array of grid codes
    polygons: np.ndarray  # metric polygons
    weights: np.ndarray  # background weight per grid
    hotspots: np.ndarray  # (k, 2) metric centres
    hotspot_weights: np.ndarray
    hotspot_sigma: float


def points_in(
    rng: np.random.Generator, polygons: np.ndarray, which: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Draw one uniform point inside ``polygons[i]`` for each ``i`` in ``which``."""
    x = np.empty(len(which))
    y = np.empty(len(which))
    bounds = shapely.bounds(polygons)
    shapely.prepare(polygons)
    todo = np.arange(len(which))
    for _ in range(200):
        if len(todo) == 0:
            break
        b = bounds[which[todo]]
        px, py = rng.uniform(b[:, 0], b[:, 2]), rng.uniform(b[:, 1], b[:, 3])
        ok = shapely.contains_xy(polygons[which[todo]], px, py)
        x[todo[ok]], y[todo[ok]] = px[ok], py[ok]
        todo = todo[~ok]
    if len(todo):  # slivers that rejection sampling keeps missing
        inner = shapely.get_coordinates(shapely.point_on_surface(polygons[which[todo]]))
        x[todo], y[todo] = inner[:, 0], inner[:, 1]
    return x, y


def grid_of(polygons: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Return the index of the polygon holding each point, or -1."""
    out = np.full(len(x), -1, dtype=np.intp)
    if len(x) == 0:
        return out
    pts, polys = shapely.STRtree(polygons).query(shapely.points(x, y), predicate="intersects")
    order = np.lexsort((polys, pts))  # a point on a shared edge goes to the first polygon
    pts, polys = pts[order], polys[order]
    first = np.ones(len(pts), dtype=bool)
    first[1:] = pts[1:] != pts[:-1]
    out[pts[first]] = polys[first]
    return out


def osm_city(grids: gpd.GeoDataFrame, pois: gpd.GeoDataFrame, space: Mapping[str, Any]) -> City:
    """Return the city of the grids of an extract, with report weights and POI hotspots.

    ``space`` is the ``[space]`` table of the demo settings: the weights of population, POIs and
    area (ha) in a grid's background weight, and the number, radius and spread of hotspots.
    """
    crs = metric_crs(grids)
    polygons = grids.geometry.to_crs(crs).values
    poi_grid = grid_of(polygons, *shapely.get_coordinates(pois.geometry.to_crs(crs).values).T)
    poi_count = np.bincount(poi_grid[poi_grid >= 0], minlength=len(grids))
    weights = (
        space["weight_population"] * grids["population"].to_numpy(dtype=float)
        + space["weight_poi"] * poi_count
        + space["weight_area_ha"] * shapely.area(polygons) / 10_000.0
    )
    hot_xy, hot_w = _hotspots(pois, crs, int(space["hotspots"]), float(space["hotspot_radius_m"]))
    return City(
        crs,
        grids["code"].to_numpy(dtype=object),
        polygons,
        weights,
        hot_xy,
        hot_w,
        float(space["hotspot_sigma_m"]),
    )


def _hotspots(
    pois: gpd.GeoDataFrame, crs: pyproj.CRS, count: int, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """Return the ``count`` POI-densest places (>= ``2 × radius`` apart) and their densities."""
    if count <= 0 or pois.empty:
        return np.zeros((0, 2)), np.zeros(0)
    xy = shapely.get_coordinates(pois.geometry.to_crs(crs).values)
    pts = shapely.points(xy)
    left, _ = shapely.STRtree(pts).query(pts, predicate="dwithin", distance=radius)
    density = np.bincount(left, minlength=len(pts)).astype(float)
    chosen: list[int] = []
    for i in np.lexsort((np.arange(len(pts)), -density)):
        if all(np.hypot(*(xy[i] - xy[j])) >= _HOTSPOT_SEPARATION * radius for j in chosen):
            chosen.append(int(i))
            if len(chosen) == count:
                break
    return xy[chosen], density[chosen]
