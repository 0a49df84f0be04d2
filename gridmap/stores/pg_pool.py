"""The PostGIS store's connection pool, guarded so that a server that goes away fails fast.

When the server goes away (a restart, a crash, the network), the store fails fast and heals by
itself: a caller that waits more than :data:`PROBE_AFTER_S` for a pooled connection, or whose
connection broke, makes the store try one direct connection; if the server does not answer, the
store is marked down and every operation raises :class:`~gridmap.errors.StoreError` at once
(the web service answers 503) instead of waiting :data:`POOL_TIMEOUT_S` for the pool. The first
operation after the server answers again replaces the pool (whose own reconnection attempts back
off exponentially) with a fresh one. The URL's libpq ``connect_timeout`` bounds every connection
attempt (default :data:`~gridmap.stores.pg_connect.CONNECT_TIMEOUT_S`; at most
:data:`PROBE_TIMEOUT_S` for the check).
"""

from __future__ import annotations

import threading
import time
import weakref

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from gridmap.errors import StoreError
from gridmap.stores.pg_connect import (
    APPLICATION_NAME,
    CONNECT_TIMEOUT_S,
    configure,
    failure_reason,
)

POOL_SIZE = 10
#: Longest wait for a pooled connection while the server answers (every connection busy).
POOL_TIMEOUT_S = 30.0
#: A wait for a pooled connection longer than this checks that the server answers at all.
PROBE_AFTER_S = 1.0
#: The longest connect timeout of that check (the URL's ``connect_timeout`` when shorter).
PROBE_TIMEOUT_S = 3
#: A connection given back to the pool less than this long ago is lent again without asking the
#: server whether it is still there (a round trip per request under load); one broken meanwhile
#: fails its request, which then checks the server.
FRESH_S = 2.0
#: While the server is known to be down, it is tried again at most this often; callers in
#: between fail at once with the last reason.
PROBE_EVERY_S = 0.2


class GuardedPool:
    """A :class:`psycopg_pool.ConnectionPool` that notices a server gone away and recovers.

    Parameters
    ----------
    conninfo : str
        The ``postgresql://`` URL.
    url : str
        The URL as shown in messages (without password).
    size : int
        Most connections open at once.
    timeout : float
        Longest wait for a free connection while the server answers.
    """

    def __init__(self, conninfo: str, url: str, *, size: int, timeout: float) -> None:
        self._conninfo = conninfo
        self._url = url
        self._size = size
        self._timeout = float(timeout)
        given = conninfo_to_dict(conninfo).get("connect_timeout")
        self._connect_timeout = int(given) if given else CONNECT_TIMEOUT_S
        self._pool: ConnectionPool | None = None
        self._pool_errors = 0
        self._pool_lock = threading.Lock()
        self._health_lock = threading.Lock()
        self._down_reason: str | None = None  # why the server was last found unreachable
        self._last_probe = 0.0
        self._returned: weakref.WeakKeyDictionary[psycopg.Connection, float] = (
            weakref.WeakKeyDictionary()
        )

    def _get(self) -> ConnectionPool:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ConnectionPool(
                    self._conninfo,
                    min_size=1,
                    max_size=self._size,
                    kwargs={
                        "application_name": APPLICATION_NAME,
                        "connect_timeout": self._connect_timeout,
                    },
                    configure=configure,
                    check=self._check,  # drop connections a restart broke
                    reset=self._given_back,
                    timeout=self._timeout,
                    name="gridmap",
                    open=True,
                )
                self._pool_errors = 0  # failed connection attempts of this pool seen so far
            return self._pool

    def _check(self, con: psycopg.Connection) -> None:
        """Check a connection about to be lent, unless it was given back moments ago."""
        if time.monotonic() - self._returned.get(con, float("-inf")) >= FRESH_S:
            ConnectionPool.check_connection(con)

    def _given_back(self, con: psycopg.Connection) -> None:
        self._returned[con] = time.monotonic()

    def _probe(self) -> str | None:
        """Try one direct connection; return why the server cannot be used, or None."""
        self._last_probe = time.monotonic()
        try:
            psycopg.connect(
                self._conninfo,
                connect_timeout=min(self._connect_timeout, PROBE_TIMEOUT_S),
                application_name=APPLICATION_NAME,
            ).close()
        except psycopg.Error as exc:
            return failure_reason(exc)
        return None

    def _unavailable(self, reason: str) -> StoreError:
        return StoreError(f"{self._url}: the database server cannot be reached: {reason}")

    def check_server(self) -> StoreError | None:
        """Return why the store is down after a broken connection, or None if the server answers.

        A server that does not answer marks the store down (see :meth:`_recover`).
        """
        reason = self._probe()
        if reason is None:
            return None
        with self._health_lock:
            self._down_reason = reason
        return self._unavailable(reason)

    def _recover(self) -> None:
        """While the server is known down: fail at once, or start afresh once it answers.

        Raises
        ------
        StoreError
            If the server still does not answer (tried at most every :data:`PROBE_EVERY_S`).
        """
        with self._health_lock:
            reason = self._down_reason
            if reason is None:
                return
            if time.monotonic() - self._last_probe < PROBE_EVERY_S:
                raise self._unavailable(reason)
            reason = self._probe()
            if reason is not None:
                self._down_reason = reason
                raise self._unavailable(reason)
            self._reset_pool()
            self._down_reason = None

    def _reset_pool(self) -> None:
        """Replace the pool: its broken connections and backed-off reconnections go with it.

        Connections in use finish their work and are closed when given back; callers waiting
        for one of the old pool's connections take one of the new pool's instead.
        """
        with self._pool_lock:
            old, self._pool = self._pool, None
        if old is not None:
            old.close(timeout=1.0)

    def checkout(self) -> tuple[ConnectionPool, psycopg.Connection]:
        """Return a pooled connection, failing fast when the server does not answer.

        Raises
        ------
        StoreError
            If the server cannot be reached, or no connection came free within the pool
            timeout (every connection busy).
        """
        self._recover()
        deadline = time.monotonic() + self._timeout
        while True:
            pool = self._get()
            left = deadline - time.monotonic()
            try:
                return pool, pool.getconn(timeout=max(0.01, min(PROBE_AFTER_S, left)))
            except PoolClosed:  # replaced meanwhile: wait for the new pool instead
                if left <= 0:
                    raise self._busy() from None
                continue
            except PoolTimeout:
                pass
            reason = self._probe()
            if reason is not None:
                with self._health_lock:
                    self._down_reason = reason
                raise self._unavailable(reason) from None
            errors = pool.get_stats().get("connections_errors", 0)
            if errors > self._pool_errors and self._pool is pool:
                # the server answers but this pool failed to connect since the last look: it
                # may be backing off for many seconds; a fresh pool connects at once
                self._pool_errors = errors
                self._reset_pool()
            elif time.monotonic() >= deadline:
                raise self._busy()

    def _busy(self) -> StoreError:
        return StoreError(
            f"{self._url}: no database connection within {self._timeout:g} s "
            "(every connection of the pool busy)"
        )

    def close(self) -> None:
        """Close every connection."""
        with self._pool_lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None
