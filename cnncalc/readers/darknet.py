"""Darknet ``.cfg`` files (pjreddie/darknet and AlexeyAB/darknet) → a cnncalc spec mapping.

Darknet numbers its layers from 0, one per section after ``[net]``; a layer here is named by its
section and that number (``conv_0``, ``route_9``, ``yolo_16``), and ``[route]``/``[shortcut]``
indices become those names. The rules are Darknet's own:

- ``[convolutional]``: ``pad=1`` means padding ``size/2`` (else ``padding=``, default 0). With
  ``batch_normalize=1`` the convolution has no bias (batchnorm's β plays that role): a block of
  conv (no bias), batchnorm (γ, β trainable; rolling mean and variance non-trainable) and the
  activation. ``leaky`` is leaky ReLU with slope 0.1, ``logistic`` the sigmoid, ``swish`` SiLU.
- ``[maxpool]``: total padding ``padding=`` (default size − 1), ``padding/2`` of it before, and
  output ``(n + padding − size)/stride + 1``: ``size=2 stride=1`` keeps the size (one row and
  column of padding after). When this is TensorFlow's ``same`` (stride 1, or size 2) it is
  written as ``padding: same``, so that ``--input`` can change the size.
- ``[route] layers=…`` concatenates; one layer with ``groups``/``group_id`` is a ``chunk`` of
  its channels (yolov4-tiny). ``[shortcut] from=…`` adds. ``[upsample] stride`` is nearest
  upsampling. ``[yolo]``/``[region]`` heads have no parameters: an ``identity`` each.
- ``[avgpool]`` is a global average pool; ``[connected]`` flattens and is a dense layer (default
  activation logistic); ``[softmax]``, ``[dropout] probability``, ``[batchnorm]``,
  ``[scale_channels] from`` (a multiply) and ``[cost]`` (nothing) as in Darknet.
"""

from __future__ import annotations

from typing import Any

from ..errors import CnnCalcError
from ..layers import suggest
from ..limits import MAX_LAYERS
from ..source import LDict
from . import entry, seq

ACTIVATIONS = {"linear": None, "leaky": "leaky_relu", "relu": "relu", "logistic": "sigmoid",
               "mish": "mish", "swish": "silu", "tanh": "tanh", "elu": "elu", "selu": "selu",
               "relu6": "relu6", "gelu": "gelu", "hardtan": None}
LEAKY_SLOPE = 0.1
SECTIONS = ("convolutional", "conv", "maxpool", "max", "route", "shortcut", "upsample", "yolo",
            "region", "detection", "avgpool", "avg", "connected", "conn", "softmax", "soft",
            "dropout", "batchnorm", "scale_channels", "cost")
# real Darknet sections that this reader does not handle (named as such in the error)
UNSUPPORTED = ("local", "deconvolutional", "deconv", "crnn", "rnn", "gru", "lstm", "conv_lstm",
               "history", "reorg", "reorg3d", "crop", "normalization", "lrn", "sam",
               "gaussian_yolo", "iseg", "empty", "silence", "activation", "implicit_add",
               "implicit_mul", "contrastive", "network", "net")
# keys that change a layer's structure in ways cnncalc does not model
STRUCTURAL = {"convolutional": ("antialiasing", "share_index", "deform", "binary", "xnor"),
              "maxpool": ("maxpool_depth", "antialiasing", "out_channels")}


