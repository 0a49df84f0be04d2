"""Standalone map pages in headless Chromium: offline, no errors, layers drawn, payloads inert."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.maps.conftest import ARTIFACTS, NOW, PAYLOAD
from web.maps import (
    coverage_map,
    dispatch_map,
    heatmap_map,
    render_standalone,
    to_png,
)
from web.maps.dispatch import CLUSTER_MIN

pytestmark = pytest.mark.browser

POKE = """() => {
    const targets = document.querySelectorAll("path.leaflet-interactive, .leaflet-marker-icon");
    for (const el of targets) {
        for (const type of ["mouseover", "mousemove", "click"]) {
            el.dispatchEvent(new MouseEvent(type, {bubbles: true, cancelable: true, view: window,
                                                   clientX: 300, clientY: 300}));
        }
    }
    return targets.length;
}"""


def poke_everything(page) -> int:
    """Hover and click every interactive path and marker; return how many were poked.

    Tooltips stay open (no mouseout), so their text is in the page afterwards; the last click
    leaves its popup open.
    """
    count = page.evaluate(POKE)
    page.mouse.move(640, 400)  # and a real pointer on the middle of the map
    page.mouse.click(640, 400)
    page.wait_for_timeout(100)
    return count


def assert_clean(page, errors, outside, *, shown_payload: bool = True):
    assert errors == []
    assert outside == []
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("img[src='x']").count() == 0
    if shown_payload:  # the payload was rendered somewhere, as text
        text = page.evaluate("document.body.innerText")
        assert "<img src=x onerror=" in text


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"maps_{name}.png"))


def test_dispatch_page(open_page, city):
    m = dispatch_map(
        city["grids"], city["incidents"], city["workers"], city["suggestions"], now=NOW, lang="en"
    )
    page, errors, outside = open_page(render_standalone(m), "dispatch")
    n_open = int((city["incidents"]["status"] != "closed").sum())
    # 9 grids + one circle per open case + 5 suggestion lines.
    assert page.locator("path.leaflet-interactive").count() == 9 + n_open + 5
    assert page.locator(".leaflet-marker-icon").count() == 2  # workers with a location
    legend = page.locator(".gm-legend").inner_text()
    assert "Overdue" in legend and "Due within 4 h" in legend and "Urgent" in legend
    assert "1 workers have no location" in legend
    assert poke_everything(page) > 0
    assert_clean(page, errors, outside)
    screenshot(page, "dispatch")


def test_dispatch_page_clustered(open_page, city):
    copies = CLUSTER_MIN // 30 + 2
    incidents = pd.concat([city["incidents"]] * copies, ignore_index=True)
    incidents["id"] = [f"X{i}" for i in range(len(incidents))]
    m = dispatch_map(city["grids"], incidents, city["workers"], now=NOW, lang="zh")
    page, errors, outside = open_page(render_standalone(m), "dispatch_clustered")
    assert page.locator(".gm-cluster").count() > 0  # clusters with our own icons
    screenshot(page, "dispatch_clustered")
    # Zoom in past disableClusteringAtZoom on the payload case: markers come apart.
    payload = incidents[incidents["description"] == PAYLOAD].geometry.iloc[0]
    page.evaluate(
        "([lat, lon]) => window[document.querySelector('.folium-map').id].setView([lat, lon], 18)",
        [payload.y, payload.x],
    )
    page.wait_for_timeout(300)
    assert poke_everything(page) > 0
    assert_clean(page, errors, outside)


def test_coverage_page(open_page, city):
    m = coverage_map(city["grids"], city["stations"], city["demand"], city["sites"], lang="en")
    page, errors, outside = open_page(render_standalone(m), "coverage")
    # 9 grids + 2 service areas (open stations) + 3 stations.
    assert page.locator("path.leaflet-interactive").count() >= 9 + 3
    assert page.locator("path").count() >= 9 + 2 + 3
    assert page.locator(".leaflet-marker-icon").count() == 2  # ranked sites
    assert page.locator(".legend svg, svg .caption").count() > 0  # branca colour scale (d3)
    assert page.locator("canvas.leaflet-heatmap-layer").count() == 1  # uncovered demand
    legend = page.locator(".gm-legend").inner_text()
    assert "Red Home" in legend and "Suggested sites" in legend
    assert "#1 候选 B (+30.5)" in legend
    poke_everything(page)
    assert_clean(page, errors, outside)
    screenshot(page, "coverage")


def test_heatmap_page(open_page, city):
    kpi = pd.DataFrame(
        {"closure_rate": [0.1 * i for i in range(9)], "overdue_open": range(9)},
        index=city["grids"]["code"],
    )
    m = heatmap_map(city["grids"], city["incidents"], kpi, period="month", lang="zh")
    page, errors, outside = open_page(render_standalone(m), "heatmap")
    assert page.locator("path.leaflet-interactive").count() == 9
    assert page.locator("canvas.leaflet-heatmap-layer").count() == 1
    legend = page.locator(".gm-legend").inner_text()
    assert "热点网格（前" in legend and "最近一月" in legend
    poke_everything(page)
    assert_clean(page, errors, outside)  # the payload grid name is in the hotspot list
    screenshot(page, "heatmap")


def test_to_png(city, tmp_path, chromium_path):
    m = coverage_map(city["grids"], city["stations"], city["demand"], lang="en")
    html = tmp_path / "coverage.html"
    html.write_text(render_standalone(m), encoding="utf-8")
    out = to_png(html, tmp_path / "shots" / "coverage.png", width=800, height=600)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
