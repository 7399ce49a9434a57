"""Graphs: residual, parallel and skip (`from:`) connections, blocks, repeats and `$name`
arithmetic (SPEC-FORMAT.md "Composition"; issue 3 items 1, 2, 3 and 5).

- Every error class of issue 3 item 5 through the command line: exit 2, one line on stderr that
  names the file, the layer and the offending value, no traceback.
- Property tests (hypothesis): random residual / parallel / skip graphs are built twice, as a
  cnncalc spec and as a PyTorch computation (when torch is importable); every layer's output shape
  and parameter counts must agree.
- Receptive fields through branches (the largest over the paths), hand-computed.
- `$name` arithmetic: + - * // % and parentheses, precedence, never Python's eval.
- `--depth N` collapsing and the JSON `path` / `depth` keys.
"""

from __future__ import annotations

import builtins
import json
import math
import textwrap

import pytest
import yaml
from conftest import analyse_text as analyse
from conftest import assert_clean_error, invoke
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnncalc
from cnncalc.analysis import Group
from cnncalc.errors import CnnCalcError


def spec_file(tmp_path, text: str, name: str = "net.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return str(path)


def run_error(cli, tmp_path, text: str, *needles: str) -> str:
    """Run `cnncalc SPEC` on ``text``: a clean one-line error (exit 2) containing the needles."""
    res = cli(spec_file(tmp_path, text), "--summary")
    assert_clean_error(res, "net.yaml", *needles)
    return res.err_lines[0]


# --- error classes (issue 3 item 5) --------------------------------------------------------------

def test_add_of_different_shapes_names_both_inputs(cli, tmp_path):
    line = run_error(cli, tmp_path, """
        input: 8x8x3
        layers:
          - conv: {filters: 4, kernel: 3, name: a}
          - conv: {filters: 4, kernel: 1, name: b, from: -2}
          - add: {from: [a, b], name: sum}
        """, "net.yaml:5", "layer 3 'sum' (add)", "cannot add different shapes",
        "'a' 6x6x4", "'b' 8x8x4")
    assert line.count("\n") == 0


def test_multiply_of_incompatible_shapes_names_both_inputs(cli, tmp_path):
    run_error(cli, tmp_path, """
        input: 8x8x4
        layers:
          - conv: {filters: 4, kernel: 1, name: x}
          - global_avgpool: {name: squeeze, from: -2}
          - conv: {filters: 5, kernel: 1, name: excite}
          - multiply: {from: [x, excite], name: scale}
        """, "net.yaml:6", "layer 4 'scale' (multiply)", "cannot multiply",
        "'x' 8x8x4", "'excite' 1x1x5")


def test_multiply_gate_broadcasts_like_squeeze_and_excitation():
    a = analyse("""
        input: 8x8x4
        layers:
          - conv: {filters: 4, kernel: 1, name: x}
          - global_avgpool
          - conv: {filters: 4, kernel: 1, activation: sigmoid}
          - multiply: {from: [x, -1]}
          - global_avgpool: {keepdims: false, from: x}
          - multiply: {from: [x, -1]}
        """)
    assert [r.output for r in a.layers if r.type == "multiply"] == [(8, 8, 4), (8, 8, 4)]


def test_concat_of_different_hxw_names_both_inputs(cli, tmp_path):
    run_error(cli, tmp_path, """
        input: 8x8x3
        layers:
          - conv: {filters: 4, kernel: 3, name: small}
          - concat: {from: [small, -2]}
        """, "layer 2 'concat_1' (concat)", "cannot concatenate maps of different HxW",
        "'small' 6x6x4", "'input' 8x8x3")


def test_parallel_merge_mismatch_names_the_branches(cli, tmp_path):
    run_error(cli, tmp_path, """
        input: 8x8x3
        layers:
          - parallel:
              name: fork
              merge: add
              branches:
                - [conv: {filters: 4, kernel: 3, padding: 1}]
                - [conv: {filters: 4, kernel: 3}]
        """, "'fork.add' (add)", "'fork.branch1.conv_1' 8x8x4", "'fork.branch2.conv_1' 6x6x4")


def test_residual_without_matching_shortcut_names_body_and_input(cli, tmp_path):
    run_error(cli, tmp_path, """
        input: 8x8x3
        layers:
          - residual:
              name: res
              body: [conv: {filters: 8, kernel: 3, padding: 1}]
        """, "'res.add' (add)", "'res.body.conv_1' 8x8x8", "'input' 8x8x3")


@pytest.mark.parametrize("refs, needles", [
    ("[-1, nowhere]", ("from: refers to an unknown layer 'nowhere'",)),
    ("[-1, enc]", ("unknown layer 'enc'", "did you mean 'enc1'?")),
    ("[-1, later]", ("refers forward to 'later' (line 5)", "cycle")),
    ("[-1, join]", ("refers to itself (a cycle)",)),
    ("[-1, -4]", ("from: -4 reaches before the start of this sequence",)),
])
def test_bad_from_references(cli, tmp_path, refs, needles):
    run_error(cli, tmp_path, f"""
        input: 8x8x3
        layers:
          - conv: {{filters: 4, kernel: 1, name: enc1}}
          - concat: {{from: {refs}, name: join}}
          - conv: {{filters: 4, kernel: 1, name: later}}
        """, "net.yaml:4", "layer 2 'join' (concat)", *needles)


def test_reference_to_the_enclosing_composite_is_a_cycle(cli, tmp_path):
    run_error(cli, tmp_path, """
        input: 8x8x3
        blocks:
          b: [relu, add: {from: [-1, B]}]
        layers:
          - block: {use: b, name: B}
        """, "layer 2 'B.add_1' (add)", "refers to 'B', which contains this layer (a cycle)")


def test_forward_reference_out_of_a_body_is_reported_as_forward(cli, tmp_path):
    run_error(cli, tmp_path, """
        input: 8x8x3
        layers:
          - residual: {name: r, body: [concat: {from: [-1, later]}]}
          - conv: {filters: 3, kernel: 1, name: later}
        """, "'r.body.concat_1' (concat)", "refers forward to 'later' (line 4)")


def test_from_on_a_composite_takes_exactly_one_input(cli, tmp_path):
    run_error(cli, tmp_path, """
        input: 8x8x3
        layers:
          - conv: {filters: 3, kernel: 1, name: a}
          - residual: {from: [a, -1], body: [relu]}
        """, "residual takes one input, but 'from' names 2")


def test_unknown_block_name(cli, tmp_path):
    run_error(cli, tmp_path, """
        input: 8x8x3
        blocks:
          basic: {params: {f: 4}, layers: [conv: {filters: $f, kernel: 3}]}
        layers:
          - block: {use: basci}
        """, "net.yaml:5", "layer 1 (block basci)", "unknown block 'basci'",
        "did you mean 'basic'?",
        "defined: basic")


def test_an_error_inside_a_composite_names_the_top_level_item(cli, tmp_path):
    """The line points into the definition; the layer is the top-level item that expands it."""
    run_error(cli, tmp_path, """
        input: 8x8x3
        blocks:
          up: {params: {f: 4}, layers: [relu, conv: {filters: $f * $missing, kernel: 1}]}
        layers:
          - relu
          - block: {use: up, name: dec4}
        """, "net.yaml:3", "layer 2 'dec4' (block up)", "$missing is not defined")
    run_error(cli, tmp_path, """
        input: 8x8x3
        layers:
          - residual: {name: r, body: [relu], shortcut: foo}
        """, "layer 1 'r' (residual)", "shortcut must be 'identity', 'auto' or a list",
        "got 'foo'")


def test_block_use_that_is_not_a_name(cli, tmp_path):
    run_error(cli, tmp_path, """
        input: 8x8x3
        layers:
          - block: {use: [a, b]}
        """, "unknown block", "none (add a blocks: section)")


def test_missing_and_unknown_block_parameters(cli, tmp_path):
    spec = """
        input: 8x8x3
        blocks:
          basic: {params: {filters: null, stride: 1}, layers: [conv: {filters: $filters,
                                                                       kernel: 3}]}
        layers:
          - block: {use: basic%s}
        """
    run_error(cli, tmp_path, spec % "", "block 'basic' needs parameter(s) filters")
    run_error(cli, tmp_path, spec % ", filters: 4, strides: 2",
              "block 'basic' has no parameter 'strides'", "did you mean 'stride'?")


@pytest.mark.parametrize("where, needles", [
    ("blocks:\n  b: {params: {f: 4}, layers: [conv: {filters: $g, kernel: 3}]}\n"
     "layers: [block: b]", ("net.yaml:3", "layer 1 (block b)", "$g is not defined",
                            "defined: $f")),
    ("layers: [conv: {filters: $g, kernel: 3}]",
     ("net.yaml:2", "layer 1", "$g is not defined", "$names work only inside a block")),
])
def test_undefined_dollar_name(cli, tmp_path, where, needles):
    run_error(cli, tmp_path, "input: 8x8x3\n" + where + "\n", *needles)


@pytest.mark.parametrize("expr", ["$f // ($f - 4)", "$f % 0", "$f / ($f - $f)"])
def test_division_by_zero_in_an_expression(cli, tmp_path, expr):
    run_error(cli, tmp_path, f"""
        input: 8x8x3
        blocks:
          b: {{params: {{f: 4}}, layers: [conv: {{filters: '{expr}', kernel: 3}}]}}
        layers: [block: b]
        """, "net.yaml:3", "division by zero", expr)


# expansion limits: each must complete quickly (they used to build 100,000 layers or hang)

def test_repeat_beyond_the_layer_limit(cli, tmp_path):
    run_error(cli, tmp_path, """
        input: 8x8x3
        layers:
          - repeat: {times: 1000000000, layers: [relu]}
        """, "the spec expands to at least 1,000,000,000 layers", "at most 100,000")


def test_repeat_with_a_parameter_count_beyond_the_layer_limit(cli, tmp_path):
    """A repeat count computed from block arguments (`$n * $m`) is evaluated for the bound
    before anything is built; the block's default is overridden by the argument."""
    run_error(cli, tmp_path, """
        input: 8x8x3
        blocks:
          many: {params: {n: 1, m: 2}, layers: [repeat: {times: $n * $m, layers: [relu, relu]}]}
        layers:
          - block: {use: many, n: 500000}
        """, "the spec expands to at least 2,000,000 layers")


def test_nested_repeats_beyond_the_layer_limit(cli, tmp_path):
    run_error(cli, tmp_path, """
        input: 8x8x3
        layers:
          - repeat: {times: 1000, layers: [repeat: {times: 1000, layers: [relu, relu]}]}
        """, "the spec expands to at least 2,000,000 layers")


def test_nested_blocks_beyond_the_layer_limit(cli, tmp_path):
    """Six levels of ten: 10**7 layers. Refused from the definitions, before building any."""
    lines = ["input: 8x8x3", "blocks:", "  b0: [" + ", ".join(["relu"] * 10) + "]"]
    for i in range(1, 7):
        lines.append(f"  b{i}: [" + ", ".join([f"block: b{i - 1}"] * 10) + "]")
    lines += ["layers:", "  - block: b6"]
    run_error(cli, tmp_path, "\n".join(lines) + "\n",
              "expands to at least", "a spec may have at most 100,000")
    run_error(cli, tmp_path, "\n".join(lines[:-1] + ["  - block: b4"] * 2) + "\n",
              "expands to at least 200,000 layers")
    # the same blocks below the limit: built (b2 = 1,000 layers)
    ok = "\n".join(lines[:-1] + ["  - block: b2"] * 3) + "\n"
    res = cli(spec_file(tmp_path, ok, "ok.yaml"), "--format", "json")
    assert res.code == 0, res.err
    assert len(json.loads(res.out)["layers"]) == 3000


def test_block_that_uses_itself(cli, tmp_path):
    run_error(cli, tmp_path, """
        input: 8x8x3
        blocks:
          loop: [relu, block: loop]
        layers: [block: loop]
        """, "nesting deeper than 64 levels")


def _bomb(levels: int = 8) -> str:
    """Anchors &l0 .. &lN, each a list of nine aliases of the one before: 9**(N+1) values."""
    rows = ["  x0: &l0 [1, 2, 3, 4, 5, 6, 7, 8, 9]"]
    for i in range(1, levels + 1):
        rows.append(f"  x{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return "blocks:\n" + "\n".join(rows) + "\n"


@pytest.mark.parametrize("use", [
    "description: *l8\nlayers: [relu]",                                # printed as text
    "layers: [conv: {filters: 3, kernel: *l8}]",                       # shown in a param error
    "layers: [conv: {filters: 3, kernel: 3, name: *l8}]",              # shown as a name
    "layers: [block: {use: x8}]",                                      # a block definition
])
def test_yaml_alias_bombs_fail_before_expansion(cli, tmp_path, use):
    run_error(cli, tmp_path, "input: 8x8x3\n" + _bomb() + use + "\n",
              "YAML aliases expand this value to more than 1,000,000 values")


@pytest.mark.parametrize("text", [
    "input: 8x8x3\nlayers: &r [relu, *r]\n",
    "input: 8x8x3\nlayers: [conv: &r {filters: 3, kernel: 3, x: *r}]\n",
])
def test_recursive_yaml_alias(cli, tmp_path, text):
    run_error(cli, tmp_path, text, "recursive YAML alias")


def test_ordinary_aliases_still_work():
    a = analyse("""
        input: 8x8x3
        defaults:
          conv: &c {kernel: 3, padding: 1}
        layers:
          - conv: {<<: *c, filters: 4}
          - conv: &four {filters: 4, kernel: 1, padding: 0}
          - conv: *four
        """)
    assert [r.output for r in a.layers] == [(8, 8, 4)] * 3


# --- crop `to:` (resolved like `from:`) ----------------------------------------------------------

def test_crop_to_resolves_in_scope_not_by_the_latest_layer_of_that_name():
    """`to: x` at the top level means the top-level x, not a layer called x inside a block that
    happens to come later (it used to find the most recent record of that name anywhere)."""
    a = analyse("""
        input: 16x16x3
        blocks:
          b: [conv: {filters: 4, kernel: 7, name: x}]
        layers:
          - conv: {filters: 4, kernel: 5, name: x}       # 12x12
          - block: {use: b, from: -2}                    # b_1.x: 10x10
          - crop: {from: -2, to: x}
        """)
    crop = a.layers[-1]
    assert crop.input_shapes == ((12, 12, 4), (12, 12, 4)) and crop.output == (12, 12, 4)


def test_crop_to_accepts_a_relative_index():
    a = analyse("""
        input: 10x10x3
        layers:
          - conv: {filters: 4, kernel: 5}
          - crop: {from: -2, to: -1}
        """)
    assert a.layers[-1].output == (6, 6, 3) and a.layers[-1].geometry == (2, 2, 2, 2)


@pytest.mark.parametrize("to, needles", [
    ("y", ("to: refers forward to 'y'",)),
    ("yy", ("to: refers to an unknown layer 'yy'",)),
    ("c", ("to: refers to itself (a cycle)",)),
])
def test_crop_to_errors(cli, tmp_path, to, needles):
    run_error(cli, tmp_path, f"""
        input: 16x16x3
        layers:
          - crop: {{to: {to}, name: c}}
          - conv: {{filters: 4, kernel: 5, name: y}}
        """, "layer 1 'c' (crop)", *needles)


def test_crop_to_a_larger_map(cli, tmp_path):
    run_error(cli, tmp_path, """
        input: 16x16x3
        layers:
          - conv: {filters: 4, kernel: 5, name: small}
          - crop: {from: input_skip, to: small}
        """, "from: refers to an unknown layer 'input_skip'")
    run_error(cli, tmp_path, """
        input: 16x16x3
        layers:
          - conv: {filters: 4, kernel: 5, name: small}
          - crop: {to: -2}
        """, "cannot crop 12x12x4 to 16x16", "the target is larger")


# --- from: on composites, names inside blocks ----------------------------------------------------

def test_from_on_composites():
    a = analyse("""
        input: 8x8x3
        blocks:
          b: [conv: {filters: 2, kernel: 1}]
        layers:
          - conv: {filters: 5, kernel: 3, name: a}          # 6x6x5
          - conv: {filters: 6, kernel: 1, name: b}
          - block: {use: b, from: a, name: blk}
          - residual: {from: b, body: [relu], name: res}
          - parallel: {from: -2, branches: [identity, identity], name: par}
          - repeat: {from: a, times: 2, layers: [relu], name: rep}
        """)
    p = {r.path: r for r in a.layers}
    assert p["blk.conv_1"].input_shapes == ((6, 6, 5),)
    assert p["res.add"].input_shapes == ((6, 6, 6), (6, 6, 6))
    assert p["par.concat"].output == (6, 6, 4)                # from blk's 6x6x2
    assert p["rep.0.relu_1"].input_shapes == ((6, 6, 5),)
    assert p["rep.1.relu_1"].inputs == (p["rep.0.relu_1"].index,)


def test_names_inside_blocks_are_local_and_see_the_enclosing_sequence():
    a = analyse("""
        input: 8x8x3
        blocks:
          up:
            params: {skip: null}
            layers:
              - conv: {filters: 3, kernel: 1, name: y}
              - concat: {from: [y, $skip]}
        layers:
          - conv: {filters: 2, kernel: 1, name: x}
          - block: {use: up, skip: x, name: u1}
          - block: {use: up, skip: u1, name: u2}
        """)
    p = {r.path: r for r in a.layers}
    # inside the block, `y` is the block's own conv; `$skip` names a layer outside it
    assert p["u1.concat_1"].inputs == (p["u1.y"].index, p["x"].index)
    assert p["u1.concat_1"].output == (8, 8, 5)
    assert p["u2.concat_1"].inputs == (p["u2.y"].index, p["u1.concat_1"].index)
    assert p["u2.concat_1"].output == (8, 8, 8)


def test_a_name_passed_to_a_block_is_substituted_then_resolved_inside_it():
    """`$skip` is textual substitution (SPEC-FORMAT.md): `skip: x` becomes `from: x` inside
    the block, where the block's own `x` shadows the outer one, as local names shadow outer
    ones everywhere. Pinned here so that a change to this rule is deliberate."""
    a = analyse("""
        input: 8x8x3
        blocks:
          up:
            params: {skip: null}
            layers:
              - conv: {filters: 3, kernel: 1, name: x}
              - concat: {from: [x, $skip]}
        layers:
          - conv: {filters: 2, kernel: 1, name: x}
          - block: {use: up, skip: x, name: u1}
        """)
    p = {r.path: r for r in a.layers}
    assert p["u1.concat_1"].inputs == (p["u1.x"].index, p["u1.x"].index)
    assert p["u1.concat_1"].output == (8, 8, 6)


def test_block_names_and_duplicate_names(cli, tmp_path):
    a = analyse("""
        input: 8x8x3
        blocks:
          b: [conv: {filters: 2, kernel: 1, name: inner}]
        layers: [block: b, block: b, block: {use: b, name: third}]
        """)
    assert [r.path for r in a.layers] == ["b_1.inner", "b_2.inner", "third.inner"]
    run_error(cli, tmp_path, """
        input: 8x8x3
        layers:
          - conv: {filters: 2, kernel: 1, name: a}
          - relu: {name: a}
        """, "duplicate name 'a'")


# --- property tests against PyTorch --------------------------------------------------------------

class _Build:
    """Draws a random graph and builds it twice: as cnncalc YAML entries and by running the same
    computation in torch on a small real tensor. A drawn item that torch cannot compute (shapes
    that do not fit) is dropped, with its records, so that the graph is always valid; the
    validity comes from torch itself, not from formulas repeated here."""

    def __init__(self, torch, data):
        self.torch, self.nn, self.data = torch, torch.nn, data
        self.records: list[tuple[tuple[int, ...], int, int]] = []   # (HxWxC, trainable, buffers)
        self.count = 0

    def draw(self, strategy):
        return self.data.draw(strategy)

    def hwc(self, t) -> tuple[int, ...]:
        return tuple(t.shape[2:]) + (t.shape[1],)

    def record(self, y, module=None) -> None:
        trainable = buffers = 0
        if module is not None:
            trainable = sum(p.numel() for p in module.parameters())
            buffers = sum(b.numel() for n, b in module.named_buffers()
                          if not n.endswith("num_batches_tracked"))
        self.records.append((self.hwc(y), trainable, buffers))

    def run(self, module, x):
        with self.torch.no_grad():
            return module.eval()(x)

    # -- leaves --
    def conv(self, x):
        c = x.shape[1]
        filters = self.draw(st.integers(1, 6))
        groups = self.draw(st.sampled_from([g for g in (1, 2, 3) if c % g == 0
                                            and filters % g == 0]))
        kh, kw = self.draw(st.integers(1, 3)), self.draw(st.integers(1, 3))
        stride, dilation = self.draw(st.integers(1, 2)), self.draw(st.integers(1, 2))
        ph, pw, bias = self.draw(st.integers(0, 1)), self.draw(st.integers(0, 1)), \
            self.draw(st.booleans())
        m = self.nn.Conv2d(c, filters, (kh, kw), stride, (ph, pw), dilation, groups, bias)
        y = self.run(m, x)
        self.record(y, m)
        return {"conv": {"filters": filters, "kernel": [kh, kw], "stride": stride,
                         "padding": [ph, pw], "dilation": dilation, "groups": groups,
                         "bias": bias}}, y

    def pool(self, x):
        kind = self.draw(st.sampled_from(["maxpool", "avgpool"]))
        size = self.draw(st.integers(2, 3))
        stride = self.draw(st.integers(1, 2))
        pad = self.draw(st.integers(0, size // 2))
        # ceil_mode only where the window fits (see test_zoo_branches's xfail for the rest)
        ceil = self.draw(st.booleans()) and min(x.shape[2:]) + 2 * pad >= size
        cls = self.nn.MaxPool2d if kind == "maxpool" else self.nn.AvgPool2d
        y = self.run(cls(size, stride, pad, ceil_mode=ceil), x)
        self.record(y)
        return {kind: {"size": size, "stride": stride, "padding": pad, "ceil_mode": ceil}}, y

    def batchnorm(self, x):
        m = self.nn.BatchNorm2d(x.shape[1])
        y = self.run(m, x)
        self.record(y, m)
        return {"batchnorm": {}}, y

    def relu(self, x):
        y = self.torch.relu(x)
        self.record(y)
        return {"relu": {}}, y

    def cbr(self, x):
        """The spec's `cbr` block: conv with `padding: ($k - 1) // 2`, batchnorm, relu."""
        f, k = self.draw(st.integers(1, 5)), self.draw(st.sampled_from([1, 3, 5]))
        conv = self.nn.Conv2d(x.shape[1], f, k, padding=(k - 1) // 2, bias=False)
        y = self.run(conv, x)
        self.record(y, conv)
        bn = self.nn.BatchNorm2d(f)
        y = self.run(bn, y)
        self.record(y, bn)
        y = self.torch.relu(y)
        self.record(y)
        return {"block": {"use": "cbr", "filters": f, "k": k}}, y

    def skip(self, x, visible):
        """`add:` / `concat:` of the previous output and an earlier named one (`from:`)."""
        if not visible:
            return None
        name = self.draw(st.sampled_from(sorted(visible)))
        other = visible[name]
        merge = self.draw(st.sampled_from(["add", "concat"]))
        if merge == "add" and other.shape != x.shape:
            return None
        if merge == "concat" and other.shape[2:] != x.shape[2:]:
            return None
        y = x + other if merge == "add" else self.torch.cat([x, other], 1)
        self.record(y)
        return {merge: {"from": [-1, name]}}, y

    # -- composites --
    def residual(self, x, visible, depth):
        body, yb = self.seq(x, visible, depth + 1, self.draw(st.integers(0, 3)))
        act = self.draw(st.sampled_from([None, "relu"]))
        entry = {"body": body, "activation": act}
        if yb.shape == x.shape:
            mode = self.draw(st.sampled_from(["identity", "auto", "layers"]))
            if mode == "layers":
                short, ys = self.seq(x, visible, depth + 1, self.draw(st.integers(1, 2)))
                if ys.shape != yb.shape:
                    return None
                entry["shortcut"] = short
            else:
                ys = x
                entry["shortcut"] = mode
        else:
            # `auto`: torchvision's downsample, a 1x1 conv without bias whose stride maps the
            # input onto the body's output size, then batchnorm (SPEC-FORMAT.md)
            stride = [max(1, math.ceil(a / b)) for a, b in zip(x.shape[2:], yb.shape[2:])]
            conv = self.nn.Conv2d(x.shape[1], yb.shape[1], 1, stride, bias=False)
            ys = self.run(conv, x)
            if ys.shape != yb.shape:
                return None
            self.record(ys, conv)
            bn = self.nn.BatchNorm2d(yb.shape[1])
            ys = self.run(bn, ys)
            self.record(ys, bn)
            entry["shortcut"] = "auto"
        y = yb + ys
        self.record(y)
        if act:
            y = self.torch.relu(y)
            self.record(y)
        return {"residual": entry}, y

    def parallel(self, x, visible, depth):
        merge = self.draw(st.sampled_from(["concat", "add"]))
        branches, outs = [], []
        for _ in range(self.draw(st.integers(2, 3))):
            if self.draw(st.integers(0, 3)) == 0:
                branches.append("identity")
                outs.append(x)
            else:
                br, yb = self.seq(x, visible, depth + 1, self.draw(st.integers(1, 2)))
                branches.append(br)
                outs.append(yb)
        if merge == "add" and any(o.shape != outs[0].shape for o in outs):
            return None
        if merge == "concat" and any(o.shape[2:] != outs[0].shape[2:] for o in outs):
            return None
        y = sum(outs[1:], outs[0]) if merge == "add" else self.torch.cat(outs, 1)
        self.record(y)
        return {"parallel": {"merge": merge, "branches": branches}}, y

    def gate(self, x):
        """Squeeze-and-excitation: `parallel` merged by `multiply` with a 1x1xC gate."""
        c = x.shape[1]
        pooled = x.mean((2, 3), keepdim=True)
        self.record(pooled)
        conv = self.nn.Conv2d(c, c, 1)
        g = self.run(conv, pooled)
        self.record(g, conv)
        g = self.torch.sigmoid(g)
        self.record(g)
        y = x * g
        self.record(y)
        return {"parallel": {"merge": "multiply", "branches": [
            "identity", [{"global_avgpool": {}}, {"conv": {"filters": c, "kernel": 1}},
                         {"sigmoid": {}}]]}}, y

    # -- a sequence: every item is named, so that later `from:` can reach it --
    def seq(self, x, outer: dict, depth: int, n: int):
        scope: dict = {}
        items = []
        for _ in range(n):
            visible = {**outer, **scope}
            kinds = ["conv", "conv", "pool", "batchnorm", "relu", "cbr", "skip", "gate"]
            if depth < 2:
                kinds += ["residual", "residual", "parallel", "parallel"]
            kind = self.draw(st.sampled_from(kinds))
            src, ref = x, None
            if kind in ("residual", "parallel") and visible and self.draw(st.booleans()):
                ref = self.draw(st.sampled_from(sorted(visible)))        # `from:` on a composite
                src = visible[ref]
            mark = len(self.records)
            try:
                if kind in ("residual", "parallel"):
                    made = getattr(self, kind)(src, visible, depth)
                elif kind == "skip":
                    made = self.skip(x, visible)
                else:
                    made = getattr(self, kind)(src)
            except RuntimeError:          # torch: the window does not fit, and the like
                made = None
            if made is None:
                del self.records[mark:]
                continue
            entry, x = made
            self.count += 1
            name = f"n{self.count}"
            ((key, params),) = entry.items()
            params = dict(params)
            params["name"] = name
            if ref is not None:
                params["from"] = ref
            items.append({key: params})
            scope[name] = x
        return items, x


BLOCKS = {"cbr": {"params": {"filters": None, "k": 3}, "layers": [
    {"conv": {"filters": "$filters", "kernel": "$k", "padding": "($k - 1) // 2", "bias": False}},
    "batchnorm", "relu"]}}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), h=st.integers(5, 14), w=st.integers(5, 14), c=st.integers(1, 4))
def test_random_graphs_match_torch_layer_by_layer(data, h, w, c):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    b = _Build(torch, data)
    x = torch.randn(1, c, h, w)
    layers, y = b.seq(x, {}, 0, data.draw(st.integers(1, 8)))
    if not layers:
        return
    text = yaml.safe_dump({"input": [h, w, c], "blocks": BLOCKS, "layers": layers},
                          sort_keys=False)
    a = cnncalc.analyse(cnncalc.loads(text))
    ours = [(r.output, r.trainable, r.non_trainable) for r in a.layers]
    assert ours == b.records, text
    assert a.output == b.hwc(y)
    t = a.totals()
    assert t["trainable"] == sum(r[1] for r in b.records)
    assert t["non_trainable"] == sum(r[2] for r in b.records)
    # the JSON view of the same analysis: flat leaf list whose sums equal the totals
    from cnncalc.report import analysis_json
    doc = analysis_json(a)
    assert [tuple(layer["output"]) for layer in doc["layers"]] == [r[0] for r in b.records]
    assert sum(layer["params"] for layer in doc["layers"]) == doc["totals"]["params"]


@settings(max_examples=40, deadline=None)
@given(k1=st.integers(1, 4), k2=st.integers(1, 4), s1=st.integers(1, 2), s2=st.integers(1, 2),
       f1=st.integers(1, 3), f2=st.integers(1, 3), merge=st.sampled_from(["add", "concat"]))
def test_merge_errors_exactly_when_torch_cannot_merge(k1, k2, s1, s2, f1, f2, merge):
    """Two convs of the same 9x9x2 input, merged: cnncalc refuses exactly the pairs that torch
    cannot add (equal shapes needed) or concatenate (equal HxW), naming both inputs."""
    torch = pytest.importorskip("torch")
    x = torch.zeros(1, 2, 9, 9)
    with torch.no_grad():
        a = torch.nn.Conv2d(2, f1, k1, s1)(x)
        b = torch.nn.Conv2d(2, f2, k2, s2)(x)
    try:
        if merge == "add":
            if a.shape != b.shape:        # no broadcasting between feature maps
                raise RuntimeError("shape mismatch")
            ok = True
        else:
            torch.cat([a, b], 1)
            ok = True
    except RuntimeError:
        ok = False
    text = f"""
        input: 9x9x2
        layers:
          - conv: {{filters: {f1}, kernel: {k1}, stride: {s1}, name: left}}
          - conv: {{filters: {f2}, kernel: {k2}, stride: {s2}, name: right, from: -2}}
          - {merge}: {{from: [left, right]}}
        """
    res = invoke("-", "-q", stdin=textwrap.dedent(text))
    if ok:
        assert res.code == 0, res.err
        want = a.shape if merge == "add" else (1, f1 + f2) + tuple(a.shape[2:])
        assert res.out.strip() == "x".join(map(str, [want[2], want[3], want[1]]))
    else:
        shape_a = "x".join(map(str, [a.shape[2], a.shape[3], a.shape[1]]))
        shape_b = "x".join(map(str, [b.shape[2], b.shape[3], b.shape[1]]))
        assert_clean_error(res, f"'left' {shape_a}", f"'right' {shape_b}")


# --- receptive field through branches ------------------------------------------------------------

def test_receptive_field_is_the_largest_over_the_paths():
    """Hand-computed (rf_out = rf_in + (k − 1)·jump_in, jump_out = jump_in·s; Araujo et al.
    2019), taking the maximum over the merged paths, per axis:
      branch1: conv 3x3 s2                 -> rf 3,  jump 2
      branch2: maxpool 2 s2 -> conv 3x3    -> rf 2, jump 2 -> rf 2 + 2·2 = 6, jump 2
      concat                               -> rf max(3, 6) = 6, jump 2
      conv 3x3                             -> rf 6 + 2·2 = 10
    and per axis with asymmetric kernels [1, 7] vs [5, 1]: the merge gives 5 x 7."""
    a = analyse("""
        input: 16x16x3
        layers:
          - parallel:
              name: p
              branches:
                - [conv: {filters: 2, kernel: 3, stride: 2, padding: 1}]
                - [maxpool: 2, conv: {filters: 2, kernel: 3, padding: 1}]
          - conv: {filters: 2, kernel: 3, padding: 1, name: after}
          - parallel:
              name: q
              branches:
                - [conv: {filters: 2, kernel: [1, 7], padding: [0, 3]}]
                - [conv: {filters: 2, kernel: [5, 1], padding: [2, 0]}]
        """)
    p = {r.path: r for r in a.layers}
    f = p["p.branch1.conv_1"].field
    assert (f.rf_h, f.jump_h) == (3, 2)
    f = p["p.branch2.conv_1"].field
    assert (f.rf_h, f.jump_h) == (6, 2)
    f = p["p.concat"].field
    assert (f.rf_h, f.rf_w, f.jump_h) == (6, 6, 2)
    assert p["after"].field.rf_h == 10
    # q: on top of rf 10, jump 2: [1, 7] -> 10 x 22, [5, 1] -> 18 x 10, merged 18 x 22
    assert (p["q.branch1.conv_1"].field.rf_h, p["q.branch1.conv_1"].field.rf_w) == (10, 22)
    assert (p["q.branch2.conv_1"].field.rf_h, p["q.branch2.conv_1"].field.rf_w) == (18, 10)
    assert (p["q.concat"].field.rf_h, p["q.concat"].field.rf_w) == (18, 22)


def test_receptive_field_through_a_residual_and_a_skip():
    """Residual: body conv 3 -> conv 3 (rf 5) + identity (rf 1) -> 5. Skip concat of the input
    (rf 1) with a conv 5 (rf 5) -> 5; the JSON carries the same numbers."""
    a = analyse("""
        input: 12x12x2
        layers:
          - residual: {name: r, body: [conv: {filters: 2, kernel: 3, padding: 1},
                                       conv: {filters: 2, kernel: 3, padding: 1}]}
          - conv: {filters: 2, kernel: 5, padding: 2, name: c5, from: -2}
          - concat: {from: [-3, c5], name: cat}
        """)
    p = {r.path: r for r in a.layers}
    assert p["r.add"].field.rf_h == 5
    assert p["c5"].field.rf_h == 5 and p["c5"].inputs == (0,)
    assert p["cat"].field.rf_h == 5
    from cnncalc.report import layer_json
    assert layer_json(p["cat"])["receptive_field"] == [5, 5]


# --- $name arithmetic ----------------------------------------------------------------------------

@pytest.mark.parametrize("expr, value", [
    ("$a + $b * 2", 11),              # * before +
    ("($a + $b) * 2", 18),            # parentheses
    ("$a // $b", 3),
    ("$a - $b - 1", 4),               # left-associative
    ("-$a + 10", 3),                  # unary minus
    ("$a % $b + 1", 2),
    ("2 * (3 + $a) // 4", 5),         # * and // left to right: (2·10) // 4
    ("$b * $b * $b", 8),
    ("$a * 4 // 2 - (($b))", 12),
    ("  $a  ", 7),
    ("$a / 7", 1),                    # exact division is allowed
    ("1e3 + $a", 1007),               # a float literal; whole results are integers
])
def test_dollar_arithmetic(expr, value):
    a = analyse(f"""
        input: 4x4x3
        blocks:
          b:
            params: {{a: 7, b: 2}}
            layers: [conv: {{filters: '{expr}', kernel: 1}}]
        layers: [block: b]
        """)
    assert a.layers[0].output == (4, 4, value)


@pytest.mark.parametrize("expr, needle", [
    ("$a +", "unexpected 'end' in the expression '$a +'"),
    ("$a ** 2", "unexpected '*'"),
    ("(($a)", "missing ')'"),
    ("$a)", "unexpected ')'"),
    ("$a $b", "unexpected '$b'"),
    ("$a / 2", "filters must be an integer, got 3.5 (a fraction: round it"),
    ("$a.real", "$a.real: only $in has fields"),
    ("$a and 1", "'and' needs true or false, but $a is 7"),
    ("$s * 2", "$s is 'same', not a number"),
    ("$a * 100000000 * 100000000", "is too large"),
    ("__import__('os').system('x') + $a", "cannot read the expression"),
    ("__import__('os') + $a", "unknown function '__import__'"),
    ("$a @ 2", "cannot read the expression '$a @ 2' at '@ 2'"),
])
def test_dollar_arithmetic_errors(cli, tmp_path, expr, needle):
    run_error(cli, tmp_path, f"""
        input: 4x4x3
        blocks:
          b:
            params: {{a: 7, b: 2, s: same}}
            layers: [conv: {{filters: "{expr}", kernel: 1}}]
        layers: [block: b]
        """, "net.yaml:5", needle)


def test_dollar_arithmetic_never_calls_eval(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("eval/exec called")
    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    monkeypatch.setattr(builtins, "compile", forbidden)
    a = analyse("""
        input: 4x4x3
        blocks:
          b: {params: {n: 3}, layers: [conv: {filters: ($n + 1) * 2, kernel: 1}]}
        layers: [block: b]
        """)
    assert a.layers[0].output == (4, 4, 8)
    with pytest.raises(CnnCalcError, match="unknown function '__import__'"):
        analyse("""
            input: 4x4x3
            blocks:
              b: {params: {n: 3}, layers: [conv: {filters: "$n + __import__('os')", kernel: 1}]}
            layers: [block: b]
            """)


def test_dollar_substitutes_whole_values_of_any_type():
    """A bare `$name` passes its value through (a list kernel, a string padding, a name)."""
    a = analyse("""
        input: 9x9x3
        blocks:
          b:
            params: {k: [1, 3], pad: same, skip: null}
            layers:
              - conv: {filters: 2, kernel: $k, padding: $pad}
              - concat: {from: [-1, $skip]}
        layers:
          - relu: {name: first}
          - block: {use: b, skip: first}
        """)
    assert a.layers[1].layer.kernel == (1, 3) and a.layers[1].output == (9, 9, 2)
    assert a.layers[2].output == (9, 9, 5)


# --- tree view: --depth and the JSON path / depth keys -------------------------------------------

NESTED = """
input: 16x16x3
defaults:
  conv: {bias: false}
blocks:
  unit:
    params: {f: 4, s: 1}
    layers:
      - residual:
          body: [conv: {filters: $f, kernel: 3, stride: $s, padding: 1}, batchnorm, relu,
                 conv: {filters: $f, kernel: 3, padding: 1}, batchnorm]
          shortcut: auto
          activation: relu
  stem: [conv: {filters: 4, kernel: 3, padding: 1, name: conv}, batchnorm, relu]
layers:
  - block: {use: stem, name: stem}
  - repeat: {name: stage, times: 2, first: {s: 2, f: 8}, layers: [block: {use: unit, f: 8}]}
  - parallel:
      name: fork
      branches:
        - [conv: {filters: 2, kernel: 1}]
        - [conv: {filters: 2, kernel: 1}, relu]
  - global_avgpool
  - flatten
  - dense: 10
"""


def test_json_path_and_depth(cli, tmp_path):
    res = cli(spec_file(tmp_path, NESTED), "--format", "json")
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    layers = doc["layers"]
    paths = [layer["path"] for layer in layers]
    assert len(set(paths)) == len(paths)                        # flat, every leaf once
    assert sum(layer["params"] for layer in layers) == doc["totals"]["params"]
    assert sum(layer["macs"] for layer in layers) == doc["totals"]["macs"]
    by = {layer["path"]: layer for layer in layers}
    assert by["stem.conv"]["depth"] == 1 and by["stem.conv"]["name"] == "conv"
    # repeat -> iteration -> (block -> residual collapsed into the iteration) -> body
    assert by["stage.0.body.conv_1"]["depth"] == 2
    assert by["stage.0.body.conv_1"]["output"] == [8, 8, 8]           # first: {s: 2}
    assert by["stage.0.shortcut.conv"]["output"] == [8, 8, 8]         # auto: 1x1, stride 2
    assert by["stage.1.body.conv_1"]["output"] == [8, 8, 8]
    assert "stage.1.shortcut.conv" not in by                          # identity
    assert by["stage.0.add"]["depth"] == 2 and by["stage.0.relu"]["depth"] == 2
    # a branch of two or more items is a group of its own; a one-layer branch is not
    assert by["fork.branch1.conv_1"]["depth"] == 1 and by["fork.concat"]["depth"] == 1
    assert by["fork.branch2.conv_1"]["depth"] == 2 and by["fork.branch2.relu_1"]["depth"] == 2
    assert by["dense_1"]["depth"] == 0 and by["dense_1"]["path"] == "dense_1"
    for layer in layers:                      # a path has the layer's name as its last part
        assert layer["path"].rsplit(".", 1)[-1] == layer["name"]


def test_tree_rows_nest_consistently():
    """Each row's depth is the number of group rows enclosing it; a group's params and MACs are
    the sums over its leaves; pre-order: a group row comes right before its first leaf."""
    a = cnncalc.analyse(cnncalc.loads(NESTED))
    groups = [g for g in a.rows if isinstance(g, Group)]
    for pos, row in enumerate(a.rows):
        lo, hi = (row.first, row.last) if isinstance(row, Group) else (row.index, row.index)
        enclosing = [g for g in groups if g is not row and g.first <= lo and hi <= g.last
                     and g.depth < row.depth]
        assert len(enclosing) == row.depth, getattr(row, "path", row)
        if isinstance(row, Group):
            leaves = a.layers[row.first - 1:row.last]
            assert a.group_totals(row) == {"params": sum(r.params for r in leaves),
                                           "macs": sum(r.macs for r in leaves)}
            assert row.output == leaves[-1].output
            nxt = a.rows[pos + 1]
            assert (nxt.first if isinstance(nxt, Group) else nxt.index) == row.first


def _table_rows(text: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line and set(line) <= {"-", " "})
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].strip())
    return lines[start + 1:end]


@pytest.mark.parametrize("depth", [0, 1, 2, 3])
def test_depth_collapses_the_table(cli, tmp_path, depth):
    a = cnncalc.analyse(cnncalc.loads(NESTED))
    res = cli(spec_file(tmp_path, NESTED), "--summary", "--depth", str(depth))
    assert res.code == 0, res.err
    rows = _table_rows(res.out)
    shown = [r for r in a.rows if r.depth <= depth]
    assert len(rows) == len(shown)
    for line, row in zip(rows, shown):
        indent = "  " * row.depth
        if isinstance(row, Group):           # the group's aggregated params and MACs
            t = a.group_totals(row)
            assert line.lstrip().startswith(indent.lstrip() + row.name)
            assert f"{t['params']:,}" in line and f"{t['macs']:,}" in line
        else:
            assert line.split()[0] == str(row.index)
    # whatever the depth, the top-level rows' params add up to the total
    top = [r for r in a.rows if r.depth == 0]
    total = sum(a.group_totals(r)["params"] if isinstance(r, Group) else r.params for r in top)
    assert total == a.totals()["params"]
    assert f"{a.totals()['params']:,}" in res.out
    # and the JSON leaf list does not depend on --depth
    j = cli(spec_file(tmp_path, NESTED), "--format", "json", "--depth", str(depth))
    assert len(json.loads(j.out)["layers"]) == len(a.layers)


def test_parallel_branches_are_rows_of_the_tree(cli, tmp_path):
    res = cli(spec_file(tmp_path, NESTED), "--summary")
    rows = [line.split() for line in _table_rows(res.out)]
    fork = next(i for i, r in enumerate(rows) if r[0] == "fork")
    assert rows[fork][1:3] == ["parallel", "concat"]
    assert rows[fork + 1][1:3] == ["branch1.conv_1", "conv"]    # relative to the fork row
    assert rows[fork + 2][:2] == ["branch2", "branch"]       # its params: the one 1x1 conv
    assert rows[fork + 2][4] == str(2 * 8 * 1 * 1)
    assert [r[1] for r in rows[fork + 3:fork + 6]] == ["conv_1", "relu_1", "concat"]


def test_depth_zero_shows_one_row_per_top_level_item(cli, tmp_path):
    res = cli(spec_file(tmp_path, NESTED), "--summary", "--depth", "0")
    names = [line.split()[0] if not line.split()[0].isdigit() else line.split()[1]
             for line in _table_rows(res.out)]
    assert names == ["stem", "stage", "fork", "global_avgpool_1", "flatten_1", "dense_1"]


def test_block_arguments_count_in_the_layer_bound(cli, tmp_path):
    """A `$n` repeat count given as a block argument is known before the block is built: two
    uses of 99,999 layers are refused at once, before building the first."""
    run_error(cli, tmp_path, """
        input: 8x8x3
        blocks:
          b: {params: {n: 1}, layers: [repeat: {times: $n, layers: [relu]}]}
        layers:
          - block: {use: b, n: 99999}
          - block: {use: b, n: 99999}
        """, "the spec expands to at least 199,998 layers")


def test_repeat_first_arguments_do_not_inflate_the_bound():
    """The bound must stay a lower bound: `first:` replaces the arguments of iteration 1, so a
    huge default that iteration 1 never uses must not be counted."""
    a = analyse("""
        input: 8x8x3
        blocks:
          b: {params: {n: 200000}, layers: [repeat: {times: $n, layers: [relu]}]}
        layers:
          - repeat: {times: 1, first: {n: 5}, layers: [block: b]}
        """)
    assert len(a.layers) == 5


def test_blocks_that_expand_to_no_layers_are_limited_too(cli, tmp_path):
    """10**6 nested empty blocks: no layers, but not a spec either."""
    lines = ["input: 8x8x3", "blocks:", "  b0: []"]
    for i in range(1, 7):
        lines.append(f"  b{i}: [" + ", ".join([f"block: b{i - 1}"] * 10) + "]")
    lines += ["layers: [relu, block: b6]"]
    run_error(cli, tmp_path, "\n".join(lines) + "\n", "layer 2 (block b6)",
              "more than 100,000 blocks, repeats, residuals and parallels")


def test_from_input_names_the_network_input_unless_a_layer_is_called_input():
    a = analyse("""
        input: 8x8x3
        layers:
          - conv: {filters: 3, kernel: 3, padding: 1}
          - add: {from: [-1, input]}
        """)
    assert a.layers[1].inputs == (1, 0)
    assert a.layers[1].output == (8, 8, 3)
    b = analyse("""
        input: 8x8x3
        layers:
          - conv: {filters: 3, kernel: 1, name: input}
          - conv: {filters: 3, kernel: 1}
          - add: {from: [-1, input]}
        """)
    assert b.layers[2].inputs == (2, 1)     # the layer named `input` wins

