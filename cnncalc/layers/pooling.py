"""Pooling: max and average windows, global and adaptive pools."""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Any

from .. import shapes
from ..shapes import Field
from .base import INT64, OWN, DType, Layer, Result, Saved, Shape, keep_input, register
from .fields import REQUIRED, ParamError, boolean, padding, pair
from .window import (Geometry, field_lines, resolve_window, size_lines, size_mistakes, whole_field,
                     window_field, window_misreadings)

if TYPE_CHECKING:
    from ..analysis import LayerRecord


STRIDE_ONE = "used stride 1; a pool's stride is its window size unless given"


def _pp(p: tuple[int, int]) -> str:
    return str(p[0]) if p[0] == p[1] else f"{p[0]}x{p[1]}"


class Pool(Layer):
    main = "size"
    params = {"size": (pair(), REQUIRED), "stride": (pair(), None), "padding": (padding, 0),
              "ceil_mode": (boolean, False)}
    param_aliases = {"pool_size": "size", "kernel": "size", "kernel_size": "size",
                     "strides": "stride"}
    kind = ""                                  # "max" or "avg"
    family = "pool"
    size: tuple[int, int]
    stride: tuple[int, int]
    padding: Any
    ceil_mode: bool

    def check(self) -> None:
        if self.stride is None:
            self.stride = self.size
        if self.ceil_mode and isinstance(self.padding, str) and self.padding != "valid":
            raise ParamError(f"ceil_mode cannot be combined with padding '{self.padding}'")
        if self.ceil_mode and not isinstance(self.padding, str):
            for axis in range(2):   # PyTorch's rule; beyond it ceil_mode gives fewer than floor
                pad = max(self.padding[2 * axis:2 * axis + 2])
                if 2 * pad > self.size[axis]:
                    raise ParamError(f"ceil_mode needs padding <= size/2 (PyTorch's rule), "
                                     f"got padding {pad} for size {self.size[axis]}")
        if not isinstance(self.padding, str):
            for axis in range(2):   # found by --run: such windows pool nothing but padding
                pad = max(self.padding[2 * axis:2 * axis + 2])
                if pad >= self.size[axis]:
                    raise ParamError(f"padding {pad} must be smaller than the window size "
                                     f"{self.size[axis]}: some windows would see only padding")

    def geometry(self) -> Geometry:
        return Geometry(self.size, self.stride, (1, 1))

    def analyse(self, inputs, fields):
        h, w, c = self.spatial(inputs[0])
        win, notes = resolve_window(h, w, self.size, self.stride, (1, 1), self.padding,
                                    self.ceil_mode)
        return Result((win.out_h, win.out_w, c),
                      field=window_field(fields[0], self.size, self.stride, (1, 1)),
                      geometry=win, floored=notes)

    def working(self, rec: LayerRecord) -> list[str]:
        c = rec.input_shapes[0][2]
        return [*size_lines(rec, self.geometry(), self.ceil_mode),
                f"channels stay {c}: pooling works on each feature map separately",
                "params = 0 (pooling has no weights)", *field_lines(rec, self.geometry())]

    def size_mistakes(self, rec: LayerRecord) -> list[tuple[str, Shape]]:
        out = size_mistakes(rec, self.geometry(), self.ceil_mode)
        if self.stride == self.size and self.size != (1, 1):
            h, w = rec.input_shapes[0][:2]
            ones = [(n + pb + pa - f) + 1 for n, f, pb, pa in
                    ((h, self.size[0], *rec.geometry.pads[:2]),
                     (w, self.size[1], *rec.geometry.pads[2:]))]
            out.append((STRIDE_ONE, (ones[0], ones[1], rec.output[2])))
        elif self.stride != self.size:
            h, w = rec.input_shapes[0][:2]
            by_size = [(n + pb + pa - f) // f + 1 if n + pb + pa >= f else -1
                       for n, f, pb, pa in ((h, self.size[0], *rec.geometry.pads[:2]),
                                            (w, self.size[1], *rec.geometry.pads[2:]))]
            out.append((f"used the window size as the stride; this pool's stride is "
                        f"{_pp(self.stride)}", (by_size[0], by_size[1], rec.output[2])))
        return out

    def channel_mistake(self, rec: LayerRecord, expected: int) -> str | None:
        return f"pooling keeps the channel count ({rec.input_shapes[0][2]})"

    def misreadings(self) -> list[tuple[str, dict[str, Any]]]:
        out = window_misreadings(self.padding, self.stride)
        if self.stride == self.size and self.size != (1, 1):
            out.append((STRIDE_ONE, {"stride": (1, 1)}))
        if not isinstance(self.padding, str) or self.padding == "valid":
            out.append(("used ceil where floor applies: the division is rounded down"
                        if not self.ceil_mode else
                        "rounded down; ceil_mode rounds the division up",
                        {"ceil_mode": not self.ceil_mode}))
        return out


