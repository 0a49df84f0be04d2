"""Races: 8 dispatchers working the same 100 incidents at once, over HTTP, on both stores.

Eight clients (threads, each signed in as its own dispatcher, each with its own keep-alive
connection to `gridmap serve`) read an incident and apply an action its state allows: register,
dispatch to a worker, reassign (dispatch again), return, accept, resolve, rework and close,
until every incident is closed. Half the time all clients go for the same incident at once;
after a success a client goes on with the same case half the time, from the row it was answered.
Dispatches always carry the ``expected_version`` the client read (as the dispatcher's screen
does); the other actions carry it three times in four, so that both the version check and the
state machine's row lock are raced. Every action carries a note unique to it.

The invariants, from :mod:`gridmap.workflow` and :meth:`Store.transition`:

1. History complete: each incident's history is ``seq`` 0 (the report), 1, 2, ... n with no gap,
   and the incident's ``version`` is ``1 + n`` and its status the last entry's ``to_status``.
2. Every step legal: entry k moves from entry k-1's ``to_status``, by an action whose sources
   (``TRANSITIONS``) include that state, to the action's target (its own state for none).
3. No transition lost, none invented: every 200 answer's note is in the history exactly once,
   as the entry that made the version the answer shows (``seq = version - 1``) with the same
   action and state; every refused action (409) left no entry; there are no other entries.
4. Never assigned twice: replaying the history with each dispatch's worker, a dispatch from
   ``registered`` (a new assignment) only happens when nobody holds the case, a dispatch from
   ``dispatched`` (a reassignment) replaces the holder, a return releases it, and ``accept``,
   ``resolve``, ``rework`` and ``close`` only happen while someone holds it; each 200 answer
   shows the holder of that moment and the stored ``worker_id`` is the final holder. No two
   actions conditioned on the same version of an incident both succeed.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass

import geopandas as gpd
import pytest

from gridmap import accounts
from gridmap.stores import open_store
from gridmap.workflow import TRANSITIONS
from tests.conftest import square_grids
from tests.dispatch_helpers import incident, worker
from tests.reliability.harness import Server

CLIENTS = 8
INCIDENTS = 100
WORKERS = [f"W{i}" for i in range(1, 7)]
SEED = int(os.environ.get("GRIDMAP_RACE_SEED", "8"))
TIME_BUDGET_S = 120.0
#: state -> weighted actions a dispatcher picks from (forward steps more often).
CHOICES = {
    "received": [("register", 1.0)],
    "registered": [("dispatch", 1.0)],
    "dispatched": [("accept", 0.6), ("dispatch", 0.25), ("return", 0.15)],
    "handling": [("resolve", 0.8), ("return", 0.2)],
    "resolved": [("close", 0.8), ("rework", 0.2)],
}


@dataclass(frozen=True)
class Op:
    """One action a client sent, and what it was answered."""

    note: str
    incident: str
    action: str
    worker: str | None
    expected: int | None
    status: int
    body: dict


@pytest.fixture(params=["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def race_url(request, tmp_path) -> str:
    if request.param == "postgis":
        return request.getfixturevalue("pg_url")
    return str(tmp_path / "races.gpkg")


def prepare(url: str) -> list[str]:
    """Fill the store (grids, workers, 100 received incidents); return 8 dispatchers' tokens."""
    store = open_store(url)
    try:
        store.insert("grids", square_grids(3))
        rows = [worker(w, [i % 9, (i + 4) % 9], ["sanitation"]) for i, w in enumerate(WORKERS)]
        store.insert("workers", gpd.GeoDataFrame(rows, crs="EPSG:4326"))
        cases = [
            incident(f"I{i:03d}", "E0102", grid=i % 9, status="received") for i in range(INCIDENTS)
        ]
        store.insert("incidents", gpd.GeoDataFrame(cases, crs="EPSG:4326"))
        tokens = []
        for c in range(CLIENTS):
            accounts.create_user(store, f"dispatcher{c}", "dispatcher", "race-password")
            tokens.append(accounts.sign_in(store, f"dispatcher{c}", "race-password")[0])
        return tokens
    finally:
        store.close()


