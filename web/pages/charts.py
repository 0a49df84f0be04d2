"""Small line charts as inline SVG, drawn in pure Python (no plotting library, no script).

Every text is escaped; gaps (NaN) break a line. The SVG scales with the width of the panel.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

__all__ = ["PALETTE", "line_chart", "nice_scale"]

#: Colours of the series, in order (colour-blind safe, Okabe-Ito).
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#d55e00", "#56b4e9", "#000000")
_FONT = 'font-family="system-ui, Noto Sans CJK SC, Microsoft YaHei, sans-serif"'


def nice_scale(value: float, ticks: int = 5) -> tuple[float, float]:
    """Return ``(top, step)`` of an axis from 0 to at least ``value`` in at most ``ticks`` steps.

    The step is 1, 2 or 5 times a power of ten; the top a whole number of steps.

    Examples
    --------
    >>> nice_scale(0), nice_scale(7), nice_scale(23), nice_scale(250)
    ((1.0, 0.2), (8.0, 2.0), (25.0, 5.0), (250.0, 50.0))
    """
    if not math.isfinite(value) or value <= 0:
        return 1.0, 0.2
    raw = value / ticks
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(s * power for s in (1.0, 2.0, 5.0, 10.0) if raw <= s * power * (1 + 1e-9))
    return round(math.ceil(value / step - 1e-9) * step, 10), step


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or float(value).is_integer() else f"{value:.1f}"


def line_chart(
    x_labels: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    title: str,
    width: int = 360,
    plot_height: int = 120,
    colours: Sequence[str] = PALETTE,
) -> str:
    """Return an SVG line chart of ``series`` over ``x_labels``.

    Parameters
    ----------
    x_labels : sequence of str
        One label per x position (dates); the first, middle and last are printed.
    series : mapping
        Legend name -> one value per x position (None or NaN: no value).
    title : str
        Shown above the plot and as the SVG's accessible name.
    width, plot_height : int
        Size in user units (the SVG scales to its container's width).
    colours : sequence of str
        Colours of the series, cycled.

    Returns
    -------
    str
        An ``<svg>`` element (plain markup, no script).
    """
    left, right, top = 40, 10, 24
    legend_top = top + plot_height + 34
    height = legend_top + 14 * max(len(series), 1) + 4
    plot_w = width - left - right
    values = [v for ys in series.values() for v in ys if v is not None and math.isfinite(v)]
    vmax, step = nice_scale(max(values) if values else 0.0)
    n = len(x_labels)

    def x_at(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y_at(v: float) -> float:
        return top + plot_height * (1 - v / vmax)

    esc = html.escape
    out = [
        f'<svg class="gm-chart" viewBox="0 0 {width} {height}" role="img" {_FONT} font-size="10">',
        f"<title>{esc(title)}</title>",
        f'<text x="{left}" y="14" font-size="12" font-weight="bold">{esc(title)}</text>',
    ]
    for k in range(round(vmax / step) + 1):
        v = step * k
        y = y_at(v)
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{"#999" if k == 0 else "#e2e2e2"}" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{left - 4}" y="{y + 3:.1f}" text-anchor="end" fill="#555">'
            f"{esc(_number(v))}</text>"
        )
    for i in sorted({0, n // 2, n - 1} if n else set()):
        anchor = "start" if i == 0 else ("end" if i == n - 1 and n > 1 else "middle")
        out.append(
            f'<text x="{x_at(i):.1f}" y="{top + plot_height + 14}" text-anchor="{anchor}" '
            f'fill="#555">{esc(str(x_labels[i]))}</text>'
        )
    for s, (name, ys) in enumerate(series.items()):
        colour = esc(colours[s % len(colours)])
        for run in _runs(ys):
            points = " ".join(f"{x_at(i):.1f},{y_at(v):.1f}" for i, v in run)
            if len(run) == 1:
                i, v = run[0]
                out.append(f'<circle cx="{x_at(i):.1f}" cy="{y_at(v):.1f}" r="2" fill="{colour}"/>')
            else:
                out.append(
                    f'<polyline points="{points}" fill="none" stroke="{colour}" '
                    'stroke-width="1.6" stroke-linejoin="round"/>'
                )
        y = legend_top + 14 * s
        out.append(f'<rect x="{left}" y="{y - 8}" width="12" height="3" fill="{colour}"/>')
        out.append(f'<text x="{left + 18}" y="{y - 3}">{esc(name)}</text>')
    if not values:
        out.append(
            f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_height / 2:.1f}" '
            'text-anchor="middle" fill="#999">-</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _runs(ys: Sequence[float | None]) -> list[list[tuple[int, float]]]:
    """Split a series into runs of consecutive finite values (index, value)."""
    runs: list[list[tuple[int, float]]] = []
    current: list[tuple[int, float]] = []
    for i, v in enumerate(ys):
        if v is None or not math.isfinite(v):
            if current:
                runs.append(current)
            current = []
        else:
            current.append((i, float(v)))
    if current:
        runs.append(current)
    return runs
