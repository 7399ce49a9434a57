"""A :class:`~cnncalc.diagram.scene.Scene` as SVG text (hand-written, no dependency).

Every piece of text goes through :func:`esc`, which also replaces the characters XML 1.0 cannot
hold at all (control characters, lone surrogates), so any layer name gives well-formed XML.
"""

from __future__ import annotations

import re

from .scene import FONT_FAMILY, Node, Polygon, Polyline, Rect, Scene, Text

_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean(text: str) -> str:
    """``text`` with the characters XML cannot hold replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", str(text))


def esc(text: str) -> str:
    """Text for XML character data and double-quoted attributes."""
    text = clean(text)
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def _n(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".") if v != int(v) else str(int(v))


def _pts(points) -> str:
    return " ".join(f"{_n(x)},{_n(y)}" for x, y in points)


def _paint(fill: str | None, stroke: str | None, width: float) -> str:
    out = f' fill="{fill or "none"}"'
    if stroke and width:
        out += f' stroke="{stroke}" stroke-width="{_n(width)}"'
    return out


def _item(it, out: list[str], indent: str) -> None:
    if isinstance(it, Node):
        attrs = f' class="{esc(it.cls)}"' + "".join(
            f' data-{k}="{esc(v)}"' for k, v in it.data.items())
        out.append(f"{indent}<g{attrs}>")
        if it.title:
            out.append(f"{indent}  <title>{esc(it.title)}</title>")
        for sub in it.items:
            _item(sub, out, indent + "  ")
        out.append(f"{indent}</g>")
    elif isinstance(it, Rect):
        rx = f' rx="{_n(it.rx)}"' if it.rx else ""
        dash = ' stroke-dasharray="4 2"' if it.dash else ""
        out.append(f'{indent}<rect x="{_n(it.x)}" y="{_n(it.y)}" width="{_n(it.w)}" '
                   f'height="{_n(it.h)}"{rx}{_paint(it.fill, it.stroke, it.width)}{dash}/>')
    elif isinstance(it, Polygon):
        out.append(f'{indent}<polygon points="{_pts(it.points)}"'
                   f'{_paint(it.fill, it.stroke, it.width)} stroke-linejoin="round"/>')
    elif isinstance(it, Polyline):
        out.append(f'{indent}<polyline points="{_pts(it.points)}"'
                   f'{_paint(None, it.stroke, it.width)} stroke-linejoin="round"/>')
    elif isinstance(it, Text):
        attrs = f'x="{_n(it.x)}" y="{_n(it.y)}" font-size="{_n(it.size)}" fill="{it.color}"'
        if it.anchor != "start":
            attrs += f' text-anchor="{it.anchor}"'
        if it.bold:
            attrs += ' font-weight="bold"'
        if it.vertical:
            attrs += f' transform="rotate(-90 {_n(it.x)} {_n(it.y)})"'
        out.append(f"{indent}<text {attrs}>{esc(it.text)}</text>")
    else:  # pragma: no cover - the layouts only make the types above
        raise TypeError(f"cannot draw {type(it).__name__}")


def render(scene: Scene, standalone: bool = True) -> str:
    """The SVG document (with an XML declaration when ``standalone``; without it for inlining
    in HTML)."""
    w, h = _n(round(scene.width)), _n(round(scene.height))
    out = ['<?xml version="1.0" encoding="UTF-8"?>'] if standalone else []
    out.append(f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
               f'viewBox="0 0 {w} {h}" font-family="{FONT_FAMILY}" role="img" '
               f'aria-label="{esc(scene.title)}">')
    out.append(f"  <title>{esc(scene.title)}</title>")
    out.append(f'  <rect width="100%" height="100%" fill="{scene.background}"/>')
    for it in scene.items:
        _item(it, out, "  ")
    out.append("</svg>")
    return "\n".join(out) + "\n"
