"""`cnncalc SPEC --run` on the command line (issue 4): the verdict, the table's Actual/OK/ms
columns, the JSON "run" object, exit codes, --image loading rules, --weights, --save-output,
--save-maps, --maps-layers, --max-memory and the progress bar on a terminal."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest
from conftest import assert_clean_error, run_on_pty
from PIL import Image

from cnncalc import engine


def spec(tmp_path, text: str, name: str = "net.yaml") -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


IDENTITY = "input: {shape}\nlayers:\n  - identity: {{name: same}}\n"


def loaded(cli, tmp_path, image: str, shape: str, *extra: str) -> np.ndarray:
    """What --image produced: run a one-layer identity network and read --save-output."""
    out = tmp_path / "out.npy"
    res = cli(spec(tmp_path, IDENTITY.format(shape=shape)), "--image", image, "--save-output",
              str(out), *extra)
    assert res.code == 0, res.err
    return np.load(out)


# --- the verdict ---------------------------------------------------------------------------------

def test_run_prints_the_verdict(cli):
    res = cli("lenet5", "--run")
    assert res.code == 0, res.err
    assert re.search(r"^Run: ✓ all \d+ layer shapes verified by a NumPy forward pass \(forward "
                     r"[\d.]+ s; weights random \(Kaiming-uniform\), seed 0, [\d.]+ s; input "
                     r"random \[0, 1\), seed 0\)$", res.out, re.M), res.out
    assert "Total params" in res.out


def test_run_summary_has_actual_ok_and_ms_columns(cli):
    res = cli("vgg11", "--run", "--summary", "--input", "32x32x3")
    assert res.code == 0, res.err
    lines = res.out.splitlines()
    header = lines[1].split()
    assert header[-3:] == ["Actual", "OK", "ms"]
    rows = [ln.split() for ln in lines[3:] if ln.strip() and ln.split()[0].isdigit()]
    assert len(rows) == 20        # 8 conv, 5 maxpool, avgpool, flatten, 3 dense, 2 dropout
    for row in rows:
        output = row[4] if row[3].startswith("(") else row[3]     # after "conv (relu)"
        assert row[-2] == "✓" and row[-3] == output       # actual shape = computed output
        float(row[-1])
    assert "Run: ✓ all 20 layer shapes verified" in res.out


def test_run_json_has_the_run_object(cli):
    res = cli("resnet18", "--run", "--format", "json", "--input", "32x32x3", "--seed", "3")
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    run = doc["run"]
    assert run["verified"] is True
    assert isinstance(run["forward_seconds"], float) and run["forward_seconds"] > 0
    assert [lay["shape"] for lay in run["layers"]] == [lay["output"] for lay in doc["layers"]]
    assert [lay["name"] for lay in run["layers"]] == [lay["name"] for lay in doc["layers"]]
    assert all(isinstance(lay["seconds"], float) and lay["ok"] for lay in run["layers"])
    assert run["weights"] == "random (Kaiming-uniform), seed 3"
    assert "Run:" not in res.err and "Run:" not in res.out.split("{", 1)[0]


def test_random_weights_are_made_before_the_forward_pass_unless_the_budget_streams_them(cli):
    """VGG-16's fc1 (102.8 M values) is generated whole, as a framework holds its weights, so
    forward_seconds is the forward pass alone; under a budget that cannot hold it, it streams
    (generated inside the layer) and the run says so."""
    whole = json.loads(cli("vgg16", "--run", "--format", "json").out)["run"]
    assert whole["weights_streamed"] is False and whole["verified"] is True
    assert whole["threads"] >= 1
    res = cli("vgg16", "--run", "--format", "json", "--max-memory", "300M")
    assert res.code == 0, res.err
    streamed = json.loads(res.out)["run"]
    assert streamed["weights_streamed"] is True and streamed["verified"] is True
    text = cli("vgg16", "--run", "--max-memory", "300M").out
    assert "large dense matrices generated inside the forward pass" in text


def test_run_threads_follow_omp_num_threads(cli):
    """OMP_NUM_THREADS sets the worker threads, as it does for PyTorch; nonsense is ignored."""
    res = cli("lenet5", "--run", "--format", "json", env={"OMP_NUM_THREADS": "1"})
    assert json.loads(res.out)["run"]["threads"] == 1
    res = cli("lenet5", "--run", "--format", "json", env={"OMP_NUM_THREADS": "3"})
    assert json.loads(res.out)["run"]["threads"] == 3


@pytest.mark.parametrize("value, expected", [("1", 1), ("4", 4), ("2,1", 2), ("64", 8),
                                             ("0", None), ("two", None), ("", None)])
def test_default_workers_reads_omp_num_threads(value, expected, monkeypatch):
    from cnncalc.engine import config
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    monkeypatch.setattr(config, "cpus", lambda: 5)
    assert config.default_workers() == (expected if expected is not None else 5)


def test_quiet_run_prints_only_the_shape(cli):
    res = cli("lenet5", "--run", "-q")
    assert (res.code, res.out, res.err) == (0, "[10]\n", "")


def test_a_mismatch_exits_1_and_names_the_layer(cli, monkeypatch):
    # a pooling that drops a row and a column: every later shape differs too, until the dense
    # layer cannot take the longer vector
    monkeypatch.setitem(engine.OPS, "avgpool", engine.Op(lambda ctx, xs: xs[0][:, 1:, 1:]))
    res = cli("lenet5", "--run", "--summary")
    assert res.code == 1
    assert "✗" in res.out
    assert re.search(r"^Run: ✗ 5 of 8 layer shapes differ", res.out, re.M), res.out
    assert "  layer 2 'S2' (avgpool): computed 14x14x6, actual 27x27x6\n" in res.out
    assert "  layer 5 'C5' (conv): computed 1x1x120, actual 18x18x120\n" in res.out
    assert "Run: ✗ stopped: layer 7 'F6' (dense) failed on input [38880]" in res.out
    js = cli("lenet5", "--run", "--format", "json")
    assert js.code == 1 and json.loads(js.out)["run"]["verified"] is False
    assert "Run: ✗" in js.err


def test_an_engine_failure_exits_1(cli, monkeypatch):
    def boom(ctx, xs):
        raise ValueError("matmul: mismatch")

    monkeypatch.setitem(engine.OPS, "flatten", engine.Op(boom))
    res = cli("lenet5", "--run")
    assert res.code == 1
    assert "Run: ✗ stopped: layer" in res.out and "(flatten) failed on input" in res.out


def test_run_options_imply_run(cli, tmp_path):
    res = cli("lenet5", "--save-output", str(tmp_path / "o.npy"))
    assert res.code == 0 and "Run: ✓" in res.out
    assert np.load(tmp_path / "o.npy").shape == (10,)


def test_same_seed_same_output_other_seed_differs(cli, tmp_path):
    outs = []
    for seed in ("1", "1", "2"):
        path = tmp_path / f"o{len(outs)}.npy"
        assert cli("lenet5", "--run", "--seed", seed, "--save-output", str(path)).code == 0
        outs.append(np.load(path))
    np.testing.assert_array_equal(outs[0], outs[1])
    assert not np.array_equal(outs[0], outs[2])


def test_batch_runs_n_images(cli, tmp_path):
    path = tmp_path / "o.npy"
    res = cli("lenet5", "--run", "--batch", "3", "--save-output", str(path))
    assert res.code == 0
    out = np.load(path)
    assert out.shape == (3, 10) and not np.array_equal(out[0], out[1])


# --- --image -------------------------------------------------------------------------------------

def _png(tmp_path, name: str, array: np.ndarray, mode: str | None = None) -> str:
    p = tmp_path / name
    Image.fromarray(array, mode).save(p) if mode else Image.fromarray(array).save(p)
    return str(p)


def test_image_rgb_png_is_scaled_to_0_1(cli, tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (6, 5, 3), dtype=np.uint8)
    got = loaded(cli, tmp_path, _png(tmp_path, "a.png", rgb), "6x5x3")
    np.testing.assert_allclose(got, rgb / 255, atol=1e-6)


def test_image_is_resized_or_kept_with_input_auto(cli, tmp_path):
    rgb = np.random.default_rng(1).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    path = _png(tmp_path, "a.png", rgb)
    assert loaded(cli, tmp_path, path, "10x20x3").shape == (10, 20, 3)
    auto = loaded(cli, tmp_path, path, "10x20x3", "--input", "auto")
    assert auto.shape == (30, 40, 3)
    grey_net = spec(tmp_path, IDENTITY.format(shape="8x8x1"), "grey.yaml")
    res = cli(grey_net, "--run", "--input", "auto", "--image", path, "--format", "json")
    # the auto size is the image's H×W with the spec's channels
    assert res.code == 0, res.err
    assert json.loads(res.out)["input"] == [30, 40, 1]


def test_grey_image_into_rgb_network_repeats_the_channel(cli, tmp_path):
    grey = np.arange(20, dtype=np.uint8).reshape(4, 5) * 10
    got = loaded(cli, tmp_path, _png(tmp_path, "g.png", grey), "4x5x3")
    for c in range(3):
        np.testing.assert_allclose(got[:, :, c], grey / 255, atol=1e-6)


def test_colour_image_into_grey_network_uses_luma(cli, tmp_path):
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[0, 0] = (255, 0, 0)
    rgb[0, 1] = (0, 255, 0)
    rgb[1, 0] = (0, 0, 255)
    got = loaded(cli, tmp_path, _png(tmp_path, "c.png", rgb), "2x2x1")
    # Pillow's "L" conversion: ITU-R 601-2 luma, L = R·299/1000 + G·587/1000 + B·114/1000
    np.testing.assert_allclose(got[:, :, 0], np.array([[76, 150], [29, 0]]) / 255, atol=1e-6)


def test_rgba_is_composited_over_white(cli, tmp_path):
    rgba = np.zeros((1, 2, 4), np.uint8)
    rgba[0, 0] = (255, 0, 0, 0)        # fully transparent red: white
    rgba[0, 1] = (0, 0, 255, 255)      # opaque blue
    path = _png(tmp_path, "t.png", rgba)
    got = loaded(cli, tmp_path, path, "1x2x3")
    np.testing.assert_allclose(got[0], [[1, 1, 1], [0, 0, 1]], atol=1e-6)
    four = loaded(cli, tmp_path, path, "1x2x4")
    np.testing.assert_allclose(four[0], rgba[0] / 255, atol=1e-6)


def test_sixteen_bit_grey_png(cli, tmp_path):
    grey = np.array([[0, 65535], [32768, 1000]], np.uint16)
    path = tmp_path / "g16.png"
    Image.fromarray(grey).save(path)
    got = loaded(cli, tmp_path, str(path), "2x2x1")
    np.testing.assert_allclose(got[:, :, 0], grey / 65535, atol=1e-6)


def test_jpeg_image(cli, tmp_path):
    rgb = np.full((8, 8, 3), (200, 100, 50), np.uint8)
    path = tmp_path / "a.jpg"
    Image.fromarray(rgb).save(path, quality=95)
    got = loaded(cli, tmp_path, str(path), "8x8x3")
    np.testing.assert_allclose(got, rgb / 255, atol=4 / 255)      # JPEG is lossy


def test_bundled_sample_image(cli, tmp_path):
    got = loaded(cli, tmp_path, "chelsea", "300x451x3")
    assert got.shape == (300, 451, 3) and 0 <= got.min() and got.max() <= 1 and got.std() > 0.1


def test_npy_is_used_as_is(cli, tmp_path):
    arr = np.random.default_rng(2).normal(0, 50, (3, 4, 2)).astype(np.float64)
    np.save(tmp_path / "x.npy", arr)
    got = loaded(cli, tmp_path, str(tmp_path / "x.npy"), "3x4x2")
    np.testing.assert_allclose(got, arr, rtol=1e-6)                 # no scaling
    np.save(tmp_path / "g.npy", arr[:, :, 0])
    got = loaded(cli, tmp_path, str(tmp_path / "g.npy"), "3x4x1")   # H×W for one channel
    np.testing.assert_allclose(got[:, :, 0], arr[:, :, 0], rtol=1e-6)
    got = loaded(cli, tmp_path, str(tmp_path / "x.npy"), "9x9x2", "--input", "auto")
    assert got.shape == (3, 4, 2)


@pytest.mark.parametrize("make, args, needles", [
    (lambda d: np.save(d / "x.npy", np.zeros((4, 4, 2))), ["x.npy"],
     ["x.npy: array has 2 channels, but the network expects 3 (input 4x4x3)"]),
    (lambda d: np.save(d / "x.npy", np.zeros((5, 4, 3))), ["x.npy"],
     ["x.npy: array is 5x4x3, but the network's input is 4x4x3; pass --input auto"]),
    (lambda d: np.save(d / "x.npy", np.array([[[np.nan, 0, 0]] * 4] * 4)), ["x.npy"],
     ["x.npy: 16 non-finite value(s) (NaN or infinity), the first at index [0, 0, 0]"]),
    (lambda d: np.save(d / "x.npy", np.array([[[np.inf]] * 4] * 4)), ["x.npy", "--input", "auto"],
     ["array has 1 channels, but the network expects 3"]),
    (lambda d: np.save(d / "x.npy", np.zeros(5)), ["x.npy"],
     ["x.npy: array of shape 5; expected 4x4x3"]),
    (lambda d: np.save(d / "x.npy", np.array(["a"])), ["x.npy"],
     ["x.npy: array of dtype <U1; it must be real numbers"]),
    (lambda d: (d / "fake.png").write_text("hello"), ["fake.png"],
     ["fake.png: not an image Pillow can read"]),
    (lambda d: (d / "x.npy").write_bytes(b"\x93NUMPY garbage"), ["x.npy"],
     ["cannot read array"]),
    (lambda d: None, ["missing.png"], ["no such image: "]),
    (lambda d: (d / "dir.png").mkdir(), ["dir.png"], ["is a directory, not an image"]),
    (lambda d: Image.new("RGB", (4, 4)).save(d / "a.png"), ["a.png", "--input", "4x4x2"],
     ["the network's input has 2 channels; an image gives 1 (grey), 3 (RGB) or 4 (RGBA); "
      "pass a .npy array"]),
])
def test_bad_images_are_clean_errors(cli, tmp_path, make, args, needles):
    make(tmp_path)
    net = spec(tmp_path, IDENTITY.format(shape="4x4x3"))
    image, *rest = args
    res = cli(net, "--run", "--image", str(tmp_path / image), *rest)
    assert_clean_error(res, *needles)


def test_input_auto_needs_an_image(cli):
    assert_clean_error(cli("lenet5", "--input", "auto"), "--input auto takes the input size "
                                                        "from --image")


# --- --weights -----------------------------------------------------------------------------------

NET = """input: 4x4x2
layers:
  - conv: {filters: 3, kernel: 3, padding: 1, name: c1, activation: relu}
  - flatten
  - dense: {units: 2, name: fc}
