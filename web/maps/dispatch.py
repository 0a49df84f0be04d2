"""The dispatch map: open cases by urgency, workers with their load, suggested assignments."""

from __future__ import annotations

import json
from datetime import datetime

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from folium import plugins

from gridmap.calendar import working_calendar
from gridmap.workflow import OPEN_STATES
from web.maps.aggregate import grid_codes_of, latlon, light_grids
from web.maps.base import Legend, base_map, grid_layer, legend_title
from web.maps.escape import safe
from web.maps.text import (
    category_name,
    fmt_time,
    label,
    layer_title,
    priority_name,
    status_name,
    t,
)
from web.maps.workers import draw_suggestions, draw_workers

__all__ = ["CLASS_COLOURS", "dispatch_map", "urgency_class"]

#: Urgency classes, most urgent first: overdue, due within 4 h, then priority 1, 2, 3.
CLASS_COLOURS = ("#d7191c", "#fd8d3c", "#7b3294", "#2b83ba", "#1a9850")
DUE_SOON_HOURS = 4.0
#: Up to this many open cases are drawn one by one with tooltip and popup; above, clustered.
CLUSTER_MIN = 300
#: At most this many cases are drawn (the most urgent); grid tooltips count all of them.
MAX_POINTS = 30_000
#: Clustered cases carry tooltip text up to this many (the most urgent); the rest are dots.
DETAIL_LIMIT = 5_000
DESCRIPTION_CHARS = 80

# Rows: [lat, lon, class] or [lat, lon, class, id, category index, hours left, description];
# ids and descriptions arrive escaped (web.maps.escape.safe), tables come from Python.
_CALLBACK = """function (row) {
    var colours = COLOURS, text = TEXT;
    var marker = L.circleMarker(new L.LatLng(row[0], row[1]), {
        radius: 6, weight: 1, color: "#333333", fillColor: colours[row[2]], fillOpacity: 0.9,
        urgency: row[2]
    });
    if (row.length > 3) {
        var html = function () {
            var h = row[5], due = h === null ? "" :
                (h < 0 ? text.over : text.left).replace("{h}", Math.abs(h).toFixed(1));
            return "<b>" + row[3] + "</b> " + text.cats[row[4]] + "<br>" +
                text.classes[row[2]] + " · " + due + "<br>" + row[6];
        };
        marker.bindTooltip(html);
        marker.bindPopup(html);
    }
    return marker;
}"""
# Clusters take the colour of their most urgent case.
_CLUSTER_ICON = """function (cluster) {
    var colours = COLOURS, worst = 99, children = cluster.getAllChildMarkers();
    for (var i = 0; i < children.length; i++) {
        worst = Math.min(worst, children[i].options.urgency);
    }
    var n = cluster.getChildCount(), size = n < 100 ? 30 : (n < 1000 ? 36 : 44);
    return L.divIcon({
        html: '<div style="background:' + colours[worst] + ';width:' + size + 'px;height:' +
            size + 'px;line-height:' + size + 'px;border-radius:50%;color:#fff;' +
            'font-weight:bold;text-align:center;opacity:.85">' + n + '</div>',
        className: "gm-cluster", iconSize: L.point(size, size)
    });
}"""


