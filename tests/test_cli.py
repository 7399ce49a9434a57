"""The command line: every command, flag, format and error class (issue 2, items 4 and 6),
golden files for the printed output, and VGG-16 end to end against its published figures.

Most tests run the CLI in-process (``cli`` fixture: the console script's own ``run``, with
stdout/stderr/stdin redirected like a pipe); a few run the real executable for pipes, a
pseudo-terminal and the working directory.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from conftest import assert_clean_error, cnncalc_exe, run_on_pty

from cnncalc.spec import ZOO_DIR, zoo_names

# --- VGG-16 against its published figures ------------------------------------------------

# keras.applications.VGG16().summary() (include_top=True, 224x224x3), layer by layer: name,
# output shape without the batch dimension, "Param #". Keras has no dropout layers in VGG16,
# nor torchvision's adaptive 7x7 average pool (`avgpool`, the identity at 224x224);
# the Flatten layer is called "flatten" there and "flatten_1" in our spec.
KERAS_VGG16 = [
    ("block1_conv1", (224, 224, 64), 1_792), ("block1_conv2", (224, 224, 64), 36_928),
    ("block1_pool", (112, 112, 64), 0),
    ("block2_conv1", (112, 112, 128), 73_856), ("block2_conv2", (112, 112, 128), 147_584),
    ("block2_pool", (56, 56, 128), 0),
    ("block3_conv1", (56, 56, 256), 295_168), ("block3_conv2", (56, 56, 256), 590_080),
    ("block3_conv3", (56, 56, 256), 590_080), ("block3_pool", (28, 28, 256), 0),
    ("block4_conv1", (28, 28, 512), 1_180_160), ("block4_conv2", (28, 28, 512), 2_359_808),
    ("block4_conv3", (28, 28, 512), 2_359_808), ("block4_pool", (14, 14, 512), 0),
    ("block5_conv1", (14, 14, 512), 2_359_808), ("block5_conv2", (14, 14, 512), 2_359_808),
    ("block5_conv3", (14, 14, 512), 2_359_808), ("block5_pool", (7, 7, 512), 0),
    ("flatten", (25088,), 0),
    ("fc1", (4096,), 102_764_544), ("fc2", (4096,), 16_781_312),
    ("predictions", (1000,), 4_097_000),
]


@pytest.fixture(scope="module")
def vgg16_json():
    from conftest import invoke
    res = invoke("vgg16", "--format", "json")
    assert res.code == 0 and res.err == ""
    return json.loads(res.out)


def test_vgg16_layer_by_layer_against_keras(vgg16_json):
    layers = [x for x in vgg16_json["layers"] if x["type"] not in ("dropout", "adaptive_avgpool")]
    assert len(layers) == len(KERAS_VGG16)
    for got, (name, shape, params) in zip(layers, KERAS_VGG16):
        if name != "flatten":
            assert got["name"] == name
        assert tuple(got["output"]) == shape, name
        assert got["params"] == params, name
        assert got["feature_maps"] == shape[-1]


def test_vgg16_totals(vgg16_json):
    t = vgg16_json["totals"]
    # Keras VGG16().summary(): "Total params: 138,357,544", all trainable; torchvision's model
    # card: num_params 138357544 and 15.47 GFLOPS (MACs of conv + linear, bias excluded).
    assert t["params"] == t["trainable"] == 138_357_544
    assert t["non_trainable"] == 0
    assert t["macs"] == 15_470_264_320
    assert t["flops"] == 2 * t["macs"]
    assert t["param_bytes"] == 4 * 138_357_544
    assert vgg16_json["input"] == [224, 224, 3] and vgg16_json["output"] == [1000]
    assert vgg16_json["warnings"] == []


def test_vgg16_receptive_fields_at_the_pools(vgg16_json):
    # 6 / 16 / 44 / 100 / 212 (issue 2; Araujo et al., Distill 2019: VGG-16's is 212)
    pools = [x for x in vgg16_json["layers"] if x["type"] == "maxpool"]
    assert [x["receptive_field"] for x in pools] == [[6, 6], [16, 16], [44, 44], [100, 100],
                                                     [212, 212]]
    assert [x["jump"] for x in pools] == [[2, 2], [4, 4], [8, 8], [16, 16], [32, 32]]


def test_json_stable_keys(vgg16_json):
    # SPEC-FORMAT.md, "Machine-readable output (JSON) - stable keys"
    assert {"name", "input", "output", "layers", "totals", "warnings"} <= set(vgg16_json)
    layer_keys = {"name", "type", "path", "depth", "input", "output", "feature_maps", "weights",
                  "biases", "params", "trainable", "non_trainable", "macs", "receptive_field",
                  "jump"}
    for layer in vgg16_json["layers"]:
        assert layer_keys <= set(layer)
    assert set(vgg16_json["totals"]) >= {"params", "trainable", "non_trainable", "macs",
                                          "flops", "param_bytes", "activation_bytes"}
    first = vgg16_json["layers"][0]
    assert (first["weights"], first["biases"], first["macs"]) == (1728, 64, 86_704_128)
    assert first["input"] == [224, 224, 3] and first["path"] == "block1_conv1"


def test_sums_over_layers_equal_totals(vgg16_json):
    t = vgg16_json["totals"]
    for key in ("params", "trainable", "non_trainable", "macs"):
        assert sum(x[key] for x in vgg16_json["layers"]) == t[key]
    acts = sum(_prod(x["output"]) for x in vgg16_json["layers"]) * 4
    assert t["activation_bytes"] == acts


def _prod(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


# --- golden files (plain text, as in a pipe) ---------------------------------------------

@pytest.mark.parametrize("args, name", [
    (["vgg16", "--summary"], "vgg16_summary.txt"),
    (["vgg16"], "vgg16_overview.txt"),
    (["vgg16", "--format", "markdown"], "vgg16.md"),
    (["vgg16", "--format", "csv"], "vgg16.csv"),
    (["vgg16", "--format", "tsv"], "vgg16.tsv"),
    (["vgg16", "--format", "json"], "vgg16.json"),
    (["conv", "128x128x3", "--filters", "32", "--kernel", "3", "--explain"], "conv_explain.txt"),
    (["conv", "224x224x3", "--filters", "64", "--kernel", "7", "--stride", "2", "--padding",
      "same", "--explain"], "conv_same_stride2_explain.txt"),
    (["pool", "5x5x1", "--size", "2", "--padding", "1", "--ceil", "--explain"],
     "pool_ceil_explain.txt"),
])
def test_golden(cli, golden, args, name):
    res = cli(*args)
    assert res.code == 0 and res.err == ""
    assert "\x1b[" not in res.out                     # plain text when not a terminal
    golden(name, res.out)


def test_explain_shows_the_quiz_working(cli):
    out = cli("conv", "128x128x3", "--filters", "32", "--kernel", "3", "--explain").out
    assert "(128 + 2·0 − 3)/1 + 1 = 125 + 1 = 126" in out
    assert "3·3·3·32 + 32 = (3·3·3 + 1)·32 = 896" in out


def test_explain_ceil_mode_drop_regression(cli):
    # regression: the working said "ceil(5/2) + 1 = 3" (the arithmetic was wrong: it is 4, and
    # PyTorch then drops the window that would start in the padding)
    out = cli("pool", "5x5x1", "--size", "2", "--padding", "1", "--ceil", "--explain").out
    assert "ceil(5/2) + 1 = 4 − 1 = 3" in out
    assert "ceil(11/2) + 1 = 7\n" in cli("pool", "13x13x1", "--size", "2", "--ceil",
                                         "--explain").out


# --- cnncalc SPEC: flags ------------------------------------------------------------------

def test_model_word_is_optional(cli):
    assert cli("model", "vgg16", "-q").out == cli("vgg16", "-q").out == "[1000]\n"


def test_quiet(cli):
    res = cli("vgg16", "-q")
    assert (res.code, res.out, res.err) == (0, "[1000]\n", "")


def test_input_override(cli):
    data = json.loads(cli("vgg16", "--input", "32x32x3", "--format", "json").out)
    assert data["input"] == [32, 32, 3]
    pool5 = next(x for x in data["layers"] if x["name"] == "block5_pool")
    assert pool5["output"] == [1, 1, 512]
    # torchvision's adaptive pool makes the classifier's input 7x7x512 at any input size
    fc1 = next(x for x in data["layers"] if x["name"] == "fc1")
    assert fc1["input"] == [25088] and fc1["params"] == 25088 * 4096 + 4096
    assert_clean_error(cli("vgg16", "--input", "32x32"), "--input", "32x32")
    assert_clean_error(cli("vgg16", "--input", "0x32x3"), "positive")


def test_batch_scales_macs_and_activations_only(cli):
    one = json.loads(cli("vgg16", "--format", "json").out)["totals"]
    eight = json.loads(cli("vgg16", "--format", "json", "--batch", "8").out)["totals"]
    assert eight["params"] == one["params"] and eight["param_bytes"] == one["param_bytes"]
    assert eight["macs"] == 8 * one["macs"] and eight["flops"] == 8 * one["flops"]
    assert eight["activation_bytes"] == 8 * one["activation_bytes"]
    assert "MACs (batch 8)" in cli("vgg16", "--batch", "8").out
    assert_clean_error(cli("vgg16", "--batch", "0"), "--batch", "0")
    assert_clean_error(cli("vgg16", "--batch", "x"), "--batch")


FLOORED = "input: 7x7x1\nlayers:\n  - conv: {filters: 2, kernel: 2, stride: 2, name: c}\n"


def test_floor_warning_and_strict(cli, tmp_path):
    p = tmp_path / "f.yaml"
    p.write_text(FLOORED)
    res = cli(str(p))
    assert res.code == 0
    assert res.err_lines == [
        "warning: layer 1 'c' (conv): height and width: (7 + 2·0 − 2)/2 + 1 is not a whole "
        "number; floored to 3, the last 1 row/column of the padded input is never reached "
            "(input pixels are lost)"]
    data = json.loads(cli(str(p), "--format", "json").out)
    assert len(data["warnings"]) == 1 and data["layers"][0]["warnings"]
    res = cli(str(p), "--strict")
    assert_clean_error(res, "f.yaml:3", "layer 1 'c' (conv)", "floored to 3", "--strict")


@pytest.mark.parametrize("text, warned", [
    # on the layer: that layer only
    ("input: 7x7x1\nlayers:\n  - conv: {filters: 2, kernel: 2, stride: 2, floor: ok}\n"
     "  - maxpool: {size: 2, name: p}\n", ["p"]),
    # top level: every layer
    ("input: 7x7x1\nfloor: ok\nlayers:\n  - conv: {filters: 2, kernel: 2, stride: 2}\n"
     "  - maxpool: {size: 2, name: p}\n", []),
    # on a composite: every layer inside, the auto shortcut's strided 1x1 conv included
    ("input: 7x7x2\nlayers:\n  - residual: {floor: ok, shortcut: auto, body: [conv: {filters: 2,"
     " kernel: 2, stride: 2}]}\n  - maxpool: {size: 2, name: p}\n", ["p"]),
    ("input: 7x7x1\nblocks: {b: [maxpool: 2]}\nlayers:\n  - block: {use: b, floor: ok}\n"
     "  - repeat: {times: 1, floor: warn, layers: [maxpool: {size: 2, name: p}]}\n",
     ["repeat_1.0.p"]),
    ("input: 7x7x1\nfloor: warn\nlayers:\n  - maxpool: {size: 2, name: p, floor: warn}\n",
     ["p"]),
])
def test_floor_ok_acknowledges_a_deliberate_floor(cli, tmp_path, text, warned):
    """`floor: ok` (issue 10 item 6): no warning and --strict passes for those layers; floors
    that are not acknowledged still warn and still fail --strict."""
    p = tmp_path / "f.yaml"
    p.write_text(text)
    res = cli(str(p))
    assert res.code == 0
    assert [line.split("'")[1] for line in res.err_lines] == warned
    data = json.loads(cli(str(p), "--format", "json").out)
    assert [w.split("'")[1] for w in data["warnings"]] == warned
    assert [r["path"] for r in data["layers"] if r.get("warnings")] == warned
    res = cli(str(p), "--strict")
    if warned:
        assert_clean_error(res, "f.yaml", f"'{warned[0]}'", "--strict")
    else:
        assert res.code == 0 and not res.err_lines


@pytest.mark.parametrize("value", ["yes", "true", "[ok]"])
def test_floor_takes_ok_or_warn(cli, tmp_path, value):
    for text in (f"input: 7x7x1\nfloor: {value}\nlayers: [relu]\n",
                 f"input: 7x7x1\nlayers: [relu: {{floor: {value}}}]\n",
                 f"input: 7x7x1\nlayers: [repeat: {{times: 1, floor: {value}, layers: [relu]}}]\n"):
        p = tmp_path / "f.yaml"
        p.write_text(text)
        assert_clean_error(cli(str(p)), "f.yaml", "floor must be 'ok'")


def test_depth_collapses_the_tree(cli, tmp_path):
    p = tmp_path / "tree.yaml"
    p.write_text("input: 8x8x4\nlayers:\n  - conv: {filters: 4, kernel: 3, padding: 1}\n"
                 "  - repeat: {name: stage, times: 2, layers: [conv: {filters: 4, kernel: 3, "
                 "padding: 1}, relu]}\n  - flatten\n")
    full = cli(str(p), "--summary").out
    top = cli(str(p), "--summary", "--depth", "0").out
    assert "stage" in top and "flatten_1" in top
    rows = [ln for ln in top.splitlines() if re.match(r"\s*\d*\s+\S", ln)]
    assert len(top.splitlines()) < len(full.splitlines())
    assert rows
    # the group row aggregates its 2 convs: 2 * (3*3*4*4 + 4) = 296 parameters
    stage = next(ln for ln in top.splitlines() if "stage" in ln)
    assert "296" in stage
    # JSON always lists every leaf, whatever the depth
    data = json.loads(cli(str(p), "--format", "json", "--depth", "0").out)
    assert len(data["layers"]) == 1 + 2 * 2 + 1
    assert_clean_error(cli(str(p), "--depth", "-1"), "--depth")


def test_stdin_spec(cli):
    res = cli("-", "--format", "json", stdin="input: 4x4x2\nlayers: [flatten]\n")
    assert res.code == 0 and json.loads(res.out)["output"] == [32]
    res = cli("-", stdin="input: 4x4x2\nlayers: [conv: 0]\n")
    assert_clean_error(res, "<stdin>:2", "layer 1", "filters must be >= 1, got 0")


def test_csv_and_tsv_are_machine_readable(cli, vgg16_json):
    import csv
    import io
    for fmt, delim in (("csv", ","), ("tsv", "\t")):
        rows = list(csv.DictReader(io.StringIO(cli("vgg16", "--format", fmt).out),
                                   delimiter=delim))
        assert [r["name"] for r in rows] == [x["name"] for x in vgg16_json["layers"]]
        assert sum(int(r["params"]) for r in rows) == 138_357_544
        assert sum(int(r["macs"]) for r in rows) == 15_470_264_320


def test_markdown_is_a_table(cli):
    md = cli("vgg16", "--format", "markdown").out
    lines = md.splitlines()
    header = next(i for i, ln in enumerate(lines) if ln.startswith("| #"))
    assert re.fullmatch(r"\|(-{3}:?|---:)(\|(---|---:))+\|", lines[header + 1])
    assert "138,357,544" in md


# --- quick calculators ------------------------------------------------------------------

def test_classic_quiz_on_the_command_line(cli):
    q = ["conv", "128x128x3", "--filters", "32", "--kernel", "3"]
    assert cli(*q, "-q").out == "126x126x32\n"
    assert cli(*q, "--padding", "1", "-q").out == "128x128x32\n"
    assert cli(*q, "--padding", "same", "-q").out == "128x128x32\n"
    obj = json.loads(cli(*q, "--format", "json").out)
    assert (obj["output"], obj["feature_maps"], obj["params"]) == ([126, 126, 32], 32, 896)
    assert obj["weights"] == 864 and obj["biases"] == 32
    obj = json.loads(cli("conv", "224x224x3", "-k", "64", "-f", "3", "-p", "1", "--no-bias",
                         "--format", "json").out)
    assert obj["params"] == 64 * 27 == 1728


def test_conv_options(cli):
    obj = json.loads(cli("conv", "32x32x8", "-k", "16", "-f", "3x5", "--stride", "2,1",
                         "--padding", "1,1,2,2", "--dilation", "2", "--groups", "4",
                         "--format", "json").out)
    # height: (32 + 2 - 5)//2 + 1 = 15; width: (32 + 4 - 9)//1 + 1 = 28
    assert obj["output"] == [15, 28, 16]
    assert obj["weights"] == 3 * 5 * (8 // 4) * 16


def test_pool_options(cli):
    assert cli("pool", "224x224x64", "--size", "2", "-q").out == "112x112x64\n"
    assert cli("pool", "112x112x64", "--size", "3", "--stride", "2", "--padding", "1",
               "-q").out == "56x56x64\n"
    assert cli("pool", "13x13x1", "--size", "2", "--ceil", "-q").out == "7x7x1\n"
    assert cli("pool", "13x13x1", "--size", "2", "-q").out == "6x6x1\n"
    obj = json.loads(cli("pool", "8x8x3", "--size", "2", "--kind", "avg", "--format",
                         "json").out)
    assert obj["type"] == "avgpool" and obj["params"] == 0
    res = cli("pool", "8x8x3", "--size", "2", "--expect", "4x4x3")
    assert res.code == 0 and "✓ output 4x4x3 is right" in res.out
    res = cli("pool", "8x8x3", "--size", "2", "--expect", "4x4x1")
    assert res.code == 1 and "pooling keeps the channel count (3)" in res.out


def test_chaining_in_process(cli):
    first = cli("conv", "224x224x3", "--filters", "64", "--kernel", "3", "--padding", "same",
                "-q")
    assert first.out == "224x224x64\n"
    second = cli("pool", "-", "--size", "2", "-q", stdin=first.out)
    assert (second.code, second.out) == (0, "112x112x64\n")
    third = cli("conv", "-", "--filters", "128", "--kernel", "3", "-p", "1", "-q",
                stdin=second.out)
    assert third.out == "112x112x128\n"
    # the first shape in any text is taken, so a full report can be piped too
    res = cli("pool", "-", "--size", "2", "-q", stdin="output was 28x28x512, fine\n")
    assert res.out == "14x14x512\n"


def test_dash_with_nothing_on_stdin(cli):
    assert_clean_error(cli("conv", "-", "-k", "2", "-f", "3", stdin=""),
                       "no HxWxC shape found on standard input")


@pytest.mark.parametrize("extra, expect_args, hint", [
    ([], ["--expect", "125x125x32"], "forgot the +1"),
    (["--padding", "1"], ["--expect", "126x126x32"], "forgot the padding"),
    (["--stride", "2"], ["--expect", "126x126x32"], "used the wrong stride"),
    ([], ["--expect-params", "320"], "left out the input channels"),
    ([], ["--expect-params", "864"], "left out the biases"),
    ([], ["--expect-params", "288"], "left out the input channels and the biases"),
    ([], ["--expect", "126x126x3"], "one feature map per filter"),
    ([], ["--expect", "128x128x32"], "as if the padding were 'same'"),
    (["--no-bias"], ["--expect-params", "896"], "counted biases that this layer does not have"),
])
def test_expect_hints(cli, extra, expect_args, hint):
    base = ["conv", "128x128x3", "--filters", "32", "--kernel", "3", *extra]
    res = cli(*base, *expect_args)
    assert res.code == 1 and "Traceback" not in res.err
    assert hint in res.out and "✗ expected" in res.out
    # -q: the shape on stdout; on stderr the expected value, the computed one and the likely
    # mistake, one line each
    res = cli(*base, *expect_args, "-q")
    assert res.code == 1 and len(res.err_lines) == 3 and hint in res.err_lines[2]
    assert res.err_lines[0].startswith("✗ expected ") and "computed" in res.err_lines[1]
    # JSON: the check is part of the object
    res = cli(*base, *expect_args, "--format", "json")
    obj = json.loads(res.out)
    assert res.code == 1 and obj["check"]["passed"] is False
    assert any(hint in m for m in obj["check"]["messages"])


@pytest.mark.parametrize("args", [
    ["--expect", "126x126x32"], ["--expect-params", "896"],
    ["--expect", "126x126x32", "--expect-params", "896"],
])
def test_expect_right_answers_exit_0(cli, args):
    res = cli("conv", "128x128x3", "--filters", "32", "--kernel", "3", *args)
    assert res.code == 0 and "✗" not in res.out and "✓" in res.out and res.err == ""
    res = cli("conv", "128x128x3", "--filters", "32", "--kernel", "3", *args, "--format", "json")
    assert res.code == 0 and json.loads(res.out)["check"]["passed"] is True


def test_quick_strict(cli):
    res = cli("conv", "128x128x3", "-k", "32", "-f", "3", "--stride", "2")
    assert res.code == 0 and res.err_lines[0].startswith("warning: ") and \
        "floored to 63" in res.err
    res = cli("conv", "128x128x3", "-k", "32", "-f", "3", "--stride", "2", "-q")
    assert (res.code, res.out, res.err) == (0, "63x63x32\n", "")     # -q: only the shape
    assert_clean_error(cli("conv", "128x128x3", "-k", "32", "-f", "3", "--stride", "2",
                           "--strict"), "floored to 63", "--strict")


# --- list, show, help, version -----------------------------------------------------------

def test_list(cli):
    res = cli("list")
    assert res.code == 0 and res.err == ""
    for name in zoo_names():
        assert re.search(rf"^{name}\s", res.out, re.M), name
    vgg = next(ln for ln in res.out.splitlines() if ln.startswith("vgg16 "))
    assert "224x224x3" in vgg and "138,357,544" in vgg and "15.47 G" in vgg
    data = json.loads(cli("list", "--format", "json").out)
    assert [d["name"] for d in data] == zoo_names()
    vgg16 = next(d for d in data if d["name"] == "vgg16")
    assert (vgg16["params"], vgg16["macs"]) == (138_357_544, 15_470_264_320)
    assert all("error" not in d for d in data), [d for d in data if "error" in d]


def test_show(cli):
    res = cli("show", "vgg16")
    assert res.code == 0
    assert res.out == (ZOO_DIR / "vgg16.yaml").read_text(encoding="utf-8")
    assert "138,357,544" in res.out                     # the header cites the published total
    res = cli("show", "vgg-16")
    assert_clean_error(res, "no built-in model 'vgg-16'", "did you mean 'vgg16'", "vgg19")


def test_shown_spec_round_trips(cli, tmp_path):
    p = tmp_path / "copy.yaml"
    p.write_text(cli("show", "vgg16").out)
    assert cli(str(p), "--format", "json").out.replace('"copy"', '"vgg16"') \
        .replace(str(p), "vgg16 (built-in)") == cli("vgg16", "--format", "json").out


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["model", "--help"], ["conv", "--help"],
                                  ["pool", "--help"], ["list", "--help"], ["show", "--help"],
                                  []])
def test_help(cli, args):
    res = cli(*args)
    assert res.code == 0 and res.err == "" and "Usage:" in res.out
    assert "Example" in res.out


def _commands():
    """Every click command, by the name a user types (``cnncalc SPEC`` is the model command)."""
    from cnncalc.cli import main
    return {("SPEC" if name == "model" else name): cmd for name, cmd in main.commands.items()}


def _flags(cmd) -> set[tuple[str, str]]:
    """(short or "", long) for every option of a command; an option with two long names (pool's
    --size/--kernel) gives a pair for each."""
    pairs = set()
    for p in _options(cmd):
        names = p.opts + p.secondary_opts
        shorts = [n for n in names if not n.startswith("--")]
        longs = [n for n in names if n.startswith("--")]
        assert len(shorts) <= 1, (cmd.name, names)
        pairs |= {(shorts[0] if shorts else "", lo) for lo in longs}
    return pairs


def _options(cmd) -> list[click.Option]:
    """A command's options, --help included."""
    ctx = click.Context(cmd, **(cmd.context_settings or {}))    # -h as the command has it
    return [p for p in cmd.get_params(ctx) if isinstance(p, click.Option)]


