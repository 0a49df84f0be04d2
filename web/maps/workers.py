"""Workers and suggested assignments on the dispatch map."""

from __future__ import annotations

import json

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from folium import plugins

from gridmap.dispatching import worker_locations
from gridmap.model import CRS
from web.maps.aggregate import COORD_DECIMALS, feature_collection, latlon
from web.maps.escape import safe
from web.maps.rows import RowLayer
from web.maps.text import label, layer_title, t

__all__ = ["CLUSTER_MIN", "LOAD_COLOURS", "draw_suggestions", "draw_workers"]

#: Above this many workers their badges are clustered (a square with how many are there).
CLUSTER_MIN = 300
_WORKER_CLUSTER = """function (cluster) {
    var n = cluster.getChildCount();
    return L.divIcon({
        html: '<div style="background:#2b8cbe;color:#fff;border:2px solid #fff;' +
            'border-radius:4px;font:bold 11px/20px sans-serif;text-align:center;width:34px;' +
            'height:20px;box-shadow:0 0 3px #000">' + n + '</div>',
        className: "gm-worker-cluster", iconSize: L.point(38, 24)
    });
}"""

#: Badge colours: room to spare, at 70% of the limit or more, at the limit.
LOAD_COLOURS = ("#2b8cbe", "#fd8d3c", "#d7191c")
# Rows: [lat, lon, colour index, open cases, id, name, limit, skills]; text arrives escaped.
_WORKER = """function (row) {
    var colours = COLOURS, text = TEXT;
    var badge = '<div style="background:' + colours[row[2]] + ';color:#fff;border:2px solid ' +
        '#fff;border-radius:4px;font:bold 11px/18px sans-serif;text-align:center;width:24px;' +
        'height:18px;box-shadow:0 0 3px #000">' + row[3] + '</div>';
    var marker = L.marker(new L.LatLng(row[0], row[1]), {icon: L.divIcon({
        html: badge, className: "empty", iconSize: [28, 22], iconAnchor: [14, 11]})});
    marker.bindTooltip("<b>" + row[5] + "</b> (" + row[4] + ")<br>" + text.load + ": " +
        row[3] + "/" + row[6] + "<br>" + text.skills + ": " + row[7], {sticky: true});
    return marker;
}"""


class _GridsOnly:
    """Just enough of a store for :func:`gridmap.dispatching.worker_locations`."""

    def __init__(self, grids: gpd.GeoDataFrame) -> None:
        self._grids = grids

    def read(self, _layer: str) -> gpd.GeoDataFrame:
        return self._grids


