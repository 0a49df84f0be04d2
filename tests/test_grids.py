import warnings

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely import Point, Polygon

from gridmap.errors import ValidationError
from gridmap.gridcodes import GridCode, is_community_cell, parse_grid_code
from gridmap.grids import generate_grids
from gridmap.topology import TopologyIssue, check_topology

UTM50 = "EPSG:32650"
X0, Y0 = 440_000.0, 4_420_000.0  # Beijing, UTM zone 50N


def in_lonlat(geoms, **columns):
    return gpd.GeoDataFrame(columns, geometry=list(geoms), crs=UTM50).to_crs(4326)


def concave_with_hole():
    outer = [(0, 0), (2300, 0), (2300, 1700), (1200, 1000), (0, 2100), (50, 1050.3)]
    hole = [(500, 300), (900, 300), (700, 700)]
    poly = Polygon([(X0 + x, Y0 + y) for x, y in outer], [[(X0 + x, Y0 + y) for x, y in hole]])
    return in_lonlat([poly])


def utm(gdf):
    return np.asarray(gdf.geometry.to_crs(UTM50).values)


def overlap_area(geoms):
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = a < b
    return float(shapely.area(shapely.intersection(geoms[a[keep]], geoms[b[keep]])).sum())


# --- codes ----------------------------------------------------------------------------------


def test_parse_grid_code():
    assert parse_grid_code("11010100200301") == GridCode("110101", "002", "003", "01", "14")
    code = parse_grid_code("110101002003123")
    assert code == GridCode("110101", "002", "003", "123", "15")
    assert code.community_code == "110101002003" and code.street_code == "110101002"
    for free in ["G0001", "1101010020030", "1101010020031234", "1101010020030a", "", None, 42]:
        assert parse_grid_code(free) is None
    assert parse_grid_code("１１０１０１００２００３０１") is None  # full-width digits


def test_is_community_cell():
    assert is_community_cell("11010100200300")
    assert not is_community_cell("11010100200301")
    assert not is_community_cell("110101002003000")  # the "00" rule is the 14-digit profile's
    assert not is_community_cell("G00")


# --- generation -----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["square", "hex"])
@pytest.mark.parametrize("size", [100.0, 137.5])
def test_generated_grids_tile_the_boundary(shape, size):
    boundary = concave_with_hole()
    grids = generate_grids(boundary, size, shape)
    assert grids.crs.to_epsg() == 4326
    assert list(grids.columns) == ["code", "name", "area_m2", "population", "geometry"]
    assert set(grids.geom_type) <= {"Polygon", "MultiPolygon"}
    assert grids.is_valid.all() and not grids.is_empty.any()
    cells = utm(grids)
    want = float(shapely.area(utm(boundary)).sum())
    assert shapely.area(shapely.union_all(cells)) == pytest.approx(want, rel=1e-6)
    assert grids["area_m2"].sum() == pytest.approx(want, rel=1e-6)
    assert overlap_area(cells) < 1e-6
    assert check_topology(grids, boundary=boundary, min_area_m2=0.01) == []
    gaps = check_topology(grids, min_area_m2=0.01)  # without the boundary, its hole is a gap
    assert [g.kind for g in gaps] == ["gap"]
    assert gaps[0].area_m2 == pytest.approx(400 * 400 / 2, rel=1e-6)
    assert (grids["population"] == 0.0).all() and grids["population"].dtype == float
    assert grids["code"].tolist() == [f"G{i:04d}" for i in range(1, len(grids) + 1)]
    assert grids["name"].tolist() == grids["code"].tolist()


@pytest.mark.parametrize("shape", ["square", "hex"])
def test_whole_cells_have_the_nominal_area(shape):
    boundary = in_lonlat([shapely.box(X0, Y0, X0 + 2000, Y0 + 2000)])
    grids = generate_grids(boundary, 100.0, shape)
    assert grids["area_m2"].max() == pytest.approx(10_000.0, rel=1e-6)
    if shape == "square":
        assert len(grids) == 400 and np.allclose(grids["area_m2"], 10_000.0, rtol=1e-6)
    else:  # pointy-top hexagons: two vertices due north/south of the centre
        hexagon = utm(grids)[np.argmax(grids["area_m2"].to_numpy())]
        xy = shapely.get_coordinates(hexagon)[:-1]
        assert len(xy) == 6
        assert np.sum(np.isclose(xy[:, 0], xy[:, 0].mean(), atol=1e-6)) == 2


