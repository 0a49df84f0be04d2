"""Map pages of the web app: folium maps built from GeoDataFrames, rendered offline.

Builders are pure functions over layers (no store, no Flask): :func:`dispatch_map`,
:func:`coverage_map`, :func:`heatmap_map`. :func:`render_page` gives the HTML served by the app
(assets from ``/static/vendor/``); :func:`render_standalone` a self-contained file;
:func:`to_png` a screenshot.
"""

from web.maps.aggregate import grid_coverage
from web.maps.assets import check_offline, inline_assets, localise
from web.maps.coverage import coverage_map
from web.maps.dispatch import dispatch_map
from web.maps.escape import safe
from web.maps.heatmap import heatmap_map
from web.maps.render import BrowserMissingError, render_page, render_standalone, to_png

__all__ = [
    "BrowserMissingError",
    "check_offline",
    "coverage_map",
    "dispatch_map",
    "grid_coverage",
    "heatmap_map",
    "inline_assets",
    "localise",
    "render_page",
    "render_standalone",
    "safe",
    "to_png",
]
