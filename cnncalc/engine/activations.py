"""Activation functions (PyTorch's definitions), applied in place where the caller allows it, and
how much scratch each one needs for the memory estimate."""

from __future__ import annotations

import math

import numpy as np

from ..errors import CnnCalcError
from ..layers import REGISTRY
from .config import F32

SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805

# Activations that build whole-size temporaries (np.where, exp, erf): the memory estimate counts
# three input-sized arrays for them, none for those computed in place.
TEMPORARIES = frozenset({"gelu", "silu", "hardswish", "selu", "elu", "softplus", "sigmoid",
                         "hardsigmoid"})


def erf(x: np.ndarray) -> np.ndarray:
    """erf by Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7, below float32's resolution)."""
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + F32(0.3275911) * a)
    y = t * (F32(0.254829592) + t * (F32(-0.284496736) + t * (F32(1.421413741) + t * (
        F32(-1.453152027) + t * F32(1.061405429)))))
    return s * (1.0 - y * np.exp(-a * a))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return F32(0.5) * (np.tanh(F32(0.5) * x) + F32(1.0))


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, computed in ``x`` (pass a copy to keep it)."""
    x = x - x.max(axis=-1, keepdims=True)
    np.exp(x, out=x)
    x /= x.sum(axis=-1, keepdims=True)
    return x


def activate(x: np.ndarray, name: str | None, inplace: bool, alpha: float = 0.01) -> np.ndarray:
    """Apply an activation (PyTorch's definitions; ``softmax`` over the last axis)."""
    if name is None:
        return x
    if name == "relu":
        return np.maximum(x, 0, out=x if inplace else None)
    if name == "relu6":
        return np.clip(x, 0, 6, out=x if inplace else None)
    if name == "leaky_relu":
        if 0 <= alpha <= 1:
            return np.maximum(x, F32(alpha) * x, out=x if inplace else None)
        return np.where(x >= 0, x, F32(alpha) * x)
    if name == "tanh":
        return np.tanh(x, out=x if inplace else None)
    if name == "sigmoid":
        return sigmoid(x)
    if name in ("silu", "swish"):
        return x * sigmoid(x)
    if name == "hardsigmoid":
        return np.clip(x + F32(3), 0, 6) / F32(6)
    if name == "hardswish":
        return x * (np.clip(x + F32(3), 0, 6) / F32(6))
    if name == "gelu":
        return F32(0.5) * x * (F32(1.0) + erf(x * F32(1 / math.sqrt(2))))
    if name == "elu":
        return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))
    if name == "selu":
        return F32(SELU_SCALE) * np.where(x > 0, x, F32(SELU_ALPHA) * np.expm1(np.minimum(x, 0)))
    if name == "softplus":
        # PyTorch: x above the threshold 20, else log(1 + exp(x))
        return np.where(x > 20, x, np.logaddexp(F32(0), np.minimum(x, 20)))
    if name == "softmax":
        return softmax(x if inplace else x.copy())
    own = getattr(REGISTRY.get(name), "apply", None)    # an activation class with its own kernel
    if own is not None:
        return own(x)
    raise CnnCalcError(f"the NumPy engine has no activation '{name}'")
