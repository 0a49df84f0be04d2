"""The dispatcher's case work: an incident's detail and history, workflow actions, dispatch runs.

Every status change goes through the store's one state machine (:meth:`Store.transition`): an
illegal action is a 409 listing the allowed ones, a stale ``expected_version`` a 409 too, and
each change is recorded with who did it, when, and their note. A dispatch run solves in the
background (:mod:`web.jobs`); its suggestions are accepted as they are, in part, or overridden.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pandas as pd

from gridmap.dispatching import DispatchPlan
from gridmap.errors import ConflictError, ValidationError
from gridmap.workflow import STATES, TRANSITIONS, allowed_actions
from web.context import Context
from web.errors import Forbidden
from web.http import Request, Response, Route, ok

#: Roles that may read a reporter's contact details.
CONTACT_ROLES = ("dispatcher", "official", "admin")
DISPATCHERS = ("dispatcher",)
READERS = ("dispatcher", "official", "planner")
_ACTION_FIELDS = {"action", "note", "worker_id", "deadline", "expected_version"}


def incident_json(row: pd.Series) -> dict[str, Any]:
    """Return an incident row as the JSON API shows it (point as lon/lat)."""
    out = {k: _plain(v) for k, v in row.items() if k != "geometry"}
    point = row.get("geometry")
    out["lon"], out["lat"] = (None, None) if point is None else (point.x, point.y)
    out["allowed_actions"] = allowed_actions(row["status"])
    return out


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if value is pd.NaT:
        return None
    return value


def get_incident(ctx: Context, req: Request, incident_id: str) -> Response:
    """Return an incident with its history (and, for some roles, the reporter's contact)."""
    row = ctx.store.get("incidents", incident_id)
    body = incident_json(row)
    history = ctx.store.history(incident_id)
    body["history"] = [
        {k: _plain(v) for k, v in entry.items()} for entry in history.to_dict("records")
    ]
    identity = req.identity
    if identity is not None and identity.role in CONTACT_ROLES:
        found = ctx.store.records("requests", {"incident_id": incident_id}, limit=1)
        body["reporter"] = (
            {k: found[0][k] for k in ("email", "phone", "first_name", "last_name", "address")}
            if found
            else None
        )
    return ok(body)


def act(ctx: Context, req: Request, incident_id: str) -> Response:
    """Apply a workflow action: ``{"action", "note", "worker_id", "deadline", "expected_version"}``."""
    body = req.json()
    unknown = set(body) - _ACTION_FIELDS
    if unknown:
        raise ValidationError(f"unknown field(s): {', '.join(sorted(unknown))}")
    action = body.get("action")
    if not isinstance(action, str) or action not in TRANSITIONS:
        raise ValidationError(
            f"action: {action!r} is not one of: {', '.join(TRANSITIONS)}", ["action"]
        )
    note = body.get("note", "")
    if not isinstance(note, str) or len(note) > 4000:
        raise ValidationError("note: must be text of at most 4000 characters", ["note"])
    version = body.get("expected_version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise ValidationError("expected_version: must be an integer", ["expected_version"])
    worker = body.get("worker_id")
    if worker is not None and not isinstance(worker, str):
        raise ValidationError("worker_id: must be text", ["worker_id"])
    row = ctx.store.transition(
        incident_id,
        action,
        actor=req.identity.name if req.identity else "anonymous",
        note=note,
        worker_id=worker,
        deadline=_deadline(body.get("deadline")),
        expected_version=version,
    )
    return ok(incident_json(row))


def _deadline(value: Any) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value) if isinstance(value, str) else None
    except ValueError:
        stamp = None
    if stamp is None or stamp.tzinfo is None:
        raise ValidationError(
            f"deadline: {value!r} is not an ISO 8601 time with its offset", ["deadline"]
        )
    return stamp


def workflow(ctx: Context, req: Request) -> Response:
    """Return the case workflow: states (zh, en) and which action leads where."""
    return ok(
        {
            "states": {k: {"zh": zh, "en": en} for k, (zh, en) in STATES.items()},
            "actions": {
                a: {"from": list(sources), "to": target}
                for a, (sources, target) in TRANSITIONS.items()
            },
        }
    )


def start_dispatch(ctx: Context, req: Request) -> Response:
    """Start a dispatch run in the background; return its job (202) to poll.

    ``time_limit`` (seconds, at most ``Config.job_seconds``) must be a positive number (422
    otherwise); a run that reaches it keeps its best plan, with ``status``, ``bound`` and ``gap``
    in the job's summary.
    """
    body = req.json() if req.body else {}
    include_received = body.get("include_received", False)
    if not isinstance(include_received, bool):
        raise ValidationError("include_received: must be true or false", ["include_received"])
    now = body.get("now")
    if now is not None and not isinstance(now, str):
        raise ValidationError("now: must be an ISO 8601 time or next-workday", ["now"])
    limit = body.get("time_limit", ctx.config.job_seconds)
    if not isinstance(limit, int | float) or isinstance(limit, bool) or not 0 < limit < math.inf:
        raise ValidationError("time_limit: must be a positive number of seconds", ["time_limit"])
    limit = min(float(limit), ctx.config.job_seconds)  # a run at its limit keeps its best plan
    store = ctx.store

    def work(progress) -> tuple[dict[str, Any], DispatchPlan]:
        progress(0.1, "reading incidents and workers")
        plan = DispatchPlan.from_store(
            store, now=now, include_received=include_received, time_limit=limit
        )
        progress(0.9, "solved")
        return _plan_json(plan), plan

    job = ctx.jobs.start("dispatch", req.identity.name if req.identity else "", work)
    return ok(job.as_json(), 202, Location=f"/api/jobs/{job.id}")


def _plan_json(plan: DispatchPlan) -> dict[str, Any]:
    summary = {
        k: (None if isinstance(v, float) and math.isnan(v) else v)
        for k, v in plan.summary().items()
    }
    return {
        "summary": summary,
        "suggestions": [
            {
                "incident_id": e.incident_id,
                "worker_id": e.worker_id,
                "travel_minutes": round(e.travel_minutes, 1),
                "outside_grid": e.outside_grid,
                "version": e.version,
            }
            for e in plan.assigned
        ],
        "unassigned": [
            {"incident_id": e.incident_id, "reason": e.reason}
            for e in plan.incidents
            if e.worker_id is None
        ],
    }


def get_job(ctx: Context, req: Request, job_id: str) -> Response:
    """Return a background job's status, progress and (when done) result."""
    job = ctx.jobs.get(job_id)
    _check_owner(req, job.owner)
    return ok(job.as_json())


def accept_dispatch(ctx: Context, req: Request, job_id: str) -> Response:
    """Apply a finished dispatch run's suggestions: all, some, or overridden.

    The body may list ``{"incident_id", "worker_id"}`` pairs: only those incidents are
    dispatched, each to the worker given (an override when it differs from the suggestion).
    Incidents changed since the run are reported in ``conflicts`` and left as they are.
    """
    job = ctx.jobs.get(job_id)
    _check_owner(req, job.owner)
    if job.kind != "dispatch" or job.status != "done":
        raise ConflictError(
            f"job {job_id} is {job.status}: only a finished dispatch can be applied"
        )
    plan: DispatchPlan = job.payload
    chosen = _chosen(req, plan)
    picked = tuple(
        dataclasses.replace(e, worker_id=chosen.get(e.incident_id)) for e in plan.incidents
    )
    report = dataclasses.replace(plan, incidents=picked).apply(
        ctx.store, actor=req.identity.name if req.identity else "dispatcher"
    )
    return ok(
        {
            "dispatched": list(report.dispatched),
            "registered": list(report.registered),
            "conflicts": [{"incident_id": i, "reason": r} for i, r in report.conflicts],
        }
    )


def _chosen(req: Request, plan: DispatchPlan) -> dict[str, str]:
    """Return incident -> worker to apply: the body's pairs, or every suggestion."""
    suggested = {e.incident_id: e.worker_id for e in plan.incidents if e.worker_id is not None}
    if not req.body:
        return suggested
    pairs = req.json().get("assignments")
    if not isinstance(pairs, list) or not all(isinstance(p, dict) for p in pairs):
        raise ValidationError("assignments: must be a list of {incident_id, worker_id}")
    planned = {e.incident_id for e in plan.incidents}
    chosen = {}
    for i, pair in enumerate(pairs):
        incident = pair.get("incident_id")
        if not isinstance(incident, str) or incident not in planned:
            raise ValidationError(f"assignments[{i}]: incident {incident!r} is not in this run")
        worker = pair.get("worker_id", suggested.get(incident))
        if not isinstance(worker, str):
            raise ValidationError(f"assignments[{i}]: worker_id is required (no suggestion)")
        chosen[incident] = worker
    return chosen


def _check_owner(req: Request, owner: str) -> None:
    identity = req.identity
    if (
        identity is not None
        and identity.role not in ("admin", "official")
        and identity.name != owner
    ):
        raise Forbidden("this job belongs to someone else")


ROUTES = [
    Route("GET", "/api/workflow", workflow),
    Route("GET", "/api/incidents/<incident_id>", get_incident, READERS),
    Route("POST", "/api/incidents/<incident_id>/actions", act, DISPATCHERS),
    Route("POST", "/api/dispatch", start_dispatch, DISPATCHERS),
    Route("GET", "/api/jobs/<job_id>", get_job, ("dispatcher", "planner", "official")),
    Route("POST", "/api/jobs/<job_id>/accept", accept_dispatch, DISPATCHERS),
]
