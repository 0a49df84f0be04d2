"""PostGIS-specific behaviour: schema, migrations, constraints, concurrency, copies, the CLI.

The shared behaviour is the contract suite (test_contract.py), run against both backends.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import threading

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import pytest
import shapely
from pandas.testing import assert_frame_equal
from psycopg.conninfo import conninfo_to_dict
from shapely.geometry import Point, box

from gridmap.cli import main
from gridmap.errors import ConflictError, NotFoundError, StoreError, ValidationError
from gridmap.model import LAYERS, layer
from gridmap.stores import migrate, open_store
from gridmap.stores.copy import copy_store
from gridmap.stores.geopackage import GeoPackageStore
from gridmap.stores.postgis import PostGISStore
from tests.conftest import random_incidents, square_grids
from tests.pg_cluster import url_from_params

pytestmark = pytest.mark.postgis


@pytest.fixture
def pg(pg_url):
    store = open_store(pg_url)
    yield store
    store.close()


def raw(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True)


def every_layer() -> dict[str, gpd.GeoDataFrame]:
    """Rows for all six layers, with edge cases: missing values, lists, non-ASCII, UTC input."""
    grids = square_grids()
    incidents = random_incidents(30, grids)
    incidents.loc[0, "description"] = None
    incidents["reported_at"] = incidents["reported_at"].astype(object)
    incidents.loc[1, "reported_at"] = pd.Timestamp("2025-03-04T01:02:03.456789Z")  # UTC input
    pt = [Point(116.381 + i / 1000, 39.881 + i / 1000) for i in range(3)]
    return {
        "grids": grids,
        "stations": gpd.GeoDataFrame(
            {"id": ["s1", "s2", "s3"], "kind": ["public_toilet", "red_home", "service_center"]}
            | {
                "capacity": [None, 5, 0],
                "status": ["open", "planned", None],
                "name": ["厕所", "", None],
            },
            geometry=pt,
            crs=4326,
        ),
        "incidents": incidents,
        "workers": gpd.GeoDataFrame(
            {
                "id": ["w1", "w2", "w3"],
                "name": ["张三", "李四", None],
                "grid_codes": [["11010100100101"], [], "11010100100102,11010100100103"],
                "skills": ["sanitation", None, ["municipal", "enforcement"]],
                "max_open": [3, None, 12],
            },
            geometry=[pt[0], None, pt[2]],
            crs=4326,
        ),
        "sites": gpd.GeoDataFrame(
            {"id": ["c1", "c2"], "kind": ["red_home", "courier_station"], "cost": [1.5, None]},
            geometry=pt[:2],
            crs=4326,
        ),
        "demand": gpd.GeoDataFrame(
            {"id": ["d1", "d2", "d3"], "kind": ["residential", "courier", "incident"]}
            | {"weight": [2.5, None, 0.0]},
            geometry=pt,
            crs=4326,
        ),
    }


def fill(store) -> None:
    for name, rows in every_layer().items():
        store.insert(name, rows)
    at = store.get("incidents", "I000000")["reported_at"]
    store.transition("I000000", "register", actor="op", at=at + pd.Timedelta(minutes=10))
    store.transition(
        "I000000", "dispatch", actor="op", worker_id="w1", at=at + pd.Timedelta(minutes=20)
    )
    store.set_layer_info("incidents", description="模拟 incidents", simulated=True)


def same_rows(a, b, *, ignore: tuple[str, ...] = ()) -> None:
    for name in LAYERS:
        left, right = a.read(name), b.read(name)
        drop = ["geometry", *(c for c in ignore if c in left)]
        assert_frame_equal(left.drop(columns=drop), right.drop(columns=drop), check_exact=True)
        assert (left.geometry.isna() == right.geometry.isna()).all()
        both = left.geometry.notna().to_numpy()
        assert shapely.equals_exact(
            left.geometry.values[both], right.geometry.values[both], tolerance=0
        ).all(), name
    assert_frame_equal(a.history(), b.history())
    for name in LAYERS:
        ia, ib = a.layer_info(name), b.layer_info(name)
        assert (ia.count, ia.description, ia.simulated) == (ib.count, ib.description, ib.simulated)


# -- schema and migrations ------------------------------------------------------------------------
def _needs_rights(reason: str) -> None:
    """Skip on a server whose user lacks the rights a test needs; fail under CI=true."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


ALL_MIGRATIONS = [f"{m.version}_{m.name}" for m in migrate.migrations()]


