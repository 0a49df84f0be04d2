"""Group commit: writes that arrive together share one transaction and one disk flush.

A GeoPackage has one writer at a time and every commit waits for the disk (``fsync``), so
reports arriving together would queue behind each other's flush. Instead, the first caller
becomes the leader: it takes every write queued meanwhile, runs each in its own savepoint of
one transaction, commits once, and hands each caller its own result or error. A write refused
inside its savepoint is rolled back alone; a commit that fails fails every write of the batch,
so nothing is acknowledged that is not stored.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Most writes committed together (a bound on the leader's work and on one transaction).
MAX_BATCH = 64


class GroupCommit(Generic[T, R]):
    """Run ``write(tx, item)`` for items of concurrent callers in shared transactions.

    Parameters
    ----------
    transaction : callable
        Returns a context manager running its block in one transaction, yielding ``tx``.
    savepoint : callable
        ``savepoint(tx)`` returns a context manager: a savepoint rolled back when its block
        raises.
    write : callable
        ``write(tx, item)`` stores one item and returns its result.
    """

    def __init__(
        self,
        transaction: Callable[[], AbstractContextManager[Any]],
        savepoint: Callable[[Any], AbstractContextManager[Any]],
        write: Callable[[Any, T], R],
    ) -> None:
        self._transaction = transaction
        self._savepoint = savepoint
        self._write = write
        self._lock = threading.Lock()
        self._queue: list[tuple[T, Future[R]]] = []
        self._leading = False

    def submit(self, item: T) -> R:
        """Store ``item`` (with whatever else is queued) and return its result, or raise."""
        future: Future[R] = Future()
        with self._lock:
            self._queue.append((item, future))
            lead = not self._leading
            self._leading = True
        if lead:
            self._lead()
        return future.result()

    def _lead(self) -> None:
        while True:
            with self._lock:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                if not batch:
                    self._leading = False
                    return
            self._commit(batch)

    def _commit(self, batch: list[tuple[T, Future[R]]]) -> None:
        done: list[tuple[Future[R], R]] = []
        try:
            with self._transaction() as tx:
                for item, future in batch:
                    try:
                        with self._savepoint(tx):
                            done.append((future, self._write(tx, item)))
                    except Exception as exc:  # this write alone is refused
                        future.set_exception(exc)
        except BaseException as exc:  # the commit failed: nothing of the batch is stored
            for future, _ in done:
                future.set_exception(exc)
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for future, result in done:
            future.set_result(result)
