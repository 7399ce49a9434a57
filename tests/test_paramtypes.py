"""The command line's parameter types (issue 7, item 3): one parser and one error message per
kind of value — shapes, kernels, window pairs, padding and memory sizes."""

from __future__ import annotations

import click
import pytest
from conftest import assert_clean_error

from cnncalc.paramtypes import (ANSWER_SHAPE, COUNT, KERNEL, PADDING, PAIR, RF, SHAPE, SIZE,
                                Invalid, Kernel, Shape, Unknown, parse_size)

OPT = click.Option(["--value", "-v"])


def message(kind: click.ParamType, text: str) -> str:
    """The one-line error a parameter type gives for ``--value TEXT``."""
    with pytest.raises(Invalid) as info:
        kind.convert(text, OPT, None)
    return info.value.format_message()


@pytest.mark.parametrize("text, shape", [
    ("224x224x3", (224, 224, 3)), ("224X224x3", (224, 224, 3)), ("224×224×3", (224, 224, 3)),
    ("224 x 224 x 3", (224, 224, 3)), ("224,224,3", (224, 224, 3)), ("[4096]", (4096,)),
    ("4096", (4096,)), ("[32, 32, 3]", (32, 32, 3)),
])
def test_shape_forms(text, shape):
    assert SHAPE.convert(text, OPT, None) == shape


@pytest.mark.parametrize("text", ["224x224", "0x4x4", "-8x8x1", "8.5x8x1", "abc", "", "1x2x3x4",
                                  "auto", "-"])
def test_shape_errors_have_one_message(text):
    assert message(SHAPE, text) == (
        f"--value must be HxWxC or [N] (positive integers, e.g. 224x224x3 or [4096]), "
        f"got {text!r}")


def test_shape_words_and_stdin_are_opt_in():
    assert Shape(words=("auto",)).convert("AUTO", OPT, None) == "auto"
    assert message(Shape(words=("auto",)), "32x32").endswith(" or auto, got '32x32'")
    assert message(Shape(stdin=True), "x").endswith(
        " or - (the first shape on standard input), got 'x'")


@pytest.mark.parametrize("text, kernel", [
    ("3", Kernel(3, None)), ("1x7", Kernel([1, 7], None)), ("3x3x3", Kernel([3, 3], 3)),
    ("5×5×64", Kernel([5, 5], 64)), ("3,1", Kernel([3, 1], None)),
])
def test_kernel_forms(text, kernel):
    assert KERNEL.convert(text, OPT, None) == kernel


@pytest.mark.parametrize("text", ["abc", "", "3x3x3x3", "3.5", "3xa"])
def test_kernel_errors(text):
    assert message(KERNEL, text) == (
        f"--value must be N or HxW or HxWxC (e.g. 3, 1x7 or 3x3x3), got {text!r}")


@pytest.mark.parametrize("text, value", [("2", 2), ("2x1", [2, 1]), ("2,1", [2, 1]),
                                         ("[2, 2]", [2, 2])])
def test_pair_forms(text, value):
    assert PAIR.convert(text, OPT, None) == value


@pytest.mark.parametrize("text", ["a", "2x2x2", "", "1.5"])
def test_pair_errors(text):
    assert message(PAIR, text) == f"--value must be N or HxW (e.g. 2 or 2x1), got {text!r}"


@pytest.mark.parametrize("text, value", [("1", 1), ("1x2", [1, 2]), ("0,1,0,1", [0, 1, 0, 1]),
                                         ("same", "same"), ("VALID", "valid"), (" full ", "full")])
def test_padding_forms(text, value):
    assert PADDING.convert(text, OPT, None) == value


@pytest.mark.parametrize("text, tail", [("sme", " (did you mean 'same'?)"), ("1,2,3", ""),
                                        ("x", ""), ("1.5", "")])
def test_padding_errors(text, tail):
    assert message(PADDING, text) == (
        f"--value must be N, HxW, T,B,L,R, same, valid or full (e.g. 1, 1x2, 0,1,0,1 or same), "
        f"got {text!r}{tail}")