def test_migrations_on_an_empty_database(pg_databases):
    try:
        url = pg_databases.url(pg_databases.create_database())
    except psycopg.errors.InsufficientPrivilege as exc:
        _needs_rights(f"the test server's user cannot create databases: {exc}")
    try:
        assert migrate.upgrade(url) == ALL_MIGRATIONS
        assert migrate.upgrade(url) == []
        with raw(url) as con:
            rows = con.execute(
                "SELECT version, name, checksum FROM gridmap_migrations ORDER BY version"
            ).fetchall()
        assert rows == [(m.version, m.name, m.checksum) for m in migrate.migrations()]
    finally:
        pg_databases.drop(url)


def test_migrations_on_an_up_to_date_database(pg_url):
    assert migrate.upgrade(pg_url) == []
    assert main(["--store", pg_url, "db", "upgrade"]) == 0


def test_concurrent_upgrades_apply_once(pg_databases):
    url = pg_databases.create_empty()
    results, errors = [], []

    def run():
        try:
            results.append(migrate.upgrade(url))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        # each migration applied once, by whichever upgrade took the lock first
        assert sorted(name for done in results for name in done) == ALL_MIGRATIONS
    finally:
        pg_databases.drop(url)


def test_changed_or_unknown_migrations_are_refused(pg_url):
    with raw(pg_url) as con:
        con.execute("UPDATE gridmap_migrations SET checksum = 'x'")
        with pytest.raises(StoreError, match="changed after it was applied"):
            migrate.pending(con)
        for m in migrate.migrations():
            con.execute(
                "UPDATE gridmap_migrations SET checksum = %s WHERE version = %s",
                [m.checksum, m.version],
            )
        con.execute("INSERT INTO gridmap_migrations VALUES ('9999', 'future', 'x')")
    with pytest.raises(StoreError, match="newer than this GridMap"):
        open_store(pg_url)


def test_an_unmigrated_database_is_refused_without_create(pg_databases):
    url = pg_databases.create_empty()
    try:
        with pytest.raises(StoreError, match="gridmap db upgrade"):
            open_store(url, create=False)
        store = open_store(url)  # create=True applies the migrations, like a new GeoPackage
        assert store.count("grids") == 0
        store.close()
    finally:
        pg_databases.drop(url)


def test_schema_has_srid_4326_gist_indexes_and_time_zones(pg_url):
    with raw(pg_url) as con:
        geoms = dict(con.execute("SELECT f_table_name, srid FROM geometry_columns").fetchall())
        gist = {
            r[0]
            for r in con.execute(
                "SELECT tablename FROM pg_indexes WHERE schemaname = current_schema() "
                "AND indexdef LIKE '%USING gist (geom)%'"
            )
        }
        types = dict(
            con.execute(
                "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = current_schema()"
            ).fetchall()
        )
    assert geoms == dict.fromkeys(LAYERS, 4326)
    assert gist == set(LAYERS)
    for spec in LAYERS.values():
        for f in spec.fields:
            if f.kind == "datetime":
                assert types[f"{spec.name}.{f.name}"] == "timestamp with time zone"
    assert types["incident_history.at"] == "timestamp with time zone"


def test_check_constraints_list_the_model_choices(pg_url):
    with raw(pg_url) as con:
        defs = dict(
            con.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'c' "
                "AND connamespace = current_schema()::regnamespace"
            ).fetchall()
        )
    for name, field in [
        ("incidents_source_valid", "source"),
        ("incidents_status_valid", "status"),
        ("incidents_priority_valid", "priority"),
    ]:
        found = set(re.findall(r"'([a-z0-9]+)'|\b(\d)\b", defs[name]))
        values = {a or b for a, b in found}
        assert values == {str(v) for v in layer("incidents").field(field).choices()}, name
    station = set(re.findall(r"'([a-z]+)'", defs["stations_status_valid"]))
    assert station == set(layer("stations").field("status").choices())
    demand = set(re.findall(r"'([a-z]+)'", defs["demand_kind_valid"]))
    assert demand == set(layer("demand").field("kind").choices())


# -- round trips ----------------------------------------------------------------------------------
def test_every_layer_round_trips_like_the_geopackage(pg, tmp_path):
    gpkg = GeoPackageStore(tmp_path / "ref.gpkg")
    fill(gpkg)
    fill(pg)
    same_rows(pg, gpkg, ignore=("updated_at",))  # the instant each store was written
    row = pg.get("incidents", "I000001")
    assert row["reported_at"] == pd.Timestamp("2025-03-04T01:02:03.456Z")
    assert str(row["reported_at"].tz) == "Asia/Shanghai"
    with raw(pg_url_of(pg)) as con:
        stored = con.execute(
            "SELECT reported_at AT TIME ZONE 'UTC' FROM incidents WHERE id = 'I000001'"
        ).fetchone()[0]
    assert stored.isoformat() == "2025-03-04T01:02:03.456000"
    gpkg.close()


