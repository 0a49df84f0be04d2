"""What every handler is given: the service's settings, its store, its jobs and key cache."""

from __future__ import annotations

from dataclasses import dataclass

from gridmap.stores.base import Store
from web.auth import KeyCache
from web.config import Config
from web.http import Route
from web.jobs import Jobs


@dataclass(frozen=True)
class Context:
    """The running service's settings, store, jobs, routes and key cache (one per app)."""

    config: Config
    store: Store
    jobs: Jobs
    keys: KeyCache
    routes: tuple[Route, ...] = ()
