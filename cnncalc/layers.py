"""One small class per layer type, registered by its YAML name.

Each class validates its own parameters and, given its input shapes and receptive fields, returns a
:class:`Result`: output shape, weights, biases, non-trainable values, MACs, receptive field and any
warnings. Shapes are tuples: ``(H, W, C)`` for feature maps, ``(N,)`` for vectors.

The parser looks types up in :data:`REGISTRY` (aliases included); adding a layer type means adding
a class with ``@register``, never editing the parser.
"""

from __future__ import annotations

import difflib
import math
from fractions import Fraction
from typing import Any, Callable, ClassVar, NamedTuple

from . import shapes
from .shapes import Field, ShapeError

Shape = tuple[int, ...]


class ParamError(ValueError):
    """A parameter value is invalid; the message names the parameter and the value."""


class Result(NamedTuple):
    output: Shape
    weights: int = 0
    biases: int = 0
    non_trainable: int = 0
    macs: int = 0
    field: Field | None = None          # None: unchanged from the (merged) input field
    warnings: tuple[str, ...] = ()
    geometry: Any = None                # resolved details the NumPy engine needs (e.g. padding)


REQUIRED = object()
REGISTRY: dict[str, type["Layer"]] = {}
ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "softmax", "gelu", "silu", "swish",
               "hardswish", "relu6", "hardsigmoid", "linear", "elu", "selu", "softplus")


def suggest(word: str, options) -> str:
    """' (did you mean 'x'?)' or ''."""
    close = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def fmt_shape(shape) -> str:
    return "x".join(str(d) for d in shape) if len(shape) != 1 else f"[{shape[0]}]"


# --- parameter validators: (name, value) -> normalised value, or ParamError ----------------------

def _show(v: Any) -> str:
    return repr(v) if isinstance(v, str) else str(v)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def int_(minimum: int = 1) -> Callable[[str, Any], int]:
    def check(name: str, v: Any) -> int:
        if not _is_int(v):
            raise ParamError(f"{name} must be an integer, got {_show(v)}")
        if v < minimum:
            raise ParamError(f"{name} must be >= {minimum}, got {v}")
        return v
    return check


def pair(minimum: int = 1) -> Callable[[str, Any], tuple[int, int]]:
    """An int or a [h, w] list."""
    def check(name: str, v: Any) -> tuple[int, int]:
        given = v
        if _is_int(v):
            v = [v, v]
        if not (isinstance(v, (list, tuple)) and len(v) == 2 and all(_is_int(x) for x in v)):
            raise ParamError(f"{name} must be an integer or [h, w], got {_show(v)}")
        if min(v) < minimum:
            raise ParamError(f"{name} must be >= {minimum}, got {_show(given)}")
        return (v[0], v[1])
    return check


def four(name: str, v: Any) -> tuple[int, int, int, int]:
    """An int, [h, w] or [top, bottom, left, right] of non-negative ints."""
    given = v
    if _is_int(v):
        v = [v]
    if not (isinstance(v, (list, tuple)) and len(v) in (1, 2, 4) and all(_is_int(x) for x in v)):
        raise ParamError(f"{name} must be an integer, [h, w] or [top, bottom, left, right], "
                         f"got {_show(v)}")
    if min(v) < 0:
        raise ParamError(f"{name} must be >= 0, got {_show(given)}")
    if len(v) == 1:
        return (v[0],) * 4
    if len(v) == 2:
        return (v[0], v[0], v[1], v[1])
    return tuple(v)  # type: ignore[return-value]


PAD_MODES = ("same", "valid", "full")


def padding(name: str, v: Any) -> str | tuple[int, int, int, int]:
    if isinstance(v, str):
        if v.lower() not in PAD_MODES:
            raise ParamError(f"{name} must be an integer, [h, w], [top, bottom, left, right], "
                             f"'same', 'valid' or 'full', got {_show(v)}{suggest(v, PAD_MODES)}")
        return v.lower()
    return four(name, v)