@pytest.mark.parametrize("text, size", [
    ("1.5G", 3 * 2 ** 29), ("800MiB", 800 * 2 ** 20), ("8000MB", 8 * 10 ** 9), ("8e9", 8 * 10 ** 9),
    ("1000", 1000), ("3 GB", 3 * 10 ** 9), ("2g", 2 ** 31), ("500M", 500 * 2 ** 20),
    ("1.5GiB", 3 * 2 ** 29), (".5K", 512), ("1E3k", 1_024_000), ("64b", 64),
    ("1e999999999", 2 ** 63),                  # "no limit", without building a huge integer
])
def test_size_forms(text, size):
    assert parse_size(text) == size == SIZE.convert(text, OPT, None)


@pytest.mark.parametrize("text", ["", "lots", "-1G", "0", "0.0001", "5X", "1e-9", "nan", "inf",
                                  "0e999999999", "G"])
def test_size_errors(text):
    assert parse_size(text) is None
    assert message(SIZE, text) == (
        f"--value must be a size like 2G, 1.5GiB, 800MiB, 8000MB or 8e9 bytes, above 0 (K, M, G "
        f"and KiB, MiB, GiB count 1024s; KB, MB, GB count 1000s), got {text!r}")


@pytest.mark.parametrize("args, needles", [
    (["conv", "224X224x3", "-k", "8", "-f", "3", "-q"], None),
    (["conv", "224×224×3", "-k", "8", "-f", "3", "-q"], None),
    (["conv", "8x8x3", "-k", "2", "-f", "3x3x4"], ["--kernel 3x3x4", "3 input channels"]),
    (["conv", "8x8x3", "-k", "2", "-f", "3", "--dilation", "1x2x3"],
     ["--dilation must be N or HxW (e.g. 2 or 2x1), got '1x2x3'"]),
    (["pool", "8x8x3", "--size", "3x3x3"], ["--size must be N or HxW (e.g. 2 or 2x1)", "'3x3x3'"]),
    (["pool", "8x8x3", "--size", "2", "--expect", "4x4"],
     ["--expect must be an output shape such as 5x5x16", "'4x4'"]),
    (["vgg16", "--input", "[4096]", "-q"], ["layer 1", "conv"]),
    (["vgg16", "--run", "--max-memory", "8e9x"], ["--max-memory must be a size like 2G", "8e9x"]),
])
def test_cli_uses_the_types(cli, args, needles):
    res = cli(*args)
    if needles is None:
        assert (res.code, res.out, res.err) == (0, "222x222x8\n", "")
    else:
        assert_clean_error(res, *needles)


def test_max_memory_accepts_every_size_form(cli):
    for text in ("8e9", "8000MB", "1.5G", "800MiB", "1000000000"):
        res = cli("lenet5", "--run", "--max-memory", text, "-q")
        assert (res.code, res.out) == (0, "[10]\n"), (text, res.err)


# --- answers as people write them (issue 9, item 2) -------------------------------------------

@pytest.mark.parametrize("text, shape", [
    ("5x5x16", (5, 5, 16)), ("5×5×16", (5, 5, 16)), ("5X5X16", (5, 5, 16)),
    ("(5, 5, 16)", (5, 5, 16)), ("5, 5, 16", (5, 5, 16)), ("[5, 5, 16]", (5, 5, 16)),
    ("5 x 5 x 16", (5, 5, 16)), ("5 5 16", (5, 5, 16)), ("[100]", (100,)), ("(100,)", (100,)),
    ("100", (100,)), (" 19x19x8 ", (19, 19, 8)),
])
def test_answer_shapes_as_people_write_them(text, shape):
    assert ANSWER_SHAPE.convert(text, OPT, None) == shape


@pytest.mark.parametrize("text", ["5x5", "(5, 5, 16", "5x5x16)", "[5, 5, 16)", "0x5x5", "abc", "",
                                  "5x5x16x2", "5.5x5x16", "-5x5x16", "5" * 200])
def test_malformed_answer_shapes_say_the_format(text):
    msg = message(ANSWER_SHAPE, text)
    assert msg.startswith("--value must be an output shape such as 5x5x16, 5×5×16, (5, 5, 16), "
                          "5, 5, 16 or [100]"), msg


