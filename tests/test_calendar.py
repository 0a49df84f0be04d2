"""The working calendar: one deadline at a time gives what the vectorised path gives."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridmap.calendar import working_calendar
from gridmap.errors import GridMapError

CAL = working_calendar()
EPOCH = datetime(2025, 1, 1, tzinfo=CAL.timezone)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    minutes=st.integers(0, 365 * 24 * 60),
    seconds=st.sampled_from([0, 1, 30]),
    hours=st.one_of(st.sampled_from([0.0, 0.5, 1, 2, 3, 4, 8, 24, 56, 104]), st.floats(0.01, 300)),
)
def test_one_deadline_equals_the_vectorised_one(minutes, seconds, hours):
    start = EPOCH + timedelta(minutes=minutes, seconds=seconds)
    one = CAL.add_working_hours(start, hours)
    many = CAL.add_working_hours_many(pd.DatetimeIndex([start]), np.array([hours]))[0]
    assert abs(pd.Timestamp(one) - many) <= pd.Timedelta(microseconds=1)
    assert one >= start
    assert CAL.working_hours_between(start, one) == pytest.approx(hours, abs=1e-6)


def test_deadline_skips_nights_weekends_and_holidays():
    friday_late = datetime(2025, 3, 7, 17, 0, tzinfo=CAL.timezone)
    monday = CAL.add_working_hours(friday_late, 2)
    assert monday.date().isoformat() == "2025-03-10"
    assert CAL.add_working_hours(friday_late, 0) == friday_late
    with pytest.raises(GridMapError, match="timezone"):
        CAL.add_working_hours(datetime(2025, 3, 7, 17), 1)