def test_a_short_flag_means_one_thing_in_every_command():
    """Issue 7: -s was --summary and --stride, -f --format, --kernel and --size, -d --depth and
    --dilation. Now each short flag has one long name shared by every command that has it (pool's
    -f is --size with the alias --kernel, which is conv's -f)."""
    from cnncalc.cli import main
    longs_of: dict[str, list[set[str]]] = {}
    for cmd in [main, *main.commands.values()]:
        per_cmd: dict[str, set[str]] = {}
        for p in _options(cmd):
            names = p.opts + p.secondary_opts
            for short in (n for n in names if not n.startswith("--")):
                assert short not in per_cmd, f"{cmd.name}: {short} used twice"
                per_cmd[short] = {n for n in names if n.startswith("--")}
        for short, longs in per_cmd.items():
            longs_of.setdefault(short, []).append(longs)
    for short, sets in longs_of.items():
        assert set.intersection(*sets), f"{short} stands for {sets} in different commands"
    # the scheme of the issue (course notation n, f, p, s)
    scheme = {"-f": "--kernel", "-s": "--stride", "-p": "--padding", "-d": "--dilation",
              "-k": "--filters", "-g": "--groups", "-q": "--quiet", "-F": "--format",
              "-S": "--summary", "-i": "--input", "-b": "--batch", "-o": "--save-output",
              "-e": "--explain", "-r": "--run", "-h": "--help"}
    assert set(longs_of) <= set(scheme), set(longs_of) - set(scheme)
    for short, sets in longs_of.items():
        assert scheme[short] in set.intersection(*sets), short
    assert "--depth" not in {lo for sets in longs_of.values() for s in sets for lo in s}


