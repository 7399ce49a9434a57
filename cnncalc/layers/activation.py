"""Activations as layers (``relu``, ``leaky_relu: 0.1``, ...): shape unchanged, no parameters.
Conv and dense layers also take them as an ``activation:`` attribute."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from .base import OWN, DType, Layer, Result, Saved, keep_input, keep_output, register
from .fields import number

if TYPE_CHECKING:
    from ..analysis import LayerRecord


class Activation(Layer):
    """Shape unchanged; the engine applies :attr:`function`, the layer's type name.

    ``keeps`` is what autograd saves for its backward pass: ``"output"`` when the gradient is
    computed from the result (ReLU, sigmoid, tanh, softmax; and leaky ReLU, ELU, SELU in place, as
    PyTorch's models run them), ``"input"`` when it needs the input (GELU, SiLU, ReLU6,
    hard-swish, ...; in place, PyTorch saves a copy of the input: the same size, its own
    storage). Measured with ``saved_tensors_hooks`` in tests/test_memory.py."""
    family = "activation"
    keeps: ClassVar[str] = "output"

    @property
    def function(self) -> str:
        return self.type

    def analyse(self, inputs, fields):
        return Result(inputs[0])

    def saved_for_backward(self, rec: LayerRecord, act: DType) -> list[Saved]:
        return [keep_output(rec, act) if self.keeps == "output" else keep_input(rec, act)]

    @classmethod
    def fused_saved(cls, rec: LayerRecord, act: DType) -> list[Saved]:
        """As another layer's ``activation:``: its result is that layer's output (in place); an
        activation that keeps its input keeps the pre-activation, a tensor of its own."""
        if cls.keeps == "output":
            return [keep_output(rec, act)]
        return [Saved(f"{cls.type} input (pre-activation)", rec.output, act, OWN)]


def _activation_layer(name: str, *aliases: str, extra: dict | None = None,
                      keeps: str = "output") -> type[Layer]:
    attrs = {"params": extra or {}, "main": next(iter(extra)) if extra else None, "keeps": keeps}
    return register(name, *aliases)(type(name.title().replace("_", ""), (Activation,), attrs))


for _act in ("relu", "sigmoid", "tanh", "elu", "selu", "softmax"):
    _activation_layer(_act)
for _act in ("gelu", "hardswish", "relu6", "hardsigmoid", "softplus"):
    _activation_layer(_act, keeps="input")
_activation_layer("silu", "swish", keeps="input")


@register("mish")
class Mish(Activation):
    """Mish (Misra 2019), Darknet's activation in YOLOv4: ``x · tanh(softplus(x))``. It runs by
    its own :meth:`apply`, which the engine also calls for ``activation: mish`` on a conv.
    Autograd keeps its input for the backward pass."""
    keeps = "input"

    @staticmethod
    def apply(x):
        import numpy as np
        soft = np.where(x > 20, x, np.logaddexp(np.float32(0), np.minimum(x, 20)))  # torch's
        return (x * np.tanh(soft)).astype(x.dtype, copy=False)

    def forward(self, xs, params, ctx):
        return self.apply(xs[0])


_activation_layer("leaky_relu", extra={"alpha": (number(0.0), 0.01)})
