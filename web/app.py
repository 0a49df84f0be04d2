"""The Flask adapter: :func:`create_app` turns the handlers' routes into a WSGI application.

Everything about HTTP that is not an endpoint's own business lives here, once: reading the
request into a :class:`~web.http.Request`, credentials and the role check, the body size limit,
and turning every error into a JSON (or Open311) error response with its status. A user error
never shows a traceback; an unexpected one is logged and answered with a plain 500.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

from flask import Flask
from flask import Response as FlaskResponse
from flask import request as flask_request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from gridmap.errors import GridMapError, StoreError
from gridmap.stores import open_store
from web import accounts_api, cases, editing, kpi_api, ogcapi, open311, openapi, pages
from web.auth import KeyCache, identify, require
from web.config import Config
from web.context import Context
from web.errors import Forbidden, PayloadTooLarge, status_of
from web.http import Request, Response, Route
from web.jobs import Jobs
from web.pages.session import cookie_credentials

log = logging.getLogger("gridmap.web")

#: The modules whose ``ROUTES`` make up the service.
MODULES: tuple[ModuleType, ...] = (
    accounts_api,
    cases,
    editing,
    kpi_api,
    ogcapi,
    open311,
    openapi,
    pages,
)
#: Vendored map assets and other static files, served at ``/static``.
STATIC = Path(__file__).resolve().parent / "static"
#: Browsers keep static files this long without asking again (seconds).
STATIC_MAX_AGE_S = 86_400


def create_app(config: Config, *, modules: Iterable[ModuleType] = MODULES) -> Flask:
    """Return the WSGI application serving ``config.store``.

    Parameters
    ----------
    config : Config
        The service's settings.
    modules : iterable of modules
        Modules each holding a ``ROUTES`` list of :class:`~web.http.Route`.
    """
    routes = tuple(route for module in modules for route in module.ROUTES)
    keys = KeyCache(config.key_cache_seconds)
    ctx = Context(config, open_store(config.store), Jobs(), keys, routes)
    app = Flask("gridmap", static_folder=str(STATIC), static_url_path="/static")
    app.config["SEND_FILE_MAX_AGE_DEFAULT"] = STATIC_MAX_AGE_S  # vendored paths carry versions
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    app.extensions["gridmap"] = ctx
    for route in routes:
        app.add_url_rule(
            route.path,
            endpoint=f"{route.method} {route.path}",
            view_func=_view(ctx, route),
            methods=[route.method],
        )

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> FlaskResponse:  # 404 unknown path, 405, 413...
        return _flask(error_response(exc.code or 500, exc.description or exc.name, exc.name))

    @app.errorhandler(Exception)
    def _bug(exc: Exception) -> FlaskResponse:
        log.exception("internal error on %s %s", flask_request.method, flask_request.path)
        return _flask(error_response(500, "internal error (logged on the server)", "InternalError"))

    return app


def _view(ctx: Context, route: Route):
    def view(**params: str) -> FlaskResponse:
        req = Request(
            flask_request.method, flask_request.path, headers=dict(flask_request.headers.items())
        )
        try:
            req = _request(ctx)
            if req.identity is not None and req.identity.kind == "key" and not route.open311:
                raise Forbidden("API keys are for Open311 clients; staff sign in (POST /api/login)")
            require(req.identity, route.roles)
            response = route.handler(ctx, req, **params)
        except RequestEntityTooLarge:
            limit = ctx.config.max_body_bytes
            response = _user_error(route, req, PayloadTooLarge(f"bodies over {limit} bytes"))
        except GridMapError as exc:
            response = _user_error(route, req, exc)
        return _flask(response)

    view.__name__ = f"view_{route.handler.__module__}_{route.handler.__name__}"
    return view


def _request(ctx: Context) -> Request:
    """Read the Flask request; raises on credentials that are wrong or a body that is too big."""
    body = flask_request.get_data(cache=True)
    form = flask_request.form.to_dict(flat=False) if flask_request.form else {}
    args = flask_request.args.to_dict(flat=False)
    api_key = (form.get("api_key") or args.get("api_key") or [None])[-1]
    headers = cookie_credentials(flask_request.method, dict(flask_request.headers.items()))
    return Request(
        method=flask_request.method,
        path=flask_request.path,
        args=args,
        form=form,
        body=body,
        headers=headers,
        identity=identify(ctx.store, headers, api_key, ctx.keys),
        base_url=flask_request.host_url.rstrip("/"),
    )


def _user_error(route: Route, req: Request, exc: GridMapError) -> Response:
    status = status_of(exc)
    if isinstance(exc, StoreError):
        log.warning("store unavailable: %s", exc)
    if route.errors is not None:
        return route.errors(req, exc, status)
    return error_response(status, str(exc), type(exc).__name__, getattr(exc, "reasons", []))


def error_response(
    status: int, description: str, code: str, reasons: list[str] | None = None
) -> Response:
    """Return the JSON error body every endpoint uses: code, description, reasons."""
    body = {"code": code, "description": description, "status": status}
    if reasons:
        body["reasons"] = reasons
    headers = {"Retry-After": "5"} if status == 503 else {}
    return Response(status, body, headers=headers)


def _flask(response: Response) -> FlaskResponse:
    out = FlaskResponse(response.payload(), status=response.status)
    textual = response.content_type.startswith(("application/", "text/"))
    charset = textual and "charset" not in response.content_type and response.content_type
    out.headers["Content-Type"] = (
        f"{response.content_type}; charset=utf-8" if charset else response.content_type
    )
    for name, value in response.headers.items():
        out.headers[name] = value
    out.headers.setdefault("X-Content-Type-Options", "nosniff")
    return out
