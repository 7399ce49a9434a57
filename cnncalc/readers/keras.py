"""Keras models → a cnncalc spec mapping: ``model.to_json()`` text (gzipped or not) and ``.keras``
archives (a zip whose ``config.json`` holds the same model config). Sequential and Functional
models of Keras 3 (and the ``inbound_nodes`` lists of Keras 2), with the layers of
keras.applications. Keras is channels-last like cnncalc, and its layer names are kept.

Keras counts parameters as cnncalc does; a ``Normalization`` layer holds its mean, variance and
sample count as non-trainable state. A layer frozen with ``trainable: false`` is still counted as
trainable: cnncalc has no frozen layers.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from ..errors import CnnCalcError
from ..limits import MAX_LAYERS, MAX_SPEC_BYTES
from ..source import LDict
from . import Source, entry, seq

ACTIVATIONS = {"linear": None, "relu": "relu", "sigmoid": "sigmoid", "softmax": "softmax",
               "tanh": "tanh", "swish": "silu", "silu": "silu", "relu6": "relu6", "gelu": "gelu",
               "elu": "elu", "selu": "selu", "softplus": "softplus", "mish": "mish",
               "hard_sigmoid": "hardsigmoid", "hard_swish": "hardswish",
               "hard_silu": "hardswish", "leaky_relu": "leaky_relu"}
MODELS = ("Functional", "Sequential", "Model")


def read_json(text: str, label: str) -> dict:
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        where = f" (line {e.lineno})" if isinstance(e, json.JSONDecodeError) else ""
        raise CnnCalcError(f"not valid JSON{where}: {getattr(e, 'msg', e)}", file=label) from None
    return convert(doc, label)


def read_archive(src: Source) -> dict:
    """A ``.keras`` archive: its ``config.json``, read up to the spec limit."""
    where: Any = src.path if src.mappable() else io.BytesIO(src.read())
    try:
        with zipfile.ZipFile(where) as zf:
            try:
                info = zf.getinfo("config.json")
            except KeyError:
                raise CnnCalcError("a .keras archive must hold config.json; this zip does not",
                                   file=src.label) from None
            if info.file_size > MAX_SPEC_BYTES:
                raise CnnCalcError(f"config.json is larger than {MAX_SPEC_BYTES >> 20} MiB, the "
                                   f"limit for a spec (docs/LIMITS.md)", file=src.label)
            with zf.open(info) as fh:
                data = fh.read(MAX_SPEC_BYTES + 1)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as e:
        raise CnnCalcError(f"not a .keras archive (a zip file): {e}", file=src.label) from None
    except OSError as e:
        raise CnnCalcError(f"cannot read {src.label}: {e.strerror or e}") from None
    if len(data) > MAX_SPEC_BYTES:
        raise CnnCalcError("config.json decompresses past the spec limit", file=src.label)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CnnCalcError("config.json is not UTF-8 text", file=src.label) from None
    return read_json(text, src.label + ":config.json")


def convert(doc: Any, label: str) -> dict:
    if not isinstance(doc, dict) or "class_name" not in doc or "config" not in doc:
        raise CnnCalcError("not a Keras model: expected the JSON of model.to_json(), with "
                           "class_name and config", file=label)
    if doc["class_name"] not in MODELS:
        raise CnnCalcError(f"not a Keras model: class_name is {doc['class_name']!r}", file=label)
    config = doc["config"]
    layers = config.get("layers") if isinstance(config, dict) else None
    if not isinstance(layers, list) or not layers:
        raise CnnCalcError("the Keras model config has no layers", file=label)
    if len(layers) > MAX_LAYERS:
        raise CnnCalcError(f"more than {MAX_LAYERS:,} layers (docs/LIMITS.md)", file=label)
    b = _Builder(label, doc["class_name"] == "Sequential")
    for i, layer in enumerate(layers, 1):
        b.layer(i, layer)
    if not b.layers:
        raise CnnCalcError("the Keras model has no layers besides its input", file=label)
    out = LDict(name=str(config.get("name") or "keras_model"),
                description=f"Keras {doc['class_name']} {config.get('name', '')}".rstrip())
    shape = b.input_shape or _build_shape(doc.get("build_config") or config)
    if shape is not None:
        out["input"] = shape
    out["layers"] = b.layers
    return out


def _build_shape(config: Any) -> list[int] | None:
    shape = config.get("input_shape") or config.get("build_input_shape") \
        if isinstance(config, dict) else None
    return _shape(shape)


def _shape(batch_shape: Any) -> list[int] | None:
    if not isinstance(batch_shape, list) or len(batch_shape) not in (2, 4):
        return None
    dims = batch_shape[1:]
    if not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in dims):
        return None
    return dims


class _Builder:
    def __init__(self, label: str, sequential: bool):
        self.label = label
        self.sequential = sequential
        self.layers = seq(line=None)
        self.input_shape: list[int] | None = None
        self.inputs: set[str] = set()
        self.last: str | None = None

    def layer(self, index: int, layer: Any) -> None:
        if not isinstance(layer, dict) or not isinstance(layer.get("config"), dict):
            raise CnnCalcError(f"layer {index} is not a Keras layer config", file=self.label)
        cls = str(layer.get("class_name"))
        config = layer["config"]
        name = str(layer.get("name") or config.get("name") or f"{cls.lower()}_{index}")

        def fail(message: str) -> CnnCalcError:
            return CnnCalcError(message, file=self.label, index=index, name=name, type=cls)

        if cls == "InputLayer":
            shape = config.get("batch_shape") or config.get("batch_input_shape")
            if self.input_shape is not None or _shape(shape) is None:
                raise fail(f"cnncalc reads models with one image or vector input, got "
                           f"{shape!r}"[:200])
            self.input_shape = _shape(shape)
            self.inputs.add(name)
            return
        if self.input_shape is None and self.sequential:
            self.input_shape = _shape(config.get("batch_input_shape")) or _shape(
                (layer.get("build_config") or {}).get("input_shape"))
        if config.get("data_format") == "channels_first":
            raise fail("data_format channels_first is not supported (cnncalc is channels-last)")
        mapper = getattr(self, "_" + cls, None)
        if mapper is None:
            if cls in MODELS:
                raise fail("a model inside a model is not supported; save the inner model's "
                           "layers in one model")
            raise fail(f"Keras layer {cls} is not supported")
        try:
            kind, params = mapper(config)
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise fail(f"cannot read its config: {type(e).__name__} {e}"[:200]) from None
        sources = self.sources(layer, fail)
        if sources is not None and sources != [self.last or "input"]:
            params["from"] = sources[0] if len(sources) == 1 else sources
        self.layers.append(entry(kind, None, **params, name=name))
        self.last = name

    def sources(self, layer: dict, fail) -> list[str] | None:
        """The names of the layers a Functional layer is called on (None in a Sequential)."""
        nodes = layer.get("inbound_nodes")
        if self.sequential or nodes is None:
            return None
        if not isinstance(nodes, list) or len(nodes) != 1:
            raise fail(f"a layer called {len(nodes) if isinstance(nodes, list) else '?'} times "
                       f"is not supported (shared layers)")
        names = []
        for history in _histories(nodes[0]):
            src = str(history[0])
            names.append("input" if src in self.inputs else src)
        if not names:
            raise fail("it is called on no input")
        return names

    # -- the layers: (cnncalc type, parameters) --
    def _act(self, config: dict) -> Any:
        name = config.get("activation", "linear")
        if isinstance(name, dict):
            name = name.get("config", {}).get("name") or name.get("class_name")
        if name not in ACTIVATIONS:
            raise ValueError(f"activation {name!r} is not supported")
        return ACTIVATIONS[name]

    def _conv_common(self, config: dict) -> dict[str, Any]:
        padding = config.get("padding", "valid")
        strides = _one(config.get("strides", 1))
        dilation = _one(config.get("dilation_rate", 1))
        return {"kernel": _one(config["kernel_size"]), "stride": None if strides == 1 else strides,
                "padding": "same" if padding == "same" else None,
                "dilation": None if dilation == 1 else dilation,
                "bias": None if config.get("use_bias", True) else False,
                "activation": self._act(config)}

    def _Conv2D(self, config):
        groups = config.get("groups", 1)
        return "conv", {"filters": config["filters"], **self._conv_common(config),
                        "groups": groups if groups != 1 else None}

    def _DepthwiseConv2D(self, config):
        m = config.get("depth_multiplier", 1)
        return "depthwise_conv", {**self._conv_common(config),
                                  "depth_multiplier": m if m != 1 else None}

    def _SeparableConv2D(self, config):
        m = config.get("depth_multiplier", 1)
        return "separable_conv", {"filters": config["filters"], **self._conv_common(config),
                                  "depth_multiplier": m if m != 1 else None}

    def _Conv2DTranspose(self, config):
        out_pad = config.get("output_padding")
        return "conv_transpose", {"filters": config["filters"], **self._conv_common(config),
                                  "output_padding": _one(out_pad) if out_pad else None}

    def _Dense(self, config):
        return "dense", {"units": config["units"], "activation": self._act(config),
                         "bias": None if config.get("use_bias", True) else False}

    def _BatchNormalization(self, config):
        if not config.get("center", True) or not config.get("scale", True):
            raise ValueError("center=False or scale=False is not supported")
        return "batchnorm", {"epsilon": config.get("epsilon", 1e-3)}

    def _pool(self, config, kind):
        size = _one(config.get("pool_size", 2))
        strides = config.get("strides")
        same = config.get("padding", "valid") == "same"
        params = {"size": size, "stride": _one(strides) if strides is not None else None,
                  "padding": "same" if same else None}
        if kind == "avgpool" and same:
            params["count_include_pad"] = False             # Keras averages the real pixels
        return kind, params

    def _MaxPooling2D(self, config):
        return self._pool(config, "maxpool")

    def _AveragePooling2D(self, config):
        return self._pool(config, "avgpool")

    def _GlobalAveragePooling2D(self, config):
        return "global_avgpool", {"keepdims": bool(config.get("keepdims", False))}

    def _GlobalMaxPooling2D(self, config):
        return "global_maxpool", {"keepdims": bool(config.get("keepdims", False))}

    def _ZeroPadding2D(self, config):
        p = config.get("padding", 1)
        if isinstance(p, int):
            return "pad", {"padding": p}
        (t, b), (l, r) = (x if isinstance(x, list) else [x, x] for x in p)
        return "pad", {"padding": [t, b, l, r]}

    def _Cropping2D(self, config):
        (t, b), (l, r) = (x if isinstance(x, list) else [x, x] for x in config["cropping"])
        return "crop", {"cropping": [t, b, l, r]}

    def _UpSampling2D(self, config):
        return "upsample", {"scale": _one(config.get("size", 2))}

    def _Flatten(self, config):
        return "flatten", {}

    def _Dropout(self, config):
        return "dropout", {"rate": config.get("rate", 0.5)}

    _SpatialDropout2D = _Dropout

    def _Reshape(self, config):
        return "reshape", {"shape": list(config["target_shape"])}

    def _Add(self, config):
        return "add", {}

    def _Multiply(self, config):
        return "multiply", {}

    def _Concatenate(self, config):
        if config.get("axis", -1) not in (-1, 3):
            raise ValueError("Concatenate joins the channels only (axis -1)")
        return "concat", {}

    def _Rescaling(self, config):
        return "rescaling", {"scale": config.get("scale", 1.0),
                             "offset": config.get("offset", 0.0) or None}

    def _Normalization(self, config):
        axis = config.get("axis", -1)
        if axis not in (-1, 3, [-1], [3]):
            raise ValueError("Normalization over the channels only (axis -1)")
        return "normalization", {}

    def _Activation(self, config):
        act = self._act(config)
        return (act or "identity"), {}

    def _ReLU(self, config):
        max_value = config.get("max_value")
        slope = config.get("negative_slope", 0.0) or 0.0
        if config.get("threshold", 0.0):
            raise ValueError("threshold is not supported")
        if max_value == 6 and not slope:
            return "relu6", {}
        if max_value is None and not slope:
            return "relu", {}
        if max_value is None:
            return "leaky_relu", {"alpha": slope}
        raise ValueError(f"max_value {max_value} with negative_slope {slope} is not supported")

    def _LeakyReLU(self, config):
        return "leaky_relu", {"alpha": config.get("negative_slope", config.get("alpha", 0.3))}

    def _Softmax(self, config):
        return "softmax", {}

    def _ELU(self, config):
        return "elu", {}


def _histories(node: Any) -> list[list]:
    """The keras_history [layer, node, tensor] of each tensor a call takes: Keras 3's
    ``{"args": [...], "kwargs": {}}`` or Keras 2's ``[[layer, node, tensor, kwargs], ...]``."""
    found: list[list] = []

    def walk(value: Any, depth: int = 0) -> None:
        if depth > 20:
            return
        if isinstance(value, dict):
            if value.get("class_name") == "__keras_tensor__":
                hist = (value.get("config") or {}).get("keras_history")
                if isinstance(hist, list) and hist:
                    found.append(hist)
                return
            for key in ("args",):
                if key in value:
                    walk(value[key], depth + 1)
        elif isinstance(value, list):
            if len(value) >= 3 and isinstance(value[0], str) and isinstance(value[1], int):
                found.append(value)             # Keras 2
                return
            for v in value:
                walk(v, depth + 1)

    walk(node)
    return found


def _one(value: Any) -> Any:
    """3 or [3, 3] → 3; [3, 5] stays a list."""
    if isinstance(value, (list, tuple)):
        values = list(value)
        return values[0] if len(set(values)) == 1 else values
    return value