@pytest.mark.parametrize("text, value, unit, decimals", [
    ("27000100", 27_000_100, 1, 0), ("27,000,100", 27_000_100, 1, 0),
    ("27 000 100", 27_000_100, 1, 0), ("27\u202f000\u202f100", 27_000_100, 1, 0),
    ("27_000_100", 27_000_100, 1, 0), ("27'000'100", 27_000_100, 1, 0),
    ("27.0M", 27_000_000, 10 ** 6, 1), ("7.6k", 7_600, 10 ** 3, 1), ("15.47G", 15_470_000_000,
                                                                      10 ** 9, 2),
    ("1.2B", 1_200_000_000, 10 ** 9, 1), ("2.7e7", 27_000_000, 10 ** 7, 1), ("0", 0, 1, 0),
])
def test_counts_as_people_write_them(text, value, unit, decimals):
    c = COUNT.convert(text, OPT, None)
    assert (c.value, c.text, c.unit, c.decimals) == (value, text, unit, decimals)


def test_a_count_with_a_unit_is_exact_and_knows_its_rounding():
    c = COUNT.convert("27.0M", OPT, None)
    assert c.value == 27_000_000            # exactly, so 27.0M is not 27,000,100 ...
    assert c.rounds(27_000_100)             # ... but it is 27,000,100 rounded that way
    assert not c.rounds(27_100_000)
    assert not COUNT.convert("27000100", OPT, None).rounds(27_000_101)


@pytest.mark.parametrize("text, extra", [
    ("1.5", ""), ("27,00,100", ""), ("1,2345", ""),
    ("27.00001k", " (27.00001k is not a whole number)"),
    ("1.23e1", " (1.23e1 is not a whole number)"), ("-5", ""), ("five", ""), ("", ""),
    ("12 345 67", ""), ("1e999", ""),
])
def test_malformed_counts_say_the_format(text, extra):
    assert message(COUNT, text) == (
        f"--value must be a whole number such as 27000100, 27,000,100, 27 000 100, 27.0M or "
        f"2.7e7 (k, M, G/B, T and e only where the value is a whole number), got {text!r}{extra}")


@pytest.mark.parametrize("text, rf", [("7", (7, 7)), ("7x7", (7, 7)), ("7×5", (7, 5)),
                                      ("(7, 7)", (7, 7)), ("212", (212, 212))])
def test_receptive_fields(text, rf):
    assert RF.convert(text, OPT, None) == rf


@pytest.mark.parametrize("text", ["0", "7x", "seven", "7x7x7", ""])
def test_malformed_receptive_fields(text):
    assert message(RF, text).startswith("--value must be a receptive field such as 7 or 7x7")


@pytest.mark.parametrize("text, value", [("3", 3), ("any", None), ("ANY", None), ("?", None)])
def test_unknowns_for_solve(text, value):
    assert Unknown(1).convert(text, OPT, None) == value


@pytest.mark.parametrize("text", ["0", "-1", "x", "3.5", ""])
def test_malformed_unknowns(text):
    assert message(Unknown(1), text) == (
        f"--value must be a whole number >= 1 or any (e.g. 3 or any), got {text!r}")


@pytest.mark.parametrize("args, needles", [
    (["dense", "300x300x3", "--units", "100", "--expect-params", "27.0000001M"],
     ["--expect-params must be a whole number such as 27000100", "27.0000001M",
      "is not a whole number"]),
    (["conv", "8x8x3", "-k", "2", "-f", "3", "--expect", "(6, 6"],
     ["--expect must be an output shape such as 5x5x16", "'(6, 6'"]),
    (["vgg16", "--expect-rf", "big"], ["--expect-rf must be a receptive field such as 7"]),
    (["vgg16", "--expect-macs", "15.47 GFLOPs"], ["--expect-macs must be a whole number"]),
    (["solve", "8x8x3", "--to", "8x8x3", "--kernel", "three"],
     ["--kernel must be a whole number >= 1 or any"]),
])
def test_malformed_answers_exit_2_with_the_format(cli, args, needles):
    assert_clean_error(cli(*args), *needles)


@pytest.mark.parametrize("answer", ["27,000,100", "27 000 100", "27000100", "27_000_100"])
def test_every_spelling_of_the_right_count_passes(cli, answer):
    res = cli("dense", "300x300x3", "--units", "100", "--expect-params", answer)
    assert res.code == 0 and "✓ 27,000,100 parameters is right" in res.out


@pytest.mark.parametrize("answer", ["5x5x16", "5×5×16", "(5, 5, 16)", "5, 5, 16", "[5, 5, 16]"])
def test_every_spelling_of_the_right_shape_passes(cli, answer):
    res = cli("pool", "10x10x16", "-f", "2", "--expect", answer)
    assert res.code == 0 and "✓ output 5x5x16 is right" in res.out
