"""Fully connected layers and dropout."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .base import OWN, DType, Layer, ParamSpec, Result, Saved, fmt_shape, keep_input, register
from .fields import REQUIRED, activation, boolean, int_, number

if TYPE_CHECKING:
    from ..analysis import LayerRecord


@register("dense", "linear", "fc")
class Dense(Layer):
    """Keras semantics: applies to the last axis. On an H×W×C input with H·W > 1 it warns, since
    a fully-connected layer over the whole map needs `flatten` first."""
    main = "units"
    params = {"units": (int_(), REQUIRED), "bias": (boolean, True),
              "activation": (activation, None)}
    param_aliases = {"out_features": "units", "use_bias": "bias"}
    family = "dense"
    units: int
    bias: bool

    def analyse(self, inputs, fields):
        shape = inputs[0]
        positions = math.prod(shape[:-1])
        notes: tuple[str, ...] = ()
        if positions > 1:
            notes = (f"dense applies to the last axis of {fmt_shape(shape)} (Keras-style); "
                     f"add 'flatten' first for a layer over the whole map",)
        return Result(shape[:-1] + (self.units,), positions * self.weight_count(inputs),
                      warnings=notes)

    def param_specs(self, inputs):
        n_in = inputs[0][-1]
        out = [ParamSpec("weight", (n_in, self.units), "uniform", n_in)]
        if self.bias:
            out.append(ParamSpec("bias", (self.units,), "uniform", n_in, "bias"))
        return out

    def saved_for_backward(self, rec: LayerRecord, act: DType) -> list[Saved]:
        """Its input (for the weight gradient), then what its activation keeps."""
        return [keep_input(rec, act), *self.activation_saved(rec, act)]

    def working(self, rec: LayerRecord) -> list[str]:
        n_in = rec.input_shapes[0][-1]
        k = self.units
        b = f" + {k}" if self.bias else ""
        return [f"weights = inputs · units = {n_in}·{k} = {rec.weights:,}",
                f"params = {n_in}·{k}{b} = {rec.params:,}"
                + (" (one bias per unit)" if self.bias else " (no biases)"),
                f"MACs = {rec.macs:,}"]


@register("dropout")
class Dropout(Layer):
    main = "rate"
    params = {"rate": (number(0.0, 1.0, open_max=True), 0.5)}
    op = "identity"                  # dropout is the identity at inference
    family = "dropout"
    rate: float

    def analyse(self, inputs, fields):
        return Result(inputs[0])

    def saved_for_backward(self, rec: LayerRecord, act: DType) -> list[Saved]:
        """In training, the mask it multiplied by (PyTorch on the CPU: a tensor of the input's
        shape and type; CUDA's fused kernel keeps one byte per value). Rate 0 is the identity."""
        return [Saved("mask", rec.input_shapes[0], act, OWN)] if self.rate else []
