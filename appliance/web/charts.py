"""Bar charts drawn on the box as SVG text: no chart library, nothing from the internet (issue 7).

Pure functions of numbers and already translated words, without Flask, so a test reads the SVG they
return. Poll results and keyword popularity are :func:`bar_chart` (one horizontal bar per option or
keyword, its label above it: long Polish labels get the whole width); traffic per day is
:func:`column_chart` (one column per day, a few dates under them).

What reaches the picture is escaped in one place (:func:`_text`): markup in a label is text, and
characters XML 1.0 does not allow (controls, lone surrogates) are left out, so ``chart.svg`` served on
its own stays well-formed. A label's direction marks stay inside its own ``<text>``: every label,
number and date is a separate element, so one label's RTL override cannot turn another around.

Accessible: ``role="img"``, an ``aria-label`` with the title and the numbers, ``<title>`` and a
``<desc>`` listing every value; each bar or column has its own ``<title>`` (a tooltip).
"""

from __future__ import annotations

import html
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

# viewBox units. The page scales the picture to its column: about 0.8 on a 390 px phone, 1.2 on a
# desktop, so the 15-unit labels read as 12 to 18 px.
WIDTH = 400
MAX_LABEL_CHARACTERS = 44  # what fits on one line of the width at the label's size
_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif"
_BAR = "#1f5fbf"
_AXIS = "#667085"
_GRID = "#e4e7ec"
_TEXT = "#1d2330"
# XML 1.0 §2.2 Char, less the surrogates Python strings may hold on their own.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class Bar:
    label: str  # above the bar, shortened with "…" when longer than a line
    value: int
    value_text: str  # printed at the end of the bar, e.g. "12 (40%)"


@dataclass(frozen=True)
class Column:
    label: str  # under the column when there is room, e.g. "12.05"
    value: int
    description: str  # tooltip and description, e.g. "12 May 2026: 40 messages"


def bar_chart(title: str, summary: str, bars: Sequence[Bar], *, chart_id: str) -> str:
    """Horizontal bars scaled to the largest value; all zero draws empty tracks, each with its 0."""
    top, row = 66, 52
    height = top + row * max(len(bars), 1) + 8
    track = WIDTH - 2 * 8 - 96  # room on the right for the number of the longest bar
    largest = max((bar.value for bar in bars), default=0)
    parts = _open(title, summary, "; ".join(f"{bar.label}: {bar.value_text}" for bar in bars),
                  WIDTH, height, chart_id)
    for index, bar in enumerate(bars):
        y = top + index * row
        length = 0.0 if largest == 0 else track * bar.value / largest
        parts.append(f'<g class="bar"><title>{_text(bar.label)}: {_text(bar.value_text)}</title>')
        parts.append(f'<text x="8" y="{y + 15}" font-size="15" fill="{_TEXT}">{_text(_shorten(bar.label))}</text>')
        parts.append(f'<rect x="8" y="{y + 22}" width="{track}" height="22" rx="3" fill="{_GRID}"/>')
        if length > 0:
            parts.append(f'<rect x="8" y="{y + 22}" width="{max(length, 2):.1f}" height="22" rx="3" fill="{_BAR}"/>')
        parts.append(f'<text x="{8 + length + 6:.1f}" y="{y + 39}" font-size="15" font-weight="600" '
                     f'fill="{_TEXT}">{_text(bar.value_text)}</text>')
        parts.append("</g>")
    if not bars:
        parts.append(f'<text x="8" y="{top + 20}" font-size="15" fill="{_AXIS}">–</text>')
    parts.append("</svg>")
    return "".join(parts)


