"""YAML → model tree. The only module that imports yaml.

Loading is always safe (a SafeLoader subclass that records line numbers). The result is a
:class:`Model` whose ``body`` is a tree of :class:`Seq`, :class:`Leaf` and :class:`Composite`
nodes, with blocks, repeats and ``$name`` substitutions already expanded; shape-dependent parts
(``from:`` references, ``shortcut: auto``) are resolved by :mod:`cnncalc.analysis`.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import CnnCalcError, printable
from .layers import REGISTRY, Layer, ParamError, suggest
from .limits import (MAX_INT_DIGITS, MAX_LAYERS, MAX_LIST_ITEMS, MAX_NAME_LENGTH, MAX_NESTING,
                     MAX_SPEC_BYTES, MAX_YAML_VALUES)


def _zoo_dir() -> Path:
    """The built-in models: the package ``cnncalc.configs``, which pyproject.toml maps to
    ``configs/`` at the repository root, so an installed cnncalc (editable or not) finds them from
    any directory. A source tree that was never installed has no such package: use its configs/."""
    from importlib.resources import files
    try:
        return Path(str(files("cnncalc.configs")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / "configs"


ZOO_DIR = _zoo_dir()
COMPOSITES = ("block", "repeat", "residual", "parallel")
TOP_KEYS = ("name", "description", "input", "defaults", "blocks", "layers")
Shape = tuple[int, ...]


# --- the tree ------------------------------------------------------------------------------------

@dataclass(eq=False)
class Leaf:
    type: str
    layer: Layer
    name: str
    line: int | None
    refs: list[str | int] | None = None      # `from:`; None = the previous item


@dataclass(eq=False)
class Seq:
    items: list[Any] = field(default_factory=list)   # Leaf | Composite


@dataclass(eq=False)
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


@dataclass(eq=False)
class Model:
    name: str
    description: str
    input: Shape | None
    body: Seq
    file: str
    text: str = ""
    leaves: int = 0


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


# --- safe YAML with line numbers -----------------------------------------------------------------

class LDict(dict):
    """A YAML mapping that remembers its line."""
    __slots__ = ("line",)
    line: int | None


class LList(list):
    """A YAML sequence that remembers its line."""
    __slots__ = ("line",)
    line: int | None


class _Loader(yaml.SafeLoader):
    pass


# YAML 1.2's core schema for numbers: `1e-6` is a float (YAML 1.1 wants `1.0e-6` and reads `1e-6`
# as a string), and `190:20:30` is a string, not a sexagesimal 685230.
_INT = re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0o?[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)"
                  r"|[-+]?0x[0-9a-fA-F_]+)$")
_FLOAT = re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?"
                    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")


def _core_numbers(cls: Any) -> None:
    resolvers = {ch: [(tag, rx) for tag, rx in rs
                      if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")]
                 for ch, rs in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    cls.yaml_implicit_resolvers = resolvers
    cls.add_implicit_resolver("tag:yaml.org,2002:int", _INT, list("-+0123456789"))
    cls.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def _checked(kind: str, construct: Any) -> Any:
    """A scalar constructor that turns a value it cannot build (an invalid date, `!!int 1.5`,
    `!!bool maybe`, a 5,000-digit integer) into one line naming the value and its line."""
    def build(loader: Any, node: yaml.ScalarNode) -> Any:
        text = str(node.value)
        shown = text if len(text) <= 40 else text[:20] + "…" + text[-10:]
        line = node.start_mark.line + 1
        if kind == "integer" and sum(ch.isdigit() for ch in text) > MAX_INT_DIGITS:
            raise CnnCalcError(f"integer {shown!r} has more than {MAX_INT_DIGITS} digits",
                               line=line)
        try:
            return construct(loader, node)
        except (ValueError, KeyError, TypeError, OverflowError):
            raise CnnCalcError(f"invalid {kind} {shown!r}", line=line) from None
    return build


def _text(loader: Any, node: yaml.ScalarNode) -> str:
    value = loader.construct_scalar(node)
    if any("\ud800" <= ch <= "\udfff" for ch in value):
        raise CnnCalcError("a string holds a lone surrogate (\\ud800-\\udfff), which is not "
                           "a character; use real Unicode text", line=node.start_mark.line + 1)
    return value


def _map(loader: _Loader, node: yaml.MappingNode):
    data = LDict()
    data.line = node.start_mark.line + 1
    yield data
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise CnnCalcError(f"a mapping key must be a plain value, got {key!r}",
                               line=key_node.start_mark.line + 1) from None
        if key in seen:
            raise CnnCalcError(f"duplicate key {key!r}", line=key_node.start_mark.line + 1)
        seen.add(key)
        data[key] = loader.construct_object(value_node, deep=True)


def _seq(loader: _Loader, node: yaml.SequenceNode):
    data = LList()
    data.line = node.start_mark.line + 1
    yield data
    data.extend(loader.construct_sequence(node, deep=True))


_SCALARS = (("tag:yaml.org,2002:int", "integer"), ("tag:yaml.org,2002:float", "number"),
            ("tag:yaml.org,2002:bool", "boolean"), ("tag:yaml.org,2002:timestamp", "date"))


def _configure(cls: Any) -> None:
    _core_numbers(cls)
    cls.add_constructor("tag:yaml.org,2002:map", _map)
    cls.add_constructor("tag:yaml.org,2002:seq", _seq)
    cls.add_constructor("tag:yaml.org,2002:str", _text)
    for tag, kind in _SCALARS:
        cls.add_constructor(tag, _checked(kind, yaml.SafeLoader.yaml_constructors[tag]))


_configure(_Loader)

# libyaml's parser (when PyYAML has it) with the same safe constructors: about 4x faster on big
# specs. Errors are re-parsed with the pure-Python loader, whose messages are clearer.
_FastLoader: Any = None
if getattr(yaml, "CSafeLoader", None) is not None:
    class _FastLoader(yaml.CSafeLoader):  # type: ignore[no-redef]
        pass

    _configure(_FastLoader)


def _line(value: Any, default: int | None = None) -> int | None:
    return getattr(value, "line", default)


def read_source(spec: str) -> tuple[str, str, str]:
    """SPEC (zoo name, path or '-') → (display file name, default model name, text)."""
    if spec == "-":
        label, stem = "<stdin>", "stdin"
        data = read_capped(getattr(sys.stdin, "buffer", None), label, "standard input")
    else:
        try:
            path, label = _locate(spec)
        except OSError as e:      # e.g. a 300-character name: ENAMETOOLONG
            raise CnnCalcError(f"cannot read {printable(spec)[:80]}: {e.strerror or e}") from None
        stem = path.stem
        try:
            with path.open("rb") as fh:
                data = read_capped(fh, label, spec)
        except OSError as e:
            raise CnnCalcError(f"cannot read {spec}: {e.strerror or e}") from None
    if b"\0" in data[:8192]:
        raise CnnCalcError("not a text file (binary data); expected a YAML spec", file=label)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise CnnCalcError(f"not UTF-8 text (byte {e.start}); expected a YAML spec",
                           file=label) from None
    return label, stem, text


def _locate(spec: str) -> tuple[Path, str]:
    """The file a SPEC argument names (a path, or a built-in model) and its display label."""
    path = Path(spec)
    zoo = ZOO_DIR / f"{spec}.yaml"
    if not path.exists() and os.sep not in spec and "." not in spec:
        if zoo.exists():
            return zoo, f"{spec} (built-in)"
        names = zoo_names()
        raise CnnCalcError(f"'{spec}' is neither a file nor a built-in model"
                           f"{suggest(spec, names)}; built-in: {', '.join(names)}")
    if not path.exists():
        raise CnnCalcError(f"no such file: {spec}")
    if path.is_dir():
        raise CnnCalcError(f"{spec} is a directory, not a YAML file")
    return path, spec


def read_capped(stream: Any, label: str, what: str, limit: int = MAX_SPEC_BYTES) -> bytes:
    """At most ``limit`` bytes of a stream; more is an error (``/dev/zero`` never ends)."""
    if stream is None:
        raise CnnCalcError(f"cannot read {what}: it is closed", file=label)
    try:
        data = stream.read(limit + 1)
    except (OSError, ValueError) as e:
        raise CnnCalcError(f"cannot read {what}: {getattr(e, 'strerror', None) or e}",
                           file=label) from None
    if len(data) > limit:
        raise CnnCalcError(f"larger than {limit >> 20} MiB, the limit for a spec "
                           f"(docs/LIMITS.md)", file=label)
    return data


def _count_items(text: str) -> None:
    """Refuse a spec whose lists alone pass the layer limit, before YAML builds millions of
    nodes: block-style items (lines starting with '- ') and flow-list commas, an upper bound."""
    items = len(re.findall(r"^[ \t]*- ", text, re.M)) + text.count(",")
    if items > MAX_LIST_ITEMS:
        raise CnnCalcError(f"the spec has {items:,} list items; a spec may have at most "
                           f"{MAX_LAYERS:,} layers (docs/LIMITS.md)")


def zoo_names() -> list[str]:
    """Built-in model names in natural order (resnet18 before resnet101)."""
    return sorted((p.stem for p in ZOO_DIR.glob("*.yaml")),
                  key=lambda n: [(0, int(t), "") if t.isdigit() else (1, 0, t)
                                 for t in re.split(r"(\d+)", n)])


def _expanded_size(node: yaml.Node, sizes: dict[int, int], active: set[int]) -> int:
    """Number of values ``node`` stands for once every alias is expanded (memoised per node, so
    this costs one visit per distinct node). Raises on a recursive alias or when the expansion
    passes MAX_YAML_VALUES: an alias bomb ("billion laughs") fails here, before anything is
    constructed, compared, printed or walked."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in active:
        raise CnnCalcError("recursive YAML alias: the anchor defined here is used inside itself",
                           line=node.start_mark.line + 1)
    total = 1
    if isinstance(node, (yaml.SequenceNode, yaml.MappingNode)):
        active.add(key)
        children = node.value if isinstance(node, yaml.SequenceNode) else \
            [n for pair in node.value for n in pair]
        for child in children:
            total += _expanded_size(child, sizes, active)
            if total > MAX_YAML_VALUES:
                raise CnnCalcError(f"YAML aliases expand this value to more than "
                                   f"{MAX_YAML_VALUES:,} values (an alias bomb?)",
                                   line=node.start_mark.line + 1)
        active.discard(key)
    sizes[key] = total
    return total


