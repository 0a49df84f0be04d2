from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
import shapely

from web.maps.aggregate import (
    covered_mask,
    grid_coverage,
    heat_points,
    light_grids,
    station_radii,
)

UTM = "EPSG:32650"  # Beijing's UTM zone: metric_crs picks it for these grids


def utm_frame(data: dict, geoms: list) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(data, geometry=geoms, crs=UTM).to_crs(4326)


@pytest.fixture
def two_grids() -> gpd.GeoDataFrame:
    # Two 2 km x 2 km squares side by side, built in metres.
    x, y = 440_000.0, 4_420_000.0
    return utm_frame(
        {"code": ["A", "B"], "population": [1000.0, 0.0]},
        [shapely.box(x, y, x + 2000, y + 2000), shapely.box(x + 2000, y, x + 4000, y + 2000)],
    )


def test_grid_coverage_by_hand(two_grids):
    x, y = 440_000.0, 4_420_000.0
    stations = utm_frame(
        {
            "id": ["open", "closed"],
            "kind": ["red_home", "red_home"],
            "status": ["open", "closed"],
            "service_radius_m": [500.0, 5000.0],
        },
        [shapely.Point(x + 1000, y + 1000), shapely.Point(x + 3000, y + 1000)],
    )
    demand = utm_frame(
        {
            "id": ["in", "out", "b"],
            "kind": ["courier", "courier", "courier"],
            "weight": [2.0, 3.0, 1.0],
        },
        [
            shapely.Point(x + 1200, y + 1000),  # 200 m from the open station
            shapely.Point(x + 100, y + 100),  # about 1270 m away
            shapely.Point(x + 3000, y + 1000),  # in B, only near the closed station
        ],
    )
    cover = grid_coverage(two_grids, stations, demand)
    assert list(cover.index) == ["A", "B"]
    # A 500 m circle (64-gon: 99.84 % of pi r^2) inside a 4 km2 grid of 1000 people.
    share = math.pi * 500**2 / 4e6
    assert cover.loc["A", "population_share"] == pytest.approx(share, rel=3e-3)
    assert cover.loc["A", "population_covered"] == pytest.approx(1000 * share, rel=3e-3)
    assert math.isnan(cover.loc["B", "population_share"])  # nobody lives in B
    assert cover.loc["A", "courier"] == 5.0
    assert cover.loc["A", "courier_covered"] == 2.0
    assert cover.loc["A", "courier_share"] == pytest.approx(0.4)
    assert cover.loc["B", "courier_share"] == 0.0  # the closed station does not count
    assert cover.loc["A", "residential"] == 0.0
    assert math.isnan(cover.loc["A", "residential_share"])


def test_grid_coverage_of_grids_wholly_and_partly_inside_a_service_area(two_grids):
    x, y = 440_000.0, 4_420_000.0
    grids = two_grids.assign(population=[1000.0, 500.0])
    centre = shapely.Point(x + 1000, y + 1000)
    stations = utm_frame(
        {"id": ["S"], "kind": ["red_home"], "status": ["open"], "service_radius_m": [2000.0]},
        [centre],
    )
    cover = grid_coverage(grids, stations, utm_frame({"kind": [], "weight": []}, []))
    assert cover.loc["A", "population_share"] == 1.0  # A's corners are 1414 m from the centre
    b = shapely.box(x + 2000, y, x + 4000, y + 2000)
    reach = centre.buffer(2000.0, quad_segs=16)
    assert cover.loc["B", "population_share"] == pytest.approx(
        reach.intersection(b).area / b.area, rel=1e-3
    )


def test_grid_coverage_without_stations_or_demand(two_grids):
    empty = gpd.GeoDataFrame({"id": [], "kind": [], "weight": []}, geometry=[], crs=4326)
    cover = grid_coverage(two_grids, empty, empty)
    assert cover["population_covered"].tolist() == [0.0, 0.0]
    assert cover["courier"].tolist() == [0.0, 0.0]


def test_station_radius_defaults_to_the_kind():
    stations = gpd.GeoDataFrame(
        {
            "kind": ["red_home", "service_center", "unknown"],
            "service_radius_m": [250.0, None, None],
        },
        geometry=[shapely.Point(0, 0)] * 3,
        crs=4326,
    )
    assert station_radii(stations).tolist() == [250.0, 1000.0, 0.0]


def test_covered_mask_respects_status_and_radius(two_grids):
    x, y = 440_000.0, 4_420_000.0
    stations = utm_frame(
        {"kind": ["public_toilet"], "status": [None]},  # missing status counts as open
        [shapely.Point(x, y)],
    )
    points = utm_frame({}, [shapely.Point(x + 290, y), shapely.Point(x + 310, y)]).geometry
    assert covered_mask(points, stations).tolist() == [True, False]


def test_light_grids_rounds_and_keeps_only_given_columns(two_grids):
    wiggly = two_grids.copy()
    wiggly["geometry"] = shapely.segmentize(wiggly.geometry.values, 0.0001)
    light = light_grids(wiggly, {"c": ["A", "B"]})
    assert list(light.columns) == ["c", "geometry"]
    assert light.crs.to_epsg() == 4326
    coords = shapely.get_coordinates(light.geometry.values)
    assert np.allclose(coords, np.round(coords, 5), atol=1e-9)
    # Straight edges cut into many pieces simplify back to (nearly) their corners.
    assert shapely.get_num_coordinates(light.geometry.values).max() <= 10
    assert shapely.get_num_coordinates(wiggly.geometry.values).min() > 50


def test_heat_points_merge_and_cap():
    pts = gpd.GeoSeries(
        gpd.points_from_xy([116.400001, 116.400002, 116.5], [39.9, 39.9, 39.95]), crs=4326
    )
    rows = heat_points(pts)
    # The first two share a 1e-5 cell (weight 2); weights scale to the 95th percentile (1.95).
    assert sorted(rows) == [[39.9, 116.4, 1.0], [39.95, 116.5, 0.513]]
    rng = np.random.default_rng(0)
    many = gpd.GeoSeries(
        gpd.points_from_xy(rng.uniform(116, 116.1, 50_000), rng.uniform(39.9, 40, 50_000)),
        crs=4326,
    )
    capped = heat_points(many, max_points=5_000)
    assert len(capped) <= 5_000
    assert all(0 < row[2] <= 1 for row in capped)
