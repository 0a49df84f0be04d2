"""Writes to the layers (OGC API - Features Part 4) and the planner's siting runs.

``POST /collections/{layer}/items`` adds a GeoJSON Feature, ``PATCH .../items/{id}`` changes
some of its properties (or its geometry), ``DELETE .../items/{id}`` removes it. Each write is one
store transaction, checked by the model's rules. Who may write depends on the layer: planners
edit grids, stations, candidate sites and demand; dispatchers edit workers (their grids and
skills); incidents change only through the case workflow or Open311.

A siting run (``POST /api/siting``) solves in the background; accepting it writes the ranks of
the suggested sites, as ``gridmap site`` does. A request no solution can meet is refused at once
with 422 and the reason (:func:`check_feasible`), never accepted as a job that fails later; a run
that reaches its time limit (``Config.job_seconds``) finishes with its best solution, its
``status`` FEASIBLE and the ``bound`` and ``gap`` it proved.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from gridmap import model
from gridmap.catalog import station_kinds
from gridmap.errors import ConflictError, ValidationError
from gridmap.model import CRS
from gridmap.siting import SitingProblem
from gridmap.siting_solve import MODELS, solve_siting, write_suggestions
from web.auth import require
from web.context import Context
from web.errors import BadRequest, Forbidden
from web.http import Request, Response, Route, ok

#: layer -> roles that may write it (admins may write every layer).
EDITORS: dict[str, tuple[str, ...]] = {
    "grids": ("planner",),
    "stations": ("planner",),
    "sites": ("planner",),
    "demand": ("planner",),
    "roads": ("planner",),
    "workers": ("dispatcher",),
}
WRITERS = ("planner", "dispatcher")
PLANNERS = ("planner",)


def _editable(req: Request, name: str) -> str:
    spec = model.layer(name)
    roles = EDITORS.get(spec.name)
    if roles is None:
        raise Forbidden(f"{spec.name} change only through the case workflow or Open311")
    require(req.identity, roles)
    return spec.name


def _feature(req: Request, *, partial: bool) -> tuple[dict[str, Any], Any]:
    body = req.json()
    if body.get("type") != "Feature":
        raise BadRequest('the body must be a GeoJSON Feature ({"type": "Feature", ...})')
    properties = body.get("properties") or {}
    if not isinstance(properties, dict):
        raise BadRequest("properties: must be an object")
    geometry = body.get("geometry")
    if geometry is None:
        return properties, None
    try:
        shape = shapely.geometry.shape(geometry)
    except (
        AttributeError,
        IndexError,
        KeyError,
        TypeError,
        ValueError,
        shapely.errors.ShapelyError,
    ) as exc:
        raise ValidationError(f"geometry: not a GeoJSON geometry ({exc})", ["geometry"]) from None
    if partial and shape.is_empty:
        raise ValidationError("geometry: empty", ["geometry"])
    return properties, shape


def create_item(ctx: Context, req: Request, layer: str) -> Response:
    """Add one feature to a layer; 201 with its location."""
    name = _editable(req, layer)
    properties, shape = _feature(req, partial=False)
    spec = model.layer(name)
    if not properties.get(spec.key):
        raise ValidationError(f"properties.{spec.key}: required", [spec.key])
    row = gpd.GeoDataFrame([properties], geometry=[shape], crs=CRS)
    ctx.store.insert(name, row)
    key = str(properties[spec.key])
    stored = ctx.store.get(name, key)
    return ok(_feature_json(stored, spec.key), 201, Location=f"/collections/{name}/items/{key}")


def update_item(ctx: Context, req: Request, layer: str, item_id: str) -> Response:
    """Change some properties (and/or the geometry) of one feature."""
    name = _editable(req, layer)
    properties, shape = _feature(req, partial=True)
    values = dict(properties)
    if shape is not None:
        values["geometry"] = shape
    if not values:
        raise ValidationError("nothing to change: give properties or a geometry")
    stored = ctx.store.update(name, item_id, values)
    return ok(_feature_json(stored, model.layer(name).key))


def delete_item(ctx: Context, req: Request, layer: str, item_id: str) -> Response:
    """Remove one feature."""
    name = _editable(req, layer)
    ctx.store.get(name, item_id)  # 404 when there is none
    ctx.store.delete(name, [item_id])
    return Response(204, b"")


def _feature_json(row: Any, key: str) -> dict[str, Any]:
    properties = {
        k: (None if isinstance(v, float) and math.isnan(v) else v)
        for k, v in row.items()
        if k != "geometry"
    }
    geometry = row.get("geometry")
    return {
        "type": "Feature",
        "id": str(row[key]),
        "geometry": None if geometry is None else shapely.geometry.mapping(geometry),
        "properties": properties,
    }


def start_siting(ctx: Context, req: Request) -> Response:
    """Start a siting run in the background: ``{"model", "kind", "p", "radius_m", "demand"}``."""
    body = req.json()
    unknown = set(body) - {"model", "kind", "p", "radius_m", "demand"}
    if unknown:
        raise ValidationError(f"unknown field(s): {', '.join(sorted(unknown))}")
    model, kind = body.get("model"), body.get("kind")
    if model not in MODELS:
        raise ValidationError(f"model: {model!r} is not one of: {', '.join(MODELS)}", ["model"])
    if not isinstance(kind, str):
        raise ValidationError("kind: required (a station kind)", ["kind"])
    p, radius = body.get("p"), body.get("radius_m")
    if p is not None and (not isinstance(p, int) or isinstance(p, bool) or p < 1):
        raise ValidationError("p: must be a whole number >= 1", ["p"])
    if radius is not None and (not isinstance(radius, int | float) or radius <= 0):
        raise ValidationError("radius_m: must be a positive number of metres", ["radius_m"])
    demand = body.get("demand", "population")
    if not isinstance(demand, str):
        raise ValidationError("demand: must be text", ["demand"])
    store, limit = ctx.store, ctx.config.job_seconds
    problem = SitingProblem.from_store(store, kind=kind, demand=demand)  # bad input: 4xx now
    check_feasible(problem, model, p, radius)

    def work(progress) -> tuple[dict[str, Any], Any]:
        progress(0.2, "solving")
        outcome = solve_siting(problem, model, p=p, radius=radius, time_limit=limit)
        result = outcome.result
        suggestions = outcome.suggestions.to_dict("records")
        return {
            "model": model,
            "kind": kind,
            "status": result.status,
            "objective": result.objective,
            "bound": result.bound,
            "gap": result.gap,
            "suggestions": suggestions,
            "before": dataclasses.asdict(outcome.before),
            "after": dataclasses.asdict(outcome.after),
        }, outcome

    job = ctx.jobs.start("siting", req.identity.name if req.identity else "", work)
    return ok(job.as_json(), 202, Location=f"/api/jobs/{job.id}")


#: Demand points named in the reasons of an infeasible LSCP request (the count says the rest).
SHOWN = 20


def check_feasible(problem: SitingProblem, model: str, p: int | None, radius: float | None) -> None:
    """Refuse (422, with the reason) a siting request that no solution can meet.

    Every infeasible request is known before solving: ``p`` missing (or given to LSCP, which
    finds the fewest sites itself), more new sites than there are candidates, and for LSCP any
    demand point that no candidate site nor open station reaches within the radius.

    Raises
    ------
    ValidationError
        Naming the field, with one reason per unreachable demand point (the first 20).
    """
    if model == "lscp" and p is not None:
        raise ValidationError("p: lscp finds the fewest sites itself; leave p out", ["p"])
    if model != "lscp" and p is None:
        raise ValidationError(f"p: {model} needs the number of new sites", ["p"])
    free = len(problem.candidates) - len(problem.existing)
    if p is not None and p > free:
        raise ValidationError(
            f"p: infeasible, {p} new sites asked for but the store has only {free} candidate "
            f"{problem.kind} site(s)",
            ["p"],
        )
    if model != "lscp":
        return
    reach = float(radius) if radius is not None else station_kinds()[problem.kind].radius_m
    nearest = problem.cost.min(axis=1)
    far = np.flatnonzero(~(nearest <= reach))
    if far.size:
        ids = problem.demand["id"].to_numpy()
        reasons = [
            f"demand point {ids[j]}: the nearest candidate is {nearest[j]:.0f} m away"
            for j in far[:SHOWN]
        ]
        if far.size > SHOWN:
            reasons.append(f"... and {far.size - SHOWN} more")
        raise ValidationError(
            f"radius_m: infeasible, {far.size} of {len(nearest)} demand point(s) have no "
            f"candidate site within {reach:g} m, and lscp must cover every one (raise radius_m "
            "or add candidate sites)",
            reasons,
        )


def accept_siting(ctx: Context, req: Request, job_id: str) -> Response:
    """Write a finished siting run's ranks to the candidate sites (older ranks cleared)."""
    job = ctx.jobs.get(job_id)
    if job.kind != "siting" or job.status != "done":
        raise ConflictError(f"job {job_id} is {job.status}: only a finished siting run applies")
    if req.identity is not None and req.identity.role != "admin" and req.identity.name != job.owner:
        raise Forbidden("this job belongs to someone else")
    written = write_suggestions(ctx.store, job.payload)
    return ok({"ranked": written})


ROUTES = [
    Route("POST", "/collections/<layer>/items", create_item, WRITERS),
    Route("PATCH", "/collections/<layer>/items/<item_id>", update_item, WRITERS),
    Route("DELETE", "/collections/<layer>/items/<item_id>", delete_item, WRITERS),
    Route("POST", "/api/siting", start_siting, PLANNERS),
    Route("POST", "/api/siting/<job_id>/accept", accept_siting, PLANNERS),
]
