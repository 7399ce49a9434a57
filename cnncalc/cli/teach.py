"""For students and teachers: `cnncalc solve` (hyper-parameters for a target) and `cnncalc quiz`."""

from __future__ import annotations


import click

from ..errors import CnnCalcError
from ..paramtypes import ANSWER_SHAPE, Shape, Unknown

from .common import CONTEXT, main, out
from .quick import _filters


@main.command("solve", context_settings=CONTEXT)
@click.argument("input_", metavar="INPUT", type=Shape(stdin=True))
@click.option("--to", "target", type=ANSWER_SHAPE, required=True, metavar="HxWxC",
              help="The output shape wanted.")
@click.option("--kernel", "-f", type=Unknown(1), metavar="F|any", help="Kernel size f.")
@click.option("--stride", "-s", type=Unknown(1), metavar="S|any", help="Stride s.")
@click.option("--padding", "-p", type=Unknown(0), metavar="P|any",
              help="Padding p on each side.")
@click.option("--dilation", "-d", type=Unknown(1), default="1", show_default=True,
              metavar="D|any", help="Dilation d; 'any' solves for it too.")
@click.option("--filters", "-k", type=click.IntRange(min=1), metavar="K",
              help="Filters (must equal the target's channels; default: the target's).")
@click.option("--transpose", is_flag=True,
              help="A transposed convolution: (n − 1)·s − 2p + d·(f − 1) + a + 1.")
@click.option("--output-padding", type=Unknown(0), metavar="A|any",
              help="With --transpose: the output padding a (default: any that fits, a < s).")
@click.option("--exact", is_flag=True,
              help="Only divisions without a remainder (no row or column left over).")
