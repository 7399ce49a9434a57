"""YAML → model tree. The text is read and parsed by :mod:`cnncalc.source` (bounded reads, safe
YAML with line numbers); this module builds the tree from the parsed document. The result is a
:class:`Model` whose ``body`` is a tree of :class:`Seq`, :class:`Leaf` and :class:`Composite`
nodes, with blocks, repeats and ``$name`` substitutions already expanded; shape-dependent parts
(``from:`` references, ``shortcut: auto``) are resolved by :mod:`cnncalc.analysis`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .errors import CnnCalcError
from .expr import ExprError
from .layers import REGISTRY, Layer, ParamError, suggest, suggest_type
from .limits import MAX_ENTRIES, MAX_LAYERS, MAX_NAME_LENGTH, MAX_NESTING
from .source import ZOO_DIR, LDict, LList, parse_yaml, read_source, zoo_names
from .source import line_of as _line
from .substitute import ABSENT as _ABSENT
from .substitute import IN_BLOCK, IN_TOP, InShape, NeedsShape
from .substitute import MISSING as _MISSING
from .substitute import evaluate_value as _evaluate
from .substitute import nested as _nested
from .substitute import substitute as _substitute

__all__ = ["ZOO_DIR", "Model", "load", "loads", "parse_shape", "zoo_names", "LDict", "LList",
           "read_source"]

COMPOSITES = ("block", "repeat", "residual", "parallel")
TOP_KEYS = ("name", "description", "input", "floor", "defaults", "blocks", "layers")
Shape = tuple[int, ...]


# --- the tree ------------------------------------------------------------------------------------

@dataclass(eq=False, slots=True)
class Leaf:
    type: str
    layer: Layer
    name: str
    line: int | None
    refs: list[str | int] | None = None      # `from:`; None = the previous item
    floor_ok: bool = False                   # `floor: ok`: its flooring is deliberate


@dataclass(eq=False, slots=True)
class Seq:
    items: list[Any] = field(default_factory=list)   # Leaf | Composite | Deferred
    written: int = 0       # entries as written (kept or not by their if:); 0: len(items)


@dataclass(eq=False, slots=True)
class Composite:
    kind: str                      # block | repeat | residual | parallel
    name: str
    line: int | None
    parts: list[Seq]               # block: [body]; repeat: iterations; parallel: branches;
    #                                residual: [body] + ([shortcut] if a list)
    label: str = ""                # block: the block's name; parallel: the merge
    shortcut: str | None = None    # residual: "identity", "auto" or "layers"
    activation: str | None = None  # residual: after the add
    refs: list[str | int] | None = None
    floor_ok: bool = False         # `floor: ok` for every layer inside


@dataclass(eq=False, slots=True)
class Deferred:
    """An entry that reads ``$in`` in its own fields or its ``if:``: built by the analysis
    (:meth:`Model.expand`) once its input shape is known. Its name and ``from:`` are fixed."""
    kind: str                      # a layer type or a composite
    value: Any                     # as written, without name, from, if and floor
    env: dict                      # the parameters in scope; env["in"] says what $in means
    depth: int
    name: str
    line: int | None
    refs: list[str | int] | None
    cond: Any                      # the `if:` still to decide, or _ABSENT
    floor_ok: bool = False

    @property
    def in_block(self) -> bool:
        """``$in`` is the enclosing block's input (else: the entry's own input)."""
        return self.env["in"] is IN_BLOCK


@dataclass(eq=False)
class Model:
    name: str
    description: str
    input: Shape | None
    body: Seq
    file: str
    text: str = ""
    leaves: int = 0
    floor_ok: bool = False         # top-level `floor: ok`: every floor in the net is deliberate
    expander: Any = None           # the builder, which expands Deferred entries for the analysis

    def expand(self, item: Deferred, shape: Shape) -> Any:
        """A Deferred entry built for the input ``shape`` (see :meth:`_Builder.expand`)."""
        return self.expander.expand(item, shape)


# --- shapes --------------------------------------------------------------------------------------

_SEP = re.compile(r"\s*[x×X,*]\s*")


def parse_shape(value: Any, what: str = "input") -> Shape:
    """``224x224x3``, ``224×224×3``, ``[224, 224, 3]``, ``[25088]`` or ``25088`` → a tuple."""
    if isinstance(value, str):
        text = value.strip().strip("[]()")
        parts = _SEP.split(text) if text else []
        try:
            dims = [int(p) for p in parts]
        except ValueError:
            raise CnnCalcError(f"{what} shape must look like HxWxC (e.g. 224x224x3) or N, "
                               f"got {value!r}") from None
    elif isinstance(value, bool):
        dims = []
    elif isinstance(value, int):
        dims = [value]
    elif isinstance(value, (list, tuple)) and all(isinstance(v, int) and not isinstance(v, bool)
                                                  for v in value):
        dims = list(value)
    else:
        dims = []
    if len(dims) not in (1, 3):
        raise CnnCalcError(f"{what} shape must be HxWxC or a 1-D length N, got {value!r}")
    if min(dims) <= 0:
        raise CnnCalcError(f"{what} shape must be positive, got {value!r}")
    return tuple(dims)


def load(spec: str, input_shape: Shape | None = None) -> Model:
    """Read and parse SPEC (zoo name, path or '-')."""
    label, stem, text = read_source(spec)
    return loads(text, label, stem, input_shape)


def loads(text: str, label: str = "<string>", stem: str = "model",
          input_shape: Shape | None = None) -> Model:
    doc = parse_yaml(text, label)
    if doc is None:
        raise CnnCalcError("the spec is empty; it needs at least 'layers:'", file=label)
    return build(doc, label, stem, input_shape, text)


def build(doc: Any, label: str, stem: str = "model", input_shape: Shape | None = None,
          text: str = "") -> Model:
    """The model tree of a spec already parsed into Python values (a mapping with ``layers:``,
    as the YAML loads; the readers of other formats produce the same mapping)."""
    if not isinstance(doc, dict):
        kind = "list" if isinstance(doc, list) else type(doc).__name__
        raise CnnCalcError(f"the spec must be a mapping with 'layers:', got a {kind}",
                           file=label, line=_line(doc, 1))
    for key in doc:
        if key not in TOP_KEYS:
            raise CnnCalcError(f"unknown top-level key {key!r}{suggest(key, TOP_KEYS)}; "
                               f"valid: {', '.join(TOP_KEYS)}", file=label, line=_line(doc))
    builder = _Builder(label, doc)
    try:
        shape = input_shape
        if shape is None and doc.get("input") is not None:
            shape = parse_shape(doc["input"])
        body = builder.seq(doc.get("layers"), {"in": IN_TOP}, 0, "layers", _line(doc))
        if not body.items:
            raise CnnCalcError("'layers' is empty" + (" (every entry's if: is false)"
                                                      if doc.get("layers") else ""),
                               line=_line(doc.get("layers"), _line(doc)))
        builder._built = (builder.leaves, builder.groups, builder.iterations, builder.entries)
    except CnnCalcError as e:
        raise e.located(file=label)
    except RecursionError:
        raise CnnCalcError("the spec is nested too deeply (a recursive YAML alias?)",
                           file=label) from None
    name = doc.get("name", stem)
    desc = doc.get("description", "")
    try:
        floor_ok = _floor_ok(doc.get("floor"))
    except CnnCalcError as e:
        raise e.located(file=label, line=_line(doc))
    return Model(str(name), str(desc or ""), shape, body, label, text, builder.leaves, floor_ok,
                 builder if builder.deferred else None)


_NOT_LAYERS = ("split",) + COMPOSITES      # entry kinds that are not layer types
_ENTRY_KEYS = frozenset(("name", "from", "if", "floor"))     # what every entry may carry

# the keys of a composite that hold layer lists: built with the inner environment, not
# substituted with the composite's own fields
_NESTED_KEYS = {"block": ("layers",), "repeat": ("layers",), "residual": ("body", "shortcut"),
                "parallel": ("branches",)}


# --- building the tree ---------------------------------------------------------------------------

class _Builder:
    def __init__(self, label: str, doc: dict):
        self.label = label
        self.defaults = self._defaults(doc.get("defaults"))
        blocks = doc.get("blocks") or {}
        if not isinstance(blocks, dict):
            raise CnnCalcError("'blocks' must be a mapping of block names to definitions",
                               file=label, line=_line(blocks, _line(doc)))
        self.blocks: dict[str, dict] = blocks
        self.leaves = 0
        self._floors: dict[Any, int] = {}
        self._work = 0          # entries visited by _least: it gives up (stays a bound) past
        self.groups = 0         # MAX_LAYERS visits; composites built, also at most MAX_LAYERS
        self.iterations = 0     # repeat iterations built, at most MAX_LAYERS (empty ones too)
        self.entries = 0        # entries built, kept or not, at most MAX_ENTRIES
        self._built = (0, 0, 0, 0)  # those four counts as loaded, before any expansion
        self.deferred = 0       # Deferred entries left for the analysis

    # -- the analysis expands deferred entries (Model.expand) --
    def restart(self) -> None:
        """A new analysis: count expanded layers from the loaded tree's totals again."""
        self.leaves, self.groups, self.iterations, self.entries = self._built

    def expand(self, item: "Deferred", shape: Shape) -> Any:
        """The entry ``item`` with ``$in`` bound to ``shape``: a Leaf, a Composite, or None
        when its ``if:`` is false."""
        env = {**item.env, "in": InShape(shape, item.env["in"])}
        try:
            if item.cond is not _ABSENT and not self._condition(item.cond, env):
                return None
            own = self._own(item.kind, item.value, env)
            return self.build(item.kind, own, env, item.depth, item.name, item.refs,
                              item.floor_ok, item.line)
        except ExprError as e:
            raise e.located(line=item.line)

    def _least(self, entries: Any, active: frozenset = frozenset()) -> int:
        """A lower bound on the number of layers ``entries`` expands to, found without building
        anything (block sizes memoised by name and arguments; a repeat count that is still a
        `$name` counts as 1), so that nested blocks or repeats which must pass MAX_LAYERS fail at
        once, not after building 100,000 layers."""
        if not isinstance(entries, list):
            return 0
        total = 0
        for entry in entries:
            self._work += 1
            if total > MAX_LAYERS or self._work > MAX_LAYERS:
                break
            if isinstance(entry, str):
                total += entry.strip() in REGISTRY
                continue
            if not isinstance(entry, dict) or len(entry) != 1:
                continue
            kind, value = next(iter(entry.items()))
            if isinstance(value, dict) and "if" in value:
                continue                                # it may be dropped
            if kind in REGISTRY:
                total += 1
            elif kind == "block" and isinstance(value, dict) and "layers" in value:
                total += self._least(value["layers"], active)       # inline
            elif kind == "block":
                use = value.get("use") if isinstance(value, dict) else value
                args = {k: v for k, v in value.items()
                        if k not in ("use", "name", "from", "floor")} \
                    if isinstance(value, dict) else {}
                total += self._block_least(use, active, args)
            elif kind == "repeat" and isinstance(value, dict):
                times = value.get("times")
                if times == 0:
                    continue
                times = times if isinstance(times, int) and times > 1 else 1
                once = self._least(value.get("layers"), active)
                first = once
                if value.get("first") is not None:      # block arguments of iteration 1 only
                    try:
                        first = self._least(_first_iteration(value.get("layers"),
                                                             value.get("first")), active)
                    except CnnCalcError:
                        first = 0
                total += first + (times - 1) * once
            elif kind == "residual":
                parts = [value] if isinstance(value, list) else [
                    value.get("body"), value.get("shortcut")] if isinstance(value, dict) else []
                total += 1 + sum(self._least(p, active) for p in parts)
            elif kind == "parallel":
                branches = value.get("branches") if isinstance(value, dict) else value
                if isinstance(branches, list):
                    total += 1 + sum(self._least(b, active) for b in branches)
        return total

    def _block_least(self, use: Any, active: frozenset, args: dict | None = None) -> int:
        if not isinstance(use, str) or use not in self.blocks or use in active \
                or self._work > MAX_LAYERS:
            return 0
        key = (use, repr(sorted(args.items(), key=repr))) if args else use
        if key not in self._floors:
            d = self.blocks[use]
            layers = d.get("layers") if isinstance(d, dict) else d
            declared = d.get("params") if isinstance(d, dict) else None
            env = {k: v for k, v in declared.items() if v is not None} \
                if isinstance(declared, dict) else {}
            env.update(args or {})
            if env and _has_dollar(layers):
                try:        # the arguments make `$n` repeat counts (and `use: $b`) literal
                    layers = _substitute(layers, env)
                except CnnCalcError:
                    pass    # reported where the block is built; the bound stays a bound
            self._floors[key] = self._least(layers, active | {use})
        return self._floors[key]

    def _check_size(self, least: int, what: str) -> None:
        if self.leaves + least > MAX_LAYERS:
            raise CnnCalcError(f"{what} expands to at least {least:,} layers; a spec may have at "
                               f"most {MAX_LAYERS:,}")

    def _defaults(self, raw: Any) -> dict[str, dict]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise CnnCalcError("'defaults' must map layer types to parameters",
                               file=self.label, line=_line(raw))
        out: dict[str, dict] = {}
        for key, params in raw.items():
            if key not in REGISTRY:
                raise CnnCalcError(f"defaults: unknown layer type {key!r}"
                                   f"{suggest_type(key)}", file=self.label, line=_line(raw))
            if not isinstance(params, dict):
                raise CnnCalcError(f"defaults for {key} must be a mapping of parameters",
                                   file=self.label, line=_line(raw))
            cls = REGISTRY[key]
            for p in params:
                if cls.field_name(p) is None:
                    raise CnnCalcError(f"defaults: unknown parameter {p!r} for {cls.type}"
                                       f"{suggest(p, cls.params)}", file=self.label,
                                       line=_line(params, _line(raw)))
            out.setdefault(cls.type, {}).update(params)
        return out

    # a list of layer entries → Seq
    def seq(self, entries: Any, env: dict, depth: int, what: str, line: int | None) -> Seq:
        if depth > MAX_NESTING:
            raise CnnCalcError(f"nesting deeper than {MAX_NESTING} levels (a block that uses "
                               f"itself, or a recursive YAML alias?)", line=line)
        if entries is None:
            raise CnnCalcError(f"'{what}' is missing; it must be a list of layers", line=line)
        if not isinstance(entries, list):
            raise CnnCalcError(f"'{what}' must be a list of layers, got {entries!r}"[:200],
                               line=_line(entries, line))
        if depth == 0:
            self._check_size(self._least(entries), "the spec")
        seq = Seq(written=len(entries))
        counts: dict[str, int] = {}
        names: dict[str, int | None] = {}      # name → line
        alternatives: set[str] = set()          # names of entries whose if: the analysis decides
        for pos, entry in enumerate(entries, 1):
            eline = _line(entry, _line(entries, line))
            try:
                made = self.entry(entry, env, depth, counts, eline)
            except CnnCalcError as e:
                if depth == 0 and e.name is None and e.type is None:
                    label, kind = _entry_label(entry)   # an error inside a composite
                    e.located(name=label, type=kind)
                raise e.located(line=eline, index=pos if depth == 0 else None)
            if made is None:
                continue
            if type(made) is list:              # a split: its slices
                for leaf in made:
                    if leaf.name in names:
                        raise CnnCalcError(f"duplicate name '{leaf.name}' (first used at line "
                                           f"{names[leaf.name]})", line=eline,
                                           index=pos if depth == 0 else None)
                    names[leaf.name] = eline
                    seq.items.append(leaf)
                continue
            # two alternatives may share a name when a condition of the analysis decides
            name = made.name
            if name in names:
                if not (name in alternatives and type(made) is Deferred
                        and made.cond is not _ABSENT):
                    raise CnnCalcError(f"duplicate name '{name}' (first used at line "
                                       f"{names[name]})", line=made.line or eline,
                                       index=pos if depth == 0 else None)
            elif type(made) is Deferred and made.cond is not _ABSENT:
                alternatives.add(name)
            names[name] = made.line or eline
            seq.items.append(made)
        return seq

    def entry(self, entry: Any, env: dict, depth: int, counts: dict, line: int | None):
        """One entry of a layer list → a Leaf, a Composite, a list of Leafs (split), a
        Deferred (it reads ``$in``, which only the analysis knows), or None (``if:`` false)."""
        self.entries += 1
        if self.entries > MAX_ENTRIES:      # entries that an if: drops are no layers, but work
            raise CnnCalcError(f"the spec expands to more than {MAX_ENTRIES:,} entries (layers, "
                               f"composites and those that an if: drops)")
        if isinstance(entry, str):
            kind, value = entry.strip(), None
        elif isinstance(entry, dict) and len(entry) == 1:
            kind, value = next(iter(entry.items()))
        elif isinstance(entry, dict):
            keys = list(entry)
            hint = ""
            if keys and keys[0] in REGISTRY:
                hint = f"; write {keys[0]}: {{...}} with the parameters inside"
            raise CnnCalcError(f"a layer must be a single-key mapping like 'conv: {{filters: 64}}'"
                               f", got keys {keys}{hint}")
        else:
            raise CnnCalcError(f"a layer must be a type name or a single-key mapping, got "
                               f"{entry!r}"[:200])
        if not isinstance(kind, str):
            raise CnnCalcError(f"layer type must be a name, got {kind!r}")
        if "$" in kind:
            kind = self._type_parameter(kind, env)
        if kind == "split":
            try:
                return self.split(value, env, counts, line)
            except NeedsShape:
                raise CnnCalcError("split cannot depend on $in (the input shape)") from None
        cls = REGISTRY.get(kind)
        if cls is not None and not (isinstance(value, dict) and not _ENTRY_KEYS.isdisjoint(value)) \
                and not _has_dollar(value):        # the common case: a plain layer as written
            return self.leaf(kind, value, self._name(cls.type, counts, None), None, False, line)
        if cls is None and kind not in COMPOSITES:
            raise CnnCalcError(f"unknown layer type '{kind}'{suggest_type(kind, _NOT_LAYERS)}; "
                               f"valid: {', '.join(sorted({c.type for c in REGISTRY.values()}))}"
                               f", split, {', '.join(COMPOSITES)}")
        # what every entry may carry: name, from, if, floor (and a block's `use`)
        given = refs_raw = None
        cond: Any = _ABSENT
        floor_ok = False
        if kind == "block" and isinstance(value, str):
            value = {"use": value}
        if isinstance(value, dict) and (kind == "block" or not _ENTRY_KEYS.isdisjoint(value)):
            value = LDict(value)
            value.line = _line(entry, line)
            given = self._plain(value.pop("name", None), env, "name")
            refs_raw = self._plain(value.pop("from", None), env, "from")
            cond = value.pop("if", _ABSENT)
            floor_ok = _floor_ok(self._plain(value.pop("floor", None), env, "floor"))
            if kind == "block" and "use" in value:
                value["use"] = self._plain(value["use"], env, "use")
        if kind in REGISTRY:
            base = REGISTRY[kind].type
        elif kind == "block" and isinstance(value, dict) and "use" in value:
            base = str(value["use"])
        else:
            base = kind
        name = self._name(base, counts, given)
        refs = _refs(refs_raw) if refs_raw is not None else None
        try:
            if cond is not _ABSENT:
                try:
                    keep = self._condition(cond, env)
                except NeedsShape:
                    self.deferred += 1
                    return Deferred(kind, value, env, depth, name, line, refs, cond, floor_ok)
                if not keep:
                    return None
            try:
                own = self._own(kind, value, env) if _has_dollar(value) else value
            except NeedsShape:
                self.deferred += 1
                return Deferred(kind, value, env, depth, name, line, refs, _ABSENT, floor_ok)
            if kind in REGISTRY:
                return self.leaf(kind, own, name, refs, floor_ok, line)
            return self.build(kind, own, env, depth, name, refs, floor_ok, line)
        except ExprError as e:
            if not depth and kind in REGISTRY and not (e.name or e.type):
                e.located(name=name, type=base)
            elif depth and not getattr(e, "inner", False):   # which layer of a block or repeat
                e.message = f"{name} ({base}): {e.message}"
                e.inner = True       # type: ignore[attr-defined]
            raise

    def _type_parameter(self, kind: str, env: dict) -> str:
        """``- $act`` / ``{$act: {...}}``: a layer type taken from a parameter."""
        try:
            value = _evaluate(kind, env)
        except NeedsShape:
            raise CnnCalcError(f"a layer type cannot depend on $in: {kind!r}") from None
        if not isinstance(value, str):
            raise CnnCalcError(f"{kind.strip()} is {value!r}: a layer type must be a name like "
                               f"relu"[:200])
        return value.strip()

    def _plain(self, value: Any, env: dict, what: str) -> Any:
        """A key decided while the tree is built: ``$name`` substituted, no ``$in``."""
        if not _has_dollar(value):
            return value
        try:
            return _substitute(value, env)
        except NeedsShape:
            raise CnnCalcError(f"{what}: cannot depend on $in (the input shape), which is only "
                               f"known in the analysis") from None

    def _condition(self, cond: Any, env: dict) -> bool:
        """``if:``: true or false, or an expression that gives one."""
        value = _evaluate(cond, env) if isinstance(cond, str) else cond
        if not isinstance(value, bool):
            shown = f"{cond!r} gives {value!r}" if isinstance(cond, str) else repr(cond)
            raise ExprError(f"if: must be true or false (a condition such as $se or "
                            f"$stride == 1), but {shown}"[:300])
        return value

    def _own(self, kind: str, value: Any, env: dict) -> Any:
        """The entry's own fields with ``$name`` substituted; its layer lists stay as written
        (they are built with the inner environment)."""
        nested = _NESTED_KEYS.get(kind)
        if nested is None or not isinstance(value, dict):
            return _substitute(value, env) if _has_dollar(value) else value
        out = LDict((k, v if k in nested and not isinstance(v, str) else
                     _substitute(v, env) if _has_dollar(v) else v) for k, v in value.items())
        out.line = _line(value)
        return out

    def build(self, kind: str, value: Any, env: dict, depth: int, name: str,
              refs: list[str | int] | None, floor_ok: bool, line: int | None):
        if kind in COMPOSITES:
            self.groups += 1
            if self.groups > MAX_LAYERS:      # e.g. nested blocks that expand to no layers
                raise CnnCalcError(f"the spec expands to more than {MAX_LAYERS:,} blocks, "
                                   f"repeats, residuals and parallels")
            comp = getattr(self, kind)(value, env, depth, name, line)
            comp.refs = refs
            comp.floor_ok = floor_ok
            return comp
        return self.leaf(kind, value, name, refs, floor_ok, line)

    def _count(self) -> None:
        self.leaves += 1
        if self.leaves > MAX_LAYERS:
            raise CnnCalcError(f"the spec expands to more than {MAX_LAYERS:,} layers")

    def _name(self, base: str, counts: dict, given: Any) -> str:
        counts[base] = counts.get(base, 0) + 1
        if given is None:
            return f"{base}_{counts[base]}"
        if not isinstance(given, (str, int)) or isinstance(given, bool) or str(given) == "":
            raise CnnCalcError(f"name must be a non-empty string, got {given!r}")
        if "." in str(given):
            raise CnnCalcError(f"name {given!r} must not contain '.' (it separates paths)"[:300])
        if len(str(given)) > MAX_NAME_LENGTH:
            raise CnnCalcError(f"name {str(given)[:30]!r}… is {len(str(given)):,} characters "
                               f"long; a name may have at most {MAX_NAME_LENGTH}")
        return str(given)

    def leaf(self, kind: str, value: Any, name: str, refs: list[str | int] | None,
             floor_ok: bool, line: int | None) -> Leaf:
        cls = REGISTRY[kind]
        ctype = cls.type
        if value is None:
            params: dict = {}
        elif isinstance(value, dict):
            params = dict(value)
        elif cls.main is None:
            raise CnnCalcError(f"{ctype} takes no shorthand value, got {value!r}",
                               type=ctype)
        else:
            params = {cls.main: value}
        merged = {**self.defaults.get(ctype, {}), **params}
        self._count()
        try:
            layer = cls(**merged)
        except (ParamError, ValueError) as e:
            raise CnnCalcError(str(e), line=_line(value, line), name=name, type=ctype) from None
        return Leaf(ctype, layer, name, _line(value, line), refs, floor_ok)

    def split(self, value: Any, env: dict, counts: dict, line: int | None) -> list[Leaf]:
        """``split: {groups: G, names: [a, b, ...]}``: the G equal channel slices of one input as
        named layers (``chunk`` layers 0 … G−1, each reading the split's input), so that later
        layers take them by name; the next entry reads the last slice."""
        if isinstance(value, int) and not isinstance(value, bool):
            value = {"groups": value}
        value = self._mapping("split", value, ("groups", "names", "from", "if", "floor"))
        value = _substitute(value, env) if _has_dollar(value) else value
        if "if" in value and not self._condition(value["if"], env):
            return []
        groups = value.get("groups")
        names = value.get("names")
        if names is not None and (not isinstance(names, list) or not names):
            raise CnnCalcError(f"split names must be a list of names, one per slice, got "
                               f"{names!r}"[:200])
        if groups is None and names is not None:
            groups = len(names)
        if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
            raise CnnCalcError(f"split needs 'groups' (the number of equal slices) >= 1, got "
                               f"{groups!r}"[:200])
        if names is not None and len(names) != groups:
            raise CnnCalcError(f"split has {groups} groups but {len(names)} names")
        if groups > MAX_LAYERS:
            raise CnnCalcError(f"split into {groups:,} slices: at most {MAX_LAYERS:,} layers")
        src = _refs(value["from"]) if value.get("from") is not None else None
        floor_ok = _floor_ok(value.get("floor"))
        out = []
        for i in range(groups):
            if src is not None:       # relative indices count the earlier slices too
                refs: list[str | int] | None = [r - i if isinstance(r, int) else r for r in src]
            else:
                refs = [-(i + 1)] if i else None
            name = self._name("chunk", counts, names[i] if names else None)
            out.append(self.leaf("chunk", {"groups": groups, "index": i}, name, refs, floor_ok,
                                 _line(value, line)))
        return out

    def _mapping(self, kind: str, value: Any, allowed: tuple[str, ...]) -> dict:
        if not isinstance(value, dict):
            raise CnnCalcError(f"{kind} needs a mapping with {', '.join(allowed)}, got "
                               f"{value!r}"[:200])
        for key in value:
            if key not in allowed:
                raise CnnCalcError(f"unknown key {key!r} in {kind}{suggest(key, allowed)}; "
                                   f"valid: {', '.join(allowed)}")
        return value

    def block(self, value: Any, env: dict, depth: int, name: str, line: int | None):
        if not isinstance(value, dict) or ("use" in value) == ("layers" in value):
            raise CnnCalcError(f"block needs 'use: NAME' (a block of 'blocks:') or 'layers:' (an "
                               f"inline block), got {value!r}"[:200])
        args = dict(value)
        if "layers" in args:     # inline: its arguments and the enclosing parameters
            layers = args.pop("layers")
            scope = {**env, "in": IN_BLOCK, **args}
            self._check_size(self._least(layers), "block")
            body = self.seq(layers, scope, depth + 1, "block.layers", _line(value, line))
            return Composite("block", name, line, [body])
        use = args.pop("use")
        if not isinstance(use, str) or use not in self.blocks:
            raise CnnCalcError(f"unknown block '{use}'{suggest(use, self.blocks)}; defined: "
                               f"{', '.join(self.blocks) or 'none (add a blocks: section)'}")
        definition = self.blocks[use]
        if isinstance(definition, list):
            definition = {"layers": definition}
        self._mapping(f"block '{use}'", definition, ("params", "layers"))
        declared = definition.get("params") or {}
        if isinstance(declared, list):
            declared = {k: _MISSING for k in declared}
        elif isinstance(declared, dict):
            declared = {k: (_MISSING if v is None else v) for k, v in declared.items()}
        else:
            raise CnnCalcError(f"block '{use}': params must be a mapping of defaults")
        for key in declared:
            if not isinstance(key, str):
                raise CnnCalcError(f"block '{use}': parameter names must be names, got {key!r}"
                                   + (" (YAML reads on, off, yes and no as true and false: "
                                      "quote the name or choose another)"
                                      if isinstance(key, bool) else ""))
        for key in args:
            if key not in declared:
                raise CnnCalcError(f"block '{use}' has no parameter '{key}'"
                                   f"{suggest(key, declared)}; its parameters: "
                                   f"{', '.join(declared) or 'none'}")
        scope = {**declared, **args}
        missing = [k for k, v in scope.items() if v is _MISSING]
        if missing:
            raise CnnCalcError(f"block '{use}' needs parameter(s) {', '.join(missing)}")
        scope.setdefault("in", IN_BLOCK)    # a parameter named `in` (older specs) hides $in
        self._check_size(self._block_least(use, frozenset(), args), f"block '{use}'")
        body = self.seq(definition.get("layers"), scope, depth + 1, f"blocks.{use}.layers",
                        _line(definition, line))
        return Composite("block", name, line, [body], label=str(use))

    def repeat(self, value: Any, env: dict, depth: int, name: str, line: int | None):
        value = self._mapping("repeat", value,
                              ("times", "layers", "first", "name", "from", "if", "floor"))
        times = value.get("times")
        if not isinstance(times, int) or isinstance(times, bool) or times < 0:
            raise CnnCalcError(f"repeat needs 'times' >= 0, got {times!r}")
        inner = _nested(env)
        first_layers = _first_iteration(value.get("layers"), value.get("first"))
        self.iterations += times
        if self.iterations > MAX_LAYERS:     # iterations of no layers (`if:` false) cost time too
            raise CnnCalcError(f"repeat {times:,} times: the spec expands to more than "
                               f"{MAX_LAYERS:,} repeat iterations")
        if times == 0:          # an empty sequence: the repeat stands for its input
            if not isinstance(value.get("layers"), list):
                self.seq(value.get("layers"), inner, depth + 1, "repeat.layers", line)
            return Composite("repeat", name, line, [])
        before = self.leaves
        first = self.seq(first_layers, inner, depth + 1, "repeat.layers", line)
        size = self.leaves - before
        if size * times + before > MAX_LAYERS:
            raise CnnCalcError(f"repeat {times} × {size} layers expands to more than "
                               f"{MAX_LAYERS:,} layers")
        parts = [first] + [self.seq(value.get("layers"), inner, depth + 1, "repeat.layers", line)
                           for _ in range(times - 1)]
        return Composite("repeat", name, line, parts)

    def residual(self, value: Any, env: dict, depth: int, name: str, line: int | None):
        if isinstance(value, list):
            value = {"body": value}
        value = self._mapping("residual", value, ("body", "shortcut", "activation", "name",
                                                  "from", "if", "floor"))
        inner = _nested(env)
        body = self.seq(value.get("body"), inner, depth + 1, "residual.body", line)
        shortcut = value.get("shortcut", "identity")
        parts = [body]
        if shortcut is None or shortcut in ("identity", "none"):
            mode = "identity"
        elif shortcut == "auto":
            mode = "auto"
        elif isinstance(shortcut, list):
            mode = "layers"
            parts.append(self.seq(shortcut, inner, depth + 1, "residual.shortcut", line))
        else:
            raise CnnCalcError(f"shortcut must be 'identity', 'auto' or a list of layers, got "
                               f"{shortcut!r}"[:200])
        act = value.get("activation")
        if act is not None:
            from .layers.fields import activation
            try:
                act = activation("activation", act)
            except ParamError as e:
                raise CnnCalcError(str(e)) from None
            if act is not None:
                self._count()
        self._count()   # the add
        return Composite("residual", name, line, parts, shortcut=mode, activation=act)

    def parallel(self, value: Any, env: dict, depth: int, name: str, line: int | None):
        if isinstance(value, list):
            value = {"branches": value}
        value = self._mapping("parallel", value,
                              ("branches", "merge", "name", "from", "if", "floor"))
        merge = value.get("merge", "concat")
        if merge not in ("concat", "add", "multiply"):
            raise CnnCalcError(f"parallel merge must be concat, add or multiply, got {merge!r}")
        branches = value.get("branches")
        if not isinstance(branches, list) or len(branches) < 2:
            raise CnnCalcError("parallel needs 'branches': a list of two or more layer lists")
        inner = _nested(env)
        parts = []
        for i, br in enumerate(branches):
            if br is None or br == "identity":
                br = LList()
            parts.append(self.seq(br, inner, depth + 1, f"parallel.branches[{i}]", line)
                         if br else Seq())
        self._count()   # the merge
        return Composite("parallel", name, line, parts, label=merge)


