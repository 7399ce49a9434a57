"""Faults while running and writing (issue "Hostile input and faults", items 4, 5, 6, 10, 12, 14
and the exit-70 rule): each reproduction from the issue is a test. Input-side items (1-3, 7-9, 11,
13 and the rest of 14) are in test_hostile.py."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke
from PIL import Image

CLI = [sys.executable, "-m", "cnncalc"]
GIB = 1 << 30


def one_line_error(res, code: int = 2, *needles: str) -> str:
    """``res``: an Outcome (in-process) or a CompletedProcess; returns stderr."""
    rc = getattr(res, "code", None)
    rc = res.returncode if rc is None else rc
    err = res.err if hasattr(res, "err") else res.stderr.decode("utf-8", "replace")
    assert rc == code, (rc, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for n in needles:
        assert n in err, (n, err)
    return err


def spec(tmp_path: Path, text: str, name: str = "net.yaml") -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


# --- 4. --max-memory covers everything ------------------------------------------------------------

def _peak_rss(args: list[str], cwd: Path, timeout: float = 240) -> tuple[int, int, str]:
    """Run the CLI; return its exit code, its own peak resident memory (bytes) and stderr."""
    with open(cwd / "stderr.txt", "wb") as err:
        proc = subprocess.Popen(CLI + args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
        t0 = time.monotonic()
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - t0 > timeout:
                proc.kill()
                pytest.fail(f"cnncalc {' '.join(args)} took more than {timeout} s")
            time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss * 1024, (cwd / "stderr.txt").read_text()


def test_a_run_with_maps_stays_within_max_memory(tmp_path):
    # the issue: a 2000x2000x3 input, one 1x1 conv with 64 filters, --save-maps: the output alone
    # is 977 MiB, and the maps used to be normalised on whole-layer copies (5 GB peak)
    net = spec(tmp_path, "input: 2000x2000x3\nlayers: [{conv: {filters: 64, kernel: 1}}]\n")
    code, peak, err = _peak_rss([net, "--run", "--save-maps", "m", "--max-memory", "1.3G", "-q"],
                                tmp_path)
    assert code in (0, 2), err
    if code == 2:
        one_line_error(subprocess.CompletedProcess([], 2, b"", err.encode()), 2, "1.3 GiB")
    else:
        assert peak <= 1.3 * GIB * 1.1, f"peak {peak / GIB:.2f} GiB"
        assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["000_input.png",
                                                                      "001_conv_1.png"]


def test_the_maps_count_in_the_estimate(tmp_path):
    # writing the maps needs memory after a layer, while its output is live: refused up front
    from cnncalc import analyse, load
    from cnncalc.engine import estimate_memory
    from cnncalc.images import MapWriter
    a = analyse(load(spec(tmp_path, "input: 512x512x3\nlayers: [{conv: {filters: 64, "
                                    "kernel: 1}}]\n")))
    plain = estimate_memory(a).peak
    maps = estimate_memory(a, after=MapWriter(str(tmp_path / "m")).scratch_bytes).peak
    assert maps > plain
    limit = (plain + maps) // 2
    res = invoke(spec(tmp_path, "input: 512x512x3\nlayers: [{conv: {filters: 64, kernel: 1}}]\n"),
                 "--save-maps", str(tmp_path / "m"), "--max-memory", str(limit))
    one_line_error(res, 2, "--run would need about", "(--max-memory)")
    assert not (tmp_path / "m").exists()          # refused before anything was written
    res = invoke(str(tmp_path / "net.yaml"), "--max-memory", str(limit), "-q")
    assert res.code == 0, res.err                 # without the maps it fits


def _png_header(path: Path, width: int, height: int) -> None:
    """A PNG that claims width x height pixels (and holds none): the size is read from the
    header and refused before anything is decoded."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def test_image_size_is_checked_from_the_header(tmp_path):
    _png_header(tmp_path / "big.png", 9000, 9000)
    res = invoke("edges", "--image", str(tmp_path / "big.png"), "--input", "auto",
                 "--max-memory", "500M")
    one_line_error(res, 2, "big.png: decoding this 9000x9000 image would need about",
                   "more than the memory budget of 500.0 MiB (--max-memory) allows")
    _png_header(tmp_path / "bomb.png", 30000, 30000)
    res = invoke("edges", "--image", str(tmp_path / "bomb.png"))
    one_line_error(res, 2, "bomb.png: image of 30000x30000 = 900,000,000 pixels, more than the "
                           "limit of 89,478,485")


