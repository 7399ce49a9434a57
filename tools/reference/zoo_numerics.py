"""Reference outputs for ``cnncalc NAME --run --weights``: the same weights in torch and cnncalc.

Writes ``tests/data/reference/zoo_numerics.json``; tests/test_zoo_numerics.py reads it.

The weights are not stored. Both sides make them from a seed with NumPy, by one rule
(:func:`arrays`): the k-th layer with parameters, in execution order, gets its arrays in
cnncalc's ``--weights`` layout (HWIO kernels, dense ``(in, units)``, batchnorm γ, β, mean,
variance, layernorm γ, β, layer scale γ; see docs/RUN.md), each from
``numpy.random.default_rng([seed, k, j])``. The test builds them from cnncalc's analysis (its
layers and their ``param_specs``) and writes an npz for ``--weights``; this script builds them
from the torch model's modules in the order they are called (forward hooks), converts each to
torch's layout (OIHW, ``Linear.weight`` transposed) and loads them. Every parameter and
batchnorm statistic of the model must be covered, or the script stops. The input is seeded too
(:func:`image`). Only torch's output is stored.

Needs the reference virtualenv (tools/reference/README.md), no weights downloads::

    /work/venv-ref/bin/python tools/reference/zoo_numerics.py             # all nets, writes
    /work/venv-ref/bin/python tools/reference/zoo_numerics.py mnasnet0_5  # prints only

This module imports only NumPy at the top, so the test can import :func:`arrays` and
:func:`image` without torch.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "data" / "reference" / "zoo_numerics.json"
SEED = 10
SIZE = 64          # small, and a multiple of 32: every net here still ends on a 2x2 map
SEG = {"aux_loss": False, "weights_backbone": None}

# zoo name: (source, builder kwargs besides weights=None / pretrained=False, input size, step):
# a segmentation map is stored at every `step`-th row and column only (out[::step, ::step])
NETS: dict[str, tuple[str, dict, int, int]] = {
    "mnasnet0_5": ("torchvision", {}, SIZE, 1),
    "shufflenet_v2_x0_5": ("torchvision", {}, SIZE, 1),
    "regnet_y_400mf": ("torchvision", {}, SIZE, 1),
    "efficientnet_b1": ("torchvision", {}, SIZE, 1),
    "resnext50_32x4d": ("torchvision", {}, SIZE, 1),
    "cspdarknet53": ("timm", {}, SIZE, 1),
    "mobilenet_v3_small": ("torchvision", {}, SIZE, 1),
    "convnext_tiny": ("torchvision", {}, SIZE, 1),
    "fcn_resnet50": ("torchvision", SEG, 40, 5),
    "deeplabv3_resnet50": ("torchvision", SEG, 40, 5),
}


def arrays(k: int, keys: list[str], shapes: list[tuple[int, ...]], seed: int = SEED
           ) -> list[np.ndarray]:
    """The arrays of the k-th layer with parameters (cnncalc's layout and key names).

    Kernels and dense matrices: U(±√(6 / fan_in)) with fan_in = all but the last axis (He's
    uniform, so activations keep their scale through ReLU layers); biases U(±0.1); batchnorm and
    layernorm γ (and a layer scale's γ) U(0.6, 1.0), β and the running mean U(±0.1), the running
    variance U(0.8, 1.2)."""
    out = []
    for j, (key, shape) in enumerate(zip(keys, shapes)):
        rng = np.random.default_rng([seed, k, j])
        if key == "weight":
            bound = math.sqrt(6.0 / math.prod(shape[:-1]))
            lo, hi = -bound, bound
        else:
            lo, hi = {"bias": (-0.1, 0.1), "gamma": (0.6, 1.0), "beta": (-0.1, 0.1),
                      "mean": (-0.1, 0.1), "var": (0.8, 1.2)}[key]
        out.append(rng.uniform(lo, hi, size=shape).astype(np.float32))
    return out


def image(size: int = SIZE, seed: int = SEED) -> np.ndarray:
    """The input, H×W×3 float32 in [0, 1)."""
    return np.random.default_rng([seed, 999_999]).random((size, size, 3), dtype=np.float32)


# --- torch side (only when run as a script) -------------------------------------------------------

def _build(name: str, source: str, kwargs: dict):
    if source == "timm":
        import timm
        return timm.create_model(name, pretrained=False, **kwargs)
    import torchvision
    return torchvision.models.get_model(name, weights=None, **kwargs)


def load_into_torch(model, x) -> int:
    """Give every Conv2d / Linear / BatchNorm2d its arrays, in call order; returns the number of
    values set (checked against the model's parameters and batchnorm statistics)."""
    import torch
    from torch import nn

    order: list[nn.Module] = []
    kinds = (nn.Conv2d, nn.Linear, nn.BatchNorm2d, nn.LayerNorm)
    # ConvNeXt's CNBlock holds its layer scale as a parameter of its own, used after its last
    # Linear: the block's hook fires after those of its modules, in the right place
    hooks = [m.register_forward_hook(lambda m, a, o: order.append(m) if m not in order else None)
             for m in model.modules() if isinstance(m, kinds) or hasattr(m, "layer_scale")]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    covered = 0
    with torch.no_grad():
        for k, m in enumerate(order):
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                keys, shapes = ["gamma", "beta", "mean", "var"], [(c,)] * 4
                targets = [m.weight, m.bias, m.running_mean, m.running_var]
                convert = [lambda a: a] * 4
            elif isinstance(m, nn.LayerNorm):
                c = m.weight.numel()
                keys, shapes = ["gamma", "beta"], [(c,)] * 2
                targets, convert = [m.weight, m.bias], [lambda a: a] * 2
            elif hasattr(m, "layer_scale"):
                g = m.layer_scale
                keys, shapes, targets = ["gamma"], [(g.numel(),)], [g]
                convert = [lambda a, s=tuple(g.shape): a.reshape(s)]
            else:
                w = m.weight
                if isinstance(m, nn.Linear):
                    shape = (w.shape[1], w.shape[0])
                    to_torch = lambda a: a.T   # noqa: E731  (in, units) → (out, in)
                else:
                    o, i, kh, kw = w.shape
                    shape = (kh, kw, i, o)
                    to_torch = lambda a: a.transpose(3, 2, 0, 1)   # noqa: E731  HWIO → OIHW
                keys, shapes = ["weight"], [shape]
                targets, convert = [w], [to_torch]
                if m.bias is not None:
                    keys.append("bias")
                    shapes.append((w.shape[0],))
                    targets.append(m.bias)
                    convert.append(lambda a: a)
            for t, a, f in zip(targets, arrays(k, keys, shapes), convert):
                value = torch.from_numpy(np.ascontiguousarray(f(a)))
                assert tuple(value.shape) == tuple(t.shape), (k, type(m).__name__, value.shape)
                t.copy_(value)
                covered += t.numel()
    return covered


def reference(name: str) -> dict:
    import torch
    from torch import nn

    source, kwargs, size, step = NETS[name]
    torch.manual_seed(0)
    model = _build(name, source, kwargs).eval()
    x = torch.from_numpy(image(size).transpose(2, 0, 1)[None].copy())
    covered = load_into_torch(model, x)
    total = sum(p.numel() for p in model.parameters()) + sum(
        m.running_mean.numel() + m.running_var.numel() for m in model.modules()
        if isinstance(m, nn.BatchNorm2d))
    if covered != total:
        raise SystemExit(f"{name}: the rule set {covered} values of {total}")
    with torch.no_grad():
        y = model(x)
    y = y["out"] if isinstance(y, dict) else y
    out = y[0].numpy()
    if out.ndim == 3:                 # C×H×W → H×W×C, cnncalc's order
        out = out.transpose(1, 2, 0)
    full = list(out.shape)
    if step > 1:
        out = out[::step, ::step]
    return {"name": name, "source": source, "kwargs": kwargs, "input": [size, size, 3],
            "output_shape": full, "step": step, "stored_shape": list(out.shape),
            "output_std": float(out.std()),
            "output": [round(float(v), 6) for v in out.ravel()]}     # ±5e-7: the test allows 1e-3


def main(argv: list[str]) -> None:
    import timm
    import torch
    import torchvision

    torch.set_num_threads(1)
    names = argv or list(NETS)
    doc = {"generator": "tools/reference/zoo_numerics.py", "torch": torch.__version__,
           "torchvision": torchvision.__version__, "timm": timm.__version__,
           "numpy": np.__version__, "seed": SEED,
           "rule": "tools/reference/zoo_numerics.py arrays() and image()",
           "nets": [reference(n) for n in names]}
    for net in doc["nets"]:
        print(f"{net['name']:22s} output {net['output_shape']} stored {net['stored_shape']} "
              f"std {net['output_std']:.4g}")
    if argv:
        return
    text = json.dumps(doc, indent=None, separators=(",", ":"))
    OUT.write_text(text.replace('{"name"', '\n{"name"') + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(REPO)} ({OUT.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main(sys.argv[1:])
