"""Sliding windows (convolutions and pools): output size with its padding, floor warnings,
the receptive-field step, and the ``--explain`` line for the size along one axis."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from .. import shapes
from ..shapes import Field, ShapeError

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


def resolve_window(h: int, w: int, kernel: tuple[int, int], stride: tuple[int, int],
                   dilation: tuple[int, int], pad: str | tuple[int, int, int, int],
                   ceil_mode: bool = False) -> tuple[Window, tuple[str, ...]]:
    """Output size, concrete padding and floor-division warnings for a sliding window."""
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


def field_line(rec: LayerRecord) -> str:
    f = rec.field
    return (f"receptive field = {f.rf_h}x{f.rf_w} input pixels, jump (stride) "
            f"{f.jump_h}x{f.jump_w}")