def _load_yaml(text: str) -> Any:
    """``yaml.load`` with :func:`_expanded_size` checked between composing and constructing."""
    _count_items(text)
    if _FastLoader is not None:
        try:
            return _load_with(_FastLoader, text)
        except yaml.YAMLError:
            pass            # report it with the pure-Python parser's clearer message
    return _load_with(_Loader, text)


def _load_with(loader_class: Any, text: str) -> Any:
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if "&" in text:     # without an anchor there is no alias to expand
            _expanded_size(node, {}, set())
        return loader.construct_document(node)
    finally:
        loader.dispose()


def parse_yaml(text: str, label: str) -> Any:
    try:
        return _load_yaml(text)
    except CnnCalcError as e:
        raise e.located(file=label)
    except yaml.constructor.ConstructorError as e:
        mark = e.problem_mark
        tag = re.search(r"tag '([^']*)'", str(e.problem))
        msg = (f"unsupported YAML tag {tag.group(1)!r}; specs are plain data and never run code"
               if tag else str(e.problem))
        raise CnnCalcError(msg, file=label, line=mark.line + 1 if mark else None) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f" (column {mark.column + 1})" if mark else ""
        raise CnnCalcError(f"invalid YAML: {e.problem or e.context}{where}", file=label,
                           line=mark.line + 1 if mark else None) from None
    except yaml.reader.ReaderError as e:     # a control character: one line, with its place
        pos = max(e.position, 0)
        line = text.count("\n", 0, pos) + 1
        column = pos - (text.rfind("\n", 0, pos) + 1) + 1
        char = e.character if isinstance(e.character, int) else ord(str(e.character)[:1] or " ")
        raise CnnCalcError(f"invalid YAML: unacceptable character #x{char:04x} (column "
                           f"{column}); a spec is plain text", file=label, line=line) from None
    except yaml.YAMLError as e:
        raise CnnCalcError(f"invalid YAML: {' '.join(str(e).split())}", file=label) from None
    except RecursionError:
        raise CnnCalcError("YAML nested too deeply", file=label) from None


