"""Keras 3 fixtures: keras.applications models as JSON, a .keras archive, totals.

Writes ``tests/data/keras/``: ``{resnet50,mobilenet_v2,xception,densenet121,efficientnet_b0}
.json.gz`` (``model.to_json()``, gzipped), ``small_functional.json`` (a small Functional
model's ``to_json()``), ``small_sequential.keras`` (a small Sequential model saved with
``model.save``), ``totals.json`` (count_params / trainable / non-trainable of each, plus
one row per layer: name, class, output shape, params) and ``README.md``.

Needs a virtualenv OUTSIDE the repo with torch and keras (Keras 3 on the torch backend; no
weights are downloaded: every application is built with ``weights=None``)::

    python3 -m venv /work/venv-ref
    /work/venv-ref/bin/pip install torch==2.14.1 keras
    KERAS_BACKEND=torch /work/venv-ref/bin/python tools/reference/keras_fixtures.py

(the script sets KERAS_BACKEND=torch itself when it is not set).

Deterministic: ``keras.backend.clear_session()`` before each model (so auto-generated layer
names restart), ``keras.utils.set_random_seed(0)``; the ``shared_object_id`` values Keras
writes (Python ``id()``s of shared dtype-policy objects, different on every run) are
renumbered 1, 2, ... in order of first appearance; gzip files carry no name and mtime 0; the
.keras archive is rewritten with fixed zip timestamps and ``date_saved`` set to
``1980-01-01@00:00:00`` (it still loads with ``keras.saving.load_model``, checked).

Conventions: ``trainable`` = sum of the sizes of ``model.trainable_weights``;
``non_trainable`` = ``model.count_params() - trainable`` (BatchNormalization moving mean and
variance; EfficientNetB0's input Normalization layer also holds a non-trainable mean,
variance and count, 3 + 3 + 1 values). Layer output shapes drop the batch dimension
(``[h, w, c]`` / ``[n]``, Keras is channels-last).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import sys
import zipfile
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "data" / "keras"

APPS = [  # file stem, keras.applications constructor, expected (total, trainable or None)
    ("resnet50", "ResNet50", (25_636_712, 25_583_592)),
    ("mobilenet_v2", "MobileNetV2", (3_538_984, 3_504_872)),
    ("xception", "Xception", (22_910_480, None)),
    ("densenet121", "DenseNet121", (8_062_504, None)),
    ("efficientnet_b0", "EfficientNetB0", (5_330_571, None)),
]


def fresh() -> None:
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)


def renumber_shared_ids(text: str) -> str:
    """Replace Keras's run-dependent shared_object_id values with 1, 2, ... in order."""
    ids: dict[int, int] = {}

    def walk(x):
        if isinstance(x, dict):
            for k, v in x.items():
                if k == "shared_object_id" and isinstance(v, int):
                    x[k] = ids.setdefault(v, len(ids) + 1)
                else:
                    walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    doc = json.loads(text)
    walk(doc)
    return json.dumps(doc)


def totals(model: keras.Model) -> dict:
    total = int(model.count_params())
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    layers = []
    for layer in model.layers:
        shape = layer.output.shape
        layers.append([layer.name, type(layer).__name__, [int(d) for d in shape[1:]],
                       int(layer.count_params())])
    inp = [int(d) for d in model.inputs[0].shape[1:]]
    out = [int(d) for d in model.outputs[0].shape[1:]]
    return {"input": inp, "output": out, "total": total, "trainable": trainable,
            "non_trainable": total - trainable, "layers": len(model.layers),
            "layer_rows": layers}


def write_gz(path: Path, text: str) -> None:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as f:
        f.write(text.encode())
    path.write_bytes(buf.getvalue())


def small_functional() -> keras.Model:
    """Two branches with most of the layer types a conv-net JSON holds."""
    L = keras.layers
    x_in = keras.Input((64, 64, 3), name="image")
    x = L.ZeroPadding2D(1, name="pad")(x_in)
    x = L.Conv2D(16, 3, strides=2, padding="valid", use_bias=False, name="stem_conv")(x)
    x = L.BatchNormalization(name="stem_bn")(x)
    x = L.ReLU(name="stem_relu")(x)                                     # 32x32x16
    a = L.DepthwiseConv2D(3, padding="same", name="dw")(x)
    a = L.Activation("relu6", name="dw_relu6")(a)
    a = L.Conv2D(16, 1, name="pw")(a)
    x = L.Add(name="residual")([x, a])                                  # 32x32x16
    b = L.SeparableConv2D(24, 3, padding="same", activation="relu", name="sep")(x)
    c = L.MaxPooling2D(2, name="pool_max")(x)
    c = L.UpSampling2D(2, name="upsample")(c)
    c = L.Conv2D(8, 5, padding="same", dilation_rate=1, name="conv5")(c)
    x = L.Concatenate(name="concat")([b, c])                            # 32x32x32
    x = L.AveragePooling2D(2, name="pool_avg")(x)                       # 16x16x32
    x = L.Conv2DTranspose(8, 3, strides=2, padding="same", name="deconv")(x)  # 32x32x8
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = L.Dropout(0.2, name="drop")(x)
    out = L.Dense(10, activation="softmax", name="logits")(x)
    return keras.Model(x_in, out, name="small_functional")