def urgency_class(
    deadline: pd.Series, priority: pd.Series, now: pd.Timestamp
) -> tuple[np.ndarray, np.ndarray]:
    """Return each case's urgency class (index into :data:`CLASS_COLOURS`) and hours left.

    Overdue (deadline before ``now``) is 0, due within 4 hours 1, otherwise 2, 3 or 4 for
    priority 1, 2 or 3 (a missing or unknown priority counts as 3). Hours left are NaN without
    a deadline.
    """
    due = pd.to_datetime(deadline, errors="coerce")
    if due.dt.tz is None:  # naive deadlines are in the planning time zone
        due = due.dt.tz_localize(now.tz)
    hours = ((due - now) / pd.Timedelta(hours=1)).to_numpy(dtype=float, na_value=np.nan)
    prio = pd.to_numeric(priority, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    prio = np.where(np.isin(prio, (1, 2, 3)), prio, 3)
    cls = (prio + 1).astype(int)
    cls = np.where(hours < DUE_SOON_HOURS, 1, cls)
    return np.where(hours < 0, 0, cls), hours


def dispatch_map(
    grids: gpd.GeoDataFrame,
    incidents: gpd.GeoDataFrame,
    workers: gpd.GeoDataFrame,
    suggestions: pd.DataFrame | None = None,
    *,
    now: datetime | str,
    lang: str = "zh",
    tiles: str | None = None,
    attribution: str | None = None,
) -> folium.Map:
    """Return the dispatch map.

    Parameters
    ----------
    grids, incidents, workers : geopandas.GeoDataFrame
        Layers as the store returns them (EPSG:4326). Only open cases (received to resolved)
        are drawn. Workers without a location stand at the centre of their grids
        (:func:`gridmap.dispatching.worker_locations`).
    suggestions : pandas.DataFrame, optional
        Suggested assignments, columns ``incident_id`` and ``worker_id``: a line from each
        case to its worker.
    now : datetime or str
        The instant deadlines are judged at (naive: the working calendar's time zone).
    lang : {"zh", "en"}, default "zh"
        Language of the labels.
    tiles, attribution : str, optional
        Basemap (see :func:`web.maps.base.base_map`); None draws grid outlines only.

    Returns
    -------
    folium.Map
        Layers: grids (tooltip: open cases), open cases coloured by urgency (overdue red, due
        within 4 h orange, else by priority; clustered above :data:`CLUSTER_MIN` cases, the
        most urgent :data:`MAX_POINTS` drawn, the first :data:`DETAIL_LIMIT` of them with a
        tooltip), workers (badge = open cases), suggestions; a legend.
    """
    now_ts = _instant(now)
    m = base_map(
        grids, tiles=tiles, attribution=attribution, lang=lang, title=t("dispatch_title", lang)
    )
    status = (
        incidents["status"] if "status" in incidents else pd.Series("received", incidents.index)
    )
    cases = incidents[status.isin(OPEN_STATES).to_numpy()]
    cases = cases[cases.geometry.notna() & ~cases.geometry.is_empty]
    counts = grid_codes_of(cases, grids).value_counts() if len(cases) else pd.Series(dtype=int)
    codes = grids["code"].astype(str)
    light = light_grids(
        grids,
        {
            "c": codes.map(safe),
            "n": grids.get("name", codes).map(safe),
            "o": codes.map(counts).fillna(0).astype(int),
        },
    )
    fields = {"c": t("code", lang), "n": t("name", lang), "o": t("open_cases", lang)}
    grid_layer(light, name=layer_title("grids", lang), fields=fields).add_to(m)

    cls, hours = urgency_class(_column(cases, "deadline"), _column(cases, "priority"), now_ts)
    order = np.lexsort((cls, np.where(np.isnan(hours), np.inf, hours)))[:MAX_POINTS]
    _draw_cases(m, cases.iloc[order], cls[order], hours[order], lang)
    where = draw_workers(m, workers, grids, _column(cases, "worker_id"), lang)
    if suggestions is not None and len(suggestions):
        draw_suggestions(m, suggestions, incidents, where, lang)

    swatches = [(c, name, "dot") for c, name in zip(CLASS_COLOURS, _class_names(lang), strict=True)]
    swatches.append(("#2b8cbe", t("worker_load", lang), "square"))
    if suggestions is not None and len(suggestions):
        swatches.append(("#444444", t("suggestions", lang), "line"))
    lines = [t("open_summary", lang, n=len(cases), k=int((cls == 0).sum()))]
    if len(cases) > MAX_POINTS:
        lines.append(t("capped", lang, shown=MAX_POINTS, n=len(cases)))
    missing = int((where.isna() | where.is_empty).sum()) if len(where) else 0
    if missing:
        lines.append(t("no_location", lang, n=missing))
    m.add_child(Legend(legend_title("dispatch_title", lang), swatches, lines))
    folium.LayerControl(collapsed=True).add_to(m)
    return m


def _instant(now: datetime | str) -> pd.Timestamp:
    stamp = pd.Timestamp(now)
    tz = working_calendar().timezone
    return stamp.tz_localize(tz) if stamp.tz is None else stamp


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name] if name in frame else pd.Series(pd.NA, index=frame.index, dtype=object)


