"""Records → JSON / CSV / TSV / Markdown / text tables. All user-facing strings live here.

Tables are built once as rows of cells; :func:`render_text` prints them as plain aligned text
(for pipes, files and golden tests) and :func:`render_rich` as styled rich text with box
drawing (only on a terminal; rich is imported lazily).
"""

from __future__ import annotations

import csv
import io
import json
import re
from fractions import Fraction
from collections.abc import Iterator
from typing import Any, Callable, Iterable, NamedTuple

from .errors import printable
from .analysis import Analysis, Group, LayerRecord
from .layers import fmt_shape



# --- numbers -------------------------------------------------------------------------------------

def num(v: Fraction | int) -> int | float:
    """A Fraction as an int when whole, else a float (JSON)."""
    if type(v) is not int and isinstance(v, Fraction):
        return int(v) if v.denominator == 1 else float(v)
    return v


def fnum(v: Fraction | int) -> str:
    n = num(v)
    return f"{n:g}" if isinstance(n, float) else str(n)


def commas(n: int) -> str:
    return f"{n:,}"


def si(n: int | float) -> str:
    """15470264320 → '15.47 G'."""
    for div, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.2f} {unit}"
    return str(n)


def si_unit(n: int | float, unit: str) -> str:
    """15470264320, 'MACs' → '15.47 GMACs'; 416, 'MACs' → '416 MACs'."""
    text = si(n)
    return text + unit if text[-1].isalpha() else f"{text} {unit}"


def mib(n: int) -> str:
    for div, unit in ((2 ** 30, "GiB"), (2 ** 20, "MiB"), (2 ** 10, "KiB")):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{n} B"


NAME_CELL = 48        # characters of a name in a table; JSON, CSV and TSV keep the whole name


def cell_name(name: str) -> str:
    """A name for a table cell: control characters escaped, long names cut with an ellipsis."""
    name = printable(name)
    return name if len(name) <= NAME_CELL else name[:NAME_CELL - 1] + "…"


def rf_text(rec: LayerRecord) -> str:
    f = rec.field
    return fnum(f.rf_h) if f.rf_h == f.rf_w else f"{fnum(f.rf_h)}x{fnum(f.rf_w)}"


# --- JSON ----------------------------------------------------------------------------------------

def layer_json(rec: LayerRecord, names: list[str] | None = None) -> dict[str, Any]:
    """The per-layer object of SPEC-FORMAT.md (stable keys)."""
    f = rec.field
    out: dict[str, Any] = {
        "index": rec.index, "name": rec.name, "type": rec.type, "path": rec.path,
        "depth": rec.depth,
        "input": list(rec.input_shapes[0]) if len(rec.input_shapes) == 1
        else [list(s) for s in rec.input_shapes],
        "output": list(rec.output), "feature_maps": rec.feature_maps,
        "weights": rec.weights, "biases": rec.biases, "params": rec.params,
        "trainable": rec.trainable, "non_trainable": rec.non_trainable, "macs": rec.macs,
        "receptive_field": [num(f.rf_h), num(f.rf_w)], "jump": [num(f.jump_h), num(f.jump_w)],
        "activation": rec.activation,
    }
    if names is not None:
        out["from"] = names
    if rec.warnings:
        out["warnings"] = list(rec.warnings)
    return out


def input_names(a: Analysis, rec: LayerRecord) -> list[str]:
    return [a.layers[i - 1].path if i else "input" for i in rec.inputs]


def is_chain(a: Analysis) -> bool:
    return all(r.inputs == (r.index - 1,) for r in a.layers)