def boolean(name: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise ParamError(f"{name} must be true or false, got {_show(v)}")
    return v


def number(minimum: float = 0.0, maximum: float | None = None, open_max: bool = False):
    def check(name: str, v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
            raise ParamError(f"{name} must be a number, got {_show(v)}")
        if v < minimum or (maximum is not None and (v >= maximum if open_max else v > maximum)):
            hi = f" and {'<' if open_max else '<='} {maximum}" if maximum is not None else ""
            raise ParamError(f"{name} must be >= {minimum}{hi}, got {v}")
        return float(v)
    return check


def activation(name: str, v: Any) -> str | None:
    if v is None or v is False:
        return None
    if not isinstance(v, str) or v.lower() not in ACTIVATIONS:
        raise ParamError(f"{name} must be one of {', '.join(ACTIVATIONS)}, got {_show(v)}"
                         + (suggest(v, ACTIVATIONS) if isinstance(v, str) else ""))
    v = v.lower()
    return None if v == "linear" else v


def choice(*options: str):
    def check(name: str, v: Any) -> str:
        if not isinstance(v, str) or v.lower() not in options:
            raise ParamError(f"{name} must be one of {', '.join(options)}, got {_show(v)}"
                             + (suggest(v, options) if isinstance(v, str) else ""))
        return v.lower()
    return check


def reference(name: str, v: Any) -> str | int:
    if isinstance(v, str) or (_is_int(v) and v < 0):
        return v
    raise ParamError(f"{name} must be a layer name or a negative relative index, got {_show(v)}")


def _matrix(v: Any) -> bool:
    return (isinstance(v, (list, tuple)) and len(v) > 0 and all(
        isinstance(r, (list, tuple)) and len(r) == len(v[0]) and len(r) > 0 and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and x == x
            and abs(x) != float("inf") for x in r) for r in v))


def fixed_kernels(name: str, v: Any) -> tuple | None:
    """``weights:`` of a conv: fixed kernels, one entry per filter, each a f_h×f_w matrix (the
    same kernel on every input channel of its group) or a list of C_in/groups such matrices.
    Returned as nested tuples; the NumPy engine uses them instead of random weights."""
    if v is None:
        return None
    if not isinstance(v, (list, tuple)) or not v or not all(
            _matrix(e) or (isinstance(e, (list, tuple)) and e and all(_matrix(m) for m in e))
            for e in v):
        raise ParamError(f"{name} must be a list with one kernel per filter, each a matrix of "
                         f"numbers (rows of equal length) or a list of such matrices, one per "
                         f"input channel")
    def rows(m: Any) -> tuple:
        return tuple(tuple(r) for r in m)
    return tuple(rows(e) if _matrix(e) else tuple(rows(m) for m in e) for e in v)


# --- the base class and registry ------------------------------------------------------------------

def register(*names: str):
    """Class decorator: register a layer class under its canonical name and aliases."""
    def deco(cls: type[Layer]) -> type[Layer]:
        cls.type = names[0]
        cls.aliases = names[1:]
        for n in names:
            if n in REGISTRY:
                raise RuntimeError(f"layer type {n!r} registered twice")
            REGISTRY[n] = cls
        return cls
    return deco


def canonical(type_name: str) -> str:
    return REGISTRY[type_name].type


class Layer:
    """A leaf layer. Subclasses set ``params`` (name → (validator, default)), ``main`` (the
    scalar-shorthand parameter) and implement :meth:`analyse`."""

    type: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    main: ClassVar[str | None] = None
    params: ClassVar[dict[str, tuple[Callable[[str, Any], Any], Any]]] = {}
    refs: ClassVar[tuple[str, ...]] = ()       # params naming other layers (extra inputs)
    merges: ClassVar[bool] = False             # takes two or more inputs
    activation: str | None = None

    def __init__(self, **values: Any):
        for key in values:
            if key not in self.params:
                raise ParamError(f"unknown parameter '{key}' for {self.type}"
                                 f"{suggest(key, self.params)}; valid: "
                                 f"{', '.join(self.params) or '(none)'}")
        for key, (check, default) in self.params.items():
            if key in values:
                value = check(key, values[key])
            elif default is REQUIRED:
                raise ParamError(f"{self.type} needs '{key}'")
            else:
                value = default if default is None else check(key, default)
            setattr(self, key, value)
        self.check()

    def check(self) -> None:
        """Cross-parameter validation (e.g. output_padding < stride)."""

    def settings(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.params}

    def analyse(self, inputs: list[Shape], fields: list[Field]) -> Result:
        raise NotImplementedError

    # helpers for subclasses
    def spatial(self, shape: Shape) -> Shape:
        if len(shape) != 3:
            raise ShapeError(f"{self.type} needs an HxWxC input, got {fmt_shape(shape)}")
        return shape


# --- windowed layers (conv, pools) ----------------------------------------------------------------

class Window(NamedTuple):
    """A resolved 2-D window: output size and the concrete padding (top, bottom, left, right)."""
    out_h: int
    out_w: int
    pads: tuple[int, int, int, int]


AXES = (("height", "row"), ("width", "column"))


def resolve_window(layer: Layer, h: int, w: int, kernel: tuple[int, int], stride: tuple[int, int],
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
        left = shapes.unreached(n, f, s, before, after, d)
        if left and not ceil_mode:
            eff = shapes.effective_kernel(f, d)
            pad_txt = f"{before}+{after}" if before != after else f"2·{before}"
            lost = left - after      # input pixels (not padding) that no window covers
            unit = AXES[axis][1] + ("s" if left > 1 else "")
            what = (f"the last {left} {unit} of the padded input {'are' if left > 1 else 'is'} "
                    f"never reached")
            what += (f" ({lost} of {'them' if left > 1 else 'it'} input)" if 0 < lost < left
                     else " (input pixels are lost)" if lost > 0
                     else " (padding only: no input pixel is lost)")
            notes.append(f"{AXES[axis][0]}: ({n} + {pad_txt} − {eff})/{s} + 1 is not a whole "
                         f"number; floored to {out}, {what}")
        pads += [before, after]
        outs.append(out)
    if len(notes) == 2 and notes[0].replace("height", "width").replace(" row", " column") \
            == notes[1]:
        merged = notes[0].replace("height:", "height and width:")
        notes = [merged.replace(" rows ", " rows/columns ") if " rows " in merged
                 else merged.replace(" row ", " row/column ")]
    return Window(outs[0], outs[1], tuple(pads)), tuple(notes)  # type: ignore[arg-type]


def window_field(field: Field, kernel, stride, dilation) -> Field:
    rf_h, j_h = shapes.grow(field.rf_h, field.jump_h, kernel[0], stride[0], dilation[0])
    rf_w, j_w = shapes.grow(field.rf_w, field.jump_w, kernel[1], stride[1], dilation[1])
    return Field(rf_h, rf_w, j_h, j_w)


def sliding_result(layer: Layer, h: int, w: int, fields: list[Field], out_c: int, weights: int,
                   biases: int) -> Result:
    """The Result of a convolution-like layer (conv, depthwise, separable): its window, output
    H'×W'×out_c, and MACs = H'·W'·weights (every weight is used once per output position)."""
    win, notes = resolve_window(layer, h, w, layer.kernel, layer.stride, layer.dilation,
                                layer.padding)
    return Result((win.out_h, win.out_w, out_c), weights, biases, 0,
                  win.out_h * win.out_w * weights,
                  window_field(fields[0], layer.kernel, layer.stride, layer.dilation), notes, win)


CONV_COMMON = {
    "kernel": (pair(), REQUIRED),
    "stride": (pair(), 1),
    "padding": (padding, 0),
    "dilation": (pair(), 1),
    "bias": (boolean, True),
    "activation": (activation, None),
}


def _norm_pairs(layer: Layer) -> None:
    for k in ("kernel", "stride", "dilation"):
        if hasattr(layer, k) and _is_int(getattr(layer, k)):
            setattr(layer, k, (getattr(layer, k),) * 2)


@register("conv", "conv2d")
class Conv(Layer):
    main = "filters"
    params = {"filters": (int_(), REQUIRED), **CONV_COMMON, "groups": (int_(), 1),
              "weights": (fixed_kernels, None)}

    def check(self) -> None:
        _norm_pairs(self)
        if self.filters % self.groups:
            raise ParamError(f"groups {self.groups} does not divide filters {self.filters}")
        if self.weights is not None:
            kh, kw = self.kernel
            if len(self.weights) != self.filters:
                raise ParamError(f"weights has {len(self.weights)} kernels for "
                                 f"{self.filters} filters")
            for i, e in enumerate(self.weights, 1):
                mats = e if _matrix(e[0]) else (e,)
                for m in mats:
                    if (len(m), len(m[0])) != (kh, kw):
                        raise ParamError(f"weights: kernel {i} is {len(m)}x{len(m[0])}, but "
                                         f"kernel is {kh}x{kw}")

    def in_channels_per_group(self, c: int) -> int:
        if c % self.groups:
            raise ShapeError(f"groups {self.groups} does not divide the {c} input channels")
        return c // self.groups

    def analyse(self, inputs, fields):
        h, w, c = self.spatial(inputs[0])
        cg = self.in_channels_per_group(c)
        for i, e in enumerate(self.weights or (), 1):
            if _matrix(e[0]) and len(e) != cg:
                raise ShapeError(f"weights: kernel {i} has {len(e)} input-channel matrices, "
                                 f"but each filter sees {cg} input channels")
        kh, kw = self.kernel
        return sliding_result(self, h, w, fields, self.filters, kh * kw * cg * self.filters,
                              self.filters if self.bias else 0)


@register("depthwise_conv", "depthwise_conv2d")
class DepthwiseConv(Layer):
    main = "kernel"
    params = {**CONV_COMMON, "depth_multiplier": (int_(), 1)}
    check = _norm_pairs

    def analyse(self, inputs, fields):
        h, w, c = self.spatial(inputs[0])
        out_c = c * self.depth_multiplier
        return sliding_result(self, h, w, fields, out_c, self.kernel[0] * self.kernel[1] * out_c,
                              out_c if self.bias else 0)


@register("separable_conv", "separable_conv2d")
class SeparableConv(Layer):
    """Keras SeparableConv2D: depthwise (C·m filters) then 1×1 pointwise; one bias of `filters`."""
    main = "filters"
    params = {"filters": (int_(), REQUIRED), **CONV_COMMON, "depth_multiplier": (int_(), 1)}
    check = _norm_pairs

    def analyse(self, inputs, fields):
        h, w, c = self.spatial(inputs[0])
        mid = c * self.depth_multiplier
        return sliding_result(self, h, w, fields, self.filters,
                              self.kernel[0] * self.kernel[1] * mid + mid * self.filters,
                              self.filters if self.bias else 0)


def transposed_padding(name: str, v: Any):
    if isinstance(v, str) and v.lower() in ("same", "valid"):
        return v.lower()
    if isinstance(v, str):
        raise ParamError(f"{name} of conv_transpose must be an integer, [h, w], "
                         f"[top, bottom, left, right], 'same' or 'valid', got {_show(v)}")
    return four(name, v)


@register("conv_transpose", "deconv", "conv2d_transpose", "conv_transpose2d")
class ConvTranspose(Layer):
    main = "filters"
    params = {"filters": (int_(), REQUIRED), **CONV_COMMON, "padding": (transposed_padding, 0),
              "output_padding": (pair(0), 0), "groups": (int_(), 1)}

    def check(self) -> None:
        _norm_pairs(self)
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
        weights = kh * kw * (c // self.groups) * self.filters
        f = fields[0]
        rf_h, j_h = shapes.grow_transposed(f.rf_h, f.jump_h, kh, self.stride[0], self.dilation[0])
        rf_w, j_w = shapes.grow_transposed(f.rf_w, f.jump_w, kw, self.stride[1], self.dilation[1])
        return Result((outs[0], outs[1], self.filters), weights,
                      self.filters if self.bias else 0, 0, h * w * weights,
                      Field(rf_h, rf_w, j_h, j_w), (), Window(outs[0], outs[1], tuple(pads)))


class Pool(Layer):
    main = "size"
    params = {"size": (pair(), REQUIRED), "stride": (pair(), None), "padding": (padding, 0),
              "ceil_mode": (boolean, False)}

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

    def analyse(self, inputs, fields):
        h, w, c = self.spatial(inputs[0])
        win, notes = resolve_window(self, h, w, self.size, self.stride, (1, 1), self.padding,
                                    self.ceil_mode)
        return Result((win.out_h, win.out_w, c), field=window_field(fields[0], self.size,
                                                                    self.stride, (1, 1)),
                      warnings=notes, geometry=win)


@register("maxpool", "max_pool", "maxpool2d", "max_pool2d")
class MaxPool(Pool):
    pass


@register("avgpool", "avg_pool", "avgpool2d", "avg_pool2d")
class AvgPool(Pool):
    params = {**Pool.params, "count_include_pad": (boolean, True)}


class GlobalPool(Layer):
    params = {"keepdims": (boolean, True)}

    def analyse(self, inputs, fields):
        h, w, c = self.spatial(inputs[0])
        return Result((1, 1, c) if self.keepdims else (c,), field=whole_field(fields[0], h, w))


def whole_field(f: Field, h: int, w: int) -> Field:
    """A window over the whole H×W map (global pooling, flatten)."""
    return Field(f.rf_h + (h - 1) * f.jump_h, f.rf_w + (w - 1) * f.jump_w,
                 f.jump_h * h, f.jump_w * w)


@register("global_avgpool", "global_avg_pool", "gap")
class GlobalAvgPool(GlobalPool):
    pass


@register("global_maxpool", "global_max_pool")
class GlobalMaxPool(GlobalPool):
    pass


class AdaptivePool(Layer):
    main = "output"
    params = {"output": (pair(), REQUIRED)}

    def analyse(self, inputs, fields):
        h, w, c = self.spatial(inputs[0])
        oh, ow = self.output
        f = fields[0]
        rf_h, j_h = shapes.grow(f.rf_h, f.jump_h, shapes.adaptive_kernel(h, oh), Fraction(h, oh))
        rf_w, j_w = shapes.grow(f.rf_w, f.jump_w, shapes.adaptive_kernel(w, ow), Fraction(w, ow))
        return Result((oh, ow, c), field=Field(rf_h, rf_w, j_h, j_w))


@register("adaptive_avgpool", "adaptive_avg_pool")
class AdaptiveAvgPool(AdaptivePool):
    pass


@register("adaptive_maxpool", "adaptive_max_pool")
class AdaptiveMaxPool(AdaptivePool):
    pass


@register("flatten")
class Flatten(Layer):
    def analyse(self, inputs, fields):
        shape = inputs[0]
        n = math.prod(shape)
        field = whole_field(fields[0], shape[0], shape[1]) if len(shape) == 3 else None
        return Result((n,), field=field)


@register("dense", "linear", "fc")
class Dense(Layer):
    """Keras semantics: applies to the last axis. On an H×W×C input with H·W > 1 it warns, since
    a fully-connected layer over the whole map needs `flatten` first."""
    main = "units"
    params = {"units": (int_(), REQUIRED), "bias": (boolean, True),
              "activation": (activation, None)}

    def analyse(self, inputs, fields):
        shape = inputs[0]
        n_in = shape[-1]
        positions = math.prod(shape[:-1])
        notes = ()
        if positions > 1:
            notes = (f"dense applies to the last axis of {fmt_shape(shape)} (Keras-style); "
                     f"add 'flatten' first for a layer over the whole map",)
        weights = n_in * self.units
        return Result(shape[:-1] + (self.units,), weights, self.units if self.bias else 0, 0,
                      positions * weights, warnings=notes)


class Passthrough(Layer):
    """Shape unchanged, no parameters."""

    def analyse(self, inputs, fields):
        return Result(inputs[0])


@register("dropout")
class Dropout(Passthrough):
    main = "rate"
    params = {"rate": (number(0.0, 1.0, open_max=True), 0.5)}


@register("identity")
class Identity(Passthrough):
    pass


@register("batchnorm", "bn", "batch_norm", "batchnorm2d")
class BatchNorm(Layer):
    """γ and β trainable; running mean and variance non-trainable (Keras and PyTorch)."""
    main = "epsilon"
    params = {"epsilon": (number(0.0), 1e-5), "momentum": (number(0.0, 1.0), 0.1)}

    def analyse(self, inputs, fields):
        c = inputs[0][-1]
        return Result(inputs[0], c, c, 2 * c)


@register("lrn", "local_response_norm")
class LRN(Passthrough):
    """AlexNet local response normalisation (Krizhevsky et al. 2012: n=5, α=1e-4, β=0.75, k=2)."""
    main = "size"
    params = {"size": (int_(), 5), "alpha": (number(0.0), 1e-4), "beta": (number(0.0), 0.75),
              "k": (number(0.0), 2.0)}


def _activation_layer(name: str, *aliases: str, extra: dict | None = None) -> type[Layer]:
    cls = type(name.title().replace("_", ""), (Passthrough,), {"params": extra or {}})
    cls.main = next(iter(extra)) if extra else None
    return register(name, *aliases)(cls)


for _act in ("relu", "sigmoid", "tanh", "gelu", "hardswish", "relu6", "hardsigmoid",
             "elu", "selu", "softplus"):
    _activation_layer(_act)
_activation_layer("silu", "swish")
_activation_layer("leaky_relu", extra={"alpha": (number(0.0), 0.01)})
_activation_layer("softmax")


@register("pad", "zero_pad", "zeropad", "zero_padding")
class Pad(Layer):
    main = "padding"
    params = {"padding": (four, REQUIRED)}

    def analyse(self, inputs, fields):
        h, w, c = self.spatial(inputs[0])
        t, b, l, r = self.padding
        return Result((h + t + b, w + l + r, c))


@register("upsample", "upsampling")
class Upsample(Layer):
    """Nearest-neighbour upsampling by an integer factor."""
    main = "scale"
    params = {"scale": (pair(), 2)}

    def analyse(self, inputs, fields):
        h, w, c = self.spatial(inputs[0])
        sh, sw = self.scale
        f = fields[0]
        return Result((h * sh, w * sw, c),
                      field=Field(f.rf_h, f.rf_w, f.jump_h / sh, f.jump_w / sw))


@register("crop", "cropping")
class Crop(Layer):
    """Keras Cropping2D amounts (int, [h, w], [top, bottom, left, right]), or ``to: NAME``: a
    centre crop to that layer's H×W (top = floor((H − h)/2), as U-Net needs)."""
    main = "cropping"
    params = {"cropping": (four, None), "to": (reference, None)}
    refs = ("to",)

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
            cut = self.cropping
        oh, ow = h - cut[0] - cut[1], w - cut[2] - cut[3]
        if oh <= 0 or ow <= 0:
            raise ShapeError(f"cropping {list(cut)} leaves {oh}x{ow} of {fmt_shape(inputs[0])}")
        return Result((oh, ow, c), geometry=cut)


class Merge(Layer):
    merges = True

    def check_inputs(self, inputs: list[Shape], names: list[str]) -> None:
        """Overridden with the shape rule; ``names`` label the inputs in errors."""


def _mismatch(what: str, inputs, names) -> ShapeError:
    listed = ", ".join(f"'{n}' {fmt_shape(s)}" for n, s in zip(names, inputs))
    return ShapeError(f"{what}: {listed}")


@register("add")
class Add(Merge):
    def analyse(self, inputs, fields, names=None):
        if any(s != inputs[0] for s in inputs):
            raise _mismatch("cannot add different shapes", inputs, names or ["?"] * len(inputs))
        return Result(inputs[0])


@register("multiply", "mul")
class Multiply(Merge):
    """Element-wise product with broadcasting of a 1×1×C or [C] gate over an H×W×C map (the
    squeeze-and-excitation rescaling)."""

    def analyse(self, inputs, fields, names=None):
        big = max(inputs, key=lambda s: (len(s), s))
        for s in inputs:
            gate = s[-1] == big[-1] and all(d == 1 for d in s[:-1])
            if s != big and not gate:
                raise _mismatch("cannot multiply these shapes", inputs,
                                names or ["?"] * len(inputs))
        # receptive field: the largest over the paths (a global gate sees the whole map), but the
        # jump is the map's own: a broadcast 1x1 gate has no spatial step of its own
        rf = shapes.merge_fields(fields)
        maps = [f for s, f in zip(inputs, fields) if s == big]
        field = Field(rf.rf_h, rf.rf_w, max(f.jump_h for f in maps), max(f.jump_w for f in maps))
        return Result(big, field=field)


@register("concat", "concatenate")
class Concat(Merge):
    """Concatenation along the channels (the last axis)."""

    def analyse(self, inputs, fields, names=None):
        first = inputs[0]
        if any(len(s) != len(first) or s[:-1] != first[:-1] for s in inputs):
            what = "cannot concatenate maps of different HxW" if len(first) == 3 else \
                "cannot concatenate these shapes"
            raise _mismatch(what, inputs, names or ["?"] * len(inputs))
        return Result(first[:-1] + (sum(s[-1] for s in inputs),))


# the types that accept an `activation:` attribute
TAKES_ACTIVATION = frozenset(n for n, c in REGISTRY.items() if "activation" in c.params)
