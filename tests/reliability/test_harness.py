"""The exactly-once check itself finds what it must (a check that finds nothing proves nothing)."""

from __future__ import annotations

import shapely

from gridmap.stores import open_store
from tests.reliability.harness import IntakeLoad, exactly_once, prepare_intake


def test_exactly_once_counts_lost_and_repeated_reports(tmp_path):
    url = str(tmp_path / "check.gpkg")
    prepare_intake(url)
    store = open_store(url)
    ids = [
        store.intake(
            {"category": "E0102", "description": f"r{i}", "geometry": shapely.Point(116.39, 39.85)},
            {"request_key": f"k-{i:05d}"},
        ).incident_id
        for i in range(2)
    ]
    store.close()
    load = IntakeLoad(0, "", 4)
    load.acked = {
        "k-00000": (ids[0], 201, 0.0),  # stored once: fine
        "k-00001": (ids[1], 200, 0.0),  # a repeat answered 200: fine
        "k-00002": (ids[0], 201, 0.0),  # another key answered with an id already given: twice
        "k-00003": ("R99999999", 201, 0.0),  # acknowledged, not stored: lost
    }
    tally = exactly_once(url, load)
    assert (tally.acknowledged, tally.stored, tally.repeats) == (4, 2, 1)
    assert tally.lost == 2  # k-00002 is not stored under its key either
    assert tally.duplicates == 1
