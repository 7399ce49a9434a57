"""Why is an answer wrong? The named mistake behind a wrong shape, count or receptive field.

Every candidate is a wrong answer recomputed with one rule changed, and a mistake is named only
when its recomputed value equals the student's answer exactly. The candidates come from:

1. the layer's own home (``size_mistakes``, ``channel_mistake``, ``param_mistakes``,
   ``macs_mistakes`` of its class): formula slips within the layer checked;
2. the wrong layer: the answer is another layer's value (or a total stopped early, or a total
   with one layer left out);
3. the numbers themselves: trainable vs all parameters, FLOPs vs MACs, the batch;
4. misreadings (each layer class's ``misreadings``: padding ignored, stride applied twice,
   dilation or groups ignored, ceil for floor, biases or output padding forgotten), re-analysed
   through the network, first in every layer that has them, then (when nothing else fits) in
   one layer at a time;
5. for receptive fields, the walk along the path that gives the largest field, redone with the
   usual slips: kernel sizes summed instead of compounded, the jump forgotten (everywhere, or
   after one strided layer such as a pool), a layer's own stride multiplied in, the 1 left out.

Nothing here branches on a layer's type name: the layer classes say what their mistakes are.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import math
from collections import Counter
from fractions import Fraction
from typing import Any, Callable, NamedTuple

from .analysis import Analysis, Group, LayerRecord, analyse
from .errors import CnnCalcError
from .layers import Layer, fmt_shape
from .shapes import IDENTITY_FIELD, Field, divide
from .spec import Composite, Leaf, Model, Seq

QUANTITIES = ("output", "params", "trainable", "macs", "rf")
MAX_HINTS = 4
SINGLE_LAYER_SCAN = 48      # layers (nearest the target first) whose misreadings are tried alone
REANALYSIS_BUDGET = 40_000   # layers analysed again in all, per check (a 40,000-layer network:
#                              one re-analysis; VGG-16: all of them), so a check stays quick


# --- what a check is about: the network, one layer or one group --------------------------------

class Target(NamedTuple):
    kind: str                        # "network", "layer" or "group"
    rec: LayerRecord | None          # the layer (for a group or the network: its last layer)
    group: Group | None
    first: int                       # leaf indices covered
    last: int

    def label(self) -> str:
        if self.kind == "layer":
            assert self.rec is not None
            return f"layer {self.rec.index} '{self.rec.path}'"
        if self.kind == "group":
            assert self.group is not None
            return f"'{self.group.path}' (layers {self.first}-{self.last})"
        return "the network"


def network(a: Analysis) -> Target:
    return Target("network", a.layers[-1] if a.layers else None, None, 1, len(a.layers))


def resolve_at(a: Analysis, text: str) -> Target:
    """``--at``: a layer name, a path (``layer2.0.body.conv_1``, or a group such as ``layer2``)
    or a 1-based index. An unknown or ambiguous one is an error listing the nearest names."""
    item = text.strip()
    if item.isdigit():
        i = int(item)
        if 1 <= i <= len(a.layers):
            rec = a.layers[i - 1]
            return Target("layer", rec, None, i, i)
        raise CnnCalcError(f"--at {item}: there is no layer {item}; this network has layers "
                           f"1-{len(a.layers)}")
    for rec in a.layers:
        if rec.path == item:
            return Target("layer", rec, None, rec.index, rec.index)
    for row in a.rows:
        if isinstance(row, Group) and row.path == item and row.last >= row.first:
            return Target("group", a.layers[row.last - 1], row, row.first, row.last)
    named = [rec for rec in a.layers if rec.name == item]
    if len(named) == 1:
        return Target("layer", named[0], None, named[0].index, named[0].index)
    if named:
        listed = ", ".join(r.path for r in named[:4]) + (", …" if len(named) > 4 else "")
        raise CnnCalcError(f"--at {item}: {len(named)} layers are called '{item}' ({listed}); "
                           f"give a path or an index")
    names = list(dict.fromkeys([r.path for r in a.layers] + [r.name for r in a.layers] +
                               [g.path for g in a.rows if isinstance(g, Group)]))
    near = difflib.get_close_matches(item, names, n=5, cutoff=0.5)
    if not near:
        near = [r.path for r in a.layers[:5]]
    raise CnnCalcError(f"--at {item}: no layer or group of that name; nearest: "
                       f"{', '.join(near)} (or an index 1-{len(a.layers)})")


def last_map(a: Analysis, t: Target) -> LayerRecord | None:
    """The layer whose receptive field a check of ``t`` means: the layer itself, or (for the
    network or a group) its last feature map larger than 1×1, as the totals report it."""
    if t.kind == "layer":
        return t.rec if t.rec is not None and len(t.rec.output) == 3 else None
    for rec in reversed(a.layers[t.first - 1:t.last]):
        if len(rec.output) == 3 and rec.output[0] * rec.output[1] > 1:
            return rec
    return None


def value(a: Analysis, t: Target, quantity: str) -> Any:
    """The computed value of ``quantity`` at ``t``: a shape, an int, or (rf_h, rf_w)."""
    if quantity == "output":
        if t.kind == "group":
            assert t.group is not None
            return tuple(t.group.output)
        return tuple(t.rec.output) if t.rec is not None else tuple(a.input)
    if quantity == "rf":
        rec = last_map(a, t)
        if rec is None and t.kind == "layer":
            raise CnnCalcError(f"--expect-rf: {t.label()} outputs a vector, not a feature map; "
                               f"a receptive field belongs to a map (give --at a map's layer)")
        if rec is None:
            raise CnnCalcError(f"{t.label()} has no feature map larger than 1x1 to take a "
                               f"receptive field of; give --at a layer")
        return (rec.field.rf_h, rec.field.rf_w)
    recs = a.layers[t.first - 1:t.last]
    return sum(getattr(r, quantity) for r in recs)


def find(a: Analysis, t: Target) -> Target | None:
    """The same target in another analysis of a variant of the model (matched by path)."""
    if t.kind == "network":
        return network(a)
    path = t.group.path if t.group is not None else t.rec.path if t.rec is not None else ""
    try:
        return resolve_at(a, path)
    except CnnCalcError:
        return None


# --- the diagnosis -------------------------------------------------------------------------------

class Diagnosis(NamedTuple):
    mistakes: list[str]              # named mistakes that give the answer exactly
    note: str = ""                   # when none is named: what the right value is made of

    @property
    def named(self) -> bool:
        return bool(self.mistakes)


def diagnose(model: Model | None, a: Analysis, t: Target, quantity: str, expected: Any,
             source: tuple[int, ...] | None = None) -> Diagnosis:
    """The named mistakes that turn the right ``quantity`` at ``t`` into ``expected``.

    ``model`` (the spec the analysis came from) lets misreadings be re-analysed; without it only
    the layer's own mistakes and the wrong-layer comparisons are tried. ``source`` is the shape a
    dense layer's input had before flattening (for its parameter mistakes)."""
    right = value(a, t, quantity)
    if quantity == "rf" and t.kind != "layer":      # the field of one layer, as value() takes it
        rec = last_map(a, t)
        assert rec is not None
        t = Target("layer", rec, None, rec.index, rec.index)
    hints: list[str] = []

    def add(found: list[str]) -> None:
        for h in found:
            if h not in hints:
                hints.append(h)

    own = _own(a, t, quantity, expected, right, source)
    add(own)
    add(_numbers(a, t, quantity, expected, right))
    if quantity == "rf":
        add(_rf_walks(a, t, expected))
    add(_wrong_layer(a, t, quantity, expected, right))
    if model is not None and not hints:         # misreadings: only when nothing else fits
        found = _misread(model, a, t, quantity, expected, right, every=True)
        if not found:
            found = _misread(model, a, t, quantity, expected, right, every=False)
        add(found)
    if hints:
        return Diagnosis(hints[:MAX_HINTS])
    return Diagnosis([], _note(a, t, quantity, expected, right))


