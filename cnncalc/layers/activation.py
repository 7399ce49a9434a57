"""Activations as layers (``relu``, ``leaky_relu: 0.1``, ...): shape unchanged, no parameters.
Conv and dense layers also take them as an ``activation:`` attribute."""

from __future__ import annotations

from .base import Layer, Result, register
from .fields import number


class Activation(Layer):
    """Shape unchanged; the engine applies :attr:`function`, the layer's type name."""
    family = "activation"

    @property
    def function(self) -> str:
        return self.type

    def analyse(self, inputs, fields):
        return Result(inputs[0])


def _activation_layer(name: str, *aliases: str, extra: dict | None = None) -> type[Layer]:
    attrs = {"params": extra or {}, "main": next(iter(extra)) if extra else None}
    return register(name, *aliases)(type(name.title().replace("_", ""), (Activation,), attrs))


for _act in ("relu", "sigmoid", "tanh", "gelu", "hardswish", "relu6", "hardsigmoid",
             "elu", "selu", "softplus", "softmax"):
    _activation_layer(_act)
_activation_layer("silu", "swish")
_activation_layer("leaky_relu", extra={"alpha": (number(0.0), 0.01)})
