#!/usr/bin/env python3
"""Start-up benchmark of the analytic path (issue 2 item 10, issue 3 item 7).

Measures, side by side in one run, the wall time of whole processes:

  baseline      python -c "import click, rich.console, rich.table, yaml"
  vgg16         cnncalc vgg16 --summary                    goal <= 1.5x baseline
  resnet152     cnncalc resnet152 --summary                goal <= 2x (skipped if not in the zoo)
  10k layers    cnncalc <generated 10,000-layer spec> --format json       goal <= 10x
  torchinfo     torchinfo.summary of a hand-built PyTorch VGG-16 (for the record, if installed)

Repetitions are interleaved (every command once per round, the order rotated each round) after
one untimed warm-up round, so drifts in machine load hit all commands alike; the median of the
rounds is reported. Output goes to a pipe, as in `cnncalc ... | less` (plain-text rendering).

Usage:  python benchmarks/bench_startup.py [--rounds 21] [--json FILE] [--no-torchinfo]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from torch_vgg16 import TORCH_VGG16  # sibling module: the script's folder is on sys.path

HERE = Path(__file__).resolve().parent

TORCHINFO_VGG16 = TORCH_VGG16 + r"""
import torchinfo
stats = torchinfo.summary(model, input_size=(1, 3, 224, 224), verbose=1)
assert stats.total_params == 138357544, stats.total_params
"""


# the default layer cycle of generated_spec: conv/batchnorm/relu on a small map
CONV_BN_RELU = ("conv: {filters: 16, kernel: 3, padding: 1}", "batchnorm", "relu")


def generated_spec(n_layers: int, cycle: tuple[str, ...] = CONV_BN_RELU) -> str:
    """A flat sequential spec on 32x32x16 of exactly ``n_layers`` leaf layers (the entries of
    ``cycle`` repeated), written out in full, one ``layers:`` item per layer, so that the YAML
    parser sees every layer."""
    lines = ["name: generated", f"description: generated {n_layers:,}-layer benchmark spec",
             "input: 32x32x16", "layers:"]
    for i in range(n_layers):
        lines.append("  - " + cycle[i % len(cycle)])
    return "\n".join(lines) + "\n"


def has_module(python: str, name: str) -> bool:
    return subprocess.run([python, "-c", f"import {name}"], capture_output=True).returncode == 0


def cnncalc_command(python: str) -> list[str]:
    script = Path(python).with_name("cnncalc")
    return [str(script)] if script.exists() else [python, "-m", "cnncalc"]


ENV = dict(os.environ)


def add_bytecode_option(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--no-bytecode-cache", action="store_true",
                    help="keep the environment's PYTHONDONTWRITEBYTECODE (cold .pyc for "
                         "cnncalc's own modules)")


def cache_bytecode(env: dict[str, str], tmp: str) -> None:
    """As after `pip install`: every module's bytecode is cached. The dependencies ship their
    .pyc files; with PYTHONDONTWRITEBYTECODE set (as on some CI machines) cnncalc's own sources
    would be recompiled on every run while the baseline's never are. The cache lives in the
    temporary directory ``tmp`` (PYTHONPYCACHEPREFIX), never in the checkout."""
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")


TTY = "<tty>"      # a command starting with this marker runs on a pseudo-terminal


def run_once(cmd: list[str]) -> float:
    if cmd[0] == TTY:
        return run_on_tty(cmd[1:])
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n"
                         f"{proc.stderr.decode(errors='replace')[-2000:]}")
    return elapsed


def run_on_tty(cmd: list[str]) -> float:
    """Wall time with stdout on a pseudo-terminal (rich rendering, box drawing)."""
    master, slave = os.openpty()
    env = {**ENV, "TERM": "xterm-256color", "COLUMNS": "120"}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=slave, stderr=subprocess.DEVNULL, env=env)
    os.close(slave)
    while True:
        try:
            if not os.read(master, 1 << 16):
                break
        except OSError:
            break
    code = proc.wait()
    elapsed = time.perf_counter() - start
    os.close(master)
    if code != 0:
        raise SystemExit(f"command failed ({code}) on a terminal: {' '.join(cmd)}")
    return elapsed


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} logical CPUs, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=21, help="timed rounds (default 21)")
    ap.add_argument("--python", default=sys.executable, help="interpreter to benchmark")
    ap.add_argument("--layers", type=int, default=10_000, help="size of the generated spec")
    ap.add_argument("--no-torchinfo", action="store_true", help="skip the torchinfo run")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    add_bytecode_option(ap)
    args = ap.parse_args()

    py = args.python
    cnncalc = cnncalc_command(py)
    tmp = tempfile.TemporaryDirectory()
    if not args.no_bytecode_cache:
        cache_bytecode(ENV, tmp.name)
    spec = Path(tmp.name) / "generated_10k.yaml"
    spec.write_text(generated_spec(args.layers))

    # (label, command, goal as a multiple of the baseline or None, note)
    cases: list[tuple[str, list[str], float | None]] = [
        ("baseline: import click, rich.console, rich.table, yaml",
         [py, "-c", "import click, rich.console, rich.table, yaml"], None),
        ("cnncalc vgg16 --summary", cnncalc + ["vgg16", "--summary"], 1.5),
    ]
    if hasattr(os, "openpty"):
        cases.append(("cnncalc vgg16 --summary, on a terminal (rich)",
                      [TTY] + cnncalc + ["vgg16", "--summary"], 1.5))
    notes: list[str] = []
    zoo = subprocess.run(cnncalc + ["list", "--format", "json"], capture_output=True, text=True,
                         env=ENV)
    names = {m["name"] for m in json.loads(zoo.stdout)} if zoo.returncode == 0 else set()
    if "resnet152" in names:
        cases.append(("cnncalc resnet152 --summary", cnncalc + ["resnet152", "--summary"], 2.0))
        if hasattr(os, "openpty"):
            cases.append(("cnncalc resnet152 --summary, on a terminal (rich)",
                          [TTY] + cnncalc + ["resnet152", "--summary"], 2.0))
    else:
        notes.append("resnet152 is not in the zoo yet: skipped")
    cases.append((f"cnncalc <{args.layers:,}-layer spec> --format json",
                  cnncalc + [str(spec), "--format", "json"], 10.0))
    if args.no_torchinfo:
        notes.append("torchinfo: skipped (--no-torchinfo)")
    elif has_module(py, "torchinfo") and has_module(py, "torch"):
        cases.append(("torchinfo.summary(VGG-16 built in torch), for the record",
                      [py, "-c", TORCHINFO_VGG16], None))
    else:
        notes.append("torchinfo or torch is not installed: skipped")

    # sanity: the commands produce what they should
    out = subprocess.run(cnncalc + ["vgg16", "--summary"], capture_output=True, text=True,
                         env=ENV)
    assert "138,357,544" in out.stdout, out.stdout[-500:]
    out = subprocess.run(cnncalc + [str(spec), "--format", "json"], capture_output=True,
                         text=True, env=ENV)
    assert len(json.loads(out.stdout)["layers"]) == args.layers

    times: dict[str, list[float]] = {label: [] for label, _, _ in cases}
    for _label, cmd, _ in cases:                      # warm-up: caches, .pyc files
        run_once(cmd)
    for r in range(args.rounds):
        order = cases[r % len(cases):] + cases[:r % len(cases)]
        for label, cmd, _ in order:
            times[label].append(run_once(cmd))

    base = statistics.median(times[cases[0][0]])
    results = []
    for label, _cmd, goal in cases:
        med = statistics.median(times[label])
        ratio = med / base
        results.append({"case": label, "median_s": med, "min_s": min(times[label]),
                        "ratio": ratio, "goal": goal,
                        "met": None if goal is None else ratio <= goal})

    print(f"machine: {machine()}")
    print(f"date: {date.today().isoformat()}   rounds: {args.rounds} (interleaved, median); "
          f"bytecode cache: {'off' if args.no_bytecode_cache else 'on'}")
    print()
    print("| case | median | min | × baseline | goal |")
    print("|---|---:|---:|---:|---|")
    for res in results:
        goal = "" if res["goal"] is None else (
            f"≤ {res['goal']:g}× {'met' if res['met'] else 'MISSED'}")
        print(f"| {res['case']} | {res['median_s'] * 1e3:.0f} ms | {res['min_s'] * 1e3:.0f} ms "
              f"| {res['ratio']:.2f} | {goal} |")
    for n in notes:
        print(f"\nnote: {n}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "date":
                                               date.today().isoformat(), "rounds": args.rounds,
                                               "results": results, "notes": notes}, indent=2))
    return 0 if all(r["met"] is not False for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
