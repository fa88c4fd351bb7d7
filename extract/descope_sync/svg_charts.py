"""Charts as inline SVG, drawn here: no script, no font or file from anywhere (the HTML report)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from html import escape

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 44, 16, 36
COLOURS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2")


def _svg(name: str, title: str, body: str, height: int = HEIGHT) -> str:
    return (
        f'<svg class="chart" data-chart="{escape(name)}" xmlns="http://www.w3.org/2000/svg" '
        f'width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>{body}</svg>'
    )


def _no_data(name: str, title: str) -> str:
    text = f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" class="muted">no data yet</text>'
    frame = f'<rect x="1" y="1" width="{WIDTH - 2}" height="{HEIGHT - 2}" fill="none" stroke="#ddd"/>'
    return _svg(name, title, frame + text)


def _nice_max(value: float) -> float:
    """A round axis maximum at or above `value`."""
    if value <= 0:
        return 1.0
    step = 10 ** (len(str(int(value))) - 1)
    for factor in (1, 2, 2.5, 5, 10):
        if step * factor >= value:
            return float(step * factor)
    return float(step * 10)


def _y_axis(y_max: float, percent: bool) -> str:
    parts = []
    plot_h = HEIGHT - TOP - BOTTOM
    for i in range(5):
        value = y_max * i / 4
        y = TOP + plot_h - plot_h * i / 4
        label = f"{value:.0%}" if percent else (f"{value:,.0f}" if y_max >= 4 else f"{value:.1f}")
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{label}</text>')
    return "".join(parts)


def _x_labels(days: Sequence[date], x_of) -> str:
    if not days:
        return ""
    picks = sorted({0, len(days) - 1, *range(0, len(days), max(1, len(days) // 6))})
    return "".join(
        f'<text x="{x_of(i):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" class="tick">'
        f"{days[i].isoformat()}</text>"
        for i in picks
        if i == len(days) - 1 or len(days) - 1 - i >= max(1, len(days) // 12)
    )


def line_chart(name: str, title: str, days: Sequence[date], series: dict[str, Sequence[float]], percent=False) -> str:
    """One line per series over the same days, with a legend."""
    if not days:
        return _no_data(name, title)
    y_max = 1.0 if percent else _nice_max(max((max(v) for v in series.values() if v), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_of(i: int) -> float:
        return LEFT + (plot_w * i / (len(days) - 1) if len(days) > 1 else plot_w / 2)

    def y_of(v: float) -> float:
        return TOP + plot_h - plot_h * (v / y_max)

    body = [_y_axis(y_max, percent), _x_labels(days, x_of)]
    for n, (label, values) in enumerate(series.items()):
        colour = COLOURS[n % len(COLOURS)]
        points = " ".join(f"{x_of(i):.1f},{y_of(v):.1f}" for i, v in enumerate(values))
        body.append(f'<polyline class="series" fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        if len(values) == 1:
            body.append(f'<circle class="series" cx="{x_of(0):.1f}" cy="{y_of(values[0]):.1f}" r="3" fill="{colour}"/>')
        lx = LEFT + 8 + n * 150
        body.append(f'<rect x="{lx}" y="{TOP - 12}" width="10" height="10" fill="{colour}"/>')
        body.append(f'<text x="{lx + 14}" y="{TOP - 3}" class="legend">{escape(label)}</text>')
    return _svg(name, title, "".join(body))


def column_chart(name: str, title: str, days: Sequence[date], values: Sequence[float]) -> str:
    """One column per day."""
    if not days:
        return _no_data(name, title)
    y_max = _nice_max(max(values, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / len(days)

    def x_of(i: int) -> float:
        return LEFT + slot * (i + 0.5)

    body = [_y_axis(y_max, False), _x_labels(days, x_of)]
    for i, v in enumerate(values):
        h = plot_h * v / y_max
        body.append(
            f'<rect class="series" x="{LEFT + slot * i + slot * 0.1:.1f}" y="{TOP + plot_h - h:.1f}" '
            f'width="{max(slot * 0.8, 0.5):.1f}" height="{h:.1f}" fill="{COLOURS[0]}"/>'
        )
    return _svg(name, title, "".join(body))


def bar_chart(name: str, title: str, items: Sequence[tuple[str, float]]) -> str:
    """Horizontal bars, one per label, largest first as given."""
    if not items:
        return _no_data(name, title)
    row, label_w = 24, 200
    height = TOP + row * len(items) + 8
    x_max = _nice_max(max(v for _, v in items))
    plot_w = WIDTH - label_w - RIGHT - 60
    body = []
    for i, (label, value) in enumerate(items):
        y = TOP + row * i
        w = plot_w * value / x_max
        body.append(f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end" class="tick">{escape(label)}</text>')
        body.append(
            f'<rect class="series" x="{label_w}" y="{y + 4}" width="{max(w, 1):.1f}" height="{row - 8}" '
            f'fill="{COLOURS[i % len(COLOURS)]}"/>'
        )
        body.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 16}" class="tick">{value:,.0f}</text>')
    return _svg(name, title, "".join(body), height)
