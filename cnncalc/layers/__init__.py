"""Every layer type, one class each, grouped in one module per family.

Importing this package registers them all in :data:`REGISTRY` (type name and aliases → class).
To add a layer type, see docs/ADDING-A-LAYER.md: its class, its tests and a line in
docs/SPEC.md, nothing else.
"""

from . import activation, conv, dense, merge, norm, pooling, shape_ops  # noqa: F401  (register)
from .base import (REGISTRY, Layer, ParamSpec, Result, Shape, canonical, counts, fmt_shape,
                   suggest_type)
from .fields import ACTIVATIONS, PAD_MODES, REQUIRED, ParamError, suggest

# the types that accept an `activation:` attribute
TAKES_ACTIVATION = frozenset(n for n, c in REGISTRY.items() if "activation" in c.params)

__all__ = ["ACTIVATIONS", "PAD_MODES", "REGISTRY", "REQUIRED", "TAKES_ACTIVATION", "Layer",
           "ParamError", "ParamSpec", "Result", "Shape", "canonical", "counts", "fmt_shape",
           "suggest", "suggest_type"]
