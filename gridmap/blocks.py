"""City blocks from an OpenStreetMap extract: the street network's faces, residents and names.

Blocks are the faces of the street network: the street centre lines are unioned (so they are
noded where they cross) and polygonized; every face is one city block, and neighbouring blocks
share the street between them as an edge, so blocks tile the built-up area without gaps or
overlaps. With the default ``network="streets"`` only public streets bound blocks (the classes in
:data:`gridmap.osm_extract.STREET_CLASSES`): footways, service roads, steps and indoor corridors
would cut real blocks into courtyard-sized pieces (central Helsinki: median face 970 m² with
footways, 9,800 m² without, close to the nominal 10,000 m² unit grid of DOMAIN.md §2.1).

Resident estimates (grid population, residential demand weights) come from building footprints:
``footprint m² × levels × residential share / FLOOR_M2_PER_RESIDENT``, with ``building:levels``
when tagged (else :data:`DEFAULT_LEVELS`) and the residential share of the building type from
:data:`RESIDENTIAL_SHARE` (0 for churches, offices, schools, sheds...). Grid population spreads
each building's residents over the blocks in proportion to the footprint area in each block.

Every layer returned is in EPSG:4326; areas are computed in the extract's local UTM zone.
"""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap.model import CRS
from gridmap.osm_extract import extract_bounds, osm_roads
from gridmap.spatial import metric_crs

__all__ = [
    "DEFAULT_LEVELS",
    "FLOOR_M2_PER_RESIDENT",
    "RESIDENTIAL_SHARE",
    "block_street_names",
    "estimate_residents",
    "osm_blocks",
    "spread_over_blocks",
]

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
_BAND_M = 120.0  # height of the west→east numbering bands of block codes (about one block)
_STREET_NAME_BUFFER_M = 3.0
_NON_NUMBER = re.compile(r"[^0-9.]")


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


def spread_over_blocks(
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


def block_street_names(blocks: gpd.GeoDataFrame, roads: gpd.GeoDataFrame) -> list[str | None]:
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
