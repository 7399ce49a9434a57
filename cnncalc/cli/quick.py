"""The quick calculators: conv, pool, dense, deconv and pad, each with --explain and checks."""

from __future__ import annotations

from typing import Any

import click

from ..errors import CheckFailed, CnnCalcError
from ..paramtypes import (ANSWER_SHAPE, COUNT, KERNEL, PADDING, PAIR, Count, Kernel,
                          Shape)

from .common import CONTEXT, Answers, _check_json, _check_report, main, out


# --- quick calculators ---------------------------------------------------------------------------

def _quick(type_: str, shape: tuple[int, ...], params: dict, strict: bool,
           before: list[tuple[str, dict]] | None = None):
    """One layer (after the ``before`` layers, e.g. a flatten) on ``shape``: its record, the
    model and the analysis."""
    from ..analysis import analyse
    from ..spec import build

    layers = [{kind: {"name": kind, **{k: v for k, v in values.items() if v is not None}}}
              for kind, values in [*(before or []), (type_, params)]]
    model = build({"name": type_, "layers": layers}, "<command line>", type_, shape)
    a = analyse(model, shape, strict=strict)
    return a.layers[-1], model, a


def _finish_quick(rec, explain: bool, fmt: str, quiet: bool, answers: Answers,
                  summary: str, model=None, a=None) -> None:
    from .. import explain as ex
    from ..mistakes import Target
    from ..report import commas, dumps, fnum, layer_json

    checks = answers.check(model, a, Target("layer", rec, None, rec.index, rec.index)) \
        if answers and a is not None else []
    ok, bad = _check_report(checks, where=False)
    if quiet:
        out(ex.fmt_shape(rec.output))
    elif fmt == "json":
        obj = layer_json(rec)
        if checks:
            obj["check"] = _check_json(checks)
        out(dumps(obj))
    else:
        out(summary)
        f = rec.field
        rows = [("feature maps" if len(rec.output) == 3 else "outputs",
                 f"{commas(rec.feature_maps)}"),
                ("params", f"{commas(rec.params)}" + (
                    f"  (weights {commas(rec.weights)} + biases {commas(rec.biases)})"
                    if rec.biases else "")),
                ("MACs", commas(rec.macs))]
        if len(rec.output) == 3 and (f.rf_h, f.rf_w, f.jump_h, f.jump_w) != (1, 1, 1, 1):
            rows.append(("receptive field", f"{fnum(f.rf_h)}x{fnum(f.rf_w)}"))
        if not explain:
            for k, v in rows:
                out(f"  {k:<16} {v}")
        else:
            out()
            for r in (a.layers if a is not None else [rec]):
                for line in ex.working(r):
                    out(("  " + line) if line else "")
        for r in (a.layers if a is not None else [rec]):
            for w in r.warnings:
                out(f"warning: {w}", err=True)
        for line in ok + bad:
            out(line)
    if bad:
        if quiet or fmt == "json":
            for line in bad:
                out(line, err=True)
        raise CheckFailed()


_COMMON_QUICK = [
    click.option("--stride", "-s", type=PAIR, help="Stride (default 1; pools: the size)."),
    click.option("--padding", "-p", type=PADDING, help="Padding: N, HxW, T,B,L,R, same, valid, "
                                                        "full (default 0)."),
    click.option("--explain", "-e", is_flag=True, help="Show the working with the numbers."),
    click.option("--expect", type=ANSWER_SHAPE, metavar="HxWxC",
                 help="Check an answer (5x5x16, (5, 5, 16), ...): exit 1 with the likely "
                      "mistake if wrong."),
    click.option("--format", "-F", "fmt", type=click.Choice(["text", "json"]), default="text",
                 show_default=True, help="Output format."),
    click.option("--strict", is_flag=True, help="Make a floored output size an error."),
    click.option("--quiet", "-q", is_flag=True, help="Print only the output shape (for pipes)."),
]


def _common(f):
    for opt in reversed(_COMMON_QUICK):
        f = opt(f)
    return f


_EXPECT_PARAMS = click.option("--expect-params", type=COUNT, metavar="N",
                              help="Check a parameter count (27,000,100, 27 000 100, 27.0M).")
_EXPECT_MACS = click.option("--expect-macs", type=COUNT, metavar="N",
                            help="Check a MAC (multiply-accumulate) count.")


