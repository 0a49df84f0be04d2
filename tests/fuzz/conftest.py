"""Shared pieces of the fuzz tests: what a store holds, and the figures each test reports.

Every fuzz test counts what it sent (files imported, requests made, statuses seen) and records
the figures with :func:`record_figures`: printed (``pytest -rA`` shows them) and merged into
``artifacts/fuzz_figures.json`` under the test's name, so one run of the suite leaves every figure
in one file whichever xdist worker ran the test.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from gridmap.model import LAYERS, TABLES

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
FIGURES = ARTIFACTS / "fuzz_figures.json"
#: Every table a write may touch: the layers, the transition history and the plain tables.
COUNTED = (*LAYERS, "incident_history", *TABLES)


@pytest.fixture(params=["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def store_url(request, tmp_path) -> str:
    """Return the URL of a fresh, empty store of each backend."""
    if request.param == "postgis":
        return request.getfixturevalue("pg_url")
    return str(tmp_path / "fuzz.gpkg")


class RowCounts:
    """Count the rows of every table straight from the database, past the store's own code.

    A second connection (read-only for a GeoPackage) sees only committed rows, so a write the
    store refused yet left behind, even in a table the store's API does not count, shows here.
    """

    def __init__(self, url: str) -> None:
        if url.startswith("postgresql"):
            self._con: Any = psycopg.connect(url, autocommit=True)
        else:
            self._con = sqlite3.connect(f"file:{url}?mode=ro", uri=True, isolation_level=None)

    def __call__(self) -> dict[str, int]:
        return {t: self._con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in COUNTED}

    def row(self, table: str, key: str, value: str) -> dict[str, Any] | None:
        """Return the stored values of one row (None when there is no such row)."""
        mark = "%s" if isinstance(self._con, psycopg.Connection) else "?"
        cursor = self._con.execute(f"SELECT * FROM {table} WHERE {key} = {mark}", (value,))
        rows = cursor.fetchall()
        if not rows:
            return None
        return dict(zip([c[0] for c in cursor.description], rows[0], strict=True))

    def close(self) -> None:
        self._con.close()


@pytest.fixture
def row_counts() -> Iterator[Any]:
    """Return a function opening a :class:`RowCounts` on a store's URL (closed afterwards)."""
    opened: list[RowCounts] = []

    def open_counts(url: str) -> RowCounts:
        opened.append(RowCounts(url))
        return opened[-1]

    yield open_counts
    for counts in opened:
        counts.close()


#: The figures summed over the tests (and their parts), per store and in all.
SUMMED = (
    "files",
    "requests_sent",
    "responses_5xx",
    "partial_writes",
    "rejected_writes_checked",
    "unexpected_exceptions",
)


def totals(known: dict[str, Any]) -> dict[str, Any]:
    """Return the figures of every test summed per store, and over both stores."""
    out: dict[str, Any] = {}
    for name, figures in known.items():
        if name in ("run", "totals"):
            continue
        for scope in (figures.get("store", "?"), "all"):
            summed = out.setdefault(scope, {})
            for key in SUMMED:
                if key in figures:
                    summed[key] = summed.get(key, 0) + figures[key]
    return out


def record_figures(test: str, figures: dict[str, Any], run: str) -> None:
    """Print a test's figures and merge them into ``artifacts/fuzz_figures.json``.

    ``run`` names the test session (the same in every xdist worker): figures of an earlier
    session are dropped, so the totals are those of this run.
    """
    print(f"\nfuzz figures of {test}:\n{json.dumps(figures, indent=1, sort_keys=True)}")
    ARTIFACTS.mkdir(exist_ok=True)
    with open(ARTIFACTS / ".fuzz_figures.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # xdist workers write the same file
        try:
            known = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
        except json.JSONDecodeError:
            known = {}
        if known.get("run") != run:
            known = {"run": run}
        known[test] = figures
        known["totals"] = totals(known)
        tmp = FIGURES.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known, indent=1, sort_keys=True) + "\n")
        tmp.replace(FIGURES)


@pytest.fixture
def record(testrun_uid):
    """Return a function recording a test's figures (see :func:`record_figures`)."""
    return lambda test, figures: record_figures(test, figures, testrun_uid)
