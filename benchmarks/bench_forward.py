#!/usr/bin/env python3
"""Forward-pass benchmark of `cnncalc --run` (issues 4 and 8), compared with PyTorch in one run.

Measures, side by side, at the same number of threads (the engine's: one per CPU, or
OMP_NUM_THREADS; PyTorch is set to it):

  gemm          the machine's single-precision GEMM rate: NumPy (and PyTorch) 2048^3 sgemm
  forward       VGG-16 at 224x224x3, batch 1: the NumPy engine's forward_seconds (weights
                already in memory, and prepared: the Winograd kernel transforms are weights time) vs
                PyTorch's CPU forward of the same network with the same weights (outputs are
                compared, so this is also a numerical check); goal engine <= 1.0x PyTorch
  run.forward_seconds
                of `cnncalc vgg16 --run --format json`, each run a fresh process (its weights,
                made before each layer, are timed apart as run.weights_seconds), vs the same
                PyTorch forward; goal <= 1.0x
  end to end    `cnncalc vgg16 --run` as a process (start-up, random weights, forward) vs an
                equivalent PyTorch script (import, build VGG-16 with its default init, forward
                one random image); goal <= 0.6x
  peak RSS      of the `cnncalc vgg16 --run` process (goal <= 1 GiB) and of the PyTorch script
  GFLOP/s       achieved by the engine (2 x 15.47 G MACs / forward time) beside the GEMM rate

Exits 1 when a goal is missed (PyTorch's goals only when PyTorch is installed).

Repetitions alternate between the two sides (engine, torch, engine, ... with a short pause so
spinning BLAS/OpenMP threads go idle) after a warm-up, and the median and minimum are reported:
the machine is shared, so the minimum is the best estimate of the undisturbed time and the
median shows the spread. PyTorch is optional (its columns are then left out).

On some processors OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE are set to work around old OpenBLAS bugs;
they slow a current NumPy. This script reports them and, unless --keep-openblas-env is given,
re-runs itself without both (for the benchmark only: tests and CI never change them).

Usage:  python benchmarks/bench_forward.py [--rounds 15] [--e2e-rounds N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_startup import machine   # sibling modules: the script's folder is on sys.path
from torch_vgg16 import TORCH_VGG16

HERE = Path(__file__).resolve().parent
OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

TORCH_VGG16_SCRIPT = TORCH_VGG16 + r"""
model = nn.Sequential(model, nn.Softmax(dim=1)).eval()
torch.manual_seed(0)
with torch.inference_mode():
    y = model(torch.rand(1, 3, 224, 224))
