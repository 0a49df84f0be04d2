"""``gridmap map``: standalone map files (and screenshots) from a store."""

from __future__ import annotations

import re

import pytest

from gridmap.cli import main
from gridmap.stores import open_store
from tests.pages.conftest import PAYLOAD, fill_city

ASSET_LINK = re.compile(r'<(script|link)\b[^>]*(src|href)="')


@pytest.fixture(scope="module")
def city_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli_map") / "city.gpkg"
    store = open_store(path)
    fill_city(store)
    store.close()
    return str(path)


@pytest.mark.parametrize("which", ["dispatch", "coverage", "heatmap"])
def test_map_files_are_standalone(city_file, tmp_path, which, capsys):
    out = tmp_path / f"{which}.html"
    assert main(["--store", city_file, "map", which, "--out", str(out), "--lang", "en"]) == 0
    page = out.read_text(encoding="utf-8")
    assert not ASSET_LINK.search(page)  # every script and stylesheet inlined
    assert "L.map(" in page and PAYLOAD not in page
    assert f"{which} map written to {out}" in capsys.readouterr().out


def test_map_options_are_checked(city_file, tmp_path, capsys):
    out = tmp_path / "x.html"
    args = ["--store", city_file, "map", "coverage", "--out", str(out), "--metric", "nope"]
    assert main(args) == 2
    assert "metric" in capsys.readouterr().err and not out.exists()
    args = ["--store", city_file, "map", "dispatch", "--out", str(out), "--category", "NOPE"]
    assert main(args) == 2


@pytest.mark.browser
def test_map_png(city_file, tmp_path, chromium_path):
    out, png = tmp_path / "heatmap.html", tmp_path / "heatmap.png"
    args = ["--store", city_file, "map", "heatmap", "--out", str(out), "--png", str(png)]
    args += ["--period", "month", "--width", "800", "--height", "600"]
    assert main(args) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
