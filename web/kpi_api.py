"""The official's figures: KPIs per grid, worker, category and period, as JSON or CSV."""

from __future__ import annotations

import math

import pandas as pd

from gridmap.errors import ValidationError
from gridmap.kpi import GROUPS, KPI_LABELS, PERIODS, store_kpis
from web.context import Context
from web.http import Request, Response, Route, ok

READERS = ("official", "dispatcher")
_PARAMS = {"by", "period", "from", "to"}


def _frame(ctx: Context, req: Request) -> pd.DataFrame:
    unknown = set(req.args) - _PARAMS
    if unknown:
        raise ValidationError(f"unknown parameter(s): {', '.join(sorted(unknown))}")
    by, period = req.arg("by"), req.arg("period")
    if by is not None and by not in GROUPS:
        raise ValidationError(f"by: {by!r} is not one of: {', '.join(GROUPS)}")
    if period is not None and period not in PERIODS:
        raise ValidationError(f"period: {period!r} is not one of: {', '.join(PERIODS)}")
    return store_kpis(ctx.store, by=by, period=period, start=req.arg("from"), end=req.arg("to"))


def kpi_json(ctx: Context, req: Request) -> Response:
    """Return the KPIs as ``{"labels": {column: {zh, en}}, "rows": [...]}``; NaN rates are null."""
    frame = _frame(ctx, req)
    rows = [
        {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
        for row in frame.to_dict("records")
    ]
    labels = {c: {"zh": zh, "en": en} for c, (zh, en) in KPI_LABELS.items() if c in frame}
    return ok({"labels": labels, "rows": rows})


def kpi_csv(ctx: Context, req: Request) -> Response:
    """Return the KPIs as CSV (UTF-8 with BOM, so spreadsheet programs read the Chinese)."""
    text = _frame(ctx, req).to_csv(index=False, lineterminator="\n")
    return Response(
        200,
        ("\ufeff" + text).encode("utf-8"),
        "text/csv; charset=utf-8",
        {"Content-Disposition": 'attachment; filename="gridmap-kpi.csv"'},
    )


ROUTES = [
    Route("GET", "/api/kpi", kpi_json, READERS),
    Route("GET", "/api/kpi.csv", kpi_csv, READERS),
]
