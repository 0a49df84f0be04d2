"""Chinese web-map coordinates: GCJ-02 ("Mars" coordinates) and BD-09, to and from WGS 84.

Chinese web maps (Amap/Gaode, Tencent, Google China) publish GCJ-02 longitudes and latitudes,
Baidu publishes BD-09; both are WGS 84 with a deliberate, smooth offset of a few hundred metres.
The forward GCJ-02 offset uses the widely published formulas (Krasovsky 1940 ellipsoid,
``a = 6378245.0``, ``ee = 0.00669342162296594323``); BD-09 adds Baidu's published polar-coordinate
shift on top of GCJ-02. Points outside the rough mainland-China box (longitude 72.004–137.8347,
latitude 0.8293–55.8271) are left unchanged by every function here, as in the reference
implementations.

The inverse transforms are not the usual one-step approximations (error up to a few metres): they
solve ``forward(w) = g`` by fixed-point iteration until the residual is below ``1e-12`` degrees,
so a WGS 84 → GCJ-02 → WGS 84 round trip is exact to well under a millimetre.

All functions accept scalars or array-likes of any shape (broadcast together) and return
``(lon, lat)`` as float64 numpy arrays.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from numpy.typing import ArrayLike, NDArray

from gridmap.errors import ValidationError

__all__ = [
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

_A = 6378245.0  # Krasovsky 1940 semi-major axis, as used by the GCJ-02 formulas
_EE = 0.00669342162296594323  # Krasovsky 1940 first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0  # Baidu's BD-09 constant
_LON_RANGE = (72.004, 137.8347)
_LAT_RANGE = (0.8293, 55.8271)
_TOL_DEG = 1e-12
_MAX_ITER = 30

Pair = tuple[NDArray[np.float64], NDArray[np.float64]]
CrsLike = str | int | pyproj.CRS


def _as_arrays(lon: ArrayLike, lat: ArrayLike) -> Pair:
    lon_a, lat_a = np.broadcast_arrays(
        np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    )
    return lon_a.copy(), lat_a.copy()


def _in_china(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.bool_]:
    return (
        (lon >= _LON_RANGE[0])
        & (lon <= _LON_RANGE[1])
        & (lat >= _LAT_RANGE[0])
        & (lat <= _LAT_RANGE[1])
    )


def _gcj_offset(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> Pair:
    """GCJ-02 offset (dlon, dlat) in degrees at WGS 84 position (lon, lat)."""
    x = lon - 105.0
    y = lat - 35.0
    xp = x * np.pi
    yp = y * np.pi
    common = 20.0 * np.sin(6.0 * xp) + 20.0 * np.sin(2.0 * xp)
    dlat = common + 20.0 * np.sin(yp) + 40.0 * np.sin(yp / 3.0)
    dlat += 160.0 * np.sin(yp / 12.0) + 320.0 * np.sin(yp / 30.0)
    dlon = common + 20.0 * np.sin(xp) + 40.0 * np.sin(xp / 3.0)
    dlon += 150.0 * np.sin(xp / 12.0) + 300.0 * np.sin(xp / 30.0)
    dlat = dlat * 2.0 / 3.0 - 100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y
    dlat += 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    dlon = dlon * 2.0 / 3.0 + 300.0 + x + 2.0 * y + 0.1 * x * x
    dlon += 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    rad_lat = np.radians(lat)
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    return dlon, dlat


def _wgs_to_gcj(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> Pair:
    inside = _in_china(lon, lat)
    dlon, dlat = _gcj_offset(lon, lat)
    return np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat)


def _gcj_to_bd(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> Pair:
    inside = _in_china(lon, lat)
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    bd_lon = z * np.cos(theta) + 0.0065
    bd_lat = z * np.sin(theta) + 0.006
    return np.where(inside, bd_lon, lon), np.where(inside, bd_lat, lat)


def _bd_to_gcj_approx(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> Pair:
    x = lon - 0.0065
    y = lat - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _max_abs(values: NDArray[np.float64]) -> float:
    return float(np.max(np.abs(values), initial=0.0, where=~np.isnan(values)))


def _invert(forward, lon: NDArray[np.float64], lat: NDArray[np.float64], start: Pair) -> Pair:
    """Solve ``forward(x, y) == (lon, lat)`` by fixed-point iteration from ``start``.

    The offsets vary slowly (their Jacobian is close to the identity), so ``x -= f(x) - target``
    converges linearly with a tiny ratio: about 2-3 correct digits per step.
    """
    x, y = start
    for _ in range(_MAX_ITER):
        fx, fy = forward(x, y)
        rx = fx - lon
        ry = fy - lat
        x = x - rx
        y = y - ry
        if _max_abs(rx) <= _TOL_DEG and _max_abs(ry) <= _TOL_DEG:
            break
    return x, y


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> Pair:
    """Convert WGS 84 longitude/latitude to GCJ-02.

    Parameters
    ----------
    lon, lat : array_like
        WGS 84 coordinates in degrees; scalars or arrays (broadcast together).

    Returns
    -------
    lon, lat : numpy.ndarray
        GCJ-02 coordinates in degrees. Points outside the mainland-China box are unchanged.

    Examples
    --------
    >>> lon, lat = wgs84_to_gcj02(116.377817, 39.911954)
    >>> print(f"{float(lon):.6f} {float(lat):.6f}")
    116.384047 39.913345
    """
    return _wgs_to_gcj(*_as_arrays(lon, lat))


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> Pair:
    """Convert GCJ-02 longitude/latitude to WGS 84 (exact inverse by iteration).

    Parameters
    ----------
    lon, lat : array_like
        GCJ-02 coordinates in degrees; scalars or arrays (broadcast together).

    Returns
    -------
    lon, lat : numpy.ndarray
        WGS 84 coordinates in degrees, such that ``wgs84_to_gcj02`` maps them back onto the
        input to better than ``1e-12`` degrees. Points outside the mainland-China box are
        unchanged.
    """
    lon_a, lat_a = _as_arrays(lon, lat)
    return _invert(_wgs_to_gcj, lon_a, lat_a, (lon_a, lat_a))


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> Pair:
    """Convert GCJ-02 longitude/latitude to Baidu BD-09.

    Parameters
    ----------
    lon, lat : array_like
        GCJ-02 coordinates in degrees.

    Returns
    -------
    lon, lat : numpy.ndarray
        BD-09 coordinates in degrees. Points outside the mainland-China box are unchanged.
    """
    return _gcj_to_bd(*_as_arrays(lon, lat))


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> Pair:
    """Convert Baidu BD-09 longitude/latitude to GCJ-02.

    Starts from Baidu's published approximate inverse and refines it by fixed-point iteration
    so that :func:`gcj02_to_bd09` maps the result back onto the input.

    Parameters
    ----------
    lon, lat : array_like
        BD-09 coordinates in degrees.

    Returns
    -------
    lon, lat : numpy.ndarray
        GCJ-02 coordinates in degrees. Points outside the mainland-China box are unchanged.
    """
    lon_a, lat_a = _as_arrays(lon, lat)
    start = _bd_to_gcj_approx(lon_a, lat_a)
    inside = _in_china(lon_a, lat_a)
    start = (np.where(inside, start[0], lon_a), np.where(inside, start[1], lat_a))
    return _invert(_gcj_to_bd, lon_a, lat_a, start)


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> Pair:
    """Convert WGS 84 longitude/latitude to Baidu BD-09 (through GCJ-02).

    Parameters
    ----------
    lon, lat : array_like
        WGS 84 coordinates in degrees.

    Returns
    -------
    lon, lat : numpy.ndarray
        BD-09 coordinates in degrees.
    """
    return _gcj_to_bd(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> Pair:
    """Convert Baidu BD-09 longitude/latitude to WGS 84 (through GCJ-02, exact inverses).

    Parameters
    ----------
    lon, lat : array_like
        BD-09 coordinates in degrees.

    Returns
    -------
    lon, lat : numpy.ndarray
        WGS 84 coordinates in degrees.
    """
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


_WEB_SOURCES = {"gcj02": gcj02_to_wgs84, "bd09": bd09_to_wgs84}


def _web_source(source: str) -> str | None:
    key = re.sub(r"[\s_-]", "", source).lower()
    return key if key in _WEB_SOURCES else None


def _parse_crs(source: CrsLike) -> pyproj.CRS:
    text = str(source).strip()
    try:
        return pyproj.CRS.from_user_input(int(text) if text.isdigit() else source)
    except (pyproj.exceptions.CRSError, TypeError, ValueError) as exc:
        raise ValidationError(
            f"unknown coordinate source {source!r}: use 'gcj02', 'bd09' or a CRS "
            "such as 'EPSG:4547' or '4326'"
        ) from exc


def _apply_lonlat(func: Callable[[ArrayLike, ArrayLike], Pair]) -> Callable[..., tuple]:
    def transform(x: NDArray, y: NDArray, *z: NDArray) -> tuple:
        lon, lat = func(x, y)
        return (lon, lat, *z)

    return transform


def to_wgs84(
    data: gpd.GeoDataFrame | gpd.GeoSeries, source: CrsLike
) -> gpd.GeoDataFrame | gpd.GeoSeries:
    """Return a copy of ``data`` with every vertex converted to WGS 84 (EPSG:4326).

    Parameters
    ----------
    data : geopandas.GeoDataFrame or geopandas.GeoSeries
        Geometries of any type (points, lines, polygons, multi-part, collections); Z values are
        kept unchanged. For a GeoDataFrame the active geometry column is converted.
    source : str or int or pyproj.CRS
        What the coordinates really are: ``"gcj02"`` (Amap/Gaode, Tencent) or ``"bd09"``
        (Baidu) longitude/latitude in degrees (case, ``-`` and ``_`` ignored, so ``"GCJ-02"``
        works), or anything :class:`pyproj.CRS` accepts (``"EPSG:4547"``, ``"4326"``, ``4490``).
        ``source`` wins over the CRS declared on ``data``: GCJ-02 data is often mislabelled as
        EPSG:4326.

    Returns
    -------
    geopandas.GeoDataFrame or geopandas.GeoSeries
        Same type and index as ``data``, with CRS EPSG:4326.

    Raises
    ------
    gridmap.errors.ValidationError
        If ``source`` is neither a web-map datum nor a CRS pyproj understands, or if ``source``
        is ``"gcj02"``/``"bd09"`` while ``data`` declares a projected CRS.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import Point
    >>> pts = gpd.GeoSeries([Point(116.384047, 39.913345)], crs="EPSG:4326")
    >>> point = to_wgs84(pts, "gcj02").iloc[0]
    >>> print(f"{point.x:.6f} {point.y:.6f}")
    116.377817 39.911954
    """
    geoms = data.geometry if isinstance(data, gpd.GeoDataFrame) else data
    web = _web_source(source) if isinstance(source, str) else None
    if web is not None:
        if geoms.crs is not None and not geoms.crs.is_geographic:
            raise ValidationError(
                f"source {source!r} means longitude/latitude degrees, but the data declares the "
                f"projected CRS {geoms.crs.to_string()}"
            )
        values = shapely.transform(
            np.asarray(geoms.values),
            _apply_lonlat(_WEB_SOURCES[web]),
            include_z=None,
            interleaved=False,
        )
        converted = gpd.GeoSeries(values, index=geoms.index, crs="EPSG:4326", name=geoms.name)
    else:
        crs = _parse_crs(source)
        converted = geoms.set_crs(crs, allow_override=True).to_crs("EPSG:4326")
    if isinstance(data, gpd.GeoDataFrame):
        out = data.copy()
        out[data.geometry.name] = converted
        return out.set_crs("EPSG:4326", allow_override=True)
    return converted
