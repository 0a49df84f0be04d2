import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely import Point, Polygon

from gridmap.errors import ValidationError
from gridmap.spatial import area_m2, locate, metric_crs

UTM50 = "EPSG:32650"


def test_metric_crs_is_local_utm():
    pts = gpd.GeoSeries([Point(116.4, 39.9), Point(116.5, 40.0)], crs=4326)
    assert metric_crs(pts).to_epsg() == 32650
    assert metric_crs(gpd.GeoDataFrame(geometry=pts)).to_epsg() == 32650
    assert metric_crs(gpd.GeoSeries([Point(121.5, 31.2)], crs=4326)).to_epsg() == 32651


@pytest.mark.parametrize(
    "layer",
    [
        gpd.GeoSeries([], crs=4326),
        gpd.GeoSeries([None, Polygon()], crs=4326),
        gpd.GeoSeries([Point(116.4, 39.9)]),  # no CRS
    ],
)
def test_metric_crs_errors(layer):
    with pytest.raises(ValidationError):
        metric_crs(layer)


def test_area_m2():
    squares = gpd.GeoSeries(
        [shapely.box(440_000, 4_420_000, 441_000, 4_421_000), shapely.box(0, 0, 1, 1), None],
        crs=UTM50,
    )
    squares.iloc[1] = shapely.box(445_000, 4_425_000, 445_100, 4_425_050)
    areas = area_m2(squares.to_crs(4326))
    assert areas == pytest.approx([1e6, 5_000, 0.0], rel=1e-9)
    assert area_m2(gpd.GeoSeries([], crs=4326)).shape == (0,)


# --- locate ---------------------------------------------------------------------------------


def lattice_grids(seed=0):
    """6 x 5 unit squares (integer coordinates), a few split along a diagonal, two missing.

    Codes are shuffled so that the smallest code is not the first or the west-most grid.
    """
    rng = np.random.default_rng(seed)
    geoms = []
    for x in range(6):
        for y in range(5):
            if (x, y) in {(2, 2), (4, 1)}:  # holes: points there are outside every grid
                continue
            if (x + y) % 4 == 0:  # split along the diagonal: triangles sharing an edge
                geoms.append(Polygon([(x, y), (x + 1, y), (x + 1, y + 1)]))
                geoms.append(Polygon([(x, y), (x + 1, y + 1), (x, y + 1)]))
            else:
                geoms.append(shapely.box(x, y, x + 1, y + 1))
    codes = [f"C{n:03d}" for n in rng.permutation(len(geoms))]
    return gpd.GeoDataFrame({"code": codes}, geometry=geoms, crs=4326)


def brute_force(points, grids):
    out = []
    for p in points:
        covering = [c for c, g in zip(grids["code"], grids.geometry, strict=True) if g.covers(p)]
        out.append(min(covering) if covering else pd.NA)
    return out


def lattice_points(rng, n):
    """Points on vertices, on edges and diagonals, inside cells and outside the lattice."""
    kinds = rng.integers(0, 4, n)
    x = rng.integers(-1, 8, n).astype(float)
    y = rng.integers(-1, 7, n).astype(float)
    half = kinds == 1  # edge midpoints (exactly representable)
    x[half] += rng.choice([0.0, 0.5], half.sum())
    y[half] += 0.5 - x[half] % 1
    diag = kinds == 2  # on the diagonal x - x0 == y - y0
    t = rng.choice([0.25, 0.5, 0.75], diag.sum())
    x[diag] += t
    y[diag] += t
    inner = kinds == 3
    x[inner] += rng.uniform(0.01, 0.99, inner.sum())
    y[inner] += rng.uniform(0.01, 0.99, inner.sum())
    return gpd.GeoSeries(shapely.points(x, y), crs=4326)


