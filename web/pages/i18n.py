"""Words of the role pages in Chinese (``zh``) and English (``en``), and language negotiation.

Map furniture (legends, tooltips, category and state names) comes from :mod:`web.maps.text`;
only the words around the maps (side panels, sign-in, navigation) live here.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from web.http import Request
from web.maps.text import LANGS, check_lang

__all__ = ["LANGS", "negotiate", "preferred", "switch_url", "tr", "url_with"]

_UI: dict[str, tuple[str, str]] = {
    "app": ("GridMap 网格化管理", "GridMap"),
    "dispatch": ("派遣台", "Dispatch"),
    "coverage": ("站点覆盖", "Coverage"),
    "heatmap": ("事件态势", "Incidents"),
    "switch": ("English", "中文"),
    "signed_in_as": ("{name}（{role}）", "{name} ({role})"),
    "sign_out": ("退出", "Sign out"),
    "sign_in": ("登录", "Sign in"),
    "sign_in_title": ("登录 GridMap", "Sign in to GridMap"),
    "user": ("用户名", "User name"),
    "password": ("密码", "Password"),
    "bad_login": ("用户名或密码错误", "Wrong user name or password"),
    "cross_site": ("请从本站登录页登录", "Sign in from this site's sign-in page"),
    "no_page": (
        "该账号（{role}）没有可用的地图页面",
        "This account ({role}) has no map page",
    ),
    "error": ("出错了", "Something went wrong"),
    "forbidden": ("无权访问此页面", "You may not open this page"),
    "back": ("返回", "Back"),
    "filters": ("筛选", "Filters"),
    "all": ("全部", "All"),
    "category": ("类别", "Category"),
    "grid": ("网格编码", "Grid code"),
    "status": ("状态", "Status"),
    "apply": ("应用", "Apply"),
    "reset": ("重置", "Reset"),
    "open_count": ("在办 {n} 件，其中超时 {k} 件", "{n} open cases, {k} overdue"),
    "as_of": ("时点：{t}", "As of {t}"),
    "suggest": ("智能派遣建议", "Suggest assignments"),
    "suggest_run": ("生成建议", "Suggest"),
    "include_received": ("包括未立案的受理事件", "Include received reports"),
    "plan_at": ("计划时点", "Plan for"),
    "plan_now": ("当前", "Now"),
    "plan_next": ("下一个工作日上班时", "Start of the next workday"),
    "accept_all": ("全部采纳", "Accept all"),
    "accept": ("采纳", "Accept"),
    "details": ("详情", "Details"),
    "incident_detail": ("事件详情", "Incident detail"),
    "lookup": ("按编号查看", "Look up by id"),
    "show": ("查看", "Show"),
    "urgent": ("最紧急的在办事件", "Most urgent open cases"),
    "none": ("无", "None"),
    "sites_title": ("建议站址（按边际增益排序）", "Suggested sites, by marginal gain"),
    "grid_name": ("网格", "Grid"),
    "kind": ("站点类型", "Station kind"),
    "metric": ("着色指标", "Colour by"),
    "scenario": ("方案", "Scenario"),
    "before": ("现状", "Before"),
    "after": ("采纳建议后", "After the suggested sites"),
    "after_short": ("建议后", "After"),
    "rank": ("排名", "Rank"),
    "site": ("站址", "Site"),
    "gain": ("边际增益", "Marginal gain"),
    "suggested_by": ("来源", "From"),
    "no_sites": (
        "尚无选址结果（运行 gridmap site 或 POST /api/siting）",
        "No siting run yet (run gridmap site or POST /api/siting)",
    ),
    "coverage_compare": ("覆盖率对比", "Coverage, before and after"),
    "measure": ("指标", "Measure"),
    "change": ("变化", "Change"),
    "period": ("时段", "Period"),
    "kpi": ("网格指标", "Grid KPI"),
    "window": ("{start} 至 {end}，共 {n} 件", "{start} to {end}: {n} cases"),
    "trends": ("趋势（近 {d} 天，前 5 类）", "Trends (last {d} days, top 5 categories)"),
    "per_day": ("每日事件数", "Incidents per day"),
    "closure_hours": ("每日结案时长中位数（小时）", "Median closure time per day (hours)"),
    "hotspots": ("热点网格", "Hotspot grids"),
    "count": ("件数", "Cases"),
    "no_data": ("暂无数据", "No data"),
    "reload": ("刷新地图", "Reload the map"),
}


def tr(key: str, lang: str, **values: object) -> str:
    """Return the page label ``key`` in ``lang`` with ``{name}`` fields filled in.

    Parameters
    ----------
    key : str
        A label key; an unknown key comes back as it is.
    lang : {"zh", "en"}
        The language.
    **values
        Values of the label's ``{name}`` fields.

    Returns
    -------
    str
        Plain text (escape it where it meets HTML).
    """
    text = _UI[key][check_lang(lang)] if key in _UI else key
    return text.format(**values) if values else text


def preferred(accept_language: str | None) -> str:
    """Return ``"zh"`` when an ``Accept-Language`` header prefers Chinese to English, else ``"en"``.

    Parameters
    ----------
    accept_language : str or None
        The header, e.g. ``"zh-CN,zh;q=0.9,en;q=0.8"``.

    Returns
    -------
    str
        The supported language with the highest quality value (the first listed on a tie);
        English when neither is asked for.

    Examples
    --------
    >>> preferred("zh-CN,zh;q=0.9,en;q=0.8"), preferred("en-GB,zh;q=0.5"), preferred(None)
    ('zh', 'en', 'en')
    """
    best, best_q = "en", -1.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in LANGS:
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > best_q and q > 0:
            best, best_q = primary, q
    return best


def negotiate(req: Request) -> str:
    """Return the page language: ``?lang=zh|en`` if given, else from ``Accept-Language``."""
    asked = req.arg("lang")
    if asked in LANGS:
        return asked
    return preferred(req.header("Accept-Language"))


def url_with(path: str, args: Mapping[str, list[str]], **changes: str | None) -> str:
    """Return ``path`` with the query ``args``, some values replaced (None removes them)."""
    query = {k: list(v) for k, v in args.items()}
    for name, value in changes.items():
        if value is None:
            query.pop(name, None)
        else:
            query[name] = [value]
    encoded = urlencode(query, doseq=True)
    return f"{path}?{encoded}" if encoded else path


def switch_url(req: Request, lang: str) -> str:
    """Return the current page's URL in the other language."""
    other = LANGS[1 - check_lang(lang)]
    return url_with(req.path, req.args, lang=other)
