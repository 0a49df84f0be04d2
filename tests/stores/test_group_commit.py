"""Group commit: concurrent writes share transactions; one refused write fails alone."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager

import pytest

from gridmap.stores.group_commit import GroupCommit


class Table:
    """A real SQLite table with a unique column, counting its commits."""

    def __init__(self, path):
        self.con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.con.execute("CREATE TABLE t (x INTEGER UNIQUE)")
        self.commits = 0
        self.fail_commit = False
        self.lock = threading.Lock()

    @contextmanager
    def transaction(self):
        with self.lock:
            self.con.execute("BEGIN IMMEDIATE")
            try:
                yield self.con
                if self.fail_commit:
                    raise sqlite3.OperationalError("disk I/O error")
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            self.con.execute("COMMIT")
            self.commits += 1

    @staticmethod
    @contextmanager
    def savepoint(tx):
        tx.execute("SAVEPOINT w")
        try:
            yield
        except BaseException:
            tx.execute("ROLLBACK TO w")
            tx.execute("RELEASE w")
            raise
        tx.execute("RELEASE w")

    @staticmethod
    def write(tx, x):
        tx.execute("INSERT INTO t VALUES (?)", (x,))
        return x * 10

    def rows(self):
        return sorted(x for (x,) in self.con.execute("SELECT x FROM t"))


def run_together(group, items):
    results, start = [None] * len(items), threading.Barrier(len(items))

    def one(n, x):
        start.wait()
        try:
            results[n] = group.submit(x)
        except Exception as exc:
            results[n] = exc

    threads = [threading.Thread(target=one, args=(n, x)) for n, x in enumerate(items)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_writes_share_commits_and_a_refused_one_fails_alone(tmp_path):
    table = Table(tmp_path / "t.db")
    group = GroupCommit(table.transaction, table.savepoint, table.write)
    items = [*range(40), 7]  # 7 twice: the second is refused by the unique index
    results = run_together(group, items)
    assert table.rows() == list(range(40))
    assert table.commits < 40  # writes arriving together were committed together
    sevens = [results[7], results[-1]]
    assert sorted(type(r).__name__ for r in sevens) == ["IntegrityError", "int"]
    assert sorted(r for r in results if isinstance(r, int)) == [x * 10 for x in range(40)]


def test_a_failed_commit_fails_every_write_of_the_batch(tmp_path):
    table = Table(tmp_path / "t.db")
    group = GroupCommit(table.transaction, table.savepoint, table.write)
    table.fail_commit = True
    results = run_together(group, list(range(10)))
    assert all(isinstance(r, sqlite3.OperationalError) for r in results)
    assert table.rows() == []
    table.fail_commit = False
    assert group.submit(99) == 990
    with pytest.raises(sqlite3.IntegrityError):
        group.submit(99)
    assert table.rows() == [99]