def analysis_json(a: Analysis, memory=None, lazy: bool = False) -> dict[str, Any]:
    """The JSON document; ``memory`` (a :class:`cnncalc.memory.Estimate`, ``--train``) adds a
    ``"memory"`` object to every layer and to the document. With ``lazy``, ``"layers"`` is a
    generator that :func:`write_json` consumes one layer at a time (a 100,000-layer document is
    never held whole)."""
    chain = is_chain(a)

    def layer(r: LayerRecord) -> dict[str, Any]:
        obj = layer_json(r, None if chain else input_names(a, r))
        if memory is not None:
            obj["memory"] = layer_memory_json(a, memory, r)
        return obj

    layers: Any = (layer(r) for r in a.layers) if lazy else [layer(r) for r in a.layers]
    out = {
        "name": a.name,
        "description": a.description,
        "input": list(a.input),
        "output": list(a.output),
        "batch": a.batch,
        "layers": layers,
        "totals": a.totals(),
        "warnings": a.warnings,
    }
    if memory is not None:
        out["memory"] = memory_json(a, memory)
    return out


_FLAT_LIST = re.compile(r"\[[-\d.e, ]*\]")
_encode = json.JSONEncoder(ensure_ascii=False).encode     # compact: C-accelerated
_string = json.encoder.encode_basestring                 # what ensure_ascii=False uses


def dumps(obj: Any) -> str:
    """Indented JSON (2 spaces) with numeric lists (shapes, fields) kept on one line.

    Written out by hand around the C encoder because ``json.dumps(indent=2)`` falls back to
    the pure-Python encoder: 10,000 layers took 0.5 s that way."""
    out: list[str] = []
    _dump(obj, "\n", out, None)
    return "".join(out)


def write_json(obj: Any, write: Callable[[str], Any]) -> None:
    """:func:`dumps` written out piece by piece (a lazy ``"layers"`` is consumed as it goes,
    the text handed to ``write`` every few thousand pieces), with a final newline."""
    out: list[str] = []

    def flush() -> None:
        write("".join(out))
        out.clear()

    _dump(obj, "\n", out, flush)
    out.append("\n")
    flush()


_FLUSH_PIECES = 4096


def _numbers(v: list | tuple) -> str | None:
    """``[224, 224, 3]`` for a list of plain finite numbers, else None."""
    types = set(map(type, v))
    if types == _INT:
        return "[" + ", ".join(map(int.__repr__, v)) + "]"
    if not types <= _INT_FLOAT or not all(x - x == 0 for x in v):   # finite numbers
        return None
    text = "[" + ", ".join(map(repr, v)) + "]"
    return text if _FLAT_LIST.fullmatch(text) else None


_INT, _INT_FLOAT = {int}, {int, float}
_NAMES: dict[str, str] = {}     # a key's JSON text with its colon: '"index": '


def _dump(v: Any, newline: str, out: list[str], flush: Callable[[], None] | None) -> None:
    """``v`` as indented JSON, appended to ``out`` in pieces; ``flush`` (when given) is called
    between the items of a list once ``out`` holds a few thousand pieces."""
    if isinstance(v, dict) and v:
        inner = newline + "  "
        sep, comma = "{" + inner, "," + inner
        for k, x in v.items():
            name = _NAMES.get(k) if type(k) is str else None
            if name is None:
                name = _string(str(k)) + ": "
                if type(k) is str and len(_NAMES) < 1024:
                    _NAMES[k] = name
            key = sep + name
            sep = comma
            t = type(x)                     # the common values inline: 10,000-layer specs
            if t is int:
                out.append(key + int.__repr__(x))
            elif t is str:
                out.append(key + _string(x))
            elif x is None:
                out.append(key + "null")
            elif t is list and x and (text := _numbers(x)) is not None:
                out.append(key + text)
            else:
                out.append(key)
                _dump(x, inner, out, flush)
        out.append(newline + "}")
        return
    t = type(v)
    lazy = t is not list and t is not tuple and isinstance(v, Iterator)
    if lazy or (isinstance(v, (list, tuple)) and v):
        text = None if lazy else _numbers(v)    # a lazy list: as they come
        if text is not None:
            out.append(text)
            return
        inner = newline + "  "
        sep = "[" + inner
        for x in v:
            out.append(sep)
            _dump(x, inner, out, flush)
            sep = "," + inner
            if flush is not None and len(out) >= _FLUSH_PIECES:
                flush()
        out.append("[]" if sep.startswith("[") else newline + "]")
    elif isinstance(v, str):
        out.append(_string(v))
    elif isinstance(v, int) and not isinstance(v, bool):
        out.append(int.__repr__(v))
    else:
        out.append(_encode(v))


