"""Stores: where GridMap's layers live. :func:`open_store` picks the backend from the URL."""

from __future__ import annotations

import os
from pathlib import Path

from gridmap.errors import StoreError
from gridmap.stores.base import BaseStore, LayerInfo, Store

DEFAULT_STORE = "gridmap.gpkg"

__all__ = ["DEFAULT_STORE", "BaseStore", "LayerInfo", "Store", "open_store", "store_url"]


def store_url(url: str | Path | None = None) -> str:
    """Return the store URL to use: the argument, else ``GRIDMAP_STORE``, else ``gridmap.gpkg``."""
    return str(url or os.environ.get("GRIDMAP_STORE") or DEFAULT_STORE)


def open_store(url: str | Path | None = None, *, create: bool = True) -> Store:
    """Open the store at ``url``: a ``.gpkg`` path or a ``postgresql://`` URL.

    Raises
    ------
    StoreError
        If the URL names no backend GridMap has.
    """
    url = store_url(url)
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from gridmap.stores.postgis import PostGISStore
        except ImportError:
            raise StoreError("this GridMap has no PostGIS backend yet") from None
        return PostGISStore(url, create=create)
    if url.endswith(".gpkg"):
        from gridmap.stores.geopackage import GeoPackageStore

        return GeoPackageStore(url, create=create)
    raise StoreError(f"{url!r} is neither a .gpkg file nor a postgresql:// URL")
