"""What every handler is given: the service's settings, its store and its background jobs."""

from __future__ import annotations

from dataclasses import dataclass

from gridmap.stores.base import Store
from web.config import Config
from web.http import Route
from web.jobs import Jobs


@dataclass(frozen=True)
class Context:
    """The running service's settings, store, jobs and routes (one per :func:`web.app.create_app`)."""

    config: Config
    store: Store
    jobs: Jobs
    routes: tuple[Route, ...] = ()