# --- tables as data ------------------------------------------------------------------------------

class Table(NamedTuple):
    headers: list[str]
    align: str                  # one char per column: l or r
    rows: list[list[str]]
    styles: list[str]           # one per row: "" | "group"


def layer_table(a: Analysis, depth: int | None = None, run: dict | None = None,
                memory=None) -> Table:
    """The --summary table: one row per leaf layer, plus a row per composite (tree view).
    ``depth`` collapses everything deeper than that into its group row. ``run`` adds the
    actual shape, a check mark and the time per layer (from --run); ``memory`` (``--train``, a
    :class:`cnncalc.memory.Estimate`) the per-layer memory of its convention."""
    headers = ["#", "Layer", "Type", "Output", "Maps", "Params", "MACs", "RF"]
    align = "rllrrrrr"
    mem_cols: dict[int, list[int]] = {}
    if memory is not None:
        mem_headers, mem_cols = memory_columns(a, memory)
        headers += mem_headers
        align += "r" * len(mem_headers)
    if run:
        headers += ["Actual", "OK", "ms"]
        align += "llr"
    rows: list[list[str]] = []
    styles: list[str] = []
    groups: list[Group] = []      # the enclosing group rows: a leaf shows its path below them
    for row in a.rows:
        while groups and not row.path.startswith(groups[-1].path + "."):
            groups.pop()
        if isinstance(row, Group):
            groups.append(row)
        if depth is not None and row.depth > depth:
            continue
        indent = "  " * row.depth
        if isinstance(row, Group):
            t = a.group_totals(row)
            kind = row.kind if row.kind != "iteration" else ""
            label = " ".join(x for x in (kind, row.label) if x)
            cells = ["", indent + cell_name(row.name), label or "·", fmt_shape(row.output),
                     str(row.output[-1]) if row.output else "", commas(t["params"]),
                     commas(t["macs"]), ""]
            if mem_cols:
                sums = [sum(col) for col in zip(*(mem_cols[i]
                                                  for i in range(row.first, row.last + 1)))]
                cells += [mib(n) if n else "" for n in sums]
            if run:
                cells += ["", "", ""]
            rows.append(cells)
            styles.append("group")
            continue
        typ = row.type + (f" ({row.activation})" if row.activation else "")
        label = row.path[len(groups[-1].path) + 1:] if groups else row.name   # shortcut.conv
        cells = [str(row.index), indent + cell_name(label), typ, fmt_shape(row.output),
                 str(row.feature_maps), commas(row.params), commas(row.macs),
                 rf_text(row) if len(row.output) == 3 else ""]
        if mem_cols:
            cells += [mib(n) if n else "" for n in mem_cols[row.index]]
        if run:
            lr = run["by_index"].get(row.index)
            if lr is None:
                cells += ["", "", ""]
            else:
                ok = tuple(lr["shape"]) == row.output
                cells += [fmt_shape(lr["shape"]), "✓" if ok else "✗", f"{lr['seconds'] * 1e3:.1f}"]
        rows.append(cells)
        styles.append("")
    return Table(headers, align, rows, styles)