@pytest.mark.parametrize("shape", ["square", "hex"])
def test_cells_are_numbered_row_major_from_the_north_west(shape):
    boundary = in_lonlat([shapely.box(X0, Y0, X0 + 1000, Y0 + 800)])
    grids = generate_grids(boundary, 100.0, shape, code_prefix="W")
    assert grids["code"].iloc[0] == "W0001"
    # lattice row/column of each cell from its unclipped centre: rows go down in y
    centre = shapely.get_coordinates(shapely.centroid(utm(grids)))
    step = 100.0 if shape == "square" else 1.5 * 100.0 * np.sqrt(2 / (3 * np.sqrt(3)))
    row = np.floor((Y0 + 800 - centre[:, 1]) / step + 0.5 * (shape == "hex")).astype(int)
    rows = np.diff(row)
    assert (rows >= 0).all()  # never back to the north
    same_row = rows == 0
    assert (np.diff(centre[:, 0])[same_row] > 0).all()  # west to east within a row


def test_multipolygon_cells_are_kept_whole():
    # one boundary feature, two parts 20 m apart: the cell spanning the gap has two pieces
    parts = shapely.union_all(
        [shapely.box(X0, Y0, X0 + 140, Y0 + 100), shapely.box(X0 + 160, Y0, X0 + 300, Y0 + 100)]
    )
    grids = generate_grids(in_lonlat([parts]), 100.0)
    assert list(grids.geom_type) == ["Polygon", "MultiPolygon", "Polygon"]
    assert grids["area_m2"].tolist() == pytest.approx([10_000, 8_000, 10_000], rel=1e-6)


def test_community_codes_and_cells_per_community():
    west = shapely.box(X0, Y0, X0 + 250, Y0 + 300)
    east = shapely.box(X0 + 250, Y0, X0 + 500, Y0 + 300)
    boundary = in_lonlat([east, west], cc=["110101002004", "110101002003"])
    grids = generate_grids(boundary, 100.0, code_column="cc")
    west_codes = [c for c in grids["code"] if c.startswith("110101002003")]
    east_codes = [c for c in grids["code"] if c.startswith("110101002004")]
    assert west_codes == [f"110101002003{i:02d}" for i in range(1, 10)]  # 3 x 3, last column cut
    assert east_codes == [f"110101002004{i:02d}" for i in range(1, 10)]
    assert all(parse_grid_code(c).profile == "14" and not is_community_cell(c) for c in grids.code)
    cells = utm(grids)
    inside_west = shapely.covers(shapely.buffer(west, 1e-3), cells)
    inside_east = shapely.covers(shapely.buffer(east, 1e-3), cells)
    assert (inside_west ^ inside_east).all()  # no cell spans two communities
    assert grids.loc[grids.code == "11010100200302", "area_m2"].item() == pytest.approx(1e4)
    assert grids.loc[grids.code == "11010100200303", "area_m2"].item() == pytest.approx(5e3)


def test_community_with_more_than_99_cells_gets_15_digits():
    big = shapely.box(X0, Y0, X0 + 1100, Y0 + 1000)  # 110 cells
    small = shapely.box(X0, Y0 - 200, X0 + 200, Y0)
    boundary = in_lonlat([big, small], cc=["110101002003", "110101002004"])
    with pytest.warns(UserWarning, match=r"3-digit sequences.*110101002003"):
        grids = generate_grids(boundary, 100.0, code_column="cc")
    big_codes = grids["code"][grids["code"].str.startswith("110101002003")]
    assert len(big_codes) == 110 and (big_codes.str.len() == 15).all()
    assert big_codes.iloc[0] == "110101002003001" and big_codes.iloc[-1] == "110101002003110"
    assert grids["code"][grids["code"].str.startswith("110101002004")].tolist() == [
        "11010100200401",
        "11010100200402",
        "11010100200403",
        "11010100200404",
    ]


