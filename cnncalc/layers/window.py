"""Sliding windows (convolutions and pools): output size with its padding, floor warnings,
the receptive-field step, and the ``--explain`` line for the size along one axis."""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, NamedTuple

from .. import shapes
from ..shapes import Field, Num, ShapeError, divide

if TYPE_CHECKING:
    from ..analysis import LayerRecord

AXES = (("height", "row"), ("width", "column"))


class Window(NamedTuple):
    """A resolved 2-D window: output size and the concrete padding (top, bottom, left, right)."""
    out_h: int
    out_w: int
    pads: tuple[int, int, int, int]


class Geometry(NamedTuple):
    """The window parameters of a sliding layer, per axis: kernel, stride, dilation."""
    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]


def _floor_note(axis: int, n: int, f: int, s: int, d: int, before: int, after: int,
                out: int) -> str | None:
    left = shapes.unreached(n, f, s, before, after, d)
    if not left:
        return None
    eff = shapes.effective_kernel(f, d)
    pad_txt = f"{before}+{after}" if before != after else f"2·{before}"
    lost = left - after      # input pixels (not padding) that no window covers
    unit = AXES[axis][1] + ("s" if left > 1 else "")
    what = (f"the last {left} {unit} of the padded input {'are' if left > 1 else 'is'} "
            f"never reached")
    what += (f" ({lost} of {'them' if left > 1 else 'it'} input)" if 0 < lost < left
             else " (input pixels are lost)" if lost > 0
             else " (padding only: no input pixel is lost)")
    return (f"{AXES[axis][0]}: ({n} + {pad_txt} − {eff})/{s} + 1 is not a whole "
            f"number; floored to {out}, {what}")


_WINDOWS: dict[tuple, tuple[Window, tuple[str, ...]]] = {}
_WINDOWS_MAX = 4096


def forget_windows() -> None:
    """Start :func:`resolve_window`'s memo afresh: each analysis calls this first, so the memo
    holds the windows of one analysis and never a result of formulas that have changed since
    (a test that breaks one on purpose)."""
    _WINDOWS.clear()


def resolve_window(h: int, w: int, kernel: tuple[int, int], stride: tuple[int, int],
                   dilation: tuple[int, int], pad: str | tuple[int, int, int, int],
                   ceil_mode: bool = False) -> tuple[Window, tuple[str, ...]]:
    """Output size, concrete padding and floor-division warnings for a sliding window.

    Remembered during an analysis (a bounded memo; errors are not kept): the layers of a network
    repeat the same windows on the same sizes, and then share one immutable result."""
    key = (h, w, kernel, stride, dilation, pad, ceil_mode)
    try:
        return _WINDOWS[key]
    except KeyError:
        made = _resolve_window(h, w, kernel, stride, dilation, pad, ceil_mode)
        if len(_WINDOWS) < _WINDOWS_MAX:
            _WINDOWS[key] = made
        return made
    except TypeError:       # an unhashable argument (a list)
        return _resolve_window(h, w, kernel, stride, dilation, pad, ceil_mode)


def _resolve_window(h: int, w: int, kernel: tuple[int, int], stride: tuple[int, int],
                    dilation: tuple[int, int], pad: str | tuple[int, int, int, int],
                    ceil_mode: bool) -> tuple[Window, tuple[str, ...]]:
    pads: list[int] = []
    outs: list[int] = []
    notes: list[str] = []
    for axis, n in enumerate((h, w)):
        f, s, d = kernel[axis], stride[axis], dilation[axis]
        if pad == "same":
            before, after = shapes.same_padding(n, f, s, d)
        elif pad == "full":
            before, after = shapes.full_padding(f, d)
        elif pad == "valid":
            before, after = 0, 0
        else:
            assert not isinstance(pad, str)
            before, after = pad[2 * axis], pad[2 * axis + 1]
        try:
            out = shapes.window_output(n, f, s, before, after, d, ceil_mode)
        except ShapeError:
            raise ShapeError(
                f"kernel {shapes.effective_kernel(f, d)}"
                + (f" (kernel {f}, dilation {d})" if d > 1 else "")
                + f" is larger than the padded input "
                f"{AXES[axis][0]} {n + before + after} ({n} + padding {before + after})") from None
        if out <= 0:
            raise ShapeError(f"output {AXES[axis][0]} would be {out}")
        note = None if ceil_mode else _floor_note(axis, n, f, s, d, before, after, out)
        if note:
            notes.append(note)
        pads += [before, after]
        outs.append(out)
    if len(notes) == 2 and notes[0].replace("height", "width").replace(" row", " column") \
            == notes[1]:
        merged = notes[0].replace("height:", "height and width:")
        notes = [merged.replace(" rows ", " rows/columns ") if " rows " in merged
                 else merged.replace(" row ", " row/column ")]
    return Window(outs[0], outs[1], (pads[0], pads[1], pads[2], pads[3])), tuple(notes)


