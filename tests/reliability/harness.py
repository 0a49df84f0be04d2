"""What the reliability tests share: a `gridmap serve` process to kill, a load generator, checks.

:class:`Server` runs the service in its own process (``gridmap serve``, or
``tests.reliability.serve`` when a test needs other settings) and can kill it with SIGKILL and
start it again on the same port. :class:`IntakeLoad` posts Open311 reports from keep-alive
clients, each report with its own ``Idempotency-Key``; a report whose answer is lost (connection
reset, refused, timed out) or refused with 503 is sent again, unchanged, until it is
acknowledged (201 new, 200 repeat). :func:`exactly_once` then compares what was acknowledged
with what the store holds.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gridmap.accounts import create_key
from gridmap.stores import open_store
from tests.conftest import square_grids

ROOT = Path(__file__).resolve().parents[2]
CATEGORIES = ("E0102", "E0201", "C0104", "H05")
REPORTS = "/open311/v2/requests.json"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_intake(url: str) -> str:
    """Fill a store with 400 grids (a 20 x 20 block) and return a new citizen API key."""
    store = open_store(url)
    try:
        store.insert("grids", square_grids(20, size=0.005))
        return create_key(store, "citizen")
    finally:
        store.close()


class Server:
    """The web service in its own process, on a fixed port, that can be killed and restarted.

    Parameters
    ----------
    store : str
        The store's path or URL.
    log : Path
        File collecting the server's output (every start appends to it).
    extra : list of str
        More options (``--threads 8``...).
    module : str
        ``gridmap.cli`` (``gridmap serve``) or ``tests.reliability.serve``.
    """

    def __init__(
        self, store: str, log: Path, *, extra: tuple[str, ...] = (), module: str = "gridmap.cli"
    ) -> None:
        self.store, self.log, self.extra, self.module = store, log, list(extra), module
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self, timeout: float = 60.0) -> float:
        """Start the service and wait until it answers; return the seconds it took."""
        began = time.monotonic()
        command = [sys.executable, "-m", self.module]
        command += ["serve"] if self.module == "gridmap.cli" else []
        command += ["--store", self.store, "--port", str(self.port), *self.extra]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self.starts += 1
        end = began + timeout
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited:\n{self.tail()}")
            try:
                con = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                con.request("GET", "/api/workflow")
                if con.getresponse().status == 200:
                    con.close()
                    return time.monotonic() - began
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"the server did not answer within {timeout:g} s:\n{self.tail()}")

    def kill(self) -> None:
        """Kill the service with SIGKILL (no clean-up of any kind) and reap it."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        """Stop the service (SIGTERM, then SIGKILL) if it runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def report_form(api_key: str, i: int, prefix: str) -> bytes:
    """Return report ``i``'s form body: every report differs (place, text, device)."""
    rng = np.random.default_rng(i)
    return urllib.parse.urlencode(
        {
            "api_key": api_key,
            "service_code": CATEGORIES[i % len(CATEGORIES)],
            "lat": f"{39.90 - rng.random() * 0.1:.6f}",
            "long": f"{116.38 + rng.random() * 0.1:.6f}",
            "description": f"reliability report {prefix}-{i}",
            "device_id": f"device-{prefix}-{i % 13}",
            "email": f"r{i}@example.cn",
        }
    ).encode()


