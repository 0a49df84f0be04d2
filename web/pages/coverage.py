"""The planner's page: station coverage per grid, suggested sites ranked, before and after.

The map is :func:`web.maps.coverage_map`. The side panel lists the sites of the last siting
run (``rank`` and ``gain`` written by ``gridmap site`` or an accepted ``POST /api/siting``) and
compares coverage with today's open stations ("before") and with the suggested sites opened
too ("after"); ``?scenario=after`` colours the map with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import folium
import geopandas as gpd
import pandas as pd

from gridmap.catalog import station_kinds
from gridmap.errors import ValidationError
from gridmap.model import DEMAND_KINDS
from gridmap.spatial import metric_crs
from gridmap.stores.base import Store
from web.context import Context
from web.http import Request, Response, Route
from web.maps import coverage_map, grid_coverage, render_page
from web.maps.attribution import DataAttribution
from web.maps.coverage import ranked_sites
from web.maps.text import fmt_number, fmt_share, kind_name, label, t
from web.pages.cache import cached
from web.pages.data import basemap, data_note, digest
from web.pages.i18n import negotiate, tr
from web.pages.layout import compose, html_response
from web.pages.session import page_errors

__all__ = ["METRICS", "SCENARIOS", "CoverageInputs", "build_coverage", "read_coverage"]

METRICS = ("population_share", "residential_share", "courier_share", "incident_share")
SCENARIOS = ("before", "after")
#: Suggested sites listed in the panel.
SITES_LISTED = 50


@dataclass(frozen=True)
class CoverageInputs:
    """The layers of the planner's map, as read from the store."""

    grids: gpd.GeoDataFrame
    stations: gpd.GeoDataFrame
    demand: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    note: str | None = None

    def fingerprint(self) -> tuple[str, str | None]:
        """Return a digest of the layers' content, and the attribution."""
        return digest(self.grids, self.stations, self.demand, self.sites), self.note


@dataclass(frozen=True)
class CoverageView:
    """The planner's map and the tables of the side panel."""

    map: folium.Map
    sites: list[dict[str, str]]
    figures: list[dict[str, str]]
    n_sites: int
    sources: list[str]


def read_coverage(store: Store) -> CoverageInputs:
    """Read the grids, stations, demand points and candidate sites."""
    return CoverageInputs(
        store.read("grids"),
        store.read("stations"),
        store.read("demand"),
        store.read("sites"),
        data_note(store, ("grids", "stations", "demand", "sites")),
    )


def check_options(
    kind: str | None, metric: str | None, scenario: str | None
) -> tuple[str | None, str, str]:
    """Return checked ``(kind, metric, scenario)`` (defaults: all kinds, population, before).

    Blank values are the defaults.

    Raises
    ------
    ValidationError
        For an unknown station kind, metric or scenario.
    """
    kind = kind or None
    if kind is not None and kind not in station_kinds():
        raise ValidationError(f"kind: {kind!r} is not a station kind", ["kind"])
    metric = metric or METRICS[0]
    if metric not in METRICS:
        raise ValidationError(f"metric: {metric!r} is not one of {', '.join(METRICS)}", ["metric"])
    scenario = scenario or SCENARIOS[0]
    if scenario not in SCENARIOS:
        raise ValidationError(f"scenario: {scenario!r} is not before or after", ["scenario"])
    return kind, metric, scenario


def default_kind(sites: gpd.GeoDataFrame) -> str | None:
    """Return the station kind of the best ranked site (None when no site is ranked)."""
    ranked = ranked_sites(sites)
    return str(ranked["kind"].iloc[0]) if len(ranked) and "kind" in ranked else None


