"""The incident heat map: where cases were reported in a period, KPIs per grid, hotspots."""

from __future__ import annotations

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from folium import plugins

from web.maps.aggregate import grid_codes_of, heat_points, light_grids
from web.maps.base import Legend, base_map, colour_scale, fill_style, grid_layer, legend_title
from web.maps.escape import safe
from web.maps.text import fmt_number, fmt_share, fmt_time, label, layer_title, t

__all__ = ["PERIODS", "heatmap_map", "hotspots", "period_window"]

PERIODS = {"day": pd.Timedelta(days=1), "week": pd.Timedelta(days=7), "month": None}
TOP_HOTSPOTS = 10


def period_window(reported_at: pd.Series, period: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Return ``(start, end)`` of the period ending at the latest report (start excluded).

    ``month`` is one calendar month back (``pd.DateOffset(months=1)``).

    Raises
    ------
    ValueError
        For a period other than ``day``, ``week`` or ``month``, or with no report time.
    """
    if period not in PERIODS:
        raise ValueError(f"unknown period {period!r}; choose one of {', '.join(PERIODS)}")
    end = pd.to_datetime(reported_at).max()
    if pd.isna(end):
        raise ValueError("no incident has a report time: cannot place the period")
    step = PERIODS[period]
    return (end - (step if step is not None else pd.DateOffset(months=1))), end


def hotspots(codes: pd.Series, grids: gpd.GeoDataFrame, top: int = TOP_HOTSPOTS) -> pd.DataFrame:
    """Return the ``top`` grids by number of cases: columns ``code``, ``name``, ``count``.

    Ties go to the smaller code.
    """
    counts = codes.dropna().astype(str).value_counts()
    frame = counts.rename_axis("code").reset_index(name="count")
    frame = frame.sort_values(["count", "code"], ascending=[False, True], kind="stable")
    names = dict(zip(grids["code"].astype(str), grids.get("name", grids["code"]), strict=True))
    frame["name"] = frame["code"].map(names)
    return frame.head(top).reset_index(drop=True)[["code", "name", "count"]]


def heatmap_map(
    grids: gpd.GeoDataFrame,
    incidents: gpd.GeoDataFrame,
    kpi_by_grid: pd.DataFrame | None = None,
    *,
    period: str = "week",
    kpi: str | None = None,
    lang: str = "zh",
    tiles: str | None = None,
    attribution: str | None = None,
) -> folium.Map:
    """Return the incident heat map.

    Parameters
    ----------
    grids, incidents : geopandas.GeoDataFrame
        Layers as the store returns them (EPSG:4326).
    kpi_by_grid : pandas.DataFrame, optional
        Indexed by grid code, numeric columns such as ``closure_rate``, ``on_time_rate`` (shares
        in [0, 1]: ``*_rate``/``*_share`` columns, more is better) or ``overdue_open`` (counts,
        more is worse). One column colours the grids; the tooltip shows all of them.
    period : {"day", "week", "month"}, default "week"
        The window, ending at the latest ``reported_at``.
    kpi : str, optional
        The column that colours the grids (default: the first column of ``kpi_by_grid``).
    lang : {"zh", "en"}, default "zh"
        Language of the labels.
    tiles, attribution : str, optional
        Basemap (see :func:`web.maps.base.base_map`); None draws grid outlines only.

    Returns
    -------
    folium.Map
        Layers: grids (KPI choropleth with a stepped colour legend when ``kpi_by_grid`` is
        given, else outlines; tooltip: cases in the period and the KPIs), the heat map of the
        period's cases; a legend with the period and the top 10 hotspot grids.
    """
    if period not in PERIODS:
        raise ValueError(f"unknown period {period!r}; choose one of {', '.join(PERIODS)}")
    m = base_map(
        grids, tiles=tiles, attribution=attribution, lang=lang, title=t("heatmap_title", lang)
    )
    window = incidents.iloc[:0]
    lines = []
    if len(incidents) and "reported_at" in incidents:
        start, end = period_window(incidents["reported_at"], period)
        when = incidents["reported_at"]
        window = incidents[((when > start) & (when <= end)).to_numpy()]
        window = window[window.geometry.notna() & ~window.geometry.is_empty]
        lines.append(t("period", lang, p=t(period, lang)))
        lines.append(
            t("incidents_window", lang, start=fmt_time(start), end=fmt_time(end), n=len(window))
        )
    codes = grid_codes_of(window, grids) if len(window) else pd.Series([], dtype="string")
    _draw_grids(m, grids, codes.value_counts(), kpi_by_grid, kpi, lang)
    if len(window):
        plugins.HeatMap(
            heat_points(window.geometry), name=layer_title("incidents", lang), radius=15, blur=12
        ).add_to(m)
    top = hotspots(codes, grids)
    items = [f"{label(r.name, r.code)} ({r.code}): {r.count}" for r in top.itertuples()]
    if items:
        lines.append(t("hotspots", lang, n=len(items)))
    m.add_child(Legend(legend_title("heatmap_title", lang), (), lines, items=items))
    folium.LayerControl(collapsed=True).add_to(m)
    return m


def _is_share(column: str) -> bool:
    return column.endswith(("_rate", "_share"))


def _draw_grids(
    m: folium.Map,
    grids: gpd.GeoDataFrame,
    counts: pd.Series,
    kpi_by_grid: pd.DataFrame | None,
    kpi: str | None,
    lang: str,
) -> None:
    codes = grids["code"].astype(str)
    columns: dict[str, object] = {
        "c": codes.map(safe),
        "n": grids.get("name", codes).map(safe),
        "k": codes.map(counts).fillna(0).astype(int),
    }
    fields = {"c": t("code", lang), "n": t("name", lang), "k": t("incident_count", lang)}
    style = None
    scale = None
    if kpi_by_grid is not None and len(kpi_by_grid.columns):
        table = kpi_by_grid.copy()
        table.index = table.index.astype(str)
        table = table.reindex(codes.to_numpy())
        kpi = kpi or str(table.columns[0])
        if kpi not in table:
            known = ", ".join(map(str, table.columns))
            raise ValueError(f"unknown KPI {kpi!r}; choose one of {known}")
        for i, column in enumerate(table.columns):
            values = pd.to_numeric(table[column], errors="coerce")
            fmt = fmt_share if _is_share(str(column)) else fmt_number
            columns[f"k{i}"] = [fmt(v) for v in values]
            fields[f"k{i}"] = t(str(column), lang)
        values = pd.to_numeric(table[kpi], errors="coerce").to_numpy(dtype=float)
        columns["v"] = np.round(values, 3)
        share = _is_share(kpi)
        scale = colour_scale(values, good_high=share, caption=t(kpi, lang), share=share)
        style = fill_style("v", scale)
    light = light_grids(grids, columns)
    if "v" in light:
        light["v"] = light["v"].astype(float)
    grid_layer(light, name=layer_title("grids", lang), fields=fields, style=style).add_to(m)
    if scale is not None:
        scale.add_to(m)
