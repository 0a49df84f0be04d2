"""Solver robustness: runs that hit their time limit, the web workers meanwhile, infeasibility.

The service runs in its own process (``tests.reliability.serve``, with a 2 s job time limit) on a
GeoPackage store holding 4,000 courier demand points and 500 candidate sites: a p-center run
with p = 25 on it cannot be proven optimal in 2 s. The run must finish near its time limit with
its best solution, status FEASIBLE, and the bound and gap it proved. While two such runs take
both job threads, other requests (a static answer, an Open311 report, a read of the store) must
answer about as fast as before. An infeasible request (LSCP with a radius no candidate reaches
from some demand point; more new sites than candidates) is refused at once with 422 and the
reason, and starts no job.

The solver's behaviour does not depend on the store, so this runs on the GeoPackage only.
"""

from __future__ import annotations

import http.client
import json
import threading
import time

import geopandas as gpd
import numpy as np
import pytest

from gridmap import accounts
from gridmap.stores import open_store
from tests.reliability.harness import (
    FORM,
    REPORTS,
    Server,
    percentile,
    prepare_intake,
    report_form,
)

JOB_SECONDS = 2.0
#: A run may overrun its limit by this much (reading, ranking and metrics after the solve).
OVERRUN_S = 3.0
DEMAND, SITES, P = 4000, 500, 25


def prepare(url: str) -> tuple[dict[str, str], str]:
    """Fill the store; return a planner's and a dispatcher's tokens, and a citizen's API key."""
    api_key = prepare_intake(url)
    rng = np.random.default_rng(7)
    store = open_store(url)
    try:
        x0, y0 = 116.38, 39.80  # the 20 x 20 grids of prepare_intake, 0.1 degree a side
        demand = gpd.GeoDataFrame(
            {
                "id": [f"D{i:05d}" for i in range(DEMAND)],
                "kind": "courier",
                "weight": rng.uniform(1, 10, DEMAND),
            },
            geometry=gpd.points_from_xy(
                x0 + rng.random(DEMAND) * 0.1, y0 + rng.random(DEMAND) * 0.1
            ),
            crs="EPSG:4326",
        )
        store.insert("demand", demand)
        sites = gpd.GeoDataFrame(
            {"id": [f"S{i:04d}" for i in range(SITES)], "kind": "red_home"},
            geometry=gpd.points_from_xy(x0 + rng.random(SITES) * 0.1, y0 + rng.random(SITES) * 0.1),
            crs="EPSG:4326",
        )
        store.insert("sites", sites)
        tokens = {}
        for role in ("planner", "dispatcher"):
            accounts.create_user(store, role, role, "solver-password")
            tokens[role] = accounts.sign_in(store, role, "solver-password")[0]
        return tokens, api_key
    finally:
        store.close()


