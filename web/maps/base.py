"""Pieces every map page shares: the map itself, grid layers, the legend box, colour scales."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import branca.colormap as cm
import folium
import geopandas as gpd
import numpy as np
from branca.element import MacroElement
from folium.utilities import JsCode
from jinja2 import Template

from web.maps.aggregate import feature_collection
from web.maps.escape import safe
from web.maps.text import HTML_LANG, check_lang, t

__all__ = [
    "GOOD_HIGH",
    "HIGH_BAD",
    "Legend",
    "base_map",
    "colour_scale",
    "fill_style",
    "grid_layer",
    "legend_title",
]

MAX_ZOOM = 19
#: Colours of a value where more is better (shares, rates): red -> yellow -> green.
GOOD_HIGH = ("#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641")
#: Colours of a value where more is worse (counts of cases): light -> dark red.
HIGH_BAD = ("#fff5f0", "#fcbba1", "#fb6a4a", "#cb181d", "#67000d")
NO_DATA = "#cccccc"


def base_map(
    grids: gpd.GeoDataFrame,
    *,
    tiles: str | None,
    attribution: str | None,
    lang: str,
    title: str,
) -> folium.Map:
    """Return an empty map fitted to ``grids``.

    Parameters
    ----------
    grids : geopandas.GeoDataFrame
        The grids the map shows (their bounds fit the view); may be empty.
    tiles : str or None
        A folium tile name (``"OpenStreetMap"``) or an XYZ URL template; None for no basemap
        (the grid outlines are the background, and nothing is fetched from the network).
    attribution : str or None
        Attribution of a URL template (required by folium for custom tiles).
    lang : {"zh", "en"}
        Page language (the ``<html lang>`` attribute).
    title : str
        Page title.

    Returns
    -------
    folium.Map
        With ``maxZoom`` set on the map itself: without a tile layer Leaflet has no maximum
        zoom and marker clusters fail with "Map has no maxZoom specified" (GUIDE 1.3).
    """
    check_lang(lang)
    m = folium.Map(tiles=None, maxZoom=MAX_ZOOM, control_scale=True, zoom_start=12)
    if tiles is not None:
        name = t("basemap", lang)
        folium.TileLayer(tiles, attr=attribution, max_zoom=MAX_ZOOM, name=name).add_to(m)
    bounds = grids.to_crs(4326).total_bounds if len(grids) else np.full(4, np.nan)
    if np.isfinite(bounds).all():
        m.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
    m.get_root().title = safe(title)
    m._gridmap_lang = HTML_LANG[lang]  # read by web.maps.render for <html lang=...>
    return m


def grid_layer(
    grids: gpd.GeoDataFrame,
    *,
    name: str,
    fields: dict[str, str],
    style: Callable[[dict], dict] | None = None,
) -> folium.GeoJson | folium.FeatureGroup:
    """Return the grids as one GeoJSON layer with a hover tooltip.

    Parameters
    ----------
    grids : geopandas.GeoDataFrame
        Light grids (:func:`web.maps.aggregate.light_grids`) whose tooltip columns hold
        escaped text (the tooltip is built with ``innerHTML``). Short column names keep the
        page small: they are repeated in every feature.
    name : str
        Layer name in the layer control.
    fields : dict
        Tooltip column -> label (plain text; escaped here).
    style : callable, optional
        GeoJSON style function; default a thin grey outline.

    Returns
    -------
    folium.GeoJson or folium.FeatureGroup
        The features, embedded without per-feature ``bbox`` members; an empty group when
        there is no grid.

    Notes
    -----
    Folium turns a style function into a JavaScript ``switch`` over feature ids, one ``case``
    per feature: with 10,000 grids every feature's style walks thousands of string cases.
    Here each distinct style is listed once, each feature carries the index of its style
    (property ``s``), and a feature callback applies it, with the hover highlight.
    """
    if grids.empty:  # folium cannot style or describe an empty GeoJSON layer
        return folium.FeatureGroup(name=name)
    outline = {"color": "#555555", "weight": 1, "fillColor": "#ffffff", "fillOpacity": 0.05}
    data = feature_collection(grids)
    index: dict[tuple, int] = {}
    for feature in data["features"]:
        key = tuple(sorted((style or (lambda _f: outline))(feature).items()))
        feature["properties"]["s"] = index.setdefault(key, len(index))
    styles = json.dumps([dict(k) for k in index], separators=(",", ":"))
    return folium.GeoJson(
        data,
        name=name,
        style_function=lambda _feature: outline,
        on_each_feature=JsCode(_STYLE_EACH.replace("STYLES", styles)),
        tooltip=folium.GeoJsonTooltip(
            fields=list(fields), aliases=[safe(a) for a in fields.values()], sticky=True
        ),
        zoom_on_click=False,
    )


# Applies the feature's own style (``styles[properties.s]``) and the hover highlight.
_STYLE_EACH = """function (feature, layer) {
    var own = STYLES[feature.properties.s];
    layer.setStyle(own);
    layer.on({
        mouseover: function () { layer.setStyle({weight: 3, color: "#222222"}); },
        mouseout: function () { layer.setStyle({weight: own.weight, color: own.color}); }
    });
}"""


def colour_scale(
    values: np.ndarray, *, good_high: bool, caption: str, share: bool
) -> cm.StepColormap:
    """Return a stepped colour scale for ``values`` (few colours keep the page small).

    Shares and rates run from 0 to 1; counts from 0 to their maximum.
    """
    finite = values[np.isfinite(values)]
    vmax = 1.0 if share else float(max(finite.max() if finite.size else 1.0, 1.0))
    colours = list(GOOD_HIGH if good_high else HIGH_BAD)
    scale = cm.LinearColormap(colours, vmin=0.0, vmax=vmax).to_step(n=len(colours) * 2 - 1)
    scale.caption = caption
    return scale


def fill_style(column: str, scale: cm.StepColormap) -> Callable[[dict], dict]:
    """Return a GeoJSON style function filling each feature by ``properties[column]``."""

    def style(feature: dict) -> dict:
        value = feature["properties"].get(column)
        ok = value is not None and np.isfinite(value)
        return {
            "color": "#555555",
            "weight": 1,
            "fillColor": scale(value) if ok else NO_DATA,
            "fillOpacity": 0.6,
        }

    return style


class Legend(MacroElement):
    """A legend box in a corner of the map: a title, colour swatches and lines of text.

    Every label is escaped here; pass plain text.

    Parameters
    ----------
    title : str
        Heading of the box.
    swatches : sequence of (colour, label, shape)
        ``shape`` is ``"dot"``, ``"line"`` or ``"square"``.
    lines : sequence of str
        Plain lines after the swatches.
    position : str, default "bottomleft"
        ``bottomleft``, ``bottomright``, ``topleft`` or ``topright``.
    """

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>
          .gm-legend { position: absolute; z-index: 1000; background: rgba(255,255,255,.92);
            padding: 6px 10px; border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,.3);
            font: 12px/1.4 system-ui, "Noto Sans CJK SC", "Microsoft YaHei", sans-serif;
            max-width: 320px; max-height: 45vh; overflow-y: auto; }
          .gm-legend h4 { margin: 0 0 4px; font-size: 13px; }
          .gm-legend .sw { display: inline-block; width: 12px; height: 12px;
            margin-right: 6px; vertical-align: -2px; }
          .gm-legend .dot { border-radius: 50%; }
          .gm-legend .line { height: 3px; vertical-align: 3px; }
          .gm-legend ol { margin: 2px 0; padding-left: 20px; }
          .gm-bottomleft { left: 10px; bottom: 40px; } .gm-bottomright { right: 10px; bottom: 24px; }
          .gm-topleft { left: 54px; top: 10px; } .gm-topright { right: 54px; top: 10px; }
          .leaflet-container { background: #f4f3ef; }
        </style>
        {% endmacro %}
        {% macro html(this, kwargs) %}
        <div class="gm-legend gm-{{ this.position }}" id="{{ this.get_name() }}">{{ this.body }}</div>
        {% endmacro %}
        """
    )

    def __init__(
        self,
        title: str,
        swatches: Sequence[tuple[str, str, str]] = (),
        lines: Sequence[str] = (),
        items: Sequence[str] = (),
        position: str = "bottomleft",
    ) -> None:
        super().__init__()
        self._name = "Legend"
        self.position = position if position in _CORNERS else "bottomleft"
        parts = [f"<h4>{safe(title)}</h4>"]
        for colour, label, shape in swatches:
            css = f"background:{safe(colour)}"
            parts.append(
                f'<div><span class="sw {safe(shape)}" style="{css}"></span>{safe(label)}</div>'
            )
        parts += [f"<div>{safe(line)}</div>" for line in lines]
        if items:
            parts.append("<ol>" + "".join(f"<li>{safe(item)}</li>" for item in items) + "</ol>")
        self.body = "".join(parts)


_CORNERS = ("bottomleft", "bottomright", "topleft", "topright")


def legend_title(key: str, lang: str) -> str:
    """Return ``"<map title> · <legend>"``."""
    return f"{t(key, lang)} · {t('legend', lang)}"
