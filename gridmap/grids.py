"""Grid layers: generate unit grids over a boundary, check their topology, parse grid codes.

Grid codes follow DOMAIN.md §2: a 14-digit CJ/T 213 style code is 6 admin (GB/T 2260) + 3 street
+ 3 community + 2 grid sequence digits (``"00"`` = the community-level cell); Beijing's DB11 style
uses 3 sequence digits (15 digits). Roll-ups are prefixes: the first 12 digits name the community,
the first 9 the street, the first 6 the county-level division.
"""

from __future__ import annotations

import math
import numbers
import re
import warnings
from dataclasses import dataclass
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from numpy.typing import NDArray

from gridmap.errors import ValidationError
from gridmap.spatial import locate, metric_crs

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
_COMMUNITY = re.compile(r"[0-9]{12}")
_HIER = re.compile(r"[0-9]{14,15}")
_POLYGON, _MULTI_TYPES = 3, (4, 5, 6, 7)  # shapely type ids: Polygon; Multi*/GeometryCollection
_COORD_IN_REASON = re.compile(r"\[([-+0-9.eE]+)\s+([-+0-9.eE]+)")

IssueKind = Literal["invalid", "overlap", "gap", "empty", "duplicate_code"]
GeomArray = NDArray[np.object_]


@dataclass(frozen=True)
class GridCode:
    """A parsed hierarchical grid code (14-digit CJ/T 213 style or 15-digit Beijing DB11 style)."""

    admin: str
    street: str
    community: str
    seq: str
    profile: Literal["14", "15"]

    @property
    def community_code(self) -> str:
        """The 12-digit community prefix (admin + street + community)."""
        return self.admin + self.street + self.community

    @property
    def street_code(self) -> str:
        """The 9-digit street prefix (admin + street)."""
        return self.admin + self.street


def parse_grid_code(code: str) -> GridCode | None:
    """Split a hierarchical grid code into its parts.

    Parameters
    ----------
    code : str
        A grid code.

    Returns
    -------
    GridCode or None
        The parts of a 14- or 15-digit code; ``None`` for any other (free-form) code.

    Examples
    --------
    >>> parse_grid_code("11010100100101")
    GridCode(admin='110101', street='001', community='001', seq='01', profile='14')
    >>> parse_grid_code("G0001") is None
    True
    """
    if not isinstance(code, str) or not _HIER.fullmatch(code):
        return None
    profile: Literal["14", "15"] = "14" if len(code) == 14 else "15"
    return GridCode(code[:6], code[6:9], code[9:12], code[12:], profile)


def is_community_cell(code: str) -> bool:
    """Return True for a 14-digit code whose sequence is ``"00"`` (the community-level cell)."""
    parsed = parse_grid_code(code)
    return parsed is not None and parsed.profile == "14" and parsed.seq == "00"


@dataclass(frozen=True)
class TopologyIssue:
    """One topology problem found by :func:`check_topology`.

    Attributes
    ----------
    kind : {"invalid", "overlap", "gap", "empty", "duplicate_code"}
        What is wrong.
    codes : tuple of str
        Grid codes involved (sorted): the grid itself, both overlapping grids, or the grids
        around a gap.
    area_m2 : float
        Area of the overlap or gap, of the (repaired) invalid grid; 0 for empty grids and
        duplicate codes.
    location : str or None
        A point on the problem as WKT in longitude/latitude (EPSG:4326): the self-intersection
        (or first vertex) of an invalid grid, a point inside an overlap or gap; ``None`` for
        empty grids and duplicate codes.
    detail : str
        :func:`shapely.is_valid_reason` for invalid grids, otherwise a short explanation.
    """

    kind: IssueKind
    codes: tuple[str, ...]
    area_m2: float
    location: str | None
    detail: str = ""


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
        codes = _free_codes(len(geoms), "G" if code_prefix is None else code_prefix)
    else:
        codes = _hierarchical_codes(owner, communities)
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
        area = _polygonal(union, min_part=0.0)[0]
        if area is None:
            raise ValidationError("the boundary has no polygon with an area")
        return None, np.array([area])
    codes = boundary[code_column].astype("string").to_numpy(dtype=object, na_value="")
    bad = sorted({c for c in codes if not _COMMUNITY.fullmatch(c)})
    if bad:
        raise ValidationError(
            f"column {code_column!r} must hold 12-digit community codes; got {bad[:5]!r}"
        )
    communities = sorted(set(codes))
    unions = np.array([shapely.union_all(geoms[codes == c]) for c in communities])
    areas = _polygonal(unions, min_part=0.0)
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
        geoms = _polygonal(geoms, min_part)
        keep = ~shapely.is_missing(geoms)
        parts.append((np.full(keep.sum(), number), rows[idx][keep], cols[idx][keep], geoms[keep]))
    return tuple(np.concatenate(p) for p in zip(*parts, strict=True))


