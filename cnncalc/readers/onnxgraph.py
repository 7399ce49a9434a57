"""ONNX models → a cnncalc spec mapping, through the ``onnx`` package (``pip install
'cnncalc[onnx]'``).

The weights are never loaded. The file is memory-mapped and its protobuf walked just far enough
(:func:`strip_weights`) to copy the model without the data of its large initialisers: the graph,
the nodes and the initialisers' names, types and dimensions are all that is parsed. Weights in an
external ``.data`` file (torch's dynamo exporter) are not opened at all.

ONNX is NCHW; cnncalc is H×W×C, so a 4-D tensor ``N×C×H×W`` is the map ``H×W×C`` and a 2-D
``N×F`` the vector ``[F]``. Each node becomes one layer named after the node (``/layer1/
layer1.0/conv1/Conv`` → ``layer1/layer1_0/conv1/Conv``: a '.' separates paths in cnncalc).
Constant subgraphs (``Constant``, ``ConstantOfShape``, ``Concat``, ``Reshape``, ``Slice``,
``Transpose``, ``Cast``, …: how torch's exporter writes ``F.pad``'s amounts) are evaluated, since
the shapes after them depend on their values.

An eval-mode export folds each Conv → BatchNormalization pair into the convolution (with a bias),
so such a graph has fewer parameters than the PyTorch model it came from; its MACs are the same.
"""

from __future__ import annotations

import mmap
import re
from typing import Any

from ..errors import CnnCalcError
from ..limits import MAX_LAYERS, MAX_NAME_LENGTH, MAX_SPEC_BYTES
from ..source import LDict
from . import Source, entry, seq

INSTALL = "reading ONNX models needs the onnx package: pip install 'cnncalc[onnx]'"
KEEP_TENSOR_BYTES = 4096        # initialisers up to this size keep their data (shape constants)

SUPPORTED = ("Conv", "ConvTranspose", "Gemm", "MatMul", "MaxPool", "AveragePool",
             "GlobalAveragePool", "GlobalMaxPool", "Relu", "Clip", "Sigmoid", "HardSwish", "Add",
             "Mul", "Concat", "Flatten", "Reshape", "BatchNormalization", "Dropout", "Resize",
             "Pad", "ReduceMean")
# shape-preserving ops, each read as the cnncalc layer of the same meaning
ACTIVATIONS = {"Relu": "relu", "Sigmoid": "sigmoid", "HardSwish": "hardswish", "Tanh": "tanh",
               "HardSigmoid": "hardsigmoid", "Elu": "elu", "Selu": "selu", "Softplus": "softplus",
               "Mish": "mish", "Gelu": "gelu", "LeakyRelu": "leaky_relu"}
PASS_THROUGH = ("Identity", "Cast")         # no layer: the output is the input
ELEMENTWISE = {"Add": "add", "Mul": "multiply"}
WITH_A_CONSTANT = ("Add", "Mul", "Sub", "Div")  # an elementwise op with a constant: identity
CONSTANT_OPS = ("Constant", "ConstantOfShape", "Concat", "Reshape", "Slice", "Transpose", "Cast",
                "Unsqueeze", "Squeeze", "Gather", "Identity", "Add", "Sub", "Mul", "Div", "Range")


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise CnnCalcError(INSTALL) from None
    return onnx


# --- the protobuf walk: everything but the large initialisers' data ------------------------------

class _Bad(Exception):
    pass


