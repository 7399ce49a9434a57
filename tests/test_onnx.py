"""The ONNX reader against tests/data/onnx/expected.json (made by tools/reference/
onnx_fixtures.py from torch and torchvision; the README there explains each file). Published:
torchvision's GFLOPS at 224 are these MACs (conv + Gemm, bias excluded): resnet18
1,814,073,344, mobilenet_v2 300,774,272, vgg16 15,470,264,320, squeezenet1_1 349,151,936.

Eval-mode exports fold Conv → BatchNormalization into the conv (with a bias), so a graph holds
the initialiser values listed in expected.json, not the PyTorch model's counts; only the
unfolded ``tiny_bn_nofold`` files keep every batchnorm, and there the counts are PyTorch's.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path

import pytest

import cnncalc
from cnncalc.readers import load
from test_readers import round_trip

onnx = pytest.importorskip("onnx")

DATA = Path(__file__).resolve().parent / "data" / "onnx"
EXPECTED = {f["file"]: f for f in json.loads((DATA / "expected.json").read_text())["files"]}
TORCHVISION_MACS = {"resnet18_graph.onnx": 1_814_073_344, "mobilenet_v2_graph.onnx": 300_774_272,
                    "vgg16_graph.onnx": 15_470_264_320, "squeezenet1_1_graph.onnx": 349_151_936}
LAYER_WEIGHTS = {"Conv": 1, "ConvTranspose": 1, "Gemm": 1, "MatMul": 1, "BatchNormalization": 1}


def weight_values(path: Path) -> tuple[int, int]:
    """(trainable, non-trainable) values of the initialisers that are weights of a layer, counted
    from the graph itself: inputs 1… of Conv, ConvTranspose, Gemm, MatMul and BatchNormalization
    (BN's inputs 3 and 4 are the running statistics)."""
    model = onnx.load(str(path), load_external_data=False)
    dims = {t.name: list(t.dims) for t in model.graph.initializer}
    trainable = frozen = 0
    for node in model.graph.node:
        if node.op_type not in LAYER_WEIGHTS:
            continue
        for i, name in enumerate(node.input[1:], 1):
            if name in dims:
                size = math.prod(dims[name])
                if node.op_type == "BatchNormalization" and i >= 3:
                    frozen += size
                else:
                    trainable += size
    return trainable, frozen


@pytest.mark.parametrize("name", EXPECTED)
def test_expected_figures(name):
    want = EXPECTED[name]
    a = round_trip(str(DATA / name))
    assert a.input == tuple(want["input"])
    assert a.output == tuple(want["output"])
    assert a.totals()["macs"] == want["macs"] == want["onnx_macs"]
    if name in TORCHVISION_MACS:
        assert a.totals()["macs"] == TORCHVISION_MACS[name]
    t = a.totals()
    assert (t["trainable"], t["non_trainable"]) == weight_values(DATA / name)
    if "nofold" in name:            # nothing folded: PyTorch's own counts
        assert (t["trainable"], t["non_trainable"]) == (want["trainable"], want["non_trainable"])
    if not name.startswith("tiny_dynamo"):     # there the shape constants are initialisers too
        assert t["params"] == want["initializer_values"]


@pytest.mark.parametrize("name", [n for n in EXPECTED if n.startswith("tiny")])
def test_run_proves_the_shapes(cli, name):
    r = cli(str(DATA / name), "--run", "-q")
    assert r.code == 0 and r.out.strip() == cnncalc.layers.fmt_shape(EXPECTED[name]["output"])


def test_names_and_layers():
    a = cnncalc.analyse(load(str(DATA / "resnet18_graph.onnx")))
    assert a.name == "resnet18_graph"
    assert [r.name for r in a.layers[:4]] == ["conv1/Conv", "relu/Relu", "maxpool/MaxPool",
                                             "layer1/layer1_0/conv1/Conv"]
    add = next(r for r in a.layers if r.name == "layer1/layer1_0/Add")
    assert add.type == "add" and len(add.inputs) == 2
    dec = cnncalc.analyse(load(str(DATA / "tiny_decoder_opset13.onnx")))
    pad = next(r for r in dec.layers if r.type == "pad")     # amounts from a constant subgraph
    assert (pad.layer.padding, pad.input_shapes[0], pad.output) == (
        (1, 1, 1, 1), (32, 32, 4), (34, 34, 4))
    assert [r.type for r in dec.layers if r.type in ("upsample", "reshape", "dense")] == [
        "upsample", "reshape", "dense"]


def test_external_data_is_never_opened(tmp_path):
    """tiny_dynamo keeps its weights in tiny_dynamo.onnx.data; without that file the figures are
    the same, since only the graph is read."""
    shutil.copy(DATA / "tiny_dynamo.onnx", tmp_path / "tiny_dynamo.onnx")
    a = cnncalc.analyse(load(str(tmp_path / "tiny_dynamo.onnx")))
    assert a.totals()["macs"] == EXPECTED["tiny_dynamo.onnx"]["macs"]


def test_inline_weights_are_not_parsed(tmp_path):
    """A model with 64 MiB of inline weights: the stripped graph is a few hundred bytes, and the
    figures come from the initialisers' dimensions."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper
    w = numpy_helper.from_array(np.zeros((4096, 4096), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["x"], ["f"], name="flat"),
         helper.make_node("Gemm", ["f", "w"], ["y"], name="fc", transB=1)], "big",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4096])], [w])
    path = tmp_path / "big.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    assert path.stat().st_size > 64 << 20
    from cnncalc.readers import Source
    from cnncalc.readers.onnxgraph import load_model
    model = load_model(Source(str(path), "big", path))
    assert model.ByteSize() < 1000 and list(model.graph.initializer[0].dims) == [4096, 4096]
    a = cnncalc.analyse(load(str(path)))
    assert (a.output, a.totals()["params"], a.totals()["macs"]) == ((4096,), 4096 ** 2, 4096 ** 2)


@pytest.mark.parametrize("content, message", [
    (b"", "not a valid ONNX model (the file is empty)"),
    (b"garbage\n", "not a valid ONNX model"),
    ((DATA / "resnet18_graph.onnx").read_bytes()[:3000], "not a valid ONNX model (truncated)"),
])
def test_bad_files_are_one_line(tmp_path, cli, content, message):
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    r = cli(str(path))
    assert r.code == 2 and len(r.err_lines) == 1 and "Traceback" not in r.err
    assert r.err_lines[0].startswith(f"cnncalc: error: {path}: {message}")


def test_an_unsupported_op_is_named(tmp_path, cli):
    from onnx import TensorProto, helper
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"], name="/act/Relu"),
         helper.make_node("LpNormalization", ["r"], ["y"], name="/norm/Lp")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])])
    path = tmp_path / "lp.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    r = cli(str(path))
    assert r.code == 2 and len(r.err_lines) == 1
    assert r.err_lines[0].startswith(f"cnncalc: error: {path}: layer '/norm/Lp' (LpNormalization): "
                                     f"operator LpNormalization is not supported; supported: "
                                     f"Conv, ConvTranspose, Gemm")


def test_without_the_onnx_package(cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)          # `import onnx` fails
    r = cli(str(DATA / "tiny_cnn_opset13.onnx"))
    assert (r.code, r.err) == (2, "cnncalc: error: reading ONNX models needs the onnx package: "
                                  "pip install 'cnncalc[onnx]'\n")
