"""cnncalc.readers: recognising a model file by its content, `cnncalc convert`, and the round
trip (a converted spec gives exactly the figures of the file it came from). The figures of each
format are in test_darknet.py, test_ultralytics.py, test_onnx.py and test_keras.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import cnncalc
from cnncalc.readers import load, read, sniff, to_yaml
from cnncalc.spec import loads

DATA = Path(__file__).resolve().parent / "data"


def figures(a: cnncalc.Analysis) -> list[tuple]:
    return [(r.path, r.type, r.input_shapes, r.output, r.weights, r.biases, r.non_trainable,
             r.macs, r.field, r.activation) for r in a.layers]


def round_trip(spec: str, scale: str | None = None, input_shape=None) -> cnncalc.Analysis:
    """Read ``spec``, convert it to YAML, read that back: every per-layer figure and the totals
    must be identical. Returns the analysis of the original."""
    label, stem, doc, fmt = read(spec, scale)
    original = cnncalc.analyse(load(spec, input_shape, scale))
    text = to_yaml(doc, label, fmt)
    again = cnncalc.analyse(loads(text, "converted.yaml", stem, input_shape))
    assert figures(again) == figures(original)
    assert again.totals() == original.totals()
    assert (again.name, again.input, again.output) == (original.name, original.input,
                                                        original.output)
    return original


@pytest.mark.parametrize("head, suffix, fmt", [
    (b"[net]\nwidth=416\n", ".txt", "darknet"),
    (b"# a comment\n\n[network]\n", "", "darknet"),
    (b"[convolutional]\n", ".cfg", "darknet"),
    (b"nc: 80\nbackbone:\n  - [-1, 1, Conv, [64, 3, 2]]\nhead:\n", ".yaml", "ultralytics"),
    (b"input: 32x32x3\nlayers: [relu]\n", ".cfg.yaml", "yaml"),
    (b"[relu, conv]\n", "", "yaml"),
    (b'{"class_name": "Sequential"}', ".txt", "keras"),
    (b"\x08\x07\x12\x07pytorch", "", "onnx"),
    (b"garbage", ".onnx", "onnx"),
    (b"PK\x03\x04....", ".zip", "keras-archive"),
    (b"not a zip", ".keras", "keras-archive"),
    (b"\x1f\x8b\x08\x00", ".gz", "gzip"),
])
def test_sniff_by_content(head, suffix, fmt):
    assert sniff(head, suffix) == fmt


def test_a_darknet_cfg_under_another_name_is_recognised(tmp_path, cli):
    path = tmp_path / "tiny.txt"
    path.write_bytes((DATA / "darknet" / "yolov3-tiny.cfg").read_bytes())
    r = cli(str(path), "-q")
    assert (r.code, r.out) == (0, "26x26x255\n")
    r = cli("-", "-q", stdin=path.read_bytes())
    assert (r.code, r.out) == (0, "26x26x255\n")


def test_convert_to_stdout_and_to_a_file(tmp_path, cli):
    cfg = str(DATA / "darknet" / "yolov4-tiny.cfg")
    r = cli("convert", cfg)
    assert r.code == 0 and r.out.startswith("# Converted by cnncalc from ")
    assert "- block: {use: conv_bn_leaky, filters: 32, kernel: 3, stride: 2, padding: 1, " \
           "name: conv_0}" in r.out
    out = tmp_path / "y.yaml"
    out.write_text("old")
    r = cli("convert", cfg, "-o", str(out))
    assert (r.code, r.out, r.err) == (0, "", "")
    assert out.read_text() == cli("convert", cfg).out
    assert [p.name for p in tmp_path.iterdir()] == ["y.yaml"]       # no temporary file left
    r = cli(str(out), "-F", "json")
    assert r.code == 0 and '"trainable": 6056606' in r.out


def test_convert_refuses_a_directory_and_a_missing_folder(tmp_path, cli):
    cfg = str(DATA / "darknet" / "yolov3-tiny.cfg")
    r = cli("convert", cfg, "-o", str(tmp_path))
    assert r.code == 2 and "is a directory" in r.err
    r = cli("convert", cfg, "-o", str(tmp_path / "no" / "x.yaml"))
    assert r.code == 2 and r.err.startswith("cnncalc: error: cannot write --output ")
    assert not os.path.exists(tmp_path / "no")


def test_convert_a_native_spec_prints_it_unchanged(cli):
    r = cli("convert", "lenet5")
    assert r.code == 0 and r.out == cli("show", "lenet5").out


def test_scale_is_only_for_ultralytics(cli):
    r = cli(str(DATA / "darknet" / "yolov3-tiny.cfg"), "--scale", "n")
    assert r.code == 2 and "--scale picks the size of an Ultralytics model YAML; this is a " \
                           "Darknet cfg" in r.err


@pytest.mark.parametrize("suffix", [".onnx", ".keras", ".cfg", ".json"])
def test_a_device_is_read_up_to_the_limit_only(tmp_path, cli, suffix):
    """/dev/zero under a model file's name: never mapped or seeked, read up to 32 MiB."""
    link = tmp_path / f"zero{suffix}"
    link.symlink_to("/dev/zero")
    r = cli(str(link))
    assert r.code == 2 and len(r.err_lines) == 1 and "Traceback" not in r.err
