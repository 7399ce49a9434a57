"""The layer base class, the registry and the records a layer returns.

A layer type is one class, registered under its YAML name and aliases with :func:`register`.
It declares everything the rest of cnncalc needs to know about it (see docs/ADDING-A-LAYER.md):

- ``params``: its typed spec fields (``name -> (validator, default)``), ``main`` the field a scalar
  shorthand sets (``maxpool: 2``), ``param_aliases`` other spellings of a field (Keras's
  ``kernel_size``), and :meth:`Layer.check` for rules across fields;
- :meth:`Layer.analyse`: its shape rule, MACs and receptive-field step, as a :class:`Result`;
- :meth:`Layer.param_specs`: its parameter tensors (:class:`ParamSpec`). This one list gives the
  trainable and non-trainable counts, ``--run``'s random weights and the ``--weights`` npz keys;
- ``op`` (the name of the NumPy engine operation that runs it, by default its type name) or a
  :meth:`Layer.forward` method of its own;
- :meth:`Layer.working`: the lines ``--explain`` shows for it;
- :meth:`Layer.saved_for_backward`: the tensors autograd keeps for its backward pass (``--train``;
  docs/MEMORY.md), as :class:`Saved` entries; ``view`` when its output is its input's storage.
- the mistakes a student makes with it, for the hints of ``--expect*`` and the distractors of
  ``cnncalc quiz``: :meth:`Layer.size_mistakes`, :meth:`Layer.channel_mistake`,
  :meth:`Layer.param_mistakes`, :meth:`Layer.macs_mistakes` (each a wrong answer recomputed with
  one rule changed, with the mistake named) and :meth:`Layer.misreadings` (a field misread, such
  as the padding ignored, which the checks re-analyse through the whole network).

Nothing outside the layer's class branches on its type name.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable, ClassVar, NamedTuple

from ..shapes import Field, ShapeError
from .fields import REQUIRED, ParamError, suggest

if TYPE_CHECKING:        # the record type lives in analysis, which imports this module
    from ..analysis import LayerRecord

Shape = tuple[int, ...]


def fmt_shape(shape) -> str:
    return "x".join(str(d) for d in shape) if len(shape) != 1 else f"[{shape[0]}]"


class Result(NamedTuple):
    """What :meth:`Layer.analyse` computes. The parameter counts are not here: they come from
    :meth:`Layer.param_specs`, so they cannot disagree with ``--run``'s tensors."""
    output: Shape
    macs: int = 0
    field: Field | None = None          # None: unchanged from the (merged) input field
    warnings: tuple[str, ...] = ()
    geometry: Any = None                # resolved details (e.g. the concrete padding)
    floored: tuple[str, ...] = ()       # floor-division notes: warnings unless the spec
    #                                     acknowledges them (`floor: ok`)


class ParamSpec(NamedTuple):
    """One parameter tensor: npz key suffix, shape, default initialisation and its kind."""
    key: str                   # "weight", "bias", "depthwise", "pointwise", "gamma", ...
    shape: tuple[int, ...]
    init: str = "uniform"      # "uniform" (±1/√fan_in, PyTorch's default), "ones" or "zeros"
    fan_in: int = 1
    kind: str = "weight"       # "weight" or "bias" (trainable), "buffer" (non-trainable)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def trainable(self) -> bool:
        return self.kind != "buffer"


class DType(NamedTuple):
    """A tensor element type: its name and its size in bytes."""
    name: str
    size: int


FLOAT32 = DType("float32", 4)
INT64 = DType("int64", 8)

INPUT, OUTPUT, OWN, PARAMS = "input", "output", "own", "params"   # where a saved tensor lives


class Saved(NamedTuple):
    """One tensor that autograd keeps for a layer's backward pass (``--train``, docs/MEMORY.md).

    ``storage`` says whose memory it is, so that a tensor kept by several layers counts once:
    ``INPUT`` (the layer's input number ``which``), ``OUTPUT`` (the layer's output), ``OWN`` (a
    tensor only this layer holds: indices, a mask, a copy) or ``PARAMS`` (the layer's own
    parameters or buffers, already counted as parameters). ``shape`` excludes the batch;
    ``per_sample`` is False for per-channel vectors, whose size does not grow with the batch."""
    what: str                    # "input", "output", "indices", "mask", "batch statistics", ...
    shape: tuple[int, ...]
    dtype: DType
    storage: str = OWN
    which: int = 0               # for INPUT: which input
    per_sample: bool = True

    def nbytes(self, batch: int) -> int:
        return math.prod(self.shape) * self.dtype.size * (batch if self.per_sample else 1)


def keep_input(rec: LayerRecord, act: DType, which: int = 0) -> Saved:
    """The layer's input ``which``, as the activation type."""
    return Saved("input" if len(rec.input_shapes) == 1 else f"input {which + 1}",
                 rec.input_shapes[which], act, INPUT, which)


