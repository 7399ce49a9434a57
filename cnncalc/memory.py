"""Training memory (``--train``): parameters, gradients, optimizer state and the activations
autograd keeps for the backward pass, per layer and in total. No I/O, no formatting.

The kept activations are not a convention: each layer type says in its class what autograd saves
for its backward pass (:meth:`cnncalc.layers.Layer.saved_for_backward`: its input, its output,
indices, a mask, statistics, each with its element type). This module finds whose storage each
saved tensor is (a layer's output, the network input, or a tensor of the layer's own; views share
their input's storage), counts each storage once, and sums. docs/MEMORY.md explains the model and
how it was checked against PyTorch (tests/test_memory.py, tools/reference/saved_tensors.py).

Two other conventions reproduce what other tools print: torchinfo's summary block (every
parameterised layer's output counted twice, "x2 for gradients") and Keras's parameter bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .analysis import Analysis
from .errors import CnnCalcError
from .layers.base import FLOAT32, INPUT, OUTPUT, PARAMS, DType

DTYPES = {"float32": FLOAT32, "float16": DType("float16", 2), "bfloat16": DType("bfloat16", 2)}
OPTIMIZERS = {"sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}    # states per trainable parameter
CONVENTIONS = ("true", "torchinfo", "keras")
TORCHINFO_INPUT_OVERHEAD = 64     # sys.getsizeof of a tensor's storage beyond its bytes (torchinfo)


@dataclass(frozen=True)
class Settings:
    """What to plan for. With ``mixed_precision`` the activations are ``dtype`` (float16 when
    ``dtype`` is float32), the master weights, gradients and optimizer states float32."""
    batch: int = 1
    dtype: str = "float32"
    mixed_precision: bool = False
    optimizer: str = "adam"

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise CnnCalcError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.optimizer not in OPTIMIZERS:
            raise CnnCalcError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got "
                               f"{self.optimizer!r}")
        if not isinstance(self.batch, int) or self.batch < 1:
            raise CnnCalcError(f"batch must be a positive integer, got {self.batch}")

    @property
    def activation(self) -> DType:
        """The type of the activations (and of what autograd keeps of them)."""
        if self.mixed_precision and self.dtype == "float32":
            return DTYPES["float16"]
        return DTYPES[self.dtype]

    @property
    def master(self) -> DType:
        """The type of the weights, their gradients and the optimizer states."""
        return FLOAT32 if self.mixed_precision else DTYPES[self.dtype]

    @property
    def states(self) -> int:
        return OPTIMIZERS[self.optimizer]


@dataclass
class Kept:
    """One storage kept for backward: the first layer that keeps it, what it is, its size, and
    every layer that keeps it (a conv and the ReLU before it keep the same tensor)."""
    layer: int
    what: str
    shape: tuple[int, ...]         # without the batch (the storage's, for a view)
    dtype: DType
    nbytes: int
    source: str                    # "input" (the network's), "layer N" (its output), "own"
    keepers: list[int] = field(default_factory=list)
    counted: bool = True           # False: parameters or buffers, counted as parameters


@dataclass
class LayerMemory:
    index: int
    param_bytes: int
    grad_bytes: int
    optim_state_bytes: int
    backward_bytes: int            # the storages this layer is the first to keep
    kept: list[tuple[str, Kept]]   # everything it keeps (what it is to this layer, the storage)


@dataclass
class Plan:
    settings: Settings
    layers: list[LayerMemory]
    param_bytes: int               # every parameter and buffer, as the master type
    param_copy_bytes: int          # mixed precision: the low-precision copies of the weights
    grad_bytes: int
    optim_state_bytes: int
    backward_bytes: int            # activations kept for backward, each storage once
    kept_buffer_bytes: int         # batchnorm running statistics kept (already parameters)
    storages: list[Kept]

    @property
    def total_bytes(self) -> int:
        return (self.param_bytes + self.param_copy_bytes + self.grad_bytes
                + self.optim_state_bytes + self.backward_bytes)


def plan(a: Analysis, settings: Settings) -> Plan:
    """The memory of one training step: what is held when the forward pass has finished and
    the backward pass begins (weights, gradients, optimizer states, kept activations)."""
    act, master, batch = settings.activation, settings.master, settings.batch
    shapes = [a.input] + [r.output for r in a.layers]
    root = [0]
    for r in a.layers:             # a view (flatten, crop, identity) is its input's storage
        root.append(root[r.inputs[0]] if r.layer.view else r.index)
    by_storage: dict[int, Kept] = {}
    storages: list[Kept] = []
    layers: list[LayerMemory] = []
    buffers = 0
    for r in a.layers:
        kept: list[tuple[str, Kept]] = []
        first = 0
        for s in r.layer.saved_for_backward(r, act):
            if s.storage in (INPUT, OUTPUT):
                node = root[r.inputs[s.which] if s.storage == INPUT else r.index]
                k = by_storage.get(node)
                if k is None:
                    k = Kept(r.index, s.what, shapes[node], s.dtype,
                             math.prod(shapes[node]) * s.dtype.size * batch,
                             "input" if node == 0 else f"layer {node}")
                    by_storage[node] = k
                    storages.append(k)
                    first += k.nbytes
                if r.index not in k.keepers:
                    k.keepers.append(r.index)
            else:
                k = Kept(r.index, s.what, s.shape, s.dtype, s.nbytes(batch), "own", [r.index],
                         counted=s.storage != PARAMS)
                if k.counted:
                    storages.append(k)
                    first += k.nbytes
                else:
                    buffers += k.nbytes
            kept.append((s.what, k))
        layers.append(LayerMemory(r.index, r.params * master.size, r.trainable * master.size,
                                  r.trainable * settings.states * master.size, first, kept))
    trainable = sum(r.trainable for r in a.layers)
    copies = trainable * settings.activation.size if settings.mixed_precision else 0
    return Plan(settings, layers, sum(m.param_bytes for m in layers), copies,
                sum(m.grad_bytes for m in layers), sum(m.optim_state_bytes for m in layers),
                sum(m.backward_bytes for m in layers), buffers, storages)


# --- the conventions of other tools -------------------------------------------------------------

@dataclass(frozen=True)
class TorchinfoBlock:
    """torchinfo 1.8's summary figures (``ModelStatistics``), in bytes and as it prints them."""
    total_params: int
    trainable_params: int
    mult_adds: int
    input_bytes: int
    forward_backward_bytes: int
    param_bytes: int
    layer_forward_backward: dict[int, int]     # layer index → its share of the pass size

    @property
    def total_bytes(self) -> int:
        return self.input_bytes + self.forward_backward_bytes + self.param_bytes


