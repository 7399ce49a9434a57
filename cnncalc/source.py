"""Reading a spec's text and parsing it as safe YAML: a file, a built-in model or standard input,
each bounded (docs/LIMITS.md), parsed with a SafeLoader subclass that records line numbers,
resolves numbers as YAML 1.2 does and turns values their tag cannot hold into one-line errors.
With libyaml, the values are built straight from the parser's events (:func:`_from_events`), so
that a 100,000-layer spec never holds PyYAML's node tree; anything out of the ordinary is loaded
the full way (:func:`_load_with`), which reports it. Together with :mod:`cnncalc.spec` (which
builds the model tree), the only module that imports yaml.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from .errors import CnnCalcError, printable
from .layers import suggest
from .limits import MAX_INT_DIGITS, MAX_LAYERS, MAX_LIST_ITEMS, MAX_SPEC_BYTES, MAX_YAML_VALUES


def _zoo_dir() -> Path:
    """The built-in models: the package ``cnncalc.configs``, which pyproject.toml maps to
    ``configs/`` at the repository root, so an installed cnncalc (editable or not) finds them from
    any directory. A source tree that was never installed has no such package: use its configs/."""
    # the package's own __file__ (importlib.resources costs ~7 ms of imports at every start)
    from importlib.util import find_spec
    spec = find_spec("cnncalc.configs")
    if spec is not None and spec.origin:
        return Path(spec.origin).parent
    return Path(__file__).resolve().parent.parent / "configs"


ZOO_DIR = _zoo_dir()


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
# as a string), and `190:20:30` is a string, not a sexagesimal 685230. One departure: no
# hexadecimal, so that `padding: 0x3` is the string "0 by 3" (fields.by), not the integer 3.
_INT = re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0o?[0-7_]+|[-+]?(?:0|[1-9][0-9_]*))$")
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


def line_of(value: Any, default: int | None = None) -> int | None:
    line = getattr(value, "line", None)
    return default if line is None else line


def read_source(spec: str) -> tuple[str, str, str]:
    """SPEC (zoo name, path or '-') → (display file name, default model name, text)."""
    label, stem, data = read_bytes(spec)
    return label, stem, decode_text(data, label)


def read_bytes(spec: str, limit: int = MAX_SPEC_BYTES) -> tuple[str, str, bytes]:
    """SPEC (zoo name, path or '-') → (display file name, default model name, at most ``limit``
    bytes of it; more is an error)."""
    if spec == "-":
        label, stem = "<stdin>", "stdin"
        return label, stem, read_capped(getattr(sys.stdin, "buffer", None), label,
                                        "standard input", limit)
    path, label = locate(spec)
    try:
        with path.open("rb") as fh:
            return label, path.stem, read_capped(fh, label, spec, limit)
    except OSError as e:
        raise CnnCalcError(f"cannot read {spec}: {e.strerror or e}") from None


def decode_text(data: bytes, label: str, what: str = "a YAML spec") -> str:
    """The UTF-8 text of a spec file; binary data or another encoding is an error."""
    if b"\0" in data[:8192]:
        raise CnnCalcError(f"not a text file (binary data); expected {what}", file=label)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise CnnCalcError(f"not UTF-8 text (byte {e.start}); expected {what}",
                           file=label) from None


def locate(spec: str) -> tuple[Path, str]:
    """The file a SPEC argument names (a path, or a built-in model) and its display label."""
    try:
        return _locate(spec)
    except OSError as e:      # e.g. a 300-character name: ENAMETOOLONG
        raise CnnCalcError(f"cannot read {printable(spec)[:80]}: {e.strerror or e}") from None


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
    """``yaml.load`` with :func:`_expanded_size` checked between composing and constructing.
    The text is first built straight from libyaml's events (:func:`_from_events`, the same
    values, checks included); whatever that leaves (an error, a merge key, a tag other than the
    plain ones, an alias bomb) is loaded again the full way, which reports it as it always has."""
    _count_items(text)
    if _FastLoader is not None:
        try:
            try:
                return _from_events(text)
            except (_Unusual, CnnCalcError, RecursionError):
                pass
            return _load_with(_FastLoader, text)
        except yaml.YAMLError:
            pass            # report it with the pure-Python parser's clearer message
    return _load_with(_Loader, text)


class _Unusual(Exception):
    """Something :func:`_from_events` leaves to the full loader."""


_MAP_TAG, _SEQ_TAG = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
# scalar tags whose safe constructors make immutable values (so one value may stand for every
# scalar of the same text): null, bool, int, float, str, timestamp, binary
_SCALAR_TAGS = frozenset("tag:yaml.org,2002:" + t for t in
                         ("null", "bool", "int", "float", "str", "timestamp", "binary"))
_NODE_EVENTS = (yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent)
_EVENT_DEPTH = 100      # deeper: the full loader (whose limit is the recursion limit) decides


def _from_events(text: str) -> Any:
    """The document :func:`_load_with` would construct, built while libyaml parses it: no node
    tree (about 3 KB per layer entry, with two marks per node) is ever held, only the values.

    Anything that is not plain data raises :class:`_Unusual` or the constructor's error, and the
    caller loads the text the full way: a merge key ``<<``, an unusual tag, a duplicate or
    unhashable key, a value its constructor refuses, nesting past ``_EVENT_DEPTH``, a second
    document, a duplicate, undefined or recursive anchor, and aliases that expand the document
    to more than MAX_YAML_VALUES values (counted as :func:`_expanded_size` counts them).

    Each distinct scalar text is resolved and constructed once, by the loader's own resolver and
    constructors, and its (immutable) value is shared by every scalar of that text; an alias is
    the anchored value itself, as PyYAML makes it."""
    loader = _FastLoader(text)
    assert not loader.yaml_path_resolvers     # resolution depends only on the scalar
    get = loader.get_event
    resolve = loader.resolve
    constructors = loader.yaml_constructors
    plain: dict[str, Any] = {}       # a plain scalar's text → its value
    quoted: dict[str, Any] = {}      # a quoted (untagged) scalar's text → its value
    anchors: dict[str, Any] = {}     # complete anchored values
    opened: set[str] = set()         # anchors whose value is being built

    def scalar(ev: Any) -> Any:
        tag = ev.tag
        if tag is None or tag == "!":
            tag = resolve(yaml.ScalarNode, ev.value, ev.implicit)
        if tag not in _SCALAR_TAGS:
            raise _Unusual
        node = yaml.ScalarNode(tag, ev.value, ev.start_mark, ev.end_mark, ev.style)
        return constructors[tag](loader, node)

    def value(ev: Any, depth: int) -> Any:
        kind = type(ev)
        if kind is yaml.ScalarEvent and ev.tag is None and ev.anchor is None:
            cache = plain if ev.implicit[0] else quoted
            try:
                return cache[ev.value]
            except KeyError:
                made = cache[ev.value] = scalar(ev)
                return made
        if kind is yaml.AliasEvent:
            try:
                return anchors[ev.anchor]
            except KeyError:
                raise _Unusual from None        # undefined, or inside its own anchor
        if kind not in _NODE_EVENTS:
            raise _Unusual
        name = ev.anchor
        if name is None:
            return build(ev, kind, depth)
        if name in anchors or name in opened:
            raise _Unusual                      # a duplicate anchor
        opened.add(name)
        made = anchors[name] = build(ev, kind, depth)
        opened.discard(name)
        return made

    def build(ev: Any, kind: type, depth: int) -> Any:
        if kind is yaml.ScalarEvent:
            return scalar(ev)
        if depth >= _EVENT_DEPTH:
            raise _Unusual
        tag = ev.tag
        if kind is yaml.MappingStartEvent:
            if tag is not None and tag != "!" and tag != _MAP_TAG:
                raise _Unusual
            data = LDict()
            data.line = ev.start_mark.line + 1
            while True:
                ev = get()
                if type(ev) is yaml.MappingEndEvent:
                    return data
                key = value(ev, depth + 1)
                try:
                    if key in data:
                        raise _Unusual          # a duplicate key
                except TypeError:
                    raise _Unusual from None    # an unhashable key
                data[key] = value(get(), depth + 1)
        if tag is not None and tag != "!" and tag != _SEQ_TAG:
            raise _Unusual
        items = LList()
        items.line = ev.start_mark.line + 1
        while True:
            ev = get()
            if type(ev) is yaml.SequenceEndEvent:
                return items
            items.append(value(ev, depth + 1))

    try:
        get()                                           # the stream's start
        ev = get()
        if type(ev) is yaml.StreamEndEvent:
            return None                                 # no document
        if type(ev) is not yaml.DocumentStartEvent:
            raise _Unusual
        doc = value(get(), 0)
        if type(get()) is not yaml.DocumentEndEvent or type(get()) is not yaml.StreamEndEvent:
            raise _Unusual                              # e.g. a second document
        if "&" in text and _value_size(doc, {}) > MAX_YAML_VALUES:
            raise _Unusual              # an alias bomb (checked when _load_with checks it)
        return doc
    finally:
        loader.dispose()


def _value_size(value: Any, sizes: dict[int, int]) -> int:
    """The number of YAML values ``value`` stands for with every alias expanded, as
    :func:`_expanded_size` counts the nodes: 1 for a scalar, 1 plus the keys and the values'
    sizes for a mapping (keys are scalars), 1 plus the items' for a list. Aliases are shared
    values, so each list and mapping is counted once (memoised by identity); it stops counting
    past MAX_YAML_VALUES."""
    if not isinstance(value, (list, dict)):
        return 1
    key = id(value)
    if key in sizes:
        return sizes[key]
    total = 1
    children = value.values() if isinstance(value, dict) else value
    if isinstance(value, dict):
        total += len(value)
    for child in children:
        total += _value_size(child, sizes)
        if total > MAX_YAML_VALUES:
            break
    sizes[key] = total
    return total


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