"""


def test_weights_file_gives_the_expected_output(cli, tmp_path):
    rng = np.random.default_rng(5)
    w = {"c1.weight": rng.normal(size=(3, 3, 2, 3)), "c1.bias": rng.normal(size=3),
         "fc.weight": rng.normal(size=(48, 2)), "fc.bias": rng.normal(size=2)}
    np.savez(tmp_path / "w.npz", **w)
    x = rng.normal(size=(4, 4, 2))
    np.save(tmp_path / "x.npy", x)
    res = cli(spec(tmp_path, NET), "--weights", str(tmp_path / "w.npz"), "--image",
              str(tmp_path / "x.npy"), "--save-output", str(tmp_path / "y.npy"), "--format",
              "json")
    assert res.code == 0, res.err
    xp = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    conv = np.zeros((4, 4, 3))
    for i in range(4):
        for j in range(4):
            conv[i, j] = np.tensordot(xp[i:i + 3, j:j + 3], w["c1.weight"], axes=3) + w["c1.bias"]
    want = np.maximum(conv, 0).reshape(-1) @ w["fc.weight"] + w["fc.bias"]
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want, rtol=1e-4)
    assert json.loads(res.out)["run"]["weights"] == f"from {tmp_path / 'w.npz'}"


def test_weights_errors(cli, tmp_path):
    np.savez(tmp_path / "w.npz", **{"c1.weight": np.zeros((3, 3, 2, 3))})
    res = cli(spec(tmp_path, NET), "--run", "--weights", str(tmp_path / "w.npz"))
    assert_clean_error(res, "w.npz: layer 1 'c1' (conv): missing array 'c1.bias' of shape (3,)")
    np.savez(tmp_path / "w.npz", **{"c1.weight": np.zeros((3, 3, 3, 2)), "c1.bias": np.zeros(3)})
    res = cli(spec(tmp_path, NET), "--run", "--weights", str(tmp_path / "w.npz"))
    assert_clean_error(res, "layer 1 'c1' (conv): array 'c1.weight' has shape (3, 3, 3, 2), "
                            "expected (3, 3, 2, 3)")
    res = cli(spec(tmp_path, NET), "--run", "--weights", str(tmp_path / "nope.npz"))
    assert_clean_error(res, "no such weights file")


def test_unused_weights_are_a_warning(cli, tmp_path):
    rng = np.random.default_rng(0)
    w = {"c1.weight": rng.normal(size=(3, 3, 2, 3)), "c1.bias": rng.normal(size=3),
         "fc.weight": rng.normal(size=(48, 2)), "fc.bias": rng.normal(size=2),
         "fc2.weight": np.zeros(2)}
    np.savez(tmp_path / "w.npz", **w)
    res = cli(spec(tmp_path, NET), "--weights", str(tmp_path / "w.npz"))
    assert res.code == 0
    assert "warning: " in res.err and "1 array(s) not used by any layer: fc2.weight" in res.err


# --- --save-maps ---------------------------------------------------------------------------------

def test_edges_example_writes_readable_maps(cli, tmp_path):
    out = tmp_path / "maps"
    res = cli("edges", "--run", "--image", "chelsea", "--save-maps", str(out))
    assert res.code == 0, res.err
    assert f"Wrote 5 feature-map PNG(s) to {out}" in res.out
    names = sorted(p.name for p in out.iterdir())
    assert names == ["000_input.png", "001_grey.png", "002_edges.png", "003_relu_1.png",
                     "004_pool.png"]
    with Image.open(out / "000_input.png") as im:
        assert (im.size, im.mode) == ((451, 300), "RGB")
    with Image.open(out / "002_edges.png") as im:
        grid = np.asarray(im)
    # six 300x451 tiles in 2 rows of 3, with 2-pixel mid-grey gaps
    assert grid.shape == (2 * 302 + 2, 3 * 453 + 2)
    tiles = [grid[2 + r * 302:2 + r * 302 + 300, 2 + c * 453:2 + c * 453 + 451]
             for r in range(2) for c in range(3)]
    assert all(t.std() > 5 for t in tiles)        # every map shows structure
    # the Sobel x tile is the Sobel x response of the grey photo, computed independently,
    # stretched from its 0.5th to its 99.5th percentile to 0..255
    from cnncalc.images import load_input
    x = load_input("chelsea", (300, 451, 3), False)
    g = np.pad(x @ np.array([0.299, 0.587, 0.114], np.float32), 1)
    sobel_x = (g[:-2, 2:] + 2 * g[1:-1, 2:] + g[2:, 2:]) - (g[:-2, :-2] + 2 * g[1:-1, :-2]
                                                            + g[2:, :-2])
    lo, hi = np.percentile(sobel_x, [0.5, 99.5])
    want = np.clip((sobel_x - lo) / (hi - lo), 0, 1) * 255
    diff = np.abs(tiles[0] - want)
    assert diff.max() <= 1.5 and (diff > 0.5).mean() < 0.01


def test_maps_layers_selects_and_vectors_are_skipped(cli, tmp_path):
    out = tmp_path / "m"
    res = cli("lenet5", "--save-maps", str(out), "--maps-layers", "2, flatten_1")
    assert res.code == 0, res.err
    assert sorted(p.name for p in out.iterdir())[0] == "000_input.png"
    assert len(list(out.iterdir())) == 2
    assert "(1 layer(s) with vector outputs skipped)" in res.out
    bad = cli("lenet5", "--save-maps", str(out), "--maps-layers", "outpt")
    assert_clean_error(bad, "--maps-layers: no layer 'outpt' (did you mean 'output'?); give "
                            "names, paths or indices 1-8")


def test_grid_enlarges_small_maps_and_caps_their_number():
    from cnncalc.images import MAX_MAPS, MIN_TILE, grid
    maps = np.random.default_rng(0).normal(size=(1, 1, 1000)).astype(np.float32)
    img = grid(maps)
    cols = int(np.ceil(np.sqrt(MAX_MAPS)))
    assert img.shape[1] == cols * (MIN_TILE + 2) + 2 and img.dtype == np.uint8
    const = grid(np.zeros((4, 4, 2), np.float32))
    assert (const[2:-2, 2:-2][const[2:-2, 2:-2] != 128] == 0).all()  # constant maps are black


# --- memory --------------------------------------------------------------------------------------

def test_max_memory_refuses_with_a_helpful_message(cli):
    from cnncalc import analyse, engine, load
    # the layer named is where the estimate (random weights, streamed under this budget) peaks
    est = engine.estimate_memory(analyse(load("vgg16")), streamed=True)
    assert est.at.type == "conv" and 100 * 2 ** 20 < est.peak < 300 * 2 ** 20
    res = cli("vgg16", "--run", "--max-memory", "100M")
    assert_clean_error(res, "--run would need about", f"at layer {est.at.index} '{est.at.path}'",
                       "more than the limit of 100.0 MiB (--max-memory); try --input smaller "
                       "than 224x224x3")
    res = cli("vgg16", "--run", "--batch", "64", "--max-memory", "1G")
    assert_clean_error(res, "or a smaller --batch than 64")
    assert_clean_error(cli("vgg16", "--run", "--max-memory", "lots"),
                       "--max-memory must be a size like 2G")


def test_save_output_errors(cli, tmp_path):
    res = cli("lenet5", "--run", "--save-output", str(tmp_path / "no" / "such" / "o.npy"))
    assert_clean_error(res, "cannot write --save-output")


def test_option_errors(cli, tmp_path):
    assert_clean_error(cli("lenet5", "--run", "--seed", "-1"), "'--seed': -1 is not in the "
                                                              "range x>=0")
    assert_clean_error(cli("lenet5", "--maps-layers", "C1"),
                       "--maps-layers chooses the layers for --save-maps; give --save-maps DIR")
    (tmp_path / "f").write_text("")
    assert_clean_error(cli("lenet5", "--save-maps", str(tmp_path / "f")),
                       "is a file, not a directory")


def test_batch_output_file_keeps_the_batch(cli, tmp_path):
    res = cli("lenet5", "--run", "--batch", "2", "--save-output", str(tmp_path / "o.npy"))
    assert f"Wrote the output (2x10) to {tmp_path / 'o.npy'}" in res.out
    assert np.load(tmp_path / "o.npy").shape == (2, 10)


# --- a terminal ----------------------------------------------------------------------------------

def _on_pty(args: list[str]) -> tuple[int, str]:
    return run_on_pty(args, columns=160)


@pytest.mark.skipif(os.name != "posix", reason="pseudo-terminals are POSIX")
def test_progress_bar_on_a_terminal_for_long_runs():
    code, out = _on_pty(["vgg16", "--run"])      # estimated over a second: a progress bar
    assert code == 0, out
    assert "━" in out and re.search(r"layer \d+/25", out)
    assert "Run: ✓ all 25 layer shapes verified" in out
    code, out = _on_pty(["lenet5", "--run"])     # instant: none
    assert code == 0 and "━" not in out