def keep_output(rec: LayerRecord, act: DType) -> Saved:
    return Saved("output", rec.output, act, OUTPUT)


class Counts(NamedTuple):
    weights: int
    biases: int
    non_trainable: int


def counts(specs: list[ParamSpec]) -> Counts:
    """Weights, biases and non-trainable values of a layer's parameter tensors."""
    w = b = n = 0
    for s in specs:
        if s.kind == "buffer":
            n += s.size
        elif s.kind == "bias":
            b += s.size
        else:
            w += s.size
    return Counts(w, b, n)


REGISTRY: dict[str, type["Layer"]] = {}


def register(*names: str) -> Callable[[type["Layer"]], type["Layer"]]:
    """Class decorator: register a layer class under its canonical name and aliases."""
    def deco(cls: type[Layer]) -> type[Layer]:
        cls.type = names[0]
        cls.aliases = names[1:]
        if not cls.op:
            cls.op = names[0]
        for n in names:
            if n in REGISTRY:
                raise RuntimeError(f"layer type {n!r} registered twice")
            REGISTRY[n] = cls
        return cls
    return deco


def canonical(type_name: str) -> str:
    return REGISTRY[type_name].type


# Layer names of other frameworks that cannot be read off our own names and aliases, as
# normalised by _plain: Keras's class names mostly (PyTorch's are found without a table).
FOREIGN_NAMES = {
    "batchnormalization": "batchnorm", "layernormalization": "layernorm",
    "maxpooling": "maxpool", "averagepooling": "avgpool", "avgpooling": "avgpool",
    "globalaveragepooling": "global_avgpool", "globalavgpool": "global_avgpool",
    "globalmaxpooling": "global_maxpool", "adaptiveaveragepool": "adaptive_avgpool",
    "cat": "concat", "hswish": "hardswish", "hsigmoid": "hardsigmoid",
    "interpolation": "resize", "upsamplingbilinear": "resize", "upsamplingnearest": "upsample",
}


def _plain(word: str) -> str:
    """A layer name without case, separators and dimensions: ``BatchNorm2d`` → ``batchnorm``,
    ``Conv2DTranspose`` → ``convtranspose``."""
    word = word.lower()
    for junk in ("_", "-", " ", ".", "1d", "2d", "3d"):
        word = word.replace(junk, "")
    return word


def suggest_type(word: str, extra: tuple[str, ...] = ()) -> str:
    """' (did you mean ...?)' for an unknown layer type: the type another spelling names (the
    aliases table: ``LayerNorm``, ``BatchNorm2d``, ``MaxPooling2D``), else the closest name."""
    plain = _plain(str(word))
    for name, cls in REGISTRY.items():
        if _plain(name) == plain:
            return f" (did you mean '{cls.type}'?)"
    for name in extra:
        if _plain(name) == plain:
            return f" (did you mean '{name}'?)"
    if plain in FOREIGN_NAMES:
        return f" (did you mean '{FOREIGN_NAMES[plain]}'?)"
    return suggest(word, list(REGISTRY) + list(extra))


# Validated field values by (validator, field, type, raw value), for plain raw values: the
# validators are pure and return immutable values, so the layers of a long spec share one
# `(3, 3)` kernel or `(0, 0, 0, 0)` padding (and the work of making it). Bounded; errors are
# never stored (the validator raises every time). Not floats: 0.0 and -0.0 are one key.
_PLAIN = frozenset((int, str, bool))
_CHECKED: dict[tuple[Any, str, type, Any], Any] = {}
_CHECKED_MAX = 4096


