"""`cnncalc SPEC`: the model command (summary, formats, checks, --run, --diagram, --train)."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from ..errors import CheckFailed, CnnCalcError
from ..paramtypes import ANSWER_SHAPE, COUNT, RF, SIZE, Count, Shape

from .common import (CONTEXT, Answers, _check_json, _check_report, main, out, print_table)

# --train's choices (cnncalc.memory's OPTIMIZERS, DTYPES and CONVENTIONS; a test keeps them equal,
# and they are spelled out here so that `cnncalc --help` does not import the analysis)
TRAIN_OPTIMIZERS = ["sgd", "momentum", "adam", "adamw"]
TRAIN_DTYPES = ["float32", "float16", "bfloat16"]
TRAIN_CONVENTIONS = ["true", "torchinfo", "keras"]


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
                   "differs), on one thread per CPU or OMP_NUM_THREADS. The options below "
                   "imply it.")
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
    from .. import report
    from ..analysis import analyse
    from ..files import check_paths, stdin_stat
    from ..readers import load

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
        from ..engine import memory_budget
        budget = memory_budget(max_memory)
    picture = None
    if image is not None:
        from ..engine import OVERHEAD_BYTES
        from ..images import load_input
        from ..report import mib
        room = None if budget is None else (budget.limit - OVERHEAD_BYTES,   # the interpreter's
                                            f"{mib(budget.limit)} ({budget.source})")
        picture = load_input(image, shape or model.input, auto, room)
        shape = tuple(picture.shape) if auto else shape
    a = analyse(model, shape, batch=batch, strict=strict)
    from ..mistakes import network, resolve_at
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
        from ..memory import Settings, estimate
        mem = estimate(a, Settings(batch, dtype or "float32", mixed_precision,
                                   optimizer or "adam"), memory_convention or "true", fit_limit)
    failed = (result is not None and not result.passed) or (
        mem is not None and mem.fit is not None and mem.fit.batch == 0)
    if quiet:
        out(report.fmt_shape(a.output if at is None else _target_output(target)))
    elif fmt == "json":
        obj = report.analysis_json(a, mem, lazy=True)
        if result is not None:
            obj["run"] = report.run_json(result, facts)
        if at is not None:
            obj["at"] = _at_json(a, target)
        if explain:
            obj["working"] = _working(a, target)
        if checks:
            obj["check"] = _check_json(checks)
        report.write_json(obj, lambda text: sys.stdout.write(text))
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
    from ..explain import model_working
    return model_working(a, None if t is None else t.last)


def _at_line(a, t) -> str:
    """``--at``: the layer's or group's shapes and counts in one line."""
    from ..layers import fmt_shape
    from ..mistakes import last_map, value
    from ..report import commas, rf_text
    first = a.layers[t.first - 1]
    kind = t.rec.type if t.kind == "layer" else t.group.kind
    rf = last_map(a, t)
    return (f"At {t.label()} ({kind}): {fmt_shape(first.input_shapes[0])} → "
            f"{fmt_shape(_target_output(t))}, params {commas(value(a, t, 'params'))}, "
            f"MACs {commas(value(a, t, 'macs'))}"
            + (f", receptive field {rf_text(rf)} (jump {rf.field.jump_h})" if rf else ""))


def _at_json(a, t) -> dict[str, Any]:
    from ..mistakes import value
    from ..report import layer_json
    if t.kind == "layer":
        return layer_json(t.rec)
    return {"path": t.group.path, "kind": t.group.kind, "first": t.first, "last": t.last,
            "output": list(t.group.output), "params": value(a, t, "params"),
            "trainable": value(a, t, "trainable"), "macs": value(a, t, "macs")}


def _run_network(a, quiet: bool, **options):
    """`--run`: the NumPy forward pass, with a progress bar on a terminal for longer runs."""
    from ..engine import RunSetup, estimate_seconds, execute

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
    from ..diagram import check_target
    check_target(path)


def _graph_text(a, fmt: str, depth: int | None) -> str:
    from ..diagram.graphfmt import render
    return render(a, fmt, depth)


def _write_diagram(a, path: str, depth: int | None, result, facts, say: bool) -> None:
    from ..diagram import write
    write(a, path, depth, result, facts)
    if say:
        out(f"Wrote the diagram to {path}")
