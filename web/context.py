"""What every handler is given: the service's settings, its store and its background jobs."""

from __future__ import annotations

from dataclasses import dataclass

from gridmap.stores.base import Store
from web.config import Config
from web.jobs import Jobs


@dataclass(frozen=True)
class Context:
    """The running service's settings, store and jobs (one per :func:`web.app.create_app`)."""

    config: Config
    store: Store
    jobs: Jobs
