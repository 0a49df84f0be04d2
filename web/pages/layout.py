"""The frame of every role page: a folium map beside a side panel, under a navigation bar.

A page is the localised folium page (:func:`web.maps.render_page`) taken apart into its head,
its map and legend elements and its script, put back together in ``templates/pages/base.html``
with the side panel of the role, the page's data as inert JSON and the page's own small script.
Templates escape every value (Jinja autoescape); scripts read the data with ``JSON.parse`` and
show it with ``textContent``.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from web.auth import Identity
from web.http import Request, Response
from web.maps.text import HTML_LANG
from web.pages.i18n import switch_url, tr, url_with

__all__ = [
    "HOME",
    "PAGES",
    "compose",
    "error_page",
    "html_response",
    "redirect",
    "render",
]

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "pages"

#: page key -> (path, roles that may open it; admins open every page).
PAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "dispatch": ("/dispatch", ("dispatcher",)),
    "coverage": ("/coverage", ("planner",)),
    "heatmap": ("/heatmap", ("official",)),
}
#: role -> the page a user of that role lands on after signing in.
HOME: dict[str, str] = {
    "dispatcher": "/dispatch",
    "planner": "/coverage",
    "official": "/heatmap",
    "admin": "/dispatch",
}
_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
_TITLE = re.compile(r"<title>.*?</title>", re.DOTALL)


@cache
def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(tr=tr, url_with=url_with)
    return env


@cache
def asset(name: str) -> Markup:
    """Return a page script or stylesheet of ``templates/pages/`` to inline (trusted text)."""
    return Markup((TEMPLATES / name).read_text(encoding="utf-8"))


def render(template: str, **values: Any) -> str:
    """Return ``templates/pages/<template>`` rendered with ``values`` (autoescaped)."""
    return _env().get_template(template).render(**values)


def html_response(html: str, status: int = 200, **headers: str) -> Response:
    """Return an HTML page response (never cached, never framed)."""
    return Response(status, html, "text/html; charset=utf-8", {**_SECURITY_HEADERS, **headers})


def redirect(location: str, status: int = 302, **headers: str) -> Response:
    """Return a redirect to ``location`` (a path on this site)."""
    return Response(
        status, b"", "text/plain", {**_SECURITY_HEADERS, "Location": location, **headers}
    )


def nav(identity: Identity | None, current: str) -> list[dict[str, Any]]:
    """Return the pages ``identity`` may open, for the navigation bar."""
    if identity is None:
        return []
    return [
        {"key": key, "path": path, "current": key == current}
        for key, (path, roles) in PAGES.items()
        if identity.role == "admin" or identity.role in roles
    ]


def error_page(req: Request, lang: str, status: int, detail: str) -> Response:
    """Return an HTML error page (403: not for this role; else the error's message)."""
    message = tr("forbidden", lang) if status == 403 else tr("error", lang)
    html = render(
        "error.html",
        req=req,
        lang=lang,
        html_lang=HTML_LANG[lang],
        status=status,
        message=message,
        detail=detail,
        nav=nav(req.identity, ""),
        switch=switch_url(req, lang),
        css=asset("pages.css"),
    )
    return html_response(html, status)


def split_folium(page: str) -> tuple[str, str, str]:
    """Return the inside of ``<head>``, the inside of ``<body>`` and the script after it.

    Folium pages put their script after ``</body>``; the ``<title>`` is dropped (the frame
    has its own).
    """
    head_start = page.index("<head>") + len("<head>")
    head_end = page.index("</head>", head_start)
    body_start = page.index("<body>", head_end) + len("<body>")
    body_end = page.index("</body>", body_start)
    html_end = page.rindex("</html>")
    head = _TITLE.sub("", page[head_start:head_end], count=1)
    return head, page[body_start:body_end], page[body_end + len("</body>") : html_end]


def data_json(data: Any) -> Markup:
    """Return ``data`` as JSON that is inert inside a ``<script type="application/json">``."""
    text = json.dumps(data, ensure_ascii=False, default=str, separators=(",", ":"))
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, code)
    return Markup(text)


def compose(
    map_page: str,
    map_name: str,
    *,
    req: Request,
    lang: str,
    page: str,
    panel: str,
    values: dict[str, Any],
    data: dict[str, Any] | None = None,
    script: str | None = None,
) -> str:
    """Return a role page: a map page with the side panel ``templates/pages/<panel>``.

    Parameters
    ----------
    map_page : str
        A map from :mod:`web.maps` rendered by :func:`web.maps.render_page` (assets from
        ``/static/vendor/``).
    map_name : str
        The map's JavaScript variable (``folium.Map.get_name()``).
    req : Request
        The request (identity for the navigation, query for links).
    lang : {"zh", "en"}
        Page language.
    page : str
        Key of the page in :data:`PAGES`.
    panel : str
        Template of the side panel.
    values : dict
        Values for the panel template.
    data : dict, optional
        Data for the page's script, embedded as JSON (``#gm-data``).
    script : str, optional
        A script of ``templates/pages/`` run after the map's.

    Returns
    -------
    str
        The HTML page.
    """
    head, body, map_script = split_folium(map_page)
    return render(
        "base.html",
        req=req,
        lang=lang,
        html_lang=HTML_LANG[lang],
        page=page,
        panel=panel,
        nav=nav(req.identity, page),
        switch=switch_url(req, lang),
        map_head=Markup(head),
        map_body=Markup(body),
        map_script=Markup(map_script),
        map_name=map_name,
        data=data_json(data or {}),
        css=asset("pages.css"),
        common=asset("common.js"),
        script=asset(script) if script else None,
        **values,
    )
