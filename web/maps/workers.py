"""Workers and suggested assignments on the dispatch map."""

from __future__ import annotations

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap.dispatching import worker_locations
from gridmap.model import CRS
from web.maps.aggregate import COORD_DECIMALS, feature_collection, latlon
from web.maps.escape import safe
from web.maps.text import label, layer_title, t

__all__ = ["draw_suggestions", "draw_workers"]


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
    group = folium.FeatureGroup(name=layer_title("workers", lang)).add_to(m)
    has = where.notna() & ~where.is_empty
    lat, lon = latlon(where[has])
    for i, key in enumerate(where.index[has]):
        row = workers.loc[key]
        n, cap = int(load[key]), limit[key]
        full = pd.notna(cap) and cap > 0 and n >= cap
        busy = pd.notna(cap) and cap > 0 and n >= 0.7 * cap
        colour = "#d7191c" if full else ("#fd8d3c" if busy else "#2b8cbe")
        badge = (
            f'<div style="background:{colour};color:#fff;border:2px solid #fff;'
            "border-radius:4px;font:bold 11px/18px sans-serif;text-align:center;"
            f'width:24px;height:18px;box-shadow:0 0 3px #000">{n}</div>'
        )
        skills = row.get("skills")
        if isinstance(skills, (list, tuple, np.ndarray)):
            skills = ", ".join(map(str, skills))
        tip = (
            f"<b>{safe(label(row.get('name'), row.get('id')))}</b> ({safe(row.get('id'))})<br>"
            f"{safe(t('load', lang))}: {n}/{safe('' if pd.isna(cap) else int(cap))}<br>"
            f"{safe(t('skills', lang))}: {safe(skills)}"
        )
        folium.Marker(
            [lat[i], lon[i]],
            icon=folium.DivIcon(html=badge, icon_size=(28, 22), icon_anchor=(14, 11)),
            tooltip=folium.Tooltip(tip),
        ).add_to(group)
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
