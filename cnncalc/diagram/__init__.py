"""Pictures of a network: ``--diagram FILE`` (.svg, .png, .html) and ``--format dot|mermaid``.

Imports run one way: this package reads :class:`~cnncalc.analysis.Analysis` records (and uses
``report`` for the table and figures); nothing outside the CLI imports it. Pillow is imported
only to write a PNG (and numpy not at all), so the analytic path stays fast.

- ``graph.py``: the units (layers, or groups at ``--depth``) and the edges between them
- ``scene.py``: the tiny drawing (rects, polygons, polylines, texts) both renderers paint
- ``layout.py``: the VGG-style figure for chains, the layered flow for graphs
- ``svg.py``, ``png.py``, ``html.py``: the three files; ``graphfmt.py``: dot and mermaid text
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..analysis import Analysis
from ..errors import CnnCalcError

DIAGRAM_SUFFIXES = (".svg", ".png", ".html")


def check_target(path: str) -> str:
    """The format of ``--diagram path`` (its extension), or a one-line error before any work."""
    if Path(path).is_dir():
        raise CnnCalcError(f"--diagram {path} is a directory; give a file name")
    suffix = Path(path).suffix.lower()
    if suffix == ".htm":
        suffix = ".html"
    if not suffix:
        raise CnnCalcError(f"--diagram {path}: the name has no extension; end it in .svg, "
                           f".png or .html")
    if suffix not in DIAGRAM_SUFFIXES:
        raise CnnCalcError(f"--diagram {path}: unknown extension {suffix!r}; use .svg, .png "
                           f"or .html")
    parent = Path(path).parent
    if not parent.is_dir():
        raise CnnCalcError(f"--diagram {path}: no such directory {str(parent)!r}")
    return suffix


def stats(a: Analysis) -> dict[str, Any]:
    from ..report import si_unit
    t = a.totals()
    return {"layers": len(a.layers), "params": f"{t['params']:,}",
            "macs": si_unit(t["macs"], "MACs")}


def drawing_of(a: Analysis, depth: int | None = None):
    """The drawing of ``a`` (every layer, or the groups at ``depth``)."""
    from .graph import build
    from .layout import draw
    return draw(build(a, depth), stats(a))


def render(a: Analysis, fmt: str, depth: int | None = None, run: Any = None,
           facts: dict | None = None) -> bytes:
    """The bytes of the ``.svg``, ``.png`` or ``.html`` file."""
    drawing = drawing_of(a, depth)
    if fmt == ".svg":
        from .svg import render as svg
        return svg(drawing).encode("utf-8")
    if fmt == ".png":
        from .png import render as png
        return png(drawing)
    from .html import render as html
    return html(a, drawing, depth, run, facts).encode("utf-8")


def write(a: Analysis, path: str, depth: int | None = None, run: Any = None,
          facts: dict | None = None) -> str:
    """Draw ``a`` into ``path`` (the format follows the extension); returns the format."""
    from ..files import write_atomic
    fmt = check_target(path)
    write_atomic(path, render(a, fmt, depth, run, facts), "--diagram")
    return fmt
