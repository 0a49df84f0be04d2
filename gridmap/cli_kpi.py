"""``gridmap kpi``: the case KPIs officials read (结案率, 按期结案率, 返工率, 延期率, ...).

Prints a table (zh and en headers, rates as percentages), or writes CSV (``--csv``) or prints
JSON (``--json``) with rates as fractions; see :func:`gridmap.kpi.kpis` for the definitions.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import unicodedata

import pandas as pd

from gridmap.errors import ValidationError

__all__ = ["add_parser", "parse_day", "table_lines"]

_DATE_ONLY = re.compile(r"\s*\d{4}-\d{2}-\d{2}\s*")


def parse_day(text: str, option: str, *, inclusive_end: bool = False) -> pd.Timestamp:
    """Return the instant of ``--from``/``--to`` (naive values in the calendar's time zone).

    With ``inclusive_end``, a bare date means the end of that day (the next midnight), so
    ``--to 2025-03-31`` keeps the reports of March 31.

    Raises
    ------
    ValidationError
        If the text is not a date (2025-03-01) or date-time (2025-03-01T08:00).
    """
    from gridmap.calendar import working_calendar

    try:
        stamp = pd.Timestamp(text)
    except ValueError:
        stamp = pd.NaT
    if stamp is pd.NaT:
        raise ValidationError(
            f"{option} {text!r} is not a date such as 2025-03-01 or 2025-03-01T08:00"
        )
    if stamp.tz is None:
        stamp = stamp.tz_localize(working_calendar().timezone)
    if inclusive_end and _DATE_ONLY.fullmatch(text):
        stamp += pd.Timedelta(days=1)
    return stamp


def _cell(column: str, value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if column.endswith("_rate"):
        return f"{value:.2%}"
    if column.endswith("_h"):
        return f"{value:,.1f}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:,.0f}"
    return str(value)


def _width(text: str) -> int:
    """Return the terminal width of ``text`` (CJK characters take two columns)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int, left: bool) -> str:
    gap = " " * (width - _width(text))
    return text + gap if left else gap + text


def table_lines(frame: pd.DataFrame) -> list[str]:
    """Return the printed KPI table: one line per KPI for one row, else one line per group."""
    from gridmap.kpi import KPI_COLUMNS, KPI_LABELS

    groups = [c for c in frame.columns if c not in KPI_COLUMNS]
    if frame.empty:
        return ["no incident reported in this range"]
    if len(frame) == 1 and not groups:
        row = frame.iloc[0]
        labels = {c: f"{KPI_LABELS[c][0]} {KPI_LABELS[c][1]}" for c in KPI_COLUMNS}
        width = max(_width(t) for t in labels.values())
        return [f"{_pad(labels[c], width, True)}  {_cell(c, row[c]):>10}" for c in KPI_COLUMNS]
    columns = list(frame.columns)
    cells = [[_cell(c, v) for c, v in zip(columns, row, strict=True)] for row in frame.to_numpy()]
    heads = [[KPI_LABELS[c][i] for c in columns] for i in (0, 1)]
    widths = [max(_width(t) for t in col) for col in zip(*heads, *cells, strict=True)]
    left = [c in groups for c in columns]
    return [
        "  ".join(_pad(t, w, lf) for t, w, lf in zip(line, widths, left, strict=True)).rstrip()
        for line in (*heads, *cells)
    ]


def _cmd_kpi(args: argparse.Namespace) -> None:
    from gridmap.kpi import store_kpis
    from gridmap.stores import open_store

    start = None if args.start is None else parse_day(args.start, "--from")
    end = None if args.end is None else parse_day(args.end, "--to", inclusive_end=True)
    if start is not None and end is not None and start >= end:
        raise ValidationError(f"--from {args.start} is not before --to {args.end}")
    store = open_store(args.store, create=False)
    try:
        frame = store_kpis(store, by=args.by, period=args.period, start=start, end=end)
    finally:
        store.close()
    if args.csv:
        frame.to_csv(args.csv, index=False, encoding="utf-8-sig", lineterminator="\n")
        note = f"KPIs: {len(frame)} row(s) written to {args.csv}"
        print(note, file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(frame.to_json(orient="records", force_ascii=False))
    if args.csv or args.json:
        return
    span = (
        f"reported {args.start or '...'} to {args.end or '...'}; " if args.start or args.end else ""
    )
    print(f"case KPIs ({span}as of {frame.attrs['as_of'][:16]})")
    for line in table_lines(frame):
        print(line)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``gridmap kpi`` to the command's subparsers."""
    from gridmap.kpi import GROUPS, PERIODS

    p = sub.add_parser("kpi", help="case KPIs: closure and on-time rates, rework, extensions")
    p.add_argument("--by", choices=list(GROUPS), help="one row per grid, worker or category")
    p.add_argument("--period", choices=list(PERIODS), help="one row per report day/week/month")
    p.add_argument("--from", dest="start", metavar="DATE", help="first report date (2025-03-01)")
    p.add_argument("--to", dest="end", metavar="DATE", help="last report date, inclusive")
    p.add_argument("--csv", metavar="FILE", help="write the KPIs to a CSV file")
    p.add_argument("--json", action="store_true", help="print the KPIs as a JSON array")
    p.add_argument("--store", default=argparse.SUPPRESS, help="as gridmap --store")
    p.set_defaults(run=_cmd_kpi)
