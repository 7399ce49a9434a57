"""Checks of answers (issue 9): `cnncalc SPEC --expect* --at --explain`, the quick commands dense,
deconv and pad, and the named mistakes of cnncalc.mistakes.

Known answers cite their source; dense and the transposed convolution are also compared with
PyTorch (shape and parameter count) when torch is importable.
"""

from __future__ import annotations

import json

import pytest
from conftest import assert_clean_error
from hypothesis import given, settings
from hypothesis import strategies as st

import cnncalc
from cnncalc import mistakes

STACK = ("input: 32x32x3\n"
         "layers: [conv: {filters: 8, kernel: 3, padding: 1, name: c1}, "
         "maxpool: {size: 2, name: p1}, conv: {filters: 16, kernel: 3, padding: 1, name: c2}, "
         "conv: {filters: 16, kernel: 3, stride: 2, padding: 1, name: c3}, flatten, "
         "dense: {units: 10, name: fc}]\n")


def failure(res) -> tuple[str, str, str]:
    """The three lines of a failed check: expected, computed, likely mistake."""
    lines = (res.out + res.err).splitlines()
    i = next(i for i, ln in enumerate(lines) if ln.startswith("✗ expected "))
    return lines[i], lines[i + 1], lines[i + 2]


# --- --at -----------------------------------------------------------------------------------

@pytest.mark.parametrize("at", ["block3_pool", "10"])
def test_at_a_layer_by_name_or_index(cli, at):
    res = cli("vgg16", "--at", at, "--expect", "28x28x256")
    assert res.code == 0 and "✓ output 28x28x256 at layer 10 'block3_pool' is right" in res.out
    assert "At layer 10 'block3_pool' (maxpool): 56x56x256 → 28x28x256" in res.out
    assert cli("vgg16", "--at", at, "-q").out == "28x28x256\n"


def test_at_a_path_and_a_group(cli):
    res = cli("resnet18", "--at", "layer2.0.body.conv_1", "-q")
    assert (res.code, res.out) == (0, "28x28x128\n")
    # a group (a repeat): its output and the sum of its layers' counts (torchvision: 525,568
    # trainable + 1,280 running statistics in layer2)
    res = cli("resnet18", "--at", "layer2", "--expect-params", "526,848", "--expect",
              "28x28x128")
    assert res.code == 0, res.out
    assert "✓ 526,848 parameters at 'layer2' (layers" in res.out
    obj = json.loads(cli("resnet18", "--at", "layer2", "-F", "json").out)
    assert obj["at"]["kind"] == "repeat" and obj["at"]["params"] == 526_848


def test_unknown_at_lists_the_nearest_names(cli):
    assert_clean_error(cli("vgg16", "--at", "blok3_pool", "--expect", "1x1x1"),
                       "--at blok3_pool: no layer or group of that name; nearest: block3_pool")
    assert_clean_error(cli("vgg16", "--at", "99"), "there is no layer 99", "1-25")
    # a name used by several layers: the paths are listed
    assert_clean_error(cli("resnet18", "--at", "conv_1"), "layers are called 'conv_1'",
                       "layer1.0.body.conv_1", "give a path or an index")


# --- several checks, all checked ------------------------------------------------------------

def test_several_expects_are_all_checked(cli):
    res = cli("vgg16", "--expect", "[1000]", "--expect-params", "138,357,544",
              "--expect-trainable", "138357544", "--expect-macs", "15.47G", "--expect-rf", "212")
    # 15.47G is exactly 15,470,000,000: wrong, and named as a rounding
    assert res.code == 1
    assert "✓ output [1000] is right" in res.out and "✓ 138,357,544 parameters is right" in res.out
    assert "✓ 138,357,544 trainable parameters is right" in res.out
    assert "✓ receptive field 212x212 is right" in res.out
    exp, got, why = failure(res)
    assert exp == "✗ expected 15,470,000,000 MACs (15.47G)"
    assert got == "  computed 15,470,264,320 MACs"
    assert why.startswith("  likely mistake: rounded: 15.47G is exactly 15,470,000,000")
    res = cli("vgg16", "--expect-macs", "15,470,264,320", "--expect-rf", "212x212")
    assert res.code == 0 and res.out.count("✓") == 2


