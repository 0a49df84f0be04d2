"""A small cache of what the role pages compute, per store, keyed by the data's fingerprint.

Each value is made once per (key, fingerprint); a different fingerprint (the data changed)
makes it again. Two requests asking for the same value at once make it once (the second
waits). A slow value may be served stale while it is made again in the background.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from gridmap.stores.base import Store

__all__ = ["CACHE_SIZE", "MAX_AGE_S", "SLOW_S", "cached", "known", "refresh"]

log = logging.getLogger("gridmap.web.pages")
T = TypeVar("T")
#: Entries kept per store (pages x parameters x languages).
CACHE_SIZE = 24
#: Nothing is reused longer than this, whatever the fingerprints say (seconds).
MAX_AGE_S = 600.0
#: Values slower to make than this may be served stale while made again in the background.
SLOW_S = 0.5
#: Longest wait for a value another request is making (seconds).
WAIT_S = 300.0


class _Cache:
    """Entries of one store, least recently used first: key -> (fingerprint, value, made, s)."""

    def __init__(self) -> None:
        self.entries: OrderedDict[Hashable, tuple[Hashable, Any, float, float]] = OrderedDict()
        self.lock = threading.Lock()
        self.pending: dict[Hashable, threading.Event] = {}


_caches: weakref.WeakKeyDictionary[Any, _Cache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def _cache_of(store: Store) -> _Cache:
    with _caches_lock:
        found = _caches.get(store)
        if found is None:
            found = _caches[store] = _Cache()
        return found


def _entry(cache: _Cache, key: Hashable) -> tuple[Hashable, Any, float, float] | None:
    with cache.lock:
        entry = cache.entries.get(key)
        if entry is not None:
            cache.entries.move_to_end(key)
    if entry is not None and time.monotonic() - entry[2] >= MAX_AGE_S:
        return None
    return entry


def cached(
    store: Store,
    key: Hashable,
    fingerprint: Hashable,
    make: Callable[[], T],
    *,
    stale_ok: bool = False,
) -> T:
    """Return ``make()``, reusing the value made for the same ``key`` and ``fingerprint``.

    Parameters
    ----------
    store : Store
        The store the value is made from (each store has its own cache).
    key : hashable
        What the value is (page, parameters).
    fingerprint : hashable
        The state of the data it is made from; a different one makes it again.
    make : callable
        Makes the value.
    stale_ok : bool, default False
        Return an outdated value at once when making it took over :data:`SLOW_S` seconds,
        and make the new one in a background thread.

    Returns
    -------
    object
        The value.
    """
    cache = _cache_of(store)
    entry = _entry(cache, key)
    if entry is not None:
        if entry[0] == fingerprint:
            return entry[1]
        if stale_ok and entry[3] > SLOW_S:
            refresh(store, key, fingerprint, make)
            return entry[1]
    return _make(cache, key, fingerprint, make)


def known(store: Store, key: Hashable, fingerprint: Hashable | None = None) -> bool:
    """Return whether a value of ``key`` (made for ``fingerprint``, if given) is kept."""
    entry = _entry(_cache_of(store), key)
    return entry is not None and (fingerprint is None or entry[0] == fingerprint)


def refresh(
    store: Store,
    key: Hashable,
    fingerprint: Hashable,
    make: Callable[[], Any],
    *,
    delay: float = 0.0,
) -> None:
    """Make the value of ``key`` in a background thread (unless it is being made already).

    Parameters
    ----------
    store, key, fingerprint, make
        As for :func:`cached`.
    delay : float, default 0
        Seconds to wait first (let the request that asked finish: threads share one CPU).
    """
    cache = _cache_of(store)
    with cache.lock:
        if key in cache.pending:
            return
        pending = cache.pending[key] = threading.Event()

    def run() -> None:
        try:
            time.sleep(delay)
            _store(cache, key, fingerprint, make)
        except Exception:  # the next request makes it in the foreground and reports it
            log.warning("page cache: making %r in the background failed", key, exc_info=True)
        finally:
            with cache.lock:
                cache.pending.pop(key, None)
            pending.set()

    threading.Thread(target=run, name="gridmap-page-cache", daemon=True).start()


def _make(cache: _Cache, key: Hashable, fingerprint: Hashable, make: Callable[[], T]) -> T:
    with cache.lock:
        pending = cache.pending.get(key)
        mine = pending is None
        if mine:
            pending = cache.pending[key] = threading.Event()
    if not mine:  # someone is making it: wait, then take theirs if it is the one we need
        pending.wait(WAIT_S)
        entry = _entry(cache, key)
        if entry is not None and entry[0] == fingerprint:
            return entry[1]
        return _store(cache, key, fingerprint, make)
    try:
        return _store(cache, key, fingerprint, make)
    finally:
        with cache.lock:
            cache.pending.pop(key, None)
        pending.set()


def _store(cache: _Cache, key: Hashable, fingerprint: Hashable, make: Callable[[], T]) -> T:
    began = time.monotonic()
    value = make()
    done = time.monotonic()
    with cache.lock:
        cache.entries[key] = (fingerprint, value, done, done - began)
        cache.entries.move_to_end(key)
        while len(cache.entries) > CACHE_SIZE:
            cache.entries.popitem(last=False)
    return value
