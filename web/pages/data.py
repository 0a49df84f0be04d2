"""What the role pages read from the store, and how they know it has not changed.

A page is a function of a few layers. Small layers (grids, workers, stations, sites, demand,
the open cases) are read on every request and fingerprinted by content (:func:`digest`); the
whole incidents layer and its history (100,000 cases take seconds to read) by two cheap counts
(:func:`incidents_fingerprint`). A built page is reused while its fingerprints hold
(:mod:`web.pages.cache`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import geopandas as gpd
import pandas as pd
import shapely

from gridmap.stats import data_as_of
from gridmap.stores.base import Store
from web.maps.aggregate import feature_collection, light_grids
from web.maps.attribution import osm_attribution
from web.pages.cache import cached, known, refresh

__all__ = [
    "Snapshot",
    "as_of",
    "basemap",
    "data_note",
    "digest",
    "incidents_fingerprint",
    "prewarm",
    "read_ahead",
    "snapshot",
]

#: Stores with this many cases or more are read ahead (:func:`prewarm`) and judged at an
#: estimated instant until the exact one is known (:func:`as_of`).
LARGE = 20_000
#: The exact instant of a large store is computed this many seconds after the estimate is used.
ESTIMATE_DELAY_S = 3.0


def incidents_fingerprint(store: Store) -> tuple[int, int]:
    """Return ``(number of cases, sum of their versions)``, from a few counting queries.

    Every change of a case (a workflow step, an edit) raises its version by one, so the sum
    changes with every write; adding or removing cases changes the count. The sum is counted
    as the number of cases with version >= 1, plus those with version >= 2, and so on.
    """
    total = store.count("incidents")
    versions, level = 0, 1
    while True:
        n = store.count("incidents", where={"version": slice(level, None)})
        if n == 0 or level > 10_000:
            break
        versions += n
        level += 1
    return total, versions


def digest(*frames: pd.DataFrame | None) -> str:
    """Return a fingerprint of the content of frames (attributes and geometries)."""
    h = hashlib.blake2b(digest_size=16)
    for frame in frames:
        if frame is None:
            h.update(b"none")
            continue
        h.update(f"{len(frame)}:{','.join(map(str, frame.columns))}".encode())
        geometry = frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else None
        plain = frame.drop(columns=[geometry]) if geometry else frame
        for column in plain.columns:
            h.update(_column_hash(plain[column]))
        if geometry:
            wkb = shapely.to_wkb(frame.geometry.to_numpy(), hex=False)
            h.update(b"".join(b if b is not None else b"-" for b in wkb))
    return h.hexdigest()


def _column_hash(values: pd.Series) -> bytes:
    """Return the hash of a column's values (as text when they are lists or other objects)."""
    try:
        hashed = pd.util.hash_pandas_object(values, index=False)
    except TypeError:  # unhashable values (lists of skills or grid codes)
        hashed = pd.util.hash_pandas_object(values.astype(str), index=False)
    return hashed.to_numpy().tobytes()


@dataclass(frozen=True)
class Snapshot:
    """Every case and transition of a store, read at once, and the instant they are judged at."""

    incidents: gpd.GeoDataFrame
    history: pd.DataFrame
    as_of: pd.Timestamp


def snapshot(store: Store, fingerprint: tuple[int, int] | None = None) -> Snapshot:
    """Return the store's cases and history (reused while :func:`incidents_fingerprint` holds)."""
    fingerprint = fingerprint or incidents_fingerprint(store)

    return cached(store, ("snapshot",), fingerprint, lambda: _snapshot_now(store))


def as_of(store: Store, estimate: Callable[[], pd.Timestamp] | None = None) -> pd.Timestamp:
    """Return the instant the store's data is judged at (:func:`gridmap.stats.data_as_of`).

    It needs every case and transition. A slow store answers with the instant of its
    previous state while the new one is computed in the background (a workflow step moves it
    rarely, and by little); a store of :data:`LARGE` cases or more asked for the first time
    answers with ``estimate()`` meanwhile, when given.
    """
    fingerprint = incidents_fingerprint(store)

    def make() -> pd.Timestamp:
        return snapshot(store, fingerprint).as_of

    if estimate is not None and fingerprint[0] >= LARGE and not known(store, ("as_of",)):
        refresh(store, ("as_of",), fingerprint, make, delay=ESTIMATE_DELAY_S)
        return estimate()
    return cached(store, ("as_of",), fingerprint, make, stale_ok=True)


def prewarm(store: Store) -> None:
    """Start reading a store of :data:`LARGE` cases or more in the background, if not read yet.

    Called when someone opens the sign-in form: the official's page is quick once they are in.
    """
    fingerprint = incidents_fingerprint(store)
    if fingerprint[0] < LARGE:
        return
    if not known(store, ("snapshot",), fingerprint):
        refresh(store, ("snapshot",), fingerprint, lambda: _snapshot_now(store))


def read_ahead(store: Store) -> int:
    """Prepare what the first pages after a start need; return the cases read ahead.

    The grids are simplified for the maps (:func:`web.maps.aggregate.light_grids`, remembered
    per geometry); a store of :data:`LARGE` cases or more also has its cases and their history
    read into the page cache (0 is returned for a smaller one). Called before the service
    listens, so that the first pages are built from memory.
    """
    feature_collection(light_grids(store.read("grids"), {}))
    fingerprint = incidents_fingerprint(store)
    if fingerprint[0] < LARGE:
        return 0
    snapshot(store, fingerprint)
    return fingerprint[0]


def _snapshot_now(store: Store) -> Snapshot:
    incidents = store.read("incidents")
    history = store.history()
    return Snapshot(incidents, history, data_as_of(_Known(history), incidents))


class _Known:
    """A store stand-in whose history is already read (for :func:`data_as_of`)."""

    def __init__(self, history: pd.DataFrame) -> None:
        self._history = history

    def history(self, incident_id: str | None = None) -> pd.DataFrame:
        return self._history


#: Attribution of OpenStreetMap tiles when the configuration gives none.
OSM_TILES = "© OpenStreetMap contributors"


def basemap(tiles: str | None, attribution: str | None) -> tuple[str | None, str | None]:
    """Return the basemap ``(tiles, attribution)``: none by default, OSM's when unattributed."""
    if not tiles:
        return None, None
    return tiles, attribution or OSM_TILES


def data_note(store: Store, layers: tuple[str, ...]) -> str | None:
    """Return the OpenStreetMap attribution when one of ``layers`` holds OSM data, else None."""
    return osm_attribution(store.layer_info(name).description for name in layers)
