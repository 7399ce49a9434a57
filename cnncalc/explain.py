"""The working behind a quick calculation, and the likely mistake behind a wrong answer.

Used by ``cnncalc conv`` and ``cnncalc pool`` (``--explain``, ``--expect``, ``--expect-params``).
Every alternative answer is recomputed with the same formula as the right one, with one rule
changed, so a hint only names a mistake that really produces the student's number.
"""

from __future__ import annotations

from typing import Callable

from . import shapes
from .analysis import LayerRecord
from .layers import fmt_shape
from .layers.window import axis_terms

def working(rec: LayerRecord) -> list[str]:
    """Lines of working with the numbers substituted: the layer's own (its ``working``)."""
    lines = [f"input {fmt_shape(rec.input_shapes[0])} → output {fmt_shape(rec.output)}", ""]
    return lines + rec.layer.working(rec)


# --- diagnosing wrong answers --------------------------------------------------------------------

def _sizes(rec: LayerRecord, rule: Callable[..., int]) -> tuple[int, int]:
    out = []
    geo = rec.layer.geometry()  # type: ignore[attr-defined]
    for axis in (0, 1):
        try:
            out.append(rule(*axis_terms(rec, geo, axis)))
        except ZeroDivisionError:
            out.append(-1)
    return out[0], out[1]


def shape_hints(rec: LayerRecord, expected: tuple[int, ...]) -> list[str]:
    """Likely mistakes that produce ``expected`` instead of ``rec.output``."""
    hints: list[str] = []
    if len(expected) != 3:
        return [f"the output of a {rec.type} is HxWxC, not {fmt_shape(expected)}"]
    h, w, c = rec.input_shapes[0]
    layer = rec.layer
    ceil = getattr(layer, "ceil_mode", False)

    def fl(num: int, s: int) -> int:
        return -(-num // s) if ceil else num // s

    rules: list[tuple[str, Callable[..., int]]] = [
        ("forgot the +1 at the end of (n + 2p − f)/s + 1",
         lambda n, f, s, d, pb, pa: fl(n + pb + pa - shapes.effective_kernel(f, d), s)),
        ("forgot the padding",
         lambda n, f, s, d, pb, pa: fl(n - shapes.effective_kernel(f, d), s) + 1),
        ("counted the padding on one side only (it is added on both: 2p)",
         lambda n, f, s, d, pb, pa: fl(n + pb - shapes.effective_kernel(f, d), s) + 1),
        ("used the wrong stride (the division by s is missing)",
         lambda n, f, s, d, pb, pa: n + pb + pa - shapes.effective_kernel(f, d) + 1),
        ("forgot the dilation (the kernel spans d·(f − 1) + 1 pixels)",
         lambda n, f, s, d, pb, pa: fl(n + pb + pa - f, s) + 1),
        ("rounded up; the division is rounded down (floor)" if not ceil else
         "rounded down; ceil_mode rounds the division up",
         lambda n, f, s, d, pb, pa: (-(-(n + pb + pa - shapes.effective_kernel(f, d)) // s)
                                     if not ceil else
                                     (n + pb + pa - shapes.effective_kernel(f, d)) // s) + 1),
        ("added the kernel size instead of subtracting it",
         lambda n, f, s, d, pb, pa: fl(n + pb + pa + f, s) + 1),
    ]
    right_hw = rec.output[:2]
    if expected[:2] != right_hw and tuple(expected[:2]) == (h, w):
        hints.append("kept the input size as if the padding were 'same'; this layer's padding "
                     "does not preserve the size")
    elif expected[:2] != right_hw:
        for label, rule in rules:
            alt = _sizes(rec, rule)
            if alt != right_hw and alt == tuple(expected[:2]):
                hints.append(label)
        if not hints:
            hints.append(f"the spatial size is {right_hw[0]}x{right_hw[1]}: see --explain for "
                         f"the working")
    if expected[2] != rec.output[2]:
        hints.append(layer.channel_mistake(rec, expected[2]))  # type: ignore[attr-defined]
    return hints


def param_hints(rec: LayerRecord, expected: int) -> list[str]:
    """Likely mistakes that produce ``expected`` parameters: the layer names its own."""
    cands = rec.layer.param_mistakes(rec)  # type: ignore[attr-defined]
    if not cands and not rec.params:
        return [f"{rec.type} layers have no parameters: the count is 0"] if expected else []
    hints = [label for label, v in cands if v == expected and v != rec.params]
    if not hints:
        hints.append("see --explain for the working")
    return hints