class Client:
    """A keep-alive JSON client of the service."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.con = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def call(self, method: str, path: str, body=None, headers=None) -> tuple[int, object, float]:
        began = time.perf_counter()
        payload = body if isinstance(body, bytes) or body is None else json.dumps(body)
        extra = {"Content-Type": "application/json"} if isinstance(body, dict) else {}
        self.con.request(method, path, payload, {**self.headers, **extra, **(headers or {})})
        response = self.con.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None, time.perf_counter() - began


def probe(port: int, api_key: str, stop: threading.Event, out: dict[str, list[float]]) -> None:
    """Send a static request, an Open311 report and a store read in turn until ``stop``."""
    client = Client(port)
    n = 0
    while not stop.is_set():
        n += 1
        status, _, seconds = client.call("GET", "/api/workflow")
        assert status == 200
        out["workflow"].append(seconds)
        headers = {**FORM, "Idempotency-Key": f"probe-{id(out)}-{n}"}
        status, _, seconds = client.call(
            "POST", REPORTS, report_form(api_key, n, f"probe{id(out)}"), headers
        )
        assert status == 201
        out["report"].append(seconds)
        status, _, seconds = client.call("GET", "/collections/sites/items?limit=10")
        assert status == 200
        out["read"].append(seconds)


def measure(port: int, api_key: str, seconds: float | None, until=None) -> list[float]:
    """Return the latencies of the probe requests over ``seconds`` (or until ``until()``)."""
    out: dict[str, list[float]] = {"workflow": [], "report": [], "read": []}
    stop = threading.Event()
    thread = threading.Thread(target=probe, args=(port, api_key, stop, out), daemon=True)
    thread.start()
    end = time.monotonic() + (seconds or 120)
    while time.monotonic() < end and not (until and until()):
        time.sleep(0.02)
    stop.set()
    thread.join(60)
    return out["workflow"] + out["report"] + out["read"]


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    folder = tmp_path_factory.mktemp("solver")
    url = str(folder / "solver.gpkg")
    tokens, api_key = prepare(url)
    server = Server(
        url,
        folder / "serve.log",
        module="tests.reliability.serve",
        extra=("--job-seconds", str(JOB_SECONDS), "--threads", "8"),
    )
    with server:
        yield server, tokens, api_key


def wait_job(client: Client, job_id: str, timeout: float = 120) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        status, job, _ = client.call("GET", f"/api/jobs/{job_id}")
        assert status == 200
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s")


@pytest.mark.slow
def test_runs_at_their_time_limit_keep_their_best_and_block_no_worker(service, figures):
    server, tokens, api_key = service
    planner = Client(server.port, tokens["planner"])
    before = measure(server.port, api_key, 4.0)
    body = {"model": "pcenter", "kind": "red_home", "p": P, "demand": "courier"}
    began = time.monotonic()
    started = [planner.call("POST", "/api/siting", body) for _ in range(2)]
    for status, job, seconds in started:
        assert status == 202, job
        assert seconds < 5.0, f"starting a run took {seconds:.1f} s"
    ids = [job["id"] for _, job, _ in started]
    watcher = Client(server.port, tokens["planner"])

    def finished() -> bool:
        return all(watcher.call("GET", f"/api/jobs/{i}")[1]["status"] == "done" for i in ids)

    during = measure(server.port, api_key, None, until=finished)
    jobs = [wait_job(planner, i) for i in ids]
    took = time.monotonic() - began
    for job in jobs:
        assert job["status"] == "done", job["error"]
        result = job["result"]
        assert result["status"] == "FEASIBLE", "solved to optimality: make the instance harder"
        assert result["bound"] < result["objective"]
        gap = (result["objective"] - result["bound"]) / result["objective"]
        assert result["gap"] == pytest.approx(gap)
        assert len(result["suggestions"]) == P
    figures(
        f"2 p-center runs ({DEMAND} demand x {SITES} sites, p={P}) at a {JOB_SECONDS:g} s "
        f"limit: {jobs[0]['result']['status']}, objective {jobs[0]['result']['objective']:g} m, "
        f"bound {jobs[0]['result']['bound']:g} m, gap {jobs[0]['result']['gap']:.1%}; both (on "
        f"the 2 job threads at once) done {took:.1f} s after they were started"
    )
    figures(
        f"other requests before the runs: {len(before)}, p50 {percentile(before, 50) * 1000:.0f}"
        f" ms, p95 {percentile(before, 95) * 1000:.0f} ms; while they ran: {len(during)}, p50 "
        f"{percentile(during, 50) * 1000:.0f} ms, p95 {percentile(during, 95) * 1000:.0f} ms, "
        f"max {max(during) * 1000:.0f} ms"
    )
    assert took < JOB_SECONDS + OVERRUN_S + 5.0, f"the runs took {took:.1f} s"
    assert len(during) >= 6, "hardly any request was answered while the runs went on"
    assert percentile(during, 95) < max(1.0, 5 * percentile(before, 95))
    assert max(during) < 3.0


@pytest.mark.slow
@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        (
            {"model": "lscp", "kind": "red_home", "radius_m": 20, "demand": "courier"},
            "radius_m",
            "nearest candidate",
        ),
        ({"model": "mclp", "kind": "red_home", "p": SITES + 1, "demand": "courier"}, "p", "only"),
        ({"model": "pmedian", "kind": "red_home", "demand": "courier"}, "p", "new sites"),
    ],
)
def test_infeasible_requests_are_422_with_the_reason(service, figures, body, field, reason):
    server, tokens, _ = service
    planner = Client(server.port, tokens["planner"])
    status, answer, seconds = planner.call("POST", "/api/siting", body)
    assert status == 422, answer
    assert answer["description"].startswith(f"{field}:"), answer
    assert any(reason in r for r in answer.get("reasons", [])) or reason in answer["description"]
    figures(f"{body['model']}: 422 in {seconds * 1000:.0f} ms: {answer['description'][:150]}")


@pytest.mark.slow
@pytest.mark.parametrize("limit", ["ten", 0, -1, True, None])
def test_a_dispatch_time_limit_that_is_no_duration_is_422(service, limit):
    server, tokens, _ = service
    dispatcher = Client(server.port, tokens["dispatcher"])
    status, answer, _ = dispatcher.call("POST", "/api/dispatch", {"time_limit": limit})
    assert status == 422 and answer["description"].startswith("time_limit:"), answer
