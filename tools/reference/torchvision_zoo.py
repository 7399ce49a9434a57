"""Reference shapes, parameters and MACs of the torchvision (and two timm) models.

Writes ``tests/data/reference/torchvision_zoo.json``.

Needs a virtualenv OUTSIDE the repo with torch, torchvision and timm (no weights are
downloaded: every model is built with ``weights=None`` / ``pretrained=False``)::

    python3 -m venv /work/venv-ref
    /work/venv-ref/bin/pip install torch==2.14.1 torchvision==0.29.1 timm
    /work/venv-ref/bin/python tools/reference/torchvision_zoo.py            # all models
    /work/venv-ref/bin/python tools/reference/torchvision_zoo.py resnet18   # just some (printed,
                                                                             # file not written)

The output is deterministic (only shapes and counts are recorded, never values) and its
header names the torch / torchvision / timm versions that produced it.

Conventions (the ones cnncalc uses):

* shapes drop the batch dimension; a 4-D NCHW tensor is written ``[h, w, c]``, any other
  tensor keeps its own order minus the batch dimension (``[n]`` for a vector; a Linear applied
  to a channels-last ``N,H,W,C`` tensor, as in ConvNeXt, is ``[h, w, c]``).
* ``macs``: Conv2d = out_h * out_w * weight.numel() (= k_h * k_w * c_in/groups * c_out per
  output position); ConvTranspose2d = in_h * in_w * weight.numel() (every input position
  scatters the whole kernel; cnncalc's conv_transpose rule); Linear = rows * in * out where
  rows = number of input vectors for one sample (1 for an ``[N, in]`` input, h*w for a
  channels-last map). Bias is excluded; BN, pooling, activations and everything else count 0.
  A model's ``macs`` is the sum over every recorded call.
* ``trainable`` = numel of the parameters with requires_grad; ``non_trainable`` = numel of the
  BatchNorm ``running_mean`` + ``running_var`` buffers (``num_batches_tracked`` excluded).
* ``layers`` lists, in execution order (forward hooks on the modules, batch 1, eval mode), every
  call of a Conv2d / ConvTranspose2d / Linear module (subclasses included, e.g. timm's
  Conv2dSame): ``path`` (the module's name in ``model.named_modules()``), ``type`` (class name),
  ``in`` / ``out`` shapes, ``params`` (the module's own weight + bias numel), ``macs``, and its
  configuration: ``k`` kernel [h, w], ``s`` stride, ``p`` padding (as the module stores it:
  [h, w] or a string), ``d`` dilation, ``g`` groups, ``bias`` (bool); ConvTranspose2d also has
  ``op`` output_padding. Linear rows have only ``bias``.
"""

from __future__ import annotations

import json
import math
import sys
import traceback
from pathlib import Path

import torch
import torchvision
from torch import nn
from _output import write_checked  # noqa: E402  (sibling module: the script folder is on sys.path)

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "data" / "reference" / "torchvision_zoo.json"

