"""The Keras reader against tests/data/keras/totals.json (made by tools/reference/
keras_fixtures.py with Keras 3.15.1; the README there explains each file): the totals of
keras.applications ResNet50 25,636,712 (25,583,592 trainable), MobileNetV2 3,538,984 (3,504,872
trainable), Xception 22,910,480, DenseNet121 8,062,504 and EfficientNetB0 5,330,571 (its input
Normalization layer holds 7 non-trainable values), and every layer's output shape and
parameters."""

from __future__ import annotations

import gzip
import json
import zipfile
from pathlib import Path

import pytest

import cnncalc
from cnncalc.readers import load
from test_readers import round_trip

DATA = Path(__file__).resolve().parent / "data" / "keras"
MODELS = {m["file"]: m for m in json.loads((DATA / "totals.json").read_text())["models"]}


@pytest.mark.parametrize("name", MODELS)
def test_totals_and_every_layer(name):
    want = MODELS[name]
    a = round_trip(str(DATA / name))
    t = a.totals()
    assert (t["params"], t["trainable"], t["non_trainable"]) == (
        want["total"], want["trainable"], want["non_trainable"])
    if "expected_total" in want:        # the published figures
        assert t["params"] == want["expected_total"]
        assert t["trainable"] == want.get("expected_trainable", t["trainable"])
    assert (list(a.input), list(a.output)) == (want["input"], want["output"])
    rows = {r.name: r for r in a.layers}
    for layer, cls, shape, params in want["layer_rows"]:
        if cls == "InputLayer":
            continue
        assert (rows[layer].output, rows[layer].params) == (tuple(shape), params), layer
    assert len(a.layers) == sum(cls != "InputLayer" for _, cls, _, _ in want["layer_rows"])


def test_efficientnet_normalization_is_non_trainable():
    a = cnncalc.analyse(load(str(DATA / "efficientnet_b0.json.gz")))
    norm = next(r for r in a.layers if r.type == "normalization")
    assert (norm.name, norm.trainable, norm.non_trainable) == ("normalization", 0, 7)


@pytest.mark.parametrize("name", ["small_functional.json", "small_sequential.keras"])
def test_run_proves_the_shapes(cli, name):
    r = cli(str(DATA / name), "--run", "-q")
    assert (r.code, r.out) == (0, "[10]\n")


def test_gzipped_json_with_any_name(tmp_path, cli):
    path = tmp_path / "model.bin"
    path.write_bytes((DATA / "resnet50.json.gz").read_bytes())
    r = cli(str(path), "-F", "json")
    assert r.code == 0 and json.loads(r.out)["totals"]["trainable"] == 25_583_592


def test_plain_json_from_stdin(cli):
    text = gzip.open(DATA / "mobilenet_v2.json.gz", "rt").read()
    r = cli("-", "-q", stdin=text)
    assert (r.code, r.out) == (0, "[1000]\n")


def bad(tmp_path, name: str, content: bytes | str) -> str:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(path)


def archive(tmp_path, config: str | None) -> str:
    path = tmp_path / "m.keras"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", "{}")
        if config is not None:
            zf.writestr("config.json", config)
    return str(path)


@pytest.mark.parametrize("make, message", [
    (lambda p: bad(p, "m.keras", b"not a zip at all"), "m.keras: not a .keras archive (a zip "
                                                       "file): File is not a zip file"),
    (lambda p: archive(p, None), "m.keras: a .keras archive must hold config.json; this zip "
                                 "does not"),
    (lambda p: archive(p, '{"class_name": "Sequential", "config": {"name": "s", "layers": []}}'),
     "m.keras:config.json: the Keras model config has no layers"),
    (lambda p: bad(p, "m.json", '{"class_name": "Functional", "config": {"layers": []}}'),
     "m.json: the Keras model config has no layers"),
    (lambda p: bad(p, "m.json", '{"class_name": "Sequential", "config": {"layers": [{'
                                '"class_name": "LSTM", "config": {"name": "lstm"}}]}}'),
     "m.json: layer 1 'lstm' (LSTM): Keras layer LSTM is not supported"),
    (lambda p: bad(p, "m.json", '{"class_name": "Sequential", "config": '),
     "m.json: not valid JSON (line 1): Expecting value"),
    (lambda p: bad(p, "m.json", '{"a": 1}'),
     "m.json: not a Keras model: expected the JSON of model.to_json(), with class_name and "
     "config"),
])
def test_bad_files_are_one_line(tmp_path, cli, make, message):
    r = cli(make(tmp_path))
    assert r.code == 2 and len(r.err_lines) == 1 and "Traceback" not in r.err
    assert r.err_lines[0].endswith(message), r.err_lines[0]
