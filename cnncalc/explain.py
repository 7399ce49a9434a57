"""The working behind a quick calculation, and the likely mistake behind a wrong answer.

Used by ``cnncalc conv`` and ``cnncalc pool`` (``--explain``, ``--expect``, ``--expect-params``).
Every alternative answer is recomputed with the same formula as the right one, with one rule
changed, so a hint only names a mistake that really produces the student's number.
"""

from __future__ import annotations

from typing import Callable

from . import shapes
from .analysis import LayerRecord
from .layers import Conv, fmt_shape
from .report import commas

AXES = ("height", "width")


def _axis_terms(rec: LayerRecord, axis: int) -> tuple[int, int, int, int, int, int]:
    """(n, f, s, d, pad_before, pad_after) along one axis."""
    layer = rec.layer
    n = rec.input_shapes[0][axis]
    f = (layer.kernel if isinstance(layer, Conv) else layer.size)[axis]
    s = layer.stride[axis]
    d = layer.dilation[axis] if isinstance(layer, Conv) else 1
    pads = rec.geometry.pads
    return n, f, s, d, pads[2 * axis], pads[2 * axis + 1]


def size_working(rec: LayerRecord, axis: int) -> str:
    n, f, s, d, pb, pa = _axis_terms(rec, axis)
    ceil = getattr(rec.layer, "ceil_mode", False)
    pad = f"2·{pb}" if pb == pa else f"{pb} + {pa}"
    kern = str(f) if d == 1 else f"{d}·({f} − 1) − 1"
    num = n + pb + pa - shapes.effective_kernel(f, d)
    expr = f"({n} + {pad} − {kern})"
    out = rec.output[axis]
    if num % s == 0:
        text = f"{expr}/{s} + 1 = {num // s} + 1 = {out}"
    else:
        rnd = "ceil" if ceil else "floor"
        raw = (-(-num // s) if ceil else num // s) + 1
        text = f"{rnd}({expr}/{s}) + 1 = {rnd}({num}/{s}) + 1 = {raw}"
        if ceil and raw != out:
            text += (f" − 1 = {out} (the last window would start in the right padding, so it "
                     f"is dropped)")
        elif not ceil:
            left, lost = num % s, num % s - pa      # unreached rows; those that are input
            text += (f"  ({num}/{s} = {num / s:g} is rounded down: the last {left} row(s) of "
                     f"the padded input are never reached"
                     + (", padding only)" if lost <= 0 else
                        f", {lost} of them input)" if lost < left else ", all input)"))
    if pad != "2·0" and isinstance(rec.layer.padding, str):
        text += f"   [padding '{rec.layer.padding}' = {pb} before, {pa} after]"
    return text


def working(rec: LayerRecord) -> list[str]:
    """Lines of working with the numbers substituted."""
    layer = rec.layer
    h, w, c = rec.input_shapes[0]
    lines = [f"input {fmt_shape(rec.input_shapes[0])} → output {fmt_shape(rec.output)}", ""]
    generic = "(n + p_before + p_after − d·(f − 1) − 1)/s + 1" if isinstance(layer, Conv) and \
        layer.dilation != (1, 1) else "(n + 2p − f)/s + 1"
    lines.append(f"output size = {generic}")
    if _axis_terms(rec, 0)[:4] == _axis_terms(rec, 1)[:4] and \
            rec.geometry.pads[:2] == rec.geometry.pads[2:]:
        lines.append(f"  height = width = {size_working(rec, 0)}")
    else:
        for axis in (0, 1):
            lines.append(f"  {AXES[axis]} = {size_working(rec, axis)}")
    if isinstance(layer, Conv):
        kh, kw = layer.kernel
        g = layer.groups
        cin = f"{c}/{g}" if g > 1 else str(c)
        k = layer.filters
        lines.append(f"feature maps = filters = {k} (each filter spans all "
                     f"{c // g} input channels{' of its group' if g > 1 else ''} and makes "
                     f"one map)")
        wexpr = f"{kh}·{kw}·{cin}·{k}"
        lines.append(f"weights = kernel h · kernel w · input channels"
                     f"{'/groups' if g > 1 else ''} · filters = {wexpr} = {commas(rec.weights)}")
        if layer.bias:
            lines.append(f"biases = filters = {k}")
            lines.append(f"params = {wexpr} + {k} = {commas(rec.params)}")
        else:
            lines.append(f"params = {wexpr} = {commas(rec.params)} (no biases)")
        oh, ow, _ = rec.output
        lines.append(f"MACs = out h · out w · filters · (kernel h · kernel w · input "
                     f"channels{'/groups' if g > 1 else ''}) = {oh}·{ow}·{k}·{kh}·{kw}·{cin} "
                     f"= {commas(rec.macs)}")
    else:
        lines.append(f"channels stay {c}: pooling works on each feature map separately")
        lines.append("params = 0 (pooling has no weights)")
    f = rec.field
    lines.append(f"receptive field = {f.rf_h}x{f.rf_w} input pixels, jump (stride) "
                 f"{f.jump_h}x{f.jump_w}")
    return lines


# --- diagnosing wrong answers --------------------------------------------------------------------

def _sizes(rec: LayerRecord, rule: Callable[..., int]) -> tuple[int, int]:
    out = []
    for axis in (0, 1):
        try:
            out.append(rule(*_axis_terms(rec, axis)))
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
    is_conv = isinstance(layer, Conv)
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
        if is_conv and expected[2] == c:
            hints.append(f"the output has one feature map per filter ({layer.filters}), not "
                         f"one per input channel ({c})")
        elif is_conv and expected[2] == c * layer.filters:
            hints.append(f"each filter spans all {c} input channels and sums them into one "
                         f"map: {layer.filters} filters give {layer.filters} maps, not "
                         f"{c}·{layer.filters}")
        elif not is_conv:
            hints.append(f"pooling keeps the channel count ({c})")
        else:
            hints.append(f"the number of feature maps equals the number of filters "
                         f"({rec.output[2]})")
    return hints


def param_hints(rec: LayerRecord, expected: int) -> list[str]:
    layer = rec.layer
    if not isinstance(layer, Conv):
        return ["pooling layers have no parameters: the count is 0"] if expected else []
    kh, kw = layer.kernel
    c = rec.input_shapes[0][2]
    k = layer.filters
    g = layer.groups
    b = k if layer.bias else 0
    cands = [
        ("left out the biases (one per filter)", kh * kw * (c // g) * k),
        ("left out the input channels (each filter is kh·kw·C_in)", kh * kw * k + b),
        ("left out the input channels and the biases", kh * kw * k),
        ("counted the kernel as f instead of f·f", kh * (c // g) * k + b),
        ("added a bias per input channel instead of per filter", kh * kw * (c // g) * k + c),
        ("ignored the groups (each filter sees C_in/groups channels)", kh * kw * c * k + b),
        ("counted biases that this layer does not have (bias: false)",
         kh * kw * (c // g) * k + k),
    ]
    hints = [label for label, v in cands if v == expected and v != rec.params]
    if not hints:
        hints.append("see --explain for the working")
    return hints
