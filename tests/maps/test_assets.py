from __future__ import annotations

import re
from html.parser import HTMLParser

import folium
import pytest
from folium import plugins

from web.maps.assets import VENDOR, VENDOR_DIR, check_offline, inline_assets, localise

REMOTE = re.compile(r'(src|href)="https?://')


def folium_page() -> str:
    m = folium.Map(tiles=None, maxZoom=19)
    plugins.HeatMap([[39.9, 116.4, 1.0]]).add_to(m)
    plugins.FastMarkerCluster(
        [[39.9, 116.4]], callback="function (row) { return L.circleMarker(row); }"
    ).add_to(m)
    import branca.colormap as cm

    cm.LinearColormap(["red", "green"], vmin=0, vmax=1).add_to(m)
    return m.get_root().render()


def test_every_vendored_file_exists_and_is_listed_in_the_readme():
    readme = (VENDOR_DIR / "README.md").read_text(encoding="utf-8")
    for name in VENDOR.values():
        assert (VENDOR_DIR / name).is_file(), name
        assert name.split("/")[0] in readme
    for image in ("layers.png", "layers-2x.png", "marker-icon.png"):
        assert (VENDOR_DIR / "leaflet-1.9.3" / "images" / image).is_file()


def test_localise_rewrites_every_cdn_link_and_drops_bootstrap():
    page = localise(folium_page())
    assert not REMOTE.search(page)
    assert '<script src="/static/vendor/leaflet-1.9.3/leaflet.js"></script>' in page
    assert 'href="/static/vendor/leaflet.markercluster-1.1.0/MarkerCluster.css"' in page
    assert "/static/vendor/d3-3.5.5/d3.min.js" in page  # branca adds d3 outside the mixin
    assert "/static/vendor/folium-0.20.0/leaflet_heat.min.js" in page
    for dropped in ("bootstrap", "fontawesome", "awesome-markers", "glyphicons"):
        assert dropped not in page


def test_localise_prefix():
    assert 'src="static/leaflet-1.9.3/leaflet.js"' in localise(folium_page(), "static/")


def test_unmapped_url_raises_naming_it():
    page = '<script src="https://cdn.example.org/new-plugin@1.0/plugin.js"></script>'
    with pytest.raises(ValueError, match=r"https://cdn\.example\.org/new-plugin@1\.0/plugin\.js"):
        localise(page)
    with pytest.raises(ValueError, match="new-plugin"):
        inline_assets(page)


def test_check_offline_catches_remaining_remote_attributes():
    check_offline('<a title="x">ok</a><script src="/static/vendor/a.js"></script>')
    for bad in ('<img src="http://x.org/a.png">', "<link href='https://x.org/a.css'>"):
        with pytest.raises(ValueError, match="remote asset"):
            check_offline(bad)


def test_inline_assets_embeds_scripts_styles_and_images():
    page = inline_assets(folium_page())
    assert not re.search(r"<script[^>]+src=", page)
    assert not re.search(r"<link[^>]+stylesheet", page)
    assert "/* leaflet-1.9.3/leaflet.js */" in page
    assert "/* d3-3.5.5/d3.min.js */" in page
    assert 'url("data:image/png;base64,' in page  # leaflet.css images
    assert "url(images/" not in page
    assert "sourceMappingURL" not in page
    # Each vendored script survives HTML parsing whole (nothing in it closes the element).
    scripts = ScriptTexts()
    scripts.feed(page)
    for name in VENDOR.values():
        if name.endswith(".js"):
            tail = (VENDOR_DIR / name).read_text(encoding="utf-8").strip().splitlines()[-1]
            if "sourceMappingURL" in tail:
                tail = (VENDOR_DIR / name).read_text(encoding="utf-8").strip().splitlines()[-2]
            found = [s for s in scripts.texts if s.startswith(f"/* {name} */")]
            assert len(found) == 1 and found[0].rstrip().endswith(tail[-60:]), name


class ScriptTexts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._inside = False

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self._inside = True
            self.texts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._inside = False

    def handle_data(self, data):
        if self._inside:
            self.texts[-1] += data
