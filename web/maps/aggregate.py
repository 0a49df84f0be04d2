"""Numbers and light geometries behind the map pages, sized for a browser.

A page must stay under ~5 MB with 10,000 grids and 100,000 incidents (GUIDE 1.2): grids are
simplified in a metric CRS and rounded to 1e-5 degrees (about 1 m), only the shown columns are
kept, heat points are merged on a lattice, and incidents are counted per grid.
"""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from numpy.typing import NDArray

from gridmap.catalog import station_kinds
from gridmap.model import CRS, DEMAND_KINDS
from gridmap.spatial import locate, metric_crs
from web.maps.memo import digest as _digest
from web.maps.memo import remember as _remember

__all__ = [
    "COORD_DECIMALS",
    "covered_mask",
    "feature_collection",
    "grid_codes_of",
    "grid_coverage",
    "heat_points",
    "latlon",
    "light_grids",
    "station_radii",
]

COORD_DECIMALS = 5  # 1e-5 degrees, about 1 m
#: Simplification tolerance of grid outlines, in metres, up to 1,000 grids (then x sqrt(n/1000)).
SIMPLIFY_M = 1.0
#: Default cap on heat points; beyond it points are merged on coarser lattices.
MAX_HEAT_POINTS = 20_000


def light_grids(
    grids: gpd.GeoDataFrame,
    columns: dict[str, object],
    *,
    tolerance_m: float | None = None,
    crs: pyproj.CRS | None = None,
) -> gpd.GeoDataFrame:
    """Return grids ready to embed: simplified, rounded, with only the given columns.

    Parameters
    ----------
    grids : geopandas.GeoDataFrame
        Polygonal grids with a CRS.
    columns : dict
        Output column name -> values (one per grid, in the row order of ``grids``).
    tolerance_m : float, optional
        Douglas-Peucker tolerance, applied in the grids' local UTM zone. Default 1 m up to
        1,000 grids, growing with the square root of the count beyond (about 3 m for 10,000):
        the more grids, the further out the view that shows them all.
    crs : pyproj.CRS, optional
        The metric CRS to simplify in (default :func:`gridmap.spatial.metric_crs`).

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326, a fresh ``RangeIndex`` (short feature ids), coordinates rounded to 1e-5.
        A grid that rounding would collapse keeps its rounded vertices as they are.
    """
    frame = pd.DataFrame({k: np.asarray(v, dtype=object) for k, v in columns.items()})
    if grids.empty:
        return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([], crs=CRS), crs=CRS)
    if tolerance_m is None:
        tolerance_m = SIMPLIFY_M * max(1.0, float(np.sqrt(len(grids) / 1000)))
    crs = metric_crs(grids) if crs is None else crs
    source = np.asarray(grids.geometry.values)
    key = ("light", _digest(source), str(grids.crs), crs.to_string(), tolerance_m)
    rounded = _remember(key, lambda: _simplified(grids.geometry, crs, tolerance_m), len(source))
    return gpd.GeoDataFrame(frame, geometry=rounded.copy(), crs=CRS)


def _simplified(geometry: gpd.GeoSeries, crs: pyproj.CRS, tolerance_m: float) -> np.ndarray:
    simple = shapely.simplify(geometry.to_crs(crs).values, tolerance_m)
    geoms = np.asarray(gpd.GeoSeries(simple, crs=crs).to_crs(CRS).values)
    rounded = shapely.set_precision(geoms, 10.0**-COORD_DECIMALS)
    lost = shapely.is_empty(rounded) & ~shapely.is_empty(geoms)
    if lost.any():
        rounded[lost] = shapely.set_precision(geoms[lost], 10.0**-COORD_DECIMALS, mode="pointwise")
    return rounded


def feature_collection(frame: gpd.GeoDataFrame) -> dict:
    """Return a GeoJSON FeatureCollection of ``frame`` (EPSG:4326) without ``bbox`` members.

    Feature ids are the row positions; missing property values become ``null``. Much faster
    than :meth:`geopandas.GeoDataFrame.to_geo_dict` for 10,000 features.
    """
    geoms = np.asarray(frame.geometry.to_crs(CRS).values)
    shapes = _remember(("geojson", _digest(geoms)), lambda: _geojson(geoms), len(geoms))
    props = frame.drop(columns=frame.geometry.name).astype(object)
    props = props.where(props.notna(), None).to_dict("records")
    features = [
        {"type": "Feature", "id": str(i), "properties": p, "geometry": g}
        for i, (p, g) in enumerate(zip(props, shapes, strict=True))
        if g is not None
    ]
    return {"type": "FeatureCollection", "features": features}