@click.option("--format", "-F", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Output format.")
def solve_cmd(input_: tuple[int, ...], target: tuple[int, ...], kernel: int | None,
              stride: int | None, padding: int | None, dilation: int | None,
              filters: int | None, transpose: bool, output_padding: int | None, exact: bool,
              fmt: str) -> None:
    """Find the kernel, stride, padding (and dilation) that turn INPUT into --to.

    Fix any two of --kernel, --stride, --padding, --dilation (the dilation is 1 unless you
    write --dilation any) and every whole solution for the others is listed, or the error says
    why there is none. Bounds: kernel, stride and dilation 1 to the input's larger side (the
    output's, with --transpose); padding 0 to d·(f − 1), 'full' padding.

    \b
    Examples:
      cnncalc solve 64x64x3 --to 64x64x8 --kernel 5 --filters 8
      cnncalc solve 63x63x16 --to 63x63x32 --kernel 7 --stride 1
      cnncalc solve 227x227x3 --to 55x55x96 --kernel 11 --padding 0
      cnncalc solve 3x3x1 --to 6x6x1 --kernel 3 --stride 2 --transpose
      cnncalc solve 10x10x1 --to 5x5x1 --kernel 3 --stride 2 --exact
    """
    from .. import solve as sv
    from ..layers import fmt_shape
    if len(input_) != 3 or len(target) != 3:
        raise CnnCalcError(f"solve: INPUT and --to must be HxWxC maps, got {fmt_shape(input_)} "
                           f"and {fmt_shape(target)}")
    if filters is not None and filters != target[2]:
        raise CnnCalcError(f"solve: contradictory: --filters {filters} makes {filters} maps, "
                           f"but --to {fmt_shape(target)} has {target[2]} channels")
    if output_padding is not None and not transpose:
        raise CnnCalcError("solve: --output-padding is for a transposed convolution; add "
                           "--transpose")
    fixed = {k: v for k, v in (("kernel", kernel), ("stride", stride), ("padding", padding),
                               ("dilation", dilation), ("output_padding", output_padding))
             if v is not None}
    prob = sv.problem(input_[:2], target[:2], fixed, transpose, exact)
    found = sv.solutions(prob)
    if not found:
        raise CnnCalcError(sv.why_none(prob))
    k = target[2]
    if fmt == "json":
        from ..report import dumps
        out(dumps({"input": list(input_), "target": list(target), "transpose": transpose,
                   "exact": exact, "filters": k, "fixed": fixed,
                   "bounds": {n: list(b) for n, b in prob.bounds().items()
                              if n in prob.unknowns},
                   "solutions": [{**x.values(), "floored": x.floored} for x in found]}))
        return
    layer = "transposed conv" if transpose else "conv"
    given = ", ".join(f"{n.replace('_', ' ')} {v}" for n, v in fixed.items())
    out(f"{fmt_shape(input_)} → {fmt_shape(target)}: {layer} with {given}, {_filters(k)} "
        f"(the target's channels)")
    out(f"  {sv.equation(prob)}" + (f"   (width: {sv.equation(prob, 1)})"
                                    if input_[0] != input_[1] or target[0] != target[1] else ""))
    out(f"  {len(found)} solution{'s' if len(found) > 1 else ''} (searched "
        f"{prob.bounds_text()})" if prob.unknowns else "  the values given work")
    for x in found:
        vals = ", ".join(f"{n.replace('_', ' ')} {v}" for n, v in x.values().items()
                         if n not in fixed)
        note = "   (floored: the division leaves a remainder; --exact excludes it)" \
            if x.floored else ""
        out(f"  {vals or given}{note}")


@main.command("quiz", context_settings=CONTEXT)
@click.option("--count", type=int, default=10, show_default=True, metavar="N",
              help="Number of questions (1 to 10,000).")
@click.option("--seed", type=click.IntRange(min=0), default=None, metavar="S",
              help="The same seed gives the same questions (default: a random seed, printed).")
@click.option("--topic", type=click.Choice(["conv", "pool", "dense", "deconv", "rf", "params",
                                            "mixed"]), default="mixed", show_default=True,
              help="What the questions are about.")
@click.option("--difficulty", type=click.IntRange(1, 3), default=1, show_default=True,
              metavar="1..3", help="1: stride 1, simple padding; 2: strides and padding, "
                                   "flatten, stacks; 3: dilation, groups, floors, output padding.")
@click.option("--format", "-F", "fmt", type=click.Choice(["text", "json", "markdown"]),
              default="text", show_default=True, help="Output format.")
@click.option("--answers", is_flag=True,
              help="Add the answer sheet: each answer, and the mistake behind each wrong option.")
@click.option("--distractors", is_flag=True,
              help="Multiple choice: up to three wrong options per question, each one a named "
                   "mistake (bias forgotten, padding ignored, floor/ceil swapped, ...).")
def quiz_cmd(count: int, seed: int | None, topic: str, difficulty: int, fmt: str,
             answers: bool, distractors: bool) -> None:
    """Practice questions on shapes, parameters and receptive fields, with answers.

    Every answer is computed by the calculator's own layer code; every wrong option is a mistake
    that `--expect` would name. Each question shows the cnncalc command that checks an answer.

    \b
    Examples:
      cnncalc quiz --count 5 --seed 7
      cnncalc quiz --topic rf --difficulty 2 --distractors --answers
      cnncalc quiz --count 20 --seed 1 --topic mixed -F markdown --answers > quiz.md
      cnncalc quiz --count 3 --seed 2 --topic deconv -F json --answers | jq '.questions[0]'
    """
    from .. import quiz
    if not 1 <= count <= quiz.MAX_COUNT:
        raise CnnCalcError(f"--count must be between 1 and {quiz.MAX_COUNT:,}, got {count}")
    if seed is None:
        import secrets
        seed = secrets.randbelow(1_000_000)
    qs = quiz.make(count, seed, topic, difficulty, distractors)
    header = (f"cnncalc quiz: {count} question{'s' if count > 1 else ''}, topic {topic}, "
              f"difficulty {difficulty}, seed {seed}")
    if fmt == "json":
        from ..report import dumps
        out(dumps(quiz.render_json(qs, {"count": count, "seed": seed, "topic": topic,
                                        "difficulty": difficulty}, answers)))
    elif fmt == "markdown":
        click.echo(quiz.render_markdown(qs, header, answers), nl=False)
    else:
        click.echo(quiz.render_text(qs, header, answers), nl=False)