def _polygonal(geoms: GeomArray, min_part: float) -> GeomArray:
    """Keep the polygons (area > ``min_part``) of each geometry: Polygon, MultiPolygon or None."""
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


def _free_codes(count: int, prefix: str) -> NDArray[np.object_]:
    width = max(4, len(str(count)))
    return np.array([f"{prefix}{i:0{width}d}" for i in range(1, count + 1)], dtype=object)


def _hierarchical_codes(owner: NDArray[np.intp], communities: list[str]) -> NDArray[np.object_]:
    counts = np.bincount(owner, minlength=len(communities))
    too_many = [c for c, n in zip(communities, counts, strict=True) if n > 999]
    if too_many:
        raise ValidationError(f"communities needing more than 999 cells: {too_many[:5]!r}")
    long = [c for c, n in zip(communities, counts, strict=True) if n > 99]
    if long:
        warnings.warn(
            f"{len(long)} communit{'y needs' if len(long) == 1 else 'ies need'} more than 99 "
            f"cells and get 15-digit codes with 3-digit sequences (Beijing DB11 style): {long}",
            UserWarning,
            stacklevel=3,
        )
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    seq = np.arange(len(owner)) - starts[owner] + 1
    width = np.where(counts > 99, 3, 2)[owner]
    return np.array(
        [f"{communities[o]}{s:0{w}d}" for o, s, w in zip(owner, seq, width, strict=True)],
        dtype=object,
    )


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


def check_topology(
    grids: gpd.GeoDataFrame,
    code_column: str = "code",
    *,
    min_area_m2: float = 1.0,
    boundary: gpd.GeoDataFrame | None = None,
) -> list[TopologyIssue]:
    """Find invalid, empty, overlapping and duplicate-coded grids and gaps between grids.

    Parameters
    ----------
    grids : geopandas.GeoDataFrame
        Grid polygons with a CRS and a ``code_column``.
    code_column : str, default "code"
        Column holding the grid codes.
    min_area_m2 : float, default 1.0
        Overlaps and gaps smaller than this (in m², local UTM zone) are ignored as noise.
    boundary : geopandas.GeoDataFrame, optional
        The area the grids should cover. When given, only the parts of gaps inside it count,
        so holes of the boundary itself (a lake, an enclave) are not reported as gaps.

    Returns
    -------
    list of TopologyIssue
        In the order empty, duplicate_code, invalid, overlap, gap. An overlap involves a pair
        of grids; a gap is a hole enclosed by the grids (an interior ring of their union), so
        indentations of the outer edge are not reported. Validity is judged on the geometries as
        given; measurements use a repaired (:func:`shapely.make_valid`) copy in the local UTM
        zone.
    """
    if code_column not in grids.columns:
        raise ValidationError(f"grids have no column {code_column!r}")
    if grids.crs is None:
        raise ValidationError("grids have no CRS: set one before checking topology")
    codes = grids[code_column].astype("string").to_numpy(dtype=object, na_value="")
    geoms = np.asarray(grids.geometry.values)
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    issues = [TopologyIssue("empty", (c,), 0.0, None, "no geometry") for c in codes[empty]]
    uniq, counts = np.unique(codes.astype(str), return_counts=True)
    issues += [
        TopologyIssue("duplicate_code", (c,), 0.0, None, f"{n} grids share this code")
        for c, n in zip(uniq, counts, strict=True)
        if n > 1
    ]
    if empty.all():
        return issues
    crs = metric_crs(grids)
    to_lonlat = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    metric = np.asarray(grids.geometry.to_crs(crs).values)
    invalid = ~empty & ~shapely.is_valid(geoms)
    issues += _invalid_issues(geoms, metric, codes, invalid, grids.crs)
    fixed = metric.copy()
    broken = ~empty & ~shapely.is_valid(metric)  # reprojection can break near-degenerate rings
    fixed[broken] = shapely.make_valid(metric[broken])
    fixed[empty] = None
    issues += _overlap_issues(fixed, codes, min_area_m2, to_lonlat)
    area = None
    if boundary is not None:
        area = shapely.union_all(
            shapely.make_valid(np.asarray(boundary.geometry.to_crs(crs).values))
        )
    issues += _gap_issues(fixed, codes, min_area_m2, to_lonlat, area)
    return issues


