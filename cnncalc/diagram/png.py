"""A :class:`~cnncalc.diagram.scene.Scene` painted with Pillow: the same items as the SVG.

Pillow draws without anti-aliasing, so the scene is painted at ``SUPERSAMPLE`` times its size and
scaled down with a Lanczos filter, one horizontal strip at a time (with an overlap wider than the
filter, so there are no seams): memory stays small for tall pictures. Text uses DejaVu Sans (the
SVG's first font) when it is installed, else Pillow's own scalable default font. Pillow is
imported only here.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from ..errors import CnnCalcError
from .scene import Polygon, Polyline, Rect, Scene, Text, text_width

SUPERSAMPLE = 3
STRIP = 512                  # rows of the final picture painted at a time
OVERLAP = 8                  # extra rows painted above and below a strip
MAX_PIXELS = 40_000_000      # a bigger picture is refused (use .svg or --depth)

_FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu",
              "/usr/share/fonts/TTF", "/usr/local/share/fonts", "/Library/Fonts",
              "C:/Windows/Fonts")


@lru_cache(maxsize=None)
def _font(size: float, bold: bool):
    from PIL import ImageFont

    names = ("DejaVuSans-Bold.ttf", "Verdana Bold.ttf", "verdanab.ttf") if bold else \
        ("DejaVuSans.ttf", "Verdana.ttf", "verdana.ttf")
    for d in _FONT_DIRS:
        for name in names:
            p = Path(d) / name
            if p.is_file():
                try:
                    return ImageFont.truetype(str(p), round(size))
                except OSError:
                    continue
    try:
        return ImageFont.load_default(size=round(size))
    except TypeError:     # Pillow < 10.1: a fixed-size bitmap font
        return ImageFont.load_default()


def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def render(scene: Scene) -> bytes:
    """The PNG file's bytes, ``scene.width`` × ``scene.height`` pixels (rounded)."""
    from PIL import Image

    width, height = round(scene.width), round(scene.height)
    if width * height > MAX_PIXELS:
        raise CnnCalcError(f"the diagram would be {width}x{height} pixels, too large for a PNG; "
                           f"write .svg instead, or draw groups with --depth N")
    items = [(_span(it), it) for it in scene.walk()]
    out = Image.new("RGB", (width, height), _rgb(scene.background))
    for y0 in range(0, height, STRIP):
        y1 = min(height, y0 + STRIP)
        top, bottom = max(0, y0 - OVERLAP), min(height, y1 + OVERLAP)
        strip = _paint(scene, [it for (a, b), it in items if a <= bottom and b >= top], width,
                       top, bottom)
        out.paste(strip.crop((0, y0 - top, width, y1 - top)), (0, y0))
    buf = io.BytesIO()
    out.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _span(it) -> tuple[float, float]:
    """The rows an item may touch (generously)."""
    if isinstance(it, Rect):
        return it.y - it.width, it.y + it.h + it.width
    if isinstance(it, (Polygon, Polyline)):
        ys = [y for _, y in it.points]
        return min(ys) - it.width - 1, max(ys) + it.width + 1
    if it.vertical:         # it runs up or down from its anchor, depending on the anchor
        reach = text_width(it.text, it.size, it.bold) * 1.3 + it.size
        return it.y - reach, it.y + reach
    return it.y - 1.5 * it.size, it.y + it.size


def _paint(scene: Scene, items: list, width: int, top: int, bottom: int):
    """Rows ``top``..``bottom`` of the picture, painted supersampled and scaled down."""
    from PIL import Image, ImageDraw

    s = SUPERSAMPLE
    img = Image.new("RGB", (width * s, (bottom - top) * s), _rgb(scene.background))
    draw = ImageDraw.Draw(img)

    def pt(x: float, y: float) -> tuple[float, float]:
        return x * s, (y - top) * s

    for it in items:
        if isinstance(it, Rect):
            box = pt(it.x, it.y) + pt(it.x + it.w, it.y + it.h)
            fill = _rgb(it.fill) if it.fill else None
            outline = _rgb(it.stroke) if it.stroke and it.width else None
            lw = max(1, round(it.width * s)) if outline else 0
            if it.rx:
                draw.rounded_rectangle(box, radius=it.rx * s, fill=fill, outline=outline,
                                       width=lw)
            else:
                draw.rectangle(box, fill=fill, outline=outline, width=lw)
        elif isinstance(it, Polygon):
            pts = [pt(x, y) for x, y in it.points]
            draw.polygon(pts, fill=_rgb(it.fill) if it.fill else None)
            if it.stroke and it.width:
                draw.line(pts + pts[:1], fill=_rgb(it.stroke), width=max(1, round(it.width * s)),
                          joint="curve")
        elif isinstance(it, Polyline):
            draw.line([pt(x, y) for x, y in it.points], fill=_rgb(it.stroke),
                      width=max(1, round(it.width * s)), joint="curve")
        elif isinstance(it, Text):
            _text(img, draw, it, s, pt(it.x, it.y))
    return img.resize((width, bottom - top), Image.Resampling.LANCZOS)


_ANCHOR = {"start": "ls", "middle": "ms", "end": "rs"}


def _text(img, draw, t: Text, s: int, at: tuple[float, float]) -> None:
    font = _font(t.size * s, t.bold)
    if not t.text:
        return
    if not t.vertical:
        draw.text(at, t.text, fill=_rgb(t.color), font=font,
                  anchor=_ANCHOR[t.anchor])
        return
    from PIL import Image, ImageDraw

    # lay the text out horizontally on a mask around its anchor, then turn it 90° anticlockwise
    # about that anchor (as SVG's rotate(-90 x y) does)
    left, top, right, bottom = draw.textbbox((0, 0), t.text, font=font, anchor=_ANCHOR[t.anchor])
    pad = 2
    w, h = int(right - left) + 2 * pad, int(bottom - top) + 2 * pad
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).text((pad - left, pad - top), t.text, fill=255, font=font,
                              anchor=_ANCHOR[t.anchor])
    turned = mask.transpose(Image.Transpose.ROTATE_90)
    # a point (u, v) from the anchor goes to (v, -u): the mask's pixel (px, py) sits at
    # u = px - pad + left, v = py - pad + top; after ROTATE_90 it is at (py, w - 1 - px)
    ax, ay = at
    x0 = ax + (top - pad)
    y0 = ay - (w - pad + left)
    img.paste(Image.new("RGB", turned.size, _rgb(t.color)), (round(x0), round(y0 + 1)), turned)