def _same(quantity: str, expected: Any, alt: Any) -> bool:
    if quantity == "rf":
        return alt is not None and tuple(Fraction(x) for x in expected) == tuple(alt)
    if quantity == "output":
        return tuple(expected) == tuple(alt)
    return expected == alt


# 1. the layer's own home

def _own(a: Analysis, t: Target, quantity: str, expected: Any, right: Any,
         source: tuple[int, ...] | None) -> list[str]:
    if quantity == "output":
        rec = t.rec
        if rec is None or (t.kind == "group" and tuple(rec.output) != tuple(right)):
            return []
        found = _shape_mistakes(rec, expected)
        if t.kind != "layer" and len(a.layers) > 1:
            found = [f"{h} (in the last layer, {rec.index} '{rec.path}')" for h in found]
        return found
    rec = _carrier(a, t, quantity)
    if rec is None:
        return []
    layer = rec.layer
    if quantity in ("params", "trainable"):
        if source is None:
            source = _unflattened(a, rec)
        if quantity == "params" and not rec.params and expected:
            return [f"{rec.type} layers have no parameters: the count is 0"]
        return [label for label, v in layer.param_mistakes(rec, source)
                if v == expected and v != right]
    if quantity == "macs":
        if not rec.macs and expected:
            return [f"{rec.type} layers do no multiply-accumulates: the count is 0"]
        return [label for label, v in layer.macs_mistakes(rec)
                if v * a.batch == expected and v * a.batch != right]
    return []


