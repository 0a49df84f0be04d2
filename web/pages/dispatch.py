"""The dispatcher's page: open cases, workers and grids on a map, filters, suggestions to accept.

The map is :func:`web.maps.dispatch_map` over the open cases matching the filters (category,
grid, status; applied by the store). The side panel starts a dispatch run
(``POST /api/dispatch``), polls it, draws its suggestions as lines
(``GET /dispatch/jobs/<id>/lines``) and accepts one, all, or an override
(``POST /api/jobs/<id>/accept``); an incident's detail and history come from
``GET /api/incidents/<id>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from gridmap.calendar import working_calendar
from gridmap.catalog import categories
from gridmap.errors import ValidationError
from gridmap.stores.base import Store
from gridmap.workflow import OPEN_STATES, STATES
from web.context import Context
from web.http import Request, Response, Route
from web.maps import dispatch_map, render_page
from web.maps.attribution import DataAttribution
from web.maps.dispatch import urgency_class
from web.maps.text import category_name, fmt_time, label, priority_name, status_name, t
from web.pages.cache import cached
from web.pages.data import as_of, basemap, data_note, digest
from web.pages.i18n import negotiate, tr
from web.pages.layout import compose, html_response
from web.pages.session import page_errors

__all__ = ["DispatchFilters", "DispatchView", "build_dispatch", "read_dispatch"]

#: Cases listed in the panel as the most urgent.
URGENT_LIST = 15
DESCRIPTION_CHARS = 60


@dataclass(frozen=True)
class DispatchFilters:
    """Which open cases the dispatcher looks at (None: all)."""

    category: str | None = None
    grid: str | None = None
    status: str | None = None

    @classmethod
    def parse(
        cls, category: str | None = None, grid: str | None = None, status: str | None = None
    ) -> DispatchFilters:
        """Return checked filters (blank values mean all).

        Raises
        ------
        ValidationError
            For an unknown category or a status that is not an open one.
        """
        category, grid, status = (
            v.strip() if v and v.strip() else None for v in (category, grid, status)
        )
        if category is not None and category not in categories():
            raise ValidationError(f"category: {category!r} is not in the catalog", ["category"])
        if status is not None and status not in OPEN_STATES:
            raise ValidationError(
                f"status: {status!r} is not one of {', '.join(OPEN_STATES)}", ["status"]
            )
        return cls(category, grid, status)

    def where(self) -> dict[str, Any]:
        """Return the store filter of these cases."""
        where: dict[str, Any] = {"status": [self.status] if self.status else list(OPEN_STATES)}
        if self.category:
            where["category"] = self.category
        if self.grid:
            where["grid_code"] = self.grid
        return where


@dataclass(frozen=True)
class DispatchInputs:
    """The layers of the dispatcher's map, as read from the store."""

    grids: gpd.GeoDataFrame
    incidents: gpd.GeoDataFrame
    workers: gpd.GeoDataFrame
    now: pd.Timestamp
    note: str | None = None

    def fingerprint(self) -> tuple[str, str, str | None]:
        """Return what the page depends on (content digests, the instant, the attribution)."""
        return digest(self.grids, self.incidents, self.workers), str(self.now), self.note


@dataclass(frozen=True)
class DispatchView:
    """The dispatcher's map and the figures of the side panel."""

    map: folium.Map
    open_count: int
    overdue: int
    urgent: list[dict[str, Any]]
    focus: list[float] | None
    workers: list[dict[str, str]] = field(default_factory=list)


def read_dispatch(store: Store, filters: DispatchFilters) -> DispatchInputs:
    """Read the grids, the open cases matching ``filters`` and the workers.

    Deadlines are judged at :func:`web.pages.data.as_of`; while a large store is read for it
    the first time, at the latest report among these cases (or now, if sooner).
    """
    cases = store.read("incidents", where=filters.where())

    def estimate() -> pd.Timestamp:
        now = pd.Timestamp.now(tz=working_calendar().timezone)
        latest = pd.to_datetime(cases["reported_at"]).max() if len(cases) else pd.NaT
        return now if pd.isna(latest) else min(now, latest)

    return DispatchInputs(
        store.read("grids"),
        cases,
        store.read("workers"),
        as_of(store, estimate),
        data_note(store, ("grids", "incidents", "workers")),
    )


def build_dispatch(
    inputs: DispatchInputs,
    filters: DispatchFilters,
    *,
    lang: str = "zh",
    tiles: str | None = None,
    attribution: str | None = None,
) -> DispatchView:
    """Return the dispatcher's map and panel figures.

    Parameters
    ----------
    inputs : DispatchInputs
        From :func:`read_dispatch`.
    filters : DispatchFilters
        The filters the cases were read with (a grid filter zooms to that grid).
    lang : {"zh", "en"}
        Language.
    tiles, attribution : str, optional
        Basemap; None draws grid outlines only.

    Returns
    -------
    DispatchView
        The map, the number of open and overdue cases, the most urgent cases, the view to
        zoom to and the workers (for overrides).
    """
    tiles, attribution = basemap(tiles, attribution)
    cases = inputs.incidents
    m = dispatch_map(
        inputs.grids,
        cases,
        inputs.workers,
        now=inputs.now,
        lang=lang,
        tiles=tiles,
        attribution=attribution,
    )
    if inputs.note:
        m.add_child(DataAttribution(inputs.note))
    cls, hours = urgency_class(_col(cases, "deadline"), _col(cases, "priority"), inputs.now)
    order = np.lexsort((cls, np.where(np.isnan(hours), np.inf, hours)))[:URGENT_LIST]
    urgent = [_urgent_row(cases.iloc[i], hours[i], lang) for i in order]
    focus = None
    if filters.grid:
        chosen = inputs.grids[inputs.grids["code"].astype(str) == filters.grid]
        if len(chosen):
            focus = [round(float(v), 6) for v in chosen.to_crs(4326).total_bounds]
    workers = [
        {"id": str(w), "name": label(n, w)}
        for w, n in zip(
            inputs.workers["id"], inputs.workers.get("name", inputs.workers["id"]), strict=True
        )
    ]
    return DispatchView(m, len(cases), int((cls == 0).sum()), urgent, focus, workers)


