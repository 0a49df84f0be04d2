import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely import GeometryCollection, LineString, MultiPolygon, Point, Polygon

from gridmap.coords import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from gridmap.errors import GridMapError, ValidationError

GEOD = pyproj.Geod(ellps="WGS84")

# Test vectors of the reference implementation, googollee/eviltransform python/test.py:
# (wgs lat, wgs lng, gcj lat, gcj lng)
EVIL_VECTORS = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # Beijing
]


def metres(lon1, lat1, lon2, lat2):
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def china_points(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(73.0, 135.0, n), rng.uniform(18.0, 53.5, n)


@pytest.mark.parametrize(("wlat", "wlng", "glat", "glng"), EVIL_VECTORS)
def test_published_gcj02_vectors(wlat, wlng, glat, glng):
    lon, lat = wgs84_to_gcj02(wlng, wlat)
    assert float(lon) == pytest.approx(glng, abs=1e-9)
    assert float(lat) == pytest.approx(glat, abs=1e-9)
    back_lon, back_lat = gcj02_to_wgs84(glng, glat)
    assert metres(back_lon, back_lat, wlng, wlat) < 1e-3


def test_published_gcoord_vectors():
    # hujiulong/gcoord test/unit/crs/GCJ02.spec.js (checked there to 5 decimals)
    lon, lat = gcj02_to_bd09(123, 45)
    assert (float(lon), float(lat)) == pytest.approx((123.00636499, 45.00636899), abs=5e-6)
    lon, lat = gcj02_to_wgs84(123, 45)
    assert (float(lon), float(lat)) == pytest.approx((122.99395597, 44.99804071), abs=5e-6)


def test_gcj02_round_trip_is_sub_millimetre():
    lon, lat = china_points(10_000)
    glon, glat = wgs84_to_gcj02(lon, lat)
    offset = metres(lon, lat, glon, glat)
    assert offset.max() < 1_000 and offset.mean() > 50  # GCJ-02 really moves points
    back = gcj02_to_wgs84(glon, glat)
    assert metres(*back, lon, lat).max() < 1e-4
    again = wgs84_to_gcj02(*back)
    assert np.abs(again[0] - glon).max() < 1e-10 and np.abs(again[1] - glat).max() < 1e-10


def test_bd09_round_trips_are_sub_millimetre():
    lon, lat = china_points(10_000, seed=1)
    blon, blat = wgs84_to_bd09(lon, lat)
    assert metres(*bd09_to_wgs84(blon, blat), lon, lat).max() < 1e-4
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert metres(*bd09_to_gcj02(*gcj02_to_bd09(glon, glat)), glon, glat).max() < 1e-4
    assert np.array_equal(np.stack(wgs84_to_bd09(lon, lat)), np.stack(gcj02_to_bd09(glon, glat)))


@settings(max_examples=200, deadline=None)
@given(lon=st.floats(72.5, 137.5, allow_nan=False), lat=st.floats(1.0, 55.5, allow_nan=False))
def test_inverses_hypothesis(lon, lat):
    assert metres(*gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat)), lon, lat) < 1e-3
    assert metres(*bd09_to_wgs84(*wgs84_to_bd09(lon, lat)), lon, lat) < 1e-3


@pytest.mark.parametrize(
    "func",
    [wgs84_to_gcj02, gcj02_to_wgs84, gcj02_to_bd09, bd09_to_gcj02, wgs84_to_bd09, bd09_to_wgs84],
)
def test_outside_china_unchanged_and_shapes(func):
    lon = np.array([[2.35, -74.0], [151.2, 100.0]])
    lat = np.array([[48.85, 40.7], [-33.9, 60.0]])
    out_lon, out_lat = func(lon, lat)
    assert out_lon.shape == (2, 2) and out_lat.shape == (2, 2)
    assert np.array_equal(out_lon, lon) and np.array_equal(out_lat, lat)
    scalar = func(116.4, 39.9)
    assert np.ndim(scalar[0]) == 0 and np.ndim(scalar[1]) == 0
    nan_lon, nan_lat = func([np.nan, 116.4], [39.9, 39.9])
    assert np.isnan(nan_lon[0]) and np.isfinite(nan_lon[1]) and np.isfinite(nan_lat[1])


def test_inputs_not_modified():
    lon = np.array([116.4, 121.5])
    lat = np.array([39.9, 31.2])
    gcj02_to_wgs84(lon, lat)
    bd09_to_wgs84(lon, lat)
    assert lon.tolist() == [116.4, 121.5] and lat.tolist() == [39.9, 31.2]


def sample_layer():
    geoms = [
        Point(116.40, 39.90, 12.5),
        LineString([(116.30, 39.80), (116.35, 39.85), (116.42, 39.83)]),
        Polygon(
            [(116.0, 39.0), (116.2, 39.0), (116.2, 39.2), (116.0, 39.2)],
            [[(116.05, 39.05), (116.1, 39.05), (116.1, 39.1)]],
        ),
        MultiPolygon(
            [shapely.box(121.0, 31.0, 121.1, 31.1), shapely.box(121.2, 31.0, 121.3, 31.1)]
        ),
        GeometryCollection([Point(113.9, 22.5), LineString([(113.9, 22.5), (114.0, 22.6)])]),
        None,
    ]
    return gpd.GeoDataFrame(
        {"name": list("abcdef")}, geometry=geoms, crs="EPSG:4326", index=[10, 11, 12, 13, 14, 15]
    )


@pytest.mark.parametrize(
    ("source", "inverse"), [("gcj02", gcj02_to_wgs84), ("BD-09", bd09_to_wgs84)]
)
def test_to_wgs84_transforms_every_vertex(source, inverse):
    layer = sample_layer()
    before = layer.copy()
    out = to_wgs84(layer, source)
    assert out.crs.to_epsg() == 4326
    assert list(out.index) == list(layer.index) and list(out["name"]) == list("abcdef")
    assert list(out.geom_type[:5]) == list(layer.geom_type[:5]) and out.geometry.iloc[5] is None
    assert out.geometry.iloc[0].has_z and out.geometry.iloc[0].z == 12.5
    src = shapely.get_coordinates(layer.geometry.values)
    got = shapely.get_coordinates(out.geometry.values)
    want = np.column_stack(inverse(src[:, 0], src[:, 1]))
    assert np.abs(got - want).max() < 1e-12
    assert layer.geometry.equals(before.geometry)  # input untouched


def test_to_wgs84_geoseries_and_crs_sources():
    series = sample_layer().geometry
    assert isinstance(to_wgs84(series, "gcj02"), gpd.GeoSeries)
    projected = series.iloc[:4].to_crs("EPSG:4547")
    back = to_wgs84(projected.set_crs(None, allow_override=True), "EPSG:4547")
    assert back.crs.to_epsg() == 4326
    assert (
        np.abs(
            shapely.get_coordinates(back.values) - shapely.get_coordinates(series.iloc[:4].values)
        ).max()
        < 1e-9
    )
    same = to_wgs84(series, "4326")
    assert same.geom_equals_exact(series, tolerance=0).iloc[:5].all()


def test_to_wgs84_errors():
    layer = sample_layer()
    with pytest.raises(GridMapError, match="'mars-coords'"):
        to_wgs84(layer, "mars-coords")
    with pytest.raises(ValidationError, match="projected"):
        to_wgs84(layer.iloc[:4].to_crs("EPSG:4547"), "gcj02")
