"""The coverage map: stations and their service areas, coverage per grid, uncovered demand, sites."""

from __future__ import annotations

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
from folium import plugins

from gridmap.catalog import station_kinds
from gridmap.model import DEMAND_KINDS
from gridmap.spatial import metric_crs
from web.maps.aggregate import (
    covered_mask,
    feature_collection,
    grid_coverage,
    heat_points,
    latlon,
    light_grids,
    station_radii,
)
from web.maps.base import Legend, base_map, colour_scale, fill_style, grid_layer, legend_title
from web.maps.escape import safe
from web.maps.text import fmt_number, fmt_share, kind_name, label, layer_title, status_name, t

__all__ = ["KIND_COLOURS", "coverage_map", "ranked_sites"]

#: One colour per station kind of the catalog, in catalog order (then grey).
KIND_COLOURS = ("#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf")
#: Suggested sites listed in the legend.
TOP_SITES = 10
_UNCOVERED_GRADIENT = {0.2: "#fee8c8", 0.5: "#fdbb84", 0.8: "#e34a33", 1.0: "#b30000"}


def kind_colour(kind: str) -> str:
    """Return the colour of a station kind (grey for kinds not in the catalog)."""
    kinds = list(station_kinds())
    return KIND_COLOURS[kinds.index(kind) % len(KIND_COLOURS)] if kind in kinds else "#777777"