def test_npy_size_is_checked_from_the_header(tmp_path):
    with open(tmp_path / "lie.npy", "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (100_000, 100_000, 3)})
        fh.write(b"x" * 100)
    res = invoke("edges", "--image", str(tmp_path / "lie.npy"), "--input", "auto")
    one_line_error(res, 2, "lie.npy: its header promises 100000x100000x3 of float32, more than "
                           "the file holds")
    np.save(tmp_path / "ok.npy", np.zeros((600, 600, 3), np.float32))
    res = invoke("edges", "--image", str(tmp_path / "ok.npy"), "--input", "auto",
                 "--max-memory", "100M")
    one_line_error(res, 2, "ok.npy: loading this 600x600x3 array would need about")


def _ulimit(kib: int, args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", f"ulimit -v {kib}; exec {' '.join(CLI)} {args}"],
                          capture_output=True, timeout=120)


def test_vgg16_under_an_address_space_limit_fits_or_refuses():
    # the issue: `cnncalc vgg16 --run` under `ulimit -v 600000` died with a MemoryError. The
    # default budget now respects RLIMIT_AS (less what is mapped and the worker threads'
    # reservations): it runs if it fits (two cores here), else it refuses naming the budget
    res = _ulimit(600_000, "vgg16 --run -q")
    err = res.stderr.decode()
    assert "MemoryError" not in err and "Traceback" not in err, err
    if res.returncode == 2:
        one_line_error(res, 2, "ulimit -v 600000")
    else:
        assert res.returncode == 0 and res.stdout.decode().strip() == "[1000]", err
    # eight images do not fit on any machine: refused before running, naming the budget
    one_line_error(_ulimit(600_000, "vgg16 --run -q --batch 8"), 2, "--run would need about",
                   "the address-space limit, ulimit -v 600000", "worker thread(s)",
                   "a smaller --batch than 8")


def test_a_memory_error_during_a_run_is_one_line(monkeypatch, tmp_path):
    from cnncalc.engine import ops

    def no_memory(ctx, xs):
        raise MemoryError("Unable to allocate 98.0 MiB")
    monkeypatch.setitem(ops.OPS, "relu", ops.Op(no_memory))
    res = invoke(spec(tmp_path, "input: 8x8x3\nlayers: [{conv: {filters: 2, kernel: 1}}, "
                                "relu]\n"), "--run", "--max-memory", "1G")
    one_line_error(res, 2, "--run out of memory at layer 2 'relu_1' (relu): Unable to allocate "
                           "98.0 MiB", "the limit of 1.0 GiB (--max-memory)")


# --- 5. every output is written whole or not at all -----------------------------------------------

def test_concurrent_runs_into_one_folder_leave_whole_pngs(tmp_path):
    shared = tmp_path / "shared"
    procs = [subprocess.Popen(CLI + ["edges", "--run", "--seed", str(n), "--save-maps",
                                     str(shared), "-q"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for n in range(12)]
    for p in procs:
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err.decode()
    names = sorted(p.name for p in shared.iterdir())
    assert len(names) == 5 and all(n[:3].isdigit() and n.endswith(".png") for n in names), \
        names                                       # no temporary files left
    for name in names:
        with Image.open(shared / name) as im:
            im.load()                               # decodes: whole files only


def test_atomic_file_leaves_nothing_on_failure_or_ctrl_c(tmp_path):
    from cnncalc.errors import CnnCalcError
    from cnncalc.files import atomic_file, write_atomic
    target = tmp_path / "out.npy"
    write_atomic(target, b"old", "--save-output")
    for exc in (ValueError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            with atomic_file(target, "--save-output") as fh:
                fh.write(b"half")
                raise exc
        assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["out.npy"]
    os.chmod(target, 0o640)
    write_atomic(target, b"new", "--save-output")
    assert target.read_bytes() == b"new" and (target.stat().st_mode & 0o777) == 0o640
    with pytest.raises(CnnCalcError, match="cannot write --save-output .*No such file"):
        write_atomic(tmp_path / "no" / "x.npy", b"", "--save-output")


def test_save_output_and_diagram_go_through_a_temporary_file(tmp_path, monkeypatch):
    import tempfile                 # cnncalc.files imports it when it writes
    seen = []
    real = tempfile.mkstemp

    def spy(*args, **kwargs):
        fd, name = real(*args, **kwargs)
        seen.append(Path(name).parent)
        return fd, name
    monkeypatch.setattr(tempfile, "mkstemp", spy)
    res = invoke("lenet5", "--run", "-o", str(tmp_path / "o.npy"), "--diagram",
                 str(tmp_path / "d.svg"), "--save-maps", str(tmp_path / "m"), "-q")
    assert res.code == 0, res.err
    assert seen.count(tmp_path) == 2 and seen.count(tmp_path / "m") >= 2
    assert sorted(os.listdir(tmp_path)) == ["d.svg", "m", "o.npy"]


# --- 6. an output must not destroy an input -------------------------------------------------------

DENSE = "input: [4]\nlayers: [{dense: {units: 2, name: fc}}]\n"


def _weights(path: Path) -> bytes:
    np.savez(path, **{"fc.weight": np.ones((4, 2), np.float32), "fc.bias": np.zeros(2)})
    return path.read_bytes()


@pytest.mark.parametrize("link", ["same", "symlink", "hardlink"])
def test_save_output_over_the_weights_is_refused(tmp_path, link):
    w = tmp_path / "w.npz"
    before = _weights(w)
    out = w
    if link != "same":
        out = tmp_path / "link.npz"
        (os.symlink if link == "symlink" else os.link)(w, out)
    res = invoke(spec(tmp_path, DENSE), "--weights", str(w), "--save-output", str(out))
    one_line_error(res, 2, f"--save-output {out} is the same file as the --weights",
                   "would destroy the input")
    assert w.read_bytes() == before


def test_outputs_over_the_spec_or_the_image_are_refused(tmp_path):
    net = spec(tmp_path, "input: 8x8x3\nlayers: [relu]\n")
    before = Path(net).read_bytes()
    one_line_error(invoke(net, "--save-output", net), 2, "is the same file as the spec")
    Image.new("RGB", (8, 8)).save(tmp_path / "cat.svg", format="PNG")
    one_line_error(invoke(net, "--image", str(tmp_path / "cat.svg"), "--diagram",
                          str(tmp_path / "cat.svg")), 2, "--diagram", "same file as the --image")
    # --save-maps . next to an image called 000_input.png: that file would be replaced
    Image.new("RGB", (8, 8)).save(tmp_path / "000_input.png")
    res = invoke(net, "--image", str(tmp_path / "000_input.png"), "--save-maps", str(tmp_path))
    one_line_error(res, 2, "would replace", "000_input.png, the --image")
    # two outputs naming one file
    one_line_error(invoke(net, "--run", "-o", str(tmp_path / "x.svg"), "--diagram",
                          str(tmp_path / "x.svg")), 2, "are the same file")
    assert Path(net).read_bytes() == before


def test_convert_output_over_its_input_is_refused(tmp_path):
    from conftest import ROOT
    cfg = tmp_path / "yolov3-tiny.cfg"
    cfg.write_bytes((ROOT / "tests/data/darknet/yolov3-tiny.cfg").read_bytes())
    before = cfg.read_bytes()
    one_line_error(invoke("convert", str(cfg), "-o", str(cfg)), 2,
                   "--output", "is the same file as the FILE")
    one_line_error(invoke("convert", str(cfg), "-o", ""), 2, "--output: the path is empty")
    assert cfg.read_bytes() == before
    res = invoke("convert", str(cfg), "-o", str(tmp_path / "y.yaml"))
    assert res.code == 0 and (tmp_path / "y.yaml").read_text().startswith("#"), res.err
    assert sorted(os.listdir(tmp_path)) == ["y.yaml", "yolov3-tiny.cfg"]       # no temp file


def test_stdin_file_is_an_input_too(tmp_path):
    net = spec(tmp_path, "input: 8x8x3\nlayers: [relu]\n")
    with open(net, "rb") as fh:
        res = subprocess.run(CLI + ["-", "--run", "-o", net], stdin=fh, capture_output=True,
                             timeout=60)
    one_line_error(res, 2, "same file as the spec (standard input)")
    assert Path(net).read_text() == "input: 8x8x3\nlayers: [relu]\n"


@pytest.mark.parametrize("option", ["--save-output", "--weights", "--save-maps", "--image",
                                    "--diagram"])
def test_empty_paths_are_refused(tmp_path, option):
    res = invoke(spec(tmp_path, DENSE), option, "")
    one_line_error(res, 2, f"{option}: the path is empty")


# --- 10. kernels never write into broadcast views -------------------------------------------------

@pytest.mark.parametrize("after", ["relu", "batchnorm", "relu6", "tanh", "softmax",
                                   "{leaky_relu: 0.1}"])
def test_in_place_layers_after_upsampling_a_1x1_map(tmp_path, after):
    # the issue: global_avgpool, upsample: 4, relu failed with "output array is read-only"
    net = spec(tmp_path, f"input: 8x8x3\nlayers: [global_avgpool, {{upsample: 4}}, {after}]\n")
    res = invoke(net, "--run", "-o", str(tmp_path / "o.npy"), "-q")
    assert res.code == 0 and res.out.strip() == "4x4x3", res.err
    out = np.load(tmp_path / "o.npy")
    assert (out == out[:1, :1]).all()               # every pixel is the pooled one


def test_in_place_only_on_writable_arrays():
    from cnncalc.engine.run import _writable
    x = np.zeros((1, 4, 4, 3), np.float32)
    assert _writable(x) and _writable(x[:, 1:3])
    assert not _writable(np.broadcast_to(x[:, :1, :1], (1, 4, 4, 3)))
    view = np.lib.stride_tricks.as_strided(x, (1, 4, 4, 3), (0, 0, 0, 4))   # writable, shared
    assert view.flags.writeable and not _writable(view)


# --- 12. NaN and infinity -------------------------------------------------------------------------

def test_all_nan_float_tiff_is_refused(tmp_path):
    Image.fromarray(np.full((8, 8), np.nan, np.float32), mode="F").save(tmp_path / "nan.tif")
    res = invoke("lenet5", "--image", str(tmp_path / "nan.tif"))
    one_line_error(res, 2, "nan.tif: 64 non-finite value(s) (NaN or infinity)")


def test_float64_weights_beyond_float32_are_refused(tmp_path):
    np.savez(tmp_path / "w.npz", **{"fc.weight": np.full((4, 2), 1e300),
                                    "fc.bias": np.zeros(2)})
    res = invoke(spec(tmp_path, DENSE), "--weights", str(tmp_path / "w.npz"))
    one_line_error(res, 2, "w.npz: layer 1 'fc' (dense): array 'fc.weight' has values beyond "
                           "float32's range (±3.4e38), up to 1e+300")
    np.save(tmp_path / "x.npy", np.full(4, 1e300))
    res = invoke(spec(tmp_path, DENSE), "--image", str(tmp_path / "x.npy"))
    one_line_error(res, 2, "x.npy: 4 non-finite value(s) (beyond float32's range of ±3.4e38: "
                           "1e+300)")


def test_a_non_finite_output_fails_the_run(tmp_path):
    # 3e38 doubled by a fixed kernel overflows float32; then the pool and conv run on threads
    np.save(tmp_path / "x.npy", np.full((64, 64, 32), 3e38, np.float32))
    net = spec(tmp_path, "input: 64x64x32\nlayers: [{avgpool: 2}, {conv: {filters: 16, "
                         "kernel: 3}}, relu]\n")
    res = invoke(net, "--image", str(tmp_path / "x.npy"), "--save-maps", str(tmp_path / "m"))
    assert res.code == 1, res.err
    assert "Run: ✗ the output holds NaN or infinite values; they first appeared in the output " \
           "of layer 1 'avgpool_1' (avgpool)" in res.out
    assert "Warning" not in res.err and "overflow" not in res.err, res.err    # no numpy noise
    js = invoke(net, "--image", str(tmp_path / "x.npy"), "-F", "json")
    assert js.code == 1 and '"nonfinite": "the output holds NaN' in js.out
    for png in (tmp_path / "m").iterdir():
        with Image.open(png) as im:
            im.load()


def test_subprocess_run_with_overflow_prints_no_warnings(tmp_path):
    # worker threads keep the run's floating-point error handling (no RuntimeWarning lines)
    np.save(tmp_path / "x.npy", np.full((128, 128, 64), 3e38, np.float32))
    net = spec(tmp_path, "input: 128x128x64\nlayers: [{avgpool: 2}, {conv: {filters: 32, "
                         "kernel: 3}}]\n")
    res = subprocess.run(CLI + [net, "--image", str(tmp_path / "x.npy"), "-q"],
                         capture_output=True, timeout=120)
    err = res.stderr.decode()
    assert res.returncode == 1 and "RuntimeWarning" not in err, err


# --- 14. long map file names ----------------------------------------------------------------------

def test_maps_of_layers_with_long_paths(tmp_path):
    # a 150-character block around a 150-character layer: a 301-character path, and names of
    # 200 two-byte characters: the map file names are cut with a hash, deterministically
    long_a, long_b, wide = "a" * 150, "b" * 150, "é" * 200
    net = spec(tmp_path, "input: 8x8x3\nlayers:\n"
                         f"  - repeat: {{name: {long_a}, times: 1, layers: [{{relu: {{name: "
                         f"{long_b}}}}}, {{relu: {{name: {long_b}x}}}}]}}\n"
                         f"  - relu: {{name: {wide}}}\n")
    for _ in range(2):
        res = invoke(net, "--save-maps", str(tmp_path / "m"), "-q")
        assert res.code == 0, res.err
    names = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert len(names) == 4 and all(len(n.encode()) <= 120 for n in names), names
    assert names[1].startswith("001_aaaa") and "~" in names[1] and names[1] != names[2]
    assert names[3].startswith("003_éé") and names[3].endswith(".png")
    from cnncalc.files import short_name
    assert short_name("x" * 300, ".png") == short_name("x" * 300, ".png")
    assert short_name("x" * 300, ".png") != short_name("x" * 299 + "y", ".png")
    assert short_name("short", ".png") == "short.png"


# --- exit 70 only for a real bug ------------------------------------------------------------------

def test_internal_error_is_one_line_and_debug_shows_the_traceback(tmp_path):
    # a real bug, simulated: the analysis breaks in a way no input can cause
    code = ("import sys, cnncalc.analysis as a\n"
            "def broken(*args, **kwargs):\n    raise RuntimeError('line one\\nline two')\n"
            "a.analyse = broken\n"
            "from cnncalc._entry import main\nsys.argv = ['cnncalc'] + sys.argv[1:]\nmain()\n")
    res = subprocess.run([sys.executable, "-c", code, "lenet5"], capture_output=True, timeout=60)
    err = one_line_error(res, 70, "cnncalc: internal error: RuntimeError: line one line two",
                         "please report it", "--debug")
    assert "Traceback" not in err
    for extra, env in ((["--debug"], {}), ([], {"CNNCALC_DEBUG": "1"})):
        res = subprocess.run([sys.executable, "-c", code, "lenet5", *extra], capture_output=True,
                             timeout=60, env={**os.environ, **env})
        assert res.returncode != 70 and b"Traceback" in res.stderr and \
            b"RuntimeError: line one" in res.stderr


def test_debug_is_not_an_option_after_the_separator(tmp_path):
    from cnncalc.cli import _debug_flag
    assert _debug_flag(["vgg16", "--debug"]) == (["vgg16"], True)
    assert _debug_flag(["--", "--debug"]) == (["--", "--debug"], bool(
        os.environ.get("CNNCALC_DEBUG")))