def test_checks_in_json_and_quiet_and_csv(cli):
    res = cli("vgg16", "--expect-params", "138,344,128", "-F", "json")
    obj = json.loads(res.out)
    assert res.code == 1 and obj["check"]["passed"] is False
    (c,) = obj["check"]["checks"]
    assert (c["quantity"], c["expected"], c["computed"], c["named"]) == (
        "params", 138_344_128, 138_357_544, True)
    assert "left out the biases" in c["mistakes"][0]
    assert len(res.err_lines) == 3 and res.err_lines[0].startswith("✗ expected")
    res = cli("vgg16", "--expect", "[100]", "-q")
    assert (res.code, res.out) == (1, "[1000]\n") and len(res.err_lines) == 3
    res = cli("vgg16", "--expect", "[1000]", "-F", "csv")
    assert res.code == 0 and "✓" not in res.out


# --- the named mistakes on a whole network ---------------------------------------------------

@pytest.mark.parametrize("args, answer, hint", [
    # biases forgotten in every layer (CS231n's VGG table counts weights only: 138,344,128)
    (["--expect-params"], "138,344,128", "left out the biases (in all 16 layers that have it)"),
    # the wrong layer counted
    (["--at", "block3_pool", "--expect"], "56x56x256",
     "that is the output of layer 9 'block3_conv3' (conv) (the layer before)"),
    (["--at", "fc2", "--expect-params"], "102,764,544",
     "that is the parameter count of layer 21 'fc1'"),
    # a total stopped early, or missing one layer
    (["--expect-params"], "134,260,544", "stopped counting at layer 23 'fc2'"),
    (["--expect-params"], "35,593,000", "left out layer 21 'fc1'"),
    # FLOPs for MACs
    (["--expect-macs"], "30,940,528,640", "gave FLOPs (2 × MACs)"),
])
def test_named_mistakes_on_vgg16(cli, args, answer, hint):
    res = cli("vgg16", *args, answer)
    assert res.code == 1 and hint in failure(res)[2], failure(res)


def test_padding_ignored_and_stride_applied_twice_in_a_stack(cli):
    # padding ignored everywhere: 32 → 30 → 15 → 13 → 7 (c3: (13 − 3)/2 + 1 = 6)
    res = cli("-", "--at", "c3", "--expect", "6x6x16", stdin=STACK)
    assert "ignored the padding (in all 3 layers that have it)" in failure(res)[2]
    # the stride of c3 applied twice: 16 → 4
    res = cli("-", "--at", "c3", "--expect", "4x4x16", stdin=STACK)
    assert "applied the stride twice" in failure(res)[2]


def test_receptive_field_mistakes(cli):
    # c1 (3), p1 (2, stride 2), c2 (3), c3 (3, stride 2): rf 1 + 2 + 1 + 2·2 + 2·2 = 12
    res = cli("-", "--at", "c3", "--expect-rf", "12", stdin=STACK)
    assert res.code == 0, res.out
    for answer, hint in [("11", "summed the kernel sizes instead of compounding them"),
                         ("8", "forgot the jump after layer 2 'p1' (maxpool, stride 2)"),
                         ("17", "includes the layer's own stride"),
                         ("4", "that is the receptive field of layer 2 'p1'")]:
        res = cli("-", "--at", "c3", "--expect-rf", answer, stdin=STACK)
        assert res.code == 1 and hint in failure(res)[2], (answer, failure(res))


def test_trainable_and_non_trainable(cli):
    # ResNet-18: 11,689,512 trainable (torchvision), 11,699,112 with the running statistics
    res = cli("resnet18", "--expect-params", "11,689,512")
    assert "left out the non-trainable values" in failure(res)[2]
    res = cli("resnet18", "--expect-trainable", "11,699,112")
    assert "counted the non-trainable values" in failure(res)[2]
    assert cli("resnet18", "--expect-trainable", "11,689,512").code == 0


def test_dilation_ignored_and_ceil_for_floor_in_a_network(cli):
    spec = ("input: 34x34x1\nlayers: [conv: {filters: 4, kernel: 3, dilation: 2}, "
            "maxpool: 2]\n")
    # 34 → 30 → 15; the dilation ignored: 32 → 16
    res = cli("-", "--expect", "16x16x4", stdin=spec)
    assert "ignored the dilation (f instead of d·(f − 1) + 1), in layer 1 'conv_1' (conv)" in \
        failure(res)[2]
    # ceil where floor applies, in the last layer: 7/2 → 4
    spec = "input: 9x9x1\nlayers: [conv: {filters: 4, kernel: 3}, maxpool: 2]\n"     # 7 → 3
    res = cli("-", "--expect", "4x4x4", stdin=spec)
    assert "used ceil where floor applies" in failure(res)[2]


def test_a_receptive_field_needs_a_feature_map(cli):
    assert_clean_error(cli("lenet5", "--at", "flatten_1", "--expect-rf", "3"),
                       "layer 6 'flatten_1' outputs a vector, not a feature map")
    assert_clean_error(cli("-", "--expect-rf", "3", stdin="input: [10]\nlayers: [dense: 5]\n"),
                       "has no feature map larger than 1x1")


