"""The built-in zoo (`list`, `show`) and `convert` from other frameworks' files."""

from __future__ import annotations

import os
from typing import Any

import click

from ..errors import CnnCalcError

from .common import CONTEXT, main, out, print_table


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
    from .. import report
    from ..analysis import analyse
    from ..spec import load, zoo_names

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
    from ..spec import ZOO_DIR, suggest, zoo_names

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
    from ..files import check_paths, stdin_stat
    from ..readers import read, to_yaml
    from ..spec import build

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
    from ..files import write_atomic
    write_atomic(output, text.encode("utf-8"), "--output")