def _geojson(geoms: np.ndarray) -> list[dict | None]:
    """Return GeoJSON geometry objects (shared between calls: never modify them)."""
    return [None if g is None else json.loads(g) for g in shapely.to_geojson(geoms)]


def latlon(points: gpd.GeoSeries) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return (lat, lon) of points in EPSG:4326, rounded to 1e-5 degrees."""
    geoms = points.to_crs(CRS) if points.crs is not None else points
    return (
        np.round(geoms.y.to_numpy(dtype=float), COORD_DECIMALS),
        np.round(geoms.x.to_numpy(dtype=float), COORD_DECIMALS),
    )


def heat_points(
    points: gpd.GeoSeries,
    weights: NDArray[np.float64] | None = None,
    *,
    max_points: int = MAX_HEAT_POINTS,
) -> list[list[float]]:
    """Return ``[[lat, lon, weight], ...]`` for a HeatMap, at most ``max_points`` rows.

    Points on the same lattice cell are merged (weights added): first on 1e-5 degrees, then on
    1e-4 and 1e-3 (about 100 m) while too many remain. Weights are scaled so that the 95th
    percentile is 1 (Leaflet.heat saturates at 1) and rounded to three decimals.
    """
    keep = np.asarray(points.notna() & ~points.is_empty)
    lat, lon = latlon(points[keep])
    w = np.ones(len(lat)) if weights is None else np.asarray(weights, dtype=float)[keep]
    ok = np.isfinite(lat) & np.isfinite(lon) & (w > 0)
    lat, lon, w = lat[ok], lon[ok], w[ok]
    for decimals in (COORD_DECIMALS, 4, 3, 2):
        cells = pd.DataFrame({"lat": np.round(lat, decimals), "lon": np.round(lon, decimals)})
        merged = cells.assign(w=w).groupby(["lat", "lon"], sort=False)["w"].sum()
        if len(merged) <= max_points:
            break
    if merged.empty:
        return []
    scale = float(np.percentile(merged.to_numpy(), 95)) or 1.0
    weight = np.round(np.minimum(merged.to_numpy() / scale, 1.0), 3)
    index = merged.index
    return np.column_stack([index.get_level_values(0), index.get_level_values(1), weight]).tolist()


def grid_codes_of(incidents: gpd.GeoDataFrame, grids: gpd.GeoDataFrame) -> pd.Series:
    """Return each incident's grid code: its stored ``grid_code``, else located in ``grids``."""
    stored = incidents.get("grid_code")
    if stored is not None and stored.notna().all():
        return stored.astype("string")
    found = locate(incidents.geometry.to_crs(grids.crs), grids)
    return found if stored is None else stored.astype("string").fillna(found)


def station_radii(stations: gpd.GeoDataFrame) -> NDArray[np.float64]:
    """Return each station's service radius in metres: its own, else its kind's default (or 0)."""
    kinds = station_kinds()
    default = np.array(
        [kinds[k].radius_m if k in kinds else 0.0 for k in stations["kind"].astype(str)], float
    )
    own = _numbers(stations, "service_radius_m", np.nan)
    return np.where(np.isfinite(own) & (own > 0), own, default)