def test_an_unknown_mistake_says_so_and_points_to_explain(cli):
    res = cli("vgg16", "--expect-params", "12345")
    assert res.code == 1
    assert "none of the mistakes cnncalc knows gives this answer; see --explain" in \
        failure(res)[2]


def test_explain_on_a_model_shows_every_layers_working(cli):
    res = cli("lenet5", "--explain")
    assert res.code == 0
    out = res.out
    assert "1. C1 (conv): 32x32x1 → 28x28x6" in out
    assert "params = 5·5·1·6 + 6 = (5·5·1 + 1)·6 = 156" in out
    assert "params = 120·84 + 84 = (120 + 1)·84 = 10,164  (one bias per unit)" in out
    assert "receptive field = rf_in + (f − 1)·jump_in = 1 + 4·1 = 5" in out
    # --at stops the working there, and sums the receptive field along the path
    res = cli("lenet5", "--explain", "--at", "4")
    assert "5. " not in res.out and "4. " in res.out
    assert "receptive field at S4: rf = 1 + Σ (f − 1)·jump" in res.out
    assert "1 + 4·1 + 1·1 + 4·2 + 1·2 = 16" in res.out
    obj = json.loads(cli("lenet5", "--explain", "-F", "json").out)
    assert any("48,120" in ln for ln in obj["working"])


def test_quick_command_and_model_agree(cli):
    """The same layer asked two ways gives the same check."""
    quick = cli("conv", "32x32x3", "-k", "16", "-f", "5", "--expect-params", "1,200")
    spec = "input: 32x32x3\nlayers: [conv: {filters: 16, kernel: 5}]\n"
    model = cli("-", "--expect-params", "1,200", stdin=spec)
    assert failure(quick)[2] == failure(model)[2]
    assert "left out the biases" in failure(quick)[2]


# --- dense, deconv, pad -----------------------------------------------------------------------

def test_dense_ng_week_1(cli):
    """deeplearning.ai course 4, week 1 quiz: 300x300x3 → 100 units = 27,000,100."""
    res = cli("dense", "300x300x3", "--units", "100", "--expect-params", "27,000,100")
    assert res.code == 0 and "✓ 27,000,100 parameters is right" in res.out
    res = cli("dense", "300x300x3", "--units", "100", "--expect-params", "27,000,001")
    assert "bias per unit, not per input" in failure(res)[2]
    obj = json.loads(cli("dense", "[400]", "--units", "120", "-F", "json").out)
    assert (obj["output"], obj["params"], obj["macs"]) == ([120], 48_120, 48_000)
    assert cli("dense", "[400]", "--units", "120", "--no-bias", "-F", "json").out.count(
        '"params": 48000') == 1
    res = cli("dense", "300x300x3", "--units", "100", "--explain")
    assert "flatten: 300·300·3 = 270,000 values" in res.out
    assert "params = 270,000·100 + 100 = (270,000 + 1)·100 = 27,000,100" in res.out


@pytest.mark.parametrize("args, out", [
    # Dumoulin & Visin, relationships 8-14 (figures 4.1-4.7)
    (["2x2x1", "-k", "1", "-f", "3"], "4x4x1"),
    (["6x6x1", "-k", "1", "-f", "4", "-p", "2"], "5x5x1"),
    (["5x5x1", "-k", "1", "-f", "3", "-p", "1"], "5x5x1"),
    (["7x7x1", "-k", "1", "-f", "3", "-p", "2"], "5x5x1"),
    (["2x2x1", "-k", "1", "-f", "3", "-s", "2"], "5x5x1"),
    (["3x3x1", "-k", "1", "-f", "3", "-s", "2", "-p", "1"], "5x5x1"),
    (["3x3x1", "-k", "1", "-f", "3", "-s", "2", "-p", "1", "--output-padding", "1"], "6x6x1"),
])
def test_deconv_dumoulin_visin(cli, args, out):
    res = cli("deconv", *args, "-q")
    assert (res.code, res.out) == (0, out + "\n")


def test_deconv_output_padding_must_be_below_the_stride(cli):
    assert_clean_error(cli("deconv", "3x3x1", "-k", "1", "-f", "3", "-s", "2",
                           "--output-padding", "2"),
                       "output_padding 2 must be smaller than the stride or the dilation (2)")
    assert_clean_error(cli("deconv", "3x3x1", "-k", "1", "-f", "3", "--output-padding", "1"),
                       "output_padding 1 must be smaller")
    res = cli("deconv", "3x3x1", "-k", "1", "-f", "3", "-s", "2", "-p", "1", "--output-padding",
              "1", "--expect", "5x5x1")
    assert "forgot the output padding" in failure(res)[2]
    res = cli("deconv", "3x3x1", "-k", "1", "-f", "3", "-s", "2", "-p", "1", "--explain")
    assert "(3 − 1)·2 − 2·1 + (3 − 1) + 0 + 1 = 5" in res.out