def ranked_sites(sites: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    """Return the suggested sites (``rank`` not null), best first."""
    if sites is None or sites.empty or "rank" not in sites:
        return gpd.GeoDataFrame({"rank": []}, geometry=gpd.GeoSeries([], crs=4326), crs=4326)
    rank = pd.to_numeric(sites["rank"], errors="coerce")
    chosen = sites[rank.notna().to_numpy() & sites.geometry.notna().to_numpy()]
    return chosen.assign(rank=rank[chosen.index].astype(int)).sort_values("rank", kind="stable")


def coverage_map(
    grids: gpd.GeoDataFrame,
    stations: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame | None = None,
    *,
    kind: str | None = None,
    metric: str = "population_share",
    lang: str = "zh",
    tiles: str | None = None,
    attribution: str | None = None,
    cover: pd.DataFrame | None = None,
) -> folium.Map:
    """Return the coverage map.

    Parameters
    ----------
    grids, stations, demand : geopandas.GeoDataFrame
        Layers as the store returns them (EPSG:4326).
    sites : geopandas.GeoDataFrame, optional
        Candidate sites; those with a ``rank`` (written by ``gridmap site``) are drawn, best
        first, with their gain.
    kind : str, optional
        Only stations and sites of this station kind (e.g. ``red_home``); default all.
    metric : str, default "population_share"
        Column of :func:`web.maps.aggregate.grid_coverage` that colours the grids
        (``population_share``, ``courier_share``, ``residential_share``...).
    lang : {"zh", "en"}, default "zh"
        Language of the labels.
    tiles, attribution : str, optional
        Basemap (see :func:`web.maps.base.base_map`); None draws grid outlines only.
    cover : pandas.DataFrame, optional
        :func:`web.maps.aggregate.grid_coverage` of these grids, stations (of ``kind``) and
        demand, when already computed (the slow part with 10,000 grids).

    Returns
    -------
    folium.Map
        Layers: coverage choropleth (one GeoJSON layer, stepped colour legend, tooltip with
        every share), service areas, stations by kind, uncovered demand heat map, suggested
        sites; a legend.
    """
    if kind is not None:
        stations = stations[stations["kind"] == kind]
        sites = None if sites is None else sites[sites["kind"] == kind]
    m = base_map(
        grids, tiles=tiles, attribution=attribution, lang=lang, title=t("coverage_title", lang)
    )
    crs = metric_crs(grids) if len(grids) else None
    if cover is None:
        cover = grid_coverage(grids, stations, demand, crs=crs)
    if metric not in cover:
        raise ValueError(f"unknown coverage metric {metric!r}; choose one of {', '.join(cover)}")
    _draw_grids(m, grids, cover, metric, lang, crs)
    _draw_stations(m, stations, lang)
    uncovered = np.zeros(0, bool)
    if len(demand):
        uncovered = ~covered_mask(demand.geometry, stations, crs)
    if uncovered.any():
        weights = demand["weight"] if "weight" in demand else pd.Series(1.0, demand.index)
        weights = pd.to_numeric(weights, errors="coerce").fillna(1.0).to_numpy(dtype=float)
        points = heat_points(demand.geometry[uncovered], weights[uncovered])
        plugins.HeatMap(
            points,
            name=t("uncovered_demand", lang),
            radius=18,
            blur=14,
            gradient=_UNCOVERED_GRADIENT,
        ).add_to(m)
    top = _draw_sites(m, ranked_sites(sites), lang)

    present = [k for k in station_kinds() if k in set(stations["kind"].astype(str))]
    swatches = [(kind_colour(k), kind_name(k, lang), "dot") for k in present]
    if uncovered.any():
        swatches.append(("#e34a33", t("uncovered_demand", lang), "square"))
    lines = []
    for column in ("population", *DEMAND_KINDS):
        total = cover[column].sum()
        if total > 0:
            what = t(column if column == "population" else f"{column}_demand", lang)
            share = fmt_share(cover[f"{column}_covered"].sum() / total)
            lines.append(t("covered_total", lang, what=what, share=share))
    title = legend_title("coverage_title", lang)
    if top:
        lines.append(t("suggested_sites", lang))
    m.add_child(Legend(title, swatches, lines, items=top))
    folium.LayerControl(collapsed=True).add_to(m)
    return m


def _draw_grids(
    m: folium.Map,
    grids: gpd.GeoDataFrame,
    cover: pd.DataFrame,
    metric: str,
    lang: str,
    crs: pyproj.CRS | None,
) -> None:
    codes = grids["code"].astype(str)
    values = cover[metric].to_numpy(dtype=float)
    shares = [
        c
        for c in cover.columns
        if c.endswith("_share") and (cover[c.removesuffix("_share")] > 0).any()
    ]
    columns: dict[str, object] = {
        "c": codes.map(safe),
        "n": grids.get("name", codes).map(safe),
        "v": np.round(values, 3),
        "p": [fmt_number(v) for v in cover["population"]],
    }
    fields = {"c": t("code", lang), "n": t("name", lang), "p": t("population", lang)}
    for i, column in enumerate(shares):
        columns[f"s{i}"] = [fmt_share(v) for v in cover[column]]
        fields[f"s{i}"] = t(column, lang)
    light = light_grids(grids, columns, crs=crs)
    light["v"] = light["v"].astype(float)
    scale = colour_scale(values, good_high=True, caption=t(metric, lang), share=True)
    style = fill_style("v", scale)
    grid_layer(light, name=layer_title("grids", lang), fields=fields, style=style).add_to(m)
    scale.add_to(m)


def _draw_stations(m: folium.Map, stations: gpd.GeoDataFrame, lang: str) -> None:
    """Draw service areas (open stations) and stations, one GeoJSON layer per kind."""
    usable = stations[stations.geometry.notna() & ~stations.geometry.is_empty]
    if usable.empty:
        return
    status = usable["status"] if "status" in usable else pd.Series("open", usable.index)
    status = status.fillna("open").astype(str)
    kinds = usable["kind"].astype(str)
    points = gpd.GeoDataFrame(
        {
            "n": [
                safe(label(a, b))
                for a, b in zip(usable.get("name", kinds), usable["id"], strict=True)
            ],
            "k": kinds.map(lambda k: safe(kind_name(k, lang))).to_numpy(),
            "s": status.map(lambda v: safe(status_name(v, lang) or v)).to_numpy(),
            "r": np.round(station_radii(usable)),
            "d": [f"{r:.0f} m" for r in station_radii(usable)],
            "kind": kinds.map(safe).to_numpy(),
            "open": (status == "open").to_numpy(),
        },
        geometry=usable.geometry.to_numpy(),
        crs=usable.crs,
    ).reset_index(drop=True)
    reach = points[points["open"] & (points["r"] > 0)]
    if len(reach):
        folium.GeoJson(
            feature_collection(reach[["kind", "r", "geometry"]]),
            name=t("service_area", lang),
            marker=folium.Circle(),
            style_function=lambda f: {
                "radius": f["properties"]["r"],
                "fill": True,
                "color": kind_colour(f["properties"]["kind"]),
                "weight": 1,
                "fillOpacity": 0.08,
                "interactive": False,
            },
        ).add_to(m)
    fields = {
        "n": t("name", lang),
        "k": t("kind", lang),
        "s": t("status", lang),
        "d": t("radius", lang),
    }
    for kind, group in points.groupby("kind", sort=False):
        folium.GeoJson(
            feature_collection(group[["n", "k", "s", "d", "open", "kind", "geometry"]]),
            name=f"{layer_title('stations', lang)}: {kind_name(kind, lang)}",
            marker=folium.CircleMarker(radius=6),
            style_function=lambda f: {
                "fill": True,
                "color": "#ffffff" if f["properties"]["open"] else "#333333",
                "weight": 2,
                "fillColor": kind_colour(f["properties"]["kind"]),
                "fillOpacity": 0.95 if f["properties"]["open"] else 0.4,
            },
            tooltip=folium.GeoJsonTooltip(
                fields=list(fields), aliases=[safe(a) for a in fields.values()]
            ),
        ).add_to(m)


def _draw_sites(m: folium.Map, sites: gpd.GeoDataFrame, lang: str) -> list[str]:
    """Draw the ranked sites as numbered badges; return legend lines for the best ones."""
    if sites.empty:
        return []
    group = folium.FeatureGroup(name=t("suggested_sites", lang)).add_to(m)
    lat, lon = latlon(sites.geometry)
    lines = []
    for i, (_, row) in enumerate(sites.iterrows()):
        rank = int(row["rank"])
        gain = fmt_number(row.get("gain"))
        line = f"#{rank} {label(row.get('name'), row.get('id'))} (+{gain})"
        badge = (
            '<div style="background:#111;color:#ffd700;border:2px solid #ffd700;'
            "border-radius:50%;font:bold 11px/20px sans-serif;text-align:center;"
            f'width:20px;height:20px">{rank}</div>'
        )
        tip = (
            f"<b>{safe(t('rank', lang))} {rank}</b>: {safe(label(row.get('name'), row.get('id')))}<br>"
            f"{safe(kind_name(row.get('kind'), lang))}<br>{safe(t('gain', lang))}: {safe(gain)}"
        )
        folium.Marker(
            [lat[i], lon[i]],
            icon=folium.DivIcon(html=badge, icon_size=(24, 24), icon_anchor=(12, 12)),
            tooltip=folium.Tooltip(tip),
        ).add_to(group)
        if i < TOP_SITES:
            lines.append(line)
    return lines
