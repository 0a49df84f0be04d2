"""Fixtures of the reliability tests, and the figures they measured, printed after the run.

Each test reports its figures through the ``figures`` fixture: they are printed (seen with
``-s``) and kept as a user property of the test's report, so that the session ends with a
"reliability figures" section even when the tests ran in xdist workers.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

FIGURES = "reliability figures"


@pytest.fixture
def figures(record_property, request) -> Callable[[str], None]:
    """Return a function recording one line of figures of this test."""

    def report(line: str) -> None:
        text = f"{request.node.name}: {line}"
        print(text)
        record_property(FIGURES, text)

    return report


def pytest_terminal_summary(terminalreporter) -> None:
    lines = [
        value
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "when", None) == "call"
        for name, value in getattr(report, "user_properties", ())
        if name == FIGURES
    ]
    if lines:
        terminalreporter.section(FIGURES)
        for line in lines:
            terminalreporter.write_line(line)
