"""Normalisation: batch norm, layer norm, layer scale, local response norm, and Keras's
Normalization and Rescaling."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..shapes import ShapeError
from .base import (FLOAT32, OWN, PARAMS, DType, Layer, ParamSpec, Result, Saved, keep_input,
                   register)
from .fields import ParamError, boolean, int_, number

if TYPE_CHECKING:
    from ..analysis import LayerRecord


@register("batchnorm", "bn", "batch_norm", "batchnorm2d")
class BatchNorm(Layer):
    """γ and β trainable; running mean and variance non-trainable (Keras and PyTorch)."""
    main = "epsilon"
    params = {"epsilon": (number(0.0), 1e-5), "momentum": (number(0.0, 1.0), 0.1)}
    param_aliases = {"eps": "epsilon"}
    family = "normalisation"
    epsilon: float
    momentum: float

    def analyse(self, inputs, fields):
        return Result(inputs[0])

    def param_specs(self, inputs):
        c = inputs[0][-1]
        return [ParamSpec("gamma", (c,), "ones"), ParamSpec("beta", (c,), "zeros", kind="bias"),
                ParamSpec("mean", (c,), "zeros", kind="buffer"),
                ParamSpec("var", (c,), "ones", kind="buffer")]

    def saved_for_backward(self, rec: LayerRecord, act: DType) -> list[Saved]:
        """Training mode: its input, the batch mean and 1/std it normalised with (float32 [C]
        vectors) and its running mean and variance (buffers: counted with the parameters)."""
        c = rec.output[-1]
        return [keep_input(rec, act),
                Saved("batch mean", (c,), FLOAT32, OWN, per_sample=False),
                Saved("batch inverse std", (c,), FLOAT32, OWN, per_sample=False),
                Saved("running mean", (c,), FLOAT32, PARAMS, per_sample=False),
                Saved("running variance", (c,), FLOAT32, PARAMS, per_sample=False)]

    def working(self, rec: LayerRecord) -> list[str]:
        c = rec.output[-1]
        return [f"shape unchanged; per channel γ, β (trainable) and running mean, variance "
                f"(non-trainable): 2·{c} + 2·{c} = {4 * c:,} values"]

    def param_mistakes(self, rec: LayerRecord, source=None) -> list[tuple[str, int]]:
        c = rec.output[-1]
        return [("counted only the trainable γ and β; the parameter count also holds the "
                 "running mean and variance (non-trainable)", 2 * c),
                ("counted one value per channel; batch norm keeps four (γ, β, mean, variance)",
                 c)]


@register("lrn", "local_response_norm")
class LRN(Layer):
    """AlexNet local response normalisation (Krizhevsky et al. 2012: n=5, α=1e-4, β=0.75, k=2)."""
    main = "size"
    params = {"size": (int_(), 5), "alpha": (number(0.0), 1e-4), "beta": (number(0.0), 0.75),
              "k": (number(0.0), 2.0)}
    family = "normalisation"
    size: int
    alpha: float
    beta: float
    k: float

    def analyse(self, inputs, fields):
        return Result(inputs[0])

    def saved_for_backward(self, rec: LayerRecord, act: DType) -> list[Saved]:
        """PyTorch's ``local_response_norm`` is a chain of ops: the input (squared, then divided),
        the squares padded by ``size - 1`` channels (for the window average), and two tensors
        of the input's shape (the scaled sum and its power)."""
        h, w, c = self.spatial(rec.input_shapes[0])
        return [keep_input(rec, act),
                Saved("padded squares", (h, w, c + self.size - 1), act, OWN),
                Saved("k + alpha * mean of squares", (h, w, c), act, OWN),
                Saved("its power beta", (h, w, c), act, OWN)]

def _numbers(name: str, v: Any) -> float | tuple[float, ...]:
    """A number, or a list of numbers (one per channel)."""
    def ok(x: Any) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
    if ok(v):
        return float(v)
    if isinstance(v, (list, tuple)) and v and all(ok(x) for x in v):
        return tuple(float(x) for x in v)
    raise ParamError(f"{name} must be a number or a list of numbers (one per channel), got {v!r}"
                     [:200])


@register("rescaling")
class Rescaling(Layer):
    """Keras ``Rescaling``: ``x · scale + offset``, each a number or one per channel; no
    parameters."""
    family = "normalisation"
    params = {"scale": (_numbers, 1.0), "offset": (_numbers, 0.0)}
    scale: float | tuple[float, ...]
    offset: float | tuple[float, ...]

    def analyse(self, inputs, fields):
        c = inputs[0][-1]
        for key in ("scale", "offset"):
            value = getattr(self, key)
            if isinstance(value, tuple) and len(value) not in (1, c):
                raise ShapeError(f"{key} has {len(value)} values for {c} channels")
        return Result(inputs[0])

    def saved_for_backward(self, rec: LayerRecord, act: DType) -> list[Saved]:
        """``x · s + o`` keeps only a per-channel scale (a scalar one is no tensor)."""
        if isinstance(self.scale, tuple):
            return [Saved("scale", (len(self.scale),), FLOAT32, OWN, per_sample=False)]
        return []

    def forward(self, xs, params, ctx):
        import numpy as np
        scale = np.asarray(self.scale, np.float32)
        return xs[0] * scale + np.asarray(self.offset, np.float32)