def _carrier(a: Analysis, t: Target, quantity: str) -> LayerRecord | None:
    """The one layer a count at ``t`` comes from: the layer itself, or the only layer of the
    network or group with a nonzero count (a flatten and one dense layer)."""
    if t.kind == "layer":
        return t.rec
    if quantity not in ("params", "trainable", "macs"):
        return None
    having = [r for r in a.layers[t.first - 1:t.last] if getattr(r, quantity)]
    return having[0] if len(having) == 1 else None


def _shape_mistakes(rec: LayerRecord, expected: tuple[int, ...]) -> list[str]:
    """The layer's size and channel mistakes that give ``expected``: for an H×W×C output the
    size (H, W) and the channels are explained separately, and both must be."""
    out = tuple(rec.output)
    exp = tuple(expected)
    layer = rec.layer
    alts = layer.size_mistakes(rec)
    if len(exp) != 3 or len(out) != 3:
        return [label for label, alt in alts if tuple(alt) == exp and tuple(alt) != out]
    size: list[str] = []
    if exp[:2] != out[:2]:
        size = [label for label, alt in alts if len(alt) == 3 and tuple(alt[:2]) == exp[:2]
                and tuple(alt[:2]) != out[:2]]
        if not size:
            return []
    channel = None
    if exp[2] != out[2]:
        channel = layer.channel_mistake(rec, exp[2])
        if channel is None:
            return []
    if not size:
        return [channel] if channel else []
    return [f"{s}; and {channel}" for s in size] if channel else size


def _unflattened(a: Analysis, rec: LayerRecord) -> tuple[int, ...] | None:
    """The H×W×C shape a layer's vector input had before a flatten just before it: the input
    of the producer, when that producer turned an H×W×C map into as many values."""
    if not rec.inputs or rec.inputs[0] == 0:
        return None
    prev = a.layers[rec.inputs[0] - 1]
    shape = prev.input_shapes[0] if prev.input_shapes else ()
    if len(prev.output) == 1 and len(shape) == 3 and math.prod(shape) == prev.output[0]:
        return tuple(shape)
    return None


# 3. the numbers themselves

def _numbers(a: Analysis, t: Target, quantity: str, expected: Any, right: Any) -> list[str]:
    out = []
    if quantity == "params" and expected == value(a, t, "trainable") != right:
        out.append("left out the non-trainable values (batch norm's running mean and "
                   "variance): the parameter count includes them (--expect-trainable checks "
                   "the trainable ones)")
    if quantity == "trainable" and expected == value(a, t, "params") != right:
        out.append("counted the non-trainable values (batch norm's running mean and variance); "
                   "they are not trained")
    if quantity == "macs":
        if expected == 2 * right != 0:
            out.append("gave FLOPs (2 × MACs): a multiply-accumulate counts once")
        if a.batch > 1 and expected * a.batch == right:
            out.append(f"counted one image; with batch {a.batch} the MACs are {a.batch} times "
                       f"as many")
        if expected == value(a, t, "params") != right:
            out.append("gave the parameter count; MACs count each weight once per output "
                       "position")
    if quantity == "output":
        exp, got = tuple(expected), tuple(right)
        if len(exp) == 3 and len(got) == 1 and math.prod(exp) == got[0]:
            out.append(f"forgot the flatten: the {fmt_shape(exp)} map becomes a vector of "
                       f"{got[0]:,} values")
        if len(exp) == 1 and len(got) == 3 and exp[0] == math.prod(got):
            out.append(f"flattened the output; it is still a {fmt_shape(got)} map here")
        if exp == tuple(a.input) and got != exp and len(a.layers) > 1:
            out.append("kept the network's input shape; its layers change it")
    return out