def test_pad(cli):
    """deeplearning.ai course 4, week 1 quiz: 15x15x8 with pad 2 → 19x19x8."""
    res = cli("pad", "15x15x8", "--padding", "2", "--expect", "19x19x8")
    assert res.code == 0
    res = cli("pad", "15x15x8", "-p", "2", "--expect", "17x17x8")
    assert "padded one side only" in failure(res)[2]
    assert cli("pad", "15x15x8", "-p", "1,2,3,4", "-q").out == "18x22x8\n"
    assert_clean_error(cli("pad", "15x15x8", "-p", "same"), "--padding of pad must be a number")
    obj = json.loads(cli("pad", "15x15x8", "-p", "2", "-F", "json").out)
    assert obj["output"] == [19, 19, 8] and obj["params"] == 0


@pytest.mark.parametrize("args, needle", [
    (["dense", "300x300x3"], "Missing option '--units'"),
    (["dense", "300x300x3", "--units", "0"], "--units"),
    (["deconv", "3x3x1", "-k", "1", "-f", "3", "-p", "full"], "padding of conv_transpose"),
    (["deconv", "[10]", "-k", "1", "-f", "3"], "needs an HxWxC input"),
    (["pad", "[10]", "-p", "1"], "needs an HxWxC input"),
])
def test_quick_command_errors(cli, args, needle):
    assert_clean_error(cli(*args), needle)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 9), c=st.integers(1, 4), k=st.integers(1, 4), f=st.integers(1, 5),
       s=st.integers(1, 3), p=st.integers(0, 3), d=st.integers(1, 3), a=st.integers(0, 2),
       bias=st.booleans())
def test_deconv_against_torch(torch, n, c, k, f, s, p, d, a, bias):
    if a >= max(s, d):
        return
    out = (n - 1) * s - 2 * p + d * (f - 1) + a + 1
    args = ["deconv", f"{n}x{n}x{c}", "-k", str(k), "-f", str(f), "-s", str(s), "-p", str(p),
            "-d", str(d), "--output-padding", str(a), "-F", "json"] + ([] if bias else
                                                                        ["--no-bias"])
    from conftest import invoke
    res = invoke(*args)
    if out <= 0:
        assert res.code == 2
        return
    m = torch.nn.ConvTranspose2d(c, k, f, stride=s, padding=p, output_padding=a, dilation=d,
                                 bias=bias)
    y = m(torch.zeros(1, c, n, n))
    obj = json.loads(res.out)
    assert obj["output"] == [y.shape[2], y.shape[3], y.shape[1]]
    assert obj["params"] == sum(q.numel() for q in m.parameters())


@pytest.mark.parametrize("shape, units", [((300, 300, 3), 100), ((7, 7, 512), 4096), ((400,), 120)])
def test_dense_against_torch(torch, cli, shape, units):
    n = 1
    for d in shape:
        n *= d
    m = torch.nn.Linear(n, units, device="meta")      # counted, not allocated
    obj = json.loads(cli("dense", "x".join(map(str, shape)) if len(shape) == 3 else
                         f"[{shape[0]}]", "--units", str(units), "-F", "json").out)
    assert obj["params"] == sum(q.numel() for q in m.parameters())


# --- the library ------------------------------------------------------------------------------

def test_every_distractor_is_named_by_the_check():
    model = cnncalc.loads(STACK)
    a = cnncalc.analyse(model)
    for at in ("c1", "p1", "c3"):
        t = mistakes.resolve_at(a, at)
        for quantity in ("output", "params", "rf"):
            for label, v in mistakes.alternatives(model, a, t, quantity):
                d = mistakes.diagnose(model, a, t, quantity, v)
                assert d.named and label in d.mistakes, (at, quantity, label, v, d)


def test_the_readme_quiz_section_shows_real_output(cli):
    from conftest import ROOT
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Quiz questions, asked directly", 1)[1].split("\n### ", 1)[0]
    blocks = [b.split("```", 1)[0] for b in section.split("```text\n")[1:]]
    assert len(blocks) == 5
    for block in blocks:
        for command in block.split("$ cnncalc ")[1:]:
            args, _, shown = command.partition("\n")
            res = cli(*args.split())
            printed = (res.out + res.err).splitlines()
            for line in shown.splitlines():
                if line != "…":
                    assert line in printed, (args, line)
