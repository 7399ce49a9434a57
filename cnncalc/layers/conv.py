"""Convolutions: conv (grouped), depthwise, separable and transposed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import shapes
from ..shapes import Field, ShapeError
from .base import OWN, DType, Layer, ParamSpec, Result, Saved, keep_input, register
from .fields import (REQUIRED, ParamError, activation, boolean, fixed_kernels, four, int_,
                     is_matrix, padding, pair, show)
from .window import AXES, Geometry, Window, field_line, resolve_window, size_lines, window_field

if TYPE_CHECKING:
    from ..analysis import LayerRecord

CONV_COMMON = {
    "kernel": (pair(), REQUIRED),
    "stride": (pair(), 1),
    "padding": (padding, 0),
    "dilation": (pair(), 1),
    "bias": (boolean, True),
    "activation": (activation, None),
}
CONV_ALIASES = {"kernel_size": "kernel", "strides": "stride", "dilation_rate": "dilation",
                "use_bias": "bias"}


def _commas(n: int) -> str:
    return f"{n:,}"


class Sliding(Layer):
    """A convolution-like layer: a window over the input, every weight used once per output
    position, so MACs = H'·W'·weights."""

    param_aliases = CONV_ALIASES
    family = "conv"
    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    padding: Any
    bias: bool

    def geometry(self) -> Geometry:
        return Geometry(self.kernel, self.stride, self.dilation)

    def out_channels(self, c: int) -> int:
        raise NotImplementedError

    def analyse(self, inputs, fields):
        h, w, c = self.spatial(inputs[0])
        win, notes = resolve_window(h, w, self.kernel, self.stride, self.dilation, self.padding)
        return Result((win.out_h, win.out_w, self.out_channels(c)),
                      win.out_h * win.out_w * self.weight_count(inputs),
                      window_field(fields[0], self.kernel, self.stride, self.dilation), notes, win)

    def saved_for_backward(self, rec: LayerRecord, act: DType) -> list[Saved]:
        """Its input, for the weight gradient (the weight itself is a parameter), then what its
        activation keeps."""
        return [keep_input(rec, act), *self.activation_saved(rec, act)]

    def _bias(self, n: int, fan: int) -> list[ParamSpec]:
        return [ParamSpec("bias", (n,), "uniform", fan, "bias")] if self.bias else []


@register("conv", "conv2d")
class Conv(Sliding):
    main = "filters"
    params = {"filters": (int_(), REQUIRED), **CONV_COMMON, "groups": (int_(), 1),
              "weights": (fixed_kernels, None)}
    param_aliases = {**CONV_ALIASES, "out_channels": "filters"}
    filters: int
    groups: int
    weights: Any

    def check(self) -> None:
        if self.filters % self.groups:
            raise ParamError(f"groups {self.groups} does not divide filters {self.filters}")
        if self.weights is not None:
            kh, kw = self.kernel
            if len(self.weights) != self.filters:
                raise ParamError(f"weights has {len(self.weights)} kernels for "
                                 f"{self.filters} filters")
            for i, e in enumerate(self.weights, 1):
                mats = e if is_matrix(e[0]) else (e,)
                for m in mats:
                    if (len(m), len(m[0])) != (kh, kw):
                        raise ParamError(f"weights: kernel {i} is {len(m)}x{len(m[0])}, but "
                                         f"kernel is {kh}x{kw}")

    def in_channels_per_group(self, c: int) -> int:
        if c % self.groups:
            raise ShapeError(f"groups {self.groups} does not divide the {c} input channels")
        return c // self.groups

    def out_channels(self, c: int) -> int:
        return self.filters

    def analyse(self, inputs, fields):
        cg = self.in_channels_per_group(self.spatial(inputs[0])[2])
        for i, e in enumerate(self.weights or (), 1):
            if is_matrix(e[0]) and len(e) != cg:
                raise ShapeError(f"weights: kernel {i} has {len(e)} input-channel matrices, "
                                 f"but each filter sees {cg} input channels")
        return super().analyse(inputs, fields)

    def param_specs(self, inputs):
        kh, kw = self.kernel
        cg = inputs[0][-1] // self.groups
        fan = kh * kw * cg
        return [ParamSpec("weight", (kh, kw, cg, self.filters), "uniform", fan),
                *self._bias(self.filters, fan)]

    def working(self, rec: LayerRecord) -> list[str]:
        h, w, c = rec.input_shapes[0]
        kh, kw = self.kernel
        g = self.groups
        cin = f"{c}/{g}" if g > 1 else str(c)
        k = self.filters
        lines = size_lines(rec, self.geometry())
        lines.append(f"feature maps = filters = {k} (each filter spans all "
                     f"{c // g} input channels{' of its group' if g > 1 else ''} and makes "
                     f"one map)")
        wexpr = f"{kh}·{kw}·{cin}·{k}"
        lines.append(f"weights = kernel h · kernel w · input channels"
                     f"{'/groups' if g > 1 else ''} · filters = {wexpr} = {_commas(rec.weights)}")
        if self.bias:
            lines.append(f"biases = filters = {k}")
            lines.append(f"params = {wexpr} + {k} = {_commas(rec.params)}")
        else:
            lines.append(f"params = {wexpr} = {_commas(rec.params)} (no biases)")
        oh, ow, _ = rec.output
        lines.append(f"MACs = out h · out w · filters · (kernel h · kernel w · input "
                     f"channels{'/groups' if g > 1 else ''}) = {oh}·{ow}·{k}·{kh}·{kw}·{cin} "
                     f"= {_commas(rec.macs)}")
        lines.append(field_line(rec))
        return lines

    def param_mistakes(self, rec: LayerRecord) -> list[tuple[str, int]]:
        """Wrong parameter counts a student is likely to give, each with the mistake named."""
        kh, kw = self.kernel
        c = rec.input_shapes[0][2]
        k, g = self.filters, self.groups
        b = k if self.bias else 0
        return [
            ("left out the biases (one per filter)", kh * kw * (c // g) * k),
            ("left out the input channels (each filter is kh·kw·C_in)", kh * kw * k + b),
            ("left out the input channels and the biases", kh * kw * k),
            ("counted the kernel as f instead of f·f", kh * (c // g) * k + b),
            ("added a bias per input channel instead of per filter", kh * kw * (c // g) * k + c),
            ("ignored the groups (each filter sees C_in/groups channels)", kh * kw * c * k + b),
            ("counted biases that this layer does not have (bias: false)",
             kh * kw * (c // g) * k + k),
        ]

    def channel_mistake(self, rec: LayerRecord, expected: int) -> str:
        c = rec.input_shapes[0][2]
        if expected == c:
            return (f"the output has one feature map per filter ({self.filters}), not "
                    f"one per input channel ({c})")
        if expected == c * self.filters:
            return (f"each filter spans all {c} input channels and sums them into one "
                    f"map: {self.filters} filters give {self.filters} maps, not "
                    f"{c}·{self.filters}")
        return f"the number of feature maps equals the number of filters ({rec.output[2]})"


@register("depthwise_conv", "depthwise_conv2d")
class DepthwiseConv(Sliding):
    main = "kernel"
    params = {**CONV_COMMON, "depth_multiplier": (int_(), 1)}
    depth_multiplier: int

    def out_channels(self, c: int) -> int:
        return c * self.depth_multiplier

    def param_specs(self, inputs):
        kh, kw = self.kernel
        c = inputs[0][-1] * self.depth_multiplier
        return [ParamSpec("weight", (kh, kw, 1, c), "uniform", kh * kw),
                *self._bias(c, kh * kw)]


@register("separable_conv", "separable_conv2d")
class SeparableConv(Sliding):
    """Keras SeparableConv2D: depthwise (C·m filters) then 1×1 pointwise; one bias of `filters`."""
    main = "filters"
    params = {"filters": (int_(), REQUIRED), **CONV_COMMON, "depth_multiplier": (int_(), 1)}
    filters: int
    depth_multiplier: int

    def out_channels(self, c: int) -> int:
        return self.filters

    def param_specs(self, inputs):
        kh, kw = self.kernel
        mid = inputs[0][-1] * self.depth_multiplier
        return [ParamSpec("depthwise", (kh, kw, 1, mid), "uniform", kh * kw),
                ParamSpec("pointwise", (1, 1, mid, self.filters), "uniform", mid),
                *self._bias(self.filters, mid)]

    def saved_for_backward(self, rec: LayerRecord, act: DType) -> list[Saved]:
        """Two convolutions: the depthwise one keeps the input, the pointwise one keeps the
        depthwise output (H'×W'×C·m, a tensor of its own)."""
        oh, ow, _ = rec.output
        mid = rec.input_shapes[0][2] * self.depth_multiplier
        return [keep_input(rec, act), Saved("depthwise output", (oh, ow, mid), act, OWN),
                *self.activation_saved(rec, act)]


def transposed_padding(name: str, v: Any):
    if isinstance(v, str) and v.lower() in ("same", "valid"):
        return v.lower()
    if isinstance(v, str):
        raise ParamError(f"{name} of conv_transpose must be an integer, [h, w], "
                         f"[top, bottom, left, right], 'same' or 'valid', got {show(v)}")
    return four(name, v)


@register("conv_transpose", "deconv", "conv2d_transpose", "conv_transpose2d")
class ConvTranspose(Sliding):
    main = "filters"
    params = {"filters": (int_(), REQUIRED), **CONV_COMMON, "padding": (transposed_padding, 0),
              "output_padding": (pair(0), 0), "groups": (int_(), 1)}
    param_aliases = {**CONV_ALIASES, "out_channels": "filters"}
    family = "transposed conv"
    filters: int
    groups: int
    output_padding: tuple[int, int]

    def check(self) -> None:
        for axis in range(2):
            if self.output_padding[axis] >= max(self.stride[axis], self.dilation[axis]):
                raise ParamError(f"output_padding {self.output_padding[axis]} must be smaller "
                                 f"than the stride or the dilation "
                                 f"({max(self.stride[axis], self.dilation[axis])})")
        if self.filters % self.groups:
            raise ParamError(f"groups {self.groups} does not divide filters {self.filters}")

    def analyse(self, inputs, fields):
        h, w, c = self.spatial(inputs[0])
        if c % self.groups:
            raise ShapeError(f"groups {self.groups} does not divide the {c} input channels")
        outs, pads = [], []
        for axis, n in enumerate((h, w)):
            f, s, d = self.kernel[axis], self.stride[axis], self.dilation[axis]
            if self.padding == "same":
                before, after = shapes.transposed_same_padding(f, s, d)
            elif self.padding == "valid":
                before, after = 0, 0
            else:
                before, after = self.padding[2 * axis], self.padding[2 * axis + 1]
            out = shapes.transposed_output(n, f, s, before, after, self.output_padding[axis], d)
            if out <= 0:
                raise ShapeError(f"output {AXES[axis][0]} would be {out}")
            outs.append(out)
            pads += [before, after]
        kh, kw = self.kernel
        f0 = fields[0]
        rf_h, j_h = shapes.grow_transposed(f0.rf_h, f0.jump_h, kh, self.stride[0],
                                           self.dilation[0])
        rf_w, j_w = shapes.grow_transposed(f0.rf_w, f0.jump_w, kw, self.stride[1],
                                           self.dilation[1])
        return Result((outs[0], outs[1], self.filters), h * w * self.weight_count(inputs),
                      Field(rf_h, rf_w, j_h, j_w), (),
                      Window(outs[0], outs[1], (pads[0], pads[1], pads[2], pads[3])))

    def param_specs(self, inputs):
        kh, kw = self.kernel
        cg = inputs[0][-1] // self.groups
        # PyTorch computes a transposed conv's fan-in from its weight's second axis (C_out/g)
        fan = kh * kw * (self.filters // self.groups)
        return [ParamSpec("weight", (kh, kw, cg, self.filters), "uniform", fan),
                *self._bias(self.filters, fan)]
