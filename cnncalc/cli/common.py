"""What every command shares: the click group (`cnncalc SPEC` is `cnncalc model SPEC`), output
helpers, and the rendering of answer checks."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from .. import __version__
from ..paramtypes import Count

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


# --- output helpers ------------------------------------------------------------------------------

def out(text: str = "", err: bool = False) -> None:
    click.echo(text, err=err)


def use_rich() -> bool:
    return sys.stdout.isatty() and os.environ.get("TERM") != "dumb"


def print_table(table, title: str | None = None) -> None:
    from ..report import render_rich, render_text
    if use_rich():
        from rich.console import Console
        Console().print(render_rich(table, title))
    else:
        if title:
            out(title)
        out(render_text(table))


# --- the group: `cnncalc SPEC ...` is `cnncalc model SPEC ...` ---------------------------------

class DefaultGroup(click.Group):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help",
                                                                     "--version"):
            args = ["model"] + args
        return super().parse_args(ctx, args)

    def format_usage(self, ctx, formatter):
        formatter.write_usage("cnncalc", "SPEC [OPTIONS]  |  COMMAND [ARGS]...")


@click.group(cls=DefaultGroup, context_settings=CONTEXT, invoke_without_command=False)
@click.version_option(__version__, prog_name="cnncalc")
def main() -> None:
    """Shape, parameter, MAC and receptive-field calculator for convolutional networks.

    \b
    SPEC is a built-in model name (see `cnncalc list`), a YAML file, or - for stdin.
    \b
    Examples:
      cnncalc vgg16 --summary                 per-layer table and totals (-S)
      cnncalc resnet50 -F json | jq .totals.params
      cnncalc my_net.yaml -i 128x128x3 -S
      cnncalc conv 128x128x3 --filters 32 --kernel 3 --explain
      cnncalc conv 224x224x3 -k 64 -f 3 -p same -q | cnncalc pool - -f 2
      cnncalc vgg16 --at block3_pool --expect 28x28x256     check an answer
      cnncalc dense 300x300x3 --units 100 --expect-params 27,000,100
      cnncalc solve 64x64x3 --to 64x64x8 --kernel 5           find the padding
      cnncalc quiz --count 5 --seed 1 --distractors --answers
    \b
    Short flags mean the same in every command (course notation n, f, p, s):
      -f window size f (--kernel, pool's --size)   -s --stride   -p --padding
      -d --dilation   -k --filters (kernels)   -g --groups   -e --explain   -q --quiet
      -F --format   -S --summary   -i --input   -b --batch   -r --run   -o --save-output
    \b
    Exit codes: 0 ok, 1 a check failed (--expect, --run), 2 bad input, 74 the output could
    not be written, 130 interrupted, 70 an internal error (a bug: --debug, anywhere on the
    command line, shows its traceback).
    Run `cnncalc model --help` for the options of `cnncalc SPEC`.
    """


# --- checks of answers (the quick commands and `cnncalc SPEC`) ----------------------------------

class Answers:
    """The ``--expect*`` answers of one command: ``(quantity, value, as written, rounds)``."""

    def __init__(self, output: tuple[int, ...] | None = None, params: Count | None = None,
                 trainable: Count | None = None, macs: Count | None = None,
                 rf: tuple[int, int] | None = None) -> None:
        self.items: list[tuple[str, Any, str, Any]] = []
        if output is not None:
            from ..layers import fmt_shape
            self.items.append(("output", output, fmt_shape(output), None))
        for quantity, count in (("params", params), ("trainable", trainable), ("macs", macs)):
            if count is not None:
                self.items.append((quantity, count.value, count.text, count.rounds))
        if rf is not None:
            self.items.append(("rf", rf, f"{rf[0]}x{rf[1]}", None))

    def __bool__(self) -> bool:
        return bool(self.items)

    def check(self, model, a, target, source=None) -> list:
        from ..mistakes import check
        return [check(model, a, target, q, v, text, source, rounds)
                for q, v, text, rounds in self.items]


def _check_report(checks: list, where: bool = True) -> tuple[list[str], list[str]]:
    """(the lines of the right answers, the lines of the wrong ones)."""
    from ..explain import check_lines
    ok = [ln for c in checks if c.passed for ln in check_lines(c, where)]
    bad = [ln for c in checks if not c.passed for ln in check_lines(c, where)]
    return ok, bad


def _check_json(checks: list) -> dict[str, Any]:
    from ..explain import check_json
    ok, bad = _check_report(checks)
    return {"passed": not bad, "messages": ok + bad, "checks": [check_json(c) for c in checks]}
