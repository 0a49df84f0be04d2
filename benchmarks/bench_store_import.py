"""Time a bulk import of incidents through ``Store.insert``: GeoPackage, then PostGIS.

Usage: .venv/bin/python benchmarks/bench_store_import.py [--points N] [--grids M] [--dsn URL]

Each store first gets M square grids, then one ``insert("incidents", frame)`` of N points:
validation, derived fields (each incident located in its grid, deadlines on the working
calendar), the write and the index rebuild, in one transaction. PostGIS runs on ``--dsn`` (or
``GRIDMAP_BENCH_PG_DSN``; a new database is created and dropped there) or else on a throwaway
cluster with default durability (fsync on) started for the run. ``geopandas.to_file`` of the same
frame is printed as a reference only: it neither validates, locates nor derives anything.

Goal: PostGIS imports >= 100,000 rows/s. Exits 1 if the goal or a check fails.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from bench_locate import make_grids, make_points  # noqa: E402

from gridmap.spatial import locate  # noqa: E402
from gridmap.stores import base, pg_copy, postgis  # noqa: E402
from gridmap.stores.geopackage import GeoPackageStore  # noqa: E402
from gridmap.stores.postgis import PostGISStore  # noqa: E402
from tests.pg_cluster import PgCluster, url_from_params  # noqa: E402

GOAL_ROWS_S = 100_000
WRAPPED = [
    (base, "check_rows"),
    (base.BaseStore, "_derive"),
    (postgis.PostGISStore, "_locate"),
    (pg_copy, "_copy"),
]
LABELS = [
    "validation (check_rows)",
    "derived fields (_derive, with locate)",
    "  of which locate (grids read + locate)",
    "binary COPY (encode and send, overlapped)",
]
CATEGORIES = ["E0102", "E0201", "C0104", "H05", "E0104", "C0101"]


def make_incidents(points: gpd.GeoDataFrame, seed: int = 7) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    n = len(points)
    start = pd.Timestamp("2025-03-03 08:00", tz="Asia/Shanghai")
    return gpd.GeoDataFrame(
        {
            "id": [f"I{i:07d}" for i in range(n)],
            "category": rng.choice(CATEGORIES, n),
            "source": rng.choice(["hotline", "app", "patrol"], n),
            "priority": rng.integers(1, 4, n),
            "reported_at": start + pd.to_timedelta(rng.integers(0, 90 * 86400, n), unit="s"),
        },
        geometry=points.geometry.values,
        crs=4326,
    )


class Phases:
    """Wall time spent in named functions during one import (wrapped for the run only)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._undo: list[Callable[[], None]] = []

    def wrap(self, owner: object, name: str, label: str) -> None:
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - start

        setattr(owner, name, timed)
        self._undo.append(lambda: setattr(owner, name, original))

    def restore(self) -> None:
        for undo in reversed(self._undo):
            undo()


@contextmanager
def postgis_url(dsn: str | None) -> Iterator[str]:
    """Yield the URL of a new, empty database (on ``dsn``'s server or a throwaway cluster)."""
    cluster = None
    if dsn is None:
        cluster = PgCluster.start(durable=True)
        dsn = cluster.dsn()
    params = conninfo_to_dict(dsn)
    name = f"gridmap_bench_{os.getpid()}"
    try:
        with psycopg.connect(dsn, autocommit=True) as con:
            con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield url_from_params({**params, "dbname": name})
        finally:
            with psycopg.connect(dsn, autocommit=True) as con:
                con.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
    finally:
        if cluster is not None:
            cluster.stop()


def timed_import(store, grids, incidents, phases: Phases | None = None) -> float:
    store.insert("grids", grids)
    start = time.perf_counter()
    store.insert("incidents", incidents)
    seconds = time.perf_counter() - start
    if phases is not None:
        phases.restore()
    return seconds


