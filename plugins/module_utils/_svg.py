# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A small, dependency-free SVG chart: modeled backup API time against client QPS.

Output is deterministic (fixed precision, fixed order) so a re-run writes the same bytes.
Pure Python, no Ansible imports; raises ``ValueError``.
"""

from __future__ import annotations

import math
import typing as t
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 560, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 24, 40, 52
DEFAULT_COLOUR = "#c0392b"
RECOMMENDED_COLOUR = "#1e8449"
CURVE_COLOUR = "#2c5d8f"


def _num(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _points(curve: t.Any) -> list[tuple[float, float]]:
    if not isinstance(curve, list) or not curve:
        raise ValueError("predicted.api_time_curve: expected a non-empty list of {qps, burst, seconds}")
    points = []
    for index, item in enumerate(curve):
        try:
            qps, seconds = float(item["qps"]), float(item["seconds"])
        except (TypeError, KeyError, ValueError):
            raise ValueError(f"predicted.api_time_curve[{index}]: expected {{qps, burst, seconds}} numbers, "
                             f"got {item!r}") from None
        if qps <= 0 or seconds < 0 or not math.isfinite(qps) or not math.isfinite(seconds):
            raise ValueError(f"predicted.api_time_curve[{index}]: qps must be > 0 and seconds >= 0, got {item!r}")
        points.append((qps, seconds))
    return sorted(set(points))


def interpolate(curve: t.Any, qps: float) -> float:
    """Modeled seconds at ``qps`` (linear in log(qps) between curve points, clamped at the ends)."""
    points = _points(curve)
    if qps <= points[0][0]:
        return points[0][1]
    if qps >= points[-1][0]:
        return points[-1][1]
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x0 <= qps <= x1:
            if x1 == x0:
                return y0
            share = (math.log(qps) - math.log(x0)) / (math.log(x1) - math.log(x0))
            return y0 + share * (y1 - y0)
    return points[-1][1]  # pragma: no cover


def _nice_step(span: float, parts: int = 4) -> float:
    # Below a thousandth (of a second or a QPS) nothing is readable on the chart; a subnormal span would
    # otherwise round to 0 and break log10.
    raw = max(span / parts, 1e-3) if span > 0 else 1
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power  # pragma: no cover


def _x_ticks(x_min: float, x_max: float, log_x: bool) -> list[float]:
    """Round tick values inside [x_min, x_max]: 1-2-5 per decade on a log axis, a nice step otherwise."""
    if log_x:
        ticks = [factor * 10 ** power for power in range(math.floor(math.log10(x_min)), math.ceil(math.log10(x_max)) + 1)
                 for factor in (1, 2, 5)]
    else:
        step = _nice_step(x_max - x_min, parts=5)
        first = math.ceil(x_min / step) * step
        ticks = [x_min] + [first + index * step for index in range(int((x_max - first) / step) + 1)
                           if first + index * step - x_min > 0.3 * step]
    return [tick for tick in ticks if x_min - 1e-9 <= tick <= x_max + 1e-9] or [x_min, x_max]


def api_time_svg(curve: t.Any, default_qps: float | None, recommended_qps: float, *, title: str) -> str:
    """SVG line chart of the curve, with the default and recommended QPS marked (seconds read off the curve)."""
    markers = []
    for label, qps in (("Velero default", default_qps), ("recommended", recommended_qps)):
        if qps:
            seconds = interpolate(curve, qps)
            markers.append({"label": label, "qps": qps, "seconds": seconds,
                            "text": f"{label}: {_num(qps)} QPS, {_num(seconds)} s"})
    return api_time_chart(curve, markers, title=title)


MARKER_COLOURS = {"Velero default": DEFAULT_COLOUR, "recommended": RECOMMENDED_COLOUR}
WRITTEN_COLOUR = "#d35400"


def api_time_chart(curve: t.Any, markers: t.Sequence[t.Mapping[str, t.Any]], *, title: str,
                   note: str | None = None) -> str:
    """SVG line chart of the curve with marked points ``{label, qps, seconds, text}``; the axes span every marker."""
    points = _points(curve)
    for index, marker in enumerate(markers):
        _points([{"qps": marker.get("qps"), "seconds": marker.get("seconds")}])  # same checks as the curve
        if not marker.get("text"):
            raise ValueError(f"markers[{index}]: expected a text")
    xs = [p[0] for p in points] + [float(m["qps"]) for m in markers]
    x_min, x_max = min(xs), max(xs)
    log_x = x_max / x_min >= 20
    if log_x:
        lo, hi = math.log10(x_min), math.log10(x_max)
    else:
        lo, hi = x_min, x_max
    if hi == lo:
        hi = lo + 1
    y_max = max([p[1] for p in points] + [float(m["seconds"]) for m in markers]) or 1.0
    step = _nice_step(y_max)
    y_top = math.ceil(y_max / step) * step
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def sx(qps: float) -> float:
        value = math.log10(qps) if log_x else qps
        return LEFT + (value - lo) / (hi - lo) * plot_w

    def sy(seconds: float) -> float:
        return TOP + plot_h - seconds / y_top * plot_h

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">',
           f"<title>{escape(title)}</title>",
           f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
           f'<text x="{LEFT}" y="22" font-size="13" font-weight="bold">{escape(title)}</text>']
    # Axes and grid.
    ticks = int(round(y_top / step))
    for index in range(ticks + 1):
        value = index * step
        y = sy(value)
        out.append(f'<line x1="{LEFT}" y1="{_num(y)}" x2="{WIDTH - RIGHT}" y2="{_num(y)}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{LEFT - 6}" y="{_num(y + 4)}" text-anchor="end">{_num(value)}</text>')
    for qps in _x_ticks(x_min, x_max, log_x):
        x = sx(qps)
        out.append(f'<line x1="{_num(x)}" y1="{TOP + plot_h}" x2="{_num(x)}" y2="{TOP + plot_h + 4}" stroke="#555"/>')
        out.append(f'<text x="{_num(x)}" y="{TOP + plot_h + 16}" text-anchor="middle">{_num(qps)}</text>')
    out.append(f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" stroke="#555"/>')
    out.append(f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#555"/>')
    scale = " (log scale)" if log_x else ""
    out.append(f'<text x="{LEFT + plot_w / 2:.0f}" y="{HEIGHT - 12}" text-anchor="middle">'
               f"client QPS (--client-qps){scale}{escape(', curve at ' + note) if note else ''}</text>")
    out.append(f'<text x="16" y="{TOP + plot_h / 2:.0f}" text-anchor="middle" '
               f'transform="rotate(-90 16 {TOP + plot_h / 2:.0f})">modeled API time per backup (s)</text>')
    # The curve.
    path = " ".join(f"{_num(sx(x))},{_num(sy(y))}" for x, y in points)
    out.append(f'<polyline points="{path}" fill="none" stroke="{CURVE_COLOUR}" stroke-width="2"/>')
    # Markers, with a legend line each.
    legend_y = TOP + 4
    for marker in markers:
        colour = MARKER_COLOURS.get(str(marker["label"]), WRITTEN_COLOUR)
        text = str(marker["text"])
        x, y = sx(float(marker["qps"])), sy(float(marker["seconds"]))
        out.append(f'<circle cx="{_num(x)}" cy="{_num(y)}" r="5" fill="{colour}"><title>{escape(text)}</title>'
                   "</circle>")
        out.append(f'<circle cx="{WIDTH - RIGHT - 210}" cy="{legend_y}" r="4" fill="{colour}"/>')
        out.append(f'<text x="{WIDTH - RIGHT - 200}" y="{legend_y + 4}">{escape(text)}</text>')
        legend_y += 16
    out.append("</svg>")
    return "\n".join(out) + "\n"
