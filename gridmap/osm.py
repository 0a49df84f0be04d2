"""OpenStreetMap extracts (``.osm.pbf``) as GridMap layers, read through pyrosm.

Blocks are the faces of the street network: the street centre lines are unioned (so they are
noded where they cross) and polygonized; every face is one city block, and neighbouring blocks
share the street between them as an edge, so blocks tile the built-up area without gaps or
overlaps. With the default ``network="streets"`` only public streets bound blocks (the classes in
:data:`STREET_CLASSES`): footways, service roads, steps and indoor corridors would cut real blocks
into courtyard-sized pieces (central Helsinki: median face 970 m² with footways, 9,800 m² without,
close to the nominal 10,000 m² unit grid of DOMAIN.md §2.1).

Resident estimates (grid population, residential demand weights) come from building footprints:
``footprint m² × levels × residential share / FLOOR_M2_PER_RESIDENT``, with ``building:levels``
when tagged (else :data:`DEFAULT_LEVELS`) and the residential share of the building type from
:data:`RESIDENTIAL_SHARE` (0 for churches, offices, schools, sheds...). Grid population spreads
each building's residents over the blocks in proportion to the footprint area in each block.

Every layer returned is in EPSG:4326; areas, lengths and polygon centroids are computed in the
extract's local UTM zone. Data are (c) OpenStreetMap contributors, ODbL (:data:`ATTRIBUTION`).
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap.errors import GridMapError, NotFoundError
from gridmap.model import CRS
from gridmap.spatial import metric_crs

__all__ = [
    "ATTRIBUTION",
    "DEFAULT_LEVELS",
    "FLOOR_M2_PER_RESIDENT",
    "OSM_LAYERS",
    "RESIDENTIAL_SHARE",
    "STREET_CLASSES",
    "estimate_residents",
    "extract_bounds",
    "osm_blocks",
    "osm_buildings",
    "osm_layer",
    "osm_pois",
    "osm_roads",
]

ATTRIBUTION = "(c) OpenStreetMap contributors, ODbL"

#: ``highway`` values that bound city blocks (public streets, incl. pedestrian streets).
STREET_CLASSES = frozenset(
    {
        "motorway",
        "trunk",
        "primary",
        "secondary",
        "tertiary",
        "motorway_link",
        "trunk_link",
        "primary_link",
        "secondary_link",
        "tertiary_link",
        "unclassified",
        "residential",
        "living_street",
        "pedestrian",
        "road",
        "busway",
    }
)

#: Gross floor area per resident (m²); Helsinki has about 35 m² of living space per person.
FLOOR_M2_PER_RESIDENT = 40.0
#: Storeys of a building without ``building:levels`` (the median tagged value in central Helsinki).
DEFAULT_LEVELS = 5.0
#: Share of a building's floor area that is homes, by ``building`` value; other values: 0.
RESIDENTIAL_SHARE = {
    "apartments": 1.0,
    "residential": 1.0,
    "house": 1.0,
    "detached": 1.0,
    "semidetached_house": 1.0,
    "terrace": 1.0,
    "dormitory": 1.0,
    "block": 0.8,
    "yes": 0.5,  # untyped buildings in a city centre: mixed use (shops below, homes above)
}
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
_BAND_M = 120.0  # height of the west→east numbering bands of block codes (about one block)
_STREET_NAME_BUFFER_M = 3.0
_OSM_PREFIX = {"node": "N", "way": "W", "relation": "R"}
_NON_NUMBER = re.compile(r"[^0-9.]")


# -- reading ---------------------------------------------------------------------------------------
def _key(path: str | Path) -> tuple[str, int, int]:
    p = Path(path)
    try:
        stat = p.stat()
    except OSError:
        raise NotFoundError(f"no OSM extract at {p}") from None
    return str(p.resolve()), stat.st_mtime_ns, stat.st_size


@lru_cache(maxsize=8)
def _read(key: tuple[str, int, int], what: str) -> gpd.GeoDataFrame:
    import pyrosm

    osm = pyrosm.OSM(key[0])
    if what == "pois":
        frame = osm.get_pois()
    elif what == "buildings":
        frame = osm.get_buildings()
    else:
        frame = osm.get_network(network_type=what)
    if frame is None:  # pyrosm returns None when nothing matches
        frame = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=CRS))
    return frame.to_crs(CRS) if frame.crs is not None else frame.set_crs(CRS)


def extract_bounds(path: str | Path) -> tuple[float, float, float, float]:
    """Return the bounds (west, south, east, north) an ``.osm.pbf`` extract was cut to.

    Read from the file's header block (``HeaderBBox``); extracts without one get the bounds of
    their street network.
    """
    from pyrosm.proto import fileformat_pb2, osmformat_pb2

    key = _key(path)
    with open(key[0], "rb") as f:
        size = struct.unpack(">i", f.read(4))[0]
        header = fileformat_pb2.BlobHeader()
        header.ParseFromString(f.read(size))
        blob = fileformat_pb2.Blob()
        blob.ParseFromString(f.read(header.datasize))
    data = zlib.decompress(blob.zlib_data) if blob.HasField("zlib_data") else blob.raw
    block = osmformat_pb2.HeaderBlock()
    block.ParseFromString(data)
    if header.type == "OSMHeader" and block.HasField("bbox"):
        b = block.bbox
        return (b.left * 1e-9, b.bottom * 1e-9, b.right * 1e-9, b.top * 1e-9)
    return tuple(float(v) for v in _read(key, "all").total_bounds)  # type: ignore[return-value]


def osm_roads(path: str | Path, network: str = "walking") -> gpd.GeoDataFrame:
    """Return the roads of an extract as lines (EPSG:4326).

    Parameters
    ----------
    path : str or Path
        The ``.osm.pbf`` file.
    network : str, default "walking"
        A pyrosm network type (``"walking"``, ``"cycling"``, ``"driving"``,
        ``"driving+service"``, ``"all"``) or ``"streets"`` (public streets only, the lines
        that bound city blocks: :data:`STREET_CLASSES`, tunnels left out).
    """
    if network == "streets":
        roads = _read(_key(path), "all")
        tunnel = roads["tunnel"] if "tunnel" in roads else pd.Series(None, index=roads.index)
        keep = roads["highway"].isin(STREET_CLASSES) & tunnel.isna()
        return roads[keep].reset_index(drop=True)
    try:
        return _read(_key(path), network).copy()
    except ValueError as exc:  # pyrosm rejects unknown network types
        raise GridMapError(f"unknown road network {network!r}: {exc}") from None


def osm_pois(path: str | Path) -> gpd.GeoDataFrame:
    """Return the points of interest of an extract as points (EPSG:4326).

    Polygonal POIs (a restaurant mapped as a building outline) become their centroid, computed
    in the local UTM zone. Adds ``osm_key`` (``N123``, ``W123``, ``R123``: unique per extract).
    """
    return _as_points(_with_key(_read(_key(path), "pois")))


def osm_buildings(path: str | Path) -> gpd.GeoDataFrame:
    """Return the building outlines of an extract (EPSG:4326).

    Invalid outlines are repaired (:func:`shapely.make_valid`, polygonal parts kept); outlines
    without area (ways cut by the extract's edge down to a line) are dropped. Adds ``osm_key``
    (as in :func:`osm_pois`) and ``footprint_m2`` (area in the local UTM zone).
    """
    buildings = _with_key(_read(_key(path), "buildings"))
    if buildings.empty:
        return buildings.assign(footprint_m2=np.zeros(0))
    geoms = _polygonal(shapely.make_valid(buildings.geometry.values))
    buildings = buildings.set_geometry(geoms, crs=CRS)
    area = np.zeros(len(buildings))
    present = ~shapely.is_missing(geoms)
    if present.any():
        area[present] = buildings.geometry[present].to_crs(metric_crs(buildings[present])).area
    buildings["footprint_m2"] = area
    return buildings[area > 0].reset_index(drop=True)


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Return the polygonal part of each geometry (None when there is none)."""
    out = np.empty(len(geoms), dtype=object)
    kinds = shapely.get_type_id(geoms)
    simple = (kinds == 3) | (kinds == 6)
    out[simple] = geoms[simple]
    for i in np.flatnonzero(kinds == 7):  # collections: rare
        parts = shapely.get_parts(geoms[i])
        parts = parts[np.isin(shapely.get_type_id(parts), (3, 6))]
        out[i] = shapely.union_all(parts) if len(parts) else None
    return out


def _with_key(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    frame = frame.copy()
    prefix = frame["osm_type"].map(_OSM_PREFIX).fillna("X") if "osm_type" in frame else "X"
    frame["osm_key"] = prefix + frame["id"].astype("int64").astype(str)
    return frame.reset_index(drop=True)


def _as_points(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if frame.empty:
        return frame
    geoms = frame.geometry.values
    not_point = shapely.get_type_id(geoms) != 0
    if not_point.any():
        crs = metric_crs(frame)
        centroids = frame.geometry[not_point].to_crs(crs).centroid.to_crs(CRS)
        frame = frame.copy()
        frame.loc[not_point, frame.geometry.name] = centroids.values
    return frame


# -- blocks ----------------------------------------------------------------------------------------
def osm_blocks(
    path: str | Path,
    *,
    network: str = "streets",
    min_area_m2: float = 500.0,
    max_share: float = 0.25,
) -> gpd.GeoDataFrame:
    """Return the city blocks of an extract: the faces of its street network.

    Parameters
    ----------
    path : str or Path
        The ``.osm.pbf`` file.
    network : str, default "streets"
        Which lines bound blocks (see :func:`osm_roads`); ``"all"`` or ``"walking"`` also cut
        blocks along footways, giving courtyard-sized faces.
    min_area_m2 : float, default 500
        Faces smaller than this (slivers between carriageways, traffic islands) are dropped.
    max_share : float, default 0.25
        Faces larger than this share of the extract's bounding box are dropped (an outer face
        enclosing the network, as when the extract's edge closes the lines).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per block, ordered north→south in bands and west→east within a band, with
        ``block`` (1, 2, ...), ``area_m2`` and a Polygon ``geometry`` (EPSG:4326). Only faces
        whose interior point lies inside the extract's bounds are kept.
    """
    lines = osm_roads(path, network)
    empty = gpd.GeoDataFrame(
        {"block": pd.Series([], dtype="int64"), "area_m2": pd.Series([], dtype=float)},
        geometry=gpd.GeoSeries([], crs=CRS),
    )
    if lines.empty:
        return empty
    crs = metric_crs(lines)
    metric = lines.geometry.to_crs(crs).values
    noded = shapely.get_parts(shapely.union_all(metric))
    faces = shapely.get_parts(shapely.polygonize(noded))
    if len(faces) == 0:
        return empty
    faces = shapely.make_valid(faces)
    faces = faces[shapely.get_type_id(faces) == 3]
    area = shapely.area(faces)
    bounds = gpd.GeoSeries([shapely.box(*extract_bounds(path))], crs=CRS).to_crs(crs).values[0]
    inside = shapely.contains_xy(
        bounds, *shapely.get_coordinates(shapely.point_on_surface(faces)).T
    )
    keep = inside & (area >= min_area_m2) & (area <= max_share * shapely.area(bounds))
    faces, area = faces[keep], area[keep]
    order = _band_order(shapely.point_on_surface(faces), _BAND_M)
    blocks = gpd.GeoDataFrame(
        {"block": np.arange(1, len(faces) + 1), "area_m2": area[order]},
        geometry=faces[order],
        crs=crs,
    )
    return blocks.to_crs(CRS)


def _band_order(points: np.ndarray, band: float) -> np.ndarray:
    """Order points north→south by bands of ``band`` metres, west→east within a band."""
    if len(points) == 0:
        return np.zeros(0, dtype=np.intp)
    xy = shapely.get_coordinates(points)
    rows = np.floor((xy[:, 1].max() - xy[:, 1]) / band)
    return np.lexsort((xy[:, 0], rows))


# -- estimates -------------------------------------------------------------------------------------
def estimate_residents(buildings: gpd.GeoDataFrame) -> np.ndarray:
    """Return the estimated residents of each building (see the module notes).

    ``footprint_m2 × levels × RESIDENTIAL_SHARE[building] / FLOOR_M2_PER_RESIDENT``, with
    ``building:levels`` when it is a number, else :data:`DEFAULT_LEVELS`.
    """
    if "building:levels" in buildings:
        text = buildings["building:levels"].astype("string").str.split(";").str[0]
        levels = pd.to_numeric(text.str.replace(_NON_NUMBER, "", regex=True), errors="coerce")
        levels = levels.where(levels > 0).fillna(DEFAULT_LEVELS).to_numpy(dtype=float)
    else:
        levels = np.full(len(buildings), DEFAULT_LEVELS)
    kind = buildings["building"] if "building" in buildings else pd.Series("yes", buildings.index)
    share = kind.map(RESIDENTIAL_SHARE).fillna(0.0).to_numpy(dtype=float)
    area = buildings["footprint_m2"].to_numpy(dtype=float)
    return np.round(area * levels * share / FLOOR_M2_PER_RESIDENT, 1)


def _spread(
    blocks: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, values: np.ndarray
) -> np.ndarray:
    """Spread each building's value over the blocks in proportion to the overlap area."""
    out = np.zeros(len(blocks))
    if len(blocks) == 0 or len(buildings) == 0:
        return out
    crs = metric_crs(blocks)
    cells = blocks.geometry.to_crs(crs).values
    shapes = shapely.make_valid(buildings.geometry.to_crs(crs).values)
    b_idx, c_idx = shapely.STRtree(cells).query(shapes, predicate="intersects")
    overlap = shapely.area(shapely.intersection(shapes[b_idx], cells[c_idx]))
    total = shapely.area(shapes)
    share = np.divide(overlap, total[b_idx], out=np.zeros_like(overlap), where=total[b_idx] > 0)
    np.add.at(out, c_idx, values[b_idx] * share)
    return out


def _street_names(blocks: gpd.GeoDataFrame, roads: gpd.GeoDataFrame) -> list[str | None]:
    """Name each block after the (up to two) named streets running longest along its edge."""
    names: list[str | None] = [None] * len(blocks)
    named = roads[roads["name"].notna()] if "name" in roads else roads.iloc[:0]
    if len(blocks) == 0 or named.empty:
        return names
    crs = metric_crs(blocks)
    rings = shapely.buffer(
        shapely.boundary(blocks.geometry.to_crs(crs).values), _STREET_NAME_BUFFER_M
    )
    lines = named.geometry.to_crs(crs).values
    b_idx, l_idx = shapely.STRtree(lines).query(rings, predicate="intersects")
    length = shapely.length(shapely.intersection(lines[l_idx], rings[b_idx]))
    along = (
        pd.DataFrame({"block": b_idx, "street": named["name"].to_numpy()[l_idx], "m": length})
        .groupby(["block", "street"], as_index=False)["m"]
        .sum()
    )
    along = along[along["m"] > 2 * _STREET_NAME_BUFFER_M]
    along = along.sort_values(["block", "m", "street"], ascending=[True, False, True])
    for block, group in along.groupby("block", sort=False):
        names[int(block)] = " – ".join(group["street"].head(2))
    return names


# -- layers ----------------------------------------------------------------------------------------
def _code_prefix(path: str | Path) -> str:
    """Three capital letters from the extract's file name (``Helsinki.osm.pbf`` → ``HEL``)."""
    letters = re.sub(r"[^A-Za-z]", "", Path(path).name.split(".")[0])
    return (letters[:3] or "OSM").upper()


def _grids(path: str | Path) -> gpd.GeoDataFrame:
    blocks = osm_blocks(path)
    prefix = _code_prefix(path)
    buildings = osm_buildings(path)
    population = np.round(_spread(blocks, buildings, estimate_residents(buildings)), 1)
    width = max(4, len(str(len(blocks))))
    codes = [f"{prefix}{n:0{width}d}" for n in blocks["block"]]
    names = _street_names(blocks, osm_roads(path, "all"))
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