class Section:
    """One ``[type]`` section: its options with their line numbers."""

    def __init__(self, kind: str, line: int, label: str):
        self.kind = kind
        self.line = line
        self.label = label
        self.options: dict[str, tuple[str, int]] = {}
        self.name = ""

    def error(self, message: str, key: str | None = None) -> CnnCalcError:
        line = self.options[key][1] if key in self.options else self.line
        return CnnCalcError(message, file=self.label, line=line,
                            name=self.name or None, type=f"[{self.kind}]")

    def text(self, key: str, default: str | None = None) -> str | None:
        return self.options[key][0] if key in self.options else default

    def integer(self, key: str, default: int | None = None, minimum: int | None = 0) -> Any:
        raw = self.text(key)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise self.error(f"{key} must be an integer, got {raw!r}"[:200], key) from None
        if minimum is not None and value < minimum:
            raise self.error(f"{key} must be >= {minimum}, got {value}", key)
        return value

    def number(self, key: str, default: float) -> float:
        raw = self.text(key)
        if raw is None:
            return default
        try:
            return float(raw)
        except ValueError:
            raise self.error(f"{key} must be a number, got {raw!r}"[:200], key) from None

    def strides(self, stride: int) -> tuple[int, int]:
        """``stride_y``/``stride_x`` (each ``stride`` unless given)."""
        return (self.integer("stride_y", stride, minimum=1),
                self.integer("stride_x", stride, minimum=1))

    def ints(self, key: str) -> list[int]:
        raw = self.text(key)
        if raw is None or not raw.strip():
            raise self.error(f"needs '{key}='")
        try:
            return [int(v) for v in raw.split(",") if v.strip()]
        except ValueError:
            raise self.error(f"{key} must be integers separated by commas, got {raw!r}"[:200],
                             key) from None

    def activation(self, default: str = "linear") -> str:
        raw = (self.text("activation") or default).strip().lower()
        if raw not in ACTIVATIONS:
            raise self.error(f"unknown activation {raw!r}{suggest(raw, ACTIVATIONS)}; known: "
                             f"{', '.join(ACTIVATIONS)}", "activation")
        if raw == "hardtan":
            raise self.error("activation 'hardtan' is not supported", "activation")
        return raw


def parse(text: str, label: str) -> list[Section]:
    """The sections of a cfg, with ``#``/``;`` comments and blank lines dropped."""
    sections: list[Section] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise CnnCalcError(f"a section header must look like [convolutional], got "
                                   f"{line[:60]!r}", file=label, line=number)
            sections.append(Section(line[1:-1].strip().lower(), number, label))
            if len(sections) > MAX_LAYERS:
                raise CnnCalcError(f"more than {MAX_LAYERS:,} sections; a spec may have at most "
                                   f"{MAX_LAYERS:,} layers (docs/LIMITS.md)", file=label)
            continue
        if "=" not in line:
            raise CnnCalcError(f"expected 'key=value' or a [section], got {line[:60]!r}",
                               file=label, line=number)
        if not sections:
            raise CnnCalcError("an option before the first section; a cfg starts with [net]",
                               file=label, line=number)
        key, value = line.split("=", 1)
        sections[-1].options[key.strip().lower()] = (value.strip(), number)
    if not sections:
        raise CnnCalcError("no sections: a Darknet cfg starts with [net]", file=label)
    return sections


def read(text: str, label: str, stem: str = "darknet") -> dict:
    sections = parse(text, label)
    net = sections[0]
    if net.kind not in ("net", "network"):
        raise net.error(f"the first section must be [net] (the input), got [{net.kind}]")
    builder = _Builder(label)
    for index, sec in enumerate(sections[1:]):
        sec.name = f"{_SHORT.get(sec.kind, sec.kind)}_{index}"
        builder.section(sec, index)
    width, height = net.integer("width", 0), net.integer("height", 0)
    channels = net.integer("channels", 3, minimum=1)
    doc = LDict(name=stem, description=f"Darknet cfg {label.rsplit('/', 1)[-1]}")
    doc.line = 1
    if width and height:
        doc["input"] = [height, width, channels]
    if builder.blocks:
        doc["blocks"] = builder.blocks
    doc["layers"] = builder.layers
    return doc


_SHORT = {"convolutional": "conv", "conv": "conv", "maxpool": "maxpool", "max": "maxpool",
          "avg": "avgpool", "conn": "connected", "soft": "softmax"}


