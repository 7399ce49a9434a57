"""Convolutions: conv (grouped), depthwise, separable and transposed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import shapes
from ..shapes import Field, ShapeError
from .base import OWN, DType, Layer, ParamSpec, Result, Saved, Shape, keep_input, register
from .fields import (REQUIRED, ParamError, activation, boolean, by, fixed_kernels, four, int_,
                     is_matrix, padding, pair, show)
from .window import (AXES, Geometry, Window, field_lines, fnum, resolve_window, size_lines,
                     size_mistakes, window_field, window_misreadings)

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


def filter_param_mistakes(layer: Any, rec: LayerRecord) -> list[tuple[str, int]]:
    """Wrong parameter counts of a layer of ``filters`` kernels of ``kernel`` over C/``groups``
    channels, with ``bias`` (a convolution or a transposed one), each with the mistake named."""
    kh, kw = layer.kernel
    c = rec.input_shapes[0][2]
    k, g = layer.filters, layer.groups
    b = k if layer.bias else 0
    out = [("left out the biases (one per filter)", kh * kw * (c // g) * k)]
    if c // g > 1:      # a filter over one channel has no input channels to leave out
        out += [
            ("left out the input channels (each filter is kh·kw·C_in)", kh * kw * k + b),
            ("left out the input channels and the biases", kh * kw * k),
            ("left out the input channels and counted a single bias instead of one per "
             "filter", kh * kw * k + 1)]
    out += [
        ("counted the kernel as f instead of f·f", kh * (c // g) * k + b),
        ("added a bias per input channel instead of per filter", kh * kw * (c // g) * k + c),
        ("counted a single bias for the layer instead of one per filter",
         kh * kw * (c // g) * k + 1),
        ("ignored the groups (each filter sees C_in/groups channels)", kh * kw * c * k + b),
        ("counted biases that this layer does not have (bias: false)",
         kh * kw * (c // g) * k + k),
        ("counted the parameters of one filter only (× filters missing)",
         kh * kw * (c // g) + (1 if layer.bias else 0)),
    ]
    if g > 1 and g == c:
        out.append(("counted a full convolution: a depthwise filter sees one channel, "
                    "not all of them", kh * kw * c * k + b))
    return out


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
                      window_field(fields[0], self.kernel, self.stride, self.dilation),
                      geometry=win, floored=notes)

    def saved_for_backward(self, rec: LayerRecord, act: DType) -> list[Saved]:
        """Its input, for the weight gradient (the weight itself is a parameter), then what its
        activation keeps."""
        return [keep_input(rec, act), *self.activation_saved(rec, act)]

    def _bias(self, n: int, fan: int) -> list[ParamSpec]:
        return [ParamSpec("bias", (n,), "uniform", fan, "bias")] if self.bias else []

    def _macs_and_field(self, rec: LayerRecord) -> list[str]:
        """The last lines of a working: MACs = H'·W'·weights, and the receptive-field step."""
        oh, ow = rec.output[:2]
        return [f"MACs = out h · out w · weights = {oh}·{ow}·{_commas(rec.weights)} = "
                f"{_commas(rec.macs)}", *field_lines(rec, self.geometry())]

    # the mistakes shared by every convolution
    def size_mistakes(self, rec: LayerRecord) -> list[tuple[str, Shape]]:
        return size_mistakes(rec, self.geometry())

    def misreadings(self) -> list[tuple[str, dict[str, Any]]]:
        out = window_misreadings(self.padding, self.stride)
        if self.dilation != (1, 1):
            out.append(("ignored the dilation (f instead of d·(f − 1) + 1)",
                        {"dilation": (1, 1)}))
        if self.bias:
            out.append(("left out the biases", {"bias": False}))
        return out

    def macs_mistakes(self, rec: LayerRecord) -> list[tuple[str, int]]:
        h, w = rec.input_shapes[0][:2]
        oh, ow, k = rec.output
        weights = rec.weights
        out = [("counted one output position only (MACs = weights · out h · out w)", weights),
               ("used the input size instead of the output size (MACs = weights · out h · "
                "out w)", h * w * weights),
               ("counted the biases as MACs (MACs multiply weights only)",
                oh * ow * (weights + rec.biases))]
        if k:
            out.append(("left out the filters (MACs = out h · out w · filters · kernel "
                        "volume)", oh * ow * weights // k))
        return out


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
        seen = f"all {c // g} input channels" if c // g > 1 else "the one input channel"
        lines.append(f"feature maps = filters = {k} (each filter spans {seen}"
                     f"{' of its group' if g > 1 else ''} and makes one map)")
        wexpr = f"{kh}·{kw}·{cin}·{k}"
        lines.append(f"weights = kernel h · kernel w · input channels"
                     f"{'/groups' if g > 1 else ''} · filters = {wexpr} = {_commas(rec.weights)}")
        if self.bias:
            lines.append(f"biases = filters = {k}")
            lines.append(f"params = {wexpr} + {k} = ({kh}·{kw}·{cin} + 1)·{k} = "
                         f"{_commas(rec.params)}  (f·f·c_in + 1 bias, per filter)")
        else:
            lines.append(f"params = {wexpr} = {_commas(rec.params)} (no biases)")
        oh, ow, _ = rec.output
        lines.append(f"MACs = out h · out w · filters · (kernel h · kernel w · input "
                     f"channels{'/groups' if g > 1 else ''}) = {oh}·{ow}·{k}·{kh}·{kw}·{cin} "
                     f"= {_commas(rec.macs)}")
        lines += field_lines(rec, self.geometry())
        return lines

    def param_mistakes(self, rec: LayerRecord, source: Shape | None = None
                       ) -> list[tuple[str, int]]:
        return filter_param_mistakes(self, rec)

    def channel_mistake(self, rec: LayerRecord, expected: int) -> str | None:
        c = rec.input_shapes[0][2]
        k, g = self.filters, self.groups
        if g > 1 and g == c and k != c and expected == c:
            return (f"did not multiply the channels: a depthwise convolution with {k // c} "
                    f"filters per input channel makes {c}·{k // c} = {k} maps")
        if g > 1 and g == c and expected == k // g:
            return (f"each of the {c} input channels has its own filter"
                    f"{'s' if k > c else ''} in a depthwise convolution: {c}·{k // c} = {k} "
                    f"maps, not {k // c}")
        if g > 1 and g == c and expected == c * k:
            return (f"each depthwise filter sees one input channel and makes one map: {k} "
                    f"maps, not {c}·{k}")
        if g > 1 and expected == k // g:
            return (f"ignored the groups: each of the {g} groups makes {k // g} maps and they "
                    f"are stacked, {k} in all")
        if expected == c:
            return (f"the output has one feature map per filter ({k}), not "
                    f"one per input channel ({c})")
        if expected == c * k:
            return (f"each filter spans all {c // g} input channels"
                    f"{' of its group' if g > 1 else ''} and sums them into one "
                    f"map: {k} filters give {k} maps, not {c}·{k}")
        return None

    def misreadings(self) -> list[tuple[str, dict[str, Any]]]:
        out = super().misreadings()
        if self.groups > 1:
            out.append(("ignored the groups", {"groups": 1}))
        return out


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

    def working(self, rec: LayerRecord) -> list[str]:
        c = rec.input_shapes[0][2]
        kh, kw = self.kernel
        m = self.depth_multiplier
        out_c = rec.output[2]
        mult = f"·{m}" if m > 1 else ""
        lines = size_lines(rec, self.geometry())
        lines.append(f"feature maps = input channels · depth multiplier = {c}·{m} = {out_c} "
                     f"(each filter sees one input channel)")
        lines.append(f"weights = kernel h · kernel w · channels{' · multiplier' if m > 1 else ''}"
                     f" = {kh}·{kw}·{c}{mult} = {_commas(rec.weights)}")
        if self.bias:
            lines.append(f"params = ({kh}·{kw} + 1)·{c}{mult} = {_commas(rec.params)}  "
                         f"(one bias per output map)")
        else:
            lines.append(f"params = {_commas(rec.params)} (no biases)")
        return lines + self._macs_and_field(rec)

    def param_mistakes(self, rec: LayerRecord, source: Shape | None = None
                       ) -> list[tuple[str, int]]:
        kh, kw = self.kernel
        c = rec.input_shapes[0][2]
        m = self.depth_multiplier
        b = c * m if self.bias else 0
        return [("left out the biases (one per output map)", kh * kw * c * m),
                ("did not multiply the channels by the depth multiplier",
                 kh * kw * c + (c if self.bias else 0)),
                ("counted a full convolution: a depthwise filter sees one channel, not all "
                 "of them", kh * kw * c * c * m + b),
                ("counted one filter only (× channels missing)", kh * kw + (1 if self.bias else 0))]

    def channel_mistake(self, rec: LayerRecord, expected: int) -> str | None:
        c = rec.input_shapes[0][2]
        m = self.depth_multiplier
        if m > 1 and expected == c:
            return (f"did not multiply the channels: depth multiplier {m} gives {c}·{m} = "
                    f"{c * m} maps")
        if m == 1:
            return f"a depthwise convolution keeps the channel count ({c}) (one filter each)"
        return None

    def misreadings(self) -> list[tuple[str, dict[str, Any]]]:
        out = super().misreadings()
        if self.depth_multiplier > 1:
            out.append(("did not multiply the channels by the depth multiplier",
                        {"depth_multiplier": 1}))
        return out


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

    def working(self, rec: LayerRecord) -> list[str]:
        c = rec.input_shapes[0][2]
        kh, kw = self.kernel
        m = self.depth_multiplier
        mid = c * m
        k = self.filters
        lines = size_lines(rec, self.geometry())
        lines.append(f"depthwise: {kh}·{kw}·{mid} = {kh * kw * mid:,} weights (one {kh}x{kw} "
                     f"filter per input channel{' and multiplier' if m > 1 else ''})")
        lines.append(f"pointwise (1x1): {mid}·{k} = {mid * k:,} weights")
        lines.append(f"params = {kh}·{kw}·{mid} + {mid}·{k}" + (f" + {k}" if self.bias else "")
                     + f" = {_commas(rec.params)}"
                     + (" (one bias per output map)" if self.bias else " (no biases)"))
        return lines + self._macs_and_field(rec)

    def param_mistakes(self, rec: LayerRecord, source: Shape | None = None
                       ) -> list[tuple[str, int]]:
        kh, kw = self.kernel
        c = rec.input_shapes[0][2]
        mid = c * self.depth_multiplier
        k = self.filters
        b = k if self.bias else 0
        return [("left out the biases", kh * kw * mid + mid * k),
                ("counted a full convolution instead of depthwise + pointwise",
                 kh * kw * c * k + b),
                ("left out the pointwise (1x1) part", kh * kw * mid + b),
                ("left out the depthwise part", mid * k + b),
                ("gave the depthwise part biases too (Keras has one bias per output map)",
                 kh * kw * mid + mid * k + mid + b)]


def transposed_padding(name: str, v: Any):
    if isinstance(v, str) and v.lower() in ("same", "valid"):
        return v.lower()
    if isinstance(v, str) and not isinstance(by(v), list):
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

    def working(self, rec: LayerRecord) -> list[str]:
        h, w, c = rec.input_shapes[0]
        kh, kw = self.kernel
        g = self.groups
        k = self.filters
        lines = ["output size = (n − 1)·s − p_before − p_after + d·(f − 1) + output_padding + 1"
                 "  (PyTorch's ConvTranspose2d)"]
        terms = []
        for axis in (0, 1):
            n, f, s, d = rec.input_shapes[0][axis], self.kernel[axis], self.stride[axis], \
                self.dilation[axis]
            pb, pa = rec.geometry.pads[2 * axis:2 * axis + 2]
            a = self.output_padding[axis]
            pad = f"2·{pb}" if pb == pa else f"{pb} − {pa}"
            kern = f"({f} − 1)" if d == 1 else f"{d}·({f} − 1)"
            terms.append(f"({n} − 1)·{s} − {pad} + {kern} + {a} + 1 = {rec.output[axis]}")
        if terms[0] == terms[1]:
            lines.append(f"  height = width = {terms[0]}")
        else:
            lines += [f"  height = {terms[0]}", f"  width = {terms[1]}"]
        if isinstance(self.padding, str):
            lines[-1] += f"   [padding '{self.padding}' = {rec.geometry.pads[0]} before, " \
                         f"{rec.geometry.pads[1]} after]"
        cin = f"{c}/{g}" if g > 1 else str(c)
        lines.append(f"feature maps = filters = {k}")
        wexpr = f"{kh}·{kw}·{cin}·{k}"
        lines.append(f"weights = kernel h · kernel w · input channels"
                     f"{'/groups' if g > 1 else ''} · filters = {wexpr} = {_commas(rec.weights)}")
        lines.append(f"params = {wexpr} + {k} = {_commas(rec.params)}" if self.bias else
                     f"params = {wexpr} = {_commas(rec.params)} (no biases)")
        lines.append(f"MACs = in h · in w · weights (each input pixel is scattered once) = "
                     f"{h}·{w}·{_commas(rec.weights)} = {_commas(rec.macs)}")
        f0 = rec.field
        lines.append(f"receptive field = {fnum(f0.rf_h)}x{fnum(f0.rf_w)}: an output pixel sees "
                     f"at most ceil((d·(f − 1) + 1)/s) input pixels per axis; the jump divides "
                     f"by s → {fnum(f0.jump_h)}x{fnum(f0.jump_w)}")
        return lines

    def size_mistakes(self, rec: LayerRecord) -> list[tuple[str, Shape]]:
        """Wrong sizes of ``(n − 1)·s − 2p + d·(f − 1) + a + 1``, one rule changed each."""
        def rule(fn) -> tuple[int, ...]:
            sizes = []
            for axis in (0, 1):
                n, f, s, d = (rec.input_shapes[0][axis], self.kernel[axis], self.stride[axis],
                              self.dilation[axis])
                pb, pa = rec.geometry.pads[2 * axis:2 * axis + 2]
                sizes.append(fn(n, f, s, d, pb, pa, self.output_padding[axis]))
            return (sizes[0], sizes[1], rec.output[2])

        return [
            ("forgot the output padding (+ output_padding)",
             rule(lambda n, f, s, d, pb, pa, a: (n - 1) * s - pb - pa + d * (f - 1) + 1)),
            ("forgot the padding (it is subtracted: − 2p)",
             rule(lambda n, f, s, d, pb, pa, a: (n - 1) * s + d * (f - 1) + a + 1)),
            ("added the padding; a transposed convolution subtracts it (− 2p)",
             rule(lambda n, f, s, d, pb, pa, a: (n - 1) * s + pb + pa + d * (f - 1) + a + 1)),
            ("subtracted the padding once; it is 2p (both sides)",
             rule(lambda n, f, s, d, pb, pa, a: (n - 1) * s - pb + d * (f - 1) + a + 1)),
            ("used n·s instead of (n − 1)·s",
             rule(lambda n, f, s, d, pb, pa, a: n * s - pb - pa + d * (f - 1) + a + 1)),
            ("forgot the +1 (the kernel spans d·(f − 1) + 1 pixels)",
             rule(lambda n, f, s, d, pb, pa, a: (n - 1) * s - pb - pa + d * (f - 1) + a)),
            ("ignored the dilation (f instead of d·(f − 1) + 1)",
             rule(lambda n, f, s, d, pb, pa, a: (n - 1) * s - pb - pa + f + a)),
            ("ignored the stride ((n − 1)·s)",
             rule(lambda n, f, s, d, pb, pa, a: (n - 1) - pb - pa + d * (f - 1) + a + 1)),
            ("used the convolution formula (n + 2p − f)/s + 1; a transposed convolution "
             "inverts it: (n − 1)·s − 2p + f",
             rule(lambda n, f, s, d, pb, pa, a:
                  (n + pb + pa - d * (f - 1) - 1) // s + 1 if n + pb + pa > d * (f - 1)
                  else -1)),
            ("multiplied by the stride only (n·s); the kernel and padding change the size too",
             rule(lambda n, f, s, d, pb, pa, a: n * s)),
        ]

    def param_mistakes(self, rec: LayerRecord, source: Shape | None = None
                       ) -> list[tuple[str, int]]:
        return filter_param_mistakes(self, rec)    # the same weights as a convolution's

    def channel_mistake(self, rec: LayerRecord, expected: int) -> str | None:
        c = rec.input_shapes[0][2]
        if expected == c:
            return (f"the output has one map per filter ({self.filters}), not one per input "
                    f"channel ({c})")
        return None

    def macs_mistakes(self, rec: LayerRecord) -> list[tuple[str, int]]:
        oh, ow = rec.output[:2]
        return [("used the output size; a transposed convolution scatters each input pixel "
                 "once (MACs = in h · in w · weights)", oh * ow * rec.weights),
                ("counted one input position only", rec.weights)]

    def misreadings(self) -> list[tuple[str, dict[str, Any]]]:
        out = super().misreadings()
        if self.output_padding != (0, 0):
            out.append(("forgot the output padding", {"output_padding": (0, 0)}))
        if self.groups > 1:
            out.append(("ignored the groups", {"groups": 1}))
        return out
