"""OpenStreetMap extracts (``.osm.pbf``) read through pyrosm: bounds, roads, POIs, buildings.

Every layer returned is in EPSG:4326; areas and polygon centroids are computed in the extract's
local UTM zone. Data are (c) OpenStreetMap contributors, ODbL (:data:`ATTRIBUTION`).
"""

from __future__ import annotations

import struct
import zlib
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
    "STREET_CLASSES",
    "extract_bounds",
    "osm_buildings",
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

_OSM_PREFIX = {"node": "N", "way": "W", "relation": "R"}


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