def test_population_from_points_is_preserved():
    boundary = in_lonlat([shapely.box(X0, Y0, X0 + 300, Y0 + 200)])
    rng = np.random.default_rng(3)
    xy = np.column_stack([rng.uniform(0, 300, 500), rng.uniform(0, 200, 500)])
    xy[:20] = rng.integers(0, 4, (20, 2)) * 100.0  # on cell edges and vertices
    xy[:20, 1] = np.minimum(xy[:20, 1], 200)
    people = in_lonlat(
        shapely.points(np.add(xy, (X0, Y0))), pop=rng.integers(0, 50, 500).astype(float)
    )
    grids = generate_grids(boundary, 100.0, demand=people, demand_column="pop")
    assert grids["population"].sum() == pytest.approx(people["pop"].sum())
    counted = generate_grids(boundary, 100.0, demand=people)
    assert counted["population"].sum() == pytest.approx(500.0)
    assert len(counted) == 6


def test_population_from_polygons_is_area_weighted():
    boundary = in_lonlat([shapely.box(X0, Y0, X0 + 200, Y0 + 100)])
    blocks = in_lonlat(
        [shapely.box(X0 + 50, Y0, X0 + 200, Y0 + 100), shapely.box(X0, Y0, X0 + 50, Y0 + 50)],
        pop=[300.0, 40.0],
    )
    grids = generate_grids(boundary, 100.0, demand=blocks, demand_column="pop")
    assert grids["population"].tolist() == pytest.approx([100.0 + 40.0, 200.0], rel=1e-6)


def test_population_outside_the_boundary_warns():
    boundary = in_lonlat([shapely.box(X0, Y0, X0 + 200, Y0 + 100)])
    people = in_lonlat([Point(X0 + 50, Y0 + 50), Point(X0 + 900, Y0 + 50)], pop=[3.0, 4.0])
    with pytest.warns(UserWarning, match="population 4 of 7"):
        grids = generate_grids(boundary, 100.0, demand=people, demand_column="pop")
    assert grids["population"].tolist() == [3.0, 0.0]


@settings(max_examples=12, deadline=None)
@given(
    w=st.floats(50, 900),
    h=st.floats(50, 900),
    size=st.floats(40, 300),
    shape=st.sampled_from(["square", "hex"]),
)
def test_generation_hypothesis(w, h, size, shape):
    tri = Polygon([(X0, Y0), (X0 + w, Y0 + h / 3), (X0 + w / 2, Y0 + h)])
    boundary = in_lonlat([tri])
    grids = generate_grids(boundary, size, shape)
    cells = utm(grids)
    want = float(shapely.area(utm(boundary)).sum())
    assert shapely.area(shapely.union_all(cells)) == pytest.approx(want, rel=1e-6)
    assert overlap_area(cells) < 1e-6


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"size_m": 0}, "positive"),
        ({"size_m": float("nan")}, "positive"),
        ({"size_m": 100, "shape": "triangle"}, "'square' or 'hex'"),
        ({"size_m": 0.01}, "cells over the boundary"),
        ({"size_m": 100, "code_column": "nope"}, "no column 'nope'"),
        ({"size_m": 100, "code_column": "cc", "code_prefix": "G"}, "not both"),
        ({"size_m": 100, "code_column": "bad"}, "12-digit community codes"),
        ({"size_m": 100, "demand": "x"}, "GeoDataFrame"),
    ],
)
def test_generate_errors(kwargs, match):
    boundary = in_lonlat([shapely.box(X0, Y0, X0 + 300, Y0 + 200)], cc=["110101002003"], bad=["7"])
    with pytest.raises(ValidationError, match=match):
        generate_grids(boundary, **kwargs)