def _wkt_lonlat(points: GeomArray, to_lonlat: pyproj.Transformer) -> list[str]:
    xy = shapely.get_coordinates(points)
    lon, lat = to_lonlat.transform(xy[:, 0], xy[:, 1])
    return list(shapely.to_wkt(shapely.points(lon, lat), rounding_precision=7))


def _invalid_issues(geoms, metric, codes, invalid, crs) -> list[TopologyIssue]:
    if not invalid.any():
        return []
    reasons = shapely.is_valid_reason(geoms[invalid])
    xy, which = shapely.get_coordinates(geoms[invalid], return_index=True)
    spots = xy[np.unique(which, return_index=True)[1]]  # first vertex of each grid
    for n, reason in enumerate(reasons):
        found = _COORD_IN_REASON.search(reason)  # e.g. "Self-intersection[116.1 39.9]"
        if found:
            spots[n] = float(found[1]), float(found[2])
    lon, lat = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(
        spots[:, 0], spots[:, 1]
    )
    where = shapely.to_wkt(shapely.points(lon, lat), rounding_precision=7)
    area = shapely.area(shapely.make_valid(metric[invalid]))
    return [
        TopologyIssue("invalid", (c,), float(a), w, r)
        for c, a, w, r in zip(codes[invalid], area, where, reasons, strict=True)
    ]


def _overlap_issues(fixed, codes, min_area, to_lonlat) -> list[TopologyIssue]:
    a, b = shapely.STRtree(fixed).query(fixed, predicate="intersects")
    pair = a < b
    a, b = a[pair], b[pair]
    shared = shapely.intersection(fixed[a], fixed[b])
    area = shapely.area(shared)
    big = area >= min_area
    where = _wkt_lonlat(shapely.point_on_surface(shared[big]), to_lonlat)
    return [
        TopologyIssue("overlap", tuple(sorted((codes[i], codes[j]))), float(s), w, "grids overlap")
        for i, j, s, w in zip(a[big], b[big], area[big], where, strict=True)
    ]


def _gap_issues(fixed, codes, min_area, to_lonlat, boundary) -> list[TopologyIssue]:
    union = shapely.get_parts(shapely.union_all(fixed[~shapely.is_missing(fixed)]))
    union = union[shapely.get_type_id(union) == _POLYGON]
    n_holes = shapely.get_num_interior_rings(union)
    owner = np.repeat(np.arange(len(union)), n_holes)
    ring_no = np.arange(len(owner)) - np.repeat(np.cumsum(n_holes) - n_holes, n_holes)
    holes = shapely.polygons(shapely.get_interior_ring(union[owner], ring_no))
    if boundary is not None:
        holes = _polygonal(shapely.intersection(holes, boundary), min_part=0.0)
        holes = holes[~shapely.is_missing(holes)]
    holes = holes[shapely.area(holes) >= min_area]
    if len(holes) == 0:
        return []
    hole_idx, grid_idx = shapely.STRtree(fixed).query(holes, predicate="dwithin", distance=1e-3)
    order = np.argsort(hole_idx, kind="stable")
    around = np.split(
        codes[grid_idx[order]], np.searchsorted(hole_idx[order], np.arange(1, len(holes)))
    )
    where = _wkt_lonlat(shapely.point_on_surface(holes), to_lonlat)
    return [
        TopologyIssue("gap", tuple(sorted(set(c))), float(a), w, "hole enclosed by grids")
        for c, a, w in zip(around, shapely.area(holes), where, strict=True)
    ]