def torchinfo(a: Analysis, settings: Settings) -> TorchinfoBlock:
    """What ``torchinfo.summary(model, input_size=(batch, C, H, W))`` computes (torchinfo 1.8.0;
    tools/reference/torchinfo_summary.py explains each figure):

    - input: the input tensor's bytes plus the 64 bytes of Python object overhead of its storage;
    - forward/backward pass: ``2 × output bytes`` of every layer that has parameters ("x2 for
      gradients"); layers without parameters (ReLU, pooling, merges) count nothing;
    - params: the trainable parameters' bytes (buffers such as running statistics are not
      counted, nor are they in its ``Total params``);
    - mult-adds: for a convolution, every weight and bias times the output positions (with the
      batch); for any other layer with parameters, the batch times its parameters.
    """
    size, batch = settings.master.size, settings.batch
    per_layer: dict[int, int] = {}
    mult_adds = 0
    for r in a.layers:
        if not r.trainable:
            continue
        per_layer[r.index] = 2 * size * batch * math.prod(r.output)
        positions = math.prod(r.output[:-1]) if r.layer.family in ("conv", "transposed conv") \
            and len(r.output) == 3 else 1
        mult_adds += r.trainable * positions * batch
    trainable = sum(r.trainable for r in a.layers)
    return TorchinfoBlock(trainable, trainable, mult_adds,
                          math.prod(a.input) * size * batch + TORCHINFO_INPUT_OVERHEAD,
                          sum(per_layer.values()), trainable * size, per_layer)