class _Builder:
    def __init__(self, label: str):
        self.label = label
        self.layers = seq(line=1)
        self.blocks: dict[str, Any] = {}
        self.names: list[str] = []          # Darknet layer index → the name that stands for it

    def add(self, item: LDict, name: str) -> None:
        self.layers.append(item)
        self.names.append(name)

    def ref(self, sec: Section, index: int, value: int, key: str) -> str:
        """A Darknet layer index (negative: relative to this layer) → that layer's name."""
        target = index + value if value < 0 else value
        if not 0 <= target < index:
            raise sec.error(f"{key}={value} must name an earlier layer (0…{index - 1}, or "
                            f"-1…-{index})", key)
        return self.names[target]

    def previous(self, index: int) -> str | None:
        return self.names[index - 1] if index else None

    def section(self, sec: Section, index: int) -> None:
        kind = sec.kind
        if kind not in SECTIONS:
            if kind in UNSUPPORTED:
                raise sec.error(f"the Darknet section [{kind}] is not supported")
            raise sec.error(f"unknown Darknet section [{kind}]{suggest(kind, SECTIONS)}")
        for key in STRUCTURAL.get(_LONG.get(kind, kind), ()):
            if sec.integer(key, 0, minimum=None):
                raise sec.error(f"{key}={sec.text(key)} is not supported", key)
        getattr(self, "_" + _LONG.get(kind, kind))(sec, index)

    def _convolutional(self, sec: Section, index: int) -> None:
        filters = sec.integer("filters", 1, minimum=1)
        size = sec.integer("size", 1, minimum=1)
        stride = sec.integer("stride", 1, minimum=1)
        sy, sx = sec.strides(stride)
        dilation = sec.integer("dilation", 1, minimum=1)
        padding = size // 2 if sec.integer("pad", 0) else sec.integer("padding", 0)
        groups = sec.integer("groups", 1, minimum=1)
        bn = bool(sec.integer("batch_normalize", 0))
        act = sec.activation("logistic")
        params = dict(filters=filters, kernel=size, stride=stride if sy == sx else [sy, sx],
                      padding=padding or None, dilation=dilation if dilation > 1 else None,
                      groups=groups if groups > 1 else None)
        for key, value in (("stride", 1), ("padding", None), ("dilation", None),
                           ("groups", None)):
            if params[key] == value:
                params[key] = None
        if not bn and act in ("linear", None):
            self.add(entry("conv", sec.line, **params, name=sec.name), sec.name)
        elif not bn and act != "leaky":
            self.add(entry("conv", sec.line, **params, activation=ACTIVATIONS[act],
                           name=sec.name), sec.name)
        else:
            use = self.block("conv" + ("_bn" if bn else "") + f"_{act}", bn, act)
            self.add(entry("block", sec.line, use=use, **params, name=sec.name), sec.name)

    def block(self, use: str, bn: bool, act: str) -> str:
        """A block definition conv [+ batchnorm] [+ activation], defined on first use."""
        if use not in self.blocks:
            conv = {"filters": "$filters", "kernel": "$kernel", "stride": "$stride",
                    "padding": "$padding", "dilation": "$dilation", "groups": "$groups"}
            layers: list[dict[str, Any]] = [{"conv": {**conv, "bias": not bn, "name": "conv"}}]
            if bn:
                layers.append({"batchnorm": {"name": "bn"}})
            function = ACTIVATIONS[act]
            if act == "leaky":
                layers.append({"leaky_relu": {"alpha": LEAKY_SLOPE, "name": "leaky"}})
            elif function is not None:
                layers.append({function: {"name": act}})
            self.blocks[use] = {"params": {"filters": None, "kernel": None, "stride": 1,
                                           "padding": 0, "dilation": 1, "groups": 1},
                                "layers": layers}
        return use

    def _maxpool(self, sec: Section, index: int) -> None:
        stride = sec.integer("stride", 1, minimum=1)
        sy, sx = sec.strides(stride)
        size = sec.integer("size", stride, minimum=1)
        pad = sec.integer("padding", size - 1)
        if pad == size - 1 and (size == 2 or sy == sx == 1):
            padding: Any = "same" if pad else None      # TensorFlow's rule gives the same windows
        else:
            padding = [pad // 2, pad - pad // 2, pad // 2, pad - pad // 2] if pad else None
        self.add(entry("maxpool", sec.line, size=size, stride=stride if sy == sx else [sy, sx],
                       padding=padding, name=sec.name), sec.name)

    def _route(self, sec: Section, index: int) -> None:
        refs = [self.ref(sec, index, v, "layers") for v in sec.ints("layers")]
        groups = sec.integer("groups", 1, minimum=1)
        if groups > 1:
            if len(refs) != 1:
                raise sec.error("groups with more than one layer is not supported", "groups")
            self.add(entry("chunk", sec.line, groups=groups, index=sec.integer("group_id", 0),
                           name=sec.name, **{"from": refs[0]}), sec.name)
        elif len(refs) == 1:
            self.add(entry("identity", sec.line, name=sec.name, **{"from": refs[0]}), sec.name)
        else:
            self.add(entry("concat", sec.line, name=sec.name, **{"from": refs}), sec.name)

    def _shortcut(self, sec: Section, index: int) -> None:
        refs = [self.ref(sec, index, v, "from") for v in sec.ints("from")]
        self.merge(sec, index, "add", refs)

    def _scale_channels(self, sec: Section, index: int) -> None:
        refs = [self.ref(sec, index, v, "from") for v in sec.ints("from")]
        self.merge(sec, index, "multiply", refs)

    def merge(self, sec: Section, index: int, kind: str, refs: list[str]) -> None:
        if not index:
            raise sec.error(f"[{sec.kind}] cannot be the first layer")
        inputs = [self.names[index - 1], *refs]
        act = sec.activation()
        if act in ("linear", None):
            self.add(entry(kind, sec.line, name=sec.name, **{"from": inputs}), sec.name)
            return
        self.add(entry(kind, sec.line, name=f"{sec.name}_{kind}", **{"from": inputs}), sec.name)
        alpha = LEAKY_SLOPE if act == "leaky" else None
        self.add(entry(ACTIVATIONS[act] or "identity", sec.line, alpha=alpha, name=sec.name),
                 sec.name)
        self.names.pop(-2)

    def _upsample(self, sec: Section, index: int) -> None:
        self.add(entry("upsample", sec.line, scale=sec.integer("stride", 2, minimum=1),
                       name=sec.name), sec.name)

    def _yolo(self, sec: Section, index: int) -> None:
        self.add(entry("identity", sec.line, name=sec.name), sec.name)

    _region = _detection = _yolo

    def _avgpool(self, sec: Section, index: int) -> None:
        self.add(entry("global_avgpool", sec.line, name=sec.name), sec.name)

    def _connected(self, sec: Section, index: int) -> None:
        units = sec.integer("output", 1, minimum=1)
        bn = bool(sec.integer("batch_normalize", 0))
        act = ACTIVATIONS[sec.activation("logistic") or "linear"]
        self.layers.append(entry("flatten", sec.line, name=f"{sec.name}_flatten"))
        if bn:
            self.layers.append(entry("dense", sec.line, units=units, bias=False,
                                     name=f"{sec.name}_dense"))
            self.add(entry("batchnorm", sec.line, name=sec.name), sec.name)
            if act:
                self.names[-1] = f"{sec.name}_act"
                self.layers.append(entry(act, sec.line, name=f"{sec.name}_act"))
        else:
            self.add(entry("dense", sec.line, units=units, activation=act, name=sec.name),
                     sec.name)

    def _softmax(self, sec: Section, index: int) -> None:
        self.add(entry("softmax", sec.line, name=sec.name), sec.name)

    def _dropout(self, sec: Section, index: int) -> None:
        self.add(entry("dropout", sec.line, rate=sec.number("probability", 0.5), name=sec.name),
                 sec.name)

    def _batchnorm(self, sec: Section, index: int) -> None:
        self.add(entry("batchnorm", sec.line, name=sec.name), sec.name)

    def _cost(self, sec: Section, index: int) -> None:
        if not index:
            raise sec.error("[cost] cannot be the first layer")
        self.names.append(self.names[-1])       # no computation: it stands for its input


_LONG = {"conv": "convolutional", "max": "maxpool", "avg": "avgpool", "conn": "connected",
         "soft": "softmax"}