@dataclass
class IntakeLoad:
    """Post ``n`` reports, each with its own Idempotency-Key, until every one is acknowledged.

    Clients (threads with one keep-alive connection each) take the next report not yet
    acknowledged; a lost answer or a 503 puts it back to be sent again, unchanged, after a
    short pause. Every other answer is recorded as unexpected.
    """

    port: int
    api_key: str
    n: int
    clients: int = 8
    prefix: str = "k"
    retry_pause: float = 0.05
    acked: dict[str, tuple[str, int, float]] = field(default_factory=dict)  # key: id, status, t
    sent: int = 0  # requests that reached the server (answered, or answer lost)
    lost_answers: int = 0  # sent, then the connection broke before the answer: sent again
    refused: int = 0  # connection refused (the server was restarting): tried again
    unavailable: list[tuple[float, float]] = field(default_factory=list)  # 503: (t, seconds)
    bad_503: list[str] = field(default_factory=list)  # 503 without JSON body or Retry-After
    unexpected: Counter = field(default_factory=Counter)  # status -> count (never acceptable)
    conflicting_acks: list[str] = field(default_factory=list)  # one key, two different ids
    attempts: Counter = field(default_factory=Counter)  # key -> times sent

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._todo = list(range(self.n))[::-1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def key(self, i: int) -> str:
        return f"{self.prefix}-{i:05d}"

    def start(self) -> None:
        """Start the clients (they run until every report is acknowledged or :meth:`stop`)."""
        for c in range(self.clients):
            thread = threading.Thread(target=self._client, daemon=True, name=f"intake-{c}")
            thread.start()
            self._threads.append(thread)

    def wait(self, timeout: float) -> bool:
        """Wait for every report to be acknowledged; return whether they were."""
        end = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, end - time.monotonic()))
        done = len(self.acked) == self.n
        self.stop()
        return done

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)

    def count(self) -> int:
        with self._lock:
            return len(self.acked)

    def _next(self) -> int | None:
        with self._lock:
            return self._todo.pop() if self._todo else None

    def _again(self, i: int) -> None:
        with self._lock:
            self._todo.insert(0, i)

    def _client(self) -> None:
        con = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        while not self._stop.is_set():
            i = self._next()
            if i is None:
                with self._lock:
                    if len(self.acked) == self.n:
                        break
                time.sleep(0.02)  # others hold the last reports: they may come back
                continue
            key = self.key(i)
            headers = {**FORM, "Idempotency-Key": key}
            began = time.monotonic()
            try:
                con.request("POST", REPORTS, report_form(self.api_key, i, self.prefix), headers)
                response = con.getresponse()
                data = response.read()
            except ConnectionRefusedError:  # nothing listens (restarting): nothing was sent
                with self._lock:
                    self.refused += 1
                con.close()
                self._again(i)
                time.sleep(self.retry_pause * 2)
                continue
            except (OSError, http.client.HTTPException):  # sent, but the answer was lost
                with self._lock:
                    self.lost_answers += 1
                    self.sent += 1
                    self.attempts[key] += 1
                con.close()
                con = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
                self._again(i)
                time.sleep(self.retry_pause)
                continue
            now = time.monotonic()
            with self._lock:
                self.sent += 1
                self.attempts[key] += 1
            if response.status in (200, 201):
                incident = json.loads(data)[0]["service_request_id"]
                with self._lock:
                    earlier = self.acked.get(key)
                    if earlier is not None and earlier[0] != incident:
                        self.conflicting_acks.append(key)
                    self.acked[key] = (incident, response.status, now)
            elif response.status == 503:
                with self._lock:
                    self.unavailable.append((now, now - began))
                    if not _json_error(data) or not response.getheader("Retry-After"):
                        self.bad_503.append(data[:200].decode(errors="replace"))
                self._again(i)
                time.sleep(self.retry_pause * 2)
            else:
                with self._lock:
                    self.unexpected[response.status] += 1
                    self.acked[key] = ("", response.status, now)  # never retried: a failure
        con.close()


def _json_error(data: bytes) -> bool:
    try:
        body = json.loads(data)
    except ValueError:
        return False
    first = body[0] if isinstance(body, list) and body else body
    return isinstance(first, dict) and "description" in first


@dataclass(frozen=True)
class Tally:
    """What the store holds against what was acknowledged."""

    acknowledged: int  # reports answered 201/200
    stored: int  # incidents stored from these reports
    lost: int  # acknowledged but not stored, or stored under another id
    duplicates: int  # a report stored more than once, or one id given for two reports
    repeats: int  # final answer 200: stored by an earlier attempt whose answer was lost or 503

    def line(self) -> str:
        return (
            f"acknowledged {self.acknowledged}, stored {self.stored}, lost {self.lost}, "
            f"duplicates {self.duplicates}; {self.repeats} answered 200 on a retry (stored by an "
            "earlier attempt whose answer was lost or a 503)"
        )


def exactly_once(url: str, load: IntakeLoad) -> Tally:
    """Compare the acknowledged reports with the store's incidents and intake records."""
    store = open_store(url)
    try:
        records = store.records("requests")
        incidents = set(store.read("incidents")["id"])
    finally:
        store.close()
    by_key: dict[str, list[str]] = defaultdict(list)
    for record in records:
        if record["request_key"]:
            by_key[record["request_key"]].append(record["incident_id"])
    acked = {k: v for k, v in load.acked.items() if v[1] in (200, 201)}
    lost = sum(1 for k, (i, _, _) in acked.items() if i not in incidents or by_key.get(k) != [i])
    ids = Counter(i for i, _, _ in acked.values())
    ours = [k for k in by_key if k.startswith(f"{load.prefix}-")]
    stored = [i for k in ours for i in by_key[k]]
    duplicates = (
        sum(len(v) - 1 for k, v in by_key.items() if k in ours)
        + sum(c - 1 for c in ids.values())
        + len(load.conflicting_acks)
        + (len(stored) - len(set(stored)))
    )
    repeats = sum(1 for _, status, _ in acked.values() if status == 200)
    return Tally(len(acked), len(set(stored) & incidents), lost, duplicates, repeats)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def timed(call: Callable[[], object]) -> float:
    began = time.perf_counter()
    call()
    return time.perf_counter() - began
