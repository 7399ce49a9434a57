"""Fully connected layers, dropout and stochastic depth."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from .base import (OWN, DType, Layer, ParamSpec, Result, Saved, Shape, fmt_shape, keep_input,
                   register)
from .fields import REQUIRED, activation, boolean, choice, int_, number

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
        lines = [f"outputs = units = {k}",
                 f"weights = inputs · units = {n_in:,}·{k:,} = {rec.weights:,}"]
        if self.bias:
            lines.append(f"params = {n_in:,}·{k:,} + {k:,} = ({n_in:,} + 1)·{k:,} = "
                         f"{rec.params:,}  (one bias per unit)")
        else:
            lines.append(f"params = {n_in:,}·{k:,} = {rec.params:,} (no biases)")
        positions = rec.macs // max(rec.weights, 1)
        lines.append(f"MACs = inputs · units = {rec.macs:,}" if positions <= 1 else
                     f"MACs = positions · inputs · units = {positions:,}·{n_in:,}·{k:,} = "
                     f"{rec.macs:,}")
        return lines

    def param_mistakes(self, rec: LayerRecord, source: Shape | None = None
                       ) -> list[tuple[str, int]]:
        n, k = rec.input_shapes[0][-1], self.units
        b = k if self.bias else 0
        out = [
            ("bias per unit, not per input: (n_in + 1)·units has one bias for each of the "
             f"{k:,} units, not a single +1", n * k + 1),
            ("left out the biases (one per unit)", n * k),
            ("added a bias per input instead of per unit", n * k + n),
            ("counted the weights of one unit only (× units missing)", n + (1 if self.bias else 0)),
            ("added the inputs and the units instead of multiplying them", n + k + b),
            ("counted biases that this layer does not have (bias: false)", n * k + k),
        ]
        if source is not None and len(source) == 3:
            h, w, c = source
            out += [
                (f"left out the channels: the flattened input is {h}·{w}·{c} = {n:,} values",
                 h * w * k + b),
                (f"left out the channels ({h}·{w}·{c} inputs) and counted a single bias "
                 f"instead of one per unit", h * w * k + 1),
                ("connected the units to the channels only; a dense layer on an image sees "
                 "every pixel of every channel (flatten first)", c * k + b),
            ]
        return out

    def size_mistakes(self, rec: LayerRecord) -> list[tuple[str, Shape]]:
        n = rec.input_shapes[0][-1]
        return [("kept the input length; a dense layer outputs one value per unit",
                 rec.input_shapes[0][:-1] + (n,))]

    def macs_mistakes(self, rec: LayerRecord) -> list[tuple[str, int]]:
        return [("counted the biases as MACs (MACs multiply weights only)",
                 rec.macs + rec.biases * (rec.macs // max(rec.weights, 1)))]

    def misreadings(self) -> list[tuple[str, dict[str, Any]]]:
        return [("left out the biases", {"bias": False})] if self.bias else []


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


@register("stochastic_depth", "drop_path", "droppath")
class StochasticDepth(Layer):
    """torchvision's ``StochasticDepth(p, mode)`` (Huang et al. 2016; timm's DropPath): in
    training it zeroes the whole residual branch of a sample (``mode: row``) or of the batch
    (``batch``) with probability ``rate`` and scales the rest by 1/(1 − rate); at inference, and
    so in ``--run``, it is the identity. No parameters."""
    main = "rate"
    params = {"rate": (number(0.0, 1.0), 0.0), "mode": (choice("row", "batch"), "row")}
    param_aliases = {"p": "rate", "drop_prob": "rate"}
    op = "identity"
    family = "dropout"
    rate: float
    mode: str

    def check(self) -> None:
        # rate 0 returns its input itself (torchvision), so the output is the input's storage
        self.view = self.rate == 0     # type: ignore[misc]

    def analyse(self, inputs, fields):
        return Result(inputs[0])

    def saved_for_backward(self, rec: LayerRecord, act: DType) -> list[Saved]:
        """In training, the noise it multiplied by: one value per sample (``row``) or one for
        the batch; nothing when the rate is 0 (it returns its input)."""
        if not self.rate:
            return []
        ones = (1,) * len(rec.input_shapes[0])
        return [Saved("noise", ones, act, OWN, per_sample=self.mode == "row")]

    def working(self, rec: LayerRecord) -> list[str]:
        return [f"shape unchanged; drops a whole {'sample' if self.mode == 'row' else 'batch'}'s "
                f"branch with probability {self.rate:g} in training, the identity at inference; "
                f"no parameters"]