print(tuple(y.shape), float(y.sum()))
"""


def openblas_info() -> dict:
    """OpenBLAS's own description (core kernel, threads) through ctypes, when NumPy bundles it
    (the same thing threadpoolctl reports)."""
    import ctypes
    import glob

    import numpy as np
    libs = glob.glob(str(Path(np.__file__).parent.parent / "numpy.libs" / "*openblas*"))
    out: dict = {"env": {k: os.environ.get(k) for k in OPENBLAS_VARS}}
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_openblas_", "openblas_"):
            for suffix in ("64_", ""):
                try:
                    core = getattr(lib, f"{prefix}get_corename{suffix}")
                    conf = getattr(lib, f"{prefix}get_config{suffix}")
                    threads = getattr(lib, f"{prefix}get_num_threads{suffix}")
                except AttributeError:
                    continue
                core.restype = conf.restype = ctypes.c_char_p
                out.update(corename=core().decode(), config=conf().decode(),
                           threads=int(threads()))
                return out
    return out


def best_and_median(times: list[float]) -> dict:
    return {"min": min(times), "median": statistics.median(times), "runs": len(times)}


def gemm_rate(n: int = 2048, repeat: int = 5) -> dict:
    """Single-precision n×n GEMM rate (best of ``repeat`` after a warm-up), NumPy and torch."""
    import numpy as np
    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)

    def gflops(x, y) -> float:
        x @ y
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            x @ y
            times.append(time.perf_counter() - t)
        return 2 * n ** 3 / min(times) / 1e9

    out = {"numpy_gflops": gflops(a, b)}
    try:
        import torch
        out["torch_gflops"] = gflops(torch.from_numpy(a), torch.from_numpy(b))
    except ImportError:
        pass
    return out


class Preloaded:
    """Weights already in memory (generated once by RandomWeights), so that the forward time
    is the forward pass alone, as it is for a PyTorch model."""
    description = "preloaded"

    def __init__(self, a, seed: int = 0):
        from cnncalc import engine
        gen = engine.RandomWeights(seed, stream=False)
        with engine.Engine() as eng:
            self.arrays = {(rec.index, s.key): gen.get(rec, s, k, eng) for rec in a.layers
                           for k, s in enumerate(engine.param_specs(rec))}

    def check(self, a):
        return []

    def get(self, rec, spec, keyno, eng=None):
        return self.arrays[(rec.index, spec.key)]


def torch_model_from(a, weights: Preloaded):
    """The same VGG-16 in PyTorch (NCHW), with the engine's weights: HWIO → OIHW, dense
    (in, units) → (units, in), and fc1's inputs permuted from H×W×C to C×H×W order."""
    import torch
    import torch.nn as nn
    mods = []
    for rec in a.layers:
        lay = rec.layer
        if rec.type == "conv":
            conv = nn.Conv2d(rec.input_shapes[0][-1], lay.filters, lay.kernel, padding=1)
            conv.weight.data = torch.from_numpy(
                weights.arrays[(rec.index, "weight")].transpose(3, 2, 0, 1).copy())
            conv.bias.data = torch.from_numpy(weights.arrays[(rec.index, "bias")])
            mods += [conv, nn.ReLU(inplace=True)]
        elif rec.type == "maxpool":
            mods.append(nn.MaxPool2d(2, 2))
        elif rec.type == "flatten":
            mods.append(nn.Flatten())
            hwc = rec.input_shapes[0]
        elif rec.type == "dense":
            w = weights.arrays[(rec.index, "weight")].T
            if rec.input_shapes[0][0] == hwc[0] * hwc[1] * hwc[2]:
                h, wd, c = hwc
                w = w.reshape(-1, h, wd, c).transpose(0, 3, 1, 2).reshape(w.shape[0], -1)
            lin = nn.Linear(w.shape[1], w.shape[0])
            lin.weight.data = torch.from_numpy(w.copy())
            lin.bias.data = torch.from_numpy(weights.arrays[(rec.index, "bias")])
            mods.append(lin)
            mods.append(nn.ReLU(inplace=True) if lay.activation == "relu" else nn.Softmax(1))
    return nn.Sequential(*mods).eval()


def forward_benchmark(rounds: int, threads: int) -> dict:
    import numpy as np

    import cnncalc
    from cnncalc import engine

    a = cnncalc.analyse(cnncalc.load("vgg16"))
    weights = Preloaded(a)
    x = engine.random_input(a.input, 1, 0)
    out: dict = {"macs": a.totals()["macs"]}
    ours, torch_t = [], []
    try:
        import torch
        torch.set_num_threads(threads)
        model = torch_model_from(a, weights)
        xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    except ImportError:
        torch = None
    y = engine.run(a, x, weights).output                # warm-up
    if torch is not None:
        with torch.inference_mode():
            yt = model(xt).numpy()
        err = float(np.abs(y - yt).max() / np.abs(yt).max())
        out["max_relative_difference_vs_torch"] = err
    for _ in range(rounds):
        time.sleep(0.3)
        # the forward pass alone, as for PyTorch: the run's weight preparation (the Winograd
        # kernel transforms) is its weights time, a framework's prepacking
        ours.append(engine.run(a, x, weights).forward_seconds)
        if torch is not None:
            time.sleep(0.3)
            with torch.inference_mode():
                t = time.perf_counter()
                model(xt)
                torch_t.append(time.perf_counter() - t)
    out["engine"] = best_and_median(ours)
    out["engine_gflops"] = 2 * out["macs"] / min(ours) / 1e9
    if torch_t:
        out["torch"] = best_and_median(torch_t)
        out["torch_threads"] = torch.get_num_threads()
        out["ratio_min"] = min(ours) / min(torch_t)
        out["ratio_median"] = statistics.median(ours) / statistics.median(torch_t)
    # the per-layer split of one engine run with generated weights (as `--run` does it when
    # they fit: whole, made before each layer)
    res = engine.run(a, x, engine.RandomWeights(0, stream=False))
    out["run_forward_seconds"] = res.forward_seconds
    out["run_weights_seconds"] = res.weights_seconds
    out["slowest_layers"] = [(lr.path, round(lr.seconds * 1e3, 1)) for lr in
                             sorted(res.layers, key=lambda lr: -lr.seconds)[:5]]
    return out


