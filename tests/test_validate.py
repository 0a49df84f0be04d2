"""Row checks shared by stores and importers."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import LineString, MultiPoint, Point

from gridmap.model import LAYERS
from gridmap.validate import _datetime, check_rows


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-01T10:00:00.123456789+08:00", "2025-03-01 10:00:00.123+08:00"),
        ("2025-03-01 10:00:00.123456789", "2025-03-01 10:00:00.123+08:00"),
        ("2025-03-01T02:00:00Z", "2025-03-01 10:00:00+08:00"),
        ("2025-03-01", "2025-03-01 00:00:00+08:00"),
    ],
)
def test_datetimes_parse_to_the_millisecond_in_the_calendar_zone(text, expected):
    values, bad = _datetime(pd.Series([text], dtype=object))
    assert not bad.iloc[0]
    assert values.iloc[0] == pd.Timestamp(expected)


def test_each_bad_value_is_named_with_its_row_and_field():
    frame = gpd.GeoDataFrame(
        {
            "id": ["a", "b", "c", "d", "a"],
            "category": ["E0102", "NOPE", "E0102", "E0102", "E0102"],
            "reported_at": ["2025-03-01 10:00", "2025-03-01", "yesterday", None, "2025-03-01"],
            "priority": [1, 2, 7, 2.5, 3],
        },
        geometry=[
            Point(116, 39),
            Point(116, 39),
            LineString([(0, 0), (1, 1)]),
            MultiPoint([(1, 1), (2, 2)]),
            Point(116, 39),
        ],
        crs=4326,
    ).set_index(pd.Index([2, 3, 4, 5, 6]))
    rows, problems = check_rows(LAYERS["incidents"], frame)
    reasons = [str(p) for p in problems]
    assert "row 3: category: 'NOPE' is not a known code (see the catalog in data/)" in reasons
    assert "row 4: reported_at: 'yesterday' is not a date/time" in reasons
    assert "row 4: priority: 7 is not one of: 1, 2, 3" in reasons
    assert "row 4: geometry: LineString where the layer holds Point" in reasons
    assert "row 5: reported_at: required value is missing" in reasons
    assert "row 5: priority: 2.5 is not an integer" in reasons
    assert "row 5: geometry: MultiPoint with several points" in reasons
    assert "row 6: id: duplicate id 'a'" in reasons
    assert not any(r.startswith("row 2:") for r in reasons)
    assert [p.row for p in problems] == sorted(p.row for p in problems)
    assert rows.loc[2, "status"] == "received" and rows.loc[2, "source"] == "hotline"


def test_an_object_or_array_where_text_belongs_is_refused():
    # GeoJSON properties may hold objects and arrays; pandas cannot factorize them (a TypeError)
    frame = pd.DataFrame(
        {"code": [{"a": 1}, "g2", ["x"]], "name": [None, {}, "n"]}, index=[1, 2, 3]
    )
    _, problems = check_rows(LAYERS["grids"], frame)
    assert [str(p) for p in problems if p.field != "geometry"] == [
        "row 1: code: {'a': 1} is not text",
        "row 2: name: {} is not text",
        "row 3: code: ['x'] is not text",
    ]
