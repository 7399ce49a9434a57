"""Shape operations: flatten, reshape, pad, upsample, resize, crop, identity, channel shuffle,
chunk."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from .. import shapes
from ..shapes import Field, ShapeError
from .base import DType, Layer, Result, Saved, Shape, fmt_shape, register
from .fields import REQUIRED, ParamError, boolean, by, choice, four, int_, pair, reference
from .window import fnum, whole_field

if TYPE_CHECKING:
    from ..analysis import LayerRecord


class ShapeOp(Layer):
    """Keeps nothing for backward: the gradient is the incoming one reshaped, cut, padded or
    summed over the copies (PyTorch's ``view``, slicing, ``pad``, nearest ``upsample``, the
    shuffle's ``transpose``). ``view`` ones (flatten, identity, crop) output their input's
    storage, so a later layer that keeps their output keeps that same memory."""
    family = "reshape"

    def saved_for_backward(self, rec: LayerRecord, act: DType) -> list[Saved]:
        return []


@register("flatten")
class Flatten(ShapeOp):
    view = True

    def analyse(self, inputs, fields):
        shape = inputs[0]
        field = whole_field(fields[0], shape[0], shape[1]) if len(shape) == 3 else None
        return Result((math.prod(shape),), field=field)

    def working(self, rec: LayerRecord) -> list[str]:
        shape = rec.input_shapes[0]
        return [f"flatten: {'·'.join(str(d) for d in shape)} = {rec.output[0]:,} values "
                f"(H×W×C order, channels fastest); no parameters"]

    def size_mistakes(self, rec: LayerRecord) -> list[tuple[str, Shape]]:
        shape = rec.input_shapes[0]
        if len(shape) != 3:
            return []
        h, w, c = shape
        return [("left out the channels: flatten keeps every value, H·W·C", (h * w,)),
                ("added the sizes instead of multiplying them", (h + w + c,))]


def _target(name: str, v) -> tuple[int, ...]:
    """A reshape target without the batch: 1 to 3 positive sizes, at most one of them -1."""
    if not (isinstance(v, (list, tuple)) and 1 <= len(v) <= 3 and all(
            isinstance(d, int) and not isinstance(d, bool) and (d >= 1 or d == -1) for d in v)):
        raise ParamError(f"{name} must be a list of 1 to 3 sizes (one may be -1), e.g. "
                         f"[1, 1, 96], got {v!r}"[:200])
    if list(v).count(-1) > 1:
        raise ParamError(f"{name} may have one -1, got {list(v)}")
    return tuple(v)


@register("reshape")
class Reshape(ShapeOp):
    """The same values in a new shape without the batch (Keras ``Reshape``, ONNX ``Reshape``):
    ``[1, 1, C]`` turns a vector into a 1×1×C map, ``[N]`` is a flatten, and one size may be -1
    (the rest of the values). A view of its input, as PyTorch's ``reshape``."""
    view = True
    main = "shape"
    params = {"shape": (_target, REQUIRED)}
    param_aliases = {"target_shape": "shape"}
    shape: tuple[int, ...]

    def analyse(self, inputs, fields):
        size = math.prod(inputs[0])
        known = math.prod(d for d in self.shape if d != -1)
        if -1 in self.shape:
            if size % known:
                raise ShapeError(f"cannot reshape {size:,} values to {list(self.shape)}")
            out = tuple(size // known if d == -1 else d for d in self.shape)
        else:
            out = self.shape
        if math.prod(out) != size:
            raise ShapeError(f"cannot reshape {fmt_shape(inputs[0])} ({size:,} values) to "
                             f"{fmt_shape(out)} ({math.prod(out):,} values)")
        shape = inputs[0]
        field = None
        if len(shape) == 3 and out[-1] != shape[-1]:    # the values of the map are mixed
            field = whole_field(fields[0], shape[0], shape[1])
        return Result(out, field=field)

    def forward(self, xs, params, ctx):
        return xs[0].reshape((xs[0].shape[0],) + self.shape)     # NumPy resolves the -1

    def working(self, rec: LayerRecord) -> list[str]:
        return [f"reshape: {fmt_shape(rec.input_shapes[0])} → {fmt_shape(rec.output)}, the "
                f"same {math.prod(rec.output):,} values; no parameters"]


@register("identity")
class Identity(ShapeOp):
    view = True

    def analyse(self, inputs, fields):
        return Result(inputs[0])


@register("pad", "zero_pad", "zeropad", "zero_padding")
class Pad(ShapeOp):
    main = "padding"
    params = {"padding": (four, REQUIRED)}
    padding: tuple[int, int, int, int]

    def analyse(self, inputs, fields):
        h, w, c = self.spatial(inputs[0])
        t, b, l, r = self.padding
        return Result((h + t + b, w + l + r, c))

    def working(self, rec: LayerRecord) -> list[str]:
        h, w, c = rec.input_shapes[0]
        t, b, l, r = self.padding
        if t == b == l == r:
            size = (f"height = width = n + 2p = {h} + 2·{t} = {rec.output[0]}" if h == w else
                    f"height = {h} + 2·{t} = {rec.output[0]}, width = {w} + 2·{t} = "
                    f"{rec.output[1]}")
        else:
            size = (f"height = {h} + {t} + {b} = {rec.output[0]}, width = {w} + {l} + {r} = "
                    f"{rec.output[1]}")
        return [size + "  (the padding is added on both sides)",
                f"channels stay {c}: padding adds rows and columns, not channels",
                "params = 0 (padding has no weights)"]

    def size_mistakes(self, rec: LayerRecord) -> list[tuple[str, Shape]]:
        h, w, c = rec.input_shapes[0]
        t, b, l, r = self.padding
        return [("padded one side only; the padding is added on both sides (n + 2p)",
                 (h + t, w + l, c)),
                ("subtracted the padding; padding makes the map larger", (h - t - b, w - l - r, c)),
                ("added 2p to one axis only", (h + t + b, w, c)),
                ("multiplied by the padding instead of adding it", (h * (t + b), w * (l + r), c))]

    def channel_mistake(self, rec: LayerRecord, expected: int) -> str | None:
        c = rec.input_shapes[0][2]
        return (f"padded the channels too; padding adds rows and columns only, the channels "
                f"stay {c}" if expected > c else
                f"padding keeps the channel count ({c})")


@register("upsample", "upsampling")
class Upsample(ShapeOp):
    """Nearest-neighbour upsampling by an integer factor."""
    main = "scale"
    params = {"scale": (pair(), 2)}
    param_aliases = {"scale_factor": "scale", "size": "scale"}
    scale: tuple[int, int]

    def analyse(self, inputs, fields):
        h, w, c = self.spatial(inputs[0])
        sh, sw = self.scale
        f = fields[0]
        return Result((h * sh, w * sw, c),
                      field=Field(f.rf_h, f.rf_w, shapes.divide(f.jump_h, sh),
                                  shapes.divide(f.jump_w, sw)))

    def working(self, rec: LayerRecord) -> list[str]:
        h, w, c = rec.input_shapes[0]
        sh, sw = self.scale
        return [f"nearest-neighbour upsampling: height = {h}·{sh} = {rec.output[0]}, width = "
                f"{w}·{sw} = {rec.output[1]}; channels stay {c}; no parameters",
                f"the jump divides by the scale: {fnum(rec.field.jump_h)}x"
                f"{fnum(rec.field.jump_w)}"]


def _scales(name: str, v: Any) -> tuple[float, float]:
    """A positive scale factor, [h, w] of them, or HxW (``2x1``)."""
    def ok(x: Any) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool) and 0 < x <= 1e6
    v = by(v) if isinstance(v, str) else v
    if ok(v):
        return (float(v), float(v))
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(ok(x) for x in v):
        return (float(v[0]), float(v[1]))
    raise ParamError(f"{name} must be a positive number or [h, w] of them, got {v!r}"[:200])


@register("resize", "interpolate")
class Resize(ShapeOp):
    """PyTorch's ``F.interpolate`` (``mode`` nearest or bilinear, ``align_corners`` as in
    torch): by a scale factor (output ⌊n·scale⌋, the samples placed by the factor, as torch
    does), to a fixed ``size``, or ``to:`` another layer's H×W (DeepLabV3's ASPP pooling branch,
    FCN's upsampling to the input: ``to: input``). Channels unchanged; no parameters."""
    main = "scale"
    params = {"scale": (_scales, None), "size": (pair(), None), "to": (reference, None),
              "mode": (choice("nearest", "bilinear"), "nearest"),
              "align_corners": (boolean, None)}
    param_aliases = {"scale_factor": "scale"}
    refs = ("to",)
    scale: tuple[float, float] | None
    size: tuple[int, int] | None
    to: str | int | None
    mode: str
    align_corners: bool | None

    def check(self) -> None:
        if [self.scale, self.size, self.to].count(None) != 2:
            raise ParamError("resize needs exactly one of 'scale', 'size' and 'to'")
        if self.align_corners is not None and self.mode == "nearest":
            raise ParamError("align_corners applies to mode: bilinear only (as in torch)")

    def target(self, h: int, w: int, other: tuple[int, ...] | None) -> tuple[int, int]:
        """The output H×W for an h×w input (``other``: the shape ``to:`` names)."""
        if self.scale is not None:
            return math.floor(h * self.scale[0]), math.floor(w * self.scale[1])
        if self.size is not None:
            return self.size
        assert other is not None
        return other[0], other[1]

    def analyse(self, inputs, fields):
        h, w, c = self.spatial(inputs[0])
        other = self.spatial(inputs[1]) if self.to is not None else None
        oh, ow = self.target(h, w, other)
        if oh < 1 or ow < 1:
            raise ShapeError(f"scale {list(self.scale or ())} makes {h}x{w} {oh}x{ow}")
        f = fields[0]
        steps = []
        for axis, (n, out, rf, jump) in enumerate(((h, oh, f.rf_h, f.jump_h),
                                                   (w, ow, f.rf_w, f.jump_w))):
            ratio = (1 / Fraction(repr(self.scale[axis])) if self.scale is not None
                     else Fraction(n, out))
            if self.mode == "bilinear" and n != out and n > 1:
                rf = rf + jump              # an output sample reads two neighbouring pixels
            steps.append((rf, shapes.exact(jump * ratio)))
        (rf_h, j_h), (rf_w, j_w) = steps
        return Result((oh, ow, c), field=Field(rf_h, rf_w, j_h, j_w))

    def working(self, rec: LayerRecord) -> list[str]:
        h, w, c = rec.input_shapes[0]
        how = (f"scale {' x '.join(f'{s:g}' for s in self.scale)}: ⌊{h}·{self.scale[0]:g}⌋ x "
               f"⌊{w}·{self.scale[1]:g}⌋" if self.scale is not None else
               f"to the size of '{self.to}'" if self.to is not None else "to a fixed size")
        mode = self.mode + (f", align_corners {str(bool(self.align_corners)).lower()}"
                            if self.mode == "bilinear" else "")
        return [f"resize ({mode}): {h}x{w} → {rec.output[0]}x{rec.output[1]}, {how}; channels "
                f"stay {c}; no parameters"]


@register("crop", "cropping")
class Crop(ShapeOp):
    """Keras Cropping2D amounts (int, [h, w], [top, bottom, left, right]), or ``to: NAME``: a
    centre crop to that layer's H×W (top = floor((H − h)/2), as U-Net needs)."""
    view = True
    main = "cropping"
    params = {"cropping": (four, None), "to": (reference, None)}
    refs = ("to",)
    cropping: tuple[int, int, int, int] | None
    to: str | int | None

    def check(self) -> None:
        if (self.cropping is None) == (self.to is None):
            raise ParamError("crop needs exactly one of 'cropping' and 'to'")

    def analyse(self, inputs, fields):
        h, w, c = self.spatial(inputs[0])
        if self.to is not None:
            th, tw = self.spatial(inputs[1])[:2]
            if th > h or tw > w:
                raise ShapeError(f"cannot crop {fmt_shape(inputs[0])} to {th}x{tw}: "
                                 f"the target is larger")
            t, l = (h - th) // 2, (w - tw) // 2
            cut = (t, h - th - t, l, w - tw - l)
        else:
            assert self.cropping is not None
            cut = self.cropping
        oh, ow = h - cut[0] - cut[1], w - cut[2] - cut[3]
        if oh <= 0 or ow <= 0:
            raise ShapeError(f"cropping {list(cut)} leaves {oh}x{ow} of {fmt_shape(inputs[0])}")
        return Result((oh, ow, c), geometry=cut)

    def working(self, rec: LayerRecord) -> list[str]:
        h, w, c = rec.input_shapes[0]
        t, b, l, r = rec.geometry
        return [f"height = {h} − {t} − {b} = {rec.output[0]}, width = {w} − {l} − {r} = "
                f"{rec.output[1]}; channels stay {c}; no parameters"]


@register("channel_shuffle", "shuffle")
class ChannelShuffle(ShapeOp):
    """ShuffleNet's channel shuffle (Zhang et al. 2018, torch's ``channel_shuffle``): the C
    channels, seen as ``groups`` rows of C/groups, are read column by column. A permutation:
    shape unchanged, no parameters."""
    main = "groups"
    params = {"groups": (int_(), REQUIRED)}
    groups: int

    def analyse(self, inputs, fields):
        c = inputs[0][-1]
        if c % self.groups:
            raise ShapeError(f"groups {self.groups} does not divide the {c} channels")
        return Result(inputs[0])

    def forward(self, xs, params, ctx):
        x = xs[0]                                  # N×...×C, channels last
        g = self.groups
        lead = x.shape[:-1]
        return x.reshape(*lead, g, x.shape[-1] // g).swapaxes(-1, -2).reshape(x.shape)

    def working(self, rec: LayerRecord) -> list[str]:
        c = rec.output[-1]
        g = self.groups
        return [f"channel shuffle: {c} channels as {g} groups of {c // g}, read across the "
                f"groups (new channel i·{g} + j is old channel j·{c // g} + i); shape unchanged, "
                f"no parameters"]


@register("chunk", "channel_chunk")
class Chunk(ShapeOp):
    """One of ``groups`` equal slices of the channels, ``index`` counting from 0: torch's
    ``x.chunk(groups, dim=1)[index]``, ShuffleNetV2's channel split and Darknet's
    ``[route] groups=G group_id=i``. H×W unchanged, C/groups channels, no parameters. In torch
    a view: a layer that keeps it for backward keeps the whole input's storage."""
    main = "groups"
    params = {"groups": (int_(), REQUIRED), "index": (int_(0), 0)}
    param_aliases = {"group_id": "index", "chunks": "groups"}
    view = True
    groups: int
    index: int

    def check(self) -> None:
        if self.index >= self.groups:
            raise ParamError(f"index {self.index} must be smaller than groups {self.groups}")

    def analyse(self, inputs, fields):
        c = inputs[0][-1]
        if c % self.groups:
            raise ShapeError(f"groups {self.groups} does not divide the {c} channels")
        return Result(inputs[0][:-1] + (c // self.groups,))

    def forward(self, xs, params, ctx):
        x = xs[0]
        n = x.shape[-1] // self.groups
        return x[..., self.index * n:(self.index + 1) * n].copy()

    def working(self, rec: LayerRecord) -> list[str]:
        c = rec.input_shapes[0][-1]
        n = c // self.groups
        return [f"chunk {self.index} of {self.groups}: channels {self.index * n}–"
                f"{(self.index + 1) * n - 1} of {c}, so {n} maps; no parameters"]