def check(store, incidents, expected_codes) -> bool:
    sample = np.random.default_rng(1).choice(len(incidents), 2000, replace=False)
    ids = incidents["id"].to_numpy()[sample].tolist()
    back = store.read("incidents", where={"id": ids}).set_index("id")
    codes = back.loc[ids, "grid_code"].fillna("").tolist()
    return (
        store.count("incidents") == len(incidents)
        and codes == expected_codes.fillna("").to_numpy()[sample].tolist()
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--grids", type=int, default=10_000)
    parser.add_argument("--dsn", default=os.environ.get("GRIDMAP_BENCH_PG_DSN"))
    args = parser.parse_args(argv)

    grids = make_grids(args.grids)
    incidents = make_incidents(make_points(args.points, grids))
    expected = locate(incidents.geometry, grids)
    n = len(incidents)
    print(f"{n:,} incidents into {args.grids:,} square grids, one Store.insert each")
    ok = True
    where = (
        "server at --dsn"
        if args.dsn
        else "throwaway PostgreSQL 15 cluster, default settings, fsync on"
    )
    with tempfile.TemporaryDirectory(prefix="gridmap-bench-") as tmp:
        gpkg = GeoPackageStore(Path(tmp) / "bench.gpkg")
        gpkg_s = timed_import(gpkg, grids, incidents)
        ok &= check(gpkg, incidents, expected)
        gpkg.close()

        with postgis_url(args.dsn) as url:
            store = PostGISStore(url)
            phases = Phases()
            for (owner, name), label in zip(WRAPPED, LABELS, strict=True):
                phases.wrap(owner, name, label)
            pg_s = timed_import(store, grids, incidents, phases)
            ok &= check(store, incidents, expected)
            sample = incidents.geometry.iloc[: postgis.SQL_LOCATE_ROWS]
            start = time.perf_counter()
            ok &= (
                store.locate(sample).fillna("").tolist()
                == expected[: len(sample)].fillna("").tolist()
            )
            sql_rate = len(sample) / (time.perf_counter() - start)
            store.close()

        start = time.perf_counter()
        incidents.to_file(Path(tmp) / "reference.gpkg", layer="incidents", engine="pyogrio")
        ref_s = time.perf_counter() - start

    rate = n / pg_s
    print(f"GeoPackage store : {gpkg_s:7.2f} s  {n / gpkg_s:>10,.0f} rows/s")
    print(f"PostGIS store    : {pg_s:7.2f} s  {rate:>10,.0f} rows/s")
    print(f"ratio            : {gpkg_s / pg_s:7.2f} (PostGIS rows/s / GeoPackage rows/s)")
    print(
        f"reference only, geopandas.to_file (no validation, no locate): {ref_s:.2f} s, "
        f"{n / ref_s:,.0f} rows/s"
    )
    print(f"PostGIS phases ({where}):")
    accounted = 0.0
    for label in LABELS:
        seconds = phases.seconds.get(label, 0.0)
        print(f"  {label:<42} {seconds:6.2f} s")
        accounted += 0 if label.startswith(" ") else seconds
    print(f"  {'other (keys, index rebuild, commit)':<42} {pg_s - accounted:6.2f} s")
    locate_s = phases.seconds.get(LABELS[2], 0.0)
    print(
        f"locate in SQL (ST_Covers, a GiST probe per point; used up to "
        f"{postgis.SQL_LOCATE_ROWS:,} rows): {sql_rate:,.0f} points/s; in bulk "
        f"(grids read in the transaction + gridmap.spatial.locate): "
        f"{n / locate_s if locate_s else float('nan'):,.0f} points/s"
    )
    print(f"rows and sampled grid codes correct in both stores: {ok}")
    held = rate >= GOAL_ROWS_S
    print(f"goal >= {GOAL_ROWS_S:,} rows/s on PostGIS: {'held' if held else 'MISSED'}")
    return 0 if ok and held else 1


if __name__ == "__main__":
    sys.exit(main())