def load(spec: str, input_shape: Shape | None = None) -> Model:
    """Read and parse SPEC (zoo name, path or '-')."""
    label, stem, text = read_source(spec)
    return loads(text, label, stem, input_shape)


def loads(text: str, label: str = "<string>", stem: str = "model",
          input_shape: Shape | None = None) -> Model:
    doc = parse_yaml(text, label)
    if doc is None:
        raise CnnCalcError("the spec is empty; it needs at least 'layers:'", file=label)
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
        body = builder.seq(doc.get("layers"), {}, 0, "layers", _line(doc))
        if not body.items:
            raise CnnCalcError("'layers' is empty", line=_line(doc.get("layers"), _line(doc)))
    except CnnCalcError as e:
        raise e.located(file=label)
    except RecursionError:
        raise CnnCalcError("the spec is nested too deeply (a recursive YAML alias?)",
                           file=label) from None
    name = doc.get("name", stem)
    desc = doc.get("description", "")
    return Model(str(name), str(desc or ""), shape, body, label, text, builder.leaves)


# --- $name substitution with safe integer arithmetic -------------------------------------------

_TOKEN = re.compile(r"\s*(?:(\d+)|\$([A-Za-z_]\w*)|(//|[-+*()/%]))")


def _evaluate(expr: str, env: dict[str, Any]) -> Any:
    """Evaluate ``$a * 4 + 1`` with ints, + − * // % and parentheses. Never uses eval()."""
    whole = re.fullmatch(r"\s*\$([A-Za-z_]\w*)\s*", expr)
    if whole:
        return _lookup(whole.group(1), env)
    tokens: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(expr):
        if expr[pos:].strip() == "":
            break
        m = _TOKEN.match(expr, pos)
        if not m:
            raise CnnCalcError(f"cannot read the expression {expr!r} at {expr[pos:].strip()!r}")
        if m.group(1):
            tokens.append(("n", int(m.group(1))))
        elif m.group(2):
            v = _lookup(m.group(2), env)
            if not isinstance(v, int) or isinstance(v, bool):
                raise CnnCalcError(f"${m.group(2)} is {v!r}, not an integer, in {expr!r}")
            tokens.append(("n", v))
        else:
            tokens.append(("op", m.group(3)))
        pos = m.end()
    if len(tokens) > 200:
        raise CnnCalcError(f"expression too long: {expr[:40]!r}...")
    i = 0

    def peek():
        return tokens[i] if i < len(tokens) else ("end", None)

    def atom() -> int:
        nonlocal i
        kind, val = peek()
        if kind == "n":
            i += 1
            return val
        if val == "-":
            i += 1
            return -atom()
        if val == "(":
            i += 1
            v = add()
            if peek() != ("op", ")"):
                raise CnnCalcError(f"missing ')' in {expr!r}")
            i += 1
            return v
        raise CnnCalcError(f"unexpected {val or 'end'!r} in the expression {expr!r}")

    def mul() -> int:
        nonlocal i
        v = atom()
        while peek()[1] in ("*", "//", "/", "%"):
            op = peek()[1]
            i += 1
            r = atom()
            if op == "*":
                v = v * r
                if abs(v) > 10 ** 15:
                    raise CnnCalcError(f"{expr!r} is too large")
                continue
            if r == 0:
                raise CnnCalcError(f"division by zero in {expr!r}")
            if op == "/" and v % r:
                raise CnnCalcError(f"{v} / {r} is not a whole number in {expr!r}; use // to "
                                   f"round down")
            v = v % r if op == "%" else v // r
        return v

    def add() -> int:
        nonlocal i
        v = mul()
        while peek()[1] in ("+", "-"):
            op = peek()[1]
            i += 1
            v = v + mul() if op == "+" else v - mul()
        return v

    value = add()
    if i != len(tokens):
        raise CnnCalcError(f"unexpected {tokens[i][1]!r} in the expression {expr!r}")
    return value


