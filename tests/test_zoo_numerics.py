"""``cnncalc NAME --run --weights`` computes what torch computes, given the same weights.

tests/data/reference/zoo_numerics.json holds torch's output (torchvision 0.29.1 / timm 1.0.31) for
a few zoo nets at 64x64 (the segmentation nets at 40x40, their output map sampled at every 5th row
and column), with weights and input made from a seed by the rule in
tools/reference/zoo_numerics.py (``arrays`` and ``image``, NumPy only, imported here): the k-th
layer with parameters, in execution order, gets the same arrays on both sides. Here they come
from cnncalc's own analysis, in the ``--weights`` npz layout (docs/RUN.md), keyed by the layers'
paths; so the test also checks that the zoo's layers come in torch's order with torch's shapes.
Torch is not needed: only its output is stored.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import cnncalc
from cnncalc import engine
from cnncalc.spec import zoo_names

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "reference" / "zoo_numerics.json"
TOOL = ROOT / "tools" / "reference" / "zoo_numerics.py"


def _rule():
    spec = importlib.util.spec_from_file_location("zoo_numerics", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


if not DATA.exists() or not TOOL.exists():
    pytest.skip("no reference outputs (tools/reference/zoo_numerics.py writes them)",
                allow_module_level=True)
RULE = _rule()
REF = json.loads(DATA.read_text(encoding="utf-8"))
NETS = {net["name"]: net for net in REF["nets"]}


def weights(a: cnncalc.Analysis, seed: int) -> dict[str, np.ndarray]:
    """Every layer's arrays by the shared rule, keyed like ``--weights`` wants them."""
    out: dict[str, np.ndarray] = {}
    k = 0
    for rec in a.layers:
        specs = engine.param_specs(rec)
        if not specs:
            continue
        keys = [s.key for s in specs]
        for key, arr in zip(keys, RULE.arrays(k, keys, [s.shape for s in specs], seed)):
            out[f"{rec.path}.{key}"] = arr
        k += 1
    return out


def test_the_reference_has_at_least_five_new_nets():
    assert len(NETS) >= 5
    assert all(name in zoo_names() for name in NETS)
    assert REF["seed"] == RULE.SEED


@pytest.mark.parametrize("name", sorted(NETS))
def test_run_with_the_same_weights_as_torch(cli, tmp_path, name):
    ref = NETS[name]
    shape = tuple(ref["input"])
    a = cnncalc.analyse(cnncalc.load(name), shape)
    wfile, xfile, yfile = tmp_path / "w.npz", tmp_path / "x.npy", tmp_path / "y.npy"
    np.savez(wfile, **weights(a, REF["seed"]))
    np.save(xfile, RULE.image(shape[0], REF["seed"]))
    res = cli(name, "--run", "--weights", str(wfile), "--image", str(xfile),
              "--input", "x".join(map(str, shape)), "--save-output", str(yfile), "-q")
    assert res.code == 0, res.err
    assert "unused" not in res.err and "not used" not in res.err, res.err
    ours = np.load(yfile)
    assert ours.shape in (tuple(ref["output_shape"]), (1, *ref["output_shape"]))
    ours = ours.reshape(ref["output_shape"])
    if ref["step"] > 1:                 # a segmentation map: every step-th row and column
        ours = ours[::ref["step"], ::ref["step"]]
    theirs = np.asarray(ref["output"], dtype=np.float64).reshape(ref["stored_shape"])
    diff = np.abs(ours - theirs).max()
    assert diff <= 1e-3, f"{name}: largest difference {diff:.3g} (outputs' std {theirs.std():.3g})"
