#!/usr/bin/env python3
"""Scaling benchmark of the analytic path (issue 8): time and memory of very long specs.

Measures, side by side in one run, whole processes (output to /dev/null):

  baseline      python -c "import click, rich.console, rich.table, yaml"
  10k layers    cnncalc <10,000-layer spec> --format json     goal <= 10x baseline (time)
  100k layers   cnncalc <100,000-layer spec> --format json    goal <= 11x the 10k run (time),
                and peak RSS growth (RSS 100k - RSS 10k) / 90,000 <= 4 KB per layer

The specs are flat `layers:` lists on 32x32x16, one `conv: {filters: 16, kernel: 3, padding:
same}` item per layer, written out in full (bench_startup.generated_spec) so that the YAML parser
sees every layer. Before timing, each spec's JSON output is checked to list every layer.

Each process is started from a small wrapper process (as in bench_forward.py) that reports its
wall time and its peak RSS (ru_maxrss of the child), so that this process's own memory never
leaks into the figure. After one untimed warm-up round the rounds are interleaved (each case
once per round, the order rotated every round). The machine is shared: the goals are judged on
the minimum over the rounds (the best estimate of the undisturbed time; RSS barely varies), the
ratios of the medians are shown beside them.

Usage:  python benchmarks/bench_scale.py [--rounds 7] [--json FILE] [--no-bytecode-cache]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

# sibling module: the script's folder is on sys.path
from bench_startup import (add_bytecode_option, cache_bytecode, cnncalc_command,
                           generated_spec, machine)

LAYER = "conv: {filters: 16, kernel: 3, padding: same}"
SMALL, LARGE = 10_000, 100_000
GOAL_SMALL_VS_BASELINE = 10.0        # time of the 10k run / the import baseline
GOAL_LARGE_VS_SMALL = 11.0           # time of the 100k run / the 10k run
GOAL_BYTES_PER_LAYER = 4096          # (peak RSS 100k - peak RSS 10k) / 90,000


# Runs a command with its output to /dev/null and prints its wall time and peak RSS (bytes).
# As in bench_forward.py: Linux carries the parent's resident high-water mark over to a child
# that it forks, so the command is started from this small process, not from the benchmark.
_WRAPPER = r"""
import resource, subprocess, sys, time
t = time.perf_counter()
p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
wall = time.perf_counter() - t
if p.returncode:
    sys.exit(p.stderr.decode(errors="replace")[-500:] or f"exit {p.returncode}")
print(wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
"""


def measure(cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds and peak resident memory (bytes) of one process."""
    p = subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], capture_output=True, text=True,
                       env=env)
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed: {p.stderr[-500:]}")
    wall, rss = p.stdout.split()
    return float(wall), int(rss)


def check_output(cmd: list[str], n_layers: int, env: dict[str, str]) -> None:
    """The command succeeds and its JSON lists exactly ``n_layers`` layers."""
    out = subprocess.run(cmd, capture_output=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"command failed ({out.returncode}): {' '.join(cmd)}\n"
                         f"{out.stderr.decode(errors='replace')[-2000:]}")
    layers = json.loads(out.stdout)["layers"]
    if len(layers) != n_layers:
        raise SystemExit(f"{' '.join(cmd)}: {len(layers)} layers in the JSON, "
                         f"expected {n_layers}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7, help="timed rounds (default 7)")
    ap.add_argument("--python", default=sys.executable, help="interpreter to benchmark")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    add_bytecode_option(ap)
    args = ap.parse_args()

    py = args.python
    cnncalc = cnncalc_command(py)
    tmp = tempfile.TemporaryDirectory()
    env = dict(os.environ)
    if not args.no_bytecode_cache:      # cached bytecode, as installed
        cache_bytecode(env, tmp.name)

    cases: list[tuple[str, list[str]]] = [
        ("baseline", [py, "-c", "import click, rich.console, rich.table, yaml"])]
    for n in (SMALL, LARGE):
        spec = Path(tmp.name) / f"generated_{n}.yaml"
        spec.write_text(generated_spec(n, (LAYER,)))
        cmd = cnncalc + [str(spec), "--format", "json"]
        check_output(cmd, n, env)
        cases.append((f"{n // 1000}k", cmd))

    walls: dict[str, list[float]] = {label: [] for label, _ in cases}
    rss: dict[str, list[int]] = {label: [] for label, _ in cases}
    for _label, cmd in cases:                          # warm-up: caches, .pyc files
        measure(cmd, env)
    for r in range(args.rounds):
        for label, cmd in cases[r % len(cases):] + cases[:r % len(cases)]:
            wall, peak = measure(cmd, env)
            walls[label].append(wall)
            rss[label].append(peak)

    def t_min(label: str) -> float:
        return min(walls[label])

    def t_med(label: str) -> float:
        return statistics.median(walls[label])

    small, large = f"{SMALL // 1000}k", f"{LARGE // 1000}k"
    per_layer = (min(rss[large]) - min(rss[small])) / (LARGE - SMALL)
    goals = [
        (f"{small} / baseline (time)", t_min(small) / t_min("baseline"),
         t_med(small) / t_med("baseline"), GOAL_SMALL_VS_BASELINE, "×"),
        (f"{large} / {small} (time)", t_min(large) / t_min(small),
         t_med(large) / t_med(small), GOAL_LARGE_VS_SMALL, "×"),
        (f"(RSS {large} − RSS {small}) / {LARGE - SMALL:,} layers", per_layer,
         (statistics.median(rss[large]) - statistics.median(rss[small])) / (LARGE - SMALL),
         GOAL_BYTES_PER_LAYER, " B"),
    ]

    print(f"machine: {machine()}")
    print(f"date: {date.today().isoformat()}   rounds: {args.rounds} (interleaved); "
          f"bytecode cache: {'off' if args.no_bytecode_cache else 'on'}")
    print(f"spec: {SMALL:,} and {LARGE:,} × `{LAYER}` on 32x32x16, --format json")
    print()
    print("| case | median | min | peak RSS (min) |")
    print("|---|---:|---:|---:|")
    for label, _cmd in cases:
        print(f"| {label} | {t_med(label) * 1e3:.0f} ms | {t_min(label) * 1e3:.0f} ms "
              f"| {min(rss[label]) / 2**20:.1f} MiB |")
    print()
    print("| measure | from minimums | from medians | goal |")
    print("|---|---:|---:|---|")
    met = True
    for name, by_min, by_med, goal, unit in goals:
        ok = by_min <= goal
        met &= ok
        fmt = (lambda v: f"{v:.2f}×") if unit == "×" else (lambda v: f"{v:,.0f} B")
        print(f"| {name} | {fmt(by_min)} | {fmt(by_med)} | ≤ {fmt(goal)} "
              f"{'met' if ok else 'MISSED'} |")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "machine": machine(), "date": date.today().isoformat(), "rounds": args.rounds,
            "wall_s": walls, "peak_rss_bytes": rss,
            "goals": [{"measure": n, "from_min": a, "from_median": b, "goal": g, "met": a <= g}
                      for n, a, b, g, _ in goals]}, indent=2))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