def _first_iteration(layers: Any, first: Any) -> Any:
    """``repeat: {first: {stride: 2}, ...}``: in the first iteration only, these block arguments
    are added to (or override those of) every ``block:`` entry of ``layers`` — the first block of
    a ResNet or MobileNet stage is the one that strides."""
    if first is None or not isinstance(layers, list):
        return layers
    if not isinstance(first, dict) or not first:
        raise CnnCalcError(f"repeat 'first' must be a mapping of block arguments for the first "
                           f"iteration, e.g. {{stride: 2}}, got {first!r}"[:200])
    out = LList()
    out.line = _line(layers)
    used = False
    for entry in layers:
        if isinstance(entry, dict) and len(entry) == 1 and "block" in entry:
            args = entry["block"]
            args = {"use": args} if isinstance(args, str) else args
            if isinstance(args, dict):
                merged = LDict({**args, **first})
                merged.line = _line(args, _line(entry))
                entry = LDict(block=merged)
                entry.line = merged.line
                used = True
        out.append(entry)
    if not used:
        raise CnnCalcError("repeat 'first' sets block arguments, but 'layers' has no "
                           "'block:' entry to receive them")
    return out


def _entry_label(entry: Any) -> tuple[str | None, str | None]:
    """(name, type) of a top-level entry as written, e.g. ('dec4', 'block up'), to locate an
    error raised somewhere inside it."""
    if isinstance(entry, str):
        return None, entry.strip()[:40]
    if not (isinstance(entry, dict) and len(entry) == 1):
        return None, None
    kind, value = next(iter(entry.items()))
    if not isinstance(kind, str):
        return None, None
    if kind == "block" and isinstance(value, str):
        return None, f"block {value}"[:60]
    name = value.get("name") if isinstance(value, dict) else None
    name = str(name)[:60] if isinstance(name, (str, int)) and not isinstance(name, bool) else None
    use = value.get("use") if isinstance(value, dict) and kind == "block" else None
    return name, (f"block {use}"[:60] if isinstance(use, str) else kind[:40])


def _floor_ok(value: Any) -> bool:
    """``floor: ok`` acknowledges a deliberate floor division (no warning, --strict passes);
    ``floor: warn`` (the default) reports it."""
    if value is None or value == "warn":
        return False
    if value == "ok":
        return True
    raise CnnCalcError(f"floor must be 'ok' (the flooring is deliberate: no warning) or 'warn' "
                       f"(the default), got {value!r}"[:200])


def _has_dollar(value: Any) -> bool:
    if isinstance(value, str):
        return "$" in value
    if isinstance(value, dict):
        return any(_has_dollar(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_dollar(v) for v in value)
    return False


def _refs(value: Any) -> list[str | int] | None:
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    out: list[str | int] = []
    for v in items:
        if isinstance(v, bool) or not isinstance(v, (str, int)) or (isinstance(v, int) and v >= 0):
            raise CnnCalcError(f"from: must list layer names or negative relative indices "
                               f"(-1 = previous), got {v!r}")
        out.append(v)
    if not out:
        raise CnnCalcError("from: is empty")
    return out