@dataclass(frozen=True)
class KerasBlock:
    """Keras 3's ``model.summary()`` parameter lines: counts and bytes (weights × dtype size)."""
    total_params: int
    trainable_params: int
    non_trainable_params: int
    element_size: int

    @property
    def total_bytes(self) -> int:
        return self.total_params * self.element_size

    @property
    def trainable_bytes(self) -> int:
        return self.trainable_params * self.element_size

    @property
    def non_trainable_bytes(self) -> int:
        return self.non_trainable_params * self.element_size


def keras(a: Analysis, settings: Settings) -> KerasBlock:
    """Keras counts every weight, batchnorm's moving statistics included (non-trainable), at the
    variables' type (float32 under a mixed-precision policy)."""
    t = a.totals()
    return KerasBlock(t["params"], t["trainable"], t["non_trainable"], settings.master.size)


# --- the largest batch that fits -----------------------------------------------------------------

@dataclass(frozen=True)
class Fit:
    limit: int
    batch: int                     # 0: not even batch 1 fits
    fixed_bytes: int               # what does not grow with the batch
    per_sample_bytes: int          # what one more sample adds


def total_at(a: Analysis, settings: Settings, convention: str) -> int:
    if convention == "torchinfo":
        return torchinfo(a, settings).total_bytes
    if convention == "keras":
        return keras(a, settings).total_bytes
    return plan(a, settings).total_bytes


def fit(a: Analysis, settings: Settings, limit: int, convention: str = "true") -> Fit:
    """The largest batch whose total is at most ``limit`` bytes. Every figure is an integer
    linear in the batch (fixed + batch × per sample), so two plans give the exact answer."""
    if limit < 1:
        raise CnnCalcError(f"the memory size must be above 0 bytes, got {limit}")
    one = total_at(a, _at(settings, 1), convention)
    two = total_at(a, _at(settings, 2), convention)
    per, fixed = two - one, 2 * one - two
    if per <= 0:
        raise CnnCalcError(f"the {convention} convention's total does not grow with the batch, "
                           f"so there is no largest batch to find")
    batch = max(0, (limit - fixed) // per)
    assert batch == 0 or total_at(a, _at(settings, batch), convention) <= limit
    return Fit(limit, batch, fixed, per)


def _at(settings: Settings, batch: int) -> Settings:
    return Settings(batch, settings.dtype, settings.mixed_precision, settings.optimizer)


# --- everything a report needs ------------------------------------------------------------------

@dataclass(frozen=True)
class Estimate:
    """The memory figures of one convention at one batch (with ``--fit``: the fitted batch, or
    batch 1 when nothing fits)."""
    convention: str
    settings: Settings
    plan: Plan | None = None
    torchinfo: TorchinfoBlock | None = None
    keras: KerasBlock | None = None
    fit: Fit | None = None

    @property
    def total_bytes(self) -> int:
        block = self.plan or self.torchinfo or self.keras
        assert block is not None
        return block.total_bytes


def estimate(a: Analysis, settings: Settings, convention: str = "true",
             fit_limit: int | None = None) -> Estimate:
    """The figures of ``convention`` at ``settings.batch``, or, with ``fit_limit``, at the
    largest batch whose total fits in that many bytes."""
    if convention not in CONVENTIONS:
        raise CnnCalcError(f"memory convention must be one of {', '.join(CONVENTIONS)}, got "
                           f"{convention!r}")
    found = None
    if fit_limit is not None:
        if convention == "keras":
            raise CnnCalcError("--fit needs a total that grows with the batch; Keras's "
                               "convention counts the parameters only (use the default or "
                               "--memory-convention torchinfo)")
        found = fit(a, settings, fit_limit, convention)
        settings = _at(settings, max(found.batch, 1))
    if convention == "torchinfo":
        return Estimate(convention, settings, torchinfo=torchinfo(a, settings), fit=found)
    if convention == "keras":
        return Estimate(convention, settings, keras=keras(a, settings))
    return Estimate(convention, settings, plan=plan(a, settings), fit=found)