def test_demand_errors():
    boundary = in_lonlat([shapely.box(X0, Y0, X0 + 300, Y0 + 200)])
    blocks = in_lonlat([shapely.box(X0, Y0, X0 + 10, Y0 + 10)], pop=["many"])
    with pytest.raises(ValidationError, match="need demand_column"):
        generate_grids(boundary, 100, demand=blocks)
    with pytest.raises(ValidationError, match="numeric"):
        generate_grids(boundary, 100, demand=blocks, demand_column="pop")
    mixed = in_lonlat([Point(X0, Y0), shapely.box(X0, Y0, X0 + 1, Y0 + 1)])
    with pytest.raises(ValidationError, match="all points or all polygons"):
        generate_grids(boundary, 100, demand=mixed)


# --- topology -------------------------------------------------------------------------------


def broken_layer():
    """3 x 3 block of 100 m cells without its centre (one gap), the NE cell pushed 10 m west
    over its neighbour (one overlap), and a bow-tie far to the east (one invalid grid)."""
    geoms, codes = [], []
    for col in range(3):
        for row in range(3):
            if (col, row) == (1, 1):
                continue
            west = X0 + 100 * col - (10 if (col, row) == (2, 2) else 0)
            geoms.append(
                shapely.box(west, Y0 + 100 * row, X0 + 100 * col + 100, Y0 + 100 * row + 100)
            )
            codes.append(f"C{col}{row}")
    bx = X0 + 1000
    geoms.append(Polygon([(bx, Y0), (bx + 100, Y0 + 100), (bx + 100, Y0), (bx, Y0 + 100)]))
    codes.append("BOW")
    return in_lonlat(geoms, code=codes)


def test_check_topology_finds_one_overlap_one_gap_one_invalid():
    issues = check_topology(broken_layer())
    assert [i.kind for i in issues] == ["invalid", "overlap", "gap"]
    invalid, overlap, gap = issues
    assert invalid.codes == ("BOW",)
    assert invalid.detail.startswith("Self-intersection")
    assert invalid.area_m2 == pytest.approx(5_000, rel=1e-6)
    want = in_lonlat([Point(X0 + 1050, Y0 + 50)]).geometry.iloc[0]
    assert shapely.from_wkt(invalid.location).distance(want) < 1e-6
    assert overlap.codes == ("C12", "C22")
    assert overlap.area_m2 == pytest.approx(1_000, rel=1e-6)
    assert gap.codes == ("C00", "C01", "C02", "C10", "C12", "C20", "C21", "C22")
    assert gap.area_m2 == pytest.approx(10_000, rel=1e-6)
    centre = in_lonlat([shapely.box(X0 + 100, Y0 + 100, X0 + 200, Y0 + 200)]).geometry.iloc[0]
    assert centre.contains(shapely.from_wkt(gap.location))
    assert isinstance(gap, TopologyIssue)
    with pytest.raises(AttributeError):
        gap.kind = "overlap"  # frozen


def test_check_topology_thresholds_empty_and_duplicates():
    layer = broken_layer()
    assert [i.kind for i in check_topology(layer, min_area_m2=20_000)] == ["invalid"]
    layer.loc[0, "code"] = "C01"  # duplicate
    layer.loc[len(layer)] = ["E", None]
    issues = check_topology(layer)
    assert [(i.kind, i.codes) for i in issues[:2]] == [
        ("empty", ("E",)),
        ("duplicate_code", ("C01",)),
    ]
    assert issues[0].location is None


def test_check_topology_tiny_overlap_is_noise():
    geoms = [
        shapely.box(X0, Y0, X0 + 100, Y0 + 100),
        shapely.box(X0 + 99.999, Y0, X0 + 200, Y0 + 100),
    ]
    layer = in_lonlat(geoms, code=["A", "B"])
    assert check_topology(layer) == []
    assert [i.kind for i in check_topology(layer, min_area_m2=0.01)] == ["overlap"]


def test_check_topology_errors():
    layer = broken_layer()
    with pytest.raises(ValidationError):
        check_topology(layer, code_column="gid")
    with pytest.raises(ValidationError):
        check_topology(layer.set_crs(None, allow_override=True))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_topology(layer.iloc[:0]) == []
