"""Open311 intake under load: POSTs from a load generator against ``gridmap serve``.

Usage: .venv/bin/python benchmarks/bench_intake.py [--seconds S] [--clients C] [--dsn URL]
       [--stores gpkg,postgis]

For each store (GeoPackage, then PostGIS on a throwaway durable cluster unless ``--dsn``), the
benchmark starts ``gridmap serve`` (waitress) in its own process, then client processes post
form-encoded Open311 requests over keep-alive connections for ``--seconds``, each request a
different report. It prints requests/s, p50/p99 latency and errors, then checks that every
acknowledged request (201 with its id) is in the store exactly once. The reference is the same
number of ``Store.intake`` calls made directly in this process (no HTTP): the ratio shows what
the web layer costs. The machine's load average is printed before and after each run: on a
shared machine the figures only mean something next to it.

Goal: >= 300 requests/s sustained, p99 <= 100 ms, zero lost. Exits 1 if a goal or check fails.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import numpy as np
import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from bench_store_import import postgis_url  # noqa: E402

from gridmap.accounts import create_key  # noqa: E402
from gridmap.stores import open_store  # noqa: E402
from tests.conftest import square_grids  # noqa: E402

GOAL_RPS, GOAL_P99_MS = 300, 100
CATEGORIES = ["E0102", "E0201", "C0104", "H05"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(url: str) -> str:
    """Fill a store with 400 grids (a 20 x 20 block) and return a new API key."""
    store = open_store(url)
    store.insert("grids", square_grids(20, size=0.005))
    key = create_key(store, "citizen")
    store.close()
    return key


def form(key: str, rng: np.random.Generator, n: int, client: int) -> bytes:
    """Return one report's form body, different from every other."""
    return urllib.parse.urlencode(
        {
            "api_key": key,
            "service_code": CATEGORIES[n % len(CATEGORIES)],
            "lat": f"{39.90 - rng.random() * 0.1:.6f}",
            "long": f"{116.38 + rng.random() * 0.1:.6f}",
            "description": f"load test report {client}-{n}",
            "device_id": f"device-{client}",
            "email": f"c{client}@example.cn",
        }
    ).encode()


def client_run(port: int, key: str, seconds: float, client: int, out: mp.Queue) -> None:
    """Post reports on one keep-alive connection until time is up; report latencies and ids."""
    rng = np.random.default_rng(client)
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    latencies, ids, errors, n = [], [], {}, 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        body = form(key, rng, n, client)
        n += 1
        start = time.perf_counter()
        try:
            con.request("POST", "/open311/v2/requests.json", body, headers)
            response = con.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            con.close()
            con = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        latencies.append(time.perf_counter() - start)
        if response.status == 201:
            ids.append(json.loads(data)[0]["service_request_id"])
        else:
            errors[str(response.status)] = errors.get(str(response.status), 0) + 1
    out.put((latencies, ids, errors))


def load(port: int, key: str, seconds: float, clients: int) -> dict:
    """Run the clients (processes over both cores) and return the figures."""
    out: mp.Queue = mp.Queue()
    procs = [
        mp.Process(target=client_run, args=(port, key, seconds, c, out)) for c in range(clients)
    ]
    started = time.perf_counter()
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    wall = time.perf_counter() - started
    latencies = np.concatenate([np.array(r[0]) for r in results]) * 1000
    errors: dict[str, int] = {}
    for r in results:
        for k, v in r[2].items():
            errors[k] = errors.get(k, 0) + v
    ids = [i for r in results for i in r[1]]
    return {
        "requests": len(latencies),
        "rps": len(latencies) / min(wall, seconds + 1),
        "p50": float(np.percentile(latencies, 50)) if len(latencies) else float("nan"),
        "p99": float(np.percentile(latencies, 99)) if len(latencies) else float("nan"),
        "errors": errors,
        "ids": ids,
    }