def test_locate_matches_brute_force_on_edges_vertices_and_outside():
    grids = lattice_grids()
    rng = np.random.default_rng(42)
    points = lattice_points(rng, 3_000)
    got = locate(points, grids)
    assert got.dtype == "string"
    assert got.astype(object).where(got.notna(), pd.NA).tolist() == brute_force(points, grids)
    assert got.isna().sum() > 100 and got.notna().sum() > 1_000  # both cases exercised


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    coords=st.lists(
        st.tuples(
            st.integers(-2, 14).map(lambda v: v / 2), st.integers(-2, 12).map(lambda v: v / 2)
        ),
        min_size=1,
        max_size=60,
    ),
)
def test_locate_hypothesis_half_lattice(seed, coords):
    grids = lattice_grids(seed)
    points = gpd.GeoSeries([Point(x, y) for x, y in coords], crs=4326)
    got = locate(points, grids)
    assert [None if v is pd.NA else v for v in got] == [
        None if v is pd.NA else v for v in brute_force(points, grids)
    ]


def test_locate_index_missing_and_overlaps():
    grids = gpd.GeoDataFrame(
        {"gid": ["B", "A", "C"]},
        geometry=[shapely.box(0, 0, 2, 2), shapely.box(1, 1, 3, 3), shapely.box(5, 5, 6, 6)],
        crs=4326,
    )
    points = gpd.GeoSeries(
        [Point(0.5, 0.5), Point(1.5, 1.5), None, Point(), Point(9, 9), Point(6, 6)],
        index=["p", "q", "r", "s", "t", "u"],
        crs=4326,
    )
    got = locate(points, grids, code_column="gid")
    assert list(got.index) == list("pqrstu") and got.name == "gid"
    assert got.iloc[:2].tolist() == ["B", "A"]  # overlap: smallest code wins
    assert got.iloc[2:5].isna().all() and got.iloc[5] == "C"
    frame = gpd.GeoDataFrame({"v": range(6)}, geometry=points, index=points.index)
    assert locate(frame, grids, "gid").equals(got)


def test_locate_non_string_codes_use_string_order():
    grids = gpd.GeoDataFrame(
        {"code": [9, 10]}, geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)], crs=4326
    )
    got = locate(gpd.GeoSeries([Point(1, 0.5)], crs=4326), grids)
    assert got.tolist() == ["10"]  # "10" < "9" as strings


def test_locate_empty_inputs():
    grids = lattice_grids()
    assert len(locate(gpd.GeoSeries([], crs=4326), grids)) == 0
    none = locate(gpd.GeoSeries([Point(0.5, 0.5)], crs=4326), grids.iloc[:0])
    assert none.isna().all()


def test_locate_errors():
    grids = lattice_grids()
    pts = gpd.GeoSeries([Point(0.5, 0.5)], crs=4326)
    with pytest.raises(ValidationError, match="no column 'gid'"):
        locate(pts, grids, "gid")
    with pytest.raises(ValidationError, match="different CRS"):
        locate(pts.set_crs(3857, allow_override=True), grids)
    with pytest.raises(ValidationError, match="needs points"):
        locate(gpd.GeoSeries([shapely.box(0, 0, 1, 1)], crs=4326), grids)
    grids.loc[0, "code"] = None
    with pytest.raises(ValidationError, match="no 'code'"):
        locate(pts, grids)


def test_locate_agrees_with_sjoin_and_leaves_grids_unprepared():
    rng = np.random.default_rng(7)
    xs = np.linspace(116.0, 116.2, 21)
    ys = np.linspace(39.8, 40.0, 21)
    x0, y0 = np.meshgrid(xs[:-1], ys[:-1])
    boxes = shapely.box(x0.ravel(), y0.ravel(), x0.ravel() + 0.01, y0.ravel() + 0.01)
    grids = gpd.GeoDataFrame({"code": [f"G{i:03d}" for i in range(400)]}, geometry=boxes, crs=4326)
    points = gpd.GeoSeries(
        shapely.points(rng.uniform(115.99, 116.21, 20_000), rng.uniform(39.79, 40.01, 20_000)),
        crs=4326,
    )
    got = locate(points, grids)
    joined = gpd.sjoin(gpd.GeoDataFrame(geometry=points), grids, predicate="intersects", how="left")
    assert not joined.index.duplicated().any()  # random points: none on an edge
    assert (
        got.astype(object).where(got.notna(), None).tolist()
        == joined["code"].astype(object).where(joined["code"].notna(), None).tolist()
    )
    assert not shapely.is_prepared(grids.geometry.values).any()
