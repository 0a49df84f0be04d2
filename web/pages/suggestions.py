"""The suggestions of a finished dispatch run, with both ends of each line, for the map page.

``GET /dispatch/jobs/<job_id>/lines`` answers the dispatcher's page with one row per suggested
assignment: the case (id, category, priority, where it is) and the worker (id, name, where they
are), plus the travel time. The page draws the lines and lists the rows; accepting goes through
``POST /api/jobs/<job_id>/accept`` (:mod:`web.cases`).
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from gridmap.dispatching import DispatchPlan, worker_locations
from gridmap.errors import ConflictError
from gridmap.stores.base import Store, chunks
from web.context import Context
from web.errors import Forbidden
from web.http import Request, Response, Route, ok
from web.maps.aggregate import latlon
from web.maps.text import category_name, label, priority_name
from web.pages.i18n import negotiate

__all__ = ["suggestion_rows"]

#: Ids per store query when reading the suggested cases.
ID_CHUNK = 2_000


def _points(frame: gpd.GeoDataFrame | gpd.GeoSeries, keys: pd.Series) -> dict[str, list[float]]:
    series = frame if isinstance(frame, gpd.GeoSeries) else frame.geometry
    usable = (series.notna() & ~series.is_empty).to_numpy()
    if not usable.any():
        return {}
    lat, lon = latlon(series[usable])
    return {
        str(k): [float(a), float(b)]
        for k, a, b in zip(keys[usable].astype(str), lat, lon, strict=True)
    }


def _read_cases(store: Store, ids: list[str]) -> gpd.GeoDataFrame:
    parts = [
        store.read("incidents", where={"id": ids[part]}) for part in chunks(len(ids), ID_CHUNK)
    ]
    return pd.concat(parts, ignore_index=True) if parts else store.read("incidents", limit=0)


def suggestion_rows(store: Store, plan: DispatchPlan, lang: str) -> list[dict[str, Any]]:
    """Return one row per suggested assignment of ``plan`` with the ends of its line.

    Parameters
    ----------
    store : Store
        Where the cases and workers are read from.
    plan : DispatchPlan
        A finished dispatch run.
    lang : {"zh", "en"}
        Language of category and priority names.

    Returns
    -------
    list of dict
        ``incident_id``, ``category``, ``priority``, ``worker_id``, ``worker_name``,
        ``minutes``, ``outside_grid``, ``from`` (the case, ``[lat, lon]``) and ``to`` (the
        worker), most urgent first (hours to deadline). Ends are None when unknown. Text is
        plain: the page shows it with ``textContent``.
    """
    assigned = sorted(plan.assigned, key=lambda e: (e.hours_to_deadline, e.priority))
    if not assigned:
        return []
    cases = _read_cases(store, [e.incident_id for e in assigned])
    workers = store.read("workers")
    case_at = _points(cases, cases["id"]) if len(cases) else {}
    worker_at = _points(worker_locations(store, workers), workers["id"]) if len(workers) else {}
    names = dict(zip(workers["id"].astype(str), workers.get("name", workers["id"]), strict=True))
    return [
        {
            "incident_id": e.incident_id,
            "category": category_name(e.category, lang),
            "priority": priority_name(e.priority, lang),
            "hours_to_deadline": _hours(e.hours_to_deadline),
            "worker_id": e.worker_id,
            "worker_name": label(names.get(str(e.worker_id)), e.worker_id),
            "minutes": round(e.travel_minutes, 1),
            "outside_grid": e.outside_grid,
            "from": case_at.get(e.incident_id),
            "to": worker_at.get(str(e.worker_id)),
        }
        for e in assigned
    ]


def _hours(value: float) -> float | None:
    return round(float(value), 1) if np.isfinite(value) else None


def job_lines(ctx: Context, req: Request, job_id: str) -> Response:
    """Return the rows of :func:`suggestion_rows` for a finished dispatch job of the caller."""
    job = ctx.jobs.get(job_id)
    who = req.identity
    if who is not None and who.role not in ("admin", "official") and who.name != job.owner:
        raise Forbidden("this job belongs to someone else")
    if job.kind != "dispatch" or job.status != "done":
        raise ConflictError(f"job {job_id} is {job.status}: only a finished dispatch has lines")
    plan: DispatchPlan = job.payload
    rows = suggestion_rows(ctx.store, plan, negotiate(req))
    return ok({"job": job_id, "rows": rows, "unassigned": len(plan.incidents) - len(rows)})


ROUTES = [
    Route("GET", "/dispatch/jobs/<job_id>/lines", job_lines, ("dispatcher",)),
]
