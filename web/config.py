"""Settings of one running web service (built by the caller, never at import time)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    """What :func:`web.app.create_app` needs.

    Parameters
    ----------
    store : str
        The store's path (``.gpkg``) or ``postgresql://`` URL.
    title : str
        The service's name on its landing page.
    max_body_bytes : int
        Larger request bodies are refused with 413.
    session_hours : float
        How long a sign-in lasts.
    default_items, max_items : int
        Page size of item lists when the client gives none, and the most it may ask for.
    jurisdiction_id : str
        The Open311 jurisdiction this service answers for (the city's web domain).
    tiles : str or None
        Basemap tile URL template for map pages (None: grid outlines only, works offline).
    tiles_attribution : str
        Attribution shown with the tiles.
    job_seconds : float
        Time limit of optimizer runs started from the web.
    key_cache_seconds : float
        How long an API key found good is believed without asking the store again: a key
        revoked by another process (``gridmap keys revoke``) stops working within this time.
    """

    store: str
    title: str = "GridMap"
    max_body_bytes: int = 1_000_000
    session_hours: float = 12.0
    default_items: int = 10
    max_items: int = 10_000
    jurisdiction_id: str = "gridmap.local"
    tiles: str | None = None
    tiles_attribution: str = ""
    job_seconds: float = 10.0
    key_cache_seconds: float = 10.0