def _indices(rec: LayerRecord) -> Saved:
    """Where each maximum came from: one int64 per output value."""
    return Saved("indices", rec.output, INT64, OWN)


@register("maxpool", "max_pool", "maxpool2d", "max_pool2d")
class MaxPool(Pool):
    kind = "max"

    def saved_for_backward(self, rec: LayerRecord, act: DType) -> list[Saved]:
        return [keep_input(rec, act), _indices(rec)]


@register("avgpool", "avg_pool", "avgpool2d", "avg_pool2d")
class AvgPool(Pool):
    kind = "avg"
    params = {**Pool.params, "count_include_pad": (boolean, True)}
    count_include_pad: bool


class GlobalPool(Layer):
    params = {"keepdims": (boolean, True)}
    kind = ""
    family = "pool"
    keepdims: bool

    def analyse(self, inputs, fields):
        h, w, c = self.spatial(inputs[0])
        return Result((1, 1, c) if self.keepdims else (c,), field=whole_field(fields[0], h, w))

    def saved_for_backward(self, rec: LayerRecord, act: DType) -> list[Saved]:
        """Average: nothing (PyTorch takes the mean, whose gradient needs only the shape). Max:
        the input and the indices, as ``adaptive_max_pool2d`` keeps them."""
        return [keep_input(rec, act), _indices(rec)] if self.kind == "max" else []

    def size_mistakes(self, rec: LayerRecord) -> list[tuple[str, Shape]]:
        h, w, c = rec.input_shapes[0]
        return [("kept the map size; a global pool reduces each map to one value",
                 (h, w, c) if self.keepdims else (h * w * c,)),
                ("flattened the map instead of pooling it", (h * w * c,))]

    def working(self, rec: LayerRecord) -> list[str]:
        h, w, c = rec.input_shapes[0]
        return [f"global {self.kind} pooling: each of the {c} maps ({h}x{w}) becomes one "
                f"value → {'1x1x' if self.keepdims else '['}{c}{'' if self.keepdims else ']'}; "
                f"no parameters"]


@register("global_avgpool", "global_avg_pool", "gap")
class GlobalAvgPool(GlobalPool):
    kind = "avg"


@register("global_maxpool", "global_max_pool")
class GlobalMaxPool(GlobalPool):
    kind = "max"


class AdaptivePool(Layer):
    main = "output"
    params = {"output": (pair(), REQUIRED)}
    param_aliases = {"output_size": "output"}
    kind = ""
    family = "pool"
    output: tuple[int, int]

    def analyse(self, inputs, fields):
        h, w, c = self.spatial(inputs[0])
        oh, ow = self.output
        f = fields[0]
        rf_h, j_h = shapes.grow(f.rf_h, f.jump_h, shapes.adaptive_kernel(h, oh), Fraction(h, oh))
        rf_w, j_w = shapes.grow(f.rf_w, f.jump_w, shapes.adaptive_kernel(w, ow), Fraction(w, ow))
        return Result((oh, ow, c), field=Field(rf_h, rf_w, j_h, j_w))

    def saved_for_backward(self, rec: LayerRecord, act: DType) -> list[Saved]:
        """Max: the input and the indices. Average: the input, except to 1×1, which PyTorch
        computes as a mean that keeps nothing."""
        if self.kind == "max":
            return [keep_input(rec, act), _indices(rec)]
        return [] if self.output == (1, 1) else [keep_input(rec, act)]

    def working(self, rec: LayerRecord) -> list[str]:
        h, w, c = rec.input_shapes[0]
        oh, ow = self.output
        return [f"adaptive {self.kind} pooling to {oh}x{ow}: window i covers "
                f"[floor(i·n/o), ceil((i + 1)·n/o)) (PyTorch), so {h}x{w} → {oh}x{ow} whatever "
                f"the input size; channels stay {c}; no parameters"]


@register("adaptive_avgpool", "adaptive_avg_pool")
class AdaptiveAvgPool(AdaptivePool):
    kind = "avg"


@register("adaptive_maxpool", "adaptive_max_pool")
class AdaptiveMaxPool(AdaptivePool):
    kind = "max"
