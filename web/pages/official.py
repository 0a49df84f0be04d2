"""The official's page: where cases come from, KPIs per grid, trends and hotspots.

The map is :func:`web.maps.heatmap_map` over the cases of the chosen period (the last day,
week or month of data), its grids coloured by a KPI of those cases (结案率, 按期结案率 or
overdue open, :func:`gridmap.kpi.kpis` by grid). The side panel shows the top hotspot grids
and two trend charts over the last 30 days (cases per day and median closure time per day, for
the five commonest categories) as inline SVG.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from gridmap.errors import ValidationError
from gridmap.kpi import kpis
from gridmap.stores.base import Store
from web.context import Context
from web.http import Request, Response, Route
from web.maps import heatmap_map, render_page
from web.maps.aggregate import grid_codes_of
from web.maps.attribution import DataAttribution
from web.maps.heatmap import PERIODS, hotspots, period_window
from web.maps.text import category_name, fmt_time, label, t
from web.pages.cache import cached
from web.pages.charts import line_chart
from web.pages.data import Snapshot, basemap, data_note, digest, incidents_fingerprint
from web.pages.data import snapshot as read_snapshot
from web.pages.i18n import negotiate, tr
from web.pages.layout import compose, html_response
from web.pages.session import page_errors

__all__ = ["KPIS", "HeatmapView", "build_heatmap", "check_options", "trend_charts"]

#: KPIs that may colour the grids (columns of :func:`gridmap.kpi.kpis`).
KPIS = ("closure_rate", "on_time_rate", "overdue_open")
TREND_DAYS = 30
TOP_CATEGORIES = 5
_TICK = pd.Timedelta(microseconds=1)


@dataclass(frozen=True)
class HeatmapView:
    """The official's map and the side panel's window, hotspots and charts."""

    map: folium.Map
    window: str
    hotspots: list[dict[str, Any]]
    charts: list[str]


def check_options(period: str | None, kpi: str | None) -> tuple[str, str]:
    """Return checked ``(period, kpi)`` (defaults: week, closure rate).

    Raises
    ------
    ValidationError
        For a period other than day, week or month, or a KPI not in :data:`KPIS`.
    """
    period = period or "week"
    if period not in PERIODS:
        raise ValidationError(f"period: {period!r} is not one of {', '.join(PERIODS)}", ["period"])
    kpi = kpi or KPIS[0]
    if kpi not in KPIS:
        raise ValidationError(f"kpi: {kpi!r} is not one of {', '.join(KPIS)}", ["kpi"])
    return period, kpi


def build_heatmap(
    grids: gpd.GeoDataFrame,
    snap: Snapshot,
    *,
    period: str = "week",
    kpi: str = "closure_rate",
    lang: str = "zh",
    tiles: str | None = None,
    attribution: str | None = None,
    note: str | None = None,
) -> HeatmapView:
    """Return the official's map, the period's description, hotspots and trend charts.

    Parameters
    ----------
    grids : geopandas.GeoDataFrame
        The grids.
    snap : Snapshot
        Every case and transition (:func:`web.pages.data.snapshot`).
    period : {"day", "week", "month"}
        The window, ending at the latest report.
    kpi : str
        The KPI colouring the grids (:data:`KPIS`); the tooltips show all three.
    lang : {"zh", "en"}
        Language.
    tiles, attribution : str, optional
        Basemap; None draws grid outlines only.
    note : str, optional
        Attribution of the data drawn (OpenStreetMap).

    Returns
    -------
    HeatmapView
        The map, the window as text, the top hotspot grids and two SVG charts.
    """
    tiles, attribution = basemap(tiles, attribution)
    incidents = snap.incidents
    table = None
    window_text = tr("no_data", lang)
    hot: list[dict[str, Any]] = []
    charts: list[str] = []
    if len(incidents) and incidents["reported_at"].notna().any():
        start, end = period_window(incidents["reported_at"], period)
        by_grid = kpis(
            incidents, snap.history, by="grid", start=start + _TICK, end=end + _TICK, now=snap.as_of
        )
        table = by_grid.set_index("grid_code")[list(KPIS)]
        table = table[[kpi, *(c for c in KPIS if c != kpi)]]
        when = incidents["reported_at"]
        window = incidents[((when > start) & (when <= end)).to_numpy()]
        window_text = tr("window", lang, start=fmt_time(start), end=fmt_time(end), n=len(window))
        codes = (
            grid_codes_of(window, grids)
            if len(window) and len(grids)
            else pd.Series([], dtype="string")
        )
        hot = [
            {"code": str(r.code), "name": label(r.name, r.code), "count": int(r.count)}
            for r in hotspots(codes, grids).itertuples()
        ]
        charts = trend_charts(incidents, snap.history, end, snap.as_of, lang)
    m = heatmap_map(
        grids,
        incidents,
        table,
        period=period,
        kpi=kpi if table is not None else None,
        lang=lang,
        tiles=tiles,
        attribution=attribution,
    )
    if note:
        m.add_child(DataAttribution(note))
    return HeatmapView(m, window_text, hot, charts)


def trend_charts(
    incidents: pd.DataFrame,
    history: pd.DataFrame,
    end: pd.Timestamp,
    now: pd.Timestamp,
    lang: str,
    days: int = TREND_DAYS,
) -> list[str]:
    """Return two SVG charts over the ``days`` days up to ``end``: cases and median closure hours.

    One line per category, for the :data:`TOP_CATEGORIES` with the most cases in those days
    (:func:`gridmap.kpi.kpis` by category and day).
    """
    start = (end - pd.Timedelta(days=days - 1)).normalize()
    daily = kpis(
        incidents, history, by="category", period="day", start=start, end=end + _TICK, now=now
    )
    if daily.empty:
        return []
    top = daily.groupby("category")["received"].sum().sort_values(ascending=False, kind="stable")
    top = list(top.index[:TOP_CATEGORIES])
    dates = pd.date_range(
        start.tz_localize(None).normalize(), end.tz_localize(None).normalize(), freq="D"
    )
    x = [d.strftime("%m-%d") for d in dates]
    keys = [d.strftime("%Y-%m-%d") for d in dates]
    counts: dict[str, list[float | None]] = {}
    hours: dict[str, list[float | None]] = {}
    for code in top:
        rows = daily[daily["category"] == code].set_index("period")
        name = category_name(code, lang) or str(code)
        counts[name] = [float(v) for v in rows["received"].reindex(keys).fillna(0.0)]
        medians = rows["closure_p50_h"].reindex(keys).astype(float)
        hours[name] = [None if np.isnan(v) else round(float(v), 1) for v in medians]
    return [
        line_chart(x, counts, title=tr("per_day", lang)),
        line_chart(x, hours, title=tr("closure_hours", lang)),
    ]


def read_grids(store: Store) -> gpd.GeoDataFrame:
    """Read the grids."""
    return store.read("grids")


def heatmap_page(ctx: Context, req: Request) -> Response:
    """Serve the official's page (``?period=day|week|month&kpi=&lang=``)."""
    lang = negotiate(req)
    period, kpi = check_options(req.arg("period"), req.arg("kpi"))
    store, config = ctx.store, ctx.config
    grids = read_grids(store)
    cases = incidents_fingerprint(store)
    note = data_note(store, ("grids", "incidents"))

    def make() -> tuple[HeatmapView, str]:
        view = build_heatmap(
            grids,
            read_snapshot(store, cases),
            period=period,
            kpi=kpi,
            lang=lang,
            tiles=config.tiles,
            attribution=config.tiles_attribution,
            note=note,
        )
        return view, render_page(view.map)

    key = ("heatmap", period, kpi, lang, config.tiles, config.tiles_attribution)
    # new reports arrive all the time: a slow page is served once more as it was (it says
    # when its data is from) while it is built again in the background
    view, page = cached(store, key, (cases, digest(grids), note), make, stale_ok=True)
    values = {
        "view": view,
        "period": period,
        "kpi": kpi,
        "periods": [(p, t(p, lang)) for p in PERIODS],
        "kpi_options": [(k, t(k, lang)) for k in KPIS],
        "trend_days": TREND_DAYS,
    }
    html = compose(
        page,
        view.map.get_name(),
        req=req,
        lang=lang,
        page="heatmap",
        panel="heatmap_panel.html",
        values=values,
        data={"lang": lang},
    )
    return html_response(html)


ROUTES = [
    Route("GET", "/heatmap", heatmap_page, ("official",), errors=page_errors),
]
