"""Charts drawn on the server as inline SVG: nothing loads from another host, nothing
runs in the browser, and the page's Content-Security-Policy needs no exception (colours
are presentation attributes, not inline styles).

Every chart carries `role="img"`, a <title> and a <desc> for screen readers, and a
`viewBox`, so it scales to the width of a phone; the page also prints its figures as a
table next to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

PALETTE = ("#0b57d0", "#2e7d32", "#b3261e", "#7b5800", "#6f42c1", "#00696f")
INK = "#1a1a1a"
MUTED = "#5f6368"
GRID = "#dfe1e5"


@dataclass(frozen=True)
class Bar:
    """One bar: its label, value, and the text shown on it."""

    label: str
    value: float
    shown: str


def _text(
    x: float, y: float, content: str, *, anchor: str = "middle", size: int = 12, fill: str = INK
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
        f'fill="{fill}">{escape(content)}</text>'
    )


def _frame(chart_id: str, title: str, desc: str, width: int, height: int, body: str) -> Markup:
    return Markup(  # noqa: S704 (every value in it is escaped above)
        f'<svg class="chart" id="{escape(chart_id)}" role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" preserveAspectRatio="xMidYMid meet" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
        f'<desc id="{escape(chart_id)}-desc">{escape(desc)}</desc>{body}</svg>'
    )


def column_chart(
    chart_id: str,
    title: str,
    bars: Sequence[Bar],
    *,
    colour: str = PALETTE[0],
    label_every: int = 1,
) -> Markup:
    """Vertical bars, e.g. money recovered per month; with many bars, only every
    `label_every`-th is labelled on the drawing (the description names them all)."""
    width, height, left, bottom, top = 480, 220, 8, 36, 24
    desc = "; ".join(f"{b.label}: {b.shown}" for b in bars) or "no data"
    top_value = max((b.value for b in bars), default=0) or 1
    slot = (width - 2 * left) / max(len(bars), 1)
    bar_width = min(slot * 0.7, 80)
    usable = height - bottom - top
    parts = [
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - left}" y2="{height - bottom}" '
        f'stroke="{GRID}" stroke-width="1"/>'
    ]
    for i, bar in enumerate(bars):
        h = usable * (bar.value / top_value)
        x = left + i * slot + (slot - bar_width) / 2
        y = height - bottom - h
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_width:.1f}" '
            f'height="{max(h, 0.5):.1f}" fill="{colour}" rx="2"/>'
        )
        if i % label_every:
            continue
        parts.append(_text(x + bar_width / 2, y - 6, bar.shown, size=12))
        parts.append(_text(x + bar_width / 2, height - bottom + 20, bar.label, size=14, fill=MUTED))
    return _frame(chart_id, title, desc, width, height, "".join(parts))


def bar_chart(chart_id: str, title: str, bars: Sequence[Bar]) -> Markup:
    """Horizontal bars with the label above each, e.g. the funnel."""
    width, row, left = 480, 46, 4
    height = max(row * len(bars), row) + 8
    desc = "; ".join(f"{b.label}: {b.shown}" for b in bars) or "no data"
    top_value = max((b.value for b in bars), default=0) or 1
    usable = width - 2 * left
    parts = []
    for i, bar in enumerate(bars):
        y = 8 + i * row
        w = usable * (bar.value / top_value)
        parts.append(_text(left, y + 13, f"{bar.label} — {bar.shown}", anchor="start", size=15))
        parts.append(
            f'<rect x="{left}" y="{y + 18}" width="{usable}" height="16" fill="{GRID}" rx="3"/>'
        )
        parts.append(
            f'<rect class="bar" x="{left}" y="{y + 18}" width="{max(w, 0.5):.1f}" height="16" '
            f'fill="{PALETTE[i % len(PALETTE)]}" rx="3"/>'
        )
    return _frame(chart_id, title, desc, width, height, "".join(parts))


def stacked_chart(chart_id: str, title: str, groups: Sequence[tuple[str, Sequence[Bar]]]) -> Markup:
    """One horizontal bar per group split into its parts (e.g. intents per language),
    with a legend of the parts underneath."""
    width, row, left = 480, 48, 4
    keys: list[str] = []
    for _, parts_ in groups:
        for bar in parts_:
            if bar.label not in keys:
                keys.append(bar.label)
    legend_rows = -(-len(keys) // 4)
    height = row * max(len(groups), 1) + 22 * legend_rows + 12
    desc = (
        "; ".join(
            f"{name}: " + ", ".join(f"{b.label} {b.shown}" for b in parts_)
            for name, parts_ in groups
        )
        or "no data"
    )
    usable = width - 2 * left
    out = []
    for i, (name, parts_) in enumerate(groups):
        y = 8 + i * row
        total = sum(b.value for b in parts_) or 1
        out.append(_text(left, y + 13, name, anchor="start", size=15))
        x = float(left)
        for bar in parts_:
            w = usable * bar.value / total
            colour = PALETTE[keys.index(bar.label) % len(PALETTE)]
            out.append(
                f'<rect class="bar" x="{x:.1f}" y="{y + 18}" width="{max(w, 0):.1f}" '
                f'height="18" fill="{colour}"><title>{escape(bar.label)}: '
                f"{escape(bar.shown)}</title></rect>"
            )
            x += w
    base = 8 + row * max(len(groups), 1)
    for k, key in enumerate(keys):
        lx = left + (k % 4) * (usable / 4)
        ly = base + (k // 4) * 22
        out.append(
            f'<rect x="{lx:.1f}" y="{ly}" width="12" height="12" '
            f'fill="{PALETTE[k % len(PALETTE)]}"/>'
        )
        out.append(_text(lx + 18, ly + 11, key, anchor="start", size=13))
    return _frame(chart_id, title, desc, width, height, "".join(out))


def meter(
    chart_id: str, title: str, share: float, shown: str, *, colour: str = PALETTE[1]
) -> Markup:
    """A single rate as a filled bar (opt-out rate, promises kept, plan completion)."""
    width, height = 320, 56
    share = min(max(share, 0.0), 1.0)
    body = (
        f'<rect x="0" y="8" width="{width}" height="20" fill="{GRID}" rx="4"/>'
        f'<rect class="bar" x="0" y="8" width="{width * share:.1f}" height="20" '
        f'fill="{colour}" rx="4"/>' + _text(0, 48, shown, anchor="start", size=16)
    )
    return _frame(chart_id, title, f"{title}: {shown}", width, height, body)