def pg_url_of(store: PostGISStore) -> str:
    return store._conninfo


def test_bulk_writes_restore_every_index_and_constraint(pg):
    def schema():
        with raw(pg_url_of(pg)) as con:
            idx = con.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'incidents' "
                "AND schemaname = current_schema()"
            ).fetchall()
            cons = con.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = 'incidents'::regclass"
            ).fetchall()
        return sorted(idx), sorted(cons)

    before = schema()
    grids = square_grids(4)
    pg.insert("grids", grids)
    big = random_incidents(3000, grids, seed=5)
    assert pg.insert("incidents", big) == 3000
    assert schema() == before
    codes = pg.read("incidents")["grid_code"]
    from gridmap.spatial import locate

    expected = locate(big.geometry, grids)
    assert codes.tolist() == expected.tolist()


def test_sql_and_python_locate_agree_on_ties(pg, monkeypatch):
    from gridmap.stores import postgis

    grids = gpd.GeoDataFrame(
        {"code": ["B2", "A1", "C3"]},
        geometry=[box(0, 0, 2, 2), box(1, 1, 3, 3), box(2, 0, 4, 2)],
        crs=4326,
    )
    pg.insert("grids", grids)
    pts = gpd.GeoSeries(
        [Point(1.5, 1.5), Point(0.5, 0.5), Point(2, 1), Point(2, 2), Point(9, 9), None], crs=4326
    )
    sql_codes = pg.locate(pts)
    monkeypatch.setattr(postgis, "SQL_LOCATE_ROWS", 0)
    python_codes = pg.locate(pts)
    assert sql_codes.tolist()[:4] == ["A1", "B2", "A1", "A1"]
    assert pd.isna(sql_codes.iloc[4]) and pd.isna(sql_codes.iloc[5])
    assert sql_codes.fillna("-").tolist() == python_codes.fillna("-").tolist()


# -- bbox -----------------------------------------------------------------------------------------
def test_bbox_queries_match_shapely_and_use_the_index(pg):
    grids = square_grids(5)
    pg.insert("grids", grids)
    pg.insert("incidents", random_incidents(500, grids, seed=9))
    incidents = pg.read("incidents")
    for bbox in [(116.385, 39.855, 116.402, 39.872), (116.38, 39.85, 116.43, 39.90), (0, 0, 1, 1)]:
        window = shapely.box(*bbox)
        assert sorted(pg.read("incidents", bbox=bbox)["id"]) == sorted(
            incidents[incidents.intersects(window)]["id"]
        )
        assert sorted(pg.read("grids", bbox=bbox)["code"]) == sorted(
            grids[grids.intersects(window)]["code"]
        )
    with raw(pg_url_of(pg)) as con:
        con.execute("SET enable_seqscan = off")
        plan = "\n".join(
            r[0]
            for r in con.execute(
                "EXPLAIN SELECT id FROM incidents WHERE geom && ST_MakeEnvelope(0, 0, 1, 1, 4326)"
            )
        )
    assert "incidents_geom" in plan


# -- constraints ----------------------------------------------------------------------------------
BAD_SQL = {
    "priority": "INSERT INTO incidents (id, category, reported_at, priority, geom) VALUES "
    "('X1', 'E0102', now(), 7, 'SRID=4326;POINT(116.4 39.9)')",
    "status": "INSERT INTO incidents (id, category, reported_at, status, geom) VALUES "
    "('X1', 'E0102', now(), 'lost', 'SRID=4326;POINT(116.4 39.9)')",
    "category": "INSERT INTO incidents (id, category, reported_at, geom) VALUES "
    "('X1', 'ZZ99', now(), 'SRID=4326;POINT(116.4 39.9)')",
    "range": "INSERT INTO incidents (id, category, reported_at, geom) VALUES "
    "('X1', 'E0102', now(), 'SRID=4326;POINT(216.4 39.9)')",
    "duplicate": "INSERT INTO incidents (id, category, reported_at, geom) VALUES "
    "('I000000', 'E0102', now(), 'SRID=4326;POINT(116.4 39.9)')",
    "invalid grid": "INSERT INTO grids (code, geom) VALUES "
    "('X', 'SRID=4326;MULTIPOLYGON(((0 0,1 1,1 0,0 1,0 0)))')",
    "wrong type": "INSERT INTO incidents (id, category, reported_at, geom) VALUES "
    "('X1', 'E0102', now(), 'SRID=4326;LINESTRING(0 0,1 1)')",
    "wrong srid": "INSERT INTO incidents (id, category, reported_at, geom) VALUES "
    "('X1', 'E0102', now(), 'SRID=3857;POINT(0 0)')",
    "blank key": "INSERT INTO workers (id) VALUES ('')",
    "negative": "INSERT INTO demand (id, kind, weight, geom) VALUES "
    "('d', 'courier', -1, 'SRID=4326;POINT(0 0)')",
}