def _varint(buf: Any, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end:
            raise _Bad("truncated")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise _Bad("a malformed number")


def _fields(buf: Any, start: int, end: int):
    """(field number, wire type, value start, value end, record start) of each field."""
    pos = start
    while pos < end:
        record = pos
        key, pos = _varint(buf, pos, end)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, pos2 = _varint(buf, pos, end)
        elif wire == 1:
            pos2 = pos + 8
        elif wire == 2:
            size, pos = _varint(buf, pos, end)
            pos2 = pos + size
        elif wire == 5:
            pos2 = pos + 4
        else:
            raise _Bad(f"wire type {wire}")
        if pos2 > end or field == 0:
            raise _Bad("truncated" if pos2 > end else "field 0")
        yield field, wire, pos, pos2, record
        pos = pos2


def _record(field: int, body: bytes) -> bytes:
    out = bytearray()
    key = (field << 3) | 2
    for value in (key, len(body)):
        while True:
            byte = value & 0x7F
            value >>= 7
            out.append(byte | (0x80 if value else 0))
            if not value:
                break
    return bytes(out) + body


TENSOR_DATA = (4, 5, 6, 7, 9, 10, 11)   # float, int32, string, int64, raw, double, uint64 data


def strip_weights(buf: Any) -> bytes:
    """The ModelProto bytes without the data of initialisers larger than KEEP_TENSOR_BYTES. The
    rest is copied as it is, up to MAX_SPEC_BYTES."""
    out = bytearray()

    def add(piece: bytes) -> None:
        out.extend(piece)
        if len(out) > MAX_SPEC_BYTES:
            raise _Bad(f"its graph without the weights is larger than {MAX_SPEC_BYTES >> 20} "
                       f"MiB, the limit (docs/LIMITS.md)")

    for field, wire, a, b, rec in _fields(buf, 0, len(buf)):
        if field != 7 or wire != 2:             # 7: the graph
            add(bytes(buf[rec:b]))
            continue
        graph = bytearray()
        for gfield, gwire, ga, gb, grec in _fields(buf, a, b):
            if gfield == 5 and gwire == 2 and gb - ga > KEEP_TENSOR_BYTES:    # an initializer
                kept = b"".join(bytes(buf[trec:tb]) for tf, _, _, tb, trec in _fields(buf, ga, gb)
                                if tf not in TENSOR_DATA)
                graph += _record(5, kept)
            else:
                graph += buf[grec:gb]
            if len(graph) > MAX_SPEC_BYTES:
                add(bytes(graph))
        add(_record(7, bytes(graph)))
    return bytes(out)


def load_model(src: Source) -> Any:
    onnx = _onnx()
    try:
        if not src.mappable():
            stripped = strip_weights(memoryview(src.read()))
        else:
            assert src.path is not None
            with src.path.open("rb") as fh:
                try:
                    buf = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
                except ValueError:          # an empty file
                    raise _Bad("the file is empty") from None
                try:
                    stripped = strip_weights(buf)
                finally:
                    buf.close()
    except OSError as e:
        raise CnnCalcError(f"cannot read it as an ONNX model: {e.strerror or e}",
                           file=src.label) from None
    except _Bad as e:
        raise CnnCalcError(f"not a valid ONNX model ({e})", file=src.label) from None
    model = onnx.ModelProto()
    try:
        model.ParseFromString(stripped)
    except Exception as e:        # google.protobuf's DecodeError, RecursionError, ...
        raise CnnCalcError(f"not a valid ONNX model ({type(e).__name__}: "
                           f"{str(e)[:80] or 'cannot parse'})", file=src.label) from None
    if not model.HasField("graph") or not model.graph.node:
        raise CnnCalcError("not a valid ONNX model (no graph nodes)", file=src.label)
    return model


# --- the graph -----------------------------------------------------------------------------------

def read(src: Source) -> dict:
    model = load_model(src)
    return _Converter(model, src.label, src.stem).convert()


class _Converter:
    def __init__(self, model: Any, label: str, stem: str):
        from onnx import helper, numpy_helper
        self.helper = helper
        self.numpy_helper = numpy_helper
        self.model = model
        self.graph = model.graph
        self.label = label
        self.stem = stem
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                          0)
        self.dims: dict[str, list[int]] = {}          # initialiser → its dimensions
        self.consts: dict[str, Any] = {}              # constant tensor → its NumPy value
        self.refs: dict[str, tuple[str, int]] = {}    # data tensor → (cnncalc name, ONNX rank)
        self.layers = seq(line=None)
        self.names: set[str] = {"input"}
        self.last: str | None = None                  # the layer emitted last

    def error(self, message: str, node: Any = None) -> CnnCalcError:
        if node is None:
            return CnnCalcError(message, file=self.label)
        return CnnCalcError(message, file=self.label, name=node.name or None,
                            type=node.op_type)

    def convert(self) -> dict:
        for t in self.graph.initializer:
            self.dims[t.name] = list(t.dims)
            kept = t.raw_data or t.float_data or t.int64_data or t.int32_data or t.double_data
            if kept and t.data_location != 1:       # small ones keep their data: shape constants
                self.consts[t.name] = self.numpy_helper.to_array(t)
        doc = LDict(name=self.stem,
                    description=f"ONNX {self.label.rsplit('/', 1)[-1]} (opset {self.opset}"
                                + (f", {self.model.producer_name}"
                                   if self.model.producer_name else "") + ")")
        shape = self.input_shape()
        if shape is not None:
            doc["input"] = shape
        if len(self.graph.node) > MAX_LAYERS:
            raise self.error(f"more than {MAX_LAYERS:,} nodes (docs/LIMITS.md)")
        for node in self.graph.node:
            if node.domain not in ("", "ai.onnx"):
                raise self.error(f"operator domain {node.domain!r} is not supported", node)
            if self.constant(node):
                continue
            self.data_node(node)
        if not self.layers:
            raise self.error("the graph has no layers (every node is a constant)")
        doc["layers"] = self.layers
        return doc

    def input_shape(self) -> list[int] | None:
        inputs = [i for i in self.graph.input if i.name not in self.dims]
        if len(inputs) != 1:
            raise self.error(f"the graph has {len(inputs)} data inputs; cnncalc reads models "
                             f"with one")
        value = inputs[0]
        dims = [d.dim_value if d.HasField("dim_value") else None
                for d in value.type.tensor_type.shape.dim]
        rank = len(dims)
        self.refs[value.name] = ("input", rank)
        if rank == 4:
            n, c, h, w = dims
            if c is None:
                raise self.error(f"input {value.name!r} has no fixed channel count")
            return [h, w, c] if h and w else None       # None: give --input
        if rank == 2 and dims[1]:
            return [dims[1]]
        raise self.error(f"input {value.name!r} has shape {dims}; cnncalc reads N×C×H×W images "
                         f"or N×F vectors")

    # -- constants --
    def constant(self, node: Any) -> bool:
        """Evaluate a node whose inputs are all constants; False if it is a data node."""
        if node.op_type not in CONSTANT_OPS:
            return False
        ins = [i for i in node.input if i]
        if any(i not in self.consts for i in ins):
            return False
        import numpy as np
        try:
            values = [self.consts[i] for i in ins]
            out = _evaluate(node, values, self.attrs(node), self.numpy_helper, np)
        except CnnCalcError:
            raise
        except Exception as e:
            raise self.error(f"cannot evaluate this constant: {type(e).__name__}: {e}"[:200],
                             node) from None
        if out is None:
            return False
        if np.size(out) > 1_000_000:
            raise self.error("a constant of more than a million values", node)
        self.consts[node.output[0]] = out
        return True

    def attrs(self, node: Any) -> dict[str, Any]:
        out = {}
        for a in node.attribute:
            if a.type in (4, 9):        # TENSOR, TENSORS
                out[a.name] = self.numpy_helper.to_array(a.t) if a.type == 4 else None
            else:
                out[a.name] = self.helper.get_attribute_value(a)
        return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in out.items()}

    def const(self, node: Any, position: int, what: str, default: Any = None) -> Any:
        name = node.input[position] if len(node.input) > position else ""
        if not name:
            return default
        if name not in self.consts:
            raise self.error(f"{what} ({name!r}) must be a constant", node)
        return self.consts[name]

    # -- data nodes --
    def name(self, node: Any) -> str:
        raw = node.name or f"{node.op_type}_{len(self.layers) + 1}"
        base = re.sub(r"\.", "_", raw.lstrip("/"))[:MAX_NAME_LENGTH - 8] or node.op_type
        name, n = base, 1
        while name in self.names:
            n += 1
            name = f"{base}_{n}"
        self.names.add(name)
        return name

    def data(self, node: Any) -> list[tuple[str, int]]:
        """The (layer name, rank) of each data input; constants are left out."""
        out = []
        for i in node.input:
            if not i or i in self.consts or i in self.dims:
                continue
            if i not in self.refs:
                raise self.error(f"input {i!r} comes from no earlier node", node)
            out.append(self.refs[i])
        return out

    def emit(self, node: Any, kind: str, rank: int, sources: list[str], **params: Any) -> None:
        name = self.name(node)
        if sources != ([self.last] if self.last else ["input"]):
            params["from"] = sources[0] if len(sources) == 1 else sources
        self.layers.append(entry(kind, None, **params, name=name))
        self.last = name
        for out in node.output[:1]:
            self.refs[out] = (name, rank)

    def data_node(self, node: Any) -> None:
        op = node.op_type
        ins = self.data(node)
        if not ins:
            raise self.error("a node with no data input that cannot be evaluated", node)
        a = self.attrs(node)
        rank = ins[0][1]
        sources = [n for n, _ in ins]
        if op in PASS_THROUGH:
            self.refs[node.output[0]] = ins[0]
            return
        if op == "Concat" and len(ins) >= 2:
            self.concat(node, a, ins)
            return
        if op in ("Add", "Mul") and len(ins) == 2:
            self.emit(node, ELEMENTWISE[op], max(r for _, r in ins), sources)
            return
        if op in WITH_A_CONSTANT and len(ins) == 1:
            self.emit(node, "identity", rank, sources)          # x + b, x · s: same shape
            return
        if op in ACTIVATIONS:
            params: dict[str, Any] = {}
            if op == "LeakyRelu":
                params["alpha"] = float(a.get("alpha", 0.01))
            self.emit(node, ACTIVATIONS[op], rank, sources, **params)
            return
        handler = getattr(self, "_" + op, None)
        if handler is None or len(ins) != 1:
            raise self.error(f"operator {op} is not supported"
                             + (" with these inputs" if handler else "")
                             + f"; supported: {', '.join(SUPPORTED)} and the shape-preserving "
                             f"{', '.join([*ACTIVATIONS, *PASS_THROUGH])}", node)
        handler(node, a, rank, sources)

    def spatial(self, node: Any, rank: int) -> None:
        if rank != 4:
            raise self.error(f"{node.op_type} needs an N×C×H×W input (rank 4), got rank {rank}",
                             node)

    def window(self, node: Any, a: dict) -> dict[str, Any]:
        """kernel/stride/padding/dilation of a conv or pool node, in cnncalc's terms."""
        auto = a.get("auto_pad", "NOTSET")
        pads = a.get("pads", [0, 0, 0, 0])
        if len(pads) != 4:
            raise self.error(f"pads {pads} are not 2-D", node)
        if auto in ("SAME_UPPER",):
            padding: Any = "same"
        elif auto == "VALID":
            padding = None
        elif auto == "SAME_LOWER":
            raise self.error("auto_pad SAME_LOWER is not supported", node)
        else:
            t, l, b, r = pads
            padding = None if not any(pads) else t if t == l == b == r else [t, b, l, r]
        strides = a.get("strides", [1, 1])
        dil = a.get("dilations", [1, 1])
        return {"stride": None if strides == [1, 1] else _one(strides), "padding": padding,
                "dilation": None if dil == [1, 1] else _one(dil)}

    def weight(self, node: Any, position: int, rank: int) -> list[int]:
        name = node.input[position] if len(node.input) > position else ""
        if name in self.dims:
            dims = self.dims[name]
        elif name in self.consts:
            dims = list(self.consts[name].shape)
        else:
            raise self.error(f"its weight {name!r} must be an initializer", node)
        if len(dims) != rank:
            raise self.error(f"its weight has shape {dims}, expected rank {rank}", node)
        return dims

    def has_bias(self, node: Any) -> bool:
        return len(node.input) > 2 and bool(node.input[2])

    def _Conv(self, node, a, rank, sources):
        self.spatial(node, rank)
        k, cg, kh, kw = self.weight(node, 1, 4)
        win = self.window(node, a)
        self.emit(node, "conv", 4, sources, filters=k, kernel=_one([kh, kw]),
                  **win,
                  groups=a.get("group", 1) if a.get("group", 1) != 1 else None,
                  bias=None if self.has_bias(node) else False)

    def _ConvTranspose(self, node, a, rank, sources):
        self.spatial(node, rank)
        if a.get("output_shape"):
            raise self.error("output_shape is not supported (give pads)", node)
        cin, kg, kh, kw = self.weight(node, 1, 4)
        g = a.get("group", 1)
        win = self.window(node, a)
        op = a.get("output_padding", [0, 0])
        self.emit(node, "conv_transpose", 4, sources, filters=kg * g, kernel=_one([kh, kw]),
                  **win,
                  output_padding=None if not any(op) else _one(op),
                  groups=g if g != 1 else None, bias=None if self.has_bias(node) else False)

    def _pool(self, node, a, rank, sources, kind):
        self.spatial(node, rank)
        if a.get("dilations", [1, 1]) != [1, 1]:
            raise self.error("dilated pooling is not supported", node)
        win = self.window(node, {**a, "dilations": [1, 1]})
        params = dict(size=_one(a["kernel_shape"]), stride=win["stride"] or 1,
                      padding=win["padding"], ceil_mode=True if a.get("ceil_mode") else None)
        if kind == "avgpool" and not a.get("count_include_pad", 0) and win["padding"]:
            params["count_include_pad"] = False
        self.emit(node, kind, 4, sources, **params)

    def _MaxPool(self, node, a, rank, sources):
        if len(node.output) > 1 and node.output[1]:
            raise self.error("MaxPool's indices output is not supported", node)
        self._pool(node, a, rank, sources, "maxpool")

    def _AveragePool(self, node, a, rank, sources):
        self._pool(node, a, rank, sources, "avgpool")

    def _GlobalAveragePool(self, node, a, rank, sources):
        self.spatial(node, rank)
        self.emit(node, "global_avgpool", 4, sources)

    def _GlobalMaxPool(self, node, a, rank, sources):
        self.spatial(node, rank)
        self.emit(node, "global_maxpool", 4, sources)

    def _ReduceMean(self, node, a, rank, sources):
        axes = a.get("axes")
        if axes is None:
            axes = self.const(node, 1, "axes")
            axes = None if axes is None else [int(v) for v in axes]
        if rank != 4 or axes is None or sorted(x % 4 for x in axes) != [2, 3]:
            raise self.error("ReduceMean is supported over H and W (axes 2, 3) only", node)
        keep = bool(a.get("keepdims", 1))
        self.emit(node, "global_avgpool", 4 if keep else 2, sources,
                  keepdims=None if keep else False)

    def _Flatten(self, node, a, rank, sources):
        if a.get("axis", 1) != 1:
            raise self.error(f"Flatten axis {a.get('axis')} is not supported (only 1)", node)
        self.emit(node, "flatten", 2, sources)

    def _Reshape(self, node, a, rank, sources):
        target = [int(v) for v in self.const(node, 1, "the target shape")]
        if len(target) < 2 or target[0] not in (0, 1, -1):
            raise self.error(f"Reshape to {target}: the first dimension must stay the batch",
                             node)
        rest = target[1:]
        if 0 in rest:
            raise self.error(f"Reshape to {target}: 0 (copy a dimension) is supported for the "
                             f"batch only", node)
        if len(rest) == 1 and rank == 4 and rest[0] == -1:
            self.emit(node, "flatten", 2, sources)
            return
        shape = [rest[1], rest[2], rest[0]] if len(rest) == 3 else rest   # C, H, W → H, W, C
        self.emit(node, "reshape", len(target), sources, shape=shape)

    def _Gemm(self, node, a, rank, sources):
        if rank != 2:
            raise self.error(f"Gemm needs an N×F input, got rank {rank} (flatten first)", node)
        if a.get("transA", 0):
            raise self.error("Gemm with transA is not supported", node)
        rows, cols = self.weight(node, 1, 2)
        units = rows if a.get("transB", 0) else cols
        self.emit(node, "dense", 2, sources, units=units,
                  bias=None if self.has_bias(node) else False)

    def _MatMul(self, node, a, rank, sources):
        if rank == 4:
            raise self.error("MatMul on an N×C×H×W map is not supported", node)
        k, m = self.weight(node, 1, 2)
        self.emit(node, "dense", rank, sources, units=m, bias=False)

    def concat(self, node: Any, a: dict, ins: list[tuple[str, int]]) -> None:
        rank = ins[0][1]
        axis = a.get("axis", 1)
        if (rank == 4 and axis % 4 != 1) or (rank != 4 and axis % rank != rank - 1):
            raise self.error(f"Concat along axis {axis} is not supported (only the channels)",
                             node)
        self.emit(node, "concat", rank, [n for n, _ in ins])

    def _BatchNormalization(self, node, a, rank, sources):
        eps = float(a.get("epsilon", 1e-5))
        self.emit(node, "batchnorm", rank, sources, epsilon=None if eps == 1e-5 else eps)

    def _Dropout(self, node, a, rank, sources):
        ratio = a.get("ratio")
        if ratio is None:
            ratio = self.const(node, 1, "ratio", 0.5)
        self.emit(node, "dropout", rank, sources, rate=round(float(ratio), 6))

    def _Clip(self, node, a, rank, sources):
        lo = a.get("min", self.const(node, 1, "min"))
        hi = a.get("max", self.const(node, 2, "max"))
        lo = None if lo is None else float(lo)
        hi = None if hi is None else float(hi)
        if lo == 0 and hi == 6:
            kind = "relu6"
        elif lo == 0 and hi is None:
            kind = "relu"
        else:
            raise self.error(f"Clip to [{lo}, {hi}] is not supported (only ReLU6 and ReLU)",
                             node)
        self.emit(node, kind, rank, sources)

    def _Pad(self, node, a, rank, sources):
        self.spatial(node, rank)
        pads = a.get("pads")
        if pads is None:
            pads = self.const(node, 1, "pads")
        pads = [int(v) for v in pads]
        if len(pads) != 8 or pads[0] or pads[1] or pads[4] or pads[5] or min(pads) < 0:
            raise self.error(f"pads {pads}: only non-negative padding of H and W is supported",
                             node)
        self.emit(node, "pad", 4, sources, padding=[pads[2], pads[6], pads[3], pads[7]])

    def _Resize(self, node, a, rank, sources):
        self.spatial(node, rank)
        position = 1 if self.opset < 11 else 2
        scales = self.const(node, position, "scales")
        if scales is None or len(scales) == 0:
            raise self.error("Resize to given sizes is not supported, only by scales", node)
        sh, sw = (float(v) for v in scales[2:4])
        if list(scales[:2]) != [1, 1] or not sh.is_integer() or not sw.is_integer() or \
                sh < 1 or sw < 1:
            raise self.error(f"Resize by {list(map(float, scales))}: only whole scale factors "
                             f"of H and W are supported", node)
        self.emit(node, "upsample", 4, sources, scale=_one([int(sh), int(sw)]))