# Runs a command and reports its wall time and peak RSS. Linux charges a child the parent's
# resident memory at fork when it execs (the high-water mark carries over), so the command is
# started from this small helper process, never from the benchmark process itself, which holds
# PyTorch and two copies of VGG-16's weights.
_WRAPPER = r"""
import json, resource, subprocess, sys, time
t = time.perf_counter()
p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
wall = time.perf_counter() - t
if p.returncode:
    sys.exit(p.stderr.decode()[-500:] or f"exit {p.returncode}")
try:
    run = json.loads(p.stdout)["run"]
    run = {k: run[k] for k in ("forward_seconds", "weights_seconds", "threads",
                               "weights_streamed", "verified")}
except (ValueError, KeyError, TypeError):
    run = None
print(json.dumps({"wall": wall, "rss": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
                  * 1024, "run": run}))
"""


def measure(cmd: list[str]) -> dict:
    """Wall seconds, peak resident memory (bytes) and, for `--format json`, the ``run`` figures
    of one process."""
    p = subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], capture_output=True, text=True)
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed: {p.stderr[-500:]}")
    return json.loads(p.stdout)


def end_to_end(rounds: int) -> dict:
    exe = Path(sys.executable).with_name("cnncalc")
    cnncalc = [str(exe)] if exe.exists() else [sys.executable, "-m", "cnncalc"]
    sides = {"cnncalc": cnncalc + ["vgg16", "--run", "--format", "json"]}
    try:
        import torch  # noqa: F401
        sides["torch"] = [sys.executable, "-c", TORCH_VGG16_SCRIPT]
    except ImportError:
        pass
    for cmd in sides.values():          # warm-up: page cache, .pyc files
        measure(cmd)
    walls: dict[str, list[float]] = {k: [] for k in sides}
    rss: dict[str, int] = {k: 0 for k in sides}
    runs: list[dict] = []
    for i in range(rounds):
        order = list(sides) if i % 2 == 0 else list(reversed(sides))
        for k in order:
            time.sleep(0.3)
            got = measure(sides[k])
            walls[k].append(got["wall"])
            rss[k] = max(rss[k], got["rss"])
            if k == "cnncalc":
                if not (got["run"] and got["run"]["verified"]):
                    raise SystemExit(f"cnncalc vgg16 --run did not verify: {got}")
                runs.append(got["run"])
    out = {k: {**best_and_median(v), "peak_rss_bytes": rss[k]} for k, v in walls.items()}
    out["cnncalc"]["run_forward_seconds"] = best_and_median([r["forward_seconds"] for r in runs])
    out["cnncalc"]["run_weights_seconds"] = best_and_median([r["weights_seconds"] for r in runs])
    out["cnncalc"]["threads"] = runs[0]["threads"]
    out["cnncalc"]["weights_streamed"] = runs[0]["weights_streamed"]
    if "torch" in out:
        out["ratio_min"] = out["cnncalc"]["min"] / out["torch"]["min"]
        out["ratio_median"] = out["cnncalc"]["median"] / out["torch"]["median"]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=15, help="forward-pass repetitions per side")
    ap.add_argument("--e2e-rounds", type=int, default=None,
                    help="end-to-end process repetitions (default: as many as --rounds, so that "
                         "run.forward_seconds and PyTorch's forward are minimums over as many "
                         "samples)")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--keep-openblas-env", action="store_true",
                    help="do not drop OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE for the benchmark")
    args = ap.parse_args()
    if args.e2e_rounds is None:
        args.e2e_rounds = args.rounds
    if not args.keep_openblas_env and any(k in os.environ for k in OPENBLAS_VARS):
        env = {k: v for k, v in os.environ.items() if k not in OPENBLAS_VARS}
        env["CNNCALC_BENCH_DROPPED"] = ",".join(f"{k}={os.environ[k]}" for k in OPENBLAS_VARS
                                                if k in os.environ)
        os.execve(sys.executable, [sys.executable] + sys.argv, env)

    import numpy as np

    from cnncalc.engine.config import default_workers
    threads = default_workers()
    results: dict = {
        "machine": {"cpu": machine(), "python": platform.python_version(),
                    "numpy": np.__version__, "openblas": openblas_info(), "threads": threads,
                    "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
                    "dropped_env": os.environ.get("CNNCALC_BENCH_DROPPED")},
    }
    try:
        import torch
        results["machine"]["torch"] = torch.__version__
    except ImportError:
        pass
    print(f"machine: {results['machine']}", flush=True)
    results["gemm"] = gemm_rate()
    print(f"gemm: {results['gemm']}", flush=True)
    results["forward"] = forward_benchmark(args.rounds, threads)
    print(f"forward: {json.dumps(results['forward'])}", flush=True)
    results["end_to_end"] = end_to_end(args.e2e_rounds)
    print(f"end to end: {json.dumps(results['end_to_end'])}", flush=True)

    f, e, g = results["forward"], results["end_to_end"], results["gemm"]
    c = e["cnncalc"]
    missed: list[str] = []

    def goal(name: str, ratio: float, limit: float) -> str:
        if ratio > limit:
            missed.append(name)
            return f"goal <= {limit}x MISSED"
        return f"goal <= {limit}x met"

    print()
    print(f"VGG-16, 224x224x3, batch 1, {threads} thread(s); {results['machine']['cpu']}")
    if "torch" in f:
        t_min, t_med = f["torch"]["min"], f["torch"]["median"]
        print(f"  forward     engine {f['engine']['min']:.3f} s (median "
              f"{f['engine']['median']:.3f})  torch {t_min:.3f} s (median {t_med:.3f})  ratio "
              f"{f['ratio_min']:.2f}x (median {f['ratio_median']:.2f}x)  "
              + goal("forward", f["ratio_min"], 1.0))
        print(f"              outputs agree to {f['max_relative_difference_vs_torch']:.1e} "
              f"(max difference / max value)")
        r = c["run_forward_seconds"]
        ratio = r["min"] / t_min
        results["run_forward_ratio_min"] = ratio
        print(f"  run.forward_seconds of `cnncalc vgg16 --run --format json` {r['min']:.3f} s "
              f"(median {r['median']:.3f}) vs torch {t_min:.3f} s: ratio {ratio:.2f}x (median "
              f"{r['median'] / t_med:.2f}x)  " + goal("run.forward_seconds", ratio, 1.0))
    else:
        print(f"  forward     engine {f['engine']['min']:.3f} s (median "
              f"{f['engine']['median']:.3f}); run.forward_seconds "
              f"{c['run_forward_seconds']['min']:.3f} s")
    w = c["run_weights_seconds"]
    print(f"  weights     run.weights_seconds {w['min']:.3f} s (median {w['median']:.3f}): "
          f"generating 138 M random values and the Winograd kernel transforms"
          + (" (fc1 streamed, inside the forward time)" if c["weights_streamed"] else ""))
    print(f"  GFLOP/s     engine {f['engine_gflops']:.1f}  vs sgemm NumPy "
          f"{g['numpy_gflops']:.1f}" + (f", torch {g['torch_gflops']:.1f}"
                                        if "torch_gflops" in g else ""))
    line = f"  end to end  cnncalc {c['min']:.2f} s (median {c['median']:.2f})"
    if "torch" in e:
        t = e["torch"]
        line += (f"  torch script {t['min']:.2f} s (median {t['median']:.2f})  ratio "
                 f"{e['ratio_min']:.2f}x (median {e['ratio_median']:.2f}x)  "
                 + goal("end to end", e["ratio_min"], 0.6))
    print(line)
    rss = c["peak_rss_bytes"] / 2 ** 20
    if rss > 1024:
        missed.append("peak RSS")
    print(f"  peak RSS    cnncalc {rss:.0f} MiB  goal <= 1024 MiB "
          f"{'MISSED' if rss > 1024 else 'met'}"
          + (f"  (torch script {e['torch']['peak_rss_bytes'] / 2 ** 20:.0f} MiB)"
             if "torch" in e else ""))
    results["missed"] = missed
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    if missed:
        print(f"missed: {', '.join(missed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
