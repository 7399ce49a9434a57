"""Small ONNX fixtures: hand-made conv nets, one dynamo export, graph-only zoo models.

Writes ``tests/data/onnx/*.onnx`` (+ one ``.onnx.data``), ``tests/data/onnx/expected.json``
and ``tests/data/onnx/README.md``.

Needs a virtualenv OUTSIDE the repo with torch, torchvision, onnx and onnxscript (the dynamo
exporter needs onnxscript); no weights are downloaded::

    python3 -m venv /work/venv-ref
    /work/venv-ref/bin/pip install torch==2.14.1 torchvision==0.29.1 onnx onnxscript
    /work/venv-ref/bin/python tools/reference/onnx_fixtures.py

Deterministic: every model is built after ``torch.manual_seed(0)`` and the exporters write the
same bytes for the same torch / onnx versions (re-running rewrites identical files; the
``producer_version`` field of each file names the torch version).

What is written:

1. ``tiny_*_opset{13,17}.onnx``: hand-made nets exported with the TorchScript exporter
   (``torch.onnx.export(..., dynamo=False)``), input ``input`` 1x3x32x32, weights inline
   (a few KB each). Between them they hold Conv, ConvTranspose, Gemm, MatMul, MaxPool,
   AveragePool, GlobalAveragePool, Relu, Clip, Sigmoid, HardSwish (opset 17; at opset 13 torch
   writes HardSigmoid + Mul), Add, Mul, Concat, Flatten, Reshape, BatchNormalization, Dropout,
   Resize and Pad nodes. In eval mode the exporter folds a BatchNormalization that follows a
   Conv into the Conv's weights and drops Dropout, so: ``tiny_cnn`` keeps one BN (after a
   MaxPool, nothing to fold into); ``tiny_bn_nofold`` is exported with
   ``do_constant_folding=False`` and keeps its Conv -> BatchNormalization pairs;
   ``tiny_dropout_train`` is exported from train mode with
   ``training=torch.onnx.TrainingMode.TRAINING`` and keeps its Dropout node.
2. ``tiny_dynamo.onnx`` + ``tiny_dynamo.onnx.data``: a small net exported with the dynamo
   exporter (``torch.onnx.export(..., dynamo=True)``), saved with
   ``ONNXProgram.save(path, external_data=True)`` (the larger initializers go to the .data
   file, which is kept; the nodes' ``pkg.torch.onnx.stack_trace`` metadata, which holds
   absolute paths, is removed).
3. ``{resnet18,mobilenet_v2,vgg16,squeezenet1_1}_graph.onnx``: torchvision models
   (``weights=None``, eval) exported with the TorchScript exporter at opset 17, 1x3x224x224,
   input ``input``, output ``output`` (parameters and BN statistics first set to distinct
   random values, see ``randomise_all``, so no Identity nodes appear), then stripped: every
   float initializer is moved to external data
   (``onnx.external_data_helper.convert_model_to_external_data`` with ``size_threshold=0``,
   then ``onnx.save(..., save_as_external_data=True)``) and the ``.data`` file is deleted.
   The fixture keeps the graph and each initializer's name, dims, data_type and
   external-data entry (location, offset, length); load it with
   ``onnx.load(path, load_external_data=False)``. (These graphs have no non-float
   initializers; any would be kept inline and listed as ``inline_initializers``.)

Every file is checked with ``onnx.load(path, load_external_data=False)`` and
``onnx.checker.check_model`` and its output shape with ``onnx.shape_inference``.
``expected.json`` holds, per file: exporter, opset, input and output shapes (cnncalc's
``[h, w, c]`` / ``[n]``), trainable parameters and BN running-stat values of the torch model,
its MACs (Conv/ConvTranspose/Linear calls, cnncalc convention, bias excluded; MatMul against
a weight = rows * in * out, counted in ``macs`` too), the MACs recomputed from the ONNX graph
(Conv: out_h*out_w*weight numel; ConvTranspose: in_h*in_w*weight numel; Gemm/MatMul with a
weight initializer: rows*in*out), and the count of each op type in the graph.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as F
import torchvision
from onnx import external_data_helper, shape_inference
from torch import nn

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "data" / "onnx"


# --------------------------------------------------------------------------- tiny models
class TinyCNN(nn.Module):
    """Conv+BN(folded)+Relu, MaxPool, BN kept, Conv+ReLU6 (Clip), AveragePool, SE block
    (GlobalAveragePool, Conv, Relu, Conv, Sigmoid, Mul), residual Add, depthwise Conv +
    Hardswish, Concat of two branches, GlobalAveragePool, Flatten, Gemm."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.bn_pool = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.se_reduce = nn.Conv2d(16, 4, 1)
        self.se_expand = nn.Conv2d(4, 16, 1)
        self.dw = nn.Conv2d(16, 16, 3, stride=2, padding=1, groups=16)
        self.pw = nn.Conv2d(16, 8, 1)
        self.fc = nn.Linear(24, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))            # 32x32x8
        x = F.max_pool2d(x, 2)                          # 16x16x8
        x = self.bn_pool(x)                             # BN with no conv before it: kept
        x = F.relu6(self.conv2(x))                      # 16x16x16, Clip
        x = F.avg_pool2d(x, 2)                          # 8x8x16
        s = F.adaptive_avg_pool2d(x, 1)
        s = torch.sigmoid(self.se_expand(F.relu(self.se_reduce(s))))
        x = x + x * s                                   # Mul, Add
        a = F.hardswish(self.dw(x))                     # 4x4x16
        b = F.relu(self.pw(a))                          # 4x4x8
        x = torch.cat([a, b], dim=1)                    # 4x4x24
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)                               # [10]