def totals_lines(a: Analysis) -> list[tuple[str, str]]:
    t = a.totals()
    # the last real feature map: a global pool's 1x1 output "sees" the whole image by definition
    last_spatial = next((r for r in reversed(a.layers)
                         if len(r.output) == 3 and r.output[0] * r.output[1] > 1), None)
    lines = [
        ("Total params", f"{commas(t['params'])}  ({mib(t['param_bytes'])} as float32)"),
        ("  trainable", commas(t["trainable"])),
        ("  non-trainable", commas(t["non_trainable"])),
        ("MACs" + (f" (batch {a.batch})" if a.batch > 1 else ""),
         f"{commas(t['macs'])}  ({si_unit(t['macs'], 'MACs')})"),
        ("FLOPs (2 × MACs)", f"{commas(t['flops'])}  ({si_unit(t['flops'], 'FLOPs')})"),
        ("Activations", f"{commas(t['activation_bytes'])} bytes  ({mib(t['activation_bytes'])}, "
                        f"float32, batch {a.batch})"),
    ]
    if last_spatial is not None:
        lines.append(("Receptive field", f"{rf_text(last_spatial)} px at "
                                         f"{cell_name(last_spatial.path)}"))
    return lines


def overview_lines(a: Analysis) -> list[str]:
    head = (f"{printable(a.name)}: {fmt_shape(a.input)} → {fmt_shape(a.output)}  "
            f"({len(a.layers)} layers)")
    if a.description:
        head += f"\n{printable(a.description)}"
    body = [head, ""]
    width = max(len(k) for k, _ in totals_lines(a))
    body += [f"{k.ljust(width)}  {v}" for k, v in totals_lines(a)]
    return body


def warning_lines(a: Analysis, limit: int | None = 10) -> list[str]:
    if not a.warnings:
        return []
    shown = a.warnings if limit is None else a.warnings[:limit]
    lines = [f"warning: {w}" for w in shown]
    if limit is not None and len(a.warnings) > limit:
        lines.append(f"... and {len(a.warnings) - limit} more warnings (--format json lists all)")
    return lines


# --- rendering -----------------------------------------------------------------------------------

def render_text(table: Table) -> str:
    widths = [len(h) for h in table.headers]
    for row in table.rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]

    def line(cells: list[str]) -> str:
        out = [c.rjust(w) if a == "r" else c.ljust(w)
               for c, w, a in zip(cells, widths, table.align)]
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(table.headers), rule] + [line(r) for r in table.rows])