@main.command("conv", context_settings=CONTEXT)
@click.argument("input_", metavar="INPUT", type=Shape(stdin=True))
@click.option("--filters", "-k", "filters", type=int, required=True,
              help="Number of filters (kernels) = output feature maps.")
@click.option("--kernel", "-f", "kernel", required=True, type=KERNEL,
              help="Kernel size f; a quiz's 3x3x3 (with the depth) is accepted and checked.")
@click.option("--dilation", "-d", type=PAIR, help="Dilation (default 1).")
@click.option("--groups", "-g", type=int, help="Groups (default 1; = channels for depthwise).")
@click.option("--no-bias", is_flag=True, help="No bias terms.")
@_EXPECT_PARAMS
@_EXPECT_MACS
@_common
def conv_cmd(input_: tuple[int, ...], filters: int, kernel: Kernel, dilation: Any,
             groups: int | None, no_bias: bool, expect_params: Count | None,
             expect_macs: Count | None, stride: Any, padding: Any, explain: bool,
             expect: tuple[int, ...] | None, fmt: str, strict: bool, quiet: bool) -> None:
    """One convolution: output shape, feature maps, parameters, MACs.

    INPUT is HxWxC (e.g. 128x128x3) or - to read the first shape from stdin.

    \b
    Examples:
      cnncalc conv 128x128x3 --filters 32 --kernel 3
      cnncalc conv 128x128x3 --filters 32 --kernel 3x3x3 --explain
      cnncalc conv 128x128x3 -k 32 -f 3 -p 1 --expect 128x128x32
      cnncalc conv 128x128x3 -k 32 -f 3 --expect-params 864 -e
      cnncalc conv 28x28x192 -k 32 -f 5 -p same --expect-macs 120,422,400
      cnncalc conv 32x32x8 -k 16 -f 3x5 -s 2 -p same -d 2 -g 4 -F json
      cnncalc conv 224x224x3 -k 64 -f 3 -p same -q | cnncalc pool - -f 2 -q
    """
    rec, model, a = _quick("conv", input_, {
        "filters": filters, "kernel": kernel.size, "stride": stride, "padding": padding,
        "dilation": dilation, "groups": groups, "bias": False if no_bias else None}, strict)
    lay = rec.layer
    seen = rec.input_shapes[0][2] // lay.groups
    depth = kernel.depth
    if depth is not None and depth != seen:
        raise CnnCalcError(
            f"--kernel {lay.kernel[0]}x{lay.kernel[1]}x{depth}: a filter's depth must equal the "
            f"{seen} input channels "
            + ("of its group " if lay.groups > 1 else "") + f"(each filter spans all of them), "
            f"not {depth}; give --kernel {lay.kernel[0]}x{lay.kernel[1]} or "
            f"{lay.kernel[0]}x{lay.kernel[1]}x{seen}")
    desc = _conv_desc(rec, "conv")
    _finish_quick(rec, explain, fmt, quiet,
                  Answers(expect, params=expect_params, macs=expect_macs), desc, model, a)


@main.command("pool", context_settings=CONTEXT)
@click.argument("input_", metavar="INPUT", type=Shape(stdin=True))
@click.option("--size", "--kernel", "-f", "size", required=True, type=PAIR,
              help="Window size f (--kernel is the same option).")
@click.option("--ceil", is_flag=True, help="PyTorch ceil_mode: round the division up.")
@click.option("--kind", type=click.Choice(["max", "avg"]), default="max", show_default=True,
              help="Max or average pooling.")
@_EXPECT_PARAMS
@_common
def pool_cmd(input_: tuple[int, ...], size: Any, ceil: bool, kind: str,
             expect_params: Count | None, stride: Any, padding: Any, explain: bool,
             expect: tuple[int, ...] | None, fmt: str, strict: bool, quiet: bool) -> None:
    """One pooling layer: output shape (the stride defaults to the size).

    INPUT is HxWxC or - to read the first shape from stdin.

    \b
    Examples:
      cnncalc pool 224x224x64 --size 2
      cnncalc pool 112x112x64 -f 3 -s 2 -p 1 --explain
      cnncalc pool 13x13x256 --kernel 3 --stride 2 --ceil
      cnncalc pool 8x8x3 -f 2 --kind avg --expect 4x4x3
    """
    rec, model, a = _quick(f"{kind}pool", input_, {
        "size": size, "stride": stride, "padding": padding, "ceil_mode": ceil or None}, strict)
    from ..layers import fmt_shape
    lay = rec.layer
    desc = (f"{fmt_shape(rec.input_shapes[0])} → {kind}pool {lay.size[0]}x{lay.size[1]}, "
            f"stride {_pp(lay.stride)}, padding {_pad_text(lay.padding)}"
            + (", ceil_mode" if lay.ceil_mode else "") + f" → {fmt_shape(rec.output)}")
    _finish_quick(rec, explain, fmt, quiet, Answers(expect, params=expect_params), desc, model,
                  a)


