"""Labels of the map pages in Chinese (``zh``, the default) or English (``en``).

Names of categories, station kinds, layers and case states come from the catalog, the model and
the workflow; only the words of the map furniture (legends, tooltips) are kept here.
"""

from __future__ import annotations

import math

import pandas as pd

from gridmap.catalog import categories, station_kinds
from gridmap.errors import ValidationError
from gridmap.model import LAYERS
from gridmap.workflow import STATES

__all__ = [
    "LANGS",
    "category_name",
    "check_lang",
    "fmt_number",
    "fmt_share",
    "fmt_time",
    "kind_name",
    "label",
    "layer_title",
    "priority_name",
    "status_name",
    "t",
]

LANGS = ("zh", "en")
#: ``lang`` -> value of the page's ``<html lang>`` attribute.
HTML_LANG = {"zh": "zh-CN", "en": "en"}

_UI: dict[str, tuple[str, str]] = {
    "dispatch_title": ("事件派遣图", "Dispatch map"),
    "coverage_title": ("站点服务覆盖图", "Station coverage map"),
    "heatmap_title": ("事件热力图", "Incident heat map"),
    "legend": ("图例", "Legend"),
    "basemap": ("底图", "Basemap"),
    "overdue": ("已超时", "Overdue"),
    "due_soon": ("4小时内到期", "Due within 4 h"),
    "hours_left": ("剩余 {h} 小时", "{h} h left"),
    "hours_over": ("超时 {h} 小时", "{h} h overdue"),
    "open_cases": ("在办事件", "Open cases"),
    "open_summary": ("在办 {n} 件，超时 {k} 件", "{n} open cases, {k} overdue"),
    "capped": (
        "图上显示最紧急的 {shown} 件（共 {n} 件）；网格提示含全部数量",
        "Showing the {shown} most urgent of {n} cases; grid tooltips count all",
    ),
    "load": ("在办/上限", "Open/limit"),
    "worker_load": ("网格员（数字为在办数）", "Workers (number = open cases)"),
    "no_location": ("{n} 名网格员无位置，未显示", "{n} workers have no location (not shown)"),
    "suggestions": ("建议派遣", "Suggested assignments"),
    "incident": ("事件", "Incident"),
    "worker": ("网格员", "Worker"),
    "skills": ("技能", "Skills"),
    "category": ("类别", "Category"),
    "description": ("描述", "Description"),
    "status": ("状态", "Status"),
    "priority": ("紧急程度", "Priority"),
    "reported_at": ("上报时间", "Reported"),
    "deadline": ("处置时限", "Deadline"),
    "grid": ("网格", "Grid"),
    "code": ("编码", "Code"),
    "name": ("名称", "Name"),
    "kind": ("类型", "Kind"),
    "population": ("人口", "Population"),
    "population_share": ("人口覆盖率", "Population covered"),
    "residential_share": ("居民需求覆盖率", "Residential demand covered"),
    "courier_share": ("快递员需求覆盖率", "Courier demand covered"),
    "incident_share": ("事件需求覆盖率", "Incident demand covered"),
    "covered_total": ("{what}：{share} 在服务范围内", "{what}: {share} within reach"),
    "residential_demand": ("居民需求", "Residential demand"),
    "courier_demand": ("快递员需求", "Courier demand"),
    "incident_demand": ("事件需求", "Incident demand"),
    "radius": ("服务半径", "Service radius"),
    "service_area": ("服务范围", "Service areas"),
    "uncovered_demand": ("未覆盖需求", "Uncovered demand"),
    "suggested_sites": ("建议站址", "Suggested sites"),
    "rank": ("排名", "Rank"),
    "gain": ("增益", "Gain"),
    "incidents_window": ("{start} 至 {end}：{n} 件", "{start} to {end}: {n} cases"),
    "hotspots": ("热点网格（前 {n}）", "Hotspot grids (top {n})"),
    "incident_count": ("事件数", "Incidents"),
    "closure_rate": ("结案率", "Closure rate"),
    "on_time_rate": ("按时办结率", "On-time rate"),
    "overdue_open": ("超时在办", "Overdue open"),
    "day": ("日", "day"),
    "week": ("周", "week"),
    "month": ("月", "month"),
    "period": ("时段：最近一{p}", "Period: last {p}"),
}
_PRIORITY = {1: ("紧急", "Urgent"), 2: ("较急", "High"), 3: ("一般", "Normal")}


def check_lang(lang: str) -> int:
    """Return the position of ``lang`` in :data:`LANGS` (0 Chinese, 1 English).

    Raises
    ------
    ValidationError
        For any other language.
    """
    if lang not in LANGS:
        raise ValidationError(f"unknown language {lang!r}; choose one of {', '.join(LANGS)}")
    return LANGS.index(lang)


def t(key: str, lang: str, **values: object) -> str:
    """Return the map label ``key`` in ``lang``, with ``{name}`` fields filled from ``values``.

    An unknown key comes back as it is (a KPI column without a translation, say).
    """
    text = _UI[key][check_lang(lang)] if key in _UI else key
    return text.format(**values) if values else text


def layer_title(name: str, lang: str) -> str:
    """Return the title of the model layer ``name`` (``grids``, ``incidents``...)."""
    found = LAYERS[name]
    return found.title_zh if check_lang(lang) == 0 else found.title_en


def category_name(code: object, lang: str) -> str:
    """Return a category's name, or its code when the catalog does not know it."""
    found = categories().get(str(code))
    if found is None:
        return "" if _missing(code) else str(code)
    return found.zh if check_lang(lang) == 0 else found.en


def kind_name(kind: object, lang: str) -> str:
    """Return a station kind's name, or the kind itself when the catalog does not know it."""
    found = station_kinds().get(str(kind))
    if found is None:
        return "" if _missing(kind) else str(kind)
    return found.zh if check_lang(lang) == 0 else found.en


def status_name(status: object, lang: str) -> str:
    """Return a case state's name (``received`` -> 受理 / Received)."""
    names = STATES.get(str(status))
    return names[check_lang(lang)] if names else ("" if _missing(status) else str(status))


def priority_name(priority: object, lang: str) -> str:
    """Return a priority's name (1 urgent, 2 high, 3 normal)."""
    try:
        return _PRIORITY[int(priority)][check_lang(lang)]  # type: ignore[call-overload]
    except (KeyError, TypeError, ValueError):
        return ""


def label(*values: object) -> str:
    """Return the first value that is not missing or blank, as text (``""`` if none)."""
    for value in values:
        if not _missing(value) and str(value).strip():
            return str(value)
    return ""


def fmt_time(value: object) -> str:
    """Return ``YYYY-MM-DD HH:MM`` in the value's own time zone, or ``""``."""
    if _missing(value):
        return ""
    return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")  # type: ignore[arg-type]


def fmt_share(value: object) -> str:
    """Return a share in [0, 1] as a percentage (``72.5%``), or ``"-"`` when missing."""
    if _missing(value):
        return "-"
    return f"{100 * float(value):.1f}%"  # type: ignore[arg-type]


def fmt_number(value: object) -> str:
    """Return a number with at most one decimal and thousands separators, or ``"-"``."""
    if _missing(value):
        return "-"
    number = float(value)  # type: ignore[arg-type]
    return f"{number:,.0f}" if number.is_integer() else f"{number:,.1f}"


def _missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)