@register("normalization", "normalisation")
class Normalization(Layer):
    """Keras ``Normalization`` over the channels: ``(x − mean)/√variance``, with the mean, the
    variance (one per channel) and the count of samples they came from as non-trainable state:
    2·C + 1 values (EfficientNet's input layer: 7)."""
    family = "normalisation"

    def analyse(self, inputs, fields):
        return Result(inputs[0])

    def param_specs(self, inputs):
        c = inputs[0][-1]
        return [ParamSpec("mean", (c,), "zeros", kind="buffer"),
                ParamSpec("var", (c,), "ones", kind="buffer"),
                ParamSpec("count", (), "zeros", kind="buffer")]

    def saved_for_backward(self, rec: LayerRecord, act: DType) -> list[Saved]:
        """``(x − mean)/√variance`` keeps only the divisor √variance, a float32 [C] vector."""
        return [Saved("√variance", (rec.output[-1],), FLOAT32, OWN, per_sample=False)]

    def forward(self, xs, params, ctx):
        import numpy as np
        return (xs[0] - params["mean"]) / np.sqrt(np.maximum(params["var"], np.float32(1e-7)))

    def working(self, rec: LayerRecord) -> list[str]:
        c = rec.output[-1]
        return [f"shape unchanged; per channel mean and variance, and one sample count "
                f"(non-trainable): 2·{c} + 1 = {2 * c + 1} values"]


@register("layernorm", "layer_norm", "layernorm2d", "layer_norm2d")
class LayerNorm(Layer):
    """Layer normalisation over the channels of each position: ConvNeXt's ``LayerNorm2d``
    (torch's ``nn.LayerNorm(C)`` on channels-last values), and ``nn.LayerNorm(N)`` on a vector.
    Per position the C values are normalised by their mean and (biased) variance, then scaled
    by γ and shifted by β, one of each per channel, both trainable; no running statistics."""
    main = "epsilon"
    params = {"epsilon": (number(0.0), 1e-5), "affine": (boolean, True), "bias": (boolean, True)}
    param_aliases = {"eps": "epsilon", "elementwise_affine": "affine"}
    family = "normalisation"
    epsilon: float
    affine: bool
    bias: bool

    def analyse(self, inputs, fields):
        return Result(inputs[0])

    def param_specs(self, inputs):
        if not self.affine:
            return []
        c = inputs[0][-1]
        beta = [ParamSpec("beta", (c,), "zeros", kind="bias")] if self.bias else []
        return [ParamSpec("gamma", (c,), "ones"), *beta]

    def saved_for_backward(self, rec: LayerRecord, act: DType) -> list[Saved]:
        """``native_layer_norm`` keeps its input and, per position, the mean and 1/std it
        normalised with (float32)."""
        per_position = rec.input_shapes[0][:-1] + (1,)
        return [keep_input(rec, act), Saved("mean", per_position, FLOAT32, OWN),
                Saved("inverse std", per_position, FLOAT32, OWN)]

    def forward(self, xs, params, ctx):
        x = xs[0]                                    # float32; NumPy sums pairwise
        out = x - x.mean(axis=-1, keepdims=True)
        var = (out * out).mean(axis=-1, keepdims=True)
        out *= (var + self.epsilon) ** -0.5
        if "gamma" in params:
            out *= params["gamma"]
        if "beta" in params:
            out += params["beta"]
        return out

    def working(self, rec: LayerRecord) -> list[str]:
        c = rec.output[-1]
        shape = rec.input_shapes[0]
        where = "each position" if len(shape) == 3 else "the vector"
        count = (f"γ, β per channel (trainable): 2·{c} = {2 * c:,} values" if rec.params == 2 * c
                 else f"{rec.params:,} parameters")
        return [f"shape unchanged; the {c} channels of {where} normalised by their own mean and "
                f"variance (no running statistics); {count}"]


@register("layer_scale", "layerscale")
class LayerScale(Layer):
    """A learnt per-channel scale ``x · γ`` (CaiT's LayerScale, ConvNeXt's ``layer_scale``
    parameter): C trainable values, on a map or a vector. ``--run`` starts γ at 1 (torchvision
    initialises it to 1e-6); ``--weights`` gives the real values."""
    family = "normalisation"

    def analyse(self, inputs, fields):
        return Result(inputs[0])

    def param_specs(self, inputs):
        return [ParamSpec("gamma", (inputs[0][-1],), "ones")]

    def saved_for_backward(self, rec: LayerRecord, act: DType) -> list[Saved]:
        """``γ · x`` keeps both factors: x for γ's gradient, and γ, a parameter, which (like a
        conv's weight) is counted with the parameters, not here: only buffers, such as
        batchnorm's running statistics, are listed as ``PARAMS``."""
        return [keep_input(rec, act)]

    def forward(self, xs, params, ctx):
        return xs[0] * params["gamma"]

    def working(self, rec: LayerRecord) -> list[str]:
        c = rec.output[-1]
        return [f"shape unchanged; each channel times its own γ: {c:,} trainable values"]
