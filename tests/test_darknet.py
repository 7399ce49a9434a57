"""The Darknet reader against the published figures of the four cfgs in tests/data/darknet/
(copied unchanged from AlexeyAB/darknet, commit 59596d7; the README there has the licence and
the sources of the figures)."""

from __future__ import annotations

from pathlib import Path

import pytest

import cnncalc
from cnncalc.readers import load
from test_readers import round_trip

CFG = Path(__file__).resolve().parent / "data" / "darknet"

# tests/data/darknet/README.md: conv BFLOPs as AlexeyAB's darknet prints them (2 × conv MACs,
# three decimals), trainable parameters, and yolov3's total with the batchnorm statistics
# (62,001,757 floats = yolov3.weights' 248,007,048 bytes less the 20-byte header, / 4).
PUBLISHED = {
    "yolov3": (416, 65.864, 61_949_149, 62_001_757),
    "yolov3-tiny": (416, 5.565, 8_852_366, None),
    "yolov4-tiny": (416, 6.908, 6_056_606, None),
    "yolov4": (608, 128.389, 64_363_101, None),
}
LAST_HEAD_STRIDE = {"yolov3": 8, "yolov3-tiny": 16, "yolov4-tiny": 16, "yolov4": 32}


@pytest.mark.parametrize("name", PUBLISHED)
def test_published_figures(name):
    size, bflops, trainable, total = PUBLISHED[name]
    a = round_trip(str(CFG / f"{name}.cfg"))
    assert a.input == (size, size, 3)
    last = size // LAST_HEAD_STRIDE[name]
    assert a.output == (last, last, 255)                  # the last [yolo] head
    conv_macs = sum(r.macs for r in a.layers if r.type == "conv")
    assert conv_macs == a.totals()["macs"]
    assert round(2 * conv_macs / 1e9, 3) == bflops
    t = a.totals()
    assert t["trainable"] == trainable
    if total is not None:
        assert t["params"] == total
    # every batchnorm has as many running statistics as trainable values
    assert t["non_trainable"] == sum(r.trainable for r in a.layers if r.type == "batchnorm")


def test_layers_are_named_by_darknet_index():
    a = cnncalc.analyse(load(str(CFG / "yolov4-tiny.cfg")))
    top = [g.name for g in a.rows if getattr(g, "depth", 0) == 0]
    assert top[:5] == ["conv_0", "conv_1", "conv_2", "route_3", "conv_4"]
    route = next(r for r in a.layers if r.name == "route_3")
    assert (route.type, route.layer.groups, route.layer.index) == ("chunk", 2, 1)
    assert route.output == (104, 104, 32)
    conv = next(r for r in a.layers if r.path == "conv_0.conv")
    assert (conv.biases, conv.line) == (0, 34)     # batch_normalize=1: no bias; its section
    heads = [r for r in a.layers if r.name.startswith("yolo_")]
    assert [(r.name, r.output, r.params) for r in heads] == [
        ("yolo_30", (13, 13, 255), 0), ("yolo_37", (26, 26, 255), 0)]


def test_maxpool_size_2_stride_1_keeps_the_size():
    a = cnncalc.analyse(load(str(CFG / "yolov3-tiny.cfg")))
    pool = next(r for r in a.layers if r.name == "maxpool_11")
    assert (pool.layer.stride, pool.input_shapes[0], pool.output) == (
        (1, 1), (13, 13, 512), (13, 13, 512))
    assert pool.geometry.pads == (0, 1, 0, 1)       # Darknet: size − 1 = 1, all of it after
    assert not a.warnings


def test_run_proves_the_shapes(cli):
    r = cli(str(CFG / "yolov4-tiny.cfg"), "--run", "-i", "64x64x3", "-q")
    assert (r.code, r.out) == (0, "4x4x255\n")
    r = cli(str(CFG / "yolov4.cfg"), "-i", "64x64x3", "-S", "--run")
    assert r.code == 0 and "Run: ✓ all" in r.out and "mish" in r.out


def write(tmp_path, text: str) -> str:
    path = tmp_path / "bad.cfg"
    path.write_text("[net]\nwidth=32\nheight=32\nchannels=3\n\n" + text)
    return str(path)


@pytest.mark.parametrize("text, message", [
    ("[convolutional]\nfilters=x\nsize=3\n",
     "bad.cfg:7: layer 'conv_0' ([convolutional]): filters must be an integer, got 'x'"),
    ("[convolutional]\nfilters=8\n\n[foo]\n",
     "bad.cfg:9: layer 'foo_1' ([foo]): unknown Darknet section [foo]"),
    ("[convolutional]\nfilters=8\n[maxpol]\n",
     "bad.cfg:8: layer 'maxpol_1' ([maxpol]): unknown Darknet section [maxpol] (did you mean "
     "'maxpool'?)"),
    ("[gru]\n", "bad.cfg:6: layer 'gru_0' ([gru]): the Darknet section [gru] is not supported"),
    ("[convolutional]\nfilters=8\n[route]\nlayers=3\n",
     "bad.cfg:9: layer 'route_1' ([route]): layers=3 must name an earlier layer (0…0, or -1…-1)"),
    ("[convolutional]\nfilters=8\nactivation=leeky\n",
     "bad.cfg:8: layer 'conv_0' ([convolutional]): unknown activation 'leeky' (did you mean "
     "'leaky'?); known: linear, leaky, relu, logistic, mish, swish, tanh, elu, selu, relu6, "
     "gelu, hardtan"),
    ("[convolutional]\nfilters 8\n", "bad.cfg:7: expected 'key=value' or a [section], got "
                                    "'filters 8'"),
    ("[convolutional]\nfilters=8\ngroups=3\n",
     "bad.cfg:6: layer 1 'conv_0' (conv): groups 3 does not divide filters 8"),
    ("[convolutional]\nfilters=8\nsize=64\n", "bad.cfg:6: layer 1 'conv_0' (conv): kernel 64 is "
     "larger than the padded input height 32 (32 + padding 0) (input 32x32x3)"),
    ("[convolutional]\nbatch_normalize=1\nfilters=8\nsize=64\n",
     "bad.cfg:6: layer 1 'conv_0.conv' (conv): kernel 64 is larger than the padded input height "
     "32 (32 + padding 0) (input 32x32x3)"),
])
def test_bad_cfg_is_one_line_with_the_place(tmp_path, cli, text, message):
    r = cli(write(tmp_path, text))
    assert r.code == 2, r.err
    assert len(r.err_lines) == 1 and "Traceback" not in r.err
    assert r.err_lines[0].startswith("cnncalc: error: ")
    assert r.err_lines[0].endswith(message), r.err_lines[0]


def test_first_section_must_be_net(tmp_path, cli):
    path = tmp_path / "x.cfg"
    path.write_text("[convolutional]\nfilters=8\n")
    r = cli(str(path))
    assert r.code == 2 and "x.cfg:1: " in r.err and "the first section must be [net]" in r.err