def _short(description: object) -> str:
    """Return a description cut to DESCRIPTION_CHARS characters, escaped."""
    text = label(description)
    return safe(text if len(text) <= DESCRIPTION_CHARS else text[:DESCRIPTION_CHARS] + "…")


def _class_names(lang: str) -> list[str]:
    """Return the names of the urgency classes, in class order."""
    return [t("overdue", lang), t("due_soon", lang)] + [priority_name(p, lang) for p in (1, 2, 3)]


def _case_html(row: pd.Series, hours: float, lang: str, *, full: bool) -> str:
    text = safe(label(row.get("description"))) if full else _short(row.get("description"))
    due = ""
    if np.isfinite(hours):
        key = "hours_over" if hours < 0 else "hours_left"
        due = f"{fmt_time(row.get('deadline'))} ({t(key, lang, h=f'{abs(hours):.1f}')})"
    parts = [
        f"<b>{safe(row.get('id'))}</b> {safe(category_name(row.get('category'), lang))}",
        f"{safe(t('priority', lang))}: {safe(priority_name(row.get('priority'), lang))}"
        f" · {safe(status_name(row.get('status'), lang))}",
        f"{safe(t('deadline', lang))}: {safe(due)}",
    ]
    if full:
        parts.append(f"{safe(t('reported_at', lang))}: {safe(fmt_time(row.get('reported_at')))}")
        parts.append(f"{safe(t('worker', lang))}: {safe(row.get('worker_id'))}")
    parts.append(text)
    return "<br>".join(parts)


def _draw_cases(
    m: folium.Map, cases: gpd.GeoDataFrame, cls: np.ndarray, hours: np.ndarray, lang: str
) -> None:
    name = t("open_cases", lang)
    lat, lon = latlon(cases.geometry)
    if len(cases) <= CLUSTER_MIN:
        group = folium.FeatureGroup(name=name).add_to(m)
        for i, (_, row) in enumerate(cases.iterrows()):
            folium.CircleMarker(
                [lat[i], lon[i]],
                radius=6,
                weight=1,
                color="#333333",
                fill=True,
                fill_color=CLASS_COLOURS[cls[i]],
                fill_opacity=0.9,
                tooltip=folium.Tooltip(_case_html(row, hours[i], lang, full=False)),
                popup=folium.Popup(_case_html(row, hours[i], lang, full=True), max_width=360),
            ).add_to(group)
        return
    rows: list[list] = [[lat[i], lon[i], int(cls[i])] for i in range(len(cases))]
    codes = sorted(set(_column(cases, "category").iloc[:DETAIL_LIMIT].astype(str)))
    index = {code: i for i, code in enumerate(codes)}
    detail = cases.iloc[:DETAIL_LIMIT]
    texts = [_short(v) for v in _column(detail, "description")]
    for i, (key, category, text) in enumerate(
        zip(detail["id"], _column(detail, "category").astype(str), texts, strict=True)
    ):
        h = None if np.isnan(hours[i]) else round(float(hours[i]), 1)
        rows[i] += [safe(key), index[category], h, text]
    table = {
        "cats": [safe(category_name(c, lang)) for c in codes],
        "classes": [safe(x) for x in _class_names(lang)],
        "over": safe(t("hours_over", lang)),
        "left": safe(t("hours_left", lang)),
    }
    colours = json.dumps(list(CLASS_COLOURS))
    callback = _CALLBACK.replace("COLOURS", colours).replace("TEXT", json.dumps(table))
    plugins.FastMarkerCluster(
        rows,
        callback=callback,
        icon_create_function=_CLUSTER_ICON.replace("COLOURS", colours),
        name=name,
        disableClusteringAtZoom=17,
        chunkedLoading=True,
    ).add_to(m)
