"""Offline map pages: rewrite folium's CDN links to vendored files, or inline those files.

Folium 0.20 links Leaflet, jQuery, plugins and styles from public CDNs, and branca adds d3 to
the page header directly. A page served by GridMap loads them from ``web/static/vendor/``
instead (:func:`localise`); a standalone page written to a file embeds them
(:func:`inline_assets`), so it opens with no server and no network. Both go through the one
explicit :data:`VENDOR` table: a link that is neither vendored nor deliberately dropped raises,
so a new plugin cannot silently reach the internet.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path

__all__ = ["DROP", "VENDOR", "VENDOR_DIR", "check_offline", "inline_assets", "localise"]

#: Where the vendored files live (served as ``/static/vendor/``).
VENDOR_DIR = Path(__file__).resolve().parent.parent / "static" / "vendor"

#: Every CDN URL folium 0.20 / branca 0.8 emits for the layers we use -> file under VENDOR_DIR.
VENDOR: dict[str, str] = {
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js": "leaflet-1.9.3/leaflet.js",
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css": "leaflet-1.9.3/leaflet.css",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery-3.7.1/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/leaflet.markercluster.js": (
        "leaflet.markercluster-1.1.0/leaflet.markercluster.js"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/MarkerCluster.css": (
        "leaflet.markercluster-1.1.0/MarkerCluster.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/MarkerCluster.Default.css": (
        "leaflet.markercluster-1.1.0/MarkerCluster.Default.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/d3/3.5.5/d3.min.js": "d3-3.5.5/d3.min.js",
    "https://cdn.jsdelivr.net/gh/python-visualization/folium@main/folium/templates/leaflet_heat.min.js": (
        "folium-0.20.0/leaflet_heat.min.js"
    ),
}

#: Links dropped on purpose: Bootstrap, Font Awesome and awesome-markers (none of our layers uses
#: them; ``leaflet.awesome.rotate.min.css`` belongs to awesome-markers).
DROP = ("bootstrap", "fontawesome", "awesome-markers", "awesome.rotate", "glyphicons")

_ASSET = re.compile(
    r'<(script|link)\b[^>]*?\b(?:src|href)="(https?://[^"]+)"[^>]*>(?:\s*</script>)?',
    re.IGNORECASE,
)
_REMOTE = re.compile(r'\b(?:src|href)\s*=\s*["\']?https?://', re.IGNORECASE)
_CSS_URL = re.compile(r"url\((['\"]?)(images/[\w.-]+\.png)\1\)")
_SOURCE_MAP = re.compile(r"^\s*//# sourceMappingURL=\S*\s*$", re.MULTILINE)


def _rewrite(page: str, replace: Callable[[str, str, re.Match[str]], str]) -> str:
    """Apply ``replace(tag, vendored_name, match)`` to every vendored asset link."""

    def swap(match: re.Match[str]) -> str:
        url = match.group(2)
        if url in VENDOR:
            return replace(match.group(1).lower(), VENDOR[url], match)
        if any(key in url.lower() for key in DROP):
            return ""
        raise ValueError(f"map asset not vendored: {url} (add it to web.maps.assets.VENDOR)")

    return _ASSET.sub(swap, page)


def localise(page: str, prefix: str = "/static/vendor/") -> str:
    """Point every CDN asset of a rendered folium page at the vendored copy.

    Parameters
    ----------
    page : str
        Full HTML of a folium map (``m.get_root().render()``).
    prefix : str, default "/static/vendor/"
        URL prefix the vendored files are served under.

    Returns
    -------
    str
        The page with vendored URLs; Bootstrap, Font Awesome and awesome-markers links removed.

    Raises
    ------
    ValueError
        If the page links an asset that is neither in :data:`VENDOR` nor dropped on purpose
        (the message names the URL), or if a remote ``src``/``href`` is left afterwards.
    """
    out = _rewrite(page, lambda _tag, name, m: m.group(0).replace(m.group(2), prefix + name))
    check_offline(out)
    return out


def check_offline(page: str) -> None:
    """Raise if any ``src=`` or ``href=`` attribute of ``page`` still points at http(s).

    Raises
    ------
    ValueError
        Naming the first remote reference.
    """
    found = _REMOTE.search(page)
    if found:
        start = max(0, found.start() - 40)
        raise ValueError(f"page still loads a remote asset: ...{page[start : found.end() + 80]}")


def inline_assets(page: str) -> str:
    """Embed every vendored script and stylesheet of a rendered folium page in the page itself.

    The result opens from a ``file://`` URL (or an e-mail attachment) with no server and no
    network. Leaflet's CSS images (layer-control icon, default marker) become ``data:`` URIs.

    Parameters
    ----------
    page : str
        Full HTML of a folium map (``m.get_root().render()``).

    Returns
    -------
    str
        Self-contained HTML.

    Raises
    ------
    ValueError
        As :func:`localise`, for an asset that is not vendored.
    """

    def embed(tag: str, name: str, _match: re.Match[str]) -> str:
        text = _vendored_text(name)
        if tag == "script":
            return f"<script>/* {name} */\n{text}\n</script>"
        return f"<style>/* {name} */\n{text}\n</style>"

    check_offline(_rewrite(page, lambda *_: ""))  # our part of the page; vendored code has links
    return _rewrite(page, embed)


@cache
def _vendored_text(name: str) -> str:
    """Return a vendored file ready to sit inside a ``<script>``/``<style>`` element."""
    path = VENDOR_DIR / name
    text = path.read_text(encoding="utf-8")
    text = _SOURCE_MAP.sub("", text)  # no request for a .map file we do not ship
    if name.endswith(".css"):
        text = _CSS_URL.sub(lambda m: f'url("{_data_uri(path.parent / m.group(2))}")', text)
        return re.sub(r"</(style)", r"<\\/\1", text, flags=re.IGNORECASE)
    # "</script" or "<!--" inside a script element would end it or change how it is parsed.
    text = re.sub(r"</(script)", r"<\\/\1", text, flags=re.IGNORECASE)
    return text.replace("<!--", "<\\!--")


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
