"""One self-contained HTML page: the diagram (inline SVG), the totals, the layer table and, after
``--run --save-maps``, the feature-map grids as ``data:`` URIs. Nothing is fetched: no scripts,
no external fonts or styles, and a Content-Security-Policy that forbids any network request."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import Any

from .. import __version__
from ..analysis import Analysis
from ..errors import CnnCalcError
from ..report import layer_table, run_lines, run_table, totals_lines, warning_lines
from .graph import shape_text
from .scene import FONT_FAMILY, Scene
from .svg import clean, render as render_svg

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

STYLE = f"""
body {{ font-family: {FONT_FAMILY}; color: #222; margin: 24px; max-width: 1200px; }}
h1 {{ font-size: 22px; margin: 0 0 4px; }}
h2 {{ font-size: 17px; margin: 28px 0 8px; }}
p.sub {{ color: #555; margin: 0 0 12px; }}
figure.diagram {{ margin: 0; overflow-x: auto; }}
figure.diagram svg {{ max-width: 100%; height: auto; }}
table {{ border-collapse: collapse; font-size: 13px; }}
th, td {{ padding: 3px 10px; white-space: pre; }}
th {{ border-bottom: 1px solid #999; text-align: left; }}
td.r, th.r {{ text-align: right; font-variant-numeric: tabular-nums; }}
tr.group td {{ color: #777; }}
tbody tr:nth-child(even) {{ background: #f6f6f8; }}
table.totals td:first-child {{ color: #555; }}
.maps {{ display: flex; flex-wrap: wrap; gap: 16px; }}
.maps figure {{ margin: 0; }}
.maps img {{ max-width: 520px; image-rendering: pixelated; border: 1px solid #ddd; }}
.maps figcaption {{ font-size: 12px; color: #444; }}
ul.warnings {{ color: #8a4b00; font-size: 13px; }}
footer {{ margin-top: 32px; color: #888; font-size: 12px; }}
"""


def esc(text: Any) -> str:
    return html.escape(clean(text), quote=True)


def render(a: Analysis, drawing: Scene, depth: int | None = None, run: Any = None,
           facts: dict | None = None) -> str:
    """The page. ``run`` and ``facts`` are the result of ``--run`` (its verdict and the
    feature-map PNGs it wrote), or None."""
    title = f"{a.name}: {shape_text(a.input)} → {shape_text(a.output)}"
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{esc(title)} · cnncalc</title>", f"<style>{STYLE}</style>", "</head>",
           "<body>", f"<h1>{esc(title)}</h1>"]
    if a.description:
        out.append(f'<p class="sub">{esc(a.description)}</p>')
    out += ['<section id="diagram">', '<figure class="diagram">',
            render_svg(drawing, standalone=False), "</figure>", "</section>"]
    out += ['<section id="totals">', "<h2>Totals</h2>", '<table class="totals"><tbody>']
    out += [f'<tr><td>{esc(k.strip())}</td><td class="r">{esc(v)}</td></tr>'
            for k, v in totals_lines(a)]
    out += ["</tbody></table>", "</section>"]
    if run is not None:
        out += ['<section id="run">', "<h2>Run</h2>"]
        out += [f"<p>{esc(line)}</p>" for line in run_lines(a, run, facts or {})]
        out.append("</section>")
    out += _table(a, depth, run)
    warnings = warning_lines(a, None)
    if warnings:
        out.append('<ul class="warnings">' + "".join(f"<li>{esc(w)}</li>" for w in warnings)
                   + "</ul>")
    if facts and facts.get("files"):
        out += _maps(a, facts["files"])
    out += [f"<footer>Made by cnncalc {esc(__version__)}.</footer>", "</body>", "</html>"]
    return "\n".join(out) + "\n"


def _table(a: Analysis, depth: int | None, run: Any) -> list[str]:
    table = layer_table(a, depth, run_table(run) if run is not None else None)
    cls = ['r' if c == "r" else "l" for c in table.align]
    out = ['<section id="layers">', "<h2>Layers</h2>", '<table class="layers">', "<thead><tr>"]
    out += [f'<th class="{c}">{esc(h)}</th>' for h, c in zip(table.headers, cls)]
    out += ["</tr></thead>", "<tbody>"]
    for row, style in zip(table.rows, table.styles):
        cells = "".join(f'<td class="{c}">{esc(cell)}</td>' for cell, c in zip(row, cls))
        out.append(f'<tr class="{style}">{cells}</tr>' if style else f"<tr>{cells}</tr>")
    out += ["</tbody>", "</table>", "</section>"]
    return out


_MAP_FILE = re.compile(r"(\d+)_")


def _maps(a: Analysis, files: list[str]) -> list[str]:
    out = ['<section id="maps">', "<h2>Feature maps</h2>", '<div class="maps">']
    for name in files:
        path = Path(name)
        try:
            data = path.read_bytes()
        except OSError as e:
            raise CnnCalcError(f"cannot read feature maps {name}: {e.strerror or e}") from None
        m = _MAP_FILE.match(path.name)
        index = int(m.group(1)) if m else -1
        if index == 0:
            caption = f"input {shape_text(a.input)}"
        elif 1 <= index <= len(a.layers):
            rec = a.layers[index - 1]
            caption = f"{index} {rec.path} · {rec.type} · {shape_text(rec.output)}"
        else:
            caption = path.name
        uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        out.append(f'<figure><img src="{uri}" alt="{esc(caption)}">'
                   f"<figcaption>{esc(caption)}</figcaption></figure>")
    out += ["</div>", "</section>"]
    return out
