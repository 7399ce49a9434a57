"""The spec language of issue 10 (items 1–3 and its "Bad input"): expressions with floats and
functions in specs, `$in.c` / `$in.h` / `$in.w`, `if:` on any entry, `repeat: {times: 0}`, layer
types from parameters and inline blocks (docs/SPEC.md, "Expressions", "Conditions", "$in").

Errors go through the command line: exit 2 and one line naming the file, the line and the layer.
"""

from __future__ import annotations

import json
import re
import textwrap

import pytest
from conftest import DictWeights, assert_clean_error
from hypothesis import given, settings
from hypothesis import strategies as st

import cnncalc
from cnncalc.analysis import Group
from cnncalc.errors import CnnCalcError


def analyse(text: str, **kw) -> cnncalc.Analysis:
    return cnncalc.analyse(cnncalc.loads(textwrap.dedent(text)), **kw)


def shapes(a: cnncalc.Analysis) -> dict[str, tuple]:
    return {r.path: r.output for r in a.layers}


def run_error(cli, tmp_path, text: str, *needles: str) -> str:
    path = tmp_path / "net.yaml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    res = cli(str(path))
    assert_clean_error(res, "net.yaml", *needles)
    return res.err_lines[0]


# --- expressions in specs ------------------------------------------------------------------------

def test_float_parameters_and_functions_in_blocks():
    """MobileNet-style widths: `make_divisible(c · width, 8)` (torchvision's rounding rule) with a
    float width, and a float argument passed through to another block."""
    a = analyse("""
        input: 8x8x16
        blocks:
          conv_bn:
            params: {c: ~, width: 1.0}
            layers:
              - conv: {filters: "make_divisible($c * $width, 8)", kernel: 1, name: conv}
          pair:
            params: {width: 1.0}
            layers:
              - block: {use: conv_bn, c: 32, width: $width, name: a}
              - block: {use: conv_bn, c: "round(100 * $width)", name: b}
              - conv: {filters: "max(ceil(10 * $width), floor(7.9), int(-2.5) + 10)", kernel: 1,
                       name: c}
              - dropout: {rate: $width * 0.4 - 0.1}
              - batchnorm: {epsilon: $width * 1e-6 / 0.75}
        layers:
          - block: {use: pair, width: 0.75, name: p}
        """)
    out = shapes(a)
    assert out["p.a.conv"][-1] == 24             # make_divisible(24.0, 8)
    assert out["p.b.conv"][-1] == 72             # make_divisible(75, 8): 72 >= 0.9 · 75
    assert out["p.c"][-1] == 8                   # max(8, 7, 8)
    assert a.layers[3].layer.rate == pytest.approx(0.2)     # 0.75 · 0.4 − 0.1
    assert a.layers[4].layer.epsilon == pytest.approx(1e-6)


def test_a_fraction_where_an_integer_is_needed_says_how_to_round_it(cli, tmp_path):
    run_error(cli, tmp_path, """
        input: 8x8x3
        blocks:
          b: {params: {w: 0.35}, layers: [conv: {filters: 10 * $w * 3, kernel: 1}]}
        layers: [block: b]
        """, "net.yaml:3", "filters must be an integer, got 10.5", "round it")
    a = analyse("""
        input: 8x8x3
        blocks:
          b: {params: {w: 0.3}, layers: [conv: {filters: 10 * $w * 3, kernel: 1}]}
        layers: [block: b]
        """)
    assert a.output == (8, 8, 9)          # 9.0 is a whole number: the integer 9


# --- $in --------------------------------------------------------------------------------------

