"""A tiny drawing: rectangles, polygons, polylines and texts in pixel coordinates.

The layouts build one :class:`Scene`; ``svg.py`` writes it as SVG text and ``png.py`` paints the
same items with Pillow, so the two files show the same picture. Text widths are estimated from
the advance widths of DejaVu Sans (Verdana's metrics are close), the font both backends ask for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FONT_FAMILY = "DejaVu Sans, Verdana, Geneva, sans-serif"


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    fill: str | None
    stroke: str | None = None
    width: float = 1.0
    rx: float = 0.0
    dash: bool = False


@dataclass(frozen=True)
class Polygon:
    points: tuple[tuple[float, float], ...]
    fill: str | None
    stroke: str | None = None
    width: float = 1.0


@dataclass(frozen=True)
class Polyline:
    points: tuple[tuple[float, float], ...]
    stroke: str
    width: float = 1.0


@dataclass(frozen=True)
class Text:
    x: float
    y: float                  # the baseline
    text: str
    size: float = 11.0
    color: str = "#222222"
    anchor: str = "start"     # start | middle | end
    bold: bool = False
    vertical: bool = False    # turned 90° anticlockwise (reads upwards) about (x, y)


@dataclass
class Node:
    """A group of items that is one thing in the picture (a layer, a group of layers, an edge):
    SVG writes it as ``<g class=... data-...>`` with a ``<title>`` tooltip."""
    cls: str
    items: list = field(default_factory=list)
    title: str | None = None
    data: dict[str, str] = field(default_factory=dict)


@dataclass
class Scene:
    width: float
    height: float
    items: list = field(default_factory=list)      # Rect | Polygon | Polyline | Text | Node
    background: str = "#ffffff"
    title: str = ""

    def add(self, *items) -> None:
        self.items.extend(items)

    def walk(self):
        """Every drawing item in painting order (Nodes are entered)."""
        stack = list(reversed(self.items))
        while stack:
            it = stack.pop()
            if isinstance(it, Node):
                stack.extend(reversed(it.items))
            else:
                yield it


# Advance widths of DejaVu Sans in em (Book; Bold is about 10% wider).
_NARROW = {c: 0.318 for c in " .,:;'!|ilj·"}
_NARROW.update({c: 0.39 for c in "()[]{}frt-"})
_WIDE = {c: 0.82 for c in "mwMW×%"}
_UPPER = 0.70
_DIGIT = 0.636
_LOWER = 0.60


def char_width(c: str) -> float:
    if c in _NARROW:
        return _NARROW[c]
    if c in _WIDE:
        return _WIDE[c]
    if c.isdigit():
        return _DIGIT
    if c.isupper():
        return _UPPER
    if c == "_":
        return 0.5
    if ord(c) > 0x2E80:      # CJK and the like: full width
        return 1.0
    return _LOWER


def text_width(text: str, size: float, bold: bool = False) -> float:
    return sum(char_width(c) for c in text) * size * (1.1 if bold else 1.0)


def fit(text: str, size: float, width: float, bold: bool = False, keep: str = "end") -> str:
    """``text`` shortened with an ellipsis to at most ``width`` pixels, keeping its ``end``
    (the most specific part of a dotted path) or its ``start``."""
    if text_width(text, size, bold) <= width:
        return text
    budget = width - text_width("…", size, bold)
    kept = ""
    chars = reversed(text) if keep == "end" else iter(text)
    for c in chars:
        if text_width(kept + c, size, bold) > budget:
            break
        kept = c + kept if keep == "end" else kept + c
    return "…" + kept if keep == "end" else kept + "…"


# --- colours -------------------------------------------------------------------------------------

def mix(color: str, other: str, t: float) -> str:
    """``color`` moved a fraction ``t`` of the way to ``other`` (both ``#rrggbb``)."""
    a = [int(color[i:i + 2], 16) for i in (1, 3, 5)]
    b = [int(other[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(a, b))


def lighter(color: str, t: float = 0.35) -> str:
    return mix(color, "#ffffff", t)


def darker(color: str, t: float = 0.25) -> str:
    return mix(color, "#000000", t)
