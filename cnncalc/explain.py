"""The working behind a calculation, and the lines of a check of an answer.

Used by the quick commands (``cnncalc conv``, ``pool``, ``dense``, ``deconv``, ``pad``) and by
``cnncalc SPEC`` (``--explain``, ``--expect*``). The working of each layer is its class's
``working``; the named mistakes come from :mod:`cnncalc.mistakes`.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from .analysis import Analysis, LayerRecord
from .layers import fmt_shape
from .mistakes import Check, rf_path


def working(rec: LayerRecord) -> list[str]:
    """Lines of working with the numbers substituted: the layer's own (its ``working``)."""
    lines = [f"input {fmt_shape(rec.input_shapes[0])} → output {fmt_shape(rec.output)}", ""]
    return lines + rec.layer.working(rec)


def model_working(a: Analysis, upto: int | None = None) -> list[str]:
    """Every layer's working (up to layer ``upto``), each under a line naming it."""
    lines: list[str] = []
    last = len(a.layers) if upto is None else upto
    for rec in a.layers[:last]:
        ins = ", ".join(fmt_shape(s) for s in rec.input_shapes)
        lines.append(f"{rec.index}. {rec.path} ({rec.type}): {ins} → {fmt_shape(rec.output)}")
        lines += [f"     {ln}" for ln in rec.layer.working(rec)]
    if last and len(a.layers[last - 1].output) == 3:
        lines += [""] + rf_summary(a, a.layers[last - 1])
    return lines


def rf_summary(a: Analysis, rec: LayerRecord) -> list[str]:
    """The receptive field at ``rec`` compounded along its path: ``rf = 1 + Σ (f − 1)·jump``."""
    steps = [st for st in rf_path(a, rec) if st.grow != (0, 0) or st.stride != (1, 1)]
    if not steps:
        return []
    square = all(st.grow[0] == st.grow[1] and st.stride[0] == st.stride[1] for st in steps)
    axes = [0] if square else [0, 1]
    out = [f"receptive field at {rec.path}: rf = 1 + Σ (f − 1)·jump, jump = the product of "
           f"the earlier strides"]
    for ax in axes:
        jump = Fraction(1)
        terms = []
        for st in steps:
            if st.grow[ax]:
                terms.append(f"{_n(st.grow[ax])}·{_n(jump)}")
            jump *= st.stride[ax]
        name = "" if square else ("  height: " if ax == 0 else "  width: ")
        rf = rec.field.rf_h if ax == 0 else rec.field.rf_w
        out.append(f"  {name}1 + {' + '.join(terms) or '0'} = {_n(rf)}  (jump at the end: "
                   f"{_n(jump)})")
    return out


def _n(v: Fraction | int) -> str:
    if isinstance(v, Fraction) and v.denominator != 1:
        return f"{float(v):g}"
    return str(int(v))


# --- checks ------------------------------------------------------------------------------------

NOUN = {"output": "output", "params": "parameters", "trainable": "trainable parameters",
        "macs": "MACs", "rf": "receptive field"}


def show(quantity: str, v: Any) -> str:
    if quantity == "output":
        return fmt_shape(v)
    if quantity == "rf":
        return f"{_n(v[0])}x{_n(v[1])}"
    return f"{v:,}"


def _what(c: Check, v: Any) -> str:
    if c.quantity in ("output", "rf"):
        return f"{NOUN[c.quantity]} {show(c.quantity, v)}"
    return f"{show(c.quantity, v)} {NOUN[c.quantity]}"


def check_lines(c: Check, where: bool = True) -> list[str]:
    """``✓ …`` for a right answer; for a wrong one the expected value, the computed one and the
    likely mistake, one line each."""
    at = f" at {c.target.label()}" if where and c.target.kind != "network" else ""
    if c.passed:
        return [f"✓ {_what(c, c.computed)}{at} is right"]
    assert c.diagnosis is not None
    exp = _what(c, c.expected)
    if c.quantity not in ("output", "rf") and c.given.replace(",", "") != str(c.expected):
        exp += f" ({c.given})"
    mistake = "; or ".join(c.diagnosis.mistakes) if c.diagnosis.named else c.diagnosis.note
    return [f"✗ expected {exp}{at}",
            f"  computed {_what(c, c.computed)}",
            f"  likely mistake: {mistake}"]


def _jsonable(quantity: str, v: Any) -> Any:
    if quantity == "output":
        return list(v)
    if quantity == "rf":
        return [float(x) if isinstance(x, Fraction) and x.denominator != 1 else int(x)
                for x in v]
    return v


def check_json(c: Check) -> dict[str, Any]:
    t = c.target
    return {"quantity": c.quantity,
            "at": None if t.kind == "network" else (t.group.path if t.group is not None else
                                                    t.rec.path if t.rec is not None else None),
            "expected": _jsonable(c.quantity, c.expected),
            "given": c.given,
            "computed": _jsonable(c.quantity, c.computed),
            "passed": c.passed,
            "mistakes": [] if c.passed or c.diagnosis is None else c.diagnosis.mistakes,
            "named": c.passed or (c.diagnosis is not None and c.diagnosis.named)}