def column_chart(title: str, summary: str, columns: Sequence[Column], *, chart_id: str) -> str:
    """One column per value on a 0-based axis with round steps. The values are printed over the columns
    while they fit across (a week), upright along them while a digit's height fits (a month); on
    thinner columns (90 days) the axis and the tooltips tell them."""
    top, plot_height, left, right = 66, 180, 36, 8
    height = top + plot_height + 40
    plot_width = WIDTH - left - right
    count = max(len(columns), 1)
    step, ticks = _axis(max((c.value for c in columns), default=0))
    scale = plot_height / (step * ticks)
    slot = plot_width / count
    gap = min(4.0, slot * 0.2)
    parts = _open(title, summary, "; ".join(c.description for c in columns), WIDTH, height, chart_id)
    baseline = top + plot_height
    for tick in range(ticks + 1):
        y = baseline - tick * step * scale
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{WIDTH - right}" y2="{y:.1f}" stroke="{_GRID}"/>')
        parts.append(f'<text x="{left - 5}" y="{y + 4:.1f}" font-size="13" text-anchor="end" '
                     f'fill="{_AXIS}">{tick * step}</text>')
    widest = max((len(str(c.value)) for c in columns), default=1)
    across = slot >= widest * 6.5 + 2  # 11-unit digits
    upright = not across and slot >= 11
    label_every = _label_every(max((len(c.label) for c in columns), default=1), slot)
    for index, column in enumerate(columns):
        x = left + index * slot + gap / 2
        length = column.value * scale
        middle = x + (slot - gap) / 2
        parts.append(f'<g class="column"><title>{_text(column.description)}</title>')
        parts.append(f'<rect x="{x:.1f}" y="{baseline - length:.1f}" width="{slot - gap:.1f}" '
                     f'height="{length:.1f}" fill="{_BAR}"/>')
        if across and column.value:
            parts.append(f'<text x="{middle:.1f}" y="{baseline - length - 4:.1f}" font-size="11" '
                         f'text-anchor="middle" fill="{_TEXT}">{column.value}</text>')
        elif upright and column.value:
            parts.append(_upright_number(column.value, middle, baseline - length, length))
        if index % label_every == 0:
            parts.append(f'<text x="{middle:.1f}" y="{baseline + 17}" font-size="13" text-anchor="middle" '
                         f'fill="{_AXIS}">{_text(column.label)}</text>')
        parts.append("</g>")
    parts.append(f'<line x1="{left}" y1="{baseline}" x2="{WIDTH - right}" y2="{baseline}" stroke="{_AXIS}"/>')
    parts.append("</svg>")
    return "".join(parts)


def _upright_number(value: int, x: float, top: float, length: float) -> str:
    """A column's value written bottom to top: inside the column, in white, when it is tall enough,
    else just above it."""
    room = len(str(value)) * 6.5 + 6
    inside = length >= room
    y = top + room - 3 if inside else top - 3
    return (f'<text x="{x + 4:.1f}" y="{y:.1f}" font-size="11" transform="rotate(-90 {x + 4:.1f} {y:.1f})" '
            f'fill="{"#ffffff" if inside else _TEXT}">{value}</text>')


def _open(title: str, summary: str, values: str, width: int, height: int, chart_id: str) -> list[str]:
    label = f"{title}. {summary}. {values}" if values else f"{title}. {summary}"
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{_text(chart_id)}" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" aria-label="{_text(label)}" '
        f'font-family="{_FONT}">',
        f"<title>{_text(title)}</title>",
        f"<desc>{_text(summary)}. {_text(values)}</desc>",
        f'<text x="8" y="22" font-size="17" font-weight="600" fill="{_TEXT}">{_text(_shorten(title, 38))}</text>',
        f'<text x="8" y="46" font-size="14" fill="{_AXIS}" class="summary">{_text(summary)}</text>',
    ]


def _text(value: str) -> str:
    """Text or attribute content: escaped, without what XML may not carry."""
    return html.escape(_NOT_XML.sub("", value), quote=True)


def _shorten(label: str, limit: int = MAX_LABEL_CHARACTERS) -> str:
    """At most ``limit`` characters with "…"; never ending inside an accent or an emoji sequence."""
    if len(label) <= limit:
        return label
    cut = label[:limit - 1]
    while cut and (unicodedata.combining(cut[-1]) or cut[-1] in "\u200d\ufe0f"):
        cut = cut[:-1]
    return cut.rstrip() + "…"


def _axis(largest: int) -> tuple[int, int]:
    """A round step (1, 2 or 5 × 10ⁿ) and how many of them reach ``largest``: at most 5 above zero."""
    if largest <= 4:
        return 1, max(largest, 1)
    magnitude = 10 ** math.floor(math.log10(largest / 4))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude * 5 >= largest)
    return step, math.ceil(largest / step)


def _label_every(longest: int, slot: float) -> int:
    """Every how many columns a date fits under the axis (13-unit text: about 7.5 units a character)."""
    return max(1, math.ceil((longest * 7.5 + 6) / slot))