class Layer:
    """A leaf layer. Subclasses set ``params``, ``main``, and implement :meth:`analyse` (and
    :meth:`param_specs` when they have parameters)."""

    type: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    main: ClassVar[str | None] = None
    params: ClassVar[dict[str, tuple[Callable[[str, Any], Any], Any]]] = {}
    param_aliases: ClassVar[dict[str, str]] = {}   # other spellings: {"kernel_size": "kernel"}
    refs: ClassVar[tuple[str, ...]] = ()       # params naming other layers (extra inputs)
    merges: ClassVar[bool] = False             # takes two or more inputs
    op: ClassVar[str] = ""                     # the engine operation that runs it
    family: ClassVar[str] = "other"            # for pictures and legends: conv, pool, merge, ...
    view: ClassVar[bool] = False               # its output is its input's storage (no copy)
    activation: str | None = None

    def __init__(self, **values: Any):
        for key in list(values):
            real = self.param_aliases.get(key)
            if real is not None:
                if real in values:
                    raise ParamError(f"'{key}' and '{real}' are the same parameter; give one")
                values[real] = values.pop(key)
        for key in values:
            if key not in self.params:
                raise ParamError(f"unknown parameter '{key}' for {self.type}"
                                 f"{suggest(key, self.params)}; valid: "
                                 f"{', '.join(self.params) or '(none)'}")
        for key, (check, default) in self.params.items():
            if key in values:
                raw = values[key]
            elif default is REQUIRED:
                raise ParamError(f"{self.type} needs '{key}'")
            elif default is None:
                setattr(self, key, None)
                continue
            else:
                raw = default
            kind = type(raw)
            if kind in _PLAIN and len(_CHECKED) < _CHECKED_MAX:
                memo = (check, key, kind, raw)
                try:
                    value = _CHECKED[memo]
                except KeyError:
                    value = _CHECKED[memo] = check(key, raw)
            else:
                value = check(key, raw)
            setattr(self, key, value)
        self.check()

    @classmethod
    def field_name(cls, key: str) -> str | None:
        """The canonical name of a spec field (aliases resolved), or None if there is none."""
        key = cls.param_aliases.get(key, key)
        return key if key in cls.params else None

    def check(self) -> None:
        """Cross-parameter validation (e.g. output_padding < stride)."""

    def analyse(self, inputs: list[Shape], fields: list[Field]) -> Result:
        raise NotImplementedError

    def param_specs(self, inputs: list[Shape]) -> list[ParamSpec]:
        """The layer's parameter tensors for these input shapes (none by default)."""
        return []

    def weight_count(self, inputs: list[Shape]) -> int:
        """Trainable weights (biases excluded): what a MAC count multiplies."""
        return counts(self.param_specs(inputs)).weights

    def working(self, rec: LayerRecord) -> list[str]:
        """The ``--explain`` lines for this layer, from its record's numbers."""
        return [f"{fmt_shape(rec.input_shapes[0])} → {fmt_shape(rec.output)}"
                + ("" if rec.output != rec.input_shapes[0] else " (shape unchanged)")
                + ("; no parameters" if not rec.params else "")]

    def saved_for_backward(self, rec: LayerRecord, act: DType) -> list[Saved]:
        """The tensors autograd keeps for this layer's backward pass in training, each with its
        storage and element type (``act`` is the activation type: float32, float16, ...).

        By default every input, as a convolution or a dense layer keeps it to compute its weight
        gradient. A layer that keeps something else says so: its own method, checked against
        ``torch.autograd.graph.saved_tensors_hooks`` in tests/test_memory.py."""
        return [keep_input(rec, act, i) for i in range(len(rec.input_shapes))]

    def activation_saved(self, rec: LayerRecord, act: DType) -> list[Saved]:
        """What this layer's ``activation:`` keeps, by the activation's own rule (the activation
        layer of that name): the layer's output when it keeps its result (ReLU, in place), or a
        tensor of its own (the pre-activation) when it keeps its input."""
        if not self.activation:
            return []
        return REGISTRY[self.activation].fused_saved(rec, act)

    @classmethod
    def fused_saved(cls, rec: LayerRecord, act: DType) -> list[Saved]:
        """What this type keeps when another layer applies it as its ``activation:`` (only the
        activation types are used so; see :class:`~cnncalc.layers.activation.Activation`)."""
        return []

    # --- the mistakes a student is likely to make with this layer (see cnncalc.mistakes) ------
    # Each wrong answer is recomputed from the record with one rule changed, so a hint only
    # names a mistake that really produces the student's number.

    def size_mistakes(self, rec: LayerRecord) -> list[tuple[str, Shape]]:
        """Wrong output shapes, each with the mistake named. For an H×W×C output only H and W
        are compared (the channels are :meth:`channel_mistake`'s)."""
        return []

    def channel_mistake(self, rec: LayerRecord, expected: int) -> str | None:
        """The named mistake behind ``expected`` output channels, or None if none is known."""
        if len(rec.output) == 3 and len(rec.input_shapes[0]) == 3 and \
                rec.output[2] == rec.input_shapes[0][2]:
            return f"{self.type} keeps the channel count ({rec.output[2]})"
        return None

    def param_mistakes(self, rec: LayerRecord, source: Shape | None = None
                       ) -> list[tuple[str, int]]:
        """Wrong parameter counts, each with the mistake named. ``source`` is the shape the
        input had before it was flattened, when it was (a dense layer after a flatten)."""
        return []

    def macs_mistakes(self, rec: LayerRecord) -> list[tuple[str, int]]:
        """Wrong MAC counts (of this layer, batch 1), each with the mistake named."""
        return []

    def misreadings(self) -> list[tuple[str, dict[str, Any]]]:
        """Misread fields: ``(mistake, {field: value})``. The checks re-analyse the network with
        the field changed (in every layer that has the mistake, then in one layer at a time) to
        find a wrong answer's cause in a whole network."""
        return []

    # helpers for subclasses
    def spatial(self, shape: Shape) -> Shape:
        if len(shape) != 3:
            raise ShapeError(f"{self.type} needs an HxWxC input, got {fmt_shape(shape)}")
        return shape
