"""Write the import test corpus: small real files, each bad in exactly one way, plus good ones.

Run from the repository root (``.venv/bin/python tests/data/import/make_corpus.py``); the files
are committed, so tests read real files from disk. Every point lies in the test store's extent
(the four grids of ``GRID_CELLS``, lon 116.37-116.41, lat 39.90-39.92) unless a file says
otherwise. ``tests/test_import.py`` states which row of each bad file is wrong, and why.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import geopandas as gpd
import pyogrio
import pyproj
from shapely import Point, Polygon, box

from gridmap.coords import wgs84_to_bd09

HERE = Path(__file__).resolve().parent

#: The test store's grids (code, lon/lat box); the tests insert the same cells.
GRID_CELLS = [
    ("11010100100101", (116.37, 39.90, 116.39, 39.91)),
    ("11010100100102", (116.39, 39.90, 116.41, 39.91)),
    ("11010100100103", (116.37, 39.91, 116.39, 39.92)),
    ("11010100100104", (116.39, 39.91, 116.41, 39.92)),
]
#: Published GCJ-02 test vector (googollee/eviltransform, Beijing): WGS 84 truth and GCJ-02.
GCJ_TRUTH = (116.377817, 39.911954)
GCJ_POINT = (116.38404722455657, 39.91334545536069)
#: WGS 84 truth of the BD-09 file (converted forward with the published BD-09 formulas).
BD_TRUTH = (116.3975, 39.9087)
#: WGS 84 truth of the EPSG:4547 files (CGCS2000 / 3-degree Gauss-Kruger CM 114E, Shijiazhuang).
GK_TRUTH = (114.5149, 38.0428)

INCIDENT_HEADER = "id,category,description,reported_at,lon,lat"
GOOD_INCIDENTS = [
    "i1,E0102,暴露垃圾 near the gate,2025-03-03T09:30:00+08:00,116.38,39.905",
    "i2,E0201,小广告 on a lamp post,2025-03-03 10:00,116.40,39.905",
    "i3,E0404,parked car,2025/03/04 14:15,116.38,39.915",
    "i4,C0104,street light out,2025-03-04T06:15:00Z,116.40,39.915",
]


def csv_file(name: str, lines: list[str], encoding: str = "utf-8") -> None:
    (HERE / name).write_bytes(("\n".join(lines) + "\n").encode(encoding))


def geojson_file(name: str, features: list[tuple[dict, dict | None]]) -> None:
    doc = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": props, "geometry": geom} for props, geom in features
        ],
    }
    text = json.dumps(doc, ensure_ascii=False, indent=1)
    (HERE / name).write_text(text + "\n", encoding="utf-8")


def ring(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


def polygon(coords: list[list[float]]) -> dict:
    return {"type": "Polygon", "coordinates": [coords]}


def write_incident_csvs() -> None:
    csv_file("incidents_good.csv", [INCIDENT_HEADER, *GOOD_INCIDENTS])
    good = GOOD_INCIDENTS
    # line 4: latitude and longitude swapped
    csv_file(
        "incidents_swapped.csv",
        [INCIDENT_HEADER, good[0], good[1], "i3,E0404,parked car,2025-03-04 14:15,39.915,116.38"],
    )
    # line 3: unparsable longitude
    csv_file(
        "incidents_bad_coord.csv",
        [INCIDENT_HEADER, good[0], "i2,E0201,ad,2025-03-03 10:00,116.4O,39.905", good[2]],
    )
    # line 5: missing latitude
    csv_file(
        "incidents_missing_coord.csv",
        [INCIDENT_HEADER, good[0], good[1], good[2], "i4,C0104,light,2025-03-04 06:15,116.40,"],
    )
    # line 3: latitude out of range (and not a swap)
    csv_file(
        "incidents_out_of_range.csv",
        [INCIDENT_HEADER, good[0], "i2,E0201,ad,2025-03-03 10:00,116.40,95.5", good[2]],
    )
    # line 4: id of line 2 again
    csv_file(
        "incidents_dup_id.csv",
        [INCIDENT_HEADER, good[0], good[1], "i1,E0404,parked car,2025-03-04 14:15,116.38,39.915"],
    )
    # line 3: category code not in the catalog
    csv_file(
        "incidents_unknown_category.csv",
        [INCIDENT_HEADER, good[0], "i2,E9999,ad,2025-03-03 10:00,116.40,39.905", good[2]],
    )
    # line 3: impossible date
    csv_file(
        "incidents_bad_date.csv",
        [INCIDENT_HEADER, good[0], "i2,E0201,ad,2025-13-45 10:00,116.40,39.905", good[2]],
    )
    # line 2: category missing
    csv_file(
        "incidents_missing_category.csv",
        [INCIDENT_HEADER, "i1,,暴露垃圾,2025-03-03T09:30:00+08:00,116.38,39.905", good[1]],
    )
    # day-first dates: bad without --date-format, good with --date-format "%d/%m/%Y %H:%M"
    csv_file(
        "incidents_dates_dmy.csv",
        [
            INCIDENT_HEADER,
            "d1,E0102,rubbish,03/03/2025 09:30,116.38,39.905",
            "d2,E0201,ad,24/03/2025 16:00,116.40,39.905",
        ],
    )
    # category labels instead of codes: unknown without a mapping, good with category_map.csv
    csv_file(
        "incidents_labels.csv",
        [
            INCIDENT_HEADER,
            "l1,暴露垃圾,rubbish,2025-03-03 09:30,116.38,39.905",
            "l2,路灯,light,2025-03-03 10:00,116.40,39.905",
            "l3,E0404,already a code,2025-03-03 11:00,116.38,39.915",
        ],
    )
    csv_file("category_map.csv", ["source,code", "暴露垃圾,E0102", "路灯,C0104"])
    # a GBK export with Chinese column names (经度/纬度 are found without --lon/--lat)
    csv_file(
        "incidents_gbk.csv",
        [
            "编号,类别,描述,上报时间,经度,纬度",
            "g1,E0102,东门外暴露垃圾,2025/03/03 09:30,116.38,39.905",
            "g2,E0402,占道经营（水果摊）,2025/03/03 10:00,116.40,39.915",
        ],
        encoding="gbk",
    )
    # several bad rows for --skip-invalid: lines 3 (two reasons), 5 and 6 are bad
    csv_file(
        "incidents_mixed.csv",
        [
            INCIDENT_HEADER,
            good[0],
            "m2,E9999,bad category and date,yesterday,116.40,39.905",
            good[1],
            "m4,E0404,swapped,2025-03-04 14:15,39.915,116.38",
            "m5,E0102,no latitude,2025-03-04 14:15,116.38,",
            good[2],
        ],
    )


def write_projected() -> None:
    gcj_line = f"c1,E0102,gcj,2025-03-03 09:30,{GCJ_POINT[0]!r},{GCJ_POINT[1]!r}"
    csv_file("incidents_gcj02.csv", [INCIDENT_HEADER, gcj_line])
    bd_lon, bd_lat = (float(v) for v in wgs84_to_bd09(*BD_TRUTH))
    csv_file(
        "incidents_bd09.csv",
        [INCIDENT_HEADER, f"b1,E0102,bd,2025-03-03 09:30,{bd_lon!r},{bd_lat!r}"],
    )
    to_gk = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:4547", always_xy=True)
    x, y = to_gk.transform(*GK_TRUTH)
    stations = gpd.GeoDataFrame(
        {"id": ["k1"], "kind": ["service_center"], "name": ["长安区社区服务中心"]},
        geometry=[Point(x, y)],
        crs="EPSG:4547",
    )
    _vector(stations, "stations_epsg4547.gpkg", "GPKG", layer="stations")
    csv_file("stations_epsg4547.csv", ["id,kind,name,x,y", f"k1,service_center,中心,{x!r},{y!r}"])


def _vector(frame: gpd.GeoDataFrame, name: str, driver: str, **kwargs: object) -> None:
    path = HERE / name
    for old in HERE.glob(Path(name).stem + ".*"):
        if old.suffix in {".gpkg", ".shp", ".shx", ".dbf", ".prj", ".cpg"}:
            old.unlink()
    pyogrio.write_dataframe(frame, path, driver=driver, **kwargs)


def _zip_shapefile(stem: str) -> None:
    with zipfile.ZipFile(HERE / f"{stem}.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for part in sorted(HERE.glob(f"{stem}.*")):
            if part.suffix != ".zip":
                zf.write(part, f"{stem}/{part.name}")
    for part in HERE.glob(f"{stem}.*"):
        if part.suffix != ".zip":
            part.unlink()


def write_stations() -> None:
    good = gpd.GeoDataFrame(
        {
            "id": ["s1", "s2", "s3"],
            "kind": ["public_toilet", "red_home", "courier_station"],
            "name": ["公厕一号", "红色驿站", "快递驿站"],
            "capacity": [4, 20, 50],
        },
        geometry=[Point(116.375, 39.905), Point(116.395, 39.915), Point(116.405, 39.905)],
        crs="EPSG:4326",
    )
    _vector(good, "stations_good.shp", "ESRI Shapefile")
    _vector(good, "stations_zipped.shp", "ESRI Shapefile")
    _zip_shapefile("stations_zipped")
    # feature 2: station kind not in the catalog (zipped Shapefile)
    bad = good.copy()
    bad.loc[1, "kind"] = "kiosk"
    _vector(bad, "stations_bad_kind.shp", "ESRI Shapefile")
    _zip_shapefile("stations_bad_kind")
    # feature 1: latitude and longitude swapped (plain Shapefile)
    swapped = good.copy()
    swapped.loc[0, "geometry"] = Point(39.905, 116.375)
    _vector(swapped, "stations_swapped.shp", "ESRI Shapefile")


def write_grids() -> None:
    cells = [(code[:-2] + "9" + code[-1], b) for code, b in GRID_CELLS]  # codes not in the store
    props = [{"code": c, "name": f"网格{c[-2:]}", "population": 1200.5} for c, _ in cells]
    geojson_file(
        "grids_good.geojson",
        [(p, polygon(ring(*b))) for p, (_, b) in zip(props, cells, strict=True)],
    )
    # feature 2: a bow-tie, invalid but repairable (make_valid gives a MultiPolygon)
    x0, y0, x1, y1 = cells[1][1]
    bowtie = [[x0, y0], [x1, y1], [x1, y0], [x0, y1], [x0, y0]]
    geojson_file(
        "grids_repairable.geojson",
        [(props[0], polygon(ring(*cells[0][1]))), (props[1], polygon(bowtie))],
    )
    # feature 2: a square with a spike; make_valid gives a polygon plus a line
    spike = [
        [x0, y0],
        [x1, y0],
        [x1, y1],
        [x0, y1],
        [x0, 39.905],
        [116.38, 39.905],
        [x0, 39.905],
        [x0, y0],
    ]
    geojson_file(
        "grids_unrepairable.geojson",
        [(props[0], polygon(ring(*cells[0][1]))), (props[1], polygon(spike))],
    )
    # feature 2: code already in the test store
    geojson_file(
        "grids_dup_store.geojson",
        [
            (props[0], polygon(ring(*cells[0][1]))),
            ({"code": GRID_CELLS[1][0]}, polygon(ring(*cells[1][1]))),
        ],
    )
    # feature 3: empty geometry (GeoPackage)
    geoms = [box(*b) for _, b in cells[:3]]
    geoms[2] = Polygon()
    frame = gpd.GeoDataFrame({"code": [c for c, _ in cells[:3]]}, geometry=geoms, crs="EPSG:4326")
    _vector(frame, "grids_empty_geometry.gpkg", "GPKG", layer="grids")
    # two layers: the first is read by default, the second with --source-layer
    path = HERE / "grids_two_layers.gpkg"
    path.unlink(missing_ok=True)
    first = gpd.GeoDataFrame({"code": [cells[0][0]]}, geometry=[box(*cells[0][1])], crs=4326)
    second = gpd.GeoDataFrame(
        {"code": [c for c, _ in cells[1:]]}, geometry=[box(*b) for _, b in cells[1:]], crs=4326
    )
    pyogrio.write_dataframe(first, path, layer="north", driver="GPKG")
    pyogrio.write_dataframe(second, path, layer="south", driver="GPKG", append=False)


def main() -> None:
    write_incident_csvs()
    write_projected()
    write_stations()
    write_grids()


if __name__ == "__main__":
    main()
