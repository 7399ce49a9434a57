"""Shared fixtures: golden files (regenerated only with ``pytest --overwrite``, as torchinfo
does) and an in-process runner for the command line.

The runner calls :func:`cnncalc.cli.run` (the same function the console script calls) with
stdout, stderr and stdin redirected, so a test sees exactly what a user in a pipe sees: plain
text (stdout is not a terminal), the exit code, and every line written to stderr.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

import cnncalc

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--overwrite", action="store_true", default=False,
                     help="Rewrite the golden files under tests/golden/ from the current output "
                          "instead of comparing against them.")


@pytest.fixture
def golden(request: pytest.FixtureRequest):
    """``golden("name.txt", text)``: compare ``text`` with tests/golden/name.txt exactly.

    With ``--overwrite`` the file is (re)written and the test passes; without it a missing file
    is a failure (golden files are only ever created on purpose).
    """
    overwrite = request.config.getoption("--overwrite")

    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if overwrite:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return
        if not path.exists():
            pytest.fail(f"golden file {path} is missing; create it with `pytest --overwrite`")
        expected = path.read_text(encoding="utf-8")
        assert text == expected, (
            f"output differs from {path.relative_to(ROOT)}; if the change is intended, "
            f"regenerate with `pytest --overwrite` and review the diff")

    return check


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()


class _Stdin(io.TextIOWrapper):
    """A text stdin over bytes that is not a terminal (like a pipe)."""

    def isatty(self) -> bool:
        return False


def invoke(*args: str, stdin: str | bytes = b"", env: dict[str, str] | None = None) -> Outcome:
    """Run ``cnncalc ARGS`` in-process; stdin is a pipe holding ``stdin``."""
    from cnncalc.cli import run

    data = stdin.encode() if isinstance(stdin, str) else stdin
    fake_in = _Stdin(io.BytesIO(data), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    old_in = sys.stdin
    saved_env = {k: os.environ.get(k) for k in (env or {})}
    try:
        sys.stdin = fake_in
        os.environ.update(env or {})
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = run(list(args))
    finally:
        sys.stdin = old_in
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return Outcome(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli():
    return invoke


def cnncalc_exe() -> list[str]:
    """The installed console script if it is next to this Python, else ``python -m cnncalc``."""
    script = Path(sys.executable).with_name("cnncalc")
    return [str(script)] if script.exists() else [sys.executable, "-m", "cnncalc"]


def run_process(*args: str, stdin: bytes = b"", env: dict[str, str] | None = None,
                cwd: str | Path | None = None) -> Outcome:
    """Run the real ``cnncalc`` executable in a subprocess (for pipes, cwd and the entry point)."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("CNNCALC_DEBUG", None)
    proc = subprocess.run(cnncalc_exe() + list(args), input=stdin, capture_output=True,
                          env=full_env, cwd=cwd, timeout=60)
    return Outcome(proc.returncode, proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8"))


@pytest.fixture
def proc():
    return run_process


def run_on_pty(args: list[str], env: dict[str, str] | None = None, columns: int = 200,
               timeout: float = 120) -> tuple[int, str]:
    """Run the real ``cnncalc`` with stdout and stderr on a pseudo-terminal (rich rendering,
    progress bars); returns (exit code, everything it printed). NO_COLOR is unset unless ``env``
    sets it."""
    pytest.importorskip("pty")  # POSIX only
    env = env or {}
    master, slave = os.openpty()
    full = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(columns), **env}
    if "NO_COLOR" not in env:
        full.pop("NO_COLOR", None)
    p = subprocess.Popen(cnncalc_exe() + list(args), stdout=slave, stderr=slave, env=full)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:     # EIO once the child closes the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return p.wait(timeout=timeout), b"".join(chunks).decode("utf-8", "replace")


def assert_clean_error(res: Outcome, *needles: str, code: int = 2) -> None:
    """Exit ``code``, nothing on stdout, exactly one line on stderr that contains every needle
    and no traceback."""
    assert res.code == code, f"exit {res.code}, expected {code}; stderr: {res.err!r}"
    assert "Traceback" not in res.err and "Traceback" not in res.out
    assert len(res.err_lines) == 1, f"expected one line on stderr, got: {res.err!r}"
    line = res.err_lines[0]
    assert line.startswith("cnncalc: error: "), line
    for n in needles:
        assert n in line, f"{n!r} not in {line!r}"


def analyse_text(text: str, label: str = "net.yaml", **kw) -> cnncalc.Analysis:
    """Analyse a spec written inline in a test (indentation removed), as if read from ``label``."""
    return cnncalc.analyse(cnncalc.loads(textwrap.dedent(text), label), **kw)


@pytest.fixture(scope="session")
def torch():
    """PyTorch, the test oracle; the test is skipped where it is not installed."""
    return pytest.importorskip("torch")


@functools.lru_cache(maxsize=None)
def zoo_analysis(name: str) -> cnncalc.Analysis:
    """A zoo model's analysis, computed once per test session (records are immutable)."""
    return cnncalc.analyse(cnncalc.load(name))


# --- torchvision's small modules, as written there (tests must not need torchvision) ----------

def layer_norm_2d(torch, c: int, eps: float = 1e-6):
    """torchvision.models.convnext.LayerNorm2d (torch tests must not need torchvision)."""
    class LayerNorm2d(torch.nn.LayerNorm):
        def forward(self, x):
            x = x.permute(0, 2, 3, 1)
            x = torch.nn.functional.layer_norm(x, self.normalized_shape, self.weight, self.bias,
                                               self.eps)
            return x.permute(0, 3, 1, 2)
    return LayerNorm2d(c, eps=eps)


def stochastic_depth(torch, x, p: float, mode: str, training: bool):
    """torchvision.ops.stochastic_depth, as written there."""
    if not training or p == 0.0:
        return x
    survival_rate = 1.0 - p
    size = [x.shape[0]] + [1] * (x.ndim - 1) if mode == "row" else [1] * x.ndim
    noise = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(survival_rate)
    if survival_rate > 0.0:
        noise.div_(survival_rate)
    return x * noise


class DictWeights:
    """A run's weights from a dict keyed like a --weights file ("path.key"), without a file."""
    description = "test"

    def __init__(self, arrays):
        self.arrays = arrays

    def check(self, a):
        return []

    def get(self, rec, spec, keyno, eng=None):
        return self.arrays[f"{rec.path}.{spec.key}"].reshape(spec.shape)