def small_sequential() -> keras.Model:
    L = keras.layers
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        L.Conv2D(8, 3, activation="relu", name="conv1"),               # 26x26x8
        L.MaxPooling2D(2, name="pool1"),                                # 13x13x8
        L.Conv2D(16, 3, activation="relu", name="conv2"),              # 11x11x16
        L.BatchNormalization(name="bn"),
        L.MaxPooling2D(2, name="pool2"),                                # 5x5x16
        L.Flatten(name="flatten"),                                      # [400]
        L.Dense(16, activation="relu", name="fc1"),
        L.Dropout(0.5, name="drop"),
        L.Dense(10, activation="softmax", name="fc2"),
    ], name="small_sequential")


def save_keras_archive(model: keras.Model, path: Path) -> None:
    """model.save, then rewrite the zip so that the bytes do not depend on the clock."""
    tmp = path.with_suffix(".tmp.keras")
    model.save(tmp)
    members = []
    with zipfile.ZipFile(tmp) as z:
        for info in z.infolist():
            data = z.read(info.filename)
            if info.filename == "metadata.json":
                meta = json.loads(data)
                meta["date_saved"] = "1980-01-01@00:00:00"
                data = json.dumps(meta).encode()
            elif info.filename == "config.json":
                data = renumber_shared_ids(data.decode()).encode()
            members.append((info.filename, data))
    tmp.unlink()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    doc = {"generator": "tools/reference/keras_fixtures.py", "keras": keras.__version__,
           "backend": keras.backend.backend(), "models": []}
    bad = []
    for stem, ctor, (want_total, want_trainable) in APPS:
        fresh()
        model = getattr(keras.applications, ctor)(weights=None)
        rec = {"name": ctor, "file": f"{stem}.json.gz", **totals(model),
               "expected_total": want_total}
        if want_trainable is not None:
            rec["expected_trainable"] = want_trainable
        write_gz(OUT / f"{stem}.json.gz", renumber_shared_ids(model.to_json()))
        ok = rec["total"] == want_total and want_trainable in (None, rec["trainable"])
        if not ok:
            bad.append(ctor)
        print(f"{ctor:15s} total={rec['total']:>11,} trainable={rec['trainable']:>11,} "
              f"non_trainable={rec['non_trainable']:>8,} layers={rec['layers']} "
              f"{'OK' if ok else 'MISMATCH'}", flush=True)
        doc["models"].append(rec)
        del model

    fresh()
    model = small_functional()
    (OUT / "small_functional.json").write_text(renumber_shared_ids(model.to_json()) + "\n")
    doc["models"].append({"name": "small_functional", "file": "small_functional.json",
                          **totals(model)})
    fresh()
    model = small_sequential()
    path = OUT / "small_sequential.keras"
    save_keras_archive(model, path)
    back = keras.saving.load_model(path)
    assert back.count_params() == model.count_params()
    assert [w.shape for w in back.weights] == [w.shape for w in model.weights]
    doc["models"].append({"name": "small_sequential", "file": "small_sequential.keras",
                          **totals(model)})
    for rec in doc["models"][-2:]:
        print(f"{rec['name']:15s} total={rec['total']:>11,} trainable={rec['trainable']:>11,} "
              f"non_trainable={rec['non_trainable']:>8,} out={rec['output']}")
    if bad:
        sys.exit(f"count_params differs from the expected figures for {bad}; not written")

    lines = ["{" + json.dumps({k: v for k, v in doc.items() if k != "models"},
                              separators=(",", ":"))[1:-1] + ',"models":[']
    for i, rec in enumerate(doc["models"]):
        head = {k: v for k, v in rec.items() if k != "layer_rows"}
        lines.append("{" + json.dumps(head, separators=(",", ":"))[1:-1] + ',"layer_rows":[')
        lines.append(",\n".join(json.dumps(r, separators=(",", ":")) for r in rec["layer_rows"]))
        lines.append("]}" + ("," if i < len(doc["models"]) - 1 else ""))
    lines.append("]}")
    text = "\n".join(lines) + "\n"
    assert json.loads(text) == doc
    (OUT / "totals.json").write_text(text)
    (OUT / "README.md").write_text(readme(doc))


def readme(doc: dict) -> str:
    lines = [
        "# Keras fixtures",
        "",
        "Generated by `tools/reference/keras_fixtures.py` (see its docstring for the venv); do "
        "not edit by hand.",
        "",
        f"Made with Keras {doc['keras']} on the {doc['backend']} backend, every "
        "`keras.applications` model built with `weights=None` at its default input size. "
        "`*.json.gz` is `model.to_json()` gzipped (`gzip.open(path, 'rt')`); "
        "`small_functional.json` is a plain `to_json()`; `small_sequential.keras` is a "
        "`model.save()` archive (zip of `config.json`, `metadata.json`, `model.weights.h5`). "
        "`shared_object_id` values are renumbered 1, 2, … (Keras writes Python ids). "
        "`totals.json` has the figures below plus one row per layer "
        "`[name, class, output shape without batch, params]`.",
        "",
        "Trainable = size of `model.trainable_weights`; non-trainable = "
        "`model.count_params()` − trainable (BatchNormalization moving mean/variance; "
        "EfficientNetB0 also has its input Normalization layer's 7 values).",
        "",
        "| file | model | input | output | layers | total (count_params) | trainable | "
        "non-trainable | expected total |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in doc["models"]:
        exp = f"{r['expected_total']:,}" if "expected_total" in r else "—"
        if "expected_trainable" in r:
            exp += f" ({r['expected_trainable']:,} trainable)"
        lines.append(
            f"| `{r['file']}` | {r['name']} | {'x'.join(map(str, r['input']))} | "
            f"{r['output']} | {r['layers']} | {r['total']:,} | {r['trainable']:,} | "
            f"{r['non_trainable']:,} | {exp} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
