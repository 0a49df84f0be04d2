"""Crash safety: `gridmap serve` killed with SIGKILL under Open311 load loses and repeats nothing.

A load generator posts 1,000 reports, each with its own Idempotency-Key, from 8 keep-alive
clients; the server is killed with SIGKILL at random moments (seeded: ``GRIDMAP_CRASH_SEED``)
and started again on the same port. Clients send every report whose answer was lost (reset,
refused) or 503 again with the same key, until it is acknowledged. Then every acknowledged
report must be in the store exactly once: under the id its answer gave, with one intake record
for its key, and no id given for two keys. A report that was stored but whose answer was lost in
the crash is answered 200 (the case already stored) when sent again, never stored twice.
"""

from __future__ import annotations

import os
import random
import time

import pytest

from tests.reliability.harness import IntakeLoad, Server, exactly_once, prepare_intake

REPORTS = 1000
CRASHES = 3
SEED = int(os.environ.get("GRIDMAP_CRASH_SEED", "20260108"))


@pytest.fixture(params=["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def intake_url(request, tmp_path) -> str:
    if request.param == "postgis":
        return request.getfixturevalue("pg_url")
    return str(tmp_path / "crash.gpkg")


@pytest.mark.slow
def test_sigkill_under_load_loses_and_repeats_nothing(intake_url, tmp_path, figures):
    api_key = prepare_intake(intake_url)
    rng = random.Random(SEED)
    thresholds = sorted(rng.sample(range(REPORTS // 10, REPORTS * 9 // 10), CRASHES))
    server = Server(intake_url, tmp_path / "serve.log")
    server.start()
    load = IntakeLoad(server.port, api_key, REPORTS, clients=8, prefix=f"crash{SEED}")
    began = time.monotonic()
    load.start()
    crashes, restarts = 0, []
    try:
        for threshold in thresholds:
            while load.count() < threshold:
                assert time.monotonic() - began < 240, f"stuck at {load.count()} acknowledged"
                time.sleep(0.002)
            time.sleep(rng.uniform(0.0, 0.03))  # a random moment, requests in flight
            server.kill()
            crashes += 1
            restarts.append(server.start())
        done = load.wait(timeout=240)
    finally:
        load.stop()
        server.stop()
    seconds = time.monotonic() - began
    tally = exactly_once(intake_url, load)
    figures(
        f"seed {SEED}: {load.sent} requests sent for {REPORTS} reports in {seconds:.1f} s, "
        f"{crashes} SIGKILLs survived (restart {sum(restarts) / len(restarts):.1f} s on "
        f"average), {load.lost_answers} connections broken before the answer and "
        f"{load.refused} refused (sent again), {len(load.unavailable)} 503s; {tally.line()}"
    )
    assert done, f"only {load.count()} of {REPORTS} acknowledged:\n{server.tail()}"
    assert not load.unexpected, f"unexpected answers {dict(load.unexpected)}:\n{server.tail()}"
    assert crashes == CRASHES
    assert tally.lost == 0
    assert tally.duplicates == 0
    assert tally.acknowledged == tally.stored == REPORTS