def _open_stations(stations: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    status = stations["status"] if "status" in stations else pd.Series("open", stations.index)
    usable = stations.geometry.notna() & ~stations.geometry.is_empty
    return stations[(status.fillna("open") == "open") & usable]


def covered_mask(
    points: gpd.GeoSeries, stations: gpd.GeoDataFrame, crs: pyproj.CRS | None = None
) -> NDArray[np.bool_]:
    """Return whether each point lies within the service radius of an open station.

    Distances are measured in ``crs`` (default: the points' local UTM zone).
    """
    mask = np.zeros(len(points), dtype=bool)
    st = _open_stations(stations)
    if len(points) == 0 or st.empty:
        return mask
    crs = metric_crs(points) if crs is None else crs
    pts = np.asarray(points.to_crs(crs).values)
    centres = np.asarray(st.geometry.to_crs(crs).values)
    radii = station_radii(st)
    for radius in np.unique(radii[radii > 0]):
        tree = shapely.STRtree(centres[radii == radius])
        hit, _ = tree.query(pts, predicate="dwithin", distance=float(radius))
        mask[hit] = True
    return mask


def grid_coverage(
    grids: gpd.GeoDataFrame,
    stations: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    *,
    crs: pyproj.CRS | None = None,
) -> pd.DataFrame:
    """Return, per grid, how much population and demand lies within reach of an open station.

    Parameters
    ----------
    grids : geopandas.GeoDataFrame
        Grids with ``code`` and ``population``.
    stations : geopandas.GeoDataFrame
        Stations with ``kind``, ``status`` (missing = open) and ``service_radius_m`` (missing
        = the kind's radius from the catalog). Only open stations count; filter kinds first to
        ask about one kind.
    demand : geopandas.GeoDataFrame
        Demand points with ``kind`` (``residential``, ``courier``, ``incident``) and ``weight``.
    crs : pyproj.CRS, optional
        The metric CRS to measure in (default :func:`gridmap.spatial.metric_crs` of ``grids``).

    Returns
    -------
    pandas.DataFrame
        Indexed by grid code, in the row order of ``grids``: ``population``,
        ``population_covered`` (population times the share of the grid's area within a
        service radius: people are assumed spread evenly over the grid),
        ``population_share``; for each demand kind ``<kind>`` (total weight located in the
        grid), ``<kind>_covered`` (weight within a service radius) and ``<kind>_share``.
        Shares are NaN where the total is 0.

    Notes
    -----
    Computed in a metric CRS (the grids' local UTM zone): service areas are buffers (64 segments per circle)
    unioned once; the covered area of a grid is the sum of its intersections with the disjoint
    parts of that union.
    """
    codes = grids["code"].astype(str).to_numpy()
    out = pd.DataFrame(index=pd.Index(codes, name="code"))
    if crs is None and len(grids):
        crs = metric_crs(grids)
    out["population"] = _numbers(grids, "population", 0.0)
    out["population_covered"] = out["population"] * _covered_area_share(grids, stations, crs)
    out["population_share"] = _share(out["population_covered"], out["population"])
    sums = _demand_sums(demand, grids, stations, crs)
    for kind in DEMAND_KINDS:
        for column, name in (("weight", kind), ("covered", f"{kind}_covered")):
            found = sums[(column, kind)] if (column, kind) in sums.columns else pd.Series()
            out[name] = found.reindex(codes).fillna(0.0).to_numpy(dtype=float)
        out[f"{kind}_share"] = _share(out[f"{kind}_covered"], out[kind])
    return out


def _numbers(frame: pd.DataFrame, column: str, missing: float) -> NDArray[np.float64]:
    """Return a column as float64 with ``missing`` for absent or non-numeric values."""
    if column not in frame:
        return np.full(len(frame), missing)
    values = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return values.fillna(missing).to_numpy(dtype=float)


def _share(part: pd.Series, total: pd.Series) -> pd.Series:
    return (part / total.where(total > 0)).astype(float)


def _demand_sums(
    demand: gpd.GeoDataFrame,
    grids: gpd.GeoDataFrame,
    stations: gpd.GeoDataFrame,
    crs: pyproj.CRS | None,
) -> pd.DataFrame:
    """Return demand weight and covered weight per grid code (rows) and kind (columns)."""
    if demand.empty or grids.empty:
        return pd.DataFrame()
    weight = _numbers(demand, "weight", 1.0)
    reached = covered_mask(demand.geometry, stations, crs)
    frame = pd.DataFrame(
        {
            "code": locate(demand.geometry.to_crs(grids.crs), grids).to_numpy(dtype=object),
            "kind": demand["kind"].astype(str).to_numpy(),
            "weight": weight,
            "covered": weight * reached,
        }
    )
    sums = frame.groupby(["code", "kind"])[["weight", "covered"]].sum()
    return sums.unstack("kind", fill_value=0.0)


def _covered_area_share(
    grids: gpd.GeoDataFrame, stations: gpd.GeoDataFrame, crs: pyproj.CRS | None
) -> NDArray[np.float64]:
    """Return the share of each grid's area within the service radius of an open station."""
    share = np.zeros(len(grids))
    st = _open_stations(stations)
    if grids.empty or st.empty:
        return share
    radii = station_radii(st)
    centres = np.asarray(st.geometry.to_crs(crs).values)[radii > 0]
    if centres.size == 0:
        return share
    reach = shapely.union_all(shapely.buffer(centres, radii[radii > 0], quad_segs=16))
    parts = shapely.get_parts(reach)
    polygons = np.asarray(grids.geometry.to_crs(crs).values)
    shapely.prepare(parts)
    tree = shapely.STRtree(parts)
    grid_idx, part_idx = tree.query(polygons, predicate="intersects")
    area = shapely.area(polygons)  # as gridmap.spatial.area_m2, on the same projection
    # most grids lie wholly inside a service area: only the others are cut (4x faster)
    whole = shapely.contains_properly(parts[part_idx], polygons[grid_idx])
    inside = np.where(whole, area[grid_idx], 0.0)
    cut = ~whole
    inside[cut] = shapely.area(shapely.intersection(polygons[grid_idx[cut]], parts[part_idx[cut]]))
    covered = np.bincount(grid_idx, weights=inside, minlength=len(grids))
    np.divide(covered, area, out=share, where=area > 0)
    return np.clip(share, 0.0, 1.0)