# name, source, builder kwargs (besides weights=None), reference size, second size
CLS = (224, 160)
MODELS: list[tuple[str, str, dict, tuple[int, int]]] = [
    ("alexnet", "torchvision", {}, CLS),
    ("vgg11", "torchvision", {}, CLS),
    ("vgg13", "torchvision", {}, CLS),
    ("vgg16", "torchvision", {}, CLS),
    ("vgg19", "torchvision", {}, CLS),
    ("vgg11_bn", "torchvision", {}, CLS),
    ("vgg13_bn", "torchvision", {}, CLS),
    ("vgg16_bn", "torchvision", {}, CLS),
    ("vgg19_bn", "torchvision", {}, CLS),
    ("resnet18", "torchvision", {}, CLS),
    ("resnet34", "torchvision", {}, CLS),
    ("resnet50", "torchvision", {}, CLS),
    ("resnet101", "torchvision", {}, CLS),
    ("resnet152", "torchvision", {}, CLS),
    ("resnext50_32x4d", "torchvision", {}, CLS),
    ("resnext101_32x8d", "torchvision", {}, CLS),
    ("wide_resnet50_2", "torchvision", {}, CLS),
    ("densenet121", "torchvision", {}, CLS),
    ("densenet169", "torchvision", {}, CLS),
    ("densenet201", "torchvision", {}, CLS),
    ("googlenet", "torchvision", {"aux_logits": False, "init_weights": False}, CLS),
    ("inception_v3", "torchvision", {"aux_logits": False, "init_weights": False}, (299, 160)),
    ("squeezenet1_0", "torchvision", {}, CLS),
    ("squeezenet1_1", "torchvision", {}, CLS),
    ("mobilenet_v2", "torchvision", {}, CLS),
    ("mobilenet_v3_small", "torchvision", {}, CLS),
    ("mobilenet_v3_large", "torchvision", {}, CLS),
    ("mnasnet0_5", "torchvision", {}, CLS),
    ("mnasnet1_0", "torchvision", {}, CLS),
    ("efficientnet_b0", "torchvision", {}, CLS),
    ("efficientnet_b1", "torchvision", {}, (240, 160)),
    ("efficientnet_b3", "torchvision", {}, (300, 160)),
    ("efficientnet_v2_s", "torchvision", {}, (384, 160)),
    ("regnet_x_400mf", "torchvision", {}, CLS),
    ("regnet_y_400mf", "torchvision", {}, CLS),
    ("regnet_x_800mf", "torchvision", {}, CLS),
    ("regnet_y_800mf", "torchvision", {}, CLS),
    ("shufflenet_v2_x0_5", "torchvision", {}, CLS),
    ("shufflenet_v2_x1_0", "torchvision", {}, CLS),
    ("convnext_tiny", "torchvision", {}, CLS),
    ("convnext_small", "torchvision", {}, CLS),
    ("fcn_resnet50", "torchvision", {"aux_loss": False, "weights_backbone": None}, (520, 256)),
    ("deeplabv3_resnet50", "torchvision", {"aux_loss": False, "weights_backbone": None},
     (520, 256)),
    ("darknet53", "timm", {}, (256, 160)),
    ("cspdarknet53", "timm", {}, (256, 160)),
]


def build(name: str, source: str, kwargs: dict) -> nn.Module:
    torch.manual_seed(0)
    if source == "timm":
        import timm
        return timm.create_model(name, pretrained=False, **kwargs)
    return torchvision.models.get_model(name, weights=None, **kwargs)


def shape(t: torch.Tensor, nchw: bool = True) -> list[int]:
    s = list(t.shape[1:])
    if nchw and t.dim() == 4:
        c, h, w = s
        return [h, w, c]
    return s


def pair(v) -> list | str:
    if isinstance(v, str):
        return v
    return list(v) if isinstance(v, (tuple, list)) else [v, v]


def totals(model: nn.Module) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    non_trainable = 0
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._NormBase) and m.track_running_stats:
            non_trainable += m.running_mean.numel() + m.running_var.numel()
    return trainable, non_trainable


def run(model: nn.Module, size: int) -> dict:
    layers: list[dict] = []
    handles = []

    def hook(mod, args, out, path):
        x = args[0]
        own = sum(p.numel() for p in mod.parameters(recurse=False))
        lin = isinstance(mod, nn.Linear)      # a Linear's 4-D input is channels-last
        row = {"path": path, "type": type(mod).__name__, "in": shape(x, not lin),
               "out": shape(out, not lin), "params": own}
        if lin:
            rows = math.prod(x.shape[1:-1])
            row["macs"] = rows * mod.in_features * mod.out_features
            row["bias"] = mod.bias is not None
        else:
            wn = mod.weight.numel()
            if isinstance(mod, nn.ConvTranspose2d):
                row["macs"] = x.shape[2] * x.shape[3] * wn
            else:
                row["macs"] = out.shape[2] * out.shape[3] * wn
            row.update(k=pair(mod.kernel_size), s=pair(mod.stride), p=pair(mod.padding),
                       d=pair(mod.dilation), g=mod.groups, bias=mod.bias is not None)
            if isinstance(mod, nn.ConvTranspose2d):
                row["op"] = pair(mod.output_padding)
        layers.append(row)

    for path, mod in model.named_modules():
        if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            handles.append(mod.register_forward_hook(
                lambda m, a, o, path=path: hook(m, a, o, path)))
    try:
        with torch.no_grad():
            out = model(torch.zeros(1, 3, size, size))
    finally:
        for h in handles:
            h.remove()
    if isinstance(out, dict):          # segmentation models: {"out": N,C,H,W}
        out = out["out"]
    trainable, non_trainable = totals(model)
    return {"input": [size, size, 3], "output": shape(out), "trainable": trainable,
            "non_trainable": non_trainable, "macs": sum(r["macs"] for r in layers),
            "calls": len(layers), "layers": layers}