# 2. the wrong layer

def _wrong_layer(a: Analysis, t: Target, quantity: str, expected: Any, right: Any) -> list[str]:
    here = t.last
    what = {"output": "the output", "params": "the parameter count",
            "trainable": "the trainable count", "macs": "the MAC count",
            "rf": "the receptive field"}[quantity]

    def where(rec: LayerRecord) -> str:
        step = rec.index - here
        rel = ("" if t.kind != "layer" or not step else " (the layer before)" if step == -1 else
               " (the layer after)" if step == 1 else
               f" ({-step} layers earlier)" if step < 0 else f" ({step} layers later)")
        return f"layer {rec.index} '{rec.path}' ({rec.type}){rel}"

    matches: list[LayerRecord] = []
    for rec in a.layers:
        if t.first <= rec.index <= t.last and t.kind != "network":
            continue
        if quantity == "rf":
            if len(rec.output) != 3:
                continue
            v: Any = (rec.field.rf_h, rec.field.rf_w)
        elif quantity == "output":
            v = tuple(rec.output)
        else:
            v = getattr(rec, quantity)
            if not v:
                continue
        if _same(quantity, expected, v) and not _same(quantity, right, v):
            matches.append(rec)
    out = []
    if matches:
        best = min(matches, key=lambda r: abs(r.index - here))
        more = f" (and {len(matches) - 1} other layers)" if len(matches) > 1 else ""
        out.append(f"counted the wrong layer: that is {what} of {where(best)}{more}")
    if quantity in ("params", "trainable", "macs") and t.kind != "layer":
        recs = a.layers[t.first - 1:t.last]
        running = 0
        for rec in recs[:-1]:
            running += getattr(rec, quantity)
            if running == expected and getattr(rec, quantity):
                out.append(f"stopped counting at {where(rec)}: the layers after it are left "
                           f"out")
                break
        for rec in recs:
            part = getattr(rec, quantity)
            if part and right - part == expected:
                out.append(f"left out {where(rec)}, which has {part:,}")
                break
    return out


# 4. misreadings re-analysed through the network

def _variant(model: Model, changes: dict[int, Layer], stop: str | None) -> Model:
    """The model with some layers replaced (by id of the original), cut after the top-level
    item ``stop`` (the later items cannot change a value before them)."""
    def seq(s: Seq) -> Seq:
        return dataclasses.replace(s, items=[item_(i) for i in s.items])

    def item_(item: Any) -> Any:
        if isinstance(item, Leaf):
            new = changes.get(id(item.layer))
            return dataclasses.replace(item, layer=new) if new is not None else item
        if isinstance(item, Composite):
            return dataclasses.replace(item, parts=[seq(p) for p in item.parts])
        return item         # a Deferred entry (it reads $in): the analysis builds it anew

    items = model.body.items
    if stop is not None:
        names = [i.name for i in items]
        if stop in names:
            items = items[:names.index(stop) + 1]
    return dataclasses.replace(model, body=seq(dataclasses.replace(model.body, items=list(items))))


def _misread_layer(layer: Layer, fields: dict[str, Any]) -> Layer:
    new = copy.copy(layer)
    for k, v in fields.items():
        setattr(new, k, v)
    return new


