"""Every zoo net that torchvision (or timm) also builds, against the reference figures.

tests/data/reference/torchvision_zoo.json holds, for 43 models at two input sizes each, what
torchvision 0.29.1 / timm 1.0.31 report (tools/reference/torchvision_zoo.py wrote it; see
tools/reference/README.md): trainable parameters, batchnorm running statistics
(non-trainable), MACs, the output shape, and every Conv2d / ConvTranspose2d / Linear call in
execution order with its input and output shapes, parameters and MACs.

For each zoo net present there (same name), at the reference input size and at the second size,
cnncalc must give the same totals and the same conv/linear layers in the same order: one test for
all of them, so a net added to the zoo is checked the same way as soon as its YAML exists.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

import cnncalc
from cnncalc.spec import ZOO_DIR

REFERENCE = Path(__file__).resolve().parent / "data" / "reference" / "torchvision_zoo.json"
# cnncalc's layer types that torch implements as Conv2d / ConvTranspose2d / Linear
WEIGHTED = {"conv", "depthwise_conv", "separable_conv", "conv_transpose", "dense"}


@functools.lru_cache(maxsize=None)
def reference() -> dict[str, dict]:
    doc = json.loads(REFERENCE.read_text(encoding="utf-8"))
    return {m["name"]: m for m in doc["models"] if "runs" in m}


ZOO = sorted(p.stem for p in ZOO_DIR.glob("*.yaml"))
CHECKED = [name for name in ZOO if name in reference()]
CASES = [(name, i) for name in CHECKED for i in range(2)]


def _ids(case: tuple[str, int]) -> str:
    name, i = case
    return f"{name}-{reference()[name]['sizes'][i]}"


@functools.lru_cache(maxsize=None)
def _analysis(name: str, size: int) -> cnncalc.Analysis:
    return cnncalc.analyse(cnncalc.load(name), input_shape=(size, size, 3))


def test_the_reference_covers_the_zoo():
    """Every classic torchvision / timm net of the zoo is checked here, and the zoo's own input
    is the reference input (the first size) of each."""
    assert len(CHECKED) >= 17
    for name in CHECKED:
        size = reference()[name]["sizes"][0]
        assert cnncalc.load(name).input == (size, size, 3), name


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_totals_and_every_weighted_layer(case):
    name, i = case
    run = reference()[name]["runs"][i]
    a = _analysis(name, run["input"][0])
    t = a.totals()
    assert list(a.output) == run["output"]
    assert (t["trainable"], t["non_trainable"], t["macs"]) == (
        run["trainable"], run["non_trainable"], run["macs"])
    ours = [r for r in a.layers if r.type in WEIGHTED]
    theirs = run["layers"]
    for k, (r, ref) in enumerate(zip(ours, theirs)):
        got = (list(r.input_shapes[0]), list(r.output), r.trainable, r.macs)
        want = (ref["in"], ref["out"], ref["params"], ref["macs"])
        assert got == want, (f"{name} at {run['input'][0]}: weighted layer {k + 1} "
                             f"{r.path} ({r.type}) vs torch's {ref['path']} ({ref['type']})")
    assert len(ours) == len(theirs)
