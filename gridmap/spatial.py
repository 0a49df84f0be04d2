"""Spatial operations on grid layers: metric CRS, areas, polygon parts, locating points in grids."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from numpy.typing import NDArray

from gridmap.errors import ValidationError

__all__ = ["area_m2", "locate", "metric_crs", "polygonal_parts"]

_POINT = 0  # shapely.GeometryType.POINT
_POLYGON, _MULTI_TYPES = 3, (4, 5, 6, 7)  # shapely type ids: Polygon; Multi*/GeometryCollection


def metric_crs(data: gpd.GeoDataFrame | gpd.GeoSeries) -> pyproj.CRS:
    """Return the local UTM zone of ``data``, a CRS in metres for lengths and areas.

    Parameters
    ----------
    data : geopandas.GeoDataFrame or geopandas.GeoSeries
        Non-empty geometries with a CRS.

    Returns
    -------
    pyproj.CRS
        The UTM zone (WGS 84 datum) holding the centre of ``data``'s bounds, as chosen by
        :meth:`geopandas.GeoSeries.estimate_utm_crs`.

    Raises
    ------
    gridmap.errors.ValidationError
        If ``data`` has no CRS or no non-empty geometry.
    """
    geoms = data.geometry if isinstance(data, gpd.GeoDataFrame) else data
    if geoms.crs is None:
        raise ValidationError("the layer has no CRS: set one (e.g. EPSG:4326) before measuring")
    if len(geoms) == 0 or bool(np.all(shapely.is_missing(geoms.values) | geoms.is_empty.values)):
        raise ValidationError("the layer is empty: no geometry to choose a metric CRS from")
    return geoms.estimate_utm_crs()


def area_m2(geoms: gpd.GeoSeries | gpd.GeoDataFrame) -> NDArray[np.float64]:
    """Return areas in square metres, measured in the layer's local UTM zone.

    Parameters
    ----------
    geoms : geopandas.GeoSeries or geopandas.GeoDataFrame
        Geometries with a CRS (any CRS; they are reprojected to :func:`metric_crs`).

    Returns
    -------
    numpy.ndarray
        One float64 area per row, in the row order of ``geoms`` (0 for missing, empty or
        non-polygonal geometries).
    """
    series = geoms.geometry if isinstance(geoms, gpd.GeoDataFrame) else geoms
    if len(series) == 0:
        return np.zeros(0, dtype=np.float64)
    projected = series.to_crs(metric_crs(series))
    return np.nan_to_num(shapely.area(projected.values), nan=0.0)


def polygonal_parts(geoms: NDArray[np.object_], min_part: float) -> NDArray[np.object_]:
    """Keep the polygons (area > ``min_part``) of each geometry: Polygon, MultiPolygon or None.

    Multi-part geometries and collections (nested ones too) are taken apart; the polygons left
    of each geometry are put together again, in their order, without merging them.
    """
    parts, owner = shapely.get_parts(geoms, return_index=True)
    while len(parts) and np.isin(shapely.get_type_id(parts), _MULTI_TYPES).any():
        sub, sub_owner = shapely.get_parts(parts, return_index=True)
        parts, owner = sub, owner[sub_owner]
    keep = (shapely.get_type_id(parts) == _POLYGON) & (shapely.area(parts) > min_part)
    parts, owner = parts[keep], owner[keep]
    out = np.full(len(geoms), None, dtype=object)
    counts = np.bincount(owner, minlength=len(geoms))
    single = counts[owner] == 1
    out[owner[single]] = parts[single]
    if (~single).any():
        groups, inverse = np.unique(owner[~single], return_inverse=True)
        out[groups] = shapely.multipolygons(parts[~single], indices=inverse)
    return out


def locate(
    points: gpd.GeoSeries | gpd.GeoDataFrame,
    grids: gpd.GeoDataFrame,
    code_column: str = "code",
) -> pd.Series:
    """Return the code of the grid holding each point.

    Parameters
    ----------
    points : geopandas.GeoSeries or geopandas.GeoDataFrame
        Point geometries (missing or empty points are allowed and are located nowhere).
    grids : geopandas.GeoDataFrame
        Polygonal grids with a ``code_column``. Same CRS as ``points``.
    code_column : str, default "code"
        Column of ``grids`` holding the grid codes.

    Returns
    -------
    pandas.Series
        ``string`` dtype, indexed like ``points``, named ``code_column``. Points outside every
        grid (and missing or empty points) hold ``pd.NA``: ``result.isna()`` selects them.

    Raises
    ------
    gridmap.errors.ValidationError
        If ``code_column`` is missing from ``grids``, the CRSs differ, or a geometry in
        ``points`` is not a point.

    Notes
    -----
    A point belongs to a grid when it intersects it (interior **or boundary**), so no point on a
    grid edge is lost. A point on a shared edge or vertex of several grids gets exactly one
    grid, chosen deterministically: the grid with the **smallest code in string order**
    (ties between equal codes go to the first such row of ``grids``). Overlapping grids are
    resolved by the same rule.

    Candidates come from a :class:`shapely.STRtree` bounding-box query on all points at once;
    the exact point-in-polygon test runs vectorised on prepared copies of the grids (the
    caller's geometries are not touched); points with several hits are resolved by one
    ``lexsort`` on (point, code rank). No per-point Python code runs. This is faster than a
    predicate query of the tree, which prepares each query point instead of the polygons.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import Point, box
    >>> grids = gpd.GeoDataFrame(
    ...     {"code": ["B", "A"]}, geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs=4326
    ... )
    >>> pts = gpd.GeoSeries([Point(0.5, 0.5), Point(1, 0.5), Point(5, 5)], crs=4326)
    >>> locate(pts, grids).tolist()
    ['B', 'A', <NA>]
    """
    geoms = points.geometry if isinstance(points, gpd.GeoDataFrame) else points
    codes = _check_inputs(geoms, grids, code_column)
    winner = _winning_grid(np.asarray(geoms.values), np.asarray(grids.geometry.values), codes)
    result = codes.take(winner, allow_fill=True)
    return pd.Series(result, index=geoms.index, name=code_column)


def _check_inputs(
    geoms: gpd.GeoSeries, grids: gpd.GeoDataFrame, code_column: str
) -> pd.api.extensions.ExtensionArray:
    if code_column not in grids.columns:
        raise ValidationError(f"grids have no column {code_column!r}")
    if geoms.crs is not None and grids.crs is not None and geoms.crs != grids.crs:
        raise ValidationError(
            f"points ({geoms.crs.to_string()}) and grids ({grids.crs.to_string()}) have "
            "different CRSs: reproject one of them first"
        )
    type_ids = shapely.get_type_id(np.asarray(geoms.values))
    bad = (type_ids != _POINT) & (type_ids != -1)
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        raise ValidationError(
            f"locate needs points; row {geoms.index[position]!r} is a "
            f"{geoms.geom_type.iloc[position]}"
        )
    codes = pd.array(grids[code_column].astype("string"), dtype="string")
    if codes.isna().any():
        raise ValidationError(f"some grids have no {code_column!r}: every grid needs a code")
    return codes


def _winning_grid(
    points: NDArray[np.object_],
    polygons: NDArray[np.object_],
    codes: pd.api.extensions.ExtensionArray,
) -> NDArray[np.intp]:
    """Return, per point, the index of its grid (smallest code wins), or -1 if none."""
    winner = np.full(len(points), -1, dtype=np.intp)
    if len(points) == 0 or len(polygons) == 0:
        return winner
    tree = shapely.STRtree(polygons)
    point_idx, grid_idx = tree.query(points)  # bounding-box candidates only
    if len(point_idx) == 0:
        return winner
    # Prepare private copies: preparing the caller's geometries would mutate shared objects
    # that other threads may be using (shapely releases the GIL).
    polygons = shapely.transform(polygons, _same)
    shapely.prepare(polygons)
    hit = shapely.intersects(polygons[grid_idx], points[point_idx])
    point_idx = point_idx[hit]
    grid_idx = grid_idx[hit]
    single = np.bincount(point_idx, minlength=len(points))[point_idx] == 1
    winner[point_idx[single]] = grid_idx[single]
    point_idx = point_idx[~single]  # points on shared edges/vertices or in overlaps: few
    grid_idx = grid_idx[~single]
    if len(point_idx):
        rank = _code_rank(codes)
        order = np.lexsort((rank[grid_idx], point_idx))
        point_idx = point_idx[order]
        first = np.ones(len(point_idx), dtype=bool)
        first[1:] = point_idx[1:] != point_idx[:-1]
        winner[point_idx[first]] = grid_idx[order][first]
    return winner


def _same(coords: NDArray[np.float64]) -> NDArray[np.float64]:
    return coords


def _code_rank(codes: pd.api.extensions.ExtensionArray) -> NDArray[np.intp]:
    """Rank of each grid's code in string order; equal codes keep the row order."""
    keys = np.asarray(codes.fillna(""), dtype=object).astype(str)
    order = np.argsort(keys, kind="stable")
    rank = np.empty(len(keys), dtype=np.intp)
    rank[order] = np.arange(len(keys))
    return rank