SE = """
input: 16x16x24
floor: ok
blocks:
  se:                             # torchvision's SqueezeExcitation, width from the input
    params: {ratio: 4}
    layers:
      - parallel:
          merge: multiply
          branches:
            - []
            - [global_avgpool, conv: {filters: "make_divisible($in.c // $ratio, 8)", kernel: 1},
               relu, conv: {filters: $in.c, kernel: 1}, hardsigmoid]
  inverted:
    params: {filters: ~, expand: 4, stride: 1, se: false}
    layers:
      - residual:
          if: $stride == 1 and $in.c == $filters      # torchvision's use_res_connect
          body: &body
            - conv: {filters: $in.c * $expand, kernel: 1, if: $expand != 1, name: expand}
            - depthwise_conv: {kernel: 3, stride: $stride, padding: 1, name: dw}
            - block: {use: se, if: $se, name: se}
            - conv: {filters: $filters, kernel: 1, name: project}
      - block:
          if: not ($stride == 1 and $in.c == $filters)
          name: plain
          layers: *body
layers:
  - block: {use: inverted, filters: 24, se: true, name: b1}
  - block: {use: inverted, filters: 40, stride: 2, expand: 1, name: b2}
  - block: {use: inverted, filters: 40, expand: 6, se: true, name: b3}
"""


def test_in_reads_the_block_input_and_conditions_pick_the_structure():
    a = analyse(SE)
    out = shapes(a)
    # b1: 24 -> 24, stride 1: a residual; expand 96; SE squeeze make_divisible(96 // 4, 8) = 24
    assert out["b1.residual_1.body.expand"] == (16, 16, 96)
    assert out["b1.residual_1.body.se.branch2.conv_1"] == (1, 1, 24)
    assert out["b1.residual_1.body.se.branch2.conv_2"] == (1, 1, 96)
    assert out["b1.residual_1.add"] == (16, 16, 24)
    # b2: 24 -> 40, stride 2: no residual (the inline block instead); expand 1: no expand conv,
    # no SE
    assert "b2.plain.expand" not in out and "b2.plain.se" not in str(out)
    assert out["b2.plain.dw"] == (8, 8, 24) and out["b2.plain.project"] == (8, 8, 40)
    # b3: 40 -> 40: a residual again, SE on 240 channels squeezes to 64 (make_divisible(60, 8))
    assert out["b3.residual_1.body.se.branch2.conv_1"] == (1, 1, 64)
    assert out["b3.residual_1.add"] == (8, 8, 40)
    assert not [p for p in out if p.startswith("b3.plain")]


