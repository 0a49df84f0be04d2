"""PostgreSQL restarted under load: 503 at once while it is down, back by itself, nothing lost.

`gridmap serve` runs on a throwaway durable cluster (fsync and synchronous commit on) while a
load generator posts 800 Open311 reports with Idempotency-Keys. The PostgreSQL server is
stopped twice under that load: once in ``immediate`` mode (a crash: recovery from the WAL on the
next start) and once in ``fast`` mode (an administrator's restart), each time for a few seconds.
While it is down every request must be answered 503 with a JSON error and Retry-After, quickly
(the store checks whether the server answers instead of waiting out its pool timeout); once it
is back the service must take reports again without being restarted; and every acknowledged
report must be stored exactly once.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from gridmap.errors import StoreError
from gridmap.stores.postgis import PostGISStore
from tests.pg_cluster import PgCluster, ServerUnavailable, url_from_params
from tests.reliability.harness import (
    IntakeLoad,
    Server,
    exactly_once,
    percentile,
    prepare_intake,
)

pytestmark = [pytest.mark.postgis, pytest.mark.slow]

REPORTS = 800
DOWN_S = 3.0
#: 503s must come at once, never after the pool's 30 s timeout.
MAX_503_S = 5.0
MAX_RECOVERY_S = 15.0


@pytest.fixture(scope="module")
def cluster():
    """A cluster of this module's own (it is stopped and started), durable like production."""
    try:
        cluster = PgCluster.start(durable=True)
    except (ServerUnavailable, OSError, psycopg.Error) as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostGIS tests need a server under CI: {exc}", pytrace=False)
        pytest.skip(f"no PostgreSQL + PostGIS server: {exc}")
    yield cluster
    cluster.stop()


def pg_stop(cluster: PgCluster, mode: str) -> None:
    cluster._pg_ctl("stop", "-m", mode, "-w", "-t", "60")


def pg_start(cluster: PgCluster) -> None:
    cluster._pg_ctl("start", "-w", "-t", "60", "-l", str(cluster.root / "server.log"))


def new_database(cluster: PgCluster, name: str) -> str:
    with psycopg.connect(cluster.dsn(), autocommit=True) as con:
        con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return url_from_params({**conninfo_to_dict(cluster.dsn()), "dbname": name})


@pytest.fixture
def restart_url(cluster) -> str:
    return new_database(cluster, "restart")


def test_the_store_fails_fast_while_down_and_recovers_by_itself(cluster, figures):
    store = PostGISStore(new_database(cluster, "probe"), pool_size=2)
    try:
        assert store.count("grids") == 0
        pg_stop(cluster, "immediate")
        try:
            seconds = []
            for _ in range(5):
                began = time.monotonic()
                with pytest.raises(StoreError, match="cannot be reached"):
                    store.count("grids")
                seconds.append(time.monotonic() - began)
        finally:
            pg_start(cluster)
        up = time.monotonic()
        assert store.count("grids") == 0  # no restart of the store, no wait
        recovery = time.monotonic() - up
        # a busy pool (both connections held) is waited for, not mistaken for a server down
        hold = threading.Event()

        def holder() -> None:
            with store._transaction():
                hold.wait(3)

        threads = [threading.Thread(target=holder) for _ in range(2)]
        for thread in threads:
            thread.start()
        time.sleep(0.3)
        began = time.monotonic()
        threading.Timer(2.0, hold.set).start()
        assert store.count("grids") == 0
        waited = time.monotonic() - began
        for thread in threads:
            thread.join()
    finally:
        store.close()
    figures(
        f"store with the server down: first call failed in {seconds[0]:.2f} s, the next in "
        f"{max(seconds[1:]) * 1000:.0f} ms at most; first call after the restart answered in "
        f"{recovery * 1000:.0f} ms; a busy pool was waited for {waited:.1f} s and answered"
    )
    assert seconds[0] < MAX_503_S and max(seconds[1:]) < 0.5
    assert recovery < 5.0
    assert 1.5 < waited < 10


def api_get(port: int, path: str) -> tuple[int, dict, str | None, float]:
    """GET a JSON API path; return status, body, Retry-After and seconds."""
    began = time.monotonic()
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        con.request("GET", path)
        response = con.getresponse()
        body = json.loads(response.read())
        return response.status, body, response.getheader("Retry-After"), time.monotonic() - began
    finally:
        con.close()


def test_postgresql_restarts_under_load(cluster, restart_url, tmp_path, figures):
    api_key = prepare_intake(restart_url)
    server = Server(restart_url, tmp_path / "serve.log")
    server.start()
    load = IntakeLoad(server.port, api_key, REPORTS, clients=8, prefix="restart")
    began = time.monotonic()
    load.start()
    outages = []
    try:
        for mode, share in (("immediate", 0.2), ("fast", 0.55)):
            while load.count() < REPORTS * share:
                assert time.monotonic() - began < 200, f"stuck at {load.count()}"
                time.sleep(0.01)
            pg_stop(cluster, mode)
            down = time.monotonic()
            api = []
            while time.monotonic() - down < DOWN_S:
                api.append(api_get(server.port, "/collections/grids/items?limit=1"))
                time.sleep(0.2)
            pg_start(cluster)
            up = time.monotonic()
            while not any(t > up for _, _, t in list(load.acked.values())):
                assert time.monotonic() - up < 60, "the service did not recover in 60 s"
                time.sleep(0.01)
            first = min(t for _, _, t in list(load.acked.values()) if t > up)
            answers = [s for t, s in list(load.unavailable) if down <= t <= up]
            outages.append((mode, first - up, answers, api))
        done = load.wait(timeout=200)
    finally:
        load.stop()
        server.stop()
    tally = exactly_once(restart_url, load)
    for mode, recovery, answers, api in outages:
        figures(
            f"PostgreSQL stopped ({mode}) for {DOWN_S:g} s under load: {len(answers)} Open311 "
            f"503s (p50 {percentile(answers, 50) * 1000:.0f} ms, max "
            f"{percentile(answers, 100) * 1000:.0f} ms), JSON API "
            f"{[a[0] for a in api].count(503)}/{len(api)} 503s (max "
            f"{percentile([a[3] for a in api], 100) * 1000:.0f} ms); first report stored "
            f"{recovery:.2f} s after the server was back"
        )
    figures(
        f"{load.sent} requests sent for {REPORTS} reports, {load.lost_answers} answers lost, "
        f"{len(load.unavailable)} 503s in all; {tally.line()}"
    )
    assert done, f"only {load.count()} of {REPORTS} acknowledged:\n{server.tail()}"
    assert not load.unexpected, f"unexpected answers {dict(load.unexpected)}:\n{server.tail()}"
    assert not load.bad_503, load.bad_503[:3]
    for mode, recovery, answers, api in outages:
        assert answers, f"no 503 while PostgreSQL was down ({mode})"
        assert max(answers) < MAX_503_S, (mode, max(answers))
        assert recovery < MAX_RECOVERY_S, (mode, recovery)
        for status, body, retry_after, seconds in api:
            assert status == 503 and retry_after and body["code"] == "StoreError", body
            assert seconds < MAX_503_S
            assert "cannot be reached" in body["description"]
            assert "password" not in body["description"] or "***" in body["description"]
    assert tally.lost == 0
    assert tally.duplicates == 0
    assert tally.acknowledged == tally.stored == REPORTS
