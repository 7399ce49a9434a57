"""The command line's parameter types (issue 7, item 3): one parser and one error message per
kind of value — shapes, kernels, window pairs, padding and memory sizes."""

from __future__ import annotations

import click
import pytest
from conftest import assert_clean_error

from cnncalc.paramtypes import (KERNEL, PADDING, PAIR, SHAPE, SIZE, Invalid, Kernel, Shape,
                                parse_size)

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
    (["pool", "8x8x3", "--size", "2", "--expect", "4x4"], ["--expect must be HxWxC or [N]",
                                                           "'4x4'"]),
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
