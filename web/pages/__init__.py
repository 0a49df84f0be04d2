"""The role pages: the dispatcher's board, the planner's coverage map, the official's heatmaps.

Each page is a full HTML document served by the app behind its role (admins open all of them):
``/dispatch`` (dispatcher), ``/coverage`` (planner), ``/heatmap`` (official), with ``/login``
to sign in from a browser (:mod:`web.pages.session`).
"""

from web.pages import coverage, dispatch, official, session, suggestions

ROUTES = [
    *session.ROUTES,
    *dispatch.ROUTES,
    *suggestions.ROUTES,
    *coverage.ROUTES,
    *official.ROUTES,
]

__all__ = ["ROUTES"]