class TinyBN(nn.Module):
    """Conv -> BN -> Relu twice, exported with do_constant_folding=False so both BNs stay."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))             # 16x16x8
        x = F.relu(self.bn2(self.conv2(x)))             # 16x16x16
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


class TinyDecoder(nn.Module):
    """Conv stride 2, ConvTranspose, Pad, Resize (nearest x2), Reshape, MatMul with a weight."""

    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Conv2d(3, 8, 3, stride=2, padding=1)        # 16x16x8
        self.up = nn.ConvTranspose2d(8, 4, 2, stride=2)            # 32x32x4
        self.conv = nn.Conv2d(4, 4, 3)                             # pad 1 first: 32x32x4
        self.head = nn.Conv2d(4, 2, 1)                             # after resize: 64x64x2
        self.proj = nn.Parameter(torch.randn(64, 6) * 0.1)         # MatMul weight

    def forward(self, x):
        x = F.relu(self.down(x))
        x = F.relu(self.up(x))
        x = F.pad(x, (1, 1, 1, 1), mode="constant", value=0.0)     # Pad: 34x34x4
        x = self.conv(x)                                           # 32x32x4
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")     # Resize: 64x64x4
        x = self.head(x)                                           # 64x64x2
        x = x.reshape(1, 2 * 64, 64)                               # Reshape: [128, 64]
        return torch.matmul(x, self.proj)                          # MatMul: [128, 6]


class TinyDropout(nn.Module):
    """Conv, Relu, Dropout (kept: exported in training mode), GlobalAveragePool, Gemm."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.drop = nn.Dropout(0.25)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = self.drop(F.relu(self.conv(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class TinyDynamo(nn.Module):
    """Small net for the dynamo exporter: Conv+BN+Relu, MaxPool, Conv+Relu, pool, Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.relu(self.conv2(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def randomise_bn(model: nn.Module) -> None:
    """Give BN layers distinct statistics (identical ones make the exporter dedupe them into
    Identity nodes, and a fixture with ones/zeros hides mistakes)."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            with torch.no_grad():
                m.weight.copy_(1 + 0.1 * torch.randn(n, generator=g))
                m.bias.copy_(0.1 * torch.randn(n, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(n, generator=g))
                m.running_var.copy_(1 + 0.1 * torch.rand(n, generator=g))


def randomise_all(model: nn.Module) -> None:
    """Distinct random values in every parameter and BN statistic of an untrained zoo model:
    with torchvision's init many tensors are equal (zero biases, BN ones/zeros, so zero
    folded biases) and the exporter dedupes equal initializers into Identity nodes, which an
    export of trained weights does not have. Shapes and counts are unchanged."""
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.01 * torch.randn(p.shape, generator=g))
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))