def with_sites(stations: gpd.GeoDataFrame, sites: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return the stations plus the suggested sites as open stations (the "after" scenario)."""
    if sites.empty:
        return stations
    added = gpd.GeoDataFrame(
        {
            "id": sites["id"].astype(str).to_numpy(),
            "kind": sites["kind"].astype(str).to_numpy(),
            "name": sites.get("name", sites["id"]).to_numpy(),
            "status": "open",
        },
        geometry=sites.geometry.to_crs(stations.crs or 4326).to_numpy(),
        crs=stations.crs or 4326,
    )
    return pd.concat([stations, added], ignore_index=True)


def build_coverage(
    inputs: CoverageInputs,
    *,
    kind: str | None = None,
    metric: str = "population_share",
    scenario: str = "before",
    lang: str = "zh",
    tiles: str | None = None,
    attribution: str | None = None,
    covers: tuple[pd.DataFrame, pd.DataFrame] | None = None,
) -> CoverageView:
    """Return the planner's map, the ranked sites and the before/after coverage figures.

    Parameters
    ----------
    inputs : CoverageInputs
        From :func:`read_coverage`.
    kind : str, optional
        Only stations and sites of this kind.
    metric : str, default "population_share"
        What colours the grids (one of :data:`METRICS`).
    scenario : {"before", "after"}
        Colour the grids with today's stations, or with the suggested sites opened too.
    lang : {"zh", "en"}
        Language.
    tiles, attribution : str, optional
        Basemap; None draws grid outlines only.
    covers : tuple of pandas.DataFrame, optional
        :func:`coverages` of these inputs and ``kind``, when already computed.

    Returns
    -------
    CoverageView
        The map; the ranked sites (rank, id, name, kind, gain, source); per measure (people
        and each kind of demand present) the covered share before and after, and the change.
    """
    tiles, attribution = basemap(tiles, attribution)
    stations, ranked = _of_kind(inputs, kind)
    after = with_sites(stations, ranked)
    before_cover, after_cover = covers or coverages(inputs, kind)
    m = coverage_map(
        inputs.grids,
        after if scenario == "after" else stations,
        inputs.demand,
        ranked,
        metric=metric,
        lang=lang,
        tiles=tiles,
        attribution=attribution,
        cover=after_cover if scenario == "after" else before_cover,
    )
    if inputs.note:
        m.add_child(DataAttribution(inputs.note))
    rows = [
        {
            "rank": str(int(r["rank"])),
            "id": str(r["id"]),
            "name": label(r.get("name"), r["id"]),
            "kind": kind_name(r.get("kind"), lang),
            "gain": fmt_number(r.get("gain")),
        }
        for _, r in ranked.head(SITES_LISTED).iterrows()
    ]
    figures = _figures(before_cover, after_cover, lang)
    sources = sorted({label(v) for v in ranked.get("suggested_by", pd.Series(dtype=object))} - {""})
    return CoverageView(m, rows, figures, len(ranked), sources)


def _of_kind(inputs: CoverageInputs, kind: str | None) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Return the stations and the ranked sites of ``kind`` (all kinds when None)."""
    stations, sites = inputs.stations, inputs.sites
    if kind is not None:
        stations = stations[stations["kind"] == kind]
        sites = sites[sites["kind"] == kind]
    return stations, ranked_sites(sites)


def coverages(inputs: CoverageInputs, kind: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return :func:`web.maps.grid_coverage` with today's stations and with the sites opened.

    Both are the same frame when no site of ``kind`` is ranked.
    """
    stations, ranked = _of_kind(inputs, kind)
    crs = metric_crs(inputs.grids) if len(inputs.grids) else None
    before = grid_coverage(inputs.grids, stations, inputs.demand, crs=crs)
    if ranked.empty:
        return before, before
    after = grid_coverage(inputs.grids, with_sites(stations, ranked), inputs.demand, crs=crs)
    return before, after


def _figures(before: pd.DataFrame, after: pd.DataFrame, lang: str) -> list[dict[str, str]]:
    out = []
    for column in ("population", *DEMAND_KINDS):
        total = float(before[column].sum())
        if total <= 0:
            continue
        share_now = float(before[f"{column}_covered"].sum()) / total
        share_then = float(after[f"{column}_covered"].sum()) / total
        what = t(column if column == "population" else f"{column}_demand", lang)
        out.append(
            {
                "measure": what,
                "before": fmt_share(share_now),
                "after": fmt_share(share_then),
                "change": f"{100 * (share_then - share_now):+.1f} pp",
            }
        )
    return out


def coverage_page(ctx: Context, req: Request) -> Response:
    """Serve the planner's page (``?kind=&metric=&scenario=before|after&lang=``)."""
    lang = negotiate(req)
    inputs = read_coverage(ctx.store)
    asked = req.arg("kind")
    if asked is None:  # by default, the kind of the last siting run's sites
        asked = default_kind(inputs.sites)
    kind, metric, scenario = check_options(asked, req.arg("metric"), req.arg("scenario"))
    config = ctx.config

    fingerprint = inputs.fingerprint()

    def make() -> tuple[CoverageView, str]:
        covers = cached(ctx.store, ("cover", kind), fingerprint, lambda: coverages(inputs, kind))
        view = build_coverage(
            inputs,
            kind=kind,
            metric=metric,
            scenario=scenario,
            lang=lang,
            tiles=config.tiles,
            attribution=config.tiles_attribution,
            covers=covers,
        )
        return view, render_page(view.map)

    key = ("coverage", kind, metric, scenario, lang, config.tiles, config.tiles_attribution)
    view, page = cached(ctx.store, key, fingerprint, make)
    values: dict[str, Any] = {
        "view": view,
        "kind": kind,
        "metric": metric,
        "scenario": scenario,
        "kind_options": [(k, kind_name(k, lang)) for k in station_kinds()],
        "metric_options": [(k, t(k, lang)) for k in METRICS],
        "scenarios": [(s, tr(s, lang)) for s in SCENARIOS],
    }
    html = compose(
        page,
        view.map.get_name(),
        req=req,
        lang=lang,
        page="coverage",
        panel="coverage_panel.html",
        values=values,
        data={"lang": lang},
    )
    return html_response(html)


ROUTES = [
    Route("GET", "/coverage", coverage_page, ("planner",), errors=page_errors),
]
