"""``--format dot`` (Graphviz) and ``--format mermaid``: one node per unit (a layer, or a group at
``--depth N``), an edge for every data flow, labels with the name, type and output shape.

Node ids are generated (``n0`` is the input, ``n1``... in execution order), so no layer name
ever has to be an identifier; names only appear inside quoted, escaped labels.
"""

from __future__ import annotations

from ..analysis import Analysis
from .graph import Unit, View, build, shape_text
from .layout import family
from .scene import lighter
from .svg import clean



def render(a: Analysis, fmt: str, depth: int | None = None) -> str:
    v = build(a, depth)
    return dot(v) if fmt == "dot" else mermaid(v)


def _lines(u: Unit) -> list[str]:
    if u.id == 0:
        return ["input", shape_text(u.output)]
    return [u.path, u.label + (f" ({u.layers} layers)" if u.group else ""),
            shape_text(u.output)]


# --- Graphviz ------------------------------------------------------------------------------------

def dot_string(text: str) -> str:
    """A DOT double-quoted string. Backslashes are doubled, so a name can never produce one of
    Graphviz's label escapes (``\\N``, ``\\l``); quotes are escaped; line breaks become spaces,
    control characters U+FFFD."""
    text = clean(text).replace("\\", "\\\\").replace('"', '\\"')
    return '"' + " ".join(text.splitlines()) + '"'


def dot(v: View) -> str:
    out = [f"digraph {dot_string(v.name)} {{",
           '  graph [rankdir=TB, nodesep=0.25, ranksep=0.3, fontname="Helvetica"];',
           '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10, '
           'penwidth=1.2];',
           '  edge [color="#6f6f6f", arrowsize=0.6];']
    for u in v.units:
        color = family(u.type)[1]
        # the label: lines joined with DOT's \n escape (added after escaping the text)
        label = "\\n".join(dot_string(line)[1:-1] for line in _lines(u))
        style = ', style="rounded,filled,dashed"' if u.group else ""
        out.append(f'  n{u.id} [label="{label}", color="{color}", '
                   f'fillcolor="{lighter(color, 0.8)}"{style}];')
    out += [f"  n{s} -> n{d};" for s, d in v.edges]
    out.append("}")
    return "\n".join(out) + "\n"


# --- Mermaid -------------------------------------------------------------------------------------

_MERMAID = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "&": "#amp;", "`": "#96;",
            "|": "#124;", "\\": "#92;"}


def mermaid_text(text: str) -> str:
    """Text for inside a quoted Mermaid label: the characters that could end or break it as
    entity codes (``#quot;``); line breaks become spaces, control characters U+FFFD."""
    return "".join(_MERMAID.get(c, c) for c in " ".join(clean(text).splitlines()))


def mermaid(v: View) -> str:
    out = ["flowchart TD"]
    classes: dict[str, str] = {}
    for u in v.units:
        name, color = family(u.type)
        cls = "f_" + "".join(c if c.isalnum() else "_" for c in name)
        classes[cls] = color
        label = "<br/>".join(mermaid_text(line) for line in _lines(u))
        out.append(f'  n{u.id}["{label}"]:::{cls}')
    out += [f"  n{s} --> n{d}" for s, d in v.edges]
    out += [f"  classDef {cls} fill:{lighter(color, 0.8)},stroke:{color}"
            for cls, color in classes.items()]
    return "\n".join(out) + "\n"
