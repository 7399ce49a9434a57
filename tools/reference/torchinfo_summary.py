"""torchinfo's summary figures for a few torchvision models, printed and raw.

Writes ``tests/data/reference/torchinfo.json``.

Needs a virtualenv OUTSIDE the repo with torch, torchvision and torchinfo (no weights are
downloaded)::

    python3 -m venv /work/venv-ref
    /work/venv-ref/bin/pip install torch==2.14.1 torchvision==0.29.1 torchinfo
    /work/venv-ref/bin/python tools/reference/torchinfo_summary.py            # all models
    /work/venv-ref/bin/python tools/reference/torchinfo_summary.py resnet18   # print only

Each model is built with ``weights=None``, left in train mode (as torchinfo leaves it), and
summarised with ``torchinfo.summary(model, input_size=(1, 3, 224, 224), verbose=0)``.
Deterministic: only sizes and counts are recorded.

How torchinfo (1.8.0, read from its installed ``model_statistics.py``, ``layer_info.py`` and
``torchinfo.py``) computes the four figures of its summary block; MB = 1e6 bytes, each printed
with ``f"{x:0.2f}"`` of the float ``bytes / 1e6`` (Python's correctly rounded formatting of
that double: rounding, not truncation):

* ``Input size (MB)`` = ``total_input / 1e6`` where ``total_input`` =
  ``sys.getsizeof(x.untyped_storage())`` of the generated input tensor(s): the float32 bytes
  *plus the Python object overhead of the storage* (64 bytes with this Python 3.11 and
  torch 2.14: 602,112 + 64 = 602,176 for 1x3x224x224, printed 0.60).
* ``Forward/backward pass size (MB)`` = ``total_output_bytes / 1e6`` (checked independently
  with forward hooks for resnet18, mobilenet_v2, densenet121) where
  ``total_output_bytes`` = sum, over every forward CALL of a LEAF module (one with no child
  modules) that HAS parameters (num_params > 0: Conv, BatchNorm, Linear, ...; ReLU, pooling,
  Dropout, Flatten add nothing), of ``2 * element_size * prod(output shape with batch)``: the
  output once for the activation and once for its gradient ("x2 for gradients"). A module
  called twice counts twice (the check for a reused module comes after this sum). Outputs of
  functional code (torch.flatten, +, cat) are never counted.
* ``Params size (MB)`` = ``total_param_bytes / 1e6``: the sum of ``element_size * numel`` of
  the parameters of every leaf module (first call only; buffers such as BN running stats are
  not counted; parameters held directly by a non-leaf module, e.g. a layer-scale vector,
  count in ``Total params`` but not here). For these models that is 4 * total params.
* ``Estimated Total Size (MB)`` = ``(total_input + total_output_bytes + total_param_bytes) /
  1e6``, rounded once from the byte sum (so it may differ by 0.01 from the sum of the three
  rounded figures above).

``Total params`` / ``Trainable params`` count parameters only: BN running statistics are
buffers and are not counted anywhere (``Non-trainable params: 0`` for these models).

``lines`` keeps the eight lines verbatim. torchinfo 1.8.0 on Python 3.11 prints the mult-adds
unit as ``Total mult-adds (Units.GIGABYTES): 1.81`` (the enum's repr, a torchinfo quirk);
``printed.mult_adds_units`` holds that label.

``Total mult-adds`` (also recorded) is torchinfo's own count, not cnncalc's MACs: for Conv
modules every weight AND bias parameter times prod(output shape without the channel dim),
for other leaf modules with a ``weight``/``bias`` (BatchNorm, Linear) output_size[0] (the
batch) times the parameter count; printed in M or G with 2 decimals.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import torch
import torchinfo
import torchvision
from _output import write_checked  # noqa: E402  (sibling module: the script folder is on sys.path)

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "data" / "reference" / "torchinfo.json"

MODELS = ["resnet18", "resnet50", "resnet152", "vgg16", "mobilenet_v2", "densenet121",
          "alexnet", "squeezenet1_1"]
# fwd/bwd, params, total as torchinfo prints them
EXPECTED = {"resnet152": ("360.87", "240.77", "602.25"),
            "resnet18": ("39.75", "46.76", "87.11"),
            "vgg16": ("108.45", "553.43", "662.49")}
LINES = {"Input size (MB)": "input_mb", "Forward/backward pass size (MB)": "fwd_bwd_mb",
         "Params size (MB)": "params_mb", "Estimated Total Size (MB)": "total_mb",
         "Total params": "total_params", "Trainable params": "trainable_params",
         "Non-trainable params": "non_trainable_params", "Total mult-adds": "mult_adds"}


def summarise(name: str) -> dict:
    torch.manual_seed(0)
    model = torchvision.models.get_model(name, weights=None)
    stats = torchinfo.summary(model, input_size=(1, 3, 224, 224), verbose=0)
    printed, lines = {}, []
    for line in str(stats).splitlines():
        label, sep, value = line.rpartition(": ")
        key = re.sub(r"\s*\(Units\.\w+\)$", "", label).strip()   # "Total mult-adds (Units.X)"
        if sep and key in LINES:
            printed[LINES[key]] = value.strip()
            lines.append(line)
            if key == "Total mult-adds":
                printed["mult_adds_units"] = label[len(key):].strip(" ()")
    raw = {"total_input": stats.total_input, "total_output_bytes": stats.total_output_bytes,
           "total_param_bytes": stats.total_param_bytes, "total_params": stats.total_params,
           "trainable_params": stats.trainable_params, "total_mult_adds": stats.total_mult_adds}
    return {"name": name, "input_size": [1, 3, 224, 224], "printed": printed, "raw": raw,
            "lines": lines}


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    chosen = [m for m in MODELS if not argv or m in argv]
    doc = {"generator": "tools/reference/torchinfo_summary.py", "torch": torch.__version__,
           "torchvision": torchvision.__version__,
           "torchinfo": getattr(torchinfo, "__version__", "?"),
           "convention": "torchinfo.summary(model, input_size=(1,3,224,224), verbose=0), "
                         "model built with weights=None in train mode; printed = the strings "
                         "torchinfo prints; raw = ModelStatistics fields (bytes, MB = 1e6)",
           "models": []}
    bad = []
    for name in chosen:
        rec = summarise(name)
        p = rec["printed"]
        got = (p["fwd_bwd_mb"], p["params_mb"], p["total_mb"])
        flag = ""
        if name in EXPECTED:
            rec["expected"] = list(EXPECTED[name])
            flag = "OK" if got == EXPECTED[name] else f"MISMATCH expected {EXPECTED[name]}"
            if got != EXPECTED[name]:
                bad.append(name)
        doc["models"].append(rec)
        print(f"{name:15s} {p} {rec['raw']} {flag}", flush=True)
    if argv:
        return
    if bad:
        sys.exit(f"torchinfo figures differ from the expected ones for {bad}; not written")
    text = "{" + json.dumps({k: v for k, v in doc.items() if k != "models"},
                            separators=(",", ":"))[1:-1] + ',"models":[\n'
    text += ",\n".join(json.dumps(m, separators=(",", ":")) for m in doc["models"]) + "\n]}\n"
    write_checked(OUT, text, doc)


if __name__ == "__main__":
    main(sys.argv[1:])