def render_rich(table: Table, title: str | None = None):
    """The table for a terminal: a rich ``Text`` in the look of rich's SIMPLE_HEAD tables (bold
    title and header, a rule under the header, dim group rows), laid out here. rich's own Table
    measures every cell and took about a second for ResNet-152's 570 rows. Cells are plain
    text, never markup: a layer named "x[/b]" prints as written."""
    from rich.cells import cell_len
    from rich.console import Group
    from rich.text import Text

    widths = [cell_len(h) for h in table.headers]
    for row in table.rows:
        widths = [max(w, cell_len(c)) for w, c in zip(widths, row)]

    def line(cells: list[str]) -> str:
        out = []
        for c, w, a in zip(cells, widths, table.align):
            pad = " " * (w - cell_len(c))
            out.append(pad + c if a == "r" else c + pad)
        return "  ".join(out).rstrip() + "\n"

    total = sum(widths) + 2 * (len(widths) - 1)
    text = Text(no_wrap=True, overflow="ellipsis")
    if title:
        text.append(" " * max((total - cell_len(title)) // 2, 0) + title + "\n", style="bold")
    text.append(line(table.headers), style="bold")
    text.append("─" * total + "\n")
    for row, style in zip(table.rows, table.styles):
        text.append(line(row), style="dim" if style == "group" else None)
    text.rstrip()
    return Group(text)    # Console.print would merge a bare Text into a new one, losing no_wrap


def render_delimited(a: Analysis, delimiter: str, memory=None) -> str:
    """CSV or TSV, one row per leaf; ``memory`` (``--train``) appends its per-layer byte
    figures (the keys of the JSON layer's ``memory`` object)."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    extra: list[str] = []
    if memory is not None and a.layers:
        extra = [k for k, v in layer_memory_json(a, memory, a.layers[0]).items()
                 if isinstance(v, int)]
    w.writerow(["index", "name", "type", "path", "depth", "input", "output", "feature_maps",
                "weights", "biases", "params", "trainable", "non_trainable", "macs",
                "receptive_field", "jump", "activation", "from", *extra])
    for r in a.layers:
        f = r.field
        mem = layer_memory_json(a, memory, r) if extra else {}
        w.writerow([r.index, r.name, r.type, r.path, r.depth,
                    " ".join(fmt_shape(s) for s in r.input_shapes), fmt_shape(r.output),
                    r.feature_maps, r.weights, r.biases, r.params, r.trainable,
                    r.non_trainable, r.macs, f"{fnum(f.rf_h)}x{fnum(f.rf_w)}",
                    f"{fnum(f.jump_h)}x{fnum(f.jump_w)}", r.activation or "",
                    " ".join(input_names(a, r)), *(mem[k] for k in extra)])
    return buf.getvalue()


def render_markdown(a: Analysis, depth: int | None = None, memory=None) -> str:
    table = layer_table(a, depth, memory=memory)

    def esc(c: str) -> str:
        stripped = c.lstrip(" ")
        return "\u00a0" * (len(c) - len(stripped)) + stripped.replace("|", "\\|")

    lines = [f"## {printable(a.name)}: {fmt_shape(a.input)} → {fmt_shape(a.output)}", ""]
    if a.description:
        lines += [printable(a.description), ""]
    lines.append("| " + " | ".join(table.headers) + " |")
    lines.append("|" + "|".join("---:" if x == "r" else "---" for x in table.align) + "|")
    for row in table.rows:
        lines.append("| " + " | ".join(esc(c) for c in row) + " |")
    lines += ["", "| Total | |", "|---|---:|"]
    lines += [f"| {k.strip()} | {v} |" for k, v in totals_lines(a)]
    if memory is not None:
        lines += ["", "```text", *memory_lines(a, memory), "```"]
    if a.warnings:
        lines += [""] + [f"- warning: {w}" for w in a.warnings]
    return "\n".join(lines) + "\n"


def zoo_table(entries: Iterable[tuple[str, Analysis | str]]) -> Table:
    rows, styles = [], []
    for name, a in entries:
        if isinstance(a, str):
            rows.append([name, "", "", "", "", "", a])
        else:
            t = a.totals()
            rows.append([name, fmt_shape(a.input), fmt_shape(a.output), commas(t["params"]),
                         commas(t["trainable"]), si(t["macs"]), a.description])
        styles.append("")
    return Table(["Model", "Input", "Output", "Params", "Trainable", "MACs", "Description"],
                 "lllrrrl", rows, styles)


# --- --run ---------------------------------------------------------------------------------------

def run_json(result, facts: dict[str, Any]) -> dict[str, Any]:
    """The ``"run"`` object of ``--format json`` (a :class:`cnncalc.engine.RunResult`)."""
    out: dict[str, Any] = {
        "verified": result.verified,
        "forward_seconds": round(result.forward_seconds, 6),
        "weights_seconds": round(result.weights_seconds, 6),
        "init_seconds": round(result.init_seconds, 6),
        "weights_streamed": bool(facts.get("weights_streamed")),
        "threads": result.threads,
        "input": facts.get("input"),
        "weights": facts.get("weights"),
        "layers": [{"index": lr.index, "name": lr.name, "path": lr.path, "shape": list(lr.shape),
                    "seconds": round(lr.seconds, 6), "ok": lr.ok} for lr in result.layers],
    }
    if result.failure:
        out["failure"] = result.failure
    if result.nonfinite:
        out["nonfinite"] = result.nonfinite
    if facts.get("files"):
        out["maps"] = facts["files"]
    if facts.get("output_file"):
        out["output_file"] = facts["output_file"]
    if result.warnings:
        out["warnings"] = list(result.warnings)
    return out


def run_table(result) -> dict[str, Any]:
    """The ``run`` argument of :func:`layer_table`."""
    return {"by_index": {lr.index: {"shape": lr.shape, "seconds": lr.seconds}
                         for lr in result.layers}}


def run_lines(a: Analysis, result, facts: dict[str, Any]) -> list[str]:
    """The verdict of ``--run`` and what it wrote, for the text output."""
    n = len(a.layers)
    streamed = " (large dense matrices generated inside the forward pass)" \
        if facts.get("weights_streamed") else ""
    how = (f"forward {result.forward_seconds:.2f} s; weights {facts.get('weights')}, "
           f"{result.weights_seconds:.2f} s{streamed}; input {facts.get('input')}")
    lines = []
    bad = result.mismatches()
    if result.verified:
        lines.append(f"Run: ✓ all {n} layer shapes verified by a NumPy forward pass ({how})")
    else:
        if bad:
            lines.append(f"Run: ✗ {len(bad)} of {n} layer shapes differ from the computed ones "
                         f"({how})")
            for lr in bad:
                rec = a.layers[lr.index - 1]
                lines.append(f"  layer {lr.index} '{printable(rec.path)}' ({rec.type}): computed "
                             f"{fmt_shape(rec.output)}, actual {fmt_shape(lr.shape)}")
        if result.failure:
            lines.append(f"Run: ✗ stopped: {result.failure}")
    if result.nonfinite:
        lines.append(f"Run: ✗ {printable(result.nonfinite)}")
    if facts.get("maps_dir") is not None:
        skipped = facts.get("maps_skipped", 0)
        lines.append(f"Wrote {len(facts['files'])} feature-map PNG(s) to {facts['maps_dir']}"
                     + (f" ({skipped} layer(s) with vector outputs skipped)" if skipped else ""))
    if facts.get("output_file"):
        shape = facts.get("output_shape", ())
        lines.append(f"Wrote the output ({fmt_shape(shape)}) to {facts['output_file']}")
    return lines


# --- --train: the training-memory plan ----------------------------------------------------------

OPTIMIZER_NAMES = {"sgd": "SGD", "momentum": "SGD with momentum", "adam": "Adam", "adamw": "AdamW"}
CONVENTION_TEXT = {
    "true": "true estimate: the tensors autograd keeps for backward, each storage once; "
            "see docs/MEMORY.md",
    "torchinfo": "torchinfo's convention: the output of every layer with parameters counted "
                 "twice, MB = 10^6 bytes; not what autograd keeps, see docs/MEMORY.md",
    "keras": "Keras's convention: parameter bytes only, KB and MB of 1024",
}


def torchinfo_lines(t) -> list[str]:
    """torchinfo 1.8.0's summary block, line for line (a :class:`cnncalc.memory.TorchinfoBlock`).

    Each MB figure is ``f"{bytes / 1e6:0.2f}"``; the total is rounded once from the byte sum.
    The mult-adds unit is printed as torchinfo 1.8.0 prints it on Python 3.11 and later (the
    repr of its ``Units`` enum)."""
    if t.mult_adds >= 1e12:
        unit, div = "TERABYTES", 1e12
    elif t.mult_adds >= 1e9:
        unit, div = "GIGABYTES", 1e9
    else:
        unit, div = "MEGABYTES", 1e6
    return [f"Total params: {t.total_params:,}",
            f"Trainable params: {t.trainable_params:,}",
            f"Non-trainable params: {t.total_params - t.trainable_params:,}",
            f"Total mult-adds (Units.{unit}): {t.mult_adds / div:0.2f}",
            f"Input size (MB): {t.input_bytes / 1e6:0.2f}",
            f"Forward/backward pass size (MB): {t.forward_backward_bytes / 1e6:0.2f}",
            f"Params size (MB): {t.param_bytes / 1e6:0.2f}",
            f"Estimated Total Size (MB): {t.total_bytes / 1e6:0.2f}"]


def keras_size(n: float) -> str:
    """Keras 3's ``readable_memory_size``: 1024-based units named B, KB, MB, ..."""
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n / 1024 < 1:
            return f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} PB"


def keras_lines(k) -> list[str]:
    """The parameter lines of Keras 3's ``model.summary()`` (a ``memory.KerasBlock``)."""
    return [f" Total params: {k.total_params:,} ({keras_size(k.total_bytes)})",
            f" Trainable params: {k.trainable_params:,} ({keras_size(k.trainable_bytes)})",
            f" Non-trainable params: {k.non_trainable_params:,} "
            f"({keras_size(k.non_trainable_bytes)})"]


def _types_text(est) -> str:
    """The types and (for the true estimate, the only one that counts it) the optimizer."""
    s = est.settings
    text = (f"mixed precision: {s.activation.name} activations, {s.master.name} weights"
            if s.mixed_precision else s.dtype)
    return text + (f", {OPTIMIZER_NAMES[s.optimizer]}" if est.plan is not None else "")


def plan_rows(a: Analysis, est) -> list[tuple[str, int, str]]:
    """(label, bytes, note) of the true estimate's breakdown."""
    p, s = est.plan, est.settings
    t = a.totals()
    master, act = s.master.name, s.activation.name
    n = s.states
    optim = (f"{OPTIMIZER_NAMES[s.optimizer]}: {n} {master} state{'s' if n != 1 else ''} per "
             f"trainable parameter" if n else "SGD without momentum keeps no state")
    others: dict[str, list[str]] = {}          # kept tensors of another type than the activations
    for k in p.storages:
        if k.dtype.name != act and k.what not in others.setdefault(k.dtype.name, []):
            others[k.dtype.name].append(k.what)
    rows = [("parameters", p.param_bytes,
             f"{commas(t['trainable'])} trainable + {commas(t['non_trainable'])} buffers, "
             f"{master}")]
    if p.param_copy_bytes:
        rows.append((f"{act} weight copies", p.param_copy_bytes,
                     "what the forward and backward passes compute with"))
    rows += [("gradients", p.grad_bytes, f"{master}, one per trainable parameter"),
             ("optimizer state", p.optim_state_bytes, optim),
             ("kept for backward", p.backward_bytes,
              f"{len(p.storages)} tensors at batch {s.batch}: {act} activations"
              + "".join(f", {d} {' and '.join(w)}" for d, w in sorted(others.items()))),
             ("total", p.total_bytes, "")]
    return rows


def memory_lines(a: Analysis, est) -> list[str]:
    """The text block of ``--train`` (an :class:`cnncalc.memory.Estimate`)."""
    lines = [f"Training memory ({CONVENTION_TEXT[est.convention]})"]
    f = est.fit
    if f is None:
        lines.append(f"Batch {est.settings.batch}, {_types_text(est)}")
    elif f.batch:
        lines.append(f"Largest batch that fits in {commas(f.limit)} bytes ({mib(f.limit)}): "
                     f"{f.batch}  ({_types_text(est)})")
    else:
        lines.append(f"Nothing fits in {commas(f.limit)} bytes ({mib(f.limit)}): batch 1 needs "
                     f"{commas(est.total_bytes)} bytes  ({_types_text(est)})")
    if est.torchinfo is not None:
        lines += torchinfo_lines(est.torchinfo)
    elif est.keras is not None:
        lines += keras_lines(est.keras)
    else:
        rows = plan_rows(a, est)
        width = max(len(r[0]) for r in rows)
        digits = max(len(commas(r[1])) for r in rows)
        for label, n, note in rows:
            lines.append(f"  {label.ljust(width)}  {commas(n).rjust(digits)} bytes  "
                         f"{mib(n).rjust(10)}  {note}".rstrip())
    if f is not None and f.batch:
        nxt = f.fixed_bytes + (f.batch + 1) * f.per_sample_bytes
        lines.append(f"  {est.total_bytes / f.limit:.1%} of {mib(f.limit)}; batch {f.batch + 1} "
                     f"would need {commas(nxt)} bytes ({commas(f.per_sample_bytes)} per sample "
                     f"on top of {commas(f.fixed_bytes)})")
    return lines


def memory_json(a: Analysis, est) -> dict[str, Any]:
    """The top-level ``"memory"`` object of ``--format json --train``."""
    s = est.settings
    out: dict[str, Any] = {"convention": est.convention, "batch": s.batch, "dtype": s.dtype,
                           "mixed_precision": s.mixed_precision}
    if est.plan is not None:
        p = est.plan
        out.update({"activation_dtype": s.activation.name, "master_dtype": s.master.name,
                    "optimizer": s.optimizer, "optim_states_per_param": s.states,
                    "param_bytes": p.param_bytes, "param_copy_bytes": p.param_copy_bytes,
                    "grad_bytes": p.grad_bytes, "optim_state_bytes": p.optim_state_bytes,
                    "backward_bytes": p.backward_bytes, "backward_tensors": len(p.storages),
                    "backward_buffer_bytes": p.kept_buffer_bytes, "total_bytes": p.total_bytes})
    elif est.torchinfo is not None:
        t = est.torchinfo
        out.update({"total_params": t.total_params, "trainable_params": t.trainable_params,
                    "mult_adds": t.mult_adds, "input_bytes": t.input_bytes,
                    "forward_backward_bytes": t.forward_backward_bytes,
                    "param_bytes": t.param_bytes, "total_bytes": t.total_bytes,
                    "printed": torchinfo_lines(t)})
    elif est.keras is not None:
        k = est.keras
        out.update({"total_params": k.total_params, "trainable_params": k.trainable_params,
                    "non_trainable_params": k.non_trainable_params,
                    "param_bytes": k.total_bytes, "trainable_param_bytes": k.trainable_bytes,
                    "non_trainable_param_bytes": k.non_trainable_bytes,
                    "printed": keras_lines(k)})
    if est.fit is not None:
        f = est.fit
        out["fit"] = {"limit_bytes": f.limit, "batch": f.batch, "fixed_bytes": f.fixed_bytes,
                      "per_sample_bytes": f.per_sample_bytes}
    return out


def layer_memory_json(a: Analysis, est, rec: LayerRecord) -> dict[str, Any]:
    """A layer's ``"memory"`` object: its share of each figure of the convention."""
    if est.plan is not None:
        m = est.plan.layers[rec.index - 1]
        path = {0: "input", **{r.index: r.path for r in a.layers}}
        kept = []
        for what, k in m.kept:
            item: dict[str, Any] = {"what": what, "shape": list(k.shape), "dtype": k.dtype.name,
                                    "bytes": k.nbytes}
            if k.source.startswith("layer "):
                item["tensor_of"] = path[int(k.source[6:])]
            elif k.source == "input":
                item["tensor_of"] = "input"
            item["counted_here"] = k.counted and k.layer == rec.index
            if not k.counted:
                item["counted_as"] = "parameters"
            if len(k.keepers) > 1:
                item["kept_by"] = [path[i] for i in k.keepers]
            kept.append(item)
        return {"param_bytes": m.param_bytes, "grad_bytes": m.grad_bytes,
                "optim_state_bytes": m.optim_state_bytes, "backward_bytes": m.backward_bytes,
                "backward_kept": kept}
    if est.torchinfo is not None:
        return {"forward_backward_bytes": est.torchinfo.layer_forward_backward.get(rec.index, 0)}
    assert est.keras is not None
    return {"param_bytes": rec.params * est.keras.element_size}


def memory_columns(a: Analysis, est) -> tuple[list[str], dict[int, list[int]]]:
    """Headers and, per layer index, the byte figures of the per-layer columns."""
    if est.plan is not None:
        return (["Kept for bwd", "Params+grads+optim"],
                {m.index: [m.backward_bytes, m.param_bytes + m.grad_bytes + m.optim_state_bytes]
                 for m in est.plan.layers})
    if est.torchinfo is not None:
        fb = est.torchinfo.layer_forward_backward
        return ["Fwd/bwd (torchinfo)"], {r.index: [fb.get(r.index, 0)] for r in a.layers}
    assert est.keras is not None
    size = est.keras.element_size
    return ["Param bytes"], {r.index: [r.params * size] for r in a.layers}