def serve(url: str, port: int) -> subprocess.Popen:
    """Start ``gridmap serve`` and wait for its port; its log goes to a file (a pipe nobody
    reads would fill up and stall the server in a long run)."""
    log = tempfile.TemporaryFile()  # noqa: SIM115  (written by the server while it runs)
    process = subprocess.Popen(
        [sys.executable, "-m", "gridmap.cli", "serve", "--store", url, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    end = time.monotonic() + 60
    while time.monotonic() < end and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    process.wait(15)
    log.seek(0)
    raise RuntimeError(f"gridmap serve did not start: {log.read().decode(errors='replace')}")


def reference(url: str, n: int) -> float:
    """Return calls/s of ``Store.intake`` made directly (the same work without HTTP)."""
    store = open_store(url)
    rng = np.random.default_rng(99)
    start = time.perf_counter()
    for i in range(n):
        point = shapely.Point(116.38 + rng.random() * 0.1, 39.90 - rng.random() * 0.1)
        store.intake(
            {"category": CATEGORIES[i % 4], "description": f"ref {i}", "geometry": point},
            {"email": "ref@example.cn"},
        )
    seconds = time.perf_counter() - start
    store.close()
    return n / seconds


def check(url: str, ids: list[str]) -> tuple[int, int]:
    """Return (acknowledged requests missing from the store, stored twice)."""
    store = open_store(url)
    stored = store.read("incidents", where={"source": "open311"})["id"].tolist()
    store.close()
    missing = len(set(ids) - set(stored))
    return missing, len(stored) - len(set(stored))


def loadavg() -> str:
    """Return the 1, 5 and 15 minute load averages of the machine."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def bench(name: str, url: str, args: argparse.Namespace) -> bool:
    key = prepare(url)
    port = free_port()
    process = serve(url, port)
    before = loadavg()
    try:
        figures = load(port, key, args.seconds, args.clients)
    finally:
        after = loadavg()
        process.terminate()
        process.wait(15)
    missing, twice = check(url, figures["ids"])
    direct = reference(url, min(2000, max(200, figures["requests"] // 4)))
    errors = ", ".join(f"{k}: {v}" for k, v in figures["errors"].items()) or "none"
    print(
        f"{name:<10} {figures['requests']:>7} requests in {args.seconds:g} s: "
        f"{figures['rps']:7.1f} req/s, p50 {figures['p50']:6.1f} ms, p99 {figures['p99']:6.1f} ms; "
        f"errors: {errors}"
    )
    print(
        f"{'':<10} acknowledged {len(figures['ids'])}, lost {missing}, stored twice {twice}; "
        f"direct Store.intake {direct:7.1f} calls/s (HTTP / direct = {figures['rps'] / direct:.2f})"
    )
    held = (
        figures["rps"] >= GOAL_RPS
        and figures["p99"] <= GOAL_P99_MS
        and missing == 0
        and twice == 0
        and not figures["errors"]
    )
    print(
        f"{'':<10} goal (>= {GOAL_RPS} req/s, p99 <= {GOAL_P99_MS} ms, 0 lost): "
        f"{'held' if held else 'MISSED'}; load average {before} before, {after} at the end "
        f"({os.cpu_count()} cores)"
    )
    return held


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--dsn", help="a PostgreSQL server to use instead of a throwaway one")
    parser.add_argument(
        "--stores", default="gpkg,postgis", help="stores to measure (default gpkg,postgis)"
    )
    args = parser.parse_args()
    stores = {s.strip() for s in args.stores.split(",") if s.strip()}
    unknown = stores - {"gpkg", "postgis"}
    if unknown:
        parser.error(f"--stores: unknown {', '.join(sorted(unknown))} (gpkg, postgis)")
    print(
        f"Open311 intake: {args.clients} keep-alive clients for {args.seconds:g} s per store "
        f"({os.cpu_count()} cores, load average {loadavg()})"
    )
    ok = True
    if "gpkg" in stores:
        with tempfile.TemporaryDirectory() as tmp:
            ok &= bench("GeoPackage", str(Path(tmp) / "intake.gpkg"), args)
    if "postgis" in stores:
        with postgis_url(args.dsn) as url:
            ok &= bench("PostGIS", url, args)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