@pytest.mark.parametrize("case", list(BAD_SQL))
def test_constraints_reject_bad_rows_written_with_raw_sql(pg, case):
    pg.insert("grids", square_grids())
    pg.insert("incidents", random_incidents(2, square_grids()))
    before = {name: pg.count(name) for name in LAYERS}
    with raw(pg_url_of(pg)) as con, pytest.raises(psycopg.Error) as err:
        con.execute(BAD_SQL[case])
    assert isinstance(err.value, psycopg.errors.IntegrityError | psycopg.errors.DataError)
    assert {name: pg.count(name) for name in LAYERS} == before


def test_the_store_rejects_bad_rows_before_the_database(pg):
    pg.insert("grids", square_grids())
    bad = random_incidents(3, square_grids()).assign(priority=[1, 7, 2])
    with pytest.raises(ValidationError, match="row 1: priority"):
        pg.insert("incidents", bad)
    assert pg.count("incidents") == 0


def test_database_refusals_become_clear_errors_and_nothing_is_written(pg, monkeypatch):
    pg.insert("grids", square_grids())
    with raw(pg_url_of(pg)) as con:  # a category the catalog has but this database lost
        con.execute("DELETE FROM gridmap_categories WHERE code = 'H05'")
    rows = random_incidents(40, square_grids()).assign(category="H05")
    with pytest.raises(
        ValidationError, match=r"rejected by the database.*incidents_category_known"
    ):
        pg.insert("incidents", rows)
    assert pg.count("incidents") == 0
    pg.insert("incidents", random_incidents(3, square_grids()).assign(category="E0102"))
    monkeypatch.setattr(PostGISStore, "_keys", lambda self, tx, spec: set())  # a racing writer
    with pytest.raises(ConflictError, match="already exists"):
        pg.insert("incidents", random_incidents(3, square_grids(), seed=2))
    assert pg.count("incidents") == 3


# -- concurrency ----------------------------------------------------------------------------------
def _dispatch_worker(url, barrier, worker, expected, rounds, out):
    store = open_store(url)
    try:
        version = store.get("incidents", "I000000")["version"] if expected else None
        barrier.wait(timeout=60)
        for _ in range(rounds):
            try:
                store.transition(
                    "I000000", "dispatch", actor=worker, worker_id=worker, expected_version=version
                )
                out.put((worker, "ok"))
            except ConflictError as exc:
                out.put((worker, f"conflict: {exc}"))
    finally:
        store.close()