# --------------------------------------------------------------------------- figures
def hwc(shape) -> list[int]:
    s = list(shape)[1:]
    if len(s) == 3:
        c, h, w = s
        return [h, w, c]
    return s


def torch_figures(model: nn.Module, x: torch.Tensor) -> dict:
    macs = 0

    def hook(mod, args, out):
        nonlocal macs
        if isinstance(mod, nn.Linear):
            macs += math.prod(args[0].shape[1:-1]) * mod.in_features * mod.out_features
        elif isinstance(mod, nn.ConvTranspose2d):
            macs += args[0].shape[2] * args[0].shape[3] * mod.weight.numel()
        else:
            macs += out.shape[2] * out.shape[3] * mod.weight.numel()

    hs = [m.register_forward_hook(hook) for m in model.modules()
          if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    with torch.no_grad():
        out = model(x)
    for h in hs:
        h.remove()
    if isinstance(model, TinyDecoder):       # the MatMul against self.proj: rows * in * out
        macs += 128 * 64 * 6
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    non_trainable = sum(m.running_mean.numel() + m.running_var.numel()
                        for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    return {"output": hwc(out.shape), "trainable": trainable, "non_trainable": non_trainable,
            "macs": macs}


def value_shapes(model: onnx.ModelProto, run: bool) -> dict[str, list[int]]:
    """Every value's shape: by running the model on zeros with onnx's reference evaluator
    (``run``: the weights are inline), else by onnx shape inference (graph-only files; it
    cannot see through the constant subgraph torch writes for Pad's pads, so only files
    without Pad are checked this way)."""
    if run:
        from onnx.reference import ReferenceEvaluator
        probe = onnx.ModelProto()
        probe.CopyFrom(model)
        names = [o for n in probe.graph.node for o in n.output if o]
        del probe.graph.output[:]
        probe.graph.output.extend(onnx.helper.make_empty_tensor_value_info(o) for o in names)
        inp = model.graph.input[0]
        dims = [d.dim_value for d in inp.type.tensor_type.shape.dim]
        values = ReferenceEvaluator(probe).run(None, {inp.name: np.zeros(dims, np.float32)})
        shapes = {n: list(v.shape) for n, v in zip(names, values)}
        shapes[inp.name] = dims
        return shapes
    inferred = shape_inference.infer_shapes(model)
    shapes = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + \
            list(inferred.graph.output):
        shapes[vi.name] = [d.dim_value for d in vi.type.tensor_type.shape.dim]
    return shapes


def onnx_macs(model: onnx.ModelProto, run: bool = True) -> int:
    """MACs recomputed from the ONNX graph alone."""
    shapes = value_shapes(model, run)
    inits = {i.name: list(i.dims) for i in model.graph.initializer}
    total = 0
    for n in model.graph.node:
        if n.op_type == "Conv":
            out = shapes[n.output[0]]
            total += out[2] * out[3] * math.prod(inits[n.input[1]])
        elif n.op_type == "ConvTranspose":
            inp = shapes[n.input[0]]
            total += inp[2] * inp[3] * math.prod(inits[n.input[1]])
        elif n.op_type in ("Gemm", "MatMul") and n.input[1] in inits:
            inp = shapes[n.input[0]]
            k, m = inits[n.input[1]]
            trans_b = any(a.name == "transB" and a.i for a in n.attribute)
            out_features = k if trans_b else m
            total += math.prod(inp[:-1]) * inp[-1] * out_features
    return total


def check(path: Path, expect_output: list[int]) -> onnx.ModelProto:
    """onnx.load without external data, onnx.checker, and the output shape by inference.

    The checker insists that an external-data file exists (relative to the model's folder,
    or to the working directory for a ModelProto). A graph-only fixture's .data file is not
    kept, so it is checked in a temporary folder beside a sparse placeholder of the right
    length: the graph and the initializers' metadata are checked, not the (absent) weights.
    """
    model = onnx.load(str(path), load_external_data=False)
    ends: dict[str, int] = {}
    for init in model.graph.initializer:
        if init.data_location == onnx.TensorProto.EXTERNAL:
            info = {e.key: e.value for e in init.external_data}
            end = int(info.get("offset", 0)) + int(info["length"])
            ends[info["location"]] = max(ends.get(info["location"], 0), end)
    if not ends:
        onnx.checker.check_model(model)
    elif all((path.parent / loc).exists() for loc in ends):
        onnx.checker.check_model(str(path))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copy(path, tmp)
            for loc, end in ends.items():
                with open(Path(tmp) / loc, "wb") as f:
                    f.truncate(end)
            onnx.checker.check_model(str(Path(tmp) / path.name))
    inferred = shape_inference.infer_shapes(model, strict_mode=True)
    out = [d.dim_value for d in inferred.graph.output[0].type.tensor_type.shape.dim]
    assert hwc(out) == expect_output, (path.name, out, expect_output)
    return model


def record(path: Path, model: onnx.ModelProto, figures: dict, run: bool = True,
           **extra) -> dict:
    ops = Counter(n.op_type for n in model.graph.node)
    inp = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    files = sorted(p.name for p in OUT.iterdir() if p.name.startswith(path.name))
    return {"file": path.name, **extra,
            "opset": next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
            "input_name": model.graph.input[0].name, "input": hwc(inp),
            **figures, "onnx_macs": onnx_macs(model, run),
            "bytes": sum((OUT / f).stat().st_size for f in files),
            "initializers": len(model.graph.initializer),
            "initializer_values": sum(math.prod(i.dims) for i in model.graph.initializer),
            "ops": dict(sorted(ops.items()))}


# --------------------------------------------------------------------------- exports
def export_ts(model, x, path: Path, opset: int, **kw) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(path), opset_version=opset, dynamo=False,
                          input_names=["input"], output_names=["output"], **kw)


def tiny(records: list) -> None:
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    specs = [
        ("tiny_cnn", TinyCNN, {}, "eval"),
        ("tiny_bn_nofold", TinyBN, {"do_constant_folding": False}, "eval"),
        ("tiny_decoder", TinyDecoder, {}, "eval"),
        ("tiny_dropout_train", TinyDropout, {"training": torch.onnx.TrainingMode.TRAINING},
         "train"),
    ]
    for name, cls, kw, mode in specs:
        for opset in (13, 17):
            torch.manual_seed(0)
            model = cls()
            randomise_bn(model)
            model.train(mode == "train")
            figures = torch_figures(model.eval(), x)
            model.train(mode == "train")
            path = OUT / f"{name}_opset{opset}.onnx"
            export_ts(model, x, path, opset, **kw)
            proto = check(path, figures["output"])
            how = "TorchScript exporter (dynamo=False)" + "".join(
                f", {k}={v!s}" for k, v in kw.items())
            records.append(record(path, proto, figures, exporter=how, mode=mode,
                                  description=" ".join((cls.__doc__ or "").split())))
            assert records[-1]["onnx_macs"] == figures["macs"], records[-1]


def dynamo(records: list) -> None:
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = TinyDynamo()
    randomise_bn(model)
    model.eval()
    figures = torch_figures(model, x)
    path = OUT / "tiny_dynamo.onnx"
    data = OUT / "tiny_dynamo.onnx.data"
    for p in (path, data):
        p.unlink(missing_ok=True)
    import contextlib
    import io
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model, (x,), dynamo=True, opset_version=18,
                                    input_names=["input"], output_names=["output"])
        program.save(str(path), external_data=True)
    assert data.exists(), "the dynamo export wrote no external data file"
    # The dynamo exporter stores each node's Python stack trace (absolute paths and line
    # numbers of this script and of the venv) in metadata_props: drop that one key so the
    # file does not depend on where it was made. The .data file is left as torch wrote it.
    proto = onnx.load(str(path), load_external_data=False)
    for node in proto.graph.node:
        keep = [p for p in node.metadata_props if p.key != "pkg.torch.onnx.stack_trace"]
        del node.metadata_props[:]
        node.metadata_props.extend(keep)
    onnx.save(proto, str(path))
    proto = check(path, figures["output"])
    full = onnx.load(str(path))                   # with its .data: the whole model loads
    onnx.checker.check_model(full, full_check=True)
    external = [i.name for i in proto.graph.initializer
                if i.data_location == onnx.TensorProto.EXTERNAL]
    records.append(record(path, full, figures,
                          exporter="dynamo exporter (dynamo=True), "
                                   "ONNXProgram.save(path, external_data=True)",
                          mode="eval", description=" ".join(TinyDynamo.__doc__.split()),
                          external_data="tiny_dynamo.onnx.data (kept)",
                          external_initializers=external))
    assert records[-1]["onnx_macs"] == figures["macs"], records[-1]


