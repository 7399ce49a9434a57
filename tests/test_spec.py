"""cnncalc.spec: the YAML contract of SPEC-FORMAT.md for sequential networks, safe loading,
file handling and the located, one-line errors."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

import cnncalc
from cnncalc import source
from cnncalc import spec as spec_mod
from cnncalc.errors import CnnCalcError
from cnncalc.spec import load, loads, parse_shape
from conftest import analyse_text as analyse


def error(text: str, **kw) -> str:
    with pytest.raises(CnnCalcError) as info:
        analyse(text, **kw)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


# --- shapes --------------------------------------------------------------------------------

@pytest.mark.parametrize("value, shape", [
    ("224x224x3", (224, 224, 3)), ("224X224X3", (224, 224, 3)), ("224×224×3", (224, 224, 3)),
    ("224 x 224 x 3", (224, 224, 3)), ([224, 224, 3], (224, 224, 3)), ([25088], (25088,)),
    ("25088", (25088,)), (25088, (25088,)), ("[32, 32, 3]", (32, 32, 3)),
])
def test_parse_shape_forms(value, shape):
    assert parse_shape(value) == shape


@pytest.mark.parametrize("value, message", [
    ("224x224", "must be HxWxC or a 1-D length N"), ("0x4x4", "must be positive"),
    ("-8x8x1", "must be positive"), ("8.5x8x1", "must look like HxWxC"), ("abc", "HxWxC"),
    (True, "HxWxC"), ([1.5, 2, 3], "HxWxC"), ([], "HxWxC"), ("", "HxWxC"),
    ([1, 2, 3, 4], "HxWxC"), (None, "HxWxC"),
])
def test_parse_shape_errors(value, message):
    with pytest.raises(CnnCalcError, match=message):
        parse_shape(value)


def test_input_as_yaml_list_and_override():
    a = analyse("input: [32, 32, 3]\nlayers: [flatten]\n")
    assert a.input == (32, 32, 3) and a.output == (3072,)
    a = cnncalc.analyse(loads("input: [32, 32, 3]\nlayers: [flatten]\n"), (8, 8, 2))
    assert a.output == (128,)
    assert "no input shape" in error("layers: [flatten]\n")


# --- the format --------------------------------------------------------------------------

FULL = """\
name: demo
description: every sequential feature
input: 32x32x3
defaults:
  conv: {kernel: 3, padding: same, activation: relu}
  conv2d: {bias: true}        # an alias merges into conv's defaults
layers:
  - conv: 16                  # scalar shorthand: filters
  - conv: {filters: 16, name: c2, activation: null}
  - maxpool: 2                # shorthand: size; stride defaults to size
  - conv2d: {filters: 32, kernel: 5, padding: 0}
  - bn
  - relu
  - flatten                   # a bare string
  - fc: 10
  - dropout: 0.25
  - dense: {units: 5, activation: softmax}
