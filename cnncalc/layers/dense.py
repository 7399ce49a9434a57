"""Fully connected layers and dropout."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .base import Layer, ParamSpec, Result, fmt_shape, register
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