def graph_only(records: list) -> None:
    x = torch.zeros(1, 3, 224, 224)
    for name in ("resnet18", "mobilenet_v2", "vgg16", "squeezenet1_1"):
        torch.manual_seed(0)
        model = torchvision.models.get_model(name, weights=None).eval()
        randomise_all(model)
        figures = torch_figures(model, x)
        path = OUT / f"{name}_graph.onnx"
        export_ts(model, x, path, 17)
        proto = onnx.load(str(path))
        data_name = f"{name}_graph.onnx.data"
        kept_inline = []
        for init in proto.graph.initializer:       # every float tensor goes external
            if init.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16,
                                  onnx.TensorProto.DOUBLE):
                external_data_helper.set_external_data(init, location=data_name)
            else:
                kept_inline.append(init.name)
        # the helper's own call, threshold 0, for whatever is still inline and float
        external_data_helper.convert_model_to_external_data(
            proto, all_tensors_to_one_file=True, location=data_name, size_threshold=0,
            convert_attribute=False)
        for init in proto.graph.initializer:
            if init.name in kept_inline:
                init.data_location = onnx.TensorProto.DEFAULT
                del init.external_data[:]
        onnx.save(proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                  location=data_name, size_threshold=0)
        data = OUT / data_name
        weight_bytes = data.stat().st_size
        data.unlink()
        proto = check(path, figures["output"])
        records.append(record(path, proto, figures, run=False, exporter="TorchScript exporter "
                              "(dynamo=False), weights stripped (external data not kept)",
                              mode="eval", description=f"torchvision {name} graph only",
                              stripped_weight_bytes=weight_bytes,
                              inline_initializers=kept_inline))
        assert records[-1]["onnx_macs"] == figures["macs"], records[-1]


