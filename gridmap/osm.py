"""GridMap layers from OpenStreetMap extracts (``.osm.pbf``): grids, stations, demand, sites.

Grids are the city blocks of :mod:`gridmap.blocks` (faces of the street network, population from
building footprints); the extract is read by :mod:`gridmap.osm_extract`. The readers and the
resident estimate are importable from here too. Every layer returned is in EPSG:4326, with the
field names of :mod:`gridmap.model`. Data are (c) OpenStreetMap contributors, ODbL
(:data:`gridmap.osm_extract.ATTRIBUTION`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from gridmap.blocks import block_street_names, estimate_residents, osm_blocks, spread_over_blocks
from gridmap.errors import GridMapError
from gridmap.gridcodes import numbered_codes
from gridmap.model import CRS
from gridmap.osm_extract import extract_bounds, osm_buildings, osm_pois, osm_roads
from gridmap.spatial import metric_crs

__all__ = [
    "OSM_LAYERS",
    "estimate_residents",
    "extract_bounds",
    "osm_blocks",
    "osm_buildings",
    "osm_layer",
    "osm_pois",
    "osm_roads",
]

#: Persons per household (Helsinki, about 1.8).
PERSONS_PER_HOUSEHOLD = 1.8
#: ``building`` values that cannot host a station (no rooms at street level).
NOT_A_SITE = frozenset({"roof", "entrance", "underpass_entrance", "ship", "bridge", "ruins"})
#: A candidate site's set-up cost: fixed part plus a part growing with the footprint (yuan).
SITE_FIXED_COST = 50_000.0
SITE_COST_PER_M2 = 100.0
#: Courier pick-up points: the ``amenity`` values of food businesses.
COURIER_AMENITIES = ("restaurant", "cafe", "fast_food")
#: Station kind of each ``amenity`` value turned into a station.
STATION_AMENITIES = {
    "toilets": "public_toilet",
    "community_centre": "service_center",
    "social_facility": "service_center",
}
_DEFAULT_NAMES = {"public_toilet": "Public toilet", "service_center": "Community service centre"}


def _code_prefix(path: str | Path) -> str:
    """Three capital letters from the extract's file name (``Helsinki.osm.pbf`` → ``HEL``)."""
    letters = re.sub(r"[^A-Za-z]", "", Path(path).name.split(".")[0])
    return (letters[:3] or "OSM").upper()


def _grids(path: str | Path) -> gpd.GeoDataFrame:
    blocks = osm_blocks(path)
    prefix = _code_prefix(path)
    buildings = osm_buildings(path)
    population = np.round(spread_over_blocks(blocks, buildings, estimate_residents(buildings)), 1)
    codes = numbered_codes(prefix, len(blocks))
    names = block_street_names(blocks, osm_roads(path, "all"))
    return gpd.GeoDataFrame(
        {
            "code": codes,
            "name": [n or c for n, c in zip(names, codes, strict=True)],
            "population": population,
            "households": np.round(population / PERSONS_PER_HOUSEHOLD).astype("int64"),
        },
        geometry=blocks.geometry.values,
        crs=CRS,
    )


def _stations(path: str | Path) -> gpd.GeoDataFrame:
    pois = osm_pois(path)
    pois = pois[pois["amenity"].isin(list(STATION_AMENITIES))].reset_index(drop=True)
    kind = pois["amenity"].map(STATION_AMENITIES)
    name = pois["name"].astype(object).where(pois["name"].notna(), kind.map(_DEFAULT_NAMES))
    hours = pois.get("opening_hours")
    return gpd.GeoDataFrame(
        {
            "id": pois["osm_key"],
            "kind": kind,
            "name": name,
            "opening_hours": hours,
            "status": "open",
        },
        geometry=pois.geometry.values,
        crs=CRS,
    )


def _courier_demand(path: str | Path) -> gpd.GeoDataFrame:
    pois = osm_pois(path)
    pois = pois[pois["amenity"].isin(COURIER_AMENITIES)].reset_index(drop=True)
    name = pois["name"].astype(object).where(pois["name"].notna(), pois["amenity"])
    return gpd.GeoDataFrame(
        {"id": "courier-" + pois["osm_key"], "kind": "courier", "name": name, "weight": 1.0},
        geometry=pois.geometry.values,
        crs=CRS,
    )


