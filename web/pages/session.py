"""Browser sign-in for the role pages: a form, an HttpOnly session cookie, and sign-out.

Browsers cannot send ``Authorization`` headers when they navigate, so ``POST /login`` signs the
user in (:func:`gridmap.accounts.sign_in`) and keeps the bearer token in an ``HttpOnly``,
``SameSite=Strict`` cookie. :func:`cookie_credentials` turns that cookie back into an
``Authorization`` header for :mod:`web.app`, so pages and the JSON API accept it. For requests
that change something (not GET or HEAD) the cookie counts only together with the header
``X-Requested-With: GridMap``, which the pages' own scripts send and a cross-site form cannot
(a cross-site ``fetch`` with it needs a CORS preflight this service never grants).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlencode, urlsplit

from gridmap import accounts
from gridmap.errors import ValidationError
from web.context import Context
from web.http import Request, Response, Route
from web.pages.data import prewarm
from web.pages.i18n import negotiate, tr, url_with
from web.pages.layout import HOME, error_page, html_response, redirect, render

__all__ = [
    "COOKIE",
    "CSRF_HEADER",
    "CSRF_VALUE",
    "cookie_credentials",
    "page_errors",
    "read_cookie",
    "safe_next",
]

COOKIE = "gridmap_session"
CSRF_HEADER = "X-Requested-With"
CSRF_VALUE = "GridMap"
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def read_cookie(headers: Mapping[str, str], name: str = COOKIE) -> str | None:
    """Return the value of cookie ``name`` in a request's ``Cookie`` header (None if absent)."""
    raw = _header(headers, "Cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None and morsel.value else None


def cookie_credentials(method: str, headers: Mapping[str, str]) -> dict[str, str]:
    """Return request headers with ``Authorization`` taken from the session cookie.

    Parameters
    ----------
    method : str
        The request's method.
    headers : mapping
        The request's headers.

    Returns
    -------
    dict
        ``headers`` unchanged when they carry ``Authorization`` already, have no session
        cookie, or when a request that changes something lacks ``X-Requested-With: GridMap``;
        otherwise with ``Authorization: Bearer <token from the cookie>`` added.
    """
    out = dict(headers)
    if _header(out, "Authorization"):
        return out
    token = read_cookie(out)
    if not token:
        return out
    if method.upper() not in _SAFE_METHODS and _header(out, CSRF_HEADER) != CSRF_VALUE:
        return out
    out["Authorization"] = f"Bearer {token}"
    return out


def safe_next(target: str | None) -> str | None:
    """Return ``target`` when it is a path on this site (no scheme, host or ``//``), else None."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(c in target for c in "\r\n\\"):
        return None
    return target


def session_cookie(token: str, max_age: int, *, secure: bool) -> str:
    """Return the ``Set-Cookie`` value keeping ``token`` (empty token and 0 clear it)."""
    flags = f"Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}"
    return f"{COOKIE}={token}; {flags}" + ("; Secure" if secure else "")


def clear_cookie(req: Request) -> dict[str, str]:
    """Return the header that removes the session cookie."""
    return {"Set-Cookie": session_cookie("", 0, secure=req.base_url.startswith("https:"))}


def _login_form(req: Request, status: int = 200, error: str = "", **headers: str) -> Response:
    lang = negotiate(req)
    html = render(
        "login.html",
        req=req,
        lang=lang,
        error=error,
        next=safe_next(req.field("next") or req.arg("next")) or "",
    )
    return html_response(html, status, **headers)


def login_page(ctx: Context, req: Request) -> Response:
    """Show the sign-in form (``?next=`` is where to go afterwards).

    A user already signed in (a valid cookie) goes straight on to ``next`` or their page.
    """
    home = HOME.get(req.identity.role) if req.identity is not None else None
    if home is not None:
        return redirect(safe_next(req.arg("next")) or f"{home}?lang={negotiate(req)}", 303)
    prewarm(ctx.store)  # a big store is read while the user types
    return _login_form(req)


def login_submit(ctx: Context, req: Request) -> Response:
    """Check a user name and password from the form, set the session cookie, go on (303)."""
    lang = negotiate(req)
    origin = req.header("Origin")
    foreign = origin is not None and urlsplit(origin).netloc != urlsplit(req.base_url).netloc
    if foreign or req.header("Sec-Fetch-Site") == "cross-site":  # a form posted by another site
        return _login_form(req, 403, tr("cross_site", lang))
    name, password = req.field("name") or "", req.field("password") or ""
    ttl = timedelta(hours=ctx.config.session_hours)
    try:
        token, who, _ = accounts.sign_in(ctx.store, name, password, ttl=ttl)
    except ValidationError:
        return _login_form(req, 401, tr("bad_login", lang))
    home = HOME.get(who.role)
    if home is None:
        accounts.sign_out(ctx.store, token)
        return _login_form(req, 403, tr("no_page", lang, role=who.role))
    target = safe_next(req.field("next")) or f"{home}?lang={lang}"
    cookie = session_cookie(
        token, int(ttl.total_seconds()), secure=req.base_url.startswith("https:")
    )
    return redirect(target, 303, **{"Set-Cookie": cookie})


def logout(ctx: Context, req: Request) -> Response:
    """End the cookie's session and go back to the sign-in form."""
    token = read_cookie(req.headers)
    if token:
        accounts.sign_out(ctx.store, token)
    return redirect(f"/login?lang={negotiate(req)}", 303, **clear_cookie(req))


def login_errors(req: Request, exc: Exception, status: int) -> Response:
    """Errors of the sign-in routes: a stale cookie is dropped, then the form is shown again.

    Only a cookie can be dropped: credentials in a header that are refused show the form with
    the 401 (a redirect would come back with the same header, for ever).
    """
    if status == 401 and read_cookie(req.headers) is not None:
        return redirect("/login", 303, **clear_cookie(req))
    return _login_form(req, status, str(exc))


def page_errors(req: Request, exc: Exception, status: int) -> Response:
    """Errors of the role pages: sign in first (401 redirects), else an HTML error page."""
    if status == 401:
        here = url_with(req.path, req.args)
        return redirect("/login?" + urlencode({"next": here}), 302, **clear_cookie(req))
    return error_page(req, negotiate(req), status, str(exc))


ROUTES = [
    Route("GET", "/login", login_page, errors=login_errors),
    Route("POST", "/login", login_submit, errors=login_errors),
    Route("POST", "/logout", logout, errors=login_errors),
]