EXPECTED = {"resnet18_graph.onnx": 1_814_073_344, "mobilenet_v2_graph.onnx": 300_774_272,
            "vgg16_graph.onnx": 15_470_264_320, "squeezenet1_1_graph.onnx": 349_151_936}


def readme(records: list) -> str:
    lines = [
        "# ONNX fixtures",
        "",
        "Generated by `tools/reference/onnx_fixtures.py` (see its docstring for the venv); do "
        "not edit by hand. `expected.json` holds the same figures in machine form.",
        "",
        f"Made with torch {torch.__version__}, torchvision {torchvision.__version__}, onnx "
        f"{onnx.__version__}. Shapes are cnncalc's `[h, w, c]` / `[n]` without the batch; "
        "MACs follow cnncalc (Conv out_h·out_w·weight numel, ConvTranspose in_h·in_w·weight "
        "numel, Gemm/MatMul with a weight rows·in·out; bias excluded), computed from the "
        "torch model with forward hooks and recomputed from the ONNX graph (they agree).",
        "",
        "Load every file with `onnx.load(path, load_external_data=False)`. The `*_graph.onnx` "
        "files are graph only: their initializers point at a `.onnx.data` file that is "
        "deliberately not kept (names, dims and dtypes only). `tiny_dynamo.onnx` keeps its "
        "`tiny_dynamo.onnx.data`.",
        "",
        "| file | exporter | opset | input | output | trainable | non-trainable | MACs | "
        "ops | bytes |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in records:
        ops = ", ".join(f"{k}×{v}" if v > 1 else k for k, v in r["ops"].items())
        lines.append(
            f"| `{r['file']}` | {r['exporter']} ({r['mode']}) | {r['opset']} | "
            f"{'x'.join(map(str, r['input']))} | {r['output']} | {r['trainable']:,} | "
            f"{r['non_trainable']:,} | {r['macs']:,} | {ops} | {r['bytes']:,} |")
    lines += ["", "What the tiny nets are:", ""]
    seen = set()
    for r in records:
        stem = r["file"].rsplit("_opset", 1)[0]
        if stem in seen:
            continue
        seen.add(stem)
        lines.append(f"- `{stem}`: {r['description']}")
    lines += ["", "Notes:", "",
              "- `trainable` / `non-trainable` are the torch model's (parameters; BN running "
              "mean + var). An eval-mode export folds each Conv→BN pair into the Conv, so the "
              "ONNX initializers hold fewer values (`initializer_values` in expected.json): "
              "resnet18's are 11,689,512 − 9,600 (BN γ, β) + 4,800 (new conv biases) = "
              "11,684,712 floats, and no BN running stats.",
              "- `tiny_decoder`: the TorchScript exporter writes `F.pad`'s pads as a constant "
              "subgraph (Constant → ConstantOfShape → Concat → Reshape → Slice → Transpose → "
              "Reshape → Cast) feeding Pad's second input; onnx shape inference cannot see "
              "through it (shapes after the Pad stay unknown), so a reader must evaluate those "
              "constants. Resize gets `scales` as a Constant ([1, 1, 2, 2]) and an empty `roi`.",
              "- HardSwish exists from opset 14: at opset 13 `F.hardswish` becomes HardSigmoid "
              "+ Mul (tiny_cnn_opset13). ReLU6 is Clip with min/max as Constant inputs.",
              "- `tiny_dropout_train`: exported in training mode, Dropout keeps its `ratio` and "
              "`training_mode` Constant inputs and a second (mask) output.",
              "- `tiny_dynamo.onnx`: the dynamo exporter's optimizer folds BN into the conv and "
              "writes the global pool as ReduceMean + Reshape (no GlobalAveragePool / "
              "Flatten); only its larger initializers are in `tiny_dynamo.onnx.data` "
              "(`external_initializers` in expected.json).",
              "- `mobilenet_v2_graph.onnx`: each ReLU6 is a Clip with two Constant nodes.",
              ]
    lines += ["", "Expected graph-only figures (conv + Gemm MACs, bias excluded, batch 1, "
              "224x224x3 input, output [1000]):", ""]
    for r in records:
        if r["file"] in EXPECTED:
            lines.append(f"- `{r['file']}`: {r['macs']:,} MACs, {r['trainable']:,} trainable "
                         f"+ {r['non_trainable']:,} BN running-stat values; "
                         f"{r['stripped_weight_bytes']:,} bytes of weights stripped")
    return "\n".join(lines) + "\n"


def main() -> None:
    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    records: list[dict] = []
    tiny(records)
    dynamo(records)
    graph_only(records)
    for r in records:
        if r["file"] in EXPECTED:
            assert r["macs"] == EXPECTED[r["file"]], (r["file"], r["macs"])
        print(f"{r['file']:28s} opset {r['opset']:2d} {r['bytes']:>8,} B  out={r['output']} "
              f"macs={r['macs']:,} ops={r['ops']}")
    doc = {"generator": "tools/reference/onnx_fixtures.py", "torch": torch.__version__,
           "torchvision": torchvision.__version__, "onnx": onnx.__version__,
           "files": records}
    (OUT / "expected.json").write_text(
        "{" + json.dumps({k: v for k, v in doc.items() if k != "files"},
                         separators=(",", ":"))[1:-1] + ',"files":[\n'
        + ",\n".join(json.dumps(r, separators=(",", ":")) for r in records) + "\n]}\n")
    (OUT / "README.md").write_text(readme(records))


if __name__ == "__main__":
    if len(sys.argv) > 1:
        sys.exit("usage: onnx_fixtures.py  (no arguments; rewrites tests/data/onnx/)")
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