def _building_label(buildings: gpd.GeoDataFrame) -> pd.Series:
    street = buildings.get("addr:street", pd.Series(None, index=buildings.index))
    number = buildings.get("addr:housenumber", pd.Series(None, index=buildings.index))
    address = (street.astype("string") + " " + number.astype("string").fillna("")).str.strip()
    label = buildings.get("name", pd.Series(None, index=buildings.index)).astype("string")
    label = label.fillna(address)
    return label.fillna("Building " + buildings["osm_key"]).astype(object)


def _building_points(buildings: gpd.GeoDataFrame) -> np.ndarray:
    if buildings.empty:
        return np.array([], dtype=object)
    crs = metric_crs(buildings)
    return buildings.geometry.to_crs(crs).representative_point().to_crs(CRS).values


def _residential_demand(path: str | Path) -> gpd.GeoDataFrame:
    buildings = osm_buildings(path)
    residents = estimate_residents(buildings)
    keep = residents > 0
    b = buildings[keep].reset_index(drop=True)
    return gpd.GeoDataFrame(
        {
            "id": "home-" + b["osm_key"],
            "kind": "residential",
            "name": _building_label(b),
            "weight": residents[keep],
        },
        geometry=_building_points(b),
        crs=CRS,
    )


def _demand(path: str | Path) -> gpd.GeoDataFrame:
    return pd.concat([_courier_demand(path), _residential_demand(path)], ignore_index=True)


def _sites(path: str | Path, kind: str = "red_home") -> gpd.GeoDataFrame:
    """Candidate sites: buildings that can host a station (not roofs, entrances...).

    ``cost = SITE_FIXED_COST + SITE_COST_PER_M2 × footprint`` (a bigger building: a pricier
    location); ``capacity`` = people served at once, footprint / 25 m² clipped to 4..40.
    """
    buildings = osm_buildings(path)
    btype = buildings["building"] if "building" in buildings else pd.Series("yes", buildings.index)
    b = buildings[~btype.isin(NOT_A_SITE)].reset_index(drop=True)
    area = b["footprint_m2"].to_numpy(dtype=float)
    return gpd.GeoDataFrame(
        {
            "id": b["osm_key"],
            "kind": kind,
            "name": _building_label(b),
            "cost": np.round(SITE_FIXED_COST + SITE_COST_PER_M2 * area, 0),
            "capacity": np.clip(np.round(area / 25.0), 4, 40).astype("int64"),
        },
        geometry=_building_points(b),
        crs=CRS,
    )


OSM_LAYERS: dict[str, Callable[[str | Path], gpd.GeoDataFrame]] = {
    "grids": _grids,
    "stations": _stations,
    "demand": _demand,
    "sites": _sites,
}


def osm_layer(path: str | Path, layer: str) -> gpd.GeoDataFrame:
    """Return a GridMap layer built from an ``.osm.pbf`` extract (EPSG:4326, model field names).

    Parameters
    ----------
    path : str or Path
        The ``.osm.pbf`` file.
    layer : str
        ``"grids"``: city blocks (:func:`osm_blocks`) coded ``HEL0001``... north→south,
        west→east, named after the streets along them, population from buildings;
        ``"stations"``: public toilets (``amenity=toilets``) and community service centres
        (``community_centre``, ``social_facility``); ``"demand"``: courier pick-up points
        (restaurants, cafés, fast food; weight 1) and homes (buildings with estimated residents
        as weight); ``"sites"``: buildings as candidate Red Home sites.

    Raises
    ------
    GridMapError
        If the layer cannot be built from OSM data; the message lists the ones that can.
    """
    try:
        build = OSM_LAYERS[layer]
    except KeyError:
        raise GridMapError(
            f"cannot build layer {layer!r} from OpenStreetMap; layers: {', '.join(OSM_LAYERS)}"
        ) from None
    return build(path)
