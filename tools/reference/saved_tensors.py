"""Bytes that autograd really saves for backward, measured on torchvision models.

Writes ``tests/data/reference/saved_tensors.json``.

Needs a virtualenv OUTSIDE the repo with torch and torchvision (no weights are downloaded)::

    python3 -m venv /work/venv-ref
    /work/venv-ref/bin/pip install torch==2.14.1 torchvision==0.29.1
    /work/venv-ref/bin/python tools/reference/saved_tensors.py             # all models
    /work/venv-ref/bin/python tools/reference/saved_tensors.py resnet18    # print only

Deterministic: only storage sizes, shapes and dtypes are recorded.

Measurement (the convention of every figure in the file):

* model built with ``weights=None`` (googlenet / inception_v3 with ``aux_logits=False,
  init_weights=False``), put in **train mode** (BatchNorm uses batch statistics, Dropout is
  active), float32, one forward pass on a batch of 8 at 224x224 (299x299 for inception_v3)
  with ``requires_grad`` False on the input, inside
  ``torch.autograd.graph.saved_tensors_hooks(pack, unpack)``, on CPU.
* ``pack`` records every tensor autograd saves: its ``untyped_storage().data_ptr()`` and
  ``untyped_storage().nbytes()``. A storage saved several times (a view, an in-place result,
  the same tensor saved by two ops) is counted once.
* ``saved_bytes`` = sum of the nbytes of the UNIQUE storages, EXCLUDING the parameters (any
  storage whose data_ptr is one of ``model.parameters()``) and EXCLUDING the input batch.
  ``input_bytes`` is the input batch (8*3*224*224*4 = 4,816,896 for 224) and ``input_saved``
  says whether autograd saved it (the first conv saves its input to compute the weight
  gradient; it does in every model here). ``saved_with_input`` = ``saved_bytes`` +
  ``input_bytes`` when the input was saved: "every storage autograd saves except the
  parameters". ``param_bytes_saved`` is what the excluded parameter storages held.
* The expected figures given with the task (resnet18 177,515,520; vgg16 586,842,112;
  mobilenet_v2 625,949,184; densenet121 1,043,559,936) are ``saved_with_input``: each is
  ``saved_bytes`` + 4,816,896 exactly. The script checks those four and refuses to write the
  file if one differs (``expected`` in the record).
* The models' in-place ReLUs (``inplace=True`` in torchvision) are kept as they are: an
  in-place ReLU's output shares its storage with the BatchNorm/conv output it overwrote, so
  that storage is counted once. BatchNorm (train mode, CPU) saves its *input* (the conv
  output, another storage), its weight (a parameter: excluded), its ``running_mean`` and
  ``running_var`` BUFFERS (counted: they are not parameters; ``buffer_bytes_saved`` gives
  their total so they can be taken out) and its ``save_mean`` / ``save_invstd`` vectors: 4*C*4
  bytes of [C] vectors per BN call besides the input. MaxPool saves its input and its int64
  indices; Linear and Conv save their input; ReLU saves its result; Dropout (CPU) saves a
  float32 mask of the input's shape; and so on: the file records what torch 2.14 keeps.

``detail`` (resnet18 and vgg16 only) lists every counted storage (plus the input) in the order
it was first saved, as ``[module, kind, shape, dtype, nbytes, savers]``: ``module`` is the
module running when the storage was first packed (a stack of forward pre-/post-hooks on every
module, so a leaf module's path, or its parent's path for functional code such as
``torch.flatten`` or a residual add, ``""`` for the model's own forward); ``kind`` is
``"input"`` (the input batch, not in ``saved_bytes``), ``"buffer"`` (a model buffer: BN
running stats) or ``"tensor"`` (anything else: activations, masks, indices, BN batch
statistics); ``shape`` is the saved tensor's shape in PyTorch's own order (NCHW, batch 8
included); ``nbytes`` the storage's size; ``savers`` every module that packed that storage, in
order, one entry per pack (e.g. ``["features.1", "features.2"]`` in vgg16: the in-place ReLU
saves its result and the next conv saves the same storage as its input). The ``nbytes`` of
the non-input rows add up to ``saved_bytes``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torchvision
from _output import write_checked  # noqa: E402  (sibling module: the script folder is on sys.path)

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "data" / "reference" / "saved_tensors.json"

BATCH = 8
EXPECTED = {"resnet18": 177_515_520, "vgg16": 586_842_112, "mobilenet_v2": 625_949_184,
            "densenet121": 1_043_559_936}
MODELS = ["resnet18", "vgg16", "mobilenet_v2", "densenet121",
          "alexnet", "vgg11", "resnet34", "resnet50", "resnet101", "googlenet",
          "squeezenet1_1", "mobilenet_v3_large", "efficientnet_b0", "shufflenet_v2_x1_0",
          "convnext_tiny", "regnet_y_400mf", "densenet169", "inception_v3"]
DETAIL = {"resnet18", "vgg16"}
KWARGS = {"googlenet": {"aux_logits": False, "init_weights": False},
          "inception_v3": {"aux_logits": False, "init_weights": False}}
SIZE = {"inception_v3": 299}


def measure(name: str, detail: bool) -> dict:
    torch.manual_seed(0)
    model = torchvision.models.get_model(name, weights=None, **KWARGS.get(name, {})).train()
    size = SIZE.get(name, 224)
    x = torch.randn(BATCH, 3, size, size)
    param_ptrs = {p.untyped_storage().data_ptr() for p in model.parameters()}
    input_ptr = x.untyped_storage().data_ptr()

    stack: list[str] = [""]
    handles = []

    def enter(path: str) -> None:
        stack.append(path)

    def leave() -> None:                 # returns None: a hook's return value replaces output
        stack.pop()

    if detail:
        for path, mod in model.named_modules():
            if path:
                handles.append(mod.register_forward_pre_hook(
                    lambda m, a, path=path: enter(path)))
                handles.append(mod.register_forward_hook(lambda m, a, o: leave()))

    buffer_ptrs = {b.untyped_storage().data_ptr() for b in model.buffers()}
    storages: dict[int, list] = {}     # data_ptr -> [module, kind, shape, dtype, nbytes, savers]
    packs = 0

    def pack(t: torch.Tensor):
        nonlocal packs
        packs += 1
        st = t.untyped_storage()
        ptr = st.data_ptr()
        if ptr in storages:
            storages[ptr][5].append(stack[-1])
        else:
            kind = "input" if ptr == input_ptr else "buffer" if ptr in buffer_ptrs else "tensor"
            storages[ptr] = [stack[-1], kind, list(t.shape), str(t.dtype).replace("torch.", ""),
                             st.nbytes(), [stack[-1]]]
        return t

    def unpack(t):
        return t

    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
            out = model(x)
    finally:
        for h in handles:
            h.remove()
    if not isinstance(out, torch.Tensor):
        out = out[0]

    saved = sum(v[4] for p, v in storages.items() if p not in param_ptrs and p != input_ptr)
    param_bytes = sum(v[4] for p, v in storages.items() if p in param_ptrs)
    buffer_bytes = sum(v[4] for p, v in storages.items() if p in buffer_ptrs)
    rec = {"name": name, "input": [size, size, 3], "batch": BATCH, "dtype": "float32",
           "saved_bytes": saved, "input_bytes": x.untyped_storage().nbytes(),
           "input_saved": input_ptr in storages,
           "saved_with_input": saved + (x.untyped_storage().nbytes() if input_ptr in storages
                                        else 0),
           "param_bytes_saved": param_bytes, "buffer_bytes_saved": buffer_bytes,
           "storages": sum(1 for p in storages if p not in param_ptrs and p != input_ptr),
           "packs": packs}
    if name in EXPECTED:
        rec["expected"] = EXPECTED[name]
    if detail:
        rec["detail"] = [v for p, v in storages.items() if p not in param_ptrs]
        assert sum(v[4] for v in rec["detail"] if v[1] != "input") == saved
    del out
    return rec


def dump(doc: dict) -> str:
    head = {k: v for k, v in doc.items() if k != "models"}
    lines = ["{" + json.dumps(head, separators=(",", ":"))[1:-1] + ',"models":[']
    for i, m in enumerate(doc["models"]):
        comma = "," if i < len(doc["models"]) - 1 else ""
        if "detail" not in m:
            lines.append(json.dumps(m, separators=(",", ":")) + comma)
            continue
        mhead = {k: v for k, v in m.items() if k != "detail"}
        lines.append("{" + json.dumps(mhead, separators=(",", ":"))[1:-1] + ',"detail":[')
        lines.append(",\n".join(json.dumps(r, separators=(",", ":")) for r in m["detail"]))
        lines.append("]}" + comma)
    lines.append("]}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    chosen = [m for m in MODELS if not argv or m in argv]
    doc = {"generator": "tools/reference/saved_tensors.py", "torch": torch.__version__,
           "torchvision": torchvision.__version__,
           "convention": "train mode, float32, batch 8, CPU; saved_bytes = sum of nbytes of "
                         "unique untyped storages packed by saved_tensors_hooks during one "
                         "forward, excluding parameter storages and the input batch "
                         "(input_bytes, input_saved given apart); saved_with_input = "
                         "saved_bytes + input_bytes if the input was saved (the convention "
                         "of the expected figures); in-place ReLUs as built",
           "models": []}
    bad = []
    for name in chosen:
        rec = measure(name, name in DETAIL)
        doc["models"].append(rec)
        flag = ""
        if "expected" in rec:
            flag = "OK" if rec["saved_with_input"] == rec["expected"] else \
                f"MISMATCH expected {rec['expected']:,}"
            if rec["saved_with_input"] != rec["expected"]:
                bad.append(name)
        print(f"{name:20s} saved={rec['saved_bytes']:>15,} "
              f"with_input={rec['saved_with_input']:>15,} input={rec['input_bytes']:,} "
              f"input_saved={rec['input_saved']} params_saved={rec['param_bytes_saved']:,} "
              f"storages={rec['storages']} packs={rec['packs']} {flag}", flush=True)
    if argv:
        return
    if bad:
        sys.exit(f"saved bytes differ from the expected figures for {bad}; not written")
    write_checked(OUT, dump(doc), doc)


if __name__ == "__main__":
    main(sys.argv[1:])