def _misread(model: Model, a: Analysis, t: Target, quantity: str, expected: Any, right: Any,
             every: bool) -> list[str]:
    scope = a.layers[:t.last]
    in_tree = _tree_layers(model)
    offers: list[tuple[LayerRecord, str, dict[str, Any]]] = [
        (rec, label, fields) for rec in scope if id(rec.layer) in in_tree
        for label, fields in rec.layer.misreadings()]
    if not offers:
        return []
    stop = None
    if t.kind != "network":
        path = t.group.path if t.group is not None else t.rec.path if t.rec is not None else ""
        stop = path.split(".", 1)[0]
    found: list[str] = []
    left = [REANALYSIS_BUDGET // max(1, t.last if stop is not None else len(a.layers))]

    def attempt(changes: dict[int, Layer], label: str) -> None:
        if left[0] <= 0:
            return
        left[0] -= 1
        try:
            va = analyse(_variant(model, changes, stop), a.input, batch=a.batch)
        except CnnCalcError:
            return
        vt = find(va, t)
        if vt is None:
            return
        try:
            alt = value(va, vt, quantity)
        except CnnCalcError:
            return
        if _same(quantity, expected, alt) and not _same(quantity, right, alt):
            found.append(label)

    if every:
        labels = list(dict.fromkeys(label for _, label, _ in offers))
        for label in labels:
            chosen = [(rec, f) for rec, lab, f in offers if lab == label]
            changes = {id(rec.layer): _misread_layer(rec.layer, f) for rec, f in chosen}
            if len(chosen) == 1:
                rec = chosen[0][0]
                text = label if len(scope) == 1 else \
                    f"{label}, in layer {rec.index} '{rec.path}' ({rec.type})"
            else:
                text = f"{label} (in all {len(chosen)} layers that have it)"
            attempt(changes, text)
        return found
    nearest = set(sorted({rec.index for rec, _, _ in offers}, reverse=True)[:SINGLE_LAYER_SCAN])
    shared = Counter(label for _, label, _ in offers)
    for rec, label, fields in offers:
        if rec.index in nearest and shared[label] > 1:
            attempt({id(rec.layer): _misread_layer(rec.layer, fields)},
                    f"{label}, in layer {rec.index} '{rec.path}' ({rec.type})")
        if len(found) >= MAX_HINTS:
            break
    return found


def _tree_layers(model: Model) -> set[int]:
    ids: set[int] = set()

    def seq(s: Seq) -> None:
        for item in s.items:
            if isinstance(item, Leaf):
                ids.add(id(item.layer))
            elif isinstance(item, Composite):   # not a Deferred: built anew by each analysis
                for p in item.parts:
                    seq(p)
    seq(model.body)
    return ids


# 5. receptive-field walks

class _Step(NamedTuple):
    rec: LayerRecord
    grow: tuple[Fraction, Fraction]      # (f − 1)·d per axis, in the layer's input pixels
    stride: tuple[Fraction, Fraction]


def rf_path(a: Analysis, rec: LayerRecord) -> list[_Step]:
    """The layers on the path that gives ``rec`` its receptive field (at a merge, the input with
    the largest field), first to last, with each one's growth and stride recovered from the
    fields before and after it."""
    def fld(node: int) -> Field:
        return a.layers[node - 1].field if node else IDENTITY_FIELD

    steps: list[_Step] = []
    node = rec.index
    while node:
        r = a.layers[node - 1]
        prev = max(r.inputs, key=lambda i: (fld(i).rf_h, fld(i).rf_w)) if r.inputs else 0
        f0, f1 = fld(prev), r.field
        if f1 != f0:
            steps.append(_Step(r, (Fraction(divide(f1.rf_h - f0.rf_h, f0.jump_h)),
                                   Fraction(divide(f1.rf_w - f0.rf_w, f0.jump_w))),
                               (Fraction(divide(f1.jump_h, f0.jump_h)),
                                Fraction(divide(f1.jump_w, f0.jump_w)))))
        node = prev
    return steps[::-1]


Grow = Callable[[_Step, Fraction, int], Fraction]


def _walk(steps: list[_Step], grow: Grow, jump_after: Grow, start: Fraction
          ) -> tuple[Fraction, Fraction]:
    """``rf = start + Σ grow(step, jump)`` along the path, per axis, the jump updated by
    ``jump_after`` after each step."""
    out = []
    for ax in (0, 1):
        rf, jump = start, Fraction(1)
        for st in steps:
            rf += grow(st, jump, ax)
            jump = jump_after(st, jump, ax)
        out.append(rf)
    return out[0], out[1]


def rf_alternatives(a: Analysis, rec: LayerRecord) -> list[tuple[str, tuple[Fraction, Fraction]]]:
    """Wrong receptive fields at ``rec``, each from the right walk with one slip."""
    steps = rf_path(a, rec)
    if not steps:
        return []
    one, zero = Fraction(1), Fraction(0)

    def right_grow(st: _Step, j: Fraction, ax: int) -> Fraction:
        return st.grow[ax] * j

    def right_jump(st: _Step, j: Fraction, ax: int) -> Fraction:
        return j * st.stride[ax]

    out = [
        ("summed the kernel sizes instead of compounding them: each layer adds (f − 1)·jump, "
         "where the jump is the product of the earlier strides",
         _walk(steps, lambda st, j, ax: st.grow[ax] + 1 if st.grow[ax] else zero, right_jump,
               zero)),
        ("forgot the jump: each layer's f − 1 is multiplied by the product of the earlier "
         "strides", _walk(steps, lambda st, j, ax: st.grow[ax], right_jump, one)),
        ("left out the starting 1: rf = 1 + Σ (f − 1)·jump",
         _walk(steps, right_grow, right_jump, zero)),
        ("multiplied f − 1 by a jump that includes the layer's own stride; use the jump of "
         "its input", _walk(steps, lambda st, j, ax: st.grow[ax] * j * st.stride[ax],
                            right_jump, one)),
    ]
    windows = [st for st in steps if st.grow != (0, 0)]
    if len(windows) > 1:
        prod = [Fraction(1), Fraction(1)]
        for st in windows:
            prod = [prod[ax] * (st.grow[ax] + 1) for ax in (0, 1)]
        out.append(("multiplied the kernel sizes; the receptive field grows by adding "
                    "(f − 1)·jump per layer", (prod[0], prod[1])))
        last = windows[-1]
        out.append(("took the last layer's kernel only; every earlier layer widens the view "
                    "too", (last.grow[0] + 1, last.grow[1] + 1)))
    for k, st in enumerate(steps[:-1]):
        if st.stride == (1, 1) or all(s.grow == (0, 0) for s in steps[k + 1:]):
            continue
        r = st.rec
        s_text = f"{st.stride[0]}" if st.stride[0] == st.stride[1] else \
            f"{st.stride[0]}x{st.stride[1]}"

        def skip(s2: _Step, j: Fraction, ax: int, st: _Step = st) -> Fraction:
            return j if s2 is st else j * s2.stride[ax]

        out.append((f"forgot the jump after layer {r.index} '{r.path}' ({r.type}, stride "
                    f"{s_text}): the f − 1 of every later layer is multiplied by it",
                    _walk(steps, right_grow, skip, one)))
    return out


def _rf_walks(a: Analysis, t: Target, expected: Any) -> list[str]:
    rec = last_map(a, t)
    if rec is None:
        return []
    right = (rec.field.rf_h, rec.field.rf_w)
    return [label for label, alt in rf_alternatives(a, rec)
            if _same("rf", expected, alt) and not _same("rf", right, alt)]


# --- when nothing is named -----------------------------------------------------------------------

def _note(a: Analysis, t: Target, quantity: str, expected: Any, right: Any) -> str:
    return "none of the mistakes cnncalc knows gives this answer; see --explain for the working"


# --- wrong answers to offer (the distractors of cnncalc quiz) -----------------------------------

def alternatives(model: Model | None, a: Analysis, t: Target, quantity: str,
                 limit: int | None = None) -> list[tuple[str, Any]]:
    """Wrong answers for ``quantity`` at ``t``, each with the named mistake that gives it, first
    the layer's own, then misreadings, receptive-field slips and other layers' values. Each
    value differs from the right one and from the others, and :func:`diagnose` names it. With
    ``limit``, the first ``limit`` of them."""
    right = value(a, t, quantity)
    found: list[tuple[str, Any]] = []
    rec = t.rec
    carrier = _carrier(a, t, quantity)

    def offer(label: str, v: Any) -> None:
        if quantity == "output":
            v = tuple(v)
            if not v or min(v) <= 0:
                return
        elif quantity == "rf":
            if v is None or min(v) <= 0:
                return
        elif not isinstance(v, int) or v <= 0:
            return
        if _same(quantity, right, v) or any(_same(quantity, v, w) for _, w in found):
            return
        found.append((label, v))

    if rec is not None and quantity == "output" and tuple(rec.output) == tuple(right):
        for label, alt in rec.layer.size_mistakes(rec):
            offer(label, alt)
        if len(right) == 3:
            c_in = rec.input_shapes[0][-1]
            for c in (c_in, c_in * right[2], right[2] + c_in, max(1, right[2] // 2)):
                said = rec.layer.channel_mistake(rec, c) if c != right[2] else None
                if said:
                    offer(said, (*right[:2], c))
    if carrier is not None and quantity in ("params", "trainable"):
        for label, v in carrier.layer.param_mistakes(carrier, _unflattened(a, carrier)):
            offer(label, v)
    if carrier is not None and quantity == "macs":
        for label, v in carrier.layer.macs_mistakes(carrier):
            offer(label, v * a.batch)
    if quantity == "macs":
        offer("gave FLOPs (2 × MACs): a multiply-accumulate counts once", 2 * right)
    if quantity == "rf":
        target = last_map(a, t)
        if target is not None:
            for label, field_ in rf_alternatives(a, target):
                offer(label, field_)
    named: list[tuple[str, Any]] = []
    for label, v in found:              # keep what a check of that answer names
        if limit is not None and len(named) >= limit:
            return named
        d = diagnose(model, a, t, quantity, v)
        if d.named:
            named.append((label if label in d.mistakes else d.mistakes[0], v))
    done = len(found)
    if model is not None:
        for label, v in _misread_values(model, a, t, quantity):
            offer(label, v)
    if quantity in ("params", "trainable", "macs") and t.kind == "network":
        for rec2 in a.layers[:-1]:
            if getattr(rec2, quantity):
                offer(f"counted the wrong layer: that is {quantity} of layer {rec2.index} "
                      f"'{rec2.path}'", getattr(rec2, quantity))
    for label, v in found[done:]:
        if limit is not None and len(named) >= limit:
            break
        d = diagnose(model, a, t, quantity, v)
        if d.named:
            named.append((label if label in d.mistakes else d.mistakes[0], v))
    return named


def _misread_values(model: Model, a: Analysis, t: Target, quantity: str
                    ) -> list[tuple[str, Any]]:
    """(label, value at ``t``) of each misreading applied in every layer that has it."""
    in_tree = _tree_layers(model)
    offers = [(rec, label, fields) for rec in a.layers[:t.last] if id(rec.layer) in in_tree
              for label, fields in rec.layer.misreadings()]
    out = []
    for label in dict.fromkeys(lab for _, lab, _ in offers):
        chosen = [(rec, f) for rec, lab, f in offers if lab == label]
        changes = {id(rec.layer): _misread_layer(rec.layer, f) for rec, f in chosen}
        try:
            va = analyse(_variant(model, changes, None), a.input, batch=a.batch)
            vt = find(va, t)
            if vt is None:
                continue
            v = value(va, vt, quantity)
        except CnnCalcError:
            continue
        text = label if len(a.layers[:t.last]) == 1 else (
            f"{label}, in layer {chosen[0][0].index} '{chosen[0][0].path}' "
            f"({chosen[0][0].type})" if len(chosen) == 1 else
            f"{label} (in all {len(chosen)} layers that have it)")
        out.append((text, v))
    return out


# --- a check: the expected value against the computed one, with the diagnosis -------------------

class Check(NamedTuple):
    quantity: str                    # one of QUANTITIES
    given: str                       # the answer as written
    expected: Any
    computed: Any
    target: Target
    diagnosis: Diagnosis | None      # None when the answer is right

    @property
    def passed(self) -> bool:
        return self.diagnosis is None


def check(model: Model | None, a: Analysis, t: Target, quantity: str, expected: Any,
          given: str, source: tuple[int, ...] | None = None,
          rounds: Callable[[int], bool] | None = None) -> Check:
    """Compare ``expected`` with the computed ``quantity`` at ``t``. ``rounds(computed)`` says
    whether the answer, as written (``27.0M``), is the computed count rounded."""
    computed = value(a, t, quantity)
    if _same(quantity, expected, computed):
        return Check(quantity, given, expected, computed, t, None)
    diag = diagnose(model, a, t, quantity, expected, source)
    if rounds is not None and quantity != "output" and quantity != "rf" and rounds(computed):
        diag = Diagnosis([f"rounded: {given} is exactly {expected:,}; the count is "
                          f"{computed:,}, which is {given} to that precision; give the exact "
                          f"number"] + diag.mistakes)
    return Check(quantity, given, expected, computed, t, diag)