def window_field(field: Field, kernel, stride, dilation) -> Field:
    rf_h, j_h = shapes.grow(field.rf_h, field.jump_h, kernel[0], stride[0], dilation[0])
    rf_w, j_w = shapes.grow(field.rf_w, field.jump_w, kernel[1], stride[1], dilation[1])
    if rf_w == rf_h and type(rf_w) is type(rf_h):
        rf_w = rf_h                     # one object for a square field (a long network's memory)
    return Field(rf_h, rf_w, j_h, j_w)


def whole_field(f: Field, h: int, w: int) -> Field:
    """A window over the whole H×W map (global pooling, flatten)."""
    return Field(f.rf_h + (h - 1) * f.jump_h, f.rf_w + (w - 1) * f.jump_w,
                 f.jump_h * h, f.jump_w * w)


def axis_terms(rec: LayerRecord, geo: Geometry, axis: int) -> tuple[int, int, int, int, int, int]:
    """(n, f, s, d, pad_before, pad_after) along one axis of a sliding layer's record."""
    pads = rec.geometry.pads
    return (rec.input_shapes[0][axis], geo.kernel[axis], geo.stride[axis], geo.dilation[axis],
            pads[2 * axis], pads[2 * axis + 1])


def size_working(rec: LayerRecord, geo: Geometry, axis: int, ceil: bool = False) -> str:
    """``(n + 2p − f)/s + 1`` with the numbers of one axis substituted, and why it rounds."""
    n, f, s, d, pb, pa = axis_terms(rec, geo, axis)
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
    padding = getattr(rec.layer, "padding", None)
    if pad != "2·0" and isinstance(padding, str):
        text += f"   [padding '{padding}' = {pb} before, {pa} after]"
    return text


def size_lines(rec: LayerRecord, geo: Geometry, ceil: bool = False) -> list[str]:
    """The output-size part of a sliding layer's working, both axes."""
    generic = "(n + p_before + p_after − d·(f − 1) − 1)/s + 1" if geo.dilation != (1, 1) \
        else "(n + 2p − f)/s + 1"
    lines = [f"output size = {generic}"]
    if axis_terms(rec, geo, 0)[:4] == axis_terms(rec, geo, 1)[:4] and \
            rec.geometry.pads[:2] == rec.geometry.pads[2:]:
        lines.append(f"  height = width = {size_working(rec, geo, 0, ceil)}")
    else:
        for axis in (0, 1):
            lines.append(f"  {AXES[axis][0]} = {size_working(rec, geo, axis, ceil)}")
    return lines


def _axis_field(rf: Num, jump: Num, span: int, s: Num) -> tuple[str, str]:
    """(``rf_in + (span − 1)·jump_in``, ``jump_in·s``) with one axis's numbers."""
    j_in = divide(jump, s)
    rf_in = rf - (span - 1) * j_in
    return f"{fnum(rf_in)} + {span - 1}·{fnum(j_in)}", f"{fnum(j_in)}·{fnum(s)}"


def field_lines(rec: LayerRecord, geo: Geometry) -> list[str]:
    """The receptive-field step with its numbers: ``rf = rf_in + d·(f − 1)·jump_in`` (the jump
    is the product of the earlier strides) and ``jump = jump_in·s``."""
    f = rec.field
    spans = [shapes.effective_kernel(geo.kernel[a], geo.dilation[a]) for a in (0, 1)]
    grow = "d·(f − 1)" if geo.dilation != (1, 1) else "(f − 1)"
    h = _axis_field(f.rf_h, f.jump_h, spans[0], geo.stride[0])
    w = _axis_field(f.rf_w, f.jump_w, spans[1], geo.stride[1])
    if h == w and f.rf_h == f.rf_w:
        return [f"receptive field = rf_in + {grow}·jump_in = {h[0]} = {fnum(f.rf_h)} "
                f"({fnum(f.rf_h)}x{fnum(f.rf_w)} pixels of the input), jump = jump_in·s = "
                f"{h[1]} = {fnum(f.jump_h)}"]
    return [f"receptive field = rf_in + {grow}·jump_in; jump = jump_in·s (jump_in: the product "
            f"of the earlier strides)",
            f"  height: {h[0]} = {fnum(f.rf_h)}, jump {h[1]} = {fnum(f.jump_h)}",
            f"  width: {w[0]} = {fnum(f.rf_w)}, jump {w[1]} = {fnum(f.jump_w)}"]


