"""Map pages as HTML (served or standalone) and as PNG screenshots."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import folium

from gridmap.errors import GridMapError
from web.maps.assets import inline_assets, localise

__all__ = ["BrowserMissingError", "is_local", "render_page", "render_standalone", "to_png"]


class BrowserMissingError(GridMapError):
    """No Debian ``chromium`` (or no ``playwright`` package) to take a screenshot with."""

    http_status = 503


def _html(m: folium.Map) -> str:
    page = m.get_root().render()
    lang = getattr(m, "_gridmap_lang", None)
    if lang and page.lstrip().startswith("<!DOCTYPE html>"):
        page = page.replace("<html>", f'<html lang="{lang}">', 1)
    return page


def render_page(m: folium.Map, prefix: str = "/static/vendor/") -> str:
    """Return the full HTML page of ``m``, loading its scripts from our own server.

    Parameters
    ----------
    m : folium.Map
        A map from one of the builders (any folium map whose assets are vendored).
    prefix : str, default "/static/vendor/"
        URL prefix of ``web/static/vendor/``.

    Returns
    -------
    str
        HTML with no ``src``/``href`` pointing at the internet.

    Raises
    ------
    ValueError
        If the map uses an asset that is not vendored (:func:`web.maps.assets.localise`).
    """
    return localise(_html(m), prefix)


def render_standalone(m: folium.Map) -> str:
    """Return the HTML page of ``m`` with every script and stylesheet inlined.

    The file opens from disk with no server and no network (``--out FILE``). With a tile
    basemap the tiles still come from the tile server.

    Raises
    ------
    ValueError
        If the map uses an asset that is not vendored.
    """
    return inline_assets(_html(m))


def to_png(
    html_path: str | Path,
    png_path: str | Path,
    *,
    width: int = 1280,
    height: int = 800,
    timeout_s: float = 30.0,
) -> Path:
    """Screenshot a standalone map page with headless Debian Chromium.

    Requests leaving the machine are blocked (only ``file:``, ``data:`` and localhost load).

    Parameters
    ----------
    html_path : str or Path
        A page from :func:`render_standalone`.
    png_path : str or Path
        Where to write the PNG (parent folders are created).
    width, height : int
        Viewport in CSS pixels.
    timeout_s : float, default 30
        Time allowed for the page to load.

    Returns
    -------
    Path
        ``png_path``.

    Raises
    ------
    BrowserMissingError
        If ``chromium`` is not on the PATH or the ``playwright`` package is missing (install
        Debian's ``chromium``; never ``playwright install``).
    """
    exe = shutil.which("chromium")
    if exe is None:
        raise BrowserMissingError(
            "cannot take a screenshot: Debian chromium is not installed (apt-get install chromium)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise BrowserMissingError(
            "cannot take a screenshot: the playwright package is not installed"
        ) from None
    source = Path(html_path).resolve()
    out = Path(png_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    # A thread of its own: the sync API refuses to start where another Playwright (a test
    # fixture, a caller's) already runs an event loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(_shoot, sync_playwright, exe, source, out, (width, height), timeout_s).result()
    return out


def _shoot(
    sync_playwright: Callable[[], Any],
    exe: str,
    source: Path,
    out: Path,
    size: tuple[int, int],
    timeout_s: float,
) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": size[0], "height": size[1]})
            page.route("**/*", _local_only)
            page.goto(source.as_uri(), wait_until="load", timeout=timeout_s * 1000)
            page.wait_for_selector(".leaflet-container", timeout=timeout_s * 1000)
            page.wait_for_timeout(300)  # let clusters and the heat canvas draw
            page.screenshot(path=str(out))
        finally:
            browser.close()


def is_local(url: str) -> bool:
    """Return whether a page may load ``url`` offline (file, data, blob or localhost)."""
    if url.startswith(("file:", "data:", "blob:", "about:")):
        return True
    return urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1")


def _local_only(route: object) -> None:
    request = route.request  # type: ignore[attr-defined]
    if is_local(request.url):
        route.continue_()  # type: ignore[attr-defined]
    else:
        route.abort()  # type: ignore[attr-defined]