def _col(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name] if name in frame else pd.Series(pd.NA, index=frame.index, dtype=object)


def _urgent_row(row: pd.Series, hours: float, lang: str) -> dict[str, Any]:
    text = label(row.get("description"))
    if len(text) > DESCRIPTION_CHARS:
        text = text[:DESCRIPTION_CHARS] + "…"
    due = ""
    if np.isfinite(hours):
        due = t("hours_over" if hours < 0 else "hours_left", lang, h=f"{abs(hours):.1f}")
    return {
        "id": str(row["id"]),
        "category": category_name(row.get("category"), lang),
        "status": status_name(row.get("status"), lang),
        "priority": priority_name(row.get("priority"), lang),
        "due": due,
        "overdue": bool(np.isfinite(hours) and hours < 0),
        "grid": label(row.get("grid_code")),
        "reported": fmt_time(row.get("reported_at")),
        "description": text,
    }


def dispatch_page(ctx: Context, req: Request) -> Response:
    """Serve the dispatcher's page (``?category=&grid=&status=&lang=``)."""
    lang = negotiate(req)
    filters = DispatchFilters.parse(req.arg("category"), req.arg("grid"), req.arg("status"))
    inputs = read_dispatch(ctx.store, filters)
    config = ctx.config

    def make() -> tuple[DispatchView, str]:
        view = build_dispatch(
            inputs, filters, lang=lang, tiles=config.tiles, attribution=config.tiles_attribution
        )
        return view, render_page(view.map)

    key = ("dispatch", filters, lang, config.tiles, config.tiles_attribution)
    view, page = cached(ctx.store, key, inputs.fingerprint(), make)
    catalog = categories()
    options = [(code, f"{code} {category_name(code, lang)}") for code in catalog]
    data = {
        "lang": lang,
        "focus": view.focus,
        "states": {k: v[0 if lang == "zh" else 1] for k, v in STATES.items()},
        "categories": {code: category_name(code, lang) for code in catalog},
        "text": {
            k: tr(k, lang) for k in ("accept", "details", "none", "reload", "no_data", "error")
        }
        | _js_text(lang),
    }
    html = compose(
        page,
        view.map.get_name(),
        req=req,
        lang=lang,
        page="dispatch",
        panel="dispatch_panel.html",
        values={
            "filters": filters,
            "view": view,
            "category_options": options,
            "status_options": [(s, status_name(s, lang)) for s in OPEN_STATES],
            "as_of_text": fmt_time(inputs.now),
        },
        data=data,
        script="dispatch.js",
    )
    return html_response(html)


_JS_TEXT: dict[str, tuple[str, str]] = {
    "running": ("正在计算…", "Solving…"),
    "failed": ("失败：", "Failed: "),
    "suggested": ("{n} 条建议，{u} 件未能分派", "{n} suggestions, {u} cases left unassigned"),
    "shown": ("列表显示前 {n} 条", "The list shows the first {n}"),
    "dispatched": ("已派遣给 {w}", "Dispatched to {w}"),
    "conflict": ("冲突：", "Conflict: "),
    "accepted": ("已派遣 {n} 件，冲突 {c} 件", "{n} dispatched, {c} conflicts"),
    "minutes": ("{m} 分钟", "{m} min"),
    "signin": ("登录已过期，请重新登录", "Your session has expired: sign in again"),
    "history": ("处理记录", "History"),
    "worker": ("网格员", "Worker"),
    "to": ("→", "→"),
    "field_id": ("编号", "Id"),
    "field_category": ("类别", "Category"),
    "field_status": ("状态", "Status"),
    "field_priority": ("紧急程度", "Priority"),
    "field_reported_at": ("上报时间", "Reported"),
    "field_deadline": ("处置时限", "Deadline"),
    "field_worker_id": ("网格员", "Worker"),
    "field_grid_code": ("网格", "Grid"),
    "field_source": ("来源", "Source"),
    "field_description": ("描述", "Description"),
    "col_at": ("时间", "Time"),
    "col_action": ("动作", "Action"),
    "col_change": ("状态变化", "Change"),
    "col_actor": ("操作人", "By"),
    "col_note": ("备注", "Note"),
}


def _js_text(lang: str) -> dict[str, str]:
    i = 0 if lang == "zh" else 1
    return {k: v[i] for k, v in _JS_TEXT.items()}


ROUTES = [
    Route("GET", "/dispatch", dispatch_page, ("dispatcher",), errors=page_errors),
]