def window_misreadings(padding, stride: tuple[int, int]) -> list[tuple[str, dict]]:
    """The misreadings every sliding window shares: its padding ignored, its stride applied
    twice (the field values a re-analysis uses)."""
    out: list[tuple[str, dict]] = []
    if padding not in ("valid", (0, 0, 0, 0)):
        out.append(("ignored the padding", {"padding": (0, 0, 0, 0)}))
    if stride != (1, 1):
        out.append(("applied the stride twice", {"stride": (stride[0] ** 2, stride[1] ** 2)}))
    return out


def fnum(v: Fraction | int) -> str:
    """A whole Fraction as an int, else a short decimal."""
    if isinstance(v, Fraction) and v.denominator != 1:
        return f"{float(v):g}"
    return str(int(v))


# --- the size mistakes of a sliding window (conv and pool homes call this) ----------------------

def size_mistakes(rec: LayerRecord, geo: Geometry, ceil: bool = False
                  ) -> list[tuple[str, tuple[int, ...]]]:
    """Wrong output sizes of a sliding window, each recomputed with one rule of
    ``(n + 2p − f)/s + 1`` changed: the +1, the padding (left out, one side), the stride, the
    dilation (f instead of d·(f − 1) + 1), the rounding (ceil where floor applies, or the
    reverse) and the kernel added instead of subtracted; and the input size kept."""
    def fl(num: int, s: int) -> int:
        return -(-num // s) if ceil else num // s

    def eff(f: int, d: int) -> int:
        return shapes.effective_kernel(f, d)

    rules = [
        ("forgot the +1 at the end of (n + 2p − f)/s + 1",
         lambda n, f, s, d, pb, pa: fl(n + pb + pa - eff(f, d), s)),
        ("forgot the padding",
         lambda n, f, s, d, pb, pa: fl(n - eff(f, d), s) + 1),
        ("counted the padding on one side only (it is added on both: 2p)",
         lambda n, f, s, d, pb, pa: fl(n + pb - eff(f, d), s) + 1),
        ("used the wrong stride (the division by s is missing)",
         lambda n, f, s, d, pb, pa: n + pb + pa - eff(f, d) + 1),
        ("ignored the dilation (a dilated kernel spans d·(f − 1) + 1 pixels, not f)",
         lambda n, f, s, d, pb, pa: fl(n + pb + pa - f, s) + 1),
        ("used ceil where floor applies: the division is rounded down" if not ceil else
         "rounded down; ceil_mode rounds the division up",
         lambda n, f, s, d, pb, pa: (-(-(n + pb + pa - eff(f, d)) // s) if not ceil else
                                     (n + pb + pa - eff(f, d)) // s) + 1),
        ("added the kernel size instead of subtracting it",
         lambda n, f, s, d, pb, pa: fl(n + pb + pa + f, s) + 1),
        ("applied the stride twice (divided by s·s)",
         lambda n, f, s, d, pb, pa: fl(n + pb + pa - eff(f, d), s * s) + 1 if s > 1 else -1),
    ]
    out: list[tuple[str, tuple[int, ...]]] = []
    h, w = rec.input_shapes[0][:2]
    if (h, w) != tuple(rec.output[:2]):
        out.append(("kept the input size as if the padding were 'same' with stride 1; this "
                    "layer's padding and stride do not preserve the size",
                    (h, w, rec.output[2])))
    for label, rule in rules:
        sizes = []
        for axis in (0, 1):
            try:
                sizes.append(rule(*axis_terms(rec, geo, axis)))
            except ZeroDivisionError:
                sizes.append(-1)
        out.append((label, (sizes[0], sizes[1], rec.output[2])))
    return out
