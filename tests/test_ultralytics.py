"""The Ultralytics model-YAML reader. Ultralytics' own files are AGPL-3.0, so none is kept here:
tests/data/ultralytics/yolov8-like.yaml is a YOLOv8 written for these tests from the published
architecture, and the real files are read from an installed `ultralytics` package only (the
test skips without it).

Published figures (Ultralytics' YOLOv8 model table and its model summaries at 640×640):
parameters of yolov8n/s/m/l/x 3,157,200 / 11,166,560 / 25,902,640 / 43,691,520 / 68,229,648, and
the conv MACs behind their GFLOPs: 4,371,993,600 / 14,301,312,000 / 39,468,364,800 /
82,574,259,200 / 128,902,169,600. The parameter count is PyTorch's (every parameter tensor,
batchnorm statistics excluded), which includes the 16 frozen weights of Detect's DFL
convolution: cnncalc counts them as trainable, so `trainable` is the published figure.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import cnncalc
from cnncalc.readers import load
from cnncalc.readers.ultralytics import make_divisible, scale_letter
from test_readers import round_trip

OWN = Path(__file__).resolve().parent / "data" / "ultralytics" / "yolov8-like.yaml"
YOLOV8 = {"n": (3_157_200, 4_371_993_600), "s": (11_166_560, 14_301_312_000),
          "m": (25_902_640, 39_468_364_800), "l": (43_691_520, 82_574_259_200),
          "x": (68_229_648, 128_902_169_600)}


def check_yolov8(a: cnncalc.Analysis, scale: str) -> None:
    params, macs = YOLOV8[scale]
    t = a.totals()
    assert t["trainable"] == params
    assert t["macs"] == macs == sum(r.macs for r in a.layers if r.type == "conv")
    assert t["non_trainable"] == sum(r.trainable for r in a.layers if r.type == "batchnorm")
    assert a.input == (640, 640, 3)
    assert a.output == (8400, 84)            # 80² + 40² + 20² anchors × (4 box + 80 classes)
    dfl = next(r for r in a.layers if r.name == "dfl")
    assert (dfl.trainable, dfl.macs) == (16, 4 * 8400 * 16)


@pytest.mark.parametrize("scale", YOLOV8)
def test_yolov8_figures_from_our_own_yaml(scale):
    check_yolov8(round_trip(str(OWN), scale), scale)


def test_scale_from_the_file_name(tmp_path, cli):
    path = tmp_path / "yolov8s.yaml"
    path.write_text(OWN.read_text())
    a = cnncalc.analyse(load(str(path)))
    assert a.description == "Ultralytics yolov8s, scale s"
    check_yolov8(a, "s")
    assert cnncalc.analyse(load(str(path), scale="m")).totals()["trainable"] == YOLOV8["m"][0]
    r = cli(str(OWN), "-F", "json")          # no letter in the name: the first scale, said so
    assert r.code == 0 and '"trainable": 3157200' in r.out and "the first: the file name has " \
                                                               "no scale letter" in r.out


def test_names_and_structure():
    a = cnncalc.analyse(load(str(OWN), scale="n"))
    top = [g for g in a.rows if g.depth == 0]
    assert [g.name for g in top[:4]] == ["Conv_0", "Conv_1", "C2f_2", "Conv_3"]
    c2f = next(g for g in top if g.name == "C2f_2")
    assert (c2f.label, c2f.output) == ("C2f_n1_Bottleneck_k33", (160, 160, 32))
    paths = [r.path for r in a.layers if r.path.startswith("C2f_2.")]
    assert paths[:5] == ["C2f_2.cv1.conv", "C2f_2.cv1.bn", "C2f_2.cv1.act", "C2f_2.y0",
                         "C2f_2.y1"]
    assert "C2f_2.m0.add" in paths            # shortcut=True: the bottleneck adds its input
    assert "C2f_12.m0.add" not in {r.path for r in a.layers}      # C2f [512]: no shortcut
    sppf = [r for r in a.layers if r.path.startswith("SPPF_9.m")]
    assert [(r.name, r.layer.size, r.output) for r in sppf] == [
        (f"m{i}", (5, 5), (20, 20, 128)) for i in (1, 2, 3)]


def test_rules():
    assert [make_divisible(x) for x in (16.0, 20.0, 64 * 0.25, 1024 * 0.75)] == [16, 24, 16, 768]
    assert [scale_letter(s) for s in ("yolov8n", "yolov8x-p6", "yolo11s", "yolov8", "my_net")] \
        == ["n", "x", "s", None, None]


def write(tmp_path, body: str) -> str:
    path = tmp_path / "bad8n.yaml"
    path.write_text("nc: 3\nbackbone:\n  - [-1, 1, Conv, [16, 3, 2]]\nhead:\n" + body)
    return str(path)


@pytest.mark.parametrize("body, message", [
    ("  - [-1, 1, C2PSA, [64]]\n", "bad8n.yaml:5: layer 'C2PSA_1' (C2PSA): module 'C2PSA' is not "
                                   "supported; supported: Conv, C2f, C3, C3k2, SPPF, Bottleneck, "
                                   "Concat, nn.Upsample, Detect"),
    ("  - [[-1, 7], 1, Concat, [1]]\n", "bad8n.yaml:5: layer 'Concat_1' (Concat): from 7 must be "
                                        "-1 or an earlier layer's index (0…0)"),
    ("  - [-1, 1, Conv]\n", "bad8n.yaml:5: layer 1: expected [from, repeats, module, args], got "
                            "[-1, 1, 'Conv']"),
    ("  - [-1, x, Conv, [8]]\n", "bad8n.yaml:5: layer 'Conv_1' (Conv): repeats must be a "
                                 "positive integer, got 'x'"),
])
def test_bad_yaml_is_one_line(tmp_path, cli, body, message):
    r = cli(write(tmp_path, body))
    assert r.code == 2 and len(r.err_lines) == 1
    assert r.err_lines[0].endswith(message), r.err_lines[0]


def test_run_proves_the_shapes(cli):
    r = cli(str(OWN), "--scale", "n", "-i", "64x64x3", "--run", "-q")
    assert (r.code, r.out) == (0, "84x84\n")


def installed_models() -> Path | None:
    spec = importlib.util.find_spec("ultralytics")        # located, never imported
    if spec is None or spec.origin is None:
        return None
    root = Path(spec.origin).parent / "cfg" / "models"
    return root if root.is_dir() else None


@pytest.mark.parametrize("scale", YOLOV8)
def test_the_real_yolov8_yaml_when_ultralytics_is_installed(scale):
    root = installed_models()
    if root is None or not (root / "v8" / "yolov8.yaml").exists():
        pytest.skip("ultralytics is not installed")
    check_yolov8(round_trip(str(root / "v8" / "yolov8.yaml"), scale), scale)


def test_c3_c3k2_and_bottleneck(tmp_path, cli):
    path = tmp_path / "mixed.yaml"
    path.write_text("nc: 4\nbackbone:\n"
                    "  - [-1, 1, Conv, [16, 3, 2]]\n"
                    "  - [-1, 1, C3, [16]]\n"
                    "  - [-1, 2, C3k2, [32, False, 0.25]]\n"
                    "  - [-1, 1, C3k2, [32, True]]\n"
                    "  - [-1, 1, Bottleneck, [32]]\n"
                    "head:\n  - [[2, 4], 1, Concat, [1]]\n")
    a = cnncalc.analyse(load(str(path)))
    # C3(16 → 16), c_ = 8, by hand: cv1 and cv2 1x1 16→8 (128 + BN γβ 16 each), the bottleneck
    # 1x1 8→8 (64 + 16) and 3x3 8→8 (576 + 16), cv3 1x1 16→16 (256 + 32)
    assert sum(r.trainable for r in a.layers if r.path.startswith("C3_1.")) == \
        2 * 144 + 80 + 592 + 288
    paths = {r.path for r in a.layers}
    assert "C3k2_2.m1.body.cv2.conv" in paths and "C3k2_3.m0.m1.add" in paths      # c3k: C3k inside
    assert a.output == (320, 320, 64)         # Ultralytics builds at 640 unless --input
    r = cli(str(path), "-i", "32x32x3", "--run", "-q")
    assert (r.code, r.out) == (0, "16x16x64\n")
