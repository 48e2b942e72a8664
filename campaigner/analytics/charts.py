"""Charts as server-rendered SVG: no script, readable without CSS, scaled by the page.

Each function returns `Markup` to put straight into a template. Every label is
escaped here; the numbers each chart draws are also in a table beside it (and
its CSV), so the picture is never the only place a figure lives.
"""
from __future__ import annotations

import math

from markupsafe import Markup, escape

PALETTE = ("#0f766e", "#2563eb", "#d97706", "#dc2626", "#7c3aed", "#059669", "#db2777", "#4b5563", "#0891b2",
           "#65a30d")


def _num(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value == int(value):
        return f"{int(value)}"
    return f"{value:.1f}"


def _nice_max(value: float, whole: bool = False) -> float:
    """A round axis maximum at or above `value` whose quarter is 1, 2, 2.5 or 5 × a power of ten.

    With `whole` (counts), the quarter is at least 1 so no tick falls between two counts.
    """
    if value <= 0:
        return 4 if whole else 1
    quarter = value / 4
    power = 10 ** math.floor(math.log10(quarter))
    step = next(s * power for s in (1, 2, 2.5, 5, 10) if quarter <= s * power)
    if whole:
        step = max(1, math.ceil(step))
    return 4 * step


def _svg(width: int, height: int, title: str, body: list[str], css_class: str) -> Markup:
    return Markup(
        f'<svg class="chart {css_class}" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def funnel_chart(stages: list[tuple[str, int]], title: str) -> Markup:
    """Horizontal bars, one per stage, each as wide as its share of the first stage."""
    width, bar_h, gap, label_w = 640, 30, 10, 170
    height = len(stages) * (bar_h + gap) + gap
    top = max((v for _, v in stages), default=0) or 1
    body = []
    for i, (label, value) in enumerate(stages):
        y = gap + i * (bar_h + gap)
        w = max(2.0, (width - label_w - 90) * value / top) if value else 0
        share = f" ({100 * value / stages[0][1]:.1f}%)" if i and stages[0][1] else ""
        body.append(
            f'<g class="stage" data-stage="{escape(label)}" data-value="{value}">'
            f'<text x="{label_w - 8}" y="{y + bar_h * 0.68:.1f}" text-anchor="end" font-size="13">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" rx="4" fill="{PALETTE[i % len(PALETTE)]}"/>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + bar_h * 0.68:.1f}" font-size="13">{value}{escape(share)}</text></g>'
        )
    return _svg(width, height, title, body, "chart-funnel")


# Line and bar charts are drawn this wide: the page scales them to the card's full width, and at this
# size their text stays near the page's own size on a laptop screen.
WIDE = 960


def bar_chart(bars: list[tuple[str, float]], title: str, unit: str = "", *, x_label: str = "",
              y_label: str = "") -> Markup:
    """Vertical bars with their value above each; the axes named by `x_label` and `y_label`."""
    width, height, pad_l, pad_b, pad_t = WIDE, 260, 62, 56, 18
    top = _nice_max(max((v for _, v in bars), default=0), whole=all(float(v).is_integer() for _, v in bars))
    plot_w, plot_h = width - pad_l - 10, height - pad_b - pad_t
    slot = plot_w / max(1, len(bars))
    body = _y_axis(top, pad_l, pad_t, plot_w, plot_h)
    for i, (label, value) in enumerate(bars):
        h = plot_h * value / top
        x = pad_l + i * slot + slot * 0.15
        body.append(
            f'<g class="bar" data-label="{escape(label)}" data-value="{value}">'
            f'<rect x="{x:.1f}" y="{pad_t + plot_h - h:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" '
            f'fill="{PALETTE[i % len(PALETTE)]}"/>'
            f'<text x="{x + slot * 0.35:.1f}" y="{pad_t + plot_h - h - 4:.1f}" text-anchor="middle" font-size="11">'
            f'{_num(value)}{escape(unit)}</text>'
            f'<text x="{x + slot * 0.35:.1f}" y="{height - pad_b + 16}" text-anchor="middle" font-size="11">'
            f'{escape(label)}</text></g>'
        )
    body += _axis_titles(x_label, y_label, pad_l, pad_t, plot_w, plot_h, pad_t + plot_h + 38)
    return _svg(width, height, title, body, "chart-bars")


def line_chart(labels: list[str], series: list[tuple[str, list[float]]], title: str, *, x_label: str = "",
               y_label: str = "") -> Markup:
    """One line per series over `labels` (days), with a legend; a point per value; the axes named."""
    # The right padding leaves room for the last day's label, which ends at the plot's right edge.
    width, height, pad_l, pad_b, pad_t, pad_r = WIDE, 290, 62, 78, 14, 24
    every_value = [v for _, values in series for v in values]
    top = _nice_max(max(every_value, default=0), whole=all(float(v).is_integer() for v in every_value))
    plot_w, plot_h = width - pad_l - pad_r, height - pad_b - pad_t
    n = max(1, len(labels) - 1)
    body = _y_axis(top, pad_l, pad_t, plot_w, plot_h)
    every = max(1, math.ceil(len(labels) / 8))
    last = len(labels) - 1
    for i, label in enumerate(labels):
        # every `every`-th day is labelled, and the last one unless it would crowd the one before
        if i % every == 0 and (i == last or last - i >= every / 2) or i == last:
            x = pad_l + plot_w * i / n
            # The first label starts at its day and the last ends at its day, so neither is cut off.
            anchor = "start" if i == 0 and last else "end" if i == last and last else "middle"
            body.append(f'<text class="x-tick" x="{x:.1f}" y="{pad_t + plot_h + 14}" text-anchor="{anchor}" '
                        f'font-size="11">{escape(label)}</text>')
    for s, (name, values) in enumerate(series):
        color = PALETTE[s % len(PALETTE)]
        points = [(pad_l + plot_w * i / n, pad_t + plot_h - plot_h * v / top) for i, v in enumerate(values)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        body.append(f'<g class="series" data-series="{escape(name)}">'
                    f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        body += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}"><title>{escape(name)} '
                 f'{escape(labels[i])}: {_num(values[i])}</title></circle>' for i, (x, y) in enumerate(points)]
        body.append("</g>")
        lx = pad_l + (s % 6) * 140
        ly = height - 22 + (s // 6) * 14
        body.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{color}"/>'
                    f'<text x="{lx + 14}" y="{ly}" font-size="11">{escape(name)}</text>')
    body += _axis_titles(x_label, y_label, pad_l, pad_t, plot_w, plot_h, pad_t + plot_h + 34)
    return _svg(width, height, title, body, "chart-lines")


def progress_bar(value: float, target: float, title: str) -> Markup:
    """A goal's progress: the bar fills to value/target, a mark shows the target."""
    width, height = 320, 22
    share = 0 if not target else max(0.0, min(1.0, value / target))
    color = PALETTE[0] if share >= 1 else PALETTE[2]
    body = [f'<rect x="0" y="3" width="{width}" height="16" rx="8" fill="#e5e7eb"/>',
            f'<rect x="0" y="3" width="{width * share:.1f}" height="16" rx="8" fill="{color}"/>']
    return _svg(width, height, title, body, "chart-progress")


def _axis_titles(x_label: str, y_label: str, pad_l: int, pad_t: int, plot_w: float, plot_h: float,
                 x_title_y: float) -> list[str]:
    """What each axis measures: under the x axis, and along the y axis (turned)."""
    out = []
    if x_label:
        out.append(f'<text class="axis-title x-title" x="{pad_l + plot_w / 2:.1f}" y="{x_title_y:.1f}" '
                   f'text-anchor="middle" font-size="12">{escape(x_label)}</text>')
    if y_label:
        cy = pad_t + plot_h / 2
        out.append(f'<text class="axis-title y-title" x="14" y="{cy:.1f}" text-anchor="middle" font-size="12" '
                   f'transform="rotate(-90 14 {cy:.1f})">{escape(y_label)}</text>')
    return out


def _y_axis(top: float, pad_l: int, pad_t: int, plot_w: float, plot_h: float) -> list[str]:
    out = []
    for k in range(5):
        value = top * k / 4
        y = pad_t + plot_h - plot_h * k / 4
        out.append(f'<line x1="{pad_l}" x2="{pad_l + plot_w:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e6ea"/>'
                   f'<text x="{pad_l - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="10">{_num(value)}</text>')
    return out
