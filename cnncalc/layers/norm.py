"""Normalisation: batch norm and local response norm."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Layer, ParamSpec, Result, register
from .fields import int_, number

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

    def working(self, rec: LayerRecord) -> list[str]:
        c = rec.output[-1]
        return [f"shape unchanged; per channel γ, β (trainable) and running mean, variance "
                f"(non-trainable): 2·{c} + 2·{c} = {4 * c:,} values"]


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