"""


def test_full_sequential_spec():
    a = analyse(FULL)
    assert (a.name, a.description) == ("demo", "every sequential feature")
    names = [r.name for r in a.layers]
    # default names number the layers of each type, named or not (Keras-style)
    assert names == ["conv_1", "c2", "maxpool_1", "conv_3", "batchnorm_1", "relu_1",
                     "flatten_1", "dense_1", "dropout_1", "dense_2"]
    types = [r.type for r in a.layers]
    assert types[3] == "conv" and types[4] == "batchnorm" and types[7] == "dense"
    c1, c2, pool, c3 = a.layers[:4]
    assert c1.output == (32, 32, 16) and c1.activation == "relu"
    assert c1.params == 3 * 3 * 3 * 16 + 16
    assert c2.activation is None                                # explicit null overrides
    assert pool.output == (16, 16, 16)
    assert c3.output == (12, 12, 32) and c3.layer.padding == (0, 0, 0, 0)
    assert a.layers[6].output == (12 * 12 * 32,)
    assert a.layers[9].activation == "softmax"
    assert a.output == (5,)


def test_name_defaults_to_the_file_stem(tmp_path):
    p = tmp_path / "my_net.yaml"
    p.write_text("input: 8x8x1\nlayers: [relu]\n")
    assert load(str(p)).name == "my_net"


def test_zoo_vgg16_loads_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    m = load("vgg16")
    assert m.name == "vgg16" and "built-in" in m.file
    assert cnncalc.analyse(m).totals()["params"] == 138_357_544


def test_a_file_wins_over_a_zoo_name_only_with_a_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("vgg16.yaml").write_text("input: 8x8x1\nlayers: [relu]\n")
    assert cnncalc.analyse(load("vgg16.yaml")).output == (8, 8, 1)
    assert cnncalc.analyse(load("vgg16")).output == (1000,)


def test_stdin(monkeypatch):
    data = b"input: 4x4x2\nlayers: [flatten]\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    m = load("-")
    assert m.file == "<stdin>" and cnncalc.analyse(m).output == (32,)


def test_utf8_bom_and_unicode_separator(tmp_path):
    p = tmp_path / "bom.yaml"
    p.write_bytes("\ufeffinput: 8×8×1\nlayers: [relu]\n".encode("utf-8"))
    assert cnncalc.analyse(load(str(p))).output == (8, 8, 1)


# --- located errors ------------------------------------------------------------------------

def test_error_names_file_line_layer_index_name_and_value():
    text = ("input: 32x32x3\nlayers:\n  - conv: {filters: 8, kernel: 3}\n  - relu\n"
            "  - conv: {filters: 8, kernel: 3, name: head, stride: 0}\n")
    msg = error(text)
    assert msg == "net.yaml:5: layer 3 'head' (conv): stride must be >= 1, got 0"


def test_shape_error_names_the_input_shape():
    text = "input: 8x8x3\nlayers:\n  - maxpool: 4\n  - conv: {filters: 2, kernel: 3}\n"
    assert error(text) == ("net.yaml:4: layer 2 'conv_1' (conv): kernel 3 is larger than the "
                           "padded input height 2 (2 + padding 0) (input 2x2x3)")


@pytest.mark.parametrize("text, needles", [
    # YAML syntax errors: line and column
    ("input: 8x8x1\nlayers:\n  - conv: {filters: 3, kernel: 3\n",
     ["net.yaml:4:", "invalid YAML", "column 1"]),
    ("input: 8x8x1\nlayers:\n\t- relu\n", ["net.yaml:3:", "invalid YAML", "column 1"]),
    ("input: 8x8x1\nlayers: [relu\n", ["net.yaml:", "invalid YAML", "column"]),
    ("input: 8x8x1\ninput: 8x8x1\nlayers: [relu]\n", ["net.yaml:2:", "duplicate key 'input'"]),
    # unknown names with "did you mean"
    ("input: 8x8x1\nlayers:\n  - convv: 3\n",
     ["net.yaml:3:", "layer 1", "unknown layer type 'convv' (did you mean 'conv'?)"]),
    ("input: 8x8x1\nlayers:\n  - relu\n  - conv: {filters: 3, kernal: 3}\n",
     ["net.yaml:4:", "layer 2 'conv_1' (conv)", "unknown parameter 'kernal'",
      "(did you mean 'kernel'?)"]),
    ("input: 8x8x1\nlayer: [relu]\n", ["unknown top-level key 'layer'",
                                        "(did you mean 'layers'?)"]),
    ("input: 8x8x1\ndefaults:\n  cnov: {kernel: 3}\nlayers: [relu]\n",
     ["defaults: unknown layer type 'cnov'", "(did you mean 'conv'?)"]),
    ("input: 8x8x1\ndefaults:\n  conv: {kernell: 3}\nlayers: [relu]\n",
     ["defaults: unknown parameter 'kernell' for conv", "(did you mean 'kernel'?)"]),
    # wrong value types and non-positive sizes
    ("input: 8x8x1\nlayers:\n  - conv: {filters: three, kernel: 3}\n",
     ["layer 1 'conv_1' (conv)", "filters must be an integer, got 'three'"]),
    ("input: 8x8x1\nlayers:\n  - conv: {filters: 4, kernel: [3, x]}\n",
     ["kernel must be an integer or [h, w], got ['3', 'x']"[:40]]),
    ("input: 8x8x1\nlayers:\n  - dense: 0\n", ["layer 1 'dense_1' (dense)", "units must be >= 1"]),
    ("input: 8x8x1\nlayers:\n  - maxpool: -2\n", ["size must be >= 1, got -2"]),
    ("input: 0x8x1\nlayers: [relu]\n", ["input shape must be positive"]),
    # kernel larger than the padded input; output of zero or less
    ("input: 4x4x3\nlayers:\n  - conv: {filters: 2, kernel: 7}\n",
     ["net.yaml:3:", "layer 1 'conv_1' (conv)", "kernel 7 is larger than the padded input"]),
    ("input: 1x1x3\nlayers:\n  - conv_transpose: {filters: 2, kernel: 1, padding: 1}\n",
     ["layer 1", "output height would be -1"]),
    # groups that do not divide the channels
    ("input: 4x4x3\nlayers:\n  - conv: {filters: 4, kernel: 1, groups: 2}\n",
     ["layer 1 'conv_1' (conv)", "groups 2 does not divide the 3 input channels"]),
    # duplicate names
    ("input: 4x4x3\nlayers:\n  - relu: {name: a}\n  - relu: {name: a}\n",
     ["net.yaml:4:", "layer 2", "duplicate name 'a' (first used at line 3)"]),
    # structure
    ("input: 8x8x1\nlayers:\n  - conv: 3\n    kernel: 3\n",
     ["layer 1", "single-key mapping", "write conv: {...} with the parameters inside"]),
    ("input: 8x8x1\nlayers:\n  - 3\n", ["layer 1", "a type name or a single-key mapping"]),
    ("input: 8x8x1\nlayers:\n  - ~\n", ["layer 1"]),
    ("input: 8x8x1\n", ["'layers' is missing"]),
    ("input: 8x8x1\nlayers: []\n", ["'layers' is empty"]),
    ("input: 8x8x1\nlayers: relu\n", ["'layers' must be a list of layers"]),
    ("", ["the spec is empty"]),
    ("just a string\n", ["must be a mapping with 'layers:'"]),
    ("input: 8x8x1\nlayers:\n  - relu: {name: a.b}\n", ["must not contain '.'"]),
    ("input: 8x8x1\nlayers:\n  - relu: {name: [1]}\n", ["name must be a non-empty string"]),
    ("input: 8x8x1\nlayers:\n  - flatten: 3\n", ["flatten takes no shorthand value"]),
    ("input: 8x8x1\nlayers:\n  - ? [a, b]\n    : 1\n", ["a mapping key must be a plain value"]),
])
def test_errors(text, needles):
    msg = error(text)
    for n in needles:
        assert n in msg, f"{n!r} not in {msg!r}"


def test_a_list_document_is_described_in_user_terms():
    # regression: the message used to leak the internal class name ("got a LList")
    assert error("- relu\n- flatten\n").endswith("got a list")


# --- safety ----------------------------------------------------------------------------------

@pytest.mark.parametrize("tag", [
    "!!python/object/apply:os.system ['touch {sentinel}']",
    "!!python/object/new:os.system ['touch {sentinel}']",
    "!!python/name:os.system",
    "!!python/module:os",
    "!!python/object:os._wrap_close {{}}",
])
def test_python_tags_never_run(tag, tmp_path, monkeypatch):
    sentinel = tmp_path / "PWNED"
    called = []
    monkeypatch.setattr(os, "system", lambda *a: called.append(a) or 0)
    text = f"input: 8x8x1\nlayers: {tag.format(sentinel=sentinel)}\n"
    msg = error(text)
    assert "unsupported YAML tag" in msg and "never run code" in msg and "net.yaml:2" in msg
    assert not called and not sentinel.exists()


def test_alias_bomb_fails_fast():
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    prev = "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
        prev = name
    text = "\n".join(lines) + f"\nlayers: *{prev}\n"        # 9**9 = 387 million leaves
    msg = error(text)
    assert "net.yaml" in msg and ("alias" in msg or "more than" in msg)


def test_recursive_alias_and_deep_nesting_fail_cleanly():
    assert "net.yaml" in error("input: 8x8x1\nlayers: &a\n  - *a\n")
    assert "net.yaml" in error("input: 8x8x1\nlayers: " + "[" * 3000 + "]" * 3000 + "\n")


# --- the event loader (issue 8: no node tree for a text without anchors) ---------------------

def _same(a, b, path="doc", seen=None):
    """Equal values of equal types, with equal line numbers on every mapping and list, and the
    same sharing: a list or mapping that stands for several places (an alias) does so in both."""
    seen = {} if seen is None else seen
    assert type(a) is type(b), path
    assert getattr(a, "line", None) == getattr(b, "line", None), path
    if isinstance(a, (dict, list)):
        assert seen.setdefault(id(a), id(b)) == id(b), f"{path}: shared differently"
    if isinstance(a, dict):
        assert list(a) == list(b), path
        for k in a:
            _same(a[k], b[k], f"{path}.{k}", seen)
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{path}[{i}]", seen)
    else:
        assert a == b or (a != a and b != b), path


_PLAIN_TEXTS = [
    "input: 8x8x1\nlayers:\n  - conv: {filters: 16, kernel: 3, padding: same}\n  - relu\n",
    "a: [0b101, 0o17, 017, 1_000, -5, +3, 0, 190:20:30, 0x3]\n"
    "b: [1e-6, 1.5, .5, .inf, -.inf, .nan, 1.0e+3]\nc: [yes, on, True, false, ~, null, '']\n"
    "d: [2020-01-02, 2020-01-02 10:00:00+02:00, !!binary aGVsbG8=, !!str 12, '12', \"12\"]\n",
    "- a\n- b: c\n  d: [1, {e: f}]\n- |\n  x\n  y\n- >\n  z\n- !!float 1\n- ! x\n",
    "a: !!map {b: !!seq [], 2: x, 1.5: y, true: z, ~: w}\n",
    "[" * 99 + "]" * 99, "--- a\n...\n", "~\n", "---\n", "# only a comment\n", "",
    "a: &x [1, {b: &y c}]\nd: *x\ne: [*x, *y, *x]\n&k key: *y\nf: !!str &z 5\ng: *z\n",
]


@pytest.mark.skipif(source._FastLoader is None, reason="PyYAML without libyaml")
@pytest.mark.parametrize("text", _PLAIN_TEXTS + [
    p.read_text() for p in sorted(spec_mod.ZOO_DIR.glob("*.yaml"))])
def test_event_loader_builds_what_the_full_loader_builds(text):
    _same(source._from_events(text), source._load_with(source._FastLoader, text))


@pytest.mark.skipif(source._FastLoader is None, reason="PyYAML without libyaml")
def test_a_plain_spec_never_builds_a_node_tree(monkeypatch):
    """The memory of a long spec (benchmarks/bench_scale.py): without anchors, the document is
    built from the parser's events, and the full loader (a node tree, two marks per node) is
    never started."""

    def full(*args):
        raise AssertionError("the full loader was used")
    monkeypatch.setattr(source, "_load_with", full)
    text = "input: 32x32x16\nlayers:\n" + "  - conv: {filters: 16, kernel: 3, padding: same}\n" * 50
    assert analyse(text).layers[-1].output == (32, 32, 16)
    text = "input: 8x8x1\nblocks:\n  b: &b [relu, flatten]\nlayers: &all\n  - block: b\n"
    assert [r.type for r in analyse(text).layers] == ["relu", "flatten"]
    with pytest.raises(AssertionError, match="full loader"):
        analyse("input: 8x8x1\nlayers: [relu, relu]\nx: &a [*a]\n")     # a recursive alias


_ALIAS_BOMB = "".join(f"{x}: &{x} [" + ", ".join([f"*{p}"] * 9) + "]\n"
                      for p, x in zip("abcdefg", "bcdefgh")).join(["a: &a [x]\n", "layers: *h\n"])


@pytest.mark.skipif(source._FastLoader is None, reason="PyYAML without libyaml")
@pytest.mark.parametrize("text", [
    "<<: {a: 1}\nb: 2\n", "=: 1\n", "a: =\n", "a: 1\na: 2\n", "{a: 1, a: 1}\n", "1: a\n1.0: b\n",
    ".nan: 1\n.nan: 2\n", "? [a]\n: 1\n", "a: !!int 1.5\n", "a: !!bool maybe\n", "a: 2020-13-45\n",
    "a: " + "9" * 101 + "\n", 'a: "\\ud800"\n', "a: !!python/object:os.system x\n",
    "a: !!set {x}\n", "a: !!omap [{x: 1}]\n", "a: !custom x\n", "? !!seq [] : 1\n",
    "a: 1\n---\nb: 2\n", "a: *x\n", "a: &a [*a]\n", "a: &a {b: *a}\n", "a: &a [&a x]\n",
    "a: &a x\nb: &a y\n", "a: &a [x]\n<<: *a\n", "a: &a [x]\n*a : 1\n", _ALIAS_BOMB,
    "a: &a " + "[" * 101 + "]" * 101 + "\n",
    "[" * 101 + "]" * 101, "[" * 3000 + "]" * 3000, "a: [1, 2\n", "a: b: c\n", "a: \x07\n",
])
def test_what_the_event_loader_leaves_is_loaded_the_full_way(text):
    """Merge keys, tags beyond plain data, duplicate or unhashable keys, values their
    constructor refuses, deep nesting, a second document, aliases and syntax errors: the event
    loader gives up and the full loader gives the result or the error it always gave."""
    import yaml
    with pytest.raises((source._Unusual, CnnCalcError, yaml.YAMLError)):
        source._from_events(text)

    def full_way():
        try:
            return source._load_with(source._FastLoader, text)
        except yaml.YAMLError:
            return source._load_with(source._Loader, text)

    def outcome(load):
        try:
            return load(), None
        except (CnnCalcError, yaml.YAMLError, RecursionError) as e:
            # (a RecursionError's wording depends on where the stack ran out)
            return None, (type(e), "" if isinstance(e, RecursionError) else str(e))

    got, expected = outcome(lambda: source._load_yaml(text)), outcome(full_way)
    assert got[1] == expected[1]
    if got[1] is None:
        _same(got[0], expected[0])


def test_dollar_outside_a_block_is_not_evaluated():
    msg = error("input: 8x8x1\nlayers:\n  - conv: {filters: $__import__, kernel: 3}\n")
    assert "is not defined" in msg


# --- files -----------------------------------------------------------------------------------

def test_missing_file():
    with pytest.raises(CnnCalcError, match="no such file: nowhere/net.yaml"):
        load("nowhere/net.yaml")


def test_directory(tmp_path):
    with pytest.raises(CnnCalcError, match="is a directory"):
        load(str(tmp_path))


def test_binary_file(tmp_path):
    p = tmp_path / "net.yaml"
    p.write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00\x00")
    with pytest.raises(CnnCalcError, match="not a text file"):
        load(str(p))


def test_not_utf8(tmp_path):
    p = tmp_path / "net.yaml"
    p.write_bytes("input: 8x8x1\n# caf\xe9\nlayers: [relu]\n".encode("latin-1"))
    with pytest.raises(CnnCalcError, match="not UTF-8"):
        load(str(p))


def test_unreadable_file(tmp_path, monkeypatch):
    p = tmp_path / "net.yaml"
    p.write_text("input: 8x8x1\nlayers: [relu]\n")

    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(Path, "open", denied)
    with pytest.raises(CnnCalcError, match="cannot read .*net.yaml: Permission denied"):
        load(str(p))


def test_unknown_zoo_name_lists_the_valid_ones():
    with pytest.raises(CnnCalcError) as info:
        load("vgg-16")
    msg = str(info.value)
    assert "(did you mean 'vgg16'?)" in msg
    for name in spec_mod.zoo_names():
        assert name in msg
    assert "vgg16" in spec_mod.zoo_names()


def test_zoo_is_the_package_data_from_configs():
    """Issue 7: the zoo lives in configs/ at the repository root and is installed as the package
    cnncalc.configs; the test environment must find it there (an editable install maps it), not
    through the fallback for an uninstalled source tree."""
    import cnncalc.configs
    root = Path(__file__).resolve().parent.parent
    assert spec_mod.ZOO_DIR == Path(cnncalc.configs.__file__).parent
    assert spec_mod.ZOO_DIR.resolve() == (root / "configs").resolve() or \
        "site-packages" in spec_mod.ZOO_DIR.parts       # a non-editable install
    assert not (root / "cnncalc" / "configs").exists()
    assert len(spec_mod.zoo_names()) == len(list(spec_mod.ZOO_DIR.glob("*.yaml"))) >= 20


def test_control_character_is_one_located_line():
    # regression (found by tests/test_fuzz.py): PyYAML's ReaderError has a two-line message,
    # so a stray control character gave a two-line error without a line number
    msg = error("input: 8x8x1\nlayers: [re\x07lu]\n")
    assert msg == ("net.yaml:2: invalid YAML: unacceptable character #x0007 (column 12); a spec "
                   "is plain text")