class Dispatcher(threading.Thread):
    """One dispatcher: read an incident, apply an action its state allows, again and again."""

    def __init__(self, c: int, port: int, token: str, shared: dict) -> None:
        super().__init__(daemon=True, name=f"dispatcher-{c}")
        self.c, self.port, self.shared = c, port, shared
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.rng = random.Random(SEED * 1000 + c)
        self.ops: list[Op] = []
        self.reads: Counter = Counter()

    def call(self, con, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        con.request(method, path, None if body is None else json.dumps(body), self.headers)
        response = con.getresponse()
        return response.status, json.loads(response.read())

    def run(self) -> None:
        con = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        closed: set[str] = self.shared["closed"]
        n, row = 0, None
        while time.monotonic() < self.shared["deadline"]:
            if row is None:  # pick an incident and read it
                open_ = sorted(set(self.shared["ids"]) - closed)
                if not open_:
                    break
                if self.rng.random() < 0.5:  # everybody on the same incident at the same time
                    target = open_[int(time.monotonic() * 4) % len(open_)]
                else:
                    target = self.rng.choice(open_)
                status, row = self.call(con, "GET", f"/api/incidents/{target}")
                self.reads[status] += 1
                if status != 200:
                    row = None
                    continue
            if row["status"] not in CHOICES:
                closed.add(target)  # closed (set.add is atomic)
                row = None
                continue
            actions, weights = zip(*CHOICES[row["status"]], strict=True)
            action = self.rng.choices(actions, weights)[0]
            n += 1
            body = {"action": action, "note": f"c{self.c}-{n}"}
            if action == "dispatch":
                others = [w for w in WORKERS if w != row["worker_id"]]
                body["worker_id"] = self.rng.choice(others)
            if action == "dispatch" or self.rng.random() < 0.75:
                body["expected_version"] = row["version"]
            status, answer = self.call(con, "POST", f"/api/incidents/{target}/actions", body)
            self.ops.append(
                Op(
                    body["note"],
                    target,
                    action,
                    body.get("worker_id"),
                    body.get("expected_version"),
                    status,
                    answer,
                )
            )
            # after a success, go on with the same case half the time (its row is the answer)
            row = answer if status == 200 and self.rng.random() < 0.5 else None
        con.close()


def check(url: str, ops: list[Op]) -> dict[str, int]:
    """Check the four invariants of the module docstring; return figures."""
    store = open_store(url)
    try:
        rows = store.read("incidents").set_index("id")
        history = store.history()
    finally:
        store.close()
    by_note = {op.note: op for op in ops}
    ok = {op.note: op for op in ops if op.status == 200}
    seen: Counter = Counter()
    figures: Counter = Counter()
    for iid, steps in history.groupby("incident_id", sort=True):
        steps = steps.sort_values("seq")
        row = rows.loc[iid]
        # 1. complete: seq 0..n, version 1 + n, status = last to_status
        assert steps["seq"].tolist() == list(range(len(steps))), iid
        n = len(steps) - 1
        assert int(row["version"]) == 1 + n, (iid, row["version"], n)
        assert row["status"] == steps["to_status"].iloc[-1], iid
        holder = None
        previous = steps["to_status"].iloc[0]
        assert steps["action"].iloc[0] == "report" and previous == "received"
        for entry in steps.iloc[1:].itertuples():
            # 2. legal: from the previous state, by an action allowed there, to its target
            sources, target = TRANSITIONS[entry.action]
            assert entry.from_status == previous, (iid, entry)
            assert entry.from_status in sources, (iid, entry)
            assert entry.to_status == (target or entry.from_status), (iid, entry)
            previous = entry.to_status
            # 3. every entry is one successful action, with the version it made
            op = ok.get(entry.note)
            assert op is not None, f"{iid}: history entry {entry.note!r} no client was told of"
            seen[entry.note] += 1
            assert op.incident == iid and op.action == entry.action, (iid, entry, op)
            assert op.body["version"] == entry.seq + 1, (iid, entry, op.body["version"])
            assert op.expected in (None, entry.seq), (iid, entry, op.expected)
            assert op.body["status"] == entry.to_status, (iid, entry)
            # 4. one holder at a time
            if entry.action == "dispatch":
                if entry.from_status == "registered":
                    assert holder is None, f"{iid}: assigned to {op.worker} while {holder} held it"
                    figures["assignments"] += 1
                else:
                    assert holder is not None, iid
                    figures["reassignments"] += 1
                holder = op.worker
            elif entry.action == "return":
                assert holder is not None, iid
                holder = None
            elif entry.action in ("accept", "resolve", "rework", "close"):
                assert holder is not None, f"{iid}: {entry.action} with nobody holding it"
            assert op.body["worker_id"] == holder, (iid, entry, op.body["worker_id"], holder)
            figures["transitions"] += 1
        stored = row["worker_id"] if isinstance(row["worker_id"], str) else None
        assert stored == holder, (iid, stored, holder)
        figures["closed"] += row["status"] == "closed"
    # 3. no 200 missing from the history, none twice; no refused action left a trace
    assert set(seen) == set(ok), f"200s missing from the history: {sorted(set(ok) - set(seen))}"
    assert max(seen.values(), default=1) == 1
    refused = [op for op in ops if op.status != 200]
    assert not set(op.note for op in refused) & set(seen)
    statuses = Counter(op.status for op in ops)
    assert set(statuses) <= {200, 409}, statuses
    # 4. no two actions conditioned on the same version both won
    contests: dict[tuple[str, int], list[Op]] = defaultdict(list)
    for op in ops:
        if op.expected is not None:
            contests[(op.incident, op.expected)].append(op)
    for group in contests.values():
        assert sum(op.status == 200 for op in group) <= 1, group
    figures["contested versions"] = sum(len({o.note for o in g}) > 1 for g in contests.values())
    figures["dispatch races"] = sum(
        sum(o.action == "dispatch" for o in g) > 1 for g in contests.values()
    )
    figures["stale 409"] = sum(
        "changed by someone else" in op.body["description"] for op in refused
    )
    figures["illegal 409"] = sum("cannot" in op.body["description"] for op in refused)
    figures["actions"] = len(ops)
    figures["200"] = statuses[200]
    assert len(by_note) == len(ops)
    return dict(figures)


@pytest.mark.slow
def test_eight_dispatchers_race_on_the_same_incidents(race_url, tmp_path, figures):
    tokens = prepare(race_url)
    server = Server(race_url, tmp_path / "serve.log", extra=("--threads", "8"))
    server.start()
    shared = {
        "ids": [f"I{i:03d}" for i in range(INCIDENTS)],
        "closed": set(),
        "deadline": time.monotonic() + TIME_BUDGET_S,
    }
    clients = [Dispatcher(c, server.port, tokens[c], shared) for c in range(CLIENTS)]
    began = time.monotonic()
    try:
        for client in clients:
            client.start()
        for client in clients:
            client.join(TIME_BUDGET_S + 60)
    finally:
        server.stop()
    seconds = time.monotonic() - began
    ops = [op for client in clients for op in client.ops]
    reads = sum((client.reads for client in clients), Counter())
    found = check(race_url, ops)
    figures(
        f"{CLIENTS} dispatchers, {found['actions']} actions in {seconds:.1f} s "
        f"({reads[200]} reads): {found['200']} applied, {found['stale 409']} refused as stale "
        f"and {found['illegal 409']} as illegal in the state found; {found['contested versions']} "
        f"versions contested by several clients ({found['dispatch races']} with rival "
        f"dispatches), {found['assignments']} assignments, {found['reassignments']} "
        f"reassignments; {found['transitions']} history entries checked, {found['closed']}/"
        f"{INCIDENTS} closed; 0 lost, 0 assigned twice"
    )
    assert set(reads) == {200}, reads
    assert found["closed"] == INCIDENTS, "the clients ran out of time"
    assert found["contested versions"] > 0, "no race happened: the test proves nothing"
