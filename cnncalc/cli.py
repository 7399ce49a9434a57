"""The command line: parse options, call the library, pick a renderer, map errors to exit codes.

Exit codes: 0 success; 1 a check failed (--expect, a --run mismatch); 2 bad input.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from . import __version__
from .errors import CheckFailed, CnnCalcError, printable
from .paramtypes import (ANSWER_SHAPE, COUNT, KERNEL, PADDING, PAIR, RF, SIZE, Count, Kernel,
                         Shape, Unknown)

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

# --train's choices (cnncalc.memory's OPTIMIZERS, DTYPES and CONVENTIONS; a test keeps them equal,
# and they are spelled out here so that `cnncalc --help` does not import the analysis)
TRAIN_OPTIMIZERS = ["sgd", "momentum", "adam", "adamw"]
TRAIN_DTYPES = ["float32", "float16", "bfloat16"]
TRAIN_CONVENTIONS = ["true", "torchinfo", "keras"]


# --- output helpers ------------------------------------------------------------------------------

def out(text: str = "", err: bool = False) -> None:
    click.echo(text, err=err)


def use_rich() -> bool:
    return sys.stdout.isatty() and os.environ.get("TERM") != "dumb"


def print_table(table, title: str | None = None) -> None:
    from .report import render_rich, render_text
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


# --- cnncalc SPEC --------------------------------------------------------------------------------

@main.command("model", context_settings=CONTEXT)
@click.argument("spec", metavar="SPEC")
@click.option("--summary", "-S", is_flag=True, help="Print the per-layer table, then totals.")
@click.option("--format", "-F", "fmt", type=click.Choice(["table", "json", "csv", "tsv",
                                                          "markdown", "dot", "mermaid"]),
              default="table", show_default=True,
              help="Output format (dot: Graphviz; mermaid: a Mermaid flowchart).")
@click.option("--input", "-i", "input_", type=Shape(words=("auto",)), metavar="HxWxC|auto",
              help="Override the spec's input shape (auto: the size of --image).")
@click.option("--batch", "-b", type=click.IntRange(min=1), default=1, show_default=True,
              help="Batch size: scales MACs and activation memory (and the --run batch).")
@click.option("--strict", is_flag=True, help="Make floored (non-integer) output sizes an error.")
@click.option("--depth", type=click.IntRange(min=0), default=None,
              help="Collapse the table's tree below this depth (0 = top level only).")
@click.option("--quiet", "-q", is_flag=True, help="Print only the output shape.")
@click.option("--run", "-r", "run_", is_flag=True,
              help="Run a NumPy forward pass and check every layer's shape (exit 1 if one "
                   "differs). The options below imply it.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the random input and the random (Kaiming-uniform) weights.")
@click.option("--image", metavar="PATH",
              help="Input image: PNG/JPEG/... resized to the input (or --input auto), or a .npy "
                   "HxWxC array used as is; 'chelsea' is a bundled sample photo.")
@click.option("--weights", "weights_file", metavar="FILE.npz",
              help="Weights by layer: <name>.weight (HWIO kernels, dense (in, units)), .bias, "
                   ".depthwise/.pointwise, .gamma/.beta/.mean/.var.")
@click.option("--save-output", "-o", metavar="FILE.npy", help="Write the network's output.")
@click.option("--save-maps", metavar="DIR",
              help="Write the input and a PNG grid of each layer's feature maps to DIR.")
@click.option("--maps-layers", metavar="NAMES",
              help="With --save-maps: only these layers (comma-separated names or indices).")
@click.option("--max-memory", type=SIZE,
              help="Refuse to run above this estimated peak (e.g. 2G; default 80% of the "
                   "available memory).")
@click.option("--diagram", metavar="FILE",
              help="Draw the network to FILE: .svg, .png or .html (the page has the table and, "
                   "after --run --save-maps, the feature maps). --depth N draws groups.")
@click.option("--train", is_flag=True,
              help="Add the training-memory plan at --batch: parameters, gradients, optimizer "
                   "states and the activations autograd keeps for backward (per layer with "
                   "--summary). The options below imply it.")
@click.option("--optimizer", type=click.Choice(TRAIN_OPTIMIZERS),
              help="Optimizer states per trainable parameter: sgd 0, momentum 1, adam and adamw "
                   "2 (default adam).")
@click.option("--dtype", type=click.Choice(TRAIN_DTYPES),
              help="Type of the weights, gradients, optimizer states and activations "
                   "(default float32).")
@click.option("--mixed-precision", is_flag=True,
              help="float16 activations (or --dtype's half type), float32 master weights, "
                   "gradients and optimizer states, plus float16 copies of the weights.")
@click.option("--memory-convention", type=click.Choice(TRAIN_CONVENTIONS),
              help="true (default: what autograd keeps), torchinfo (its summary block, exactly) "
                   "or keras (its parameter bytes).")
@click.option("--fit", "fit_limit", type=SIZE, metavar="SIZE",
              help="Print the largest batch whose training memory fits in SIZE (8G, 8GiB, "
                   "8000MB, 8e9), with the breakdown; exit 1 if not even batch 1 fits.")
@click.option("--scale", type=click.Choice(list("nsmlx")),
              help="Ultralytics model YAML: the scale to build (default: the letter in the file "
                   "name, as in yolov8s.yaml).")
@click.option("--at", "at", metavar="LAYER",
              help="The layer (name, path or 1-based index) or group (path) the --expect* "
                   "checks and -q are about, instead of the end of the network.")
@click.option("--expect", type=ANSWER_SHAPE, metavar="HxWxC|[N]",
              help="Check the output shape (5x5x16, (5, 5, 16), [100], ...): exit 1 with the "
                   "likely mistake if wrong.")
@click.option("--expect-params", type=COUNT, metavar="N",
              help="Check the parameter count (27,000,100, 27 000 100, 27.0M; all parameters, "
                   "as Keras's Total params).")
@click.option("--expect-trainable", type=COUNT, metavar="N",
              help="Check the trainable parameter count.")
@click.option("--expect-macs", type=COUNT, metavar="N",
              help="Check the MAC (multiply-accumulate) count.")
@click.option("--expect-rf", type=RF, metavar="N|HxW",
              help="Check the receptive field (of the last feature map larger than 1x1, or of "
                   "--at).")
@click.option("--explain", "-e", is_flag=True,
              help="Show each layer's working with the numbers (up to --at).")
def model_cmd(spec: str, summary: bool, fmt: str, input_: tuple[int, ...] | str | None,
              batch: int, strict: bool,
              depth: int | None, quiet: bool, run_: bool, seed: int, image: str | None,
              weights_file: str | None, save_output: str | None, save_maps: str | None,
              maps_layers: str | None, max_memory: int | None, diagram: str | None,
              train: bool, optimizer: str | None, dtype: str | None, mixed_precision: bool,
              memory_convention: str | None, fit_limit: int | None,
              scale: str | None,
              at: str | None, expect: tuple[int, ...] | None, expect_params: Count | None,
              expect_trainable: Count | None, expect_macs: Count | None,
              expect_rf: tuple[int, int] | None, explain: bool) -> None:
    """Analyse a network: `cnncalc SPEC` (the word `model` is optional).

    \b
    SPEC: a built-in name (vgg16, resnet50, ...), a YAML file, or - for stdin; or a
    model file of another framework, recognised by its content: a Darknet .cfg, an
    Ultralytics model YAML, an ONNX model, Keras JSON (model.to_json()) or a .keras archive.
    Without --summary: input → output and totals. With it: every layer.
    \b
    Examples:
      cnncalc vgg16 --summary
      cnncalc vgg16 -S --depth 1 -b 8         the table, folded below depth 1, batch 8
      cnncalc vgg16 --input 32x32x3 --format csv > vgg_cifar.csv
      cnncalc resnet50 -i 160x160x3 -F json | jq .totals.macs
      cat net.yaml | cnncalc - --format json --batch 8
      cnncalc vgg16 --run --summary           check every shape with a real forward pass
      cnncalc lenet5 -r -o out.npy            run it and save the network's output
      cnncalc edges --run --image photo.jpg --input auto --save-maps maps/
      cnncalc resnet50 --train -b 32 --optimizer adam     training memory at batch 32
      cnncalc resnet50 --fit 8GiB --mixed-precision       the largest batch in 8 GiB
      cnncalc resnet18 --memory-convention torchinfo      torchinfo's summary block
      cnncalc yolov4-tiny.cfg -S --depth 0     a Darknet cfg, one row per Darknet layer
      cnncalc yolov8.yaml --scale s            an Ultralytics model YAML at scale s
      cnncalc vgg16 --at block3_pool --expect 28x28x256
      cnncalc vgg16 --expect-params 138,357,544 --expect-rf 212
      cnncalc lenet5 --at 4 --expect-params 2416 --explain
    """
    from . import report
    from .analysis import analyse
    from .files import check_paths, stdin_stat
    from .readers import load

    want_run = run_ or any(v is not None for v in (image, weights_file, save_output, save_maps,
                                                   maps_layers, max_memory))
    auto = input_ == "auto"
    if auto and image is None:
        raise CnnCalcError("--input auto takes the input size from --image; give --image PATH")
    if maps_layers is not None and save_maps is None:
        raise CnnCalcError("--maps-layers chooses the layers for --save-maps; give --save-maps DIR")
    # no output may be an input: checked before anything is read or written
    inputs = {"spec": stdin_stat() if spec == "-" else spec, "--image": image,
              "--weights": weights_file}
    check_paths(inputs, {"--save-output": save_output, "--diagram": diagram,
                         "--save-maps": save_maps})
    if diagram is not None:
        _check_diagram(diagram)
    want_train = train or mixed_precision or any(
        v is not None for v in (optimizer, dtype, memory_convention, fit_limit))
    if want_train and quiet:
        raise CnnCalcError("--quiet prints only the output shape; drop it to see the memory "
                           "plan of --train (or use --format json)")
    if want_train and fmt in ("dot", "mermaid"):
        raise CnnCalcError(f"--format {fmt} draws the graph only; --train's memory plan needs "
                           f"table, json, csv, tsv or markdown")
    if memory_convention == "keras" and fit_limit is not None:
        raise CnnCalcError("--fit needs a total that grows with the batch; Keras's convention "
                           "counts the parameters only (use the default or --memory-convention "
                           "torchinfo)")
    shape = input_ if isinstance(input_, tuple) else None       # None: the spec's or auto
    model = load(spec, shape, scale)
    budget = None
    if want_run:
        from .engine import memory_budget
        budget = memory_budget(max_memory)
    picture = None
    if image is not None:
        from .engine import OVERHEAD_BYTES
        from .images import load_input
        from .report import mib
        room = None if budget is None else (budget.limit - OVERHEAD_BYTES,   # the interpreter's
                                            f"{mib(budget.limit)} ({budget.source})")
        picture = load_input(image, shape or model.input, auto, room)
        shape = tuple(picture.shape) if auto else shape
    a = analyse(model, shape, batch=batch, strict=strict)
    from .mistakes import network, resolve_at
    if not a.layers and (at is not None or expect_rf is not None):
        raise CnnCalcError("the network has no layers to check")
    target = resolve_at(a, at) if at is not None else network(a) if a.layers else None
    answers = Answers(expect, params=expect_params, trainable=expect_trainable,
                      macs=expect_macs, rf=expect_rf)
    checks = answers.check(model, a, target) if answers else []
    ok, bad = _check_report(checks)
    result = None
    facts: dict[str, Any] = {}
    if want_run:
        result, facts = _run_network(a, quiet, seed=seed, image=picture, image_name=image,
                                     weights=weights_file, save_output=save_output,
                                     save_maps=save_maps, maps_layers=maps_layers,
                                     max_memory=budget, inputs=inputs)
    mem = None
    if want_train:
        from .memory import Settings, estimate
        mem = estimate(a, Settings(batch, dtype or "float32", mixed_precision,
                                   optimizer or "adam"), memory_convention or "true", fit_limit)
    failed = (result is not None and not result.passed) or (
        mem is not None and mem.fit is not None and mem.fit.batch == 0)
    if quiet:
        out(report.fmt_shape(a.output if at is None else _target_output(target)))
    elif fmt == "json":
        obj = report.analysis_json(a, mem)
        if result is not None:
            obj["run"] = report.run_json(result, facts)
        if at is not None:
            obj["at"] = _at_json(a, target)
        if explain:
            obj["working"] = _working(a, target)
        if checks:
            obj["check"] = _check_json(checks)
        out(report.dumps(obj))
    elif fmt in ("csv", "tsv"):
        click.echo(report.render_delimited(a, "," if fmt == "csv" else "\t", mem), nl=False)
        if mem is not None:
            for line in report.memory_lines(a, mem):
                out(line, err=True)
    elif fmt == "markdown":
        click.echo(report.render_markdown(a, depth, mem), nl=False)
    elif fmt in ("dot", "mermaid"):
        click.echo(_graph_text(a, fmt, depth), nl=False)
    elif summary:
        print_table(report.layer_table(a, depth, report.run_table(result) if result else None,
                                       mem),
                    f"{report.printable(a.name)}: {report.fmt_shape(a.input)} → "
                    f"{report.fmt_shape(a.output)}")
        out()
        width = max(len(k) for k, _ in report.totals_lines(a))
        for k, v in report.totals_lines(a):
            out(f"{k.ljust(width)}  {v}")
    else:
        for line in report.overview_lines(a):
            out(line)
    if mem is not None and fmt == "table" and not quiet:
        out()
        for line in report.memory_lines(a, mem):
            out(line)
    if fmt == "table" and not quiet:
        if at is not None:
            out()
            out(_at_line(a, target))
        if explain:
            out()
            for line in _working(a, target):
                out(line)
        if checks:
            out()
        for line in ok + bad:
            out(line)
    elif bad:
        for line in bad:
            out(line, err=True)
    if result is not None:
        to_err = quiet or fmt != "table"
        if not to_err:
            out()
        for line in report.run_lines(a, result, facts):
            if not to_err or failed:
                out(line, err=to_err)
        for w in result.warnings:
            out(f"warning: {w}", err=True)
    if not quiet and fmt not in ("json", "markdown"):   # those carry the warnings themselves
        for line in report.warning_lines(a):
            out(line, err=True)
    if diagram is not None:
        _write_diagram(a, diagram, depth, result, facts, say=not quiet and fmt == "table")
    if failed or bad:
        raise CheckFailed()


def _target_output(t) -> tuple[int, ...]:
    return tuple(t.group.output) if t.group is not None else tuple(t.rec.output)


def _working(a, t) -> list[str]:
    from .explain import model_working
    return model_working(a, None if t is None else t.last)


def _at_line(a, t) -> str:
    """``--at``: the layer's or group's shapes and counts in one line."""
    from .layers import fmt_shape
    from .mistakes import last_map, value
    from .report import commas, rf_text
    first = a.layers[t.first - 1]
    kind = t.rec.type if t.kind == "layer" else t.group.kind
    rf = last_map(a, t)
    return (f"At {t.label()} ({kind}): {fmt_shape(first.input_shapes[0])} → "
            f"{fmt_shape(_target_output(t))}, params {commas(value(a, t, 'params'))}, "
            f"MACs {commas(value(a, t, 'macs'))}"
            + (f", receptive field {rf_text(rf)} (jump {rf.field.jump_h})" if rf else ""))


def _at_json(a, t) -> dict[str, Any]:
    from .mistakes import value
    from .report import layer_json
    if t.kind == "layer":
        return layer_json(t.rec)
    return {"path": t.group.path, "kind": t.group.kind, "first": t.first, "last": t.last,
            "output": list(t.group.output), "params": value(a, t, "params"),
            "trainable": value(a, t, "trainable"), "macs": value(a, t, "macs")}


def _run_network(a, quiet: bool, **options):
    """`--run`: the NumPy forward pass, with a progress bar on a terminal for longer runs."""
    from .engine import RunSetup, estimate_seconds, execute

    setup = RunSetup(**options)
    if quiet or not sys.stderr.isatty() or os.environ.get("TERM") == "dumb" or \
            estimate_seconds(a) < 1.0:
        return execute(a, setup)
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                   console=Console(stderr=True), transient=True)
    task = bar.add_task("running", total=sum(r.macs + 1 for r in a.layers))

    def advance(rec, y, lr) -> None:
        bar.update(task, advance=rec.macs + 1, description=f"layer {rec.index}/{len(a.layers)}")

    with bar:
        return execute(a, setup, advance)


# --- pictures (issue 12): --diagram FILE and --format dot|mermaid; the work is in cnncalc.diagram

def _check_diagram(path: str) -> None:
    from .diagram import check_target
    check_target(path)


def _graph_text(a, fmt: str, depth: int | None) -> str:
    from .diagram.graphfmt import render
    return render(a, fmt, depth)


def _write_diagram(a, path: str, depth: int | None, result, facts, say: bool) -> None:
    from .diagram import write
    write(a, path, depth, result, facts)
    if say:
        out(f"Wrote the diagram to {path}")


# --- checks of answers (the quick commands and `cnncalc SPEC`) ----------------------------------

class Answers:
    """The ``--expect*`` answers of one command: ``(quantity, value, as written, rounds)``."""

    def __init__(self, output: tuple[int, ...] | None = None, params: Count | None = None,
                 trainable: Count | None = None, macs: Count | None = None,
                 rf: tuple[int, int] | None = None) -> None:
        self.items: list[tuple[str, Any, str, Any]] = []
        if output is not None:
            from .layers import fmt_shape
            self.items.append(("output", output, fmt_shape(output), None))
        for quantity, count in (("params", params), ("trainable", trainable), ("macs", macs)):
            if count is not None:
                self.items.append((quantity, count.value, count.text, count.rounds))
        if rf is not None:
            self.items.append(("rf", rf, f"{rf[0]}x{rf[1]}", None))

    def __bool__(self) -> bool:
        return bool(self.items)

    def check(self, model, a, target, source=None) -> list:
        from .mistakes import check
        return [check(model, a, target, q, v, text, source, rounds)
                for q, v, text, rounds in self.items]


def _check_report(checks: list, where: bool = True) -> tuple[list[str], list[str]]:
    """(the lines of the right answers, the lines of the wrong ones)."""
    from .explain import check_lines
    ok = [ln for c in checks if c.passed for ln in check_lines(c, where)]
    bad = [ln for c in checks if not c.passed for ln in check_lines(c, where)]
    return ok, bad


def _check_json(checks: list) -> dict[str, Any]:
    from .explain import check_json
    ok, bad = _check_report(checks)
    return {"passed": not bad, "messages": ok + bad, "checks": [check_json(c) for c in checks]}


# --- quick calculators ---------------------------------------------------------------------------

def _quick(type_: str, shape: tuple[int, ...], params: dict, strict: bool,
           before: list[tuple[str, dict]] | None = None):
    """One layer (after the ``before`` layers, e.g. a flatten) on ``shape``: its record, the
    model and the analysis."""
    from .analysis import analyse
    from .layers import REGISTRY, ParamError
    from .spec import Leaf, Model, Seq

    items = []
    for kind, values in [*(before or []), (type_, params)]:
        values = {k: v for k, v in values.items() if v is not None}
        try:
            layer = REGISTRY[kind](**values)
        except (ParamError, ValueError) as e:
            raise CnnCalcError(str(e)) from None
        items.append(Leaf(layer.type, layer, layer.type, None))
    model = Model(type_, "", shape, Seq(items), "<command line>")
    a = analyse(model, shape, strict=strict)
    return a.layers[-1], model, a


def _finish_quick(rec, explain: bool, fmt: str, quiet: bool, answers: Answers,
                  summary: str, model=None, a=None) -> None:
    from . import explain as ex
    from .mistakes import Target
    from .report import commas, dumps, fnum, layer_json

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
    from .layers import fmt_shape
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
    from .layers import fmt_shape
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
    from .layers import fmt_shape
    desc = (f"{fmt_shape(rec.input_shapes[0])} → pad {_pad_text(rec.layer.padding)} → "
            f"{fmt_shape(rec.output)}")
    _finish_quick(rec, explain, fmt, quiet, Answers(expect, params=expect_params), desc,
                  model, a)


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
    from . import solve as sv
    from .layers import fmt_shape
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
        from .report import dumps
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
    from . import quiz
    if not 1 <= count <= quiz.MAX_COUNT:
        raise CnnCalcError(f"--count must be between 1 and {quiz.MAX_COUNT:,}, got {count}")
    if seed is None:
        import secrets
        seed = secrets.randbelow(1_000_000)
    qs = quiz.make(count, seed, topic, difficulty, distractors)
    header = (f"cnncalc quiz: {count} question{'s' if count > 1 else ''}, topic {topic}, "
              f"difficulty {difficulty}, seed {seed}")
    if fmt == "json":
        from .report import dumps
        out(dumps(quiz.render_json(qs, {"count": count, "seed": seed, "topic": topic,
                                        "difficulty": difficulty}, answers)))
    elif fmt == "markdown":
        click.echo(quiz.render_markdown(qs, header, answers), nl=False)
    else:
        click.echo(quiz.render_text(qs, header, answers), nl=False)


def _conv_desc(rec, kind: str, extra: str = "") -> str:
    """``128x128x3 → conv 3x3, 32 filters, stride 1, padding 1 → 128x128x32``."""
    from .layers import fmt_shape
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


# --- the zoo -------------------------------------------------------------------------------------

@main.command("list", context_settings=CONTEXT)
@click.option("--format", "-F", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Output format.")
def list_cmd(fmt: str) -> None:
    """List the built-in models: input, output, params and MACs.

    \b
    Examples:
      cnncalc list
      cnncalc list -F json | jq '.[] | select(.params < 5000000) | .name'
    """
    from . import report
    from .analysis import analyse
    from .spec import load, zoo_names

    entries: list[tuple[str, Any]] = []
    for name in zoo_names():
        try:
            entries.append((name, analyse(load(name))))
        except CnnCalcError as e:       # a broken built-in must not hide the others
            entries.append((name, f"error: {e}"))
    if fmt == "json":
        out(report.dumps([
            {"name": n, "error": a} if isinstance(a, str) else
            {"name": n, "description": a.description, "input": list(a.input),
             "output": list(a.output), "params": a.totals()["params"],
             "trainable": a.totals()["trainable"], "macs": a.totals()["macs"]}
            for n, a in entries]))
        return
    print_table(report.zoo_table(entries))


@main.command("show", context_settings=CONTEXT)
@click.argument("name")
def show_cmd(name: str) -> None:
    """Print a built-in model's YAML spec, to copy and edit.

    \b
    Examples:
      cnncalc show vgg16 > my_vgg.yaml
      cnncalc show resnet18 | cnncalc - -i 64x64x3 -S --depth 1
    """
    from .spec import ZOO_DIR, suggest, zoo_names

    path = ZOO_DIR / f"{name}.yaml"
    if name not in zoo_names():
        raise CnnCalcError(f"no built-in model '{name}'{suggest(name, zoo_names())}; built-in: "
                           f"{', '.join(zoo_names())}")
    click.echo(path.read_text(encoding="utf-8"), nl=False)


# --- other frameworks' model files --------------------------------------------------------------

@main.command("convert", context_settings=CONTEXT)
@click.argument("spec", metavar="FILE")
@click.option("--output", "--save-output", "-o", "output", metavar="OUT.yaml",
              help="Write the spec to this file (atomically) instead of standard output.")
@click.option("--scale", type=click.Choice(list("nsmlx")),
              help="Ultralytics model YAML: the scale to build (default: the letter in the file "
                   "name).")
def convert_cmd(spec: str, output: str | None, scale: str | None) -> None:
    """Write a model file of another framework as an equivalent cnncalc YAML spec.

    FILE is a Darknet .cfg, an Ultralytics model YAML, an ONNX model, Keras JSON or a .keras
    archive (or a cnncalc spec, printed as it is). Layer names are kept, and the spec gives the
    same figures as the file itself.

    \b
    Examples:
      cnncalc convert yolov4-tiny.cfg -o yolov4-tiny.yaml
      cnncalc convert model.onnx | cnncalc - -S
    """
    from .files import check_paths, stdin_stat
    from .readers import read, to_yaml
    from .spec import build

    check_paths({"FILE": stdin_stat() if spec == "-" else spec}, {"--output": output})
    label, stem, doc, fmt = read(spec, scale)
    if not isinstance(doc, str):
        build(doc, label, stem)         # a file that cannot be a model fails here, not later
    text = to_yaml(doc, label, fmt)
    if output is None:
        click.echo(text, nl=False)
        return
    if os.path.isdir(output):
        raise CnnCalcError(f"--output {output} is a directory; give a file name")
    from .files import write_atomic
    write_atomic(output, text.encode("utf-8"), "--output")


# --- entry point ---------------------------------------------------------------------------------

def _debug_flag(args: list[str]) -> tuple[list[str], bool]:
    """``--debug`` anywhere before a ``--`` (any command) shows an internal error's traceback, as
    ``CNNCALC_DEBUG=1`` does; it is taken out before click parses the rest."""
    end = args.index("--") if "--" in args else len(args)
    if "--debug" not in args[:end]:
        return args, bool(os.environ.get("CNNCALC_DEBUG"))
    return [a for a in args[:end] if a != "--debug"] + args[end:], True


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit code (never raises for user errors)."""
    args = sys.argv[1:] if argv is None else list(argv)
    args, debug = _debug_flag(args)
    if not args:
        args = ["--help"]
    try:
        result = main.main(args=args, prog_name="cnncalc", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except CheckFailed:
        return 1
    except CnnCalcError as e:
        click.echo(f"cnncalc: error: {e}", err=True)
        return 2
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.exceptions.Abort:
        click.echo("cnncalc: aborted", err=True)
        return 130
    except click.ClickException as e:
        msg = e.format_message().replace("\n", " ")
        ctx = getattr(e, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        click.echo(f"cnncalc: error: {printable(msg)}{hint}", err=True)
        return 2
    except KeyboardInterrupt:
        click.echo("cnncalc: interrupted", err=True)
        return 130
    except BrokenPipeError:
        raise
    except MemoryError:     # the machine's memory, not a bug: --max-memory, ulimit -v
        click.echo("cnncalc: error: out of memory; give a smaller --input, --batch or "
                   "--max-memory", err=True)
        return 2
    except OSError as e:    # writing the output failed: a full disk, a closed descriptor
        where = f" {e.filename}" if e.filename else " the output"
        click.echo(f"cnncalc: error: cannot write{printable(str(where))}: "
                   f"{e.strerror or e}", err=True)
        return EXIT_IO
    except Exception as e:  # a bug: say so in one line; --debug shows the traceback
        if debug:
            raise
        what = printable(f"{type(e).__name__}: {e}".replace("\n", " "))[:500]
        click.echo(f"cnncalc: internal error: {what} (a bug in cnncalc: please report it with "
                   f"the command; --debug or CNNCALC_DEBUG=1 shows the traceback)", err=True)
        return EXIT_BUG


EXIT_BUG = 70    # sysexits.h EX_SOFTWARE: an internal error (a bug)
EXIT_IO = 74     # sysexits.h EX_IOERR: the output could not be written


def entry() -> None:
    """Console-script entry point (called by :func:`cnncalc._entry.main`)."""
    if sys.stdout is None:
        sys.stderr.write("cnncalc: error: standard output is closed\n") if sys.stderr else None
        sys.exit(EXIT_IO)
    code = 0
    try:
        code = run()
        sys.stdout.flush()
    except OSError as e:
        if isinstance(e, BrokenPipeError):
            raise
        if code != EXIT_IO:     # run() has not said so already
            sys.stderr.write(f"cnncalc: error: cannot write the output: {e.strerror or e}\n")
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = EXIT_IO
    except BrokenPipeError:
        # the reader went away (e.g. `| head`): stop quietly, like other Unix tools
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 0
    sys.exit(code)
