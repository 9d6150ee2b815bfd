"""Charts for the staff results pages, drawn on the server as SVG (issue 14 item 5).

Two shapes cover every chart the pages need: ``columns`` (a value per day, left to right) and
``bars`` (a value per label, longest first). Each returns a ``Chart``: the SVG, and the rows of
the table that carries the same numbers beside it, so the page is readable without the picture
(screen readers, print, a copy into a spreadsheet). The SVG scales with its box (viewBox, no
fixed width), so it fits 375 px and 1280 px alike.

Hand-written rather than a chart library: the two shapes are 80 lines, render in well under a
millisecond, and need no JavaScript on the page (the staff CSP allows only our own scripts);
the smallest maintained SVG chart libraries for Python (pygal: 1.1 MB installed, plus lxml for
some output) draw far more than we need and put inline scripts and styles into the SVG.

Invariants: every label and number is escaped (labels come from campaign files and links);
the SVG has role="img" and a <title> naming what it shows; a chart of nothing says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

# Drawn at about the size they are shown (a column of the results page is 400-500 px wide at
# 1280 px, 310 px on a 375 px phone), so 15-unit text reads as 11-15 px, never tiny.
WIDTH = 440
ROW = 28
TOP = 22  # room above the highest column for its number
PLOT_HEIGHT = 160
LABEL_WIDTH = 170
FONT = 15
# Rough glyph widths of a sans-serif, in ems: enough to cut a label before it leaves the picture
# (the table beside the chart has the whole label).
_NARROW, _WIDE = set("fijlrt.,:;'|!()[] "), set("mwMW@%")


@dataclass(frozen=True)
class Chart:
    title: str
    svg: str
    rows: list[tuple[str, str]]  # (label, value as shown): the table beside the chart
    empty: bool


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def columns(title: str, labels: Sequence[str], values: Sequence[float], colour: str) -> Chart:
    """A column per label (e.g. per day), on a shared scale starting at 0."""
    rows = [(label, _number(value)) for label, value in zip(labels, values, strict=True)]
    highest = max(values, default=0) or 1
    step = WIDTH / max(len(values), 1)
    parts = [_open(title, WIDTH, TOP + PLOT_HEIGHT + 30)]
    for n, (label, value) in enumerate(zip(labels, values, strict=True)):
        height = PLOT_HEIGHT * value / highest
        x = n * step + step * 0.15
        top = TOP + PLOT_HEIGHT - height
        parts.append(
            f'<rect x="{x:.1f}" y="{top:.1f}" width="{step * 0.7:.1f}" '
            f'height="{height:.1f}" fill="{escape(colour)}"/>'
        )
        parts.append(
            f'<text x="{x + step * 0.35:.1f}" y="{TOP + PLOT_HEIGHT + 20}" text-anchor="middle" '
            f'font-size="{FONT}">{escape(label)}</text>'
        )
        if value:
            parts.append(
                f'<text x="{x + step * 0.35:.1f}" y="{top - 6:.1f}" '
                f'text-anchor="middle" font-size="{FONT}">{escape(_number(value))}</text>'
            )
    parts.append("</svg>")
    return Chart(title, "".join(parts), rows, not any(values))


def bars(title: str, items: Sequence[tuple[str, float]], colour: str) -> Chart:
    """A bar per label, longest first, its value written after it."""
    ordered = sorted(items, key=lambda item: -item[1])
    rows = [(label, _number(value)) for label, value in ordered]
    highest = max((value for _, value in ordered), default=0) or 1
    room = WIDTH - LABEL_WIDTH - 50  # the number after the longest bar
    height = max(len(ordered), 1) * ROW + 10
    parts = [_open(title, WIDTH, height)]
    for n, (label, value) in enumerate(ordered):
        y = 5 + n * ROW
        shown = _fit(label, LABEL_WIDTH - 14)
        parts.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 19}" text-anchor="end" font-size="{FONT}">'
            f"{escape(shown)}</text>"
        )
        parts.append(
            f'<rect x="{LABEL_WIDTH}" y="{y + 4}" width="{room * value / highest:.1f}" '
            f'height="{ROW - 10}" fill="{escape(colour)}"/>'
        )
        parts.append(
            f'<text x="{LABEL_WIDTH + room * value / highest + 6:.1f}" y="{y + 19}" '
            f'font-size="{FONT}">{escape(_number(value))}</text>'
        )
    parts.append("</svg>")
    return Chart(title, "".join(parts), rows, not any(value for _, value in ordered))


def _fit(label: str, room: float) -> str:
    """``label``, cut with an ellipsis where it would be wider than ``room`` units."""

    def width(text: str) -> float:
        return FONT * sum(
            0.32 if c in _NARROW else 0.95 if c in _WIDE else 0.68 if c.isupper() else 0.58
            for c in text
        )

    if width(label) <= room:
        return label
    while label and width(label + "…") > room:
        label = label[:-1]
    return label.rstrip() + "…"


def _open(title: str, width: int, height: int) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" font-family="system-ui, sans-serif" '
        f'fill="#1f2933"><title>{escape(title)}</title>'
    )