def _checked(metavar: str, macs: bool = True):
    """The options of a checked quick command: --explain, --expect, --expect-params (and
    --expect-macs), --format, --quiet."""
    opts = [click.option("--explain", "-e", is_flag=True,
                         help="Show the working with the numbers."),
            click.option("--expect", type=ANSWER_SHAPE, metavar=metavar,
                         help="Check the output shape."),
            _EXPECT_PARAMS, *([_EXPECT_MACS] if macs else []),
            click.option("--format", "-F", "fmt", type=click.Choice(["text", "json"]),
                         default="text", show_default=True, help="Output format."),
            click.option("--quiet", "-q", is_flag=True,
                         help="Print only the output shape (for pipes).")]

    def deco(f):
        for opt in reversed(opts):
            f = opt(f)
        return f
    return deco


@main.command("dense", context_settings=CONTEXT)
@click.argument("input_", metavar="INPUT", type=Shape(stdin=True))
@click.option("--units", type=click.IntRange(min=1), required=True, metavar="N",
              help="Number of units (neurons) = outputs.")
@click.option("--no-bias", is_flag=True, help="No bias terms.")
@_checked("[N]")
def dense_cmd(input_: tuple[int, ...], units: int, no_bias: bool, explain: bool,
              expect: tuple[int, ...] | None, expect_params: Count | None,
              expect_macs: Count | None, fmt: str, quiet: bool) -> None:
    """One fully connected (dense) layer: outputs, parameters, MACs.

    INPUT is [N] (a vector), or HxWxC, which is flattened first (every pixel of every channel is
    an input), or - to read the first shape from stdin.

    \b
    Examples:
      cnncalc dense 300x300x3 --units 100 --expect-params 27,000,100
      cnncalc dense [400] --units 120 --explain
      cnncalc dense 7x7x512 --units 4096 -F json
      cnncalc pool 14x14x512 -f 2 -q | cnncalc dense - --units 4096 --no-bias
    """
    before: list[tuple[str, dict]] = [("flatten", {})] if len(input_) == 3 else []
    rec, model, a = _quick("dense", input_, {"units": units,
                                             "bias": False if no_bias else None}, False, before)
    from ..layers import fmt_shape
    flat = f" → flatten {fmt_shape(rec.input_shapes[0])}" if before else ""
    desc = (f"{fmt_shape(input_)}{flat} → dense, {units:,} units"
            + (", no bias" if no_bias else "") + f" → {fmt_shape(rec.output)}")
    _finish_quick(rec, explain, fmt, quiet,
                  Answers(expect, params=expect_params, macs=expect_macs), desc, model, a)


@main.command("deconv", context_settings=CONTEXT)
@click.argument("input_", metavar="INPUT", type=Shape(stdin=True))
@click.option("--filters", "-k", "filters", type=int, required=True,
              help="Number of filters = output feature maps.")
@click.option("--kernel", "-f", "kernel", required=True, type=PAIR, help="Kernel size f.")
@click.option("--stride", "-s", type=PAIR, help="Stride (default 1).")
@click.option("--padding", "-p", type=PADDING,
              help="Padding p, removed from the output: N, HxW, T,B,L,R, same or valid "
                   "(default 0).")
@click.option("--output-padding", type=PAIR, metavar="A",
              help="Output padding a (PyTorch's output_padding), smaller than the stride or "
                   "the dilation (default 0).")