def _run_workers(url, expected, rounds):
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [
        ctx.Process(target=_dispatch_worker, args=(url, barrier, w, expected, rounds, out))
        for w in ("w1", "w2")
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in range(2 * rounds)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return results


@pytest.fixture
def one_case(pg):
    pg.insert("grids", square_grids())
    pg.insert("workers", pd.DataFrame({"id": ["w1", "w2"]}))
    pg.insert("incidents", random_incidents(1, square_grids()))
    pg.transition("I000000", "register", actor="op")
    return pg


def test_two_processes_with_the_same_version_one_wins(one_case):
    results = _run_workers(pg_url_of(one_case), expected=True, rounds=1)
    outcomes = sorted(r for _, r in results)
    assert outcomes[1] == "ok"
    assert outcomes[0].startswith("conflict: ") and "changed by someone else" in outcomes[0]
    winner = next(w for w, r in results if r == "ok")
    row = one_case.get("incidents", "I000000")
    assert row["worker_id"] == winner and row["version"] == 3


def test_two_processes_never_lose_an_update(one_case):
    rounds = 15
    results = _run_workers(pg_url_of(one_case), expected=False, rounds=rounds)
    assert all(r == "ok" for _, r in results)
    row = one_case.get("incidents", "I000000")
    assert row["version"] == 2 + 2 * rounds
    history = one_case.history("I000000")
    assert history["seq"].tolist() == list(range(2 + 2 * rounds))


def test_threads_share_one_store(one_case):
    errors = []

    def reader():
        try:
            for _ in range(5):
                assert one_case.count("incidents") == 1
                assert len(one_case.read("grids", bbox=(116.38, 39.88, 116.39, 39.89))) >= 1
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# -- copies ---------------------------------------------------------------------------------------
def test_copy_both_ways_keeps_everything(pg, pg_databases, tmp_path):
    source = GeoPackageStore(tmp_path / "source.gpkg")
    fill(source)
    source.transition("I000001", "reject", actor="op", note="重复")
    source.transition(
        "I000000",
        "extend",
        actor="w1",
        deadline=source.get("incidents", "I000000")["deadline"] + pd.Timedelta(hours=3),
        at=source.get("incidents", "I000000")["reported_at"],
    )
    counts = copy_store(source, pg)
    assert counts["incidents"] == 30 and counts["incident_history"] == 4
    same_rows(source, pg)
    back = GeoPackageStore(tmp_path / "back.gpkg")
    assert copy_store(pg, back) == counts
    same_rows(source, back)
    with pytest.raises(ConflictError, match="not empty"):
        copy_store(source, pg)
    assert copy_store(source, pg, replace=True) == counts
    for store in (source, back):
        store.close()


def test_a_failed_copy_keeps_the_target(pg, tmp_path, monkeypatch):
    source = GeoPackageStore(tmp_path / "source.gpkg")
    fill(source)
    pg.insert("grids", square_grids(2))
    monkeypatch.setattr(PostGISStore, "_append_history", lambda *a: None)  # loses rows
    with pytest.raises(StoreError, match="lost rows"):
        copy_store(source, pg, replace=True)
    assert pg.count("grids") == 4 and pg.count("incidents") == 0
    source.close()


def test_cli_db_copy_and_errors(pg_url, tmp_path, capsys):
    gpkg = str(tmp_path / "a.gpkg")
    store = GeoPackageStore(gpkg)
    fill(store)
    store.close()
    assert main(["db", "copy", "--from", gpkg, "--to", pg_url]) == 0
    back = str(tmp_path / "b.gpkg")
    assert main(["--store", pg_url, "db", "copy", "--to", back]) == 0
    out = capsys.readouterr().out
    assert "counts verified" in out and "incidents" in out
    secret = conninfo_to_dict(pg_url).get("password")
    assert not secret or secret not in out
    assert main(["db", "copy", "--from", gpkg, "--to", pg_url]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["db", "copy", "--from", gpkg, "--to", pg_url, "--replace"]) == 0


def test_a_dsn_that_cannot_connect_is_a_store_error(capsys):
    url = "postgresql://gridmap:secret@127.0.0.1:1/nowhere?connect_timeout=2"
    with pytest.raises(StoreError, match="cannot connect to PostgreSQL") as err:
        open_store(url)
    assert "secret" not in str(err.value)
    assert main(["--store", url, "stats"]) == 2
    err_text = capsys.readouterr().err
    assert err_text.startswith("gridmap: error: cannot connect") and "Traceback" not in err_text


def test_unknown_layer_and_missing_rows(pg):
    with pytest.raises(NotFoundError):
        pg.layer_info("nope")
    with pytest.raises(NotFoundError):
        pg.get("incidents", "none")
    assert pg.delete("incidents", []) == 0
    assert pg.read("grids").empty and pg.layer_info("grids").bbox is None


def test_binary_copy_encodes_every_type(pg_url):
    from gridmap.stores import pg_binary

    frame = pd.DataFrame(
        {
            "t": ["", "网格 ✓", None, "a\tb\n'\"\\"],
            "i": pd.array([0, -(2**62), None, 7], dtype="Int64"),
            "f": [0.5, -1e300, np.nan, 3.0],
            "ts": pd.to_datetime(
                ["2025-03-01T10:00:00.123456+08:00", "1970-01-01", None, "2099-12-31T23:59:59Z"],
                utc=True,
                format="ISO8601",
            ),
            "l": [["x", "网"], [], None, ["a,b", ""]],
        }
    )
    geoms = np.array(
        [Point(1, 2), None, box(0, 0, 1, 1), Point(3, 4)], dtype=object
    )  # mixed: the generic EWKB path
    points = np.array([Point(i, -i) for i in range(4)], dtype=object)  # the vectorised path
    columns = [
        pg_binary.text(frame["t"]),
        pg_binary.int8(frame["i"]),
        pg_binary.float8(frame["f"]),
        pg_binary.timestamptz(frame["ts"]),
        pg_binary.text_array(frame["l"]),
        pg_binary.geometry(geoms, 4326),
        pg_binary.geometry(points, 4326),
    ]
    with raw(pg_url) as con:
        con.execute(
            "CREATE TABLE t (t text, i int8, f float8, ts timestamptz, l text[], "
            "g geometry(Geometry, 4326), p geometry(Point, 4326))"
        )
        with con.cursor() as cur, cur.copy("COPY t FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(pg_binary.SIGNATURE + pg_binary.rows(columns) + pg_binary.TRAILER)
        con.execute("SET TimeZone = 'UTC'")
        back = con.execute(
            "SELECT t, i, f, ts, l, ST_AsEWKT(g), ST_AsEWKT(p) FROM t ORDER BY ctid"
        ).fetchall()
    assert [r[0] for r in back] == ["", "网格 ✓", None, "a\tb\n'\"\\"]
    assert [r[1] for r in back] == [0, -(2**62), None, 7]
    assert [r[2] for r in back] == [0.5, -1e300, None, 3.0]
    stamps = [None if r[3] is None else pd.Timestamp(r[3]) for r in back]
    assert stamps == [None if pd.isna(t) else t.floor("ms") for t in frame["ts"]]
    assert [r[4] for r in back] == [["x", "网"], [], None, ["a,b", ""]]
    assert [r[5] for r in back] == [
        "SRID=4326;POINT(1 2)",
        None,
        "SRID=4326;POLYGON((1 0,1 1,0 1,0 0,1 0))",
        "SRID=4326;POINT(3 4)",
    ]
    assert [r[6] for r in back] == [f"SRID=4326;POINT({i} {-i})" for i in range(4)]


def test_a_role_that_does_not_own_the_tables_can_use_the_store(pg_url):

    role = f"gridmap_app_{abs(hash(pg_url)) % 10**8}"
    params = conninfo_to_dict(pg_url)
    schema = params["options"].rpartition("search_path=")[2].partition(",")[0]
    with raw(pg_url) as con:
        try:
            con.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'app'")
        except psycopg.errors.InsufficientPrivilege as exc:
            _needs_rights(f"the test server's user cannot create roles: {exc}")
        con.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
        con.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}"
        )
    app_url = url_from_params({**params, "user": role, "password": "app"})
    try:
        store = open_store(app_url, create=False)  # an up-to-date schema needs no DDL right
        grids = square_grids(4)
        store.insert("grids", grids)
        big = random_incidents(2500, grids, seed=4)  # bulk-sized, written row by row
        assert store.insert("incidents", big) == 2500
        assert store.insert("incidents", big.iloc[:10], replace=True) == 10  # DELETE, no TRUNCATE
        assert store.count("incidents") == 10
        store.transition("I000000", "register", actor="app")
        store.close()
    finally:
        with raw(pg_url) as con:
            con.execute(f"DROP OWNED BY {role}")
            con.execute(f"DROP ROLE {role}")


@pytest.mark.slow
def test_demo_in_postgis_copied_to_a_geopackage_and_back(pg_url, pg_databases, tmp_path, capsys):
    from gridmap.stats import store_stats

    assert main(["--store", pg_url, "demo"]) == 0
    gpkg = str(tmp_path / "demo.gpkg")
    again = pg_databases.create()
    try:
        assert main(["db", "copy", "--from", pg_url, "--to", gpkg]) == 0
        assert main(["db", "copy", "--from", gpkg, "--to", again]) == 0
        capsys.readouterr()
        stores = [open_store(url) for url in (pg_url, gpkg, again)]
        stats = [store_stats(s) for s in stores]
        boxes = []
        for s in stats:
            s.pop("store")
            boxes.append([info.pop("bbox") for info in s["layers"].values()])
        assert stats[0] == stats[1] == stats[2]
        for box_pg, box_gpkg in zip(boxes[0], boxes[1], strict=True):  # R*Tree: float32
            assert box_pg == pytest.approx(box_gpkg, abs=1e-5)
        assert boxes[0] == boxes[2]
        assert stats[0]["layers"]["incidents"]["count"] > 1000
        same_rows(stores[0], stores[2])
        for store in stores:
            store.close()
    finally:
        pg_databases.drop(again)