def _lookup(name: str, env: dict[str, Any]) -> Any:
    if name not in env:
        known = ", ".join(f"${k}" for k in env) or "none: $names work only inside a block"
        raise CnnCalcError(f"${name} is not defined{suggest(name, env)} (defined: {known})")
    value = env[name]
    if value is _MISSING:
        raise CnnCalcError(f"block parameter ${name} has no default and was not given")
    return value


_MISSING = object()


def _substitute(value: Any, env: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return _evaluate(value, env) if "$" in value else value
    if isinstance(value, dict):
        out = LDict((k, _substitute(v, env)) for k, v in value.items())
        out.line = _line(value)
        return out
    if isinstance(value, list):
        out2 = LList(_substitute(v, env) for v in value)
        out2.line = _line(value)
        return out2
    return value


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
            if kind in REGISTRY:
                total += 1
            elif kind == "block":
                use = value.get("use") if isinstance(value, dict) else value
                args = {k: v for k, v in value.items() if k not in ("use", "name", "from")} \
                    if isinstance(value, dict) else {}
                total += self._block_least(use, active, args)
            elif kind == "repeat" and isinstance(value, dict):
                times = value.get("times")
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
                                   f"{suggest(key, REGISTRY)}", file=self.label, line=_line(raw))
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
        seq = Seq()
        counts: dict[str, int] = {}
        names: dict[str, int | None] = {}
        for pos, entry in enumerate(entries, 1):
            eline = _line(entry, _line(entries, line))
            try:
                item = self.entry(entry, env, depth, counts, eline)
            except CnnCalcError as e:
                if depth == 0 and e.name is None and e.type is None:
                    label, kind = _entry_label(entry)   # an error inside a composite
                    e.located(name=label, type=kind)
                raise e.located(line=eline, index=pos if depth == 0 else None)
            if item.name in names:
                raise CnnCalcError(f"duplicate name '{item.name}' (first used at line "
                                   f"{names[item.name]})", line=item.line or eline,
                                   index=pos if depth == 0 else None)
            names[item.name] = item.line or eline
            seq.items.append(item)
        return seq

    def entry(self, entry: Any, env: dict, depth: int, counts: dict, line: int | None):
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
        value = _substitute(value, env) if env or _has_dollar(value) else value
        if kind in COMPOSITES:
            self.groups += 1
            if self.groups > MAX_LAYERS:      # e.g. nested blocks that expand to no layers
                raise CnnCalcError(f"the spec expands to more than {MAX_LAYERS:,} blocks, "
                                   f"repeats, residuals and parallels")
            return getattr(self, kind)(value, env, depth, counts, line)
        if kind not in REGISTRY:
            raise CnnCalcError(f"unknown layer type '{kind}'"
                               f"{suggest(kind, list(REGISTRY) + list(COMPOSITES))}; valid: "
                               f"{', '.join(sorted({c.type for c in REGISTRY.values()}))}, "
                               f"{', '.join(COMPOSITES)}")
        return self.leaf(kind, value, counts, line)

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

    def leaf(self, kind: str, value: Any, counts: dict, line: int | None) -> Leaf:
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
        name = self._name(ctype, counts, params.pop("name", None))
        refs = _refs(params.pop("from", None)) if "from" in params else None
        merged = {**self.defaults.get(ctype, {}), **params}
        self._count()
        try:
            layer = cls(**merged)
        except (ParamError, ValueError) as e:
            raise CnnCalcError(str(e), line=_line(value, line), name=name, type=ctype) from None
        return Leaf(ctype, layer, name, _line(value, line), refs)

    def _mapping(self, kind: str, value: Any, allowed: tuple[str, ...]) -> dict:
        if not isinstance(value, dict):
            raise CnnCalcError(f"{kind} needs a mapping with {', '.join(allowed)}, got "
                               f"{value!r}"[:200])
        for key in value:
            if key not in allowed:
                raise CnnCalcError(f"unknown key {key!r} in {kind}{suggest(key, allowed)}; "
                                   f"valid: {', '.join(allowed)}")
        return value

    def block(self, value: Any, env: dict, depth: int, counts: dict, line: int | None):
        if isinstance(value, str):
            value = {"use": value}
        if not isinstance(value, dict) or "use" not in value:
            raise CnnCalcError(f"block needs 'use: NAME', got {value!r}"[:200])
        args = dict(value)
        use = args.pop("use")
        given_name = args.pop("name", None)
        refs = _refs(args.pop("from", None)) if "from" in args else None
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
        for key in args:
            if key not in declared:
                raise CnnCalcError(f"block '{use}' has no parameter '{key}'"
                                   f"{suggest(key, declared)}; its parameters: "
                                   f"{', '.join(declared) or 'none'}")
        scope = {**declared, **args}
        missing = [k for k, v in scope.items() if v is _MISSING]
        if missing:
            raise CnnCalcError(f"block '{use}' needs parameter(s) {', '.join(missing)}")
        name = self._name(str(use), counts, given_name)
        self._check_size(self._block_least(use, frozenset(), args), f"block '{use}'")
        body = self.seq(definition.get("layers"), scope, depth + 1, f"blocks.{use}.layers",
                        _line(definition, line))
        return Composite("block", name, line, [body], label=str(use), refs=refs)

    def repeat(self, value: Any, env: dict, depth: int, counts: dict, line: int | None):
        value = self._mapping("repeat", value, ("times", "layers", "first", "name", "from"))
        times = value.get("times")
        if not isinstance(times, int) or isinstance(times, bool) or times < 1:
            raise CnnCalcError(f"repeat needs 'times' >= 1, got {times!r}")
        name = self._name("repeat", counts, value.get("name"))
        before = self.leaves
        first_layers = _first_iteration(value.get("layers"), value.get("first"))
        first = self.seq(first_layers, env, depth + 1, "repeat.layers", line)
        size = self.leaves - before
        if size * times + before > MAX_LAYERS:
            raise CnnCalcError(f"repeat {times} × {size} layers expands to more than "
                               f"{MAX_LAYERS:,} layers")
        parts = [first] + [self.seq(value.get("layers"), env, depth + 1, "repeat.layers", line)
                           for _ in range(times - 1)]
        return Composite("repeat", name, line, parts, refs=_refs(value.get("from")))

    def residual(self, value: Any, env: dict, depth: int, counts: dict, line: int | None):
        if isinstance(value, list):
            value = {"body": value}
        value = self._mapping("residual", value,
                              ("body", "shortcut", "activation", "name", "from"))
        name = self._name("residual", counts, value.get("name"))
        body = self.seq(value.get("body"), env, depth + 1, "residual.body", line)
        shortcut = value.get("shortcut", "identity")
        parts = [body]
        if shortcut is None or shortcut in ("identity", "none"):
            mode = "identity"
        elif shortcut == "auto":
            mode = "auto"
        elif isinstance(shortcut, list):
            mode = "layers"
            parts.append(self.seq(shortcut, env, depth + 1, "residual.shortcut", line))
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
        return Composite("residual", name, line, parts, shortcut=mode, activation=act,
                         refs=_refs(value.get("from")))

    def parallel(self, value: Any, env: dict, depth: int, counts: dict, line: int | None):
        if isinstance(value, list):
            value = {"branches": value}
        value = self._mapping("parallel", value, ("branches", "merge", "name", "from"))
        merge = value.get("merge", "concat")
        if merge not in ("concat", "add", "multiply"):
            raise CnnCalcError(f"parallel merge must be concat, add or multiply, got {merge!r}")
        branches = value.get("branches")
        if not isinstance(branches, list) or len(branches) < 2:
            raise CnnCalcError("parallel needs 'branches': a list of two or more layer lists")
        name = self._name("parallel", counts, value.get("name"))
        parts = []
        for i, br in enumerate(branches):
            if br is None or br == "identity":
                br = LList()
            parts.append(self.seq(br, env, depth + 1, f"parallel.branches[{i}]", line)
                         if br else Seq())
        self._count()   # the merge
        return Composite("parallel", name, line, parts, label=merge,
                         refs=_refs(value.get("from")))


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
