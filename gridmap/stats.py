"""Counts a planner or official reads first: rows per layer, incidents per grid, category, status."""

from __future__ import annotations

from typing import Any

import pandas as pd

from gridmap.catalog import categories
from gridmap.model import LAYERS
from gridmap.stores import Store
from gridmap.stores.base import utcnow
from gridmap.workflow import OPEN_STATES


def data_as_of(store: Store, incidents: pd.DataFrame | None = None) -> pd.Timestamp:
    """Return the instant a store's data is judged at: its latest report or transition, or now.

    A live store is judged now; a historical data set (whose last event lies in the past) as of
    its own end, so that deadlines and open cases read as they did then.

    Parameters
    ----------
    store : Store
        The store.
    incidents : pandas.DataFrame, optional
        The store's incidents, when already read (at least ``reported_at``).

    Returns
    -------
    pandas.Timestamp
        ``min(now, latest event)``, timezone-aware; now when the store holds no incident.
    """
    now = pd.Timestamp(utcnow())
    if incidents is None:
        incidents = store.read("incidents")
    if incidents.empty:
        return now
    latest = incidents["reported_at"].max()
    history = store.history()
    if len(history):
        latest = max(latest, history["at"].max())
    return min(now, latest)


def store_stats(store: Store) -> dict[str, Any]:
    """Return the store's counts as plain JSON-ready data.

    Returns
    -------
    dict
        ``layers`` (rows per layer, with whether the layer is simulated), and for incidents
        ``by_status``, ``by_category`` (with zh/en names), ``by_grid`` (all counts and open
        cases), ``outside_grids``, ``as_of`` (the latest report or transition, or now if
        sooner: a historical data set is judged as of its own end) and ``overdue_open`` (open
        cases past their deadline at ``as_of``).
    """
    layers = {}
    for name in LAYERS:
        info = store.layer_info(name)
        layers[name] = {"count": info.count, "simulated": info.simulated, "bbox": info.bbox}
    incidents = store.read("incidents")
    stats: dict[str, Any] = {"store": store.url, "layers": layers}
    if incidents.empty:
        return stats
    catalog = categories()
    open_ = incidents["status"].isin(OPEN_STATES)
    now = data_as_of(store, incidents)
    by_category = incidents["category"].value_counts()
    by_grid = incidents.groupby(incidents["grid_code"].fillna("")).agg(
        total=("id", "size"), open=("status", lambda s: int(s.isin(OPEN_STATES).sum()))
    )
    stats["incidents"] = {
        "by_status": {k: int(v) for k, v in incidents["status"].value_counts().items()},
        "by_category": {
            code: {"count": int(n), "zh": catalog[code].zh, "en": catalog[code].en}
            for code, n in by_category.items()
        },
        "by_grid": {
            code: {"total": int(r.total), "open": int(r.open)}
            for code, r in by_grid.iterrows()
            if code
        },
        "outside_grids": int(incidents["grid_code"].isna().sum()),
        "as_of": now.isoformat(),
        "overdue_open": int((open_ & (incidents["deadline"] < now)).sum()),
    }
    return stats