def _one(values: list[int]) -> Any:
    """[3, 3] → 3; [3, 5] stays."""
    values = [int(v) for v in values]
    return values[0] if len(set(values)) == 1 else values


def _evaluate(node: Any, values: list[Any], a: dict, numpy_helper: Any, np: Any) -> Any:
    """NumPy value of a constant node, or None if it is not one this reader evaluates."""
    op = node.op_type
    if op == "Constant":
        if "value" in a:
            return a["value"]
        for key in ("value_int", "value_float"):
            if key in a:
                return np.array(a[key])
        for key in ("value_ints", "value_floats"):
            if key in a:
                return np.array(a[key])
        return None
    if op == "ConstantOfShape":
        fill = a.get("value")
        fill = np.zeros(1, np.float32) if fill is None else fill
        return np.full([int(v) for v in values[0]], fill.reshape(-1)[0], fill.dtype)
    if op == "Concat":
        return np.concatenate(values, axis=a.get("axis", 0))
    if op == "Reshape":
        return values[0].reshape([int(v) for v in values[1]])
    if op == "Slice":
        data = values[0]
        starts, ends = values[1], values[2]
        axes = values[3] if len(values) > 3 else range(len(starts))
        steps = values[4] if len(values) > 4 else [1] * len(starts)
        index = [slice(None)] * data.ndim
        for s, e, ax, st in zip(starts, ends, axes, steps):
            index[int(ax)] = slice(int(s), int(e), int(st))
        return data[tuple(index)]
    if op == "Transpose":
        return np.transpose(values[0], a.get("perm"))
    if op == "Cast":
        from onnx import helper
        return values[0].astype(helper.tensor_dtype_to_np_dtype(a["to"]))
    if op in ("Unsqueeze", "Squeeze"):
        axes = a.get("axes", [int(v) for v in values[1]] if len(values) > 1 else None)
        if op == "Unsqueeze":
            out = values[0]
            for ax in sorted(axes or ()):
                out = np.expand_dims(out, ax)
            return out
        return np.squeeze(values[0], axis=None if axes is None else tuple(axes))
    if op == "Gather":
        return np.take(values[0], values[1], axis=a.get("axis", 0))
    if op == "Identity":
        return values[0]
    if op in ("Add", "Sub", "Mul", "Div"):
        fn = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op]
        return fn(values[0], values[1])
    if op == "Range":
        return np.arange(values[0], values[1], values[2])
    return None