def test_readme_flag_table_lists_every_flag_of_every_command():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    lines = readme.split("## Flags", 1)[1].splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("| Short"))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    columns = header[3:]
    table: dict[str, set[tuple[str, str]]] = {c: set() for c in columns}
    for ln in lines[start + 2:]:
        if not ln.startswith("|"):
            break
        cells = [c.strip() for c in ln.strip().strip("|").split("|")]
        short, long_ = cells[0].strip("`"), cells[1].strip("`")
        for col, mark in zip(columns, cells[3:]):
            if mark == "✓":
                table[col].add((short, long_))
    commands = _commands()
    assert set(columns) == set(commands)
    for name, cmd in commands.items():
        assert table[name] == _flags(cmd), name


@pytest.mark.parametrize("name", sorted(_commands()))
def test_every_command_help_has_examples(cli, name):
    res = cli(*(["model"] if name == "SPEC" else [name]), "--help")
    assert res.code == 0 and "Examples:" in res.out
    examples = res.out.split("Examples:", 1)[1].split("\n\n", 1)[0].splitlines()
    assert sum(ln.strip().startswith("cnncalc ") for ln in examples) >= 2, res.out


@pytest.mark.parametrize("args", [
    ["conv", "32x32x8", "-k", "16", "-f", "3x5", "-s", "2,1", "-p", "1,1,2,2", "-d", "2", "-g",
     "4", "-F", "json"],
    ["conv", "32x32x8", "--filters", "16", "--kernel", "3x5", "--stride", "2,1", "--padding",
     "1,1,2,2", "--dilation", "2", "--groups", "4", "--format", "json"],
])
def test_conv_short_and_long_flags_agree(cli, args):
    obj = json.loads(cli(*args).out)
    assert obj["output"] == [15, 28, 16] and obj["weights"] == 3 * 5 * (8 // 4) * 16


def test_pool_window_flags(cli):
    for window in (["--size", "3"], ["--kernel", "3"], ["-f", "3"]):
        res = cli("pool", "112x112x64", *window, "-s", "2", "-p", "1", "-q")
        assert (res.code, res.out) == (0, "56x56x64\n"), window
    obj = json.loads(cli("pool", "8x8x3", "-f", "2", "-F", "json").out)
    assert obj["output"] == [4, 4, 3]


def test_model_short_flags(cli, tmp_path):
    long = cli("vgg16", "--summary", "--input", "32x32x3", "--batch", "2")
    short = cli("vgg16", "-S", "-i", "32x32x3", "-b", "2")
    assert long.code == 0 and long.out == short.out and "Total params" in short.out
    assert json.loads(cli("vgg16", "-F", "json", "-q").out) == [1000]
    assert json.loads(cli("list", "-F", "json").out)[0]["name"] == zoo_names()[0]
    out = tmp_path / "y.npy"
    res = cli("lenet5", "-r", "-o", str(out), "-q")
    assert (res.code, res.out) == (0, "[10]\n") and out.exists()
    # the old meanings are gone: -s is the stride (not a model option), -d the dilation
    assert_clean_error(cli("vgg16", "-s"), "No such option", "-s")
    assert_clean_error(cli("vgg16", "-d", "1"), "No such option", "-d")
    assert_clean_error(cli("list", "-f", "json"), "No such option", "-f")


def test_version(cli):
    import cnncalc
    res = cli("--version")
    assert res.code == 0 and cnncalc.__version__ in res.out


# --- every error class: exit 2, one line, names file/layer/value, no traceback ----------

ERROR_SPECS = [
    ("syntax", "input: 8x8x1\nlayers:\n  - conv: {filters: 3, kernel: 3\n",
     ["net.yaml:4:", "invalid YAML", "(column 1)"]),
    ("unknown type", "input: 8x8x1\nlayers:\n  - relu\n  - maxpol: 2\n",
     ["net.yaml:4:", "layer 2", "unknown layer type 'maxpol'", "did you mean 'maxpool'"]),
    ("unknown param", "input: 8x8x1\nlayers:\n  - conv: {filters: 3, kernal: 3}\n",
     ["net.yaml:3:", "layer 1 'conv_1' (conv)", "'kernal'", "did you mean 'kernel'"]),
    ("wrong type", "input: 8x8x1\nlayers:\n  - conv: {filters: 3, kernel: 3, stride: fast}\n",
     ["net.yaml:3:", "layer 1 'conv_1' (conv)", "stride must be an integer or [h, w]", "fast"]),
    ("non-positive", "input: 8x8x1\nlayers:\n  - dense: -4\n",
     ["net.yaml:3:", "layer 1 'dense_1' (dense)", "units must be >= 1, got -4"]),
    ("kernel too big", "input: 8x8x1\nlayers:\n  - maxpool: 4\n  - conv: {filters: 1, "
     "kernel: 5, name: late}\n",
     ["net.yaml:4:", "layer 2 'late' (conv)", "kernel 5 is larger than the padded input",
      "2x2x1"]),
    ("output <= 0", "input: 2x2x1\nlayers:\n  - conv_transpose: {filters: 1, kernel: 1, "
     "padding: 2}\n", ["layer 1", "(conv_transpose)", "would be -2"]),
    ("groups", "input: 8x8x6\nlayers:\n  - conv: {filters: 8, kernel: 3, groups: 4}\n",
     ["net.yaml:3:", "layer 1 'conv_1' (conv)", "groups 4 does not divide the 6 input channels"]),
    ("duplicate", "input: 8x8x1\nlayers:\n  - relu: {name: x}\n  - tanh: {name: x}\n",
     ["net.yaml:4:", "layer 2", "duplicate name 'x'"]),
    ("python tag", "input: 8x8x1\nlayers: !!python/object/apply:os.system ['echo PWNED']\n",
     ["net.yaml:2:", "unsupported YAML tag", "never run code"]),
    ("no layers", "input: 8x8x1\n", ["net.yaml", "'layers' is missing"]),
    ("no input", "layers: [relu]\n", ["net.yaml", "no input shape", "--input"]),
    ("bad input", "input: 8 by 8\nlayers: [relu]\n", ["net.yaml", "'8 by 8'"]),
]


@pytest.mark.parametrize("label, text, needles", ERROR_SPECS, ids=[e[0] for e in ERROR_SPECS])
def test_spec_errors(cli, tmp_path, monkeypatch, label, text, needles):
    monkeypatch.chdir(tmp_path)
    Path("net.yaml").write_text(text)
    res = cli("net.yaml", "--summary")
    assert_clean_error(res, *needles)
    assert res.out == ""
    assert "PWNED" not in res.out + res.err


def test_file_errors(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_clean_error(cli("missing.yaml"), "no such file: missing.yaml")
    assert_clean_error(cli(str(tmp_path)), "is a directory")
    Path("bin.yaml").write_bytes(b"\x00\x01\x02binary\x00")
    assert_clean_error(cli("bin.yaml"), "bin.yaml", "not a text file")
    Path("latin.yaml").write_bytes(b"input: 8x8x1 # \xe9\n")
    assert_clean_error(cli("latin.yaml"), "latin.yaml", "not UTF-8")

    Path("locked.yaml").write_text("input: 8x8x1\nlayers: [relu]\n")

    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(Path, "open", denied)
    assert_clean_error(cli("locked.yaml"), "cannot read locked.yaml", "Permission denied")


def test_unknown_zoo_name_lists_the_valid_ones(cli):
    res = cli("vgg-16")
    assert_clean_error(res, "'vgg-16' is neither a file nor a built-in model",
                       "did you mean 'vgg16'")
    for name in zoo_names():
        assert name in res.err


@pytest.mark.parametrize("args, needles", [
    (["conv", "8x8x3", "-k", "2"], ["Missing option '--kernel'"]),
    (["conv", "8x8x3", "-k", "2", "-f", "3", "--bogus"], ["No such option '--bogus'"]),
    (["conv", "8x8", "-k", "2", "-f", "3"], ["INPUT", "'8x8'"]),
    (["conv", "8x8x3", "-k", "0", "-f", "3"], ["filters must be >= 1, got 0"]),
    (["conv", "8x8x3", "-k", "2", "-f", "9"], ["kernel 9 is larger than the padded input"]),
    (["conv", "8x8x3", "-k", "2", "-f", "3", "--groups", "2"], ["groups 2 does not divide"]),
    (["conv", "8x8x3", "-k", "2", "-f", "3", "--padding", "sme"], ["did you mean 'same'"]),
    (["conv", "8x8x3", "-k", "2", "-f", "3", "--stride", "a"], ["--stride", "'a'"]),
    (["conv", "8x8x3", "-k", "2", "-f", "3", "--expect", "6x6"], ["--expect", "'6x6'"]),
    (["conv", "8x8x3", "-k", "2", "-f", "3", "--expect-params", "x"], ["--expect-params"]),
    (["pool", "8x8x3", "--size", "3", "--padding", "same", "--ceil"], ["ceil_mode"]),
    (["pool", "8x8x3", "--size", "2", "--kind", "min"], ["--kind", "'min'"]),
    (["vgg16", "--format", "xml"], ["--format", "'xml'"]),
    (["show"], ["Missing argument"]),
    (["show", "nope"], ["no built-in model 'nope'"]),
])
def test_option_errors(cli, args, needles):
    assert_clean_error(cli(*args), *needles)


# --- the real executable: pipes, terminals, working directory ----------------------------

def test_shell_pipeline(proc):
    exe = " ".join(cnncalc_exe())
    cmd = (f"{exe} conv 224x224x3 --filters 64 --kernel 3 --padding same -q | "
           f"{exe} pool - --size 2 -q")
    out = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stdout, out.stderr) == (0, "112x112x64\n", "")


def test_python_dash_m_and_any_directory(tmp_path):
    out = subprocess.run([sys.executable, "-m", "cnncalc", "vgg16", "-q"], capture_output=True,
                         text=True, cwd=tmp_path, timeout=60)
    assert (out.returncode, out.stdout) == (0, "[1000]\n")


def test_exit_codes_of_the_executable(proc, tmp_path):
    assert proc("vgg16", "-q").code == 0
    assert proc("conv", "8x8x3", "-k", "2", "-f", "3", "--expect", "1x1x1", "-q").code == 1
    res = proc("nonexistent_model_xyz")
    assert res.code == 2 and "Traceback" not in res.err and len(res.err_lines) == 1


def test_broken_pipe_is_quiet():
    exe = " ".join(cnncalc_exe())
    out = subprocess.run(["sh", "-c", f"{exe} vgg16 --summary | head -n 1"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("vgg16")
    assert out.stderr == ""


def _on_pty(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    return run_on_pty(args, env, columns=200, timeout=60)


COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-9]|4[0-9]|9[0-7]|10[0-7])(?:;[0-9;]*)?m")


@pytest.mark.skipif(os.name != "posix", reason="pseudo-terminals are POSIX")
def test_terminal_gets_box_drawing_and_no_color_is_respected():
    code, out = _on_pty(["vgg16", "--summary"], {})
    assert code == 0 and "─" in out and "\x1b[" in out       # rich rendering on a terminal
    code, out = _on_pty(["vgg16", "--summary"], {"NO_COLOR": "1"})
    assert code == 0 and "138,357,544" in out
    assert not COLOUR.search(out)
    # piped: no escape codes and no box drawing at all
    res = subprocess.run(cnncalc_exe() + ["vgg16", "--summary"], capture_output=True,
                         text=True, env={**os.environ, "TERM": "xterm-256color"}, timeout=60)
    assert "\x1b[" not in res.stdout and "─" not in res.stdout


@pytest.mark.skipif(os.name != "posix", reason="pseudo-terminals are POSIX")
def test_terminal_table_prints_names_literally(tmp_path):
    # regression: on a terminal, rich parsed cells as markup, so a layer named "x[/b]y" made
    # `--summary` die with an internal error (exit 70)
    p = tmp_path / "markup.yaml"
    p.write_text('name: "[bold]net"\ninput: 8x8x1\nlayers:\n  - relu: {name: "x[/b]y"}\n'
                 '  - relu: {name: "[red]z"}\n')
    code, out = _on_pty([str(p), "--summary"], {})
    assert code == 0, out
    assert "x[/b]y" in out and "[red]z" in out and "[bold]net" in out


@pytest.mark.parametrize("args, tail", [
    (["128x128x3", "-f", "3", "--stride", "2"], "never reached, all input)"),
    (["32x32x1", "-f", "3", "-d", "2", "-p", "1", "--stride", "2"], "never reached, padding only)"),
    (["11x11x1", "-f", "2", "--stride", "4", "-p", "0,1,0,1"], "never reached, 1 of them input)"),
])
def test_explain_says_whether_input_rows_are_lost(cli, args, tail):
    # regression: --explain called every unreached row an "input row", also when it is padding
    res = cli("conv", *args, "-k", "1", "--explain")
    assert res.code == 0 and tail in res.out and "the last" in res.out


def test_conv_kernel_with_depth_is_checked_against_the_input_channels(cli):
    """A quiz says "32 kernels of 3x3x3" for a 128x128x3 image: the depth is the input's."""
    assert cli("conv", "128x128x3", "--filters", "32", "--kernel", "3x3x3", "-q").out \
        == "126x126x32\n"
    res = cli("conv", "128x128x3", "--filters", "32", "--kernel", "3x3x32")
    assert_clean_error(res, "--kernel 3x3x32", "must equal the 3 input channels", "not 32")
    # grouped: each filter sees C/groups channels
    assert cli("conv", "8x8x4", "-k", "4", "--kernel", "3x3x2", "--groups", "2", "-q").code == 0
    assert_clean_error(cli("conv", "8x8x3", "-k", "2", "--kernel", "abc"),
                       "--kernel must be N or HxW or HxWxC")