def model_entry(name: str, source: str, kwargs: dict, sizes: tuple[int, int]) -> dict:
    entry = {"name": name, "source": source, "kwargs": kwargs, "sizes": list(sizes)}
    try:
        model = build(name, source, kwargs).eval()
        entry["runs"] = [run(model, s) for s in sizes]
    except Exception as exc:  # record why and go on with the next model
        entry["error"] = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    return entry


def dump(doc: dict) -> str:
    """Compact JSON: one line per model header, one line per layer row."""
    head = {k: v for k, v in doc.items() if k != "models"}
    lines = ["{" + json.dumps(head, separators=(",", ":"))[1:-1] + ',"models":[']
    for i, m in enumerate(doc["models"]):
        mhead = {k: v for k, v in m.items() if k != "runs"}
        if "runs" not in m:
            lines.append(json.dumps(mhead, separators=(",", ":")) + ("," if i < len(
                doc["models"]) - 1 else ""))
            continue
        lines.append("{" + json.dumps(mhead, separators=(",", ":"))[1:-1] + ',"runs":[')
        for j, r in enumerate(m["runs"]):
            rhead = {k: v for k, v in r.items() if k != "layers"}
            lines.append("{" + json.dumps(rhead, separators=(",", ":"))[1:-1] + ',"layers":[')
            rows = [json.dumps(x, separators=(",", ":")) for x in r["layers"]]
            lines.append(",\n".join(rows))
            lines.append("]}" + ("," if j < len(m["runs"]) - 1 else ""))
        lines.append("]}" + ("," if i < len(doc["models"]) - 1 else ""))
    lines.append("]}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    import timm
    only = set(argv)
    chosen = [m for m in MODELS if not only or m[0] in only]
    doc = {
        "generator": "tools/reference/torchvision_zoo.py",
        "torch": torch.__version__, "torchvision": torchvision.__version__,
        "timm": timm.__version__,
        "conventions": "shapes [h,w,c] without batch; macs: conv out_h*out_w*weight.numel(), "
                       "conv_transpose in_h*in_w*weight.numel(), linear rows*in*out; bias "
                       "excluded; trainable = requires_grad numel; non_trainable = BN "
                       "running_mean+running_var numel; batch 1, eval mode",
        "models": [],
    }
    for name, source, kwargs, sizes in chosen:
        entry = model_entry(name, source, kwargs, sizes)
        doc["models"].append(entry)
        if "runs" in entry:
            r = entry["runs"][0]
            print(f"{name:20s} {r['trainable']:>12,} {r['non_trainable']:>9,} "
                  f"{r['macs']:>16,} {r['output']} calls={r['calls']}", flush=True)
        else:
            print(f"{name:20s} FAILED {entry['error']}", flush=True)
    if only:        # only some models: merge them into the existing file, in MODELS order
        old = json.loads(OUT.read_text())
        fresh = {m["name"]: m for m in doc["models"]}
        have = {m["name"]: m for m in old["models"]}
        have.update(fresh)
        doc["models"] = [have[n] for n, *_ in MODELS if n in have]
    write_checked(OUT, dump(doc), json.loads(json.dumps(doc)))   # tuples become lists


if __name__ == "__main__":
    main(sys.argv[1:])