def test_in_vs_torchvision_squeeze_excitation_widths():
    """The SE squeeze width of every MobileNetV3-Large block that has one, from $in, against
    torchvision's `_make_divisible(expanded // 4, 8)`."""
    def make_divisible(v, d):
        new_v = max(d, int(v + d / 2) // d * d)
        return new_v + d if new_v < 0.9 * v else new_v
    for expanded in (72, 120, 240, 480, 672, 960):
        a = analyse(f"""
            input: 7x7x{expanded}
            blocks:
              se: [global_avgpool, conv: {{filters: "make_divisible($in.c // 4, 8)", kernel: 1}}]
            layers: [block: se]
            """)
        assert a.layers[1].output[-1] == make_divisible(expanded // 4, 8)


def test_in_at_the_top_level_is_each_entrys_own_input():
    a = analyse("""
        input: 12x10x6
        layers:
          - conv: {filters: $in.c * 2, kernel: 3, name: a}               # 6 -> 12
          - conv: {filters: $in.h + $in.w, kernel: 1, name: b}           # 10 + 8
          - residual:
              body:
                - conv: {filters: $in.c // 2, kernel: 1, name: c}        # the body's input: 9
                - conv: {filters: $in.c * 2, kernel: 1, name: d}         # c's output: 18
          - conv: {filters: $in.c, kernel: 1, from: a, name: e}          # from: a -> 12
          - repeat: {times: 2, layers: [conv: {filters: $in.c + 1, kernel: 1, name: f}]}
        """)
    out = shapes(a)
    assert out["a"] == (10, 8, 12) and out["b"] == (10, 8, 18)
    assert out["residual_1.body.c"][-1] == 9 and out["residual_1.body.d"][-1] == 18
    assert out["e"][-1] == 12
    assert out["repeat_1.0.f"][-1] == 13 and out["repeat_1.1.f"][-1] == 14


def test_in_in_block_arguments_is_the_callers_input_and_nested_blocks_have_their_own():
    a = analyse("""
        input: 4x4x8
        blocks:
          width: {params: {n: ~}, layers: [conv: {filters: $n, kernel: 1, name: c},
                                            conv: {filters: $in.c, kernel: 1, name: back}]}
          outer:
            layers:
              - conv: {filters: 5, kernel: 1, name: first}
              - block: {use: width, n: $in.c * 3, name: inner}     # outer's input: 8 -> 24
        layers:
          - block: {use: width, n: $in.c + 1, name: top}           # 8 + 1 = 9, back to 8
          - block: {use: outer, name: o}
        """)
    out = shapes(a)
    assert out["top.c"][-1] == 9 and out["top.back"][-1] == 8
    assert out["o.first"][-1] == 5
    assert out["o.inner.c"][-1] == 24 and out["o.inner.back"][-1] == 5   # inner's input: 5


def test_repeated_blocks_read_their_own_input_each_time():
    a = analyse("""
        input: 8x8x4
        blocks:
          grow: [conv: {filters: $in.c * 2, kernel: 1}]
        layers:
          - repeat: {times: 4, layers: [block: grow]}
        """)
    assert [r.output[-1] for r in a.layers] == [8, 16, 32, 64]


def test_a_model_with_in_analyses_again_at_another_size_and_runs():
    model = cnncalc.loads(SE)
    small = cnncalc.analyse(model)
    big = cnncalc.analyse(model, (32, 32, 40))     # b1 is no residual at 40 input channels
    again = cnncalc.analyse(model)
    assert [r.output for r in again.layers] == [r.output for r in small.layers]
    assert "b1.residual_1.add" not in shapes(big) and "b1.plain.project" in shapes(big)
    pytest.importorskip("numpy")
    import numpy as np

    from cnncalc import engine
    x = np.random.default_rng(0).standard_normal((2, 16, 16, 24)).astype(np.float32)
    res = engine.run(small, x)
    assert res.verified and res.output.shape == (2, 8, 8, 40)


def test_expanded_layers_count_towards_the_layer_limit(monkeypatch):
    import cnncalc.spec as spec
    monkeypatch.setattr(spec, "MAX_LAYERS", 50)
    text = """
        input: 4x4x2
        blocks: {b: [repeat: {times: $in.c, layers: [relu, relu, relu, relu, relu, relu, relu,
                                                      relu, relu, relu]}]}
        layers: [repeat: {times: 2, layers: [block: b]}]
        """
    assert len(analyse(text).layers) == 40
    with pytest.raises(CnnCalcError, match="more than 50 layers"):
        analyse(text.replace("4x4x2", "4x4x3"))


# --- if: ---------------------------------------------------------------------------------------

def test_if_on_every_kind_of_entry():
    text = """
        input: 8x8x4
        blocks:
          b: {params: {keep: true}, layers: [relu: {if: $keep}, sigmoid]}
        layers:
          - conv: {filters: 4, kernel: 1, if: %(v)s}
          - block: {use: b, keep: %(v)s, name: blk}
          - block: {use: b, if: %(v)s, name: gone}
          - repeat: {times: 2, if: %(v)s, layers: [tanh]}
          - residual: {if: %(v)s, body: [relu]}
          - parallel: {if: %(v)s, branches: [[relu], [tanh]]}
          - block: {if: %(v)s, layers: [relu]}
          - softmax: {if: not %(v)s}
        """
    on = [r.path for r in analyse(text % {"v": "true"}).layers]
    off = [r.path for r in analyse(text % {"v": "false"}).layers]
    assert on == ["conv_1", "blk.relu_1", "blk.sigmoid_1", "gone.relu_1", "gone.sigmoid_1",
                  "repeat_1.0.tanh_1", "repeat_1.1.tanh_1", "residual_1.body.relu_1",
                  "residual_1.add", "parallel_1.branch1.relu_1", "parallel_1.branch2.tanh_1",
                  "parallel_1.concat", "block_1.relu_1"]
    assert off == ["blk.sigmoid_1", "softmax_1"]


def test_a_dropped_entry_keeps_its_place_in_the_default_names():
    """Names do not depend on conditions: the second conv is conv_2 whether or not the first is
    kept, at build time (`$on`) as in the analysis (`$in.c`)."""
    for cond in ("$keep", "$in.c > 100"):
        a = analyse(f"""
            input: 8x8x4
            blocks:
              b: {{params: {{keep: false}}, layers: [conv: {{filters: 2, kernel: 1, if: {cond}}},
                                                  conv: {{filters: 3, kernel: 1}}]}}
            layers: [block: {{use: b, name: x}}]
            """)
        assert [r.path for r in a.layers] == ["x.conv_2"]


def test_alternatives_may_share_a_name_when_a_condition_of_the_analysis_picks_one():
    text = """
        input: 8x8x%d
        blocks:
          b:
            - conv: {filters: 8, kernel: 1, name: proj, if: $in.c != 8}
            - identity: {name: proj, if: $in.c == 8}       # $in: the block's input
            - relu: {from: proj}
        layers: [block: b]
        """
    assert [r.type for r in analyse(text % 3).layers] == ["conv", "relu"]
    assert [r.type for r in analyse(text % 8).layers] == ["identity", "relu"]
    with pytest.raises(CnnCalcError, match="duplicate name 'proj': two entries of that name are "
                                           "both kept"):
        analyse(text.replace("$in.c == 8", "$in.c > 1") % 3)


@pytest.mark.parametrize("cond, needle", [
    ("3", "if: must be true or false (a condition such as $se or $stride == 1), but 3"),
    ("'$n'", "but '$n' gives 2"), ("yes please", "unknown name 'yes'"),
    ("$in.c", "but '$in.c' gives 4"), ("[true]", "but [True]"),
])
def test_an_if_that_is_not_a_boolean_is_an_error(cli, tmp_path, cond, needle):
    run_error(cli, tmp_path, f"""
        input: 8x8x4
        blocks: {{b: {{params: {{n: 2}}, layers: [relu, relu: {{if: {cond}}}]}}}}
        layers: [block: {{use: b, name: mine}}]
        """, "net.yaml:2", "mine", needle)


def test_a_network_whose_conditions_drop_everything(cli, tmp_path):
    run_error(cli, tmp_path, "input: 8x8x4\nlayers: [relu: {if: false}]\n",
              "'layers' is empty (every entry's if: is false)")
    run_error(cli, tmp_path, "input: 8x8x4\nlayers: [relu: {if: $in.c > 4}]\n",
              "the network has no layers left: every entry's if: is false")


# --- repeat: {times: 0} ----------------------------------------------------------------------

def test_repeat_of_zero_is_an_empty_sequence():
    a = analyse("""
        input: 8x8x4
        blocks: {b: {params: {n: 0}, layers: [repeat: {times: $n, layers: [relu]}, tanh]}}
        layers:
          - conv: {filters: 6, kernel: 1, name: c}
          - repeat: {times: 0, name: none, layers: [conv: {filters: 99, kernel: 1}]}
          - add: {from: [c, none]}                    # the empty repeat stands for its input
          - block: {use: b, name: blk}
        """)
    assert [r.path for r in a.layers] == ["c", "add_1", "blk.tanh_1"]
    assert a.layers[1].inputs == (1, 1)
    assert not [g for g in a.rows if isinstance(g, Group) and g.name in ("none", "repeat_1")]
    with pytest.raises(CnnCalcError, match="repeat needs 'times' >= 0, got -1"):
        analyse("input: 8x8x4\nlayers: [repeat: {times: -1, layers: [relu]}]\n")


# --- layer types from parameters ---------------------------------------------------------------

def test_a_layer_type_from_a_parameter():
    a = analyse("""
        input: 8x8x4
        blocks:
          cba:
            params: {act: relu, norm: batchnorm}
            layers:
              - conv: {filters: 4, kernel: 3, padding: 1, bias: false}
              - $norm
              - $act
              - {$act: {name: again}}
        layers:
          - block: {use: cba, act: hardswish, name: a}
          - block: {use: cba, act: silu, norm: identity, name: b}
          - block: {use: cba, act: leaky_relu, name: c}
        """)
    assert [r.type for r in a.layers] == ["conv", "batchnorm", "hardswish", "hardswish",
                                          "conv", "identity", "silu", "silu",
                                          "conv", "batchnorm", "leaky_relu", "leaky_relu"]
    assert a.layers[3].name == "again"


@pytest.mark.parametrize("act, needle", [
    ("3", "$act is 3: a layer type must be a name"),
    ("layer_nrm", "unknown layer type 'layer_nrm'"),
])
def test_bad_layer_types_from_parameters(cli, tmp_path, act, needle):
    run_error(cli, tmp_path, f"""
        input: 8x8x4
        blocks: {{b: {{params: {{act: {act}}}, layers: [$act]}}}}
        layers: [block: b]
        """, needle)


# --- inline blocks -----------------------------------------------------------------------------

def test_inline_blocks_see_their_arguments_and_the_enclosing_parameters():
    a = analyse("""
        input: 8x8x4
        blocks:
          outer:
            params: {k: 3}
            layers:
              - block:
                  name: stem
                  f: 6
                  layers:
                    - conv: {filters: $f, kernel: $k, padding: 1}
                    - conv: {filters: $in.c * 2, kernel: 1}     # the inline block's input: 4
        layers:
          - block: {use: outer, k: 5, name: o}
          - block: {layers: [relu, conv: {filters: $in.c, kernel: 1}]}
        """)
    out = shapes(a)          # the block o holds only the inline block: one level (SPEC.md)
    assert out["o.conv_1"] == (6, 6, 6) and out["o.conv_2"] == (6, 6, 8)
    assert out["block_1.conv_1"] == (6, 6, 8)


@pytest.mark.parametrize("entry, needle", [
    ("block: {use: b, layers: [relu]}", "block needs 'use: NAME' (a block of 'blocks:') or "
                                        "'layers:' (an inline block)"),
    ("block: {f: 3}", "block needs 'use: NAME'"),
    ("block: {layers: relu}", "must be a list of layers"),
])
def test_inline_block_errors(cli, tmp_path, entry, needle):
    run_error(cli, tmp_path, f"input: 8x8x4\nblocks: {{b: [relu]}}\nlayers:\n  - {entry}\n",
              needle)


# --- bad input: clear errors naming the layer, exit 2 ---------------------------------------------

@pytest.mark.parametrize("filters, needles", [
    ("$in.c // ($in.h - 8)", ["layer 2 'mine.conv_1' (conv)", "division by zero in "
                                                               "'$in.c // ($in.h - 8)'"]),
    ("$c // ($c - 3)", ["layer 2 'mine' (block b)", "conv_1 (conv): division by zero"]),
    ("foo($in.c)", ["unknown function 'foo' in 'foo($in.c)'", "(did you mean 'floor'?)"]),
    ("$in.d", ["layer 2 'mine.conv_1' (conv)", "$in has no field 'd'", "fields are c, h and w"]),
    ("$in", ["$in is the input shape 8x8x4; use $in.c, $in.h or $in.w"]),
    ("$inn.c", ["$inn is not defined (did you mean 'in'?)"]),
])
def test_expression_errors_name_the_layer(cli, tmp_path, filters, needles):
    run_error(cli, tmp_path, f"""
        input: 8x8x4
        blocks: {{b: {{params: {{c: 3}}, layers: [conv: {{filters: "{filters}", kernel: 1}}]}}}}
        layers:
          - relu
          - block: {{use: b, name: mine}}
        """, "net.yaml:2", *needles)


def test_a_missing_in_field_on_a_vector(cli, tmp_path):
    run_error(cli, tmp_path, """
        input: 8x8x4
        layers:
          - flatten
          - dense: {units: $in.h}
        """, "net.yaml:4", "layer 2 'dense_1' (dense)",
        "$in.h: the input is a vector [256], which has no height or width ($in.c is its length)")
    a = analyse("input: 8x8x4\nlayers: [flatten, dense: {units: $in.c // 8}]\n")
    assert a.output == (32,)


@pytest.mark.parametrize("entry, needle", [
    ("relu: {name: $in.c}", "name: cannot depend on $in"),
    ("relu: {from: $in.c}", "from: cannot depend on $in"),
])
def test_what_is_decided_before_the_analysis_cannot_read_in(cli, tmp_path, entry, needle):
    run_error(cli, tmp_path, f"input: 8x8x4\nlayers:\n  - {entry}\n", needle)


def test_json_of_a_spec_with_conditions_and_in(cli, tmp_path):
    path = tmp_path / "se.yaml"
    path.write_text(SE)
    res = cli(str(path), "--format", "json")
    assert res.code == 0, res.err
    data = json.loads(res.out)
    assert data["output"] == [8, 8, 40] and data["warnings"] == []
    assert sum(r["params"] for r in data["layers"]) == data["totals"]["params"]


def test_the_examples_of_spec_md_work_together():
    """The SE and inverted-residual blocks of docs/SPEC.md ("Expressions", "Conditions, parameter
    types and inline blocks") as one MobileNetV3-like stage."""
    import re
    from pathlib import Path

    import yaml
    doc = (Path(__file__).resolve().parent.parent / "docs" / "SPEC.md").read_text()
    blocks = {}
    for title in ("### Expressions", "### Conditions, parameter types and inline blocks"):
        section = doc[doc.index(title):]
        example = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
        blocks.update(yaml.safe_load(example)["blocks"])
    spec = {"input": [28, 28, 16], "floor": "ok", "blocks": blocks, "layers": [
        {"block": {"use": "inverted", "filters": 16, "se": True, "act": "hardswish"}},
        {"block": {"use": "inverted", "filters": 24, "stride": 2, "expand": 1}},
        {"repeat": {"times": 0, "layers": ["relu"]}}]}
    a = cnncalc.analyse(cnncalc.loads(json.dumps(spec)))
    out = shapes(a)
    assert out["inverted_1.residual_1.body.se_1.branch2.conv_1"] == (1, 1, 16)
    assert out["inverted_1.residual_1.add"] == (28, 28, 16)
    assert [r.type for r in a.layers if r.path.startswith("inverted_2")] == [
        "depthwise_conv", "batchnorm", "relu", "conv", "batchnorm"]
    assert a.output == (14, 14, 24)


def test_a_block_parameter_named_in_still_works_and_hides_the_input_shape(cli, tmp_path):
    """Specs written before $in (efficientnet_b0, mobilenet_v2) have a parameter `in`."""
    a = analyse("""
        input: 8x8x4
        blocks:
          b: {params: {in: 3}, layers: [conv: {filters: $in * 2, kernel: 1}]}
        layers: [block: {use: b, in: 5}, block: b]
        """)
    assert [r.output[-1] for r in a.layers] == [10, 6]
    run_error(cli, tmp_path, """
        input: 8x8x4
        blocks:
          b: {params: {in: 3}, layers: [conv: {filters: $in.c, kernel: 1}]}
        layers: [block: b]
        """, "$in.c: this block has a parameter 'in', which hides the input shape")


# --- split: named channel slices (sugar over chunk) ----------------------------------------------

def random_weights(a, seed=0):
    import numpy as np

    from cnncalc import engine
    rng = np.random.default_rng(seed)
    return {f"{r.path}.{s.key}": rng.standard_normal(s.shape).astype(np.float32) * 0.3
            for r in a.layers for s in engine.param_specs(r)}


SHUFFLE_UNIT = """
input: 6x5x8
blocks:
  unit:                       # torchvision's ShuffleNetV2 InvertedResidual, stride 1
    layers:
      - split: {groups: 2, names: [x1, x2]}
      - conv: {filters: $in.c // 2, kernel: 1, bias: false, activation: relu}   # on x2
      - depthwise_conv: {kernel: 3, padding: 1, bias: false}
      - conv: {filters: $in.c // 2, kernel: 1, bias: false, activation: relu}
      - concat: {from: [x1, -1]}
      - channel_shuffle: 2
layers:
  - repeat: {times: 2, layers: [block: unit]}
"""


def test_split_names_the_slices_and_the_next_entry_reads_the_last():
    a = analyse(SHUFFLE_UNIT)
    assert [(r.path, r.type, r.output[-1]) for r in a.layers[:5]] == [
        ("repeat_1.0.x1", "chunk", 4), ("repeat_1.0.x2", "chunk", 4),
        ("repeat_1.0.conv_1", "conv", 4), ("repeat_1.0.depthwise_conv_1", "depthwise_conv", 4),
        ("repeat_1.0.conv_2", "conv", 4)]
    x1, x2, conv = a.layers[0], a.layers[1], a.layers[2]
    assert x1.inputs == x2.inputs == (0,) and conv.inputs == (x2.index,)
    assert (x1.layer.index, x2.layer.index) == (0, 1)
    assert a.layers[5].inputs == (x1.index, conv.index + 2)
    assert a.output == (6, 5, 8)


def test_split_forms_and_errors():
    a = analyse("""
        input: 4x4x12
        layers:
          - conv: {filters: 12, kernel: 1, name: c}
          - relu
          - split: {groups: 3, from: c}               # unnamed: chunk_1 … chunk_3
          - split: {names: [p, q], from: -4}           # each slice is an item: -4 is relu_1
          - split: 2
        """)
    assert [(r.path, r.inputs) for r in a.layers[2:]] == [
        ("chunk_1", (1,)), ("chunk_2", (1,)), ("chunk_3", (1,)),
        ("p", (2,)), ("q", (2,)), ("chunk_6", (7,)), ("chunk_7", (7,))]
    assert a.layers[-1].output == (4, 4, 3)
    assert [r.path for r in analyse("input: 4x4x4\nlayers: [relu, split: {groups: 2, if: "
                                    "false}]\n").layers] == ["relu_1"]
    for text, message in (
            ("split: {groups: 2, names: [a]}", "split has 2 groups but 1 names"),
            ("split: {groups: 0}", "split needs 'groups'"),
            ("split: {names: a}", "split names must be a list"),
            ("split: {groups: 2, name: a}", "unknown key 'name' in split (did you mean 'names'?)"),
            ("split: {groups: 3}", "groups 3 does not divide the 4 channels"),
            ("split: {groups: $in.c}", "split cannot depend on $in"),
            ("split: {names: [a, a]}", "duplicate name 'a'")):
        with pytest.raises(CnnCalcError, match=re.escape(message)):
            analyse(f"input: 4x4x4\nlayers:\n  - {text}\n")


def test_split_shufflenet_unit_vs_torch(torch):
    """The unit above against torchvision's InvertedResidual data flow (x.chunk(2, dim=1),
    branch2 on the second half, cat, channel_shuffle), with the same weights."""
    import numpy as np

    from cnncalc import engine
    a = analyse(SHUFFLE_UNIT)
    w = random_weights(a)
    x = np.random.default_rng(1).standard_normal((2, 6, 5, 8)).astype(np.float32)
    res = engine.run(a, x, DictWeights(w))
    assert res.verified

    def conv(t, key, groups=1, padding=0):        # HWIO → OIHW
        k = torch.from_numpy(w[key].transpose(3, 2, 0, 1).copy())
        return torch.nn.functional.conv2d(t, k, padding=padding, groups=groups)
    y = torch.from_numpy(x).permute(0, 3, 1, 2)
    for i in range(2):
        p = f"repeat_1.{i}."
        x1, x2 = y.chunk(2, dim=1)
        b = torch.relu(conv(x2, p + "conv_1.weight"))
        b = conv(b, p + "depthwise_conv_1.weight", groups=4, padding=1)
        b = torch.relu(conv(b, p + "conv_2.weight"))
        y = torch.nn.functional.channel_shuffle(torch.cat([x1, b], 1), 2)
    np.testing.assert_allclose(res.output, y.permute(0, 2, 3, 1).numpy(), rtol=1e-4, atol=1e-5)


def test_the_convnext_and_aspp_example_of_spec_md(torch):
    """docs/SPEC.md's example for the new layer types: a torchvision CNBlock(96) has 79,296
    parameters (4,800 + 192 + 37,248 + 36,960 + 96), and the ASPP pooling branch and FCN's
    upsampling run like torch's F.interpolate(size=...)."""
    from pathlib import Path
    doc = (Path(__file__).resolve().parent.parent / "docs" / "SPEC.md").read_text()
    section = doc[doc.index("### resize, layernorm, layer_scale, stochastic_depth"):]
    example = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    text = "input: 21x19x96\n" + example.replace(
        "layers:\n  - parallel", "layers:\n  - block: {use: cn_block, p: 0.1, name: blk}\n"
        "  - parallel")
    a = analyse(text)
    assert sum(r.params for r in a.layers if r.path.startswith("blk.")) == 79_296
    assert shapes(a)["parallel_1.branch2.resize_1"] == (21, 19, 256)
    assert a.output == (21, 19, 512)
    import numpy as np

    from cnncalc import engine
    x = np.random.default_rng(0).standard_normal((1, 21, 19, 96)).astype(np.float32)
    assert engine.run(a, x).verified


@pytest.mark.parametrize("layers", ["[]", "[relu: {if: false}]", "[relu: {if: $in.c > 5}]"])
def test_a_huge_repeat_of_nothing_fails_at_once(cli, tmp_path, layers):
    """It used to loop a billion times (an empty list); `if:` made such lists easy to write."""
    run_error(cli, tmp_path, f"""
        input: 8x8x3
        layers: [relu, repeat: {{times: 1000000000, layers: {layers}}}]
        """, "repeat 1,000,000,000 times: the spec expands to more than 100,000 repeat "
             "iterations")


def test_entries_that_if_drops_count_towards_a_limit(monkeypatch):
    import cnncalc.spec as spec
    monkeypatch.setattr(spec, "MAX_ENTRIES", 60)
    text = """
        input: 8x8x3
        blocks: {b: [relu: {if: false}, relu: {if: $in.c > 5}, relu: {if: $in.c > 5}]}
        layers: [repeat: {times: %d, layers: [block: b]}]
        """
    with pytest.raises(CnnCalcError, match="no layers left"):        # 14 · 4 + 1 entries
        analyse(text % 14)
    with pytest.raises(CnnCalcError, match="more than 60 entries"):
        analyse(text % 15)


def test_expect_checks_a_spec_with_in(cli, tmp_path):
    """--expect's mistake search rebuilds the model tree: entries that read $in stay for the
    analysis to build (it used to stop with an internal error on them)."""
    path = tmp_path / "se.yaml"
    path.write_text(SE)
    res = cli(str(path), "--expect", "8x8x41")
    assert res.code == 1 and "computed output 8x8x40" in res.out and not res.err
    assert cli(str(path), "--expect", "8x8x40").code == 0


@settings(max_examples=60, deadline=None)
@given(ops=st.lists(st.tuples(st.sampled_from(["lit", "add", "mul", "if"]), st.integers(1, 5)),
                    min_size=1, max_size=8),
       c=st.integers(1, 6), in_block=st.booleans())
def test_in_semantics_against_a_reference(ops, c, in_block):
    """Random chains of convs whose widths and conditions read $in, at the top level (each
    entry's own input) and inside a block (the block's input), against the rule in Python."""
    entries, want, cur = [], [], c
    for kind, k in ops:
        seen = c if in_block else cur               # what $in.c means for this entry
        if kind == "if":
            keep = seen > k
            entries.append(f"conv: {{filters: 3, kernel: 1, if: $in.c > {k}}}")
            if keep:
                cur = 3
                want.append(cur)
            continue
        expr = {"lit": f"{k}", "add": f"$in.c + {k}", "mul": f"$in.c * {k}"}[kind]
        cur = {"lit": k, "add": seen + k, "mul": seen * k}[kind]
        entries.append(f"conv: {{filters: {expr}, kernel: 1}}")
        want.append(cur)
    body = "[" + ", ".join(entries) + "]"
    text = (f"input: 2x2x{c}\nblocks: {{b: {body}}}\nlayers: [identity, block: b]\n" if in_block
            else f"input: 2x2x{c}\nlayers: [identity, {body[1:-1]}]\n")
    a = analyse(text)
    assert [r.output[-1] for r in a.layers[1:]] == want