@click.option("--dilation", "-d", type=PAIR, help="Dilation (default 1).")
@click.option("--groups", "-g", type=int, help="Groups (default 1).")
@click.option("--no-bias", is_flag=True, help="No bias terms.")
@_checked("HxWxC")
def deconv_cmd(input_: tuple[int, ...], filters: int, kernel: Any, stride: Any, padding: Any,
               output_padding: Any, dilation: Any, groups: int | None, no_bias: bool,
               explain: bool, expect: tuple[int, ...] | None, expect_params: Count | None,
               expect_macs: Count | None, fmt: str, quiet: bool) -> None:
    """One transposed convolution (PyTorch's ConvTranspose2d): output shape, parameters, MACs.

    Output size per axis: (n − 1)·s − 2p + d·(f − 1) + a + 1, where a (--output-padding) must be
    smaller than the stride or the dilation. INPUT is HxWxC or -.

    \b
    Examples:
      cnncalc deconv 3x3x1 -k 1 -f 3 -s 2 -p 1 --expect 5x5x1
      cnncalc deconv 3x3x1 -k 1 -f 3 -s 2 -p 1 --output-padding 1 --explain
      cnncalc deconv 16x16x512 --filters 256 --kernel 2 --stride 2 -F json
    """
    rec, model, a = _quick("conv_transpose", input_, {
        "filters": filters, "kernel": kernel, "stride": stride, "padding": padding,
        "output_padding": output_padding, "dilation": dilation, "groups": groups,
        "bias": False if no_bias else None}, False)
    lay = rec.layer
    desc = _conv_desc(rec, "transposed conv",
                      f", output padding {_pp(lay.output_padding)}"
                      if lay.output_padding != (0, 0) else "")
    _finish_quick(rec, explain, fmt, quiet,
                  Answers(expect, params=expect_params, macs=expect_macs), desc, model, a)


@main.command("pad", context_settings=CONTEXT)
@click.argument("input_", metavar="INPUT", type=Shape(stdin=True))
@click.option("--padding", "-p", type=PADDING, required=True,
              help="Zero padding p on each side: N, HxW or T,B,L,R.")
@_checked("HxWxC", macs=False)
def pad_cmd(input_: tuple[int, ...], padding: Any, explain: bool,
            expect: tuple[int, ...] | None, expect_params: Count | None, fmt: str,
            quiet: bool) -> None:
    """Zero padding: the padded shape (n + 2p per axis; the channels stay).

    INPUT is HxWxC or -.

    \b
    Examples:
      cnncalc pad 15x15x8 --padding 2 --expect 19x19x8
      cnncalc pad 28x28x1 -p 2 --explain
      cnncalc pad 32x32x3 -p 0,1,0,1 -q | cnncalc conv - -k 8 -f 2 -s 2 -q
    """
    if isinstance(padding, str):
        raise CnnCalcError(f"--padding of pad must be a number of pixels (N, HxW or T,B,L,R), "
                           f"got '{padding}'; '{padding}' is for conv and pool")
    rec, model, a = _quick("pad", input_, {"padding": padding}, False)
    from ..layers import fmt_shape
    desc = (f"{fmt_shape(rec.input_shapes[0])} → pad {_pad_text(rec.layer.padding)} → "
            f"{fmt_shape(rec.output)}")
    _finish_quick(rec, explain, fmt, quiet, Answers(expect, params=expect_params), desc,
                  model, a)


def _conv_desc(rec, kind: str, extra: str = "") -> str:
    """``128x128x3 → conv 3x3, 32 filters, stride 1, padding 1 → 128x128x32``."""
    from ..layers import fmt_shape
    lay = rec.layer
    return (f"{fmt_shape(rec.input_shapes[0])} → {kind} {lay.kernel[0]}x{lay.kernel[1]}, "
            f"{_filters(lay.filters)}, stride {_pp(lay.stride)}, padding "
            f"{_pad_text(lay.padding)}{extra}"
            + (f", dilation {_pp(lay.dilation)}" if lay.dilation != (1, 1) else "")
            + (f", groups {lay.groups}" if lay.groups > 1 else "")
            + f" → {fmt_shape(rec.output)}")


def _filters(k: int) -> str:
    return f"{k} filter" + ("s" if k != 1 else "")


def _pp(p: tuple[int, int]) -> str:
    return str(p[0]) if p[0] == p[1] else f"{p[0]}x{p[1]}"


def _pad_text(p: Any) -> str:
    if isinstance(p, str):
        return p
    t, b, l, r = p
    if t == b == l == r:
        return str(t)
    if t == b and l == r:
        return f"{t}x{l}"
    return f"{t},{b},{l},{r}"
