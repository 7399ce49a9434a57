"""Walk a model tree → immutable per-layer records and totals. No I/O, no formatting.

Node ids: 0 is the network input, ``i >= 1`` is the i-th leaf layer in execution order
(``Analysis.layers[i - 1]``). Composite layers (blocks, repeats, residuals, parallels) produce
:class:`Group` rows for the tree view; their leaves are contiguous in execution order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .errors import CnnCalcError
from .layers import REGISTRY, Layer, ParamError, counts, fmt_shape, suggest
from .layers.window import forget_windows
from .shapes import IDENTITY_FIELD, Field, ShapeError, merge_fields
from .spec import Composite, Deferred, Leaf, Model, Seq, Shape

BYTES_PER_VALUE = 4   # float32


@dataclass(frozen=True, slots=True)
class LayerRecord:
    index: int
    name: str
    type: str
    path: str
    depth: int
    inputs: tuple[int, ...]
    input_shapes: tuple[Shape, ...]
    output: Shape
    weights: int
    biases: int
    non_trainable: int
    macs: int                     # × batch
    field: Field
    warnings: tuple[str, ...]
    layer: Layer
    geometry: Any
    line: int | None

    @property
    def trainable(self) -> int:
        return self.weights + self.biases

    @property
    def params(self) -> int:
        return self.weights + self.biases + self.non_trainable

    @property
    def feature_maps(self) -> int:
        return self.output[-1]

    @property
    def activation(self) -> str | None:
        return getattr(self.layer, "activation", None)

    @property
    def size(self) -> int:
        return math.prod(self.output)


@dataclass(slots=True)
class Group:
    path: str
    name: str
    kind: str          # block | repeat | iteration | residual | parallel
    label: str         # e.g. the block's name, the merge, or collapsed inner kinds
    depth: int
    first: int         # first leaf index
    last: int = 0      # last leaf index (inclusive)
    output: Shape = ()


@dataclass
class Analysis:
    name: str
    description: str
    file: str
    input: Shape
    batch: int
    layers: list[LayerRecord]
    rows: list[Group | LayerRecord]        # pre-order tree: a group row precedes its leaves
    warnings: list[str] = field(default_factory=list)

    @property
    def output(self) -> Shape:
        return self.layers[-1].output if self.layers else self.input

    def totals(self) -> dict[str, int]:
        params = sum(r.params for r in self.layers)
        trainable = sum(r.trainable for r in self.layers)
        macs = sum(r.macs for r in self.layers)
        acts = sum(r.size for r in self.layers)
        return {"params": params, "trainable": trainable, "non_trainable": params - trainable,
                "macs": macs, "flops": 2 * macs, "param_bytes": params * BYTES_PER_VALUE,
                "activation_bytes": acts * BYTES_PER_VALUE * self.batch}

    def group_totals(self, group: Group) -> dict[str, int]:
        rs = self.layers[group.first - 1:group.last]
        return {"params": sum(r.params for r in rs), "macs": sum(r.macs for r in rs)}


class _Scope:
    __slots__ = ("names", "parent", "pending")

    def __init__(self, parent: "_Scope | None", pending: dict[str, int | None]):
        self.names: dict[str, int] = {}
        self.parent = parent
        self.pending = pending

    def find(self, name: str) -> int | None:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.names:
                return scope.names[name]
            scope = scope.parent
        return None

    def later(self, name: str) -> dict[str, int | None] | None:
        """The ``pending`` map (name → line) of the innermost scope where ``name`` comes later."""
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.pending:
                return scope.pending
            scope = scope.parent
        return None

    def known(self) -> list[str]:
        out: list[str] = []
        scope: _Scope | None = self
        while scope is not None:
            out += scope.names
            scope = scope.parent
        return out


def analyse(model: Model, input_shape: Shape | None = None, batch: int = 1,
            strict: bool = False) -> Analysis:
    """Compute every layer's shapes, counts, MACs and receptive field.

    Raises :class:`CnnCalcError` naming the file, layer and value on any invalid layer; with
    ``strict``, a floored division is an error too.
    """
    shape = input_shape or model.input
    if shape is None:
        raise CnnCalcError("no input shape: add 'input: HxWxC' to the spec or pass --input",
                           file=model.file)
    if not isinstance(batch, int) or batch < 1:
        raise CnnCalcError(f"batch must be a positive integer, got {batch}")
    if model.expander is not None:
        model.expander.restart()
    forget_windows()
    walker = _Walker(model, shape, batch, strict)
    walker.seq(model.body, 0, "", 0, None)
    if not walker.records:
        raise CnnCalcError("the network has no layers left: every entry's if: is false",
                           file=model.file)
    return Analysis(model.name, model.description, model.file, shape, batch, walker.records,
                    walker.rows, walker.warnings)


class _Walker:
    def __init__(self, model: Model, shape: Shape, batch: int, strict: bool):
        self.model = model
        self.batch = batch
        self.strict = strict
        self.shapes: list[Shape] = [shape]
        self.records: list[LayerRecord] = []
        self.rows: list[Group | LayerRecord] = []
        self.warnings: list[str] = []
        self.open: list[str] = []       # names of the composites being walked, outermost first
        self.floor_ok = int(model.floor_ok)   # > 0: floors are acknowledged (`floor: ok`)
        self.block_inputs: list[Shape] = []   # the input shapes of the blocks being walked
        # one tuple for equal shapes (and equal input-shape lists): a long network repeats them
        self.same: dict[tuple, tuple] = {}

    def field(self, node: int) -> Field:
        return self.records[node - 1].field if node else IDENTITY_FIELD

    def error(self, msg: str, line: int | None, path: str | None, type_: str | None,
              index: int | None = None) -> CnnCalcError:
        return CnnCalcError(msg, file=self.model.file, line=line,
                            index=len(self.records) + 1 if index is None else index,
                            name=path, type=type_)

    # -- sequences and references --
    def seq(self, seq: Seq, x: int, path: str, depth: int, parent: _Scope | None,
            collapse: Group | None = None) -> int:
        pending = {item.name: item.line for item in seq.items}
        scope = _Scope(parent, pending)
        outputs = [x]
        single = (seq.written or len(seq.items)) == 1    # as written: paths ignore if:
        for item in seq.items:
            pending.pop(item.name, None)
            item_path = f"{path}.{item.name}" if path else item.name
            inputs = self.resolve(item, outputs, scope, item_path) if item.refs else [outputs[-1]]
            if isinstance(item, Deferred):
                made = self.expand(item, inputs, item_path)
                if made is None:            # its if: is false
                    continue
                if made.name in scope.names:
                    raise self.error(f"duplicate name '{made.name}': two entries of that name "
                                     f"are both kept (their if: conditions are both true)",
                                     item.line, item_path, _kind(made))
                item = made
            if isinstance(item, Leaf):
                extra = [self.resolve(item, outputs, scope, item_path, [ref], key)[0]
                         for key in item.layer.refs
                         if (ref := getattr(item.layer, key)) is not None]
                out = self.leaf(item.layer, item.type, inputs, item_path, depth, item.line,
                                extra, item.floor_ok)
            elif single and collapse is not None and isinstance(item, Composite):
                collapse.label = "/".join(filter(None, (collapse.label, _kind(item))))
                out = self.composite(item, inputs, path, depth - 1, scope, group=collapse)
            else:
                out = self.composite(item, inputs, item_path, depth, scope)
            scope.names[item.name] = out
            outputs.append(out)
        return outputs[-1]

    def expand(self, item: Deferred, inputs: list[int], path: str) -> Leaf | Composite | None:
        """Build an entry that reads ``$in``: inside a block, the block's input shape; outside
        blocks, the entry's own input (the previous layer's output, or its ``from:``)."""
        shape = self.block_inputs[-1] if item.in_block else self.shapes[inputs[0]]
        try:
            return self.model.expand(item, shape)
        except CnnCalcError as e:
            raise e.located(file=self.model.file, line=item.line, index=len(self.records) + 1,
                            name=path, type=_kind(item))

    def resolve(self, item: Leaf | Composite | Deferred, outputs: list[int], scope: _Scope,
                path: str, refs: list[str | int] | None = None, key: str = "from") -> list[int]:
        """Nodes for ``refs`` (default: the item's ``from:``), looked up like variables: the
        enclosing sequences' earlier items, innermost first; ``-n`` counts back in this one."""
        found = []
        for ref in (item.refs or []) if refs is None else refs:
            if isinstance(ref, int):
                if -ref > len(outputs):
                    raise self.error(f"{key}: {ref} reaches before the start of this sequence "
                                     f"(only {len(outputs)} earlier outputs)", item.line, path,
                                     _kind(item))
                found.append(outputs[ref])
                continue
            node = scope.find(ref)
            if node is None and ref == "input":     # the network input, as JSON's `from` names it
                node = 0
            if node is None:
                ahead = scope.later(ref)
                if ref == item.name:
                    why = "refers to itself (a cycle)"
                elif ref in self.open:
                    why = f"refers to '{ref}', which contains this layer (a cycle)"
                elif ahead is not None:
                    why = (f"refers forward to '{ref}' (line {ahead[ref]}); a layer can "
                           f"only take inputs from earlier layers, so this would be a cycle")
                else:
                    why = (f"refers to an unknown layer '{ref}'{suggest(ref, scope.known())}")
                raise self.error(f"{key}: {why}", item.line, path, _kind(item))
            found.append(node)
        return found

    # -- leaves --
    def leaf(self, layer: Layer, type_: str, inputs: list[int], path: str, depth: int,
             line: int | None, extra: list[int] | tuple[()] = (), floor_ok: bool = False) -> int:
        """Analyse one leaf. ``inputs`` are its data inputs, ``extra`` the nodes its `to:`-style
        parameters refer to (resolved by :meth:`seq`), appended after them. Its floor notes are
        warnings unless ``floor_ok`` or an enclosing `floor: ok` acknowledges them."""
        n_main = len(inputs)
        if layer.merges and n_main < 2:
            raise self.error(f"{type_} needs two or more inputs: give 'from: [a, b]'", line,
                             path, type_)
        if not layer.merges and n_main != 1:
            raise self.error(f"{type_} takes one input, but 'from' names {n_main}", line, path,
                             type_)
        inputs = inputs + list(extra)
        in_shapes = [self.shapes[i] for i in inputs]
        fields = [self.field(i) for i in inputs]
        try:
            if layer.merges:
                names = [self.records[i - 1].path if i else "input" for i in inputs]
                res = layer.analyse(in_shapes, fields, names)  # type: ignore[call-arg]
            else:
                res = layer.analyse(in_shapes, fields)
            n = counts(layer.param_specs(in_shapes))
        except (ShapeError, ParamError) as e:
            raise self.error(f"{e} (input {', '.join(fmt_shape(s) for s in in_shapes)})"
                             if not layer.merges else str(e), line, path, type_) from None
        index = len(self.records) + 1
        notes = res.warnings
        if res.floored and not (floor_ok or self.floor_ok):
            notes = notes + res.floored
        for w in notes:
            if self.strict:
                raise self.error(f"{w} (--strict)", line, path, type_)
            self.warnings.append(str(CnnCalcError(w, index=index, name=path, type=type_)))
        if res.field is not None:
            fld = res.field
        elif len(fields) == 1 or not layer.merges:
            fld = fields[0]
        else:
            fld = merge_fields(fields)
        same = self.same
        output = same.setdefault(res.output, res.output)
        in_tuple = tuple(in_shapes)
        rec = LayerRecord(index, path.rsplit(".", 1)[-1], type_, path, depth, tuple(inputs),
                          same.setdefault(in_tuple, in_tuple), output, n.weights, n.biases,
                          n.non_trainable, res.macs * self.batch, fld, notes, layer,
                          res.geometry, line)
        self.records.append(rec)
        self.rows.append(rec)
        self.shapes.append(output)
        return index

    def synthetic(self, type_: str, path: str, depth: int, x: int, line: int | None,
                  **params: Any) -> int:
        try:
            layer = REGISTRY[type_](**params)
        except (ParamError, ValueError) as e:
            raise self.error(str(e), line, path, type_) from None
        return self.leaf(layer, layer.type, [x], path, depth, line)

    # -- composites --
    def open_group(self, path: str, name: str, kind: str, label: str, depth: int) -> Group:
        g = Group(path, name, kind, label, depth, len(self.records) + 1)
        self.rows.append(g)
        return g

    def close_group(self, g: Group, out: int) -> None:
        g.last = len(self.records)
        g.output = self.shapes[out]
        if g.first > g.last:        # nothing inside (a repeat of 0, every if: false): no row
            assert self.rows[-1] is g
            self.rows.pop()

    def composite(self, comp: Composite, inputs: list[int], path: str, depth: int,
                  scope: _Scope, group: Group | None = None) -> int:
        if len(inputs) != 1:
            raise self.error(f"{comp.kind} takes one input, but 'from' names {len(inputs)}",
                             comp.line, path, comp.kind)
        x = inputs[0]
        self.open.append(comp.name)
        self.floor_ok += comp.floor_ok
        if comp.kind == "block":
            self.block_inputs.append(self.shapes[x])
        own = group is None
        if own:
            group = self.open_group(path, path.rsplit(".", 1)[-1], comp.kind, comp.label, depth)
        inner = depth + 1
        if comp.kind == "block":
            out = self.seq(comp.parts[0], x, path, inner, scope, collapse=group)
        elif comp.kind == "repeat":
            out = x
            for i, part in enumerate(comp.parts):
                ipath = f"{path}.{i}"
                it = self.open_group(ipath, str(i), "iteration", "", inner)
                out = self.seq(part, out, ipath, inner + 1, scope, collapse=it)
                self.close_group(it, out)
        elif comp.kind == "residual":
            out = self.residual(comp, x, path, inner, scope)
        else:
            outs = [self.branch(part, x, f"{path}.branch{i + 1}", inner, scope)
                    for i, part in enumerate(comp.parts)]
            out = self._merge(comp.label, outs, path, inner, comp.line)
        if own:
            assert group is not None
            self.close_group(group, out)
        self.open.pop()
        self.floor_ok -= comp.floor_ok
        if comp.kind == "block":
            self.block_inputs.pop()
        return out

    def branch(self, part: Seq, x: int, path: str, depth: int, scope: _Scope) -> int:
        """One branch of a parallel: a group row ``branchN`` when it holds two or more items,
        so that the table shows where each branch starts and ends; an empty one is identity."""
        if len(part.items) < 2:
            return self.seq(part, x, path, depth, scope) if part.items else x
        g = self.open_group(path, path.rsplit(".", 1)[-1], "branch", "", depth)
        out = self.seq(part, x, path, depth + 1, scope)
        self.close_group(g, out)
        return out

    def _merge(self, kind: str, outs: list[int], path: str, depth: int, line: int | None) -> int:
        layer = REGISTRY[kind]()
        return self.leaf(layer, layer.type, outs, f"{path}.{kind}", depth, line)

    def residual(self, comp: Composite, x: int, path: str, depth: int, scope: _Scope) -> int:
        body = self.seq(comp.parts[0], x, f"{path}.body", depth, scope)
        if comp.shortcut == "layers":
            short = self.seq(comp.parts[1], x, f"{path}.shortcut", depth, scope)
        elif comp.shortcut == "auto" and self.shapes[body] != self.shapes[x]:
            short = self.auto_shortcut(x, body, f"{path}.shortcut", depth, comp.line)
        else:
            short = x
        out = self._merge("add", [body, short], path, depth, comp.line)
        if comp.activation:
            out = self.synthetic(comp.activation, f"{path}.{comp.activation}", depth, out,
                                 comp.line)
        return out

    def auto_shortcut(self, x: int, body: int, path: str, depth: int, line: int | None) -> int:
        """`shortcut: auto`: a 1×1 convolution (no bias) with the stride that matches the body's
        output size, then batchnorm — torchvision's ResNet `downsample`."""
        src, dst = self.shapes[x], self.shapes[body]
        if len(src) != 3 or len(dst) != 3:
            raise self.error(f"shortcut: auto needs HxWxC maps, got {fmt_shape(src)} and "
                             f"{fmt_shape(dst)}", line, path, "residual")
        stride = [max(1, -(-a // b)) for a, b in zip(src[:2], dst[:2])]
        conv = self.synthetic("conv", f"{path}.conv", depth, x, line, filters=dst[2], kernel=1,
                              stride=stride, bias=False)
        if self.shapes[conv] != dst:
            raise self.error(f"shortcut: auto cannot map {fmt_shape(src)} to the body's "
                             f"{fmt_shape(dst)} with a strided 1x1 conv", line, path, "residual")
        return self.synthetic("batchnorm", f"{path}.batchnorm", depth, conv, line)


def _kind(item: Leaf | Composite | Deferred) -> str:
    if isinstance(item, Leaf):
        return item.type
    if isinstance(item, Deferred):
        use = item.value.get("use") if isinstance(item.value, dict) else None
        return f"block {use}" if item.kind == "block" and use else item.kind
    return f"{item.kind} {item.label}".strip() if item.kind == "block" else item.kind