def draw_workers(
    m: folium.Map,
    workers: gpd.GeoDataFrame,
    grids: gpd.GeoDataFrame,
    case_workers: pd.Series,
    lang: str,
) -> gpd.GeoSeries:
    """Draw each worker as a badge showing their open cases; return locations by worker id.

    Parameters
    ----------
    m : folium.Map
        The map to draw on.
    workers, grids : geopandas.GeoDataFrame
        Workers (``id``, ``name``, ``max_open``, ``skills``, ``grid_codes``) and grids.
        Workers without a location stand at the centre of their grids
        (:func:`gridmap.dispatching.worker_locations`).
    case_workers : pandas.Series
        The ``worker_id`` of each open case (their load).
    lang : {"zh", "en"}
        Language of the labels.

    Returns
    -------
    geopandas.GeoSeries
        Each worker's location (None when unknown), indexed by worker id.
    """
    if workers.empty:
        return gpd.GeoSeries([], crs=CRS)
    workers = workers.reset_index(drop=True)
    where = workers.geometry
    if "grid_codes" in workers and len(grids):
        where = worker_locations(_GridsOnly(grids), workers)  # type: ignore[arg-type]
    by_worker = case_workers.dropna().astype(str).value_counts()
    load = workers["id"].astype(str).map(by_worker).fillna(0).astype(int)
    limit = pd.to_numeric(
        workers.get("max_open", pd.Series(np.nan, workers.index)), errors="coerce"
    )
    has = (where.notna() & ~where.is_empty).to_numpy()
    lat, lon = latlon(where[has])
    n = load.to_numpy()[has]
    cap = limit.to_numpy(dtype=float, na_value=np.nan)[has]
    limited = np.isfinite(cap) & (cap > 0)
    colour = np.where(limited & (n >= cap), 2, np.where(limited & (n >= 0.7 * cap), 1, 0))
    ids = workers["id"][has]
    names = workers.get("name", workers["id"])[has]
    skills = workers.get("skills", pd.Series(None, index=workers.index))[has]
    rows = [
        [
            a,
            b,
            int(c),
            int(k),
            safe(i),
            safe(label(nm, i)),
            "" if np.isnan(lim) else int(lim),
            safe(", ".join(map(str, sk)) if isinstance(sk, (list, tuple, np.ndarray)) else sk),
        ]
        for a, b, c, k, i, nm, lim, sk in zip(
            lat, lon, colour, n, ids, names, cap, skills, strict=True
        )
    ]
    text = {"load": safe(t("load", lang)), "skills": safe(t("skills", lang))}
    callback = _WORKER.replace("COLOURS", json.dumps(list(LOAD_COLOURS)))
    callback = callback.replace("TEXT", json.dumps(text))
    name = layer_title("workers", lang)
    if len(rows) > CLUSTER_MIN:  # thousands of badges in the page's DOM are slow to draw
        plugins.FastMarkerCluster(
            rows,
            callback=callback,
            icon_create_function=_WORKER_CLUSTER,
            name=name,
            disableClusteringAtZoom=16,
            showCoverageOnHover=False,
            chunkedLoading=True,
        ).add_to(m)
    else:
        RowLayer(rows, callback, name).add_to(m)
    return gpd.GeoSeries(where.values, index=workers["id"].astype(str).to_numpy(), crs=where.crs)


def draw_suggestions(
    m: folium.Map,
    suggestions: pd.DataFrame,
    incidents: gpd.GeoDataFrame,
    where: gpd.GeoSeries,
    lang: str,
) -> None:
    """Draw each suggested assignment as a dashed line from the case to the worker.

    ``suggestions`` has columns ``incident_id`` and ``worker_id``; ``where`` holds worker
    locations by id (:func:`draw_workers`). Pairs with an unknown end are left out.
    """
    case_at = pd.Series(incidents.geometry.values, index=incidents["id"].astype(str))
    case_at = case_at[~case_at.index.duplicated()]
    pairs = pd.DataFrame(
        {
            "incident": suggestions["incident_id"].astype(str).to_numpy(),
            "worker": suggestions["worker_id"].astype(str).to_numpy(),
        }
    )
    start = pairs["incident"].map(case_at)
    end = pairs["worker"].map(where[~where.index.duplicated()])
    ok = (start.notna() & end.notna()).to_numpy()
    if not ok.any():
        return
    a = gpd.GeoSeries(start[ok].to_numpy(), crs=incidents.crs).to_crs(CRS)
    b = gpd.GeoSeries(end[ok].to_numpy(), crs=where.crs).to_crs(CRS)
    lines = shapely.linestrings(
        np.stack([np.column_stack([a.x, a.y]), np.column_stack([b.x, b.y])], axis=1).round(
            COORD_DECIMALS
        )
    )
    frame = gpd.GeoDataFrame(
        {
            "incident": pairs["incident"][ok].map(safe).to_numpy(),
            "worker": pairs["worker"][ok].map(safe).to_numpy(),
        },
        geometry=lines,
        crs=CRS,
    )
    folium.GeoJson(
        feature_collection(frame),
        name=t("suggestions", lang),
        style_function=lambda _f: {"color": "#444444", "weight": 2, "dashArray": "6 4"},
        tooltip=folium.GeoJsonTooltip(
            fields=["incident", "worker"],
            aliases=[safe(t("incident", lang)), safe(t("worker", lang))],
        ),
    ).add_to(m)
