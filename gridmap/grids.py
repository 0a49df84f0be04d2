"""Unit grids: cut a boundary into square or hexagonal cells, coded and carrying population.

Codes are made (and parsed) by :mod:`gridmap.gridcodes`, layers are checked by
:mod:`gridmap.topology`; :func:`parse_grid_code`, :func:`check_topology` and their companions are
importable from here too.
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from gridmap.errors import ValidationError
from gridmap.gridcodes import (
    COMMUNITY_CODE,
    GridCode,
    hierarchical_codes,
    is_community_cell,
    numbered_codes,
    parse_grid_code,
)
from gridmap.spatial import locate, metric_crs, polygonal_parts
from gridmap.topology import TopologyIssue, check_topology

__all__ = [
    "GridCode",
    "TopologyIssue",
    "check_topology",
    "generate_grids",
    "is_community_cell",
    "parse_grid_code",
]

_MAX_CANDIDATES = 2_000_000
_SNAP_M = 1e-6  # output precision of generated cells, metres

GeomArray = NDArray[np.object_]


def generate_grids(
    boundary: gpd.GeoDataFrame,
    size_m: float,
    shape: Literal["square", "hex"] = "square",
    *,
    code_prefix: str | None = None,
    code_column: str | None = None,
    demand: gpd.GeoDataFrame | None = None,
    demand_column: str | None = None,
) -> gpd.GeoDataFrame:
    """Cut a boundary into unit grids of a given size.

    Parameters
    ----------
    boundary : geopandas.GeoDataFrame
        Polygon(s) to cover, in any CRS. Invalid polygons are repaired with
        :func:`shapely.make_valid`.
    size_m : float
        Square side in metres. Hexagons get the same area (``size_m ** 2``).
    shape : {"square", "hex"}, default "square"
        Cell shape. Hexagons are pointy-top (a vertex north and south, rows running west-east,
        every other row shifted half a cell east).
    code_prefix : str, optional
        Prefix of free-form codes (default ``"G"``): prefix + sequence zero-padded to at least
        4 digits, numbered over the whole layer.
    code_column : str, optional
        Column of ``boundary`` holding 12-digit community codes. Cells are then cut per
        community (a cell never spans two communities) and coded community code + 2-digit
        sequence from ``01`` (14 digits, CJ/T 213 style); a community needing more than 99
        cells gets 3-digit sequences (15 digits, Beijing DB11 style) and a warning.
    demand : geopandas.GeoDataFrame, optional
        Points (e.g. residents, buildings) or polygons (e.g. blocks) carrying population.
    demand_column : str, optional
        Population column of ``demand``. Required for polygons; for points, each point
        counts 1 when omitted. Missing values count as 0.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``code``, ``name`` (= code), ``area_m2`` (in the local UTM zone), ``population``
        (float, 0 without demand) and ``geometry`` (Polygon or MultiPolygon), EPSG:4326.

    Raises
    ------
    gridmap.errors.ValidationError
        On a bad size, shape, code column, demand layer, or a grid that would be too large.

    Notes
    -----
    Cells are laid on one lattice anchored at the north-west corner of the boundary's bounds
    in its local UTM zone, clipped to the boundary (pieces without area are dropped) and
    numbered row-major from the north-west: north to south by row, west to east in a row,
    like the unit-grid coding rules. Clipped cells tile the boundary: no gaps, no overlaps.

    Population from points is summed per cell with :func:`gridmap.spatial.locate` (a point on a
    shared edge goes to the smaller code); from polygons it is spread in proportion to the
    area of each polygon falling in each cell (areal interpolation). Population outside the
    boundary is lost, with a warning; everything inside is preserved.
    """
    _check_generate_args(boundary, size_m, shape, code_prefix, code_column)
    crs = metric_crs(boundary)
    communities, areas = _areas(boundary.to_crs(crs), code_column)
    cells, rows, cols = _lattice(shapely.total_bounds(areas), float(size_m), shape)
    owner, row, col, geoms = _clip(cells, rows, cols, areas, min_part=1e-9 * float(size_m) ** 2)
    order = np.lexsort((col, row, owner))
    owner, geoms = owner[order], geoms[order]
    if communities is None:
        codes = numbered_codes("G" if code_prefix is None else code_prefix, len(geoms))
    else:
        codes = hierarchical_codes(owner, communities)
    metric = gpd.GeoSeries(geoms, crs=crs)
    population = _population(metric, codes, demand, demand_column, crs)
    out = gpd.GeoDataFrame(
        {"code": codes, "name": codes, "area_m2": shapely.area(geoms), "population": population},
        geometry=metric.values,
        crs=crs,
    )
    return out.to_crs("EPSG:4326")


def _check_generate_args(boundary, size_m, shape, code_prefix, code_column) -> None:
    if not isinstance(boundary, gpd.GeoDataFrame):
        raise ValidationError("boundary must be a GeoDataFrame")
    if not (isinstance(size_m, numbers.Real) and math.isfinite(size_m) and size_m > 0):
        raise ValidationError(f"size_m must be a positive number of metres, not {size_m!r}")
    if shape not in ("square", "hex"):
        raise ValidationError(f"shape must be 'square' or 'hex', not {shape!r}")
    if code_column is not None and code_prefix is not None:
        raise ValidationError("give code_column (community codes) or code_prefix, not both")
    if code_column is not None and code_column not in boundary.columns:
        raise ValidationError(f"boundary has no column {code_column!r}")


def _areas(
    boundary: gpd.GeoDataFrame, code_column: str | None
) -> tuple[list[str] | None, GeomArray]:
    """Polygonal areas to fill (one per community, or one in all) and their community codes."""
    geoms = shapely.make_valid(np.asarray(boundary.geometry.values))
    if code_column is None:
        union = np.empty(1, dtype=object)
        union[0] = shapely.union_all(geoms)
        area = polygonal_parts(union, min_part=0.0)[0]
        if area is None:
            raise ValidationError("the boundary has no polygon with an area")
        return None, np.array([area])
    codes = boundary[code_column].astype("string").to_numpy(dtype=object, na_value="")
    bad = sorted({c for c in codes if not COMMUNITY_CODE.fullmatch(c)})
    if bad:
        raise ValidationError(
            f"column {code_column!r} must hold 12-digit community codes; got {bad[:5]!r}"
        )
    communities = sorted(set(codes))
    unions = np.array([shapely.union_all(geoms[codes == c]) for c in communities])
    areas = polygonal_parts(unions, min_part=0.0)
    missing = [c for c, a in zip(communities, areas, strict=True) if a is None]
    if missing:
        raise ValidationError(f"communities without a polygon area: {missing[:5]!r}")
    return communities, areas


def _lattice(
    bounds: NDArray[np.float64], size: float, shape: str
) -> tuple[GeomArray, NDArray[np.intp], NDArray[np.intp]]:
    """Cells covering ``bounds``, anchored at its north-west corner, with row/column numbers.

    Vertices come from shared 1-D coordinate levels, so neighbours share vertices bit for bit.
    """
    minx, miny, maxx, maxy = bounds
    width, height = max(maxx - minx, size * 1e-9), max(maxy - miny, size * 1e-9)
    if shape == "square":
        step_x, step_y = size, size
        ncols, nrows = math.ceil(width / size), math.ceil(height / size)
    else:
        radius = size * math.sqrt(2.0 / (3.0 * math.sqrt(3.0)))  # hexagon area == size**2
        step_x, step_y = math.sqrt(3.0) * radius, 1.5 * radius
        ncols, nrows = math.ceil(width / step_x) + 2, math.ceil(height / step_y) + 1
    if ncols * nrows > _MAX_CANDIDATES:
        raise ValidationError(
            f"size_m={size:g} would need {ncols * nrows:,} cells over the boundary's extent; "
            "use a larger size or a smaller boundary"
        )
    rows, cols = (a.ravel() for a in np.divmod(np.arange(ncols * nrows), ncols))
    if shape == "square":
        xs = minx + np.arange(ncols + 1) * size
        ys = maxy - np.arange(nrows + 1) * size
        return shapely.box(xs[cols], ys[rows + 1], xs[cols + 1], ys[rows]), rows, cols
    half_w = step_x / 2.0
    xs = (minx - half_w) + np.arange(2 * ncols + 3) * half_w  # x levels, half a width apart
    ys = (maxy + radius) - np.arange(3 * nrows + 2) * (radius / 2.0)  # y levels, R/2 apart
    k = 2 * cols + 1 + rows % 2  # centre x level; odd rows shifted half a width east
    m = 3 * rows  # top vertex y level
    ring_k = np.stack([k, k - 1, k - 1, k, k + 1, k + 1, k], axis=1)  # counter-clockwise
    ring_m = np.stack([m, m + 1, m + 3, m + 4, m + 3, m + 1, m], axis=1)
    coords = np.stack([xs[ring_k], ys[ring_m]], axis=2)
    return shapely.polygons(coords), rows, cols


def _clip(cells, rows, cols, areas, min_part):
    """Clip cells to each area; return owner area index, row, column and polygonal geometry.

    Output vertices are snapped to a ``_SNAP_M`` grid (GEOS snap-rounding overlay, the same
    rounding for whole and clipped cells), which removes the zero-width spikes and slivers that
    floating-point noise leaves where a boundary edge runs along a cell edge.
    """
    tree = shapely.STRtree(cells)
    parts = []
    for number, area in enumerate(areas):
        idx = tree.query(area, predicate="intersects")
        shapely.prepare(area)
        inside = shapely.contains_properly(area, cells[idx])
        geoms = np.empty(len(idx), dtype=object)
        geoms[inside] = shapely.set_precision(cells[idx[inside]], _SNAP_M)
        geoms[~inside] = shapely.intersection(cells[idx[~inside]], area, grid_size=_SNAP_M)
        geoms = polygonal_parts(geoms, min_part)
        keep = ~shapely.is_missing(geoms)
        parts.append((np.full(keep.sum(), number), rows[idx][keep], cols[idx][keep], geoms[keep]))
    return tuple(np.concatenate(p) for p in zip(*parts, strict=True))


def _population(cells: gpd.GeoSeries, codes, demand, demand_column, crs) -> NDArray[np.float64]:
    if demand is None:
        return np.zeros(len(cells))
    if not isinstance(demand, gpd.GeoDataFrame) or demand.crs is None:
        raise ValidationError("demand must be a GeoDataFrame with a CRS")
    if demand_column is not None and demand_column not in demand.columns:
        raise ValidationError(f"demand has no column {demand_column!r}")
    geoms = demand.geometry.to_crs(crs)
    types = set(shapely.get_type_id(np.asarray(geoms.values)).tolist()) - {-1}
    if types <= {0}:
        weights = _weights(demand, demand_column, default_one=True)
        result = _point_spread(np.asarray(cells.values), codes, geoms, weights)
    elif types <= {3, 6}:
        if demand_column is None:
            raise ValidationError("demand polygons need demand_column (population per polygon)")
        weights = _weights(demand, demand_column, default_one=False)
        result = _areal_spread(np.asarray(cells.values), np.asarray(geoms.values), weights)
    else:
        raise ValidationError("demand must be all points or all polygons")
    lost = weights.sum() - result.sum()
    if lost > 1e-9 * max(abs(weights.sum()), 1.0):
        warnings.warn(
            f"population {lost:g} of {weights.sum():g} lies outside the grids and is dropped",
            UserWarning,
            stacklevel=3,
        )
    return result


def _weights(demand: gpd.GeoDataFrame, column: str | None, default_one: bool) -> NDArray:
    if column is None and default_one:
        return np.ones(len(demand))
    values = pd.to_numeric(demand[column], errors="coerce")
    if (values.isna() & demand[column].notna()).any():
        raise ValidationError(f"demand column {column!r} must be numeric")
    return values.fillna(0.0).to_numpy(dtype=np.float64)


def _point_spread(cells: GeomArray, codes, points: gpd.GeoSeries, weights: NDArray) -> NDArray:
    """Sum point weights per cell.

    Points within 1 mm of a cell but in none (reprojection noise on the boundary) go to the
    nearest cell; on a tie the smallest code, which is the first row (codes follow row order).
    """
    where = locate(points, gpd.GeoDataFrame({"code": codes}, geometry=cells, crs=points.crs))
    cell = pd.Index(codes).get_indexer(where.fillna("").to_numpy(dtype=object))
    stray = np.flatnonzero((cell < 0) & ~shapely.is_missing(np.asarray(points.values)))
    near_idx, near_cell = shapely.STRtree(cells).query_nearest(
        np.asarray(points.values)[stray], max_distance=1e-3, all_matches=True
    )
    order = np.lexsort((near_cell, near_idx))
    first = np.unique(near_idx[order], return_index=True)[1]
    cell[stray[near_idx[order][first]]] = near_cell[order][first]
    found = cell >= 0
    return np.bincount(cell[found], weights=weights[found], minlength=len(cells))


def _areal_spread(cells: GeomArray, polygons: GeomArray, weights: NDArray) -> NDArray:
    polygons = shapely.make_valid(polygons)
    source_area = shapely.area(polygons)
    poly_idx, cell_idx = shapely.STRtree(cells).query(polygons, predicate="intersects")
    shared = shapely.area(shapely.intersection(polygons[poly_idx], cells[cell_idx]))
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(source_area[poly_idx] > 0, shared / source_area[poly_idx], 0.0)
    return np.bincount(cell_idx, weights=weights[poly_idx] * share, minlength=len(cells))
