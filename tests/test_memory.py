"""Training memory (cnncalc.memory, --train): the backward estimate against what PyTorch's autograd
really saves, torchinfo's and Keras's conventions, dtypes, optimizers and --fit.

Reference data (generated outside the repo, see tools/reference/README.md):

- tests/data/reference/saved_tensors.json, written by tools/reference/saved_tensors.py: the bytes
  of the unique storages autograd saves for backward (``saved_tensors_hooks``) in torchvision
  models in train mode at batch 8, parameters excluded; ``saved_with_input`` includes the input
  batch and is the issue's figure (resnet18 177,515,520, vgg16 586,842,112, mobilenet_v2
  625,949,184, densenet121 1,043,559,936). Those figures also count the batchnorm running
  statistics (``buffer_bytes_saved``), which cnncalc counts once, with the parameters.
- tests/data/reference/torchinfo.json, written by tools/reference/torchinfo_summary.py:
  torchinfo 1.8.0's summary lines and raw byte counts.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import pytest
from conftest import layer_norm_2d, stochastic_depth, zoo_analysis

from cnncalc import analyse, load, loads
from cnncalc.memory import DTYPES, OPTIMIZERS, Plan, Settings, fit, keras, plan, torchinfo
from cnncalc.spec import zoo_names

REF = Path(__file__).resolve().parent / "data" / "reference"
SAVED = json.loads((REF / "saved_tensors.json").read_text(encoding="utf-8"))
TORCHINFO = json.loads((REF / "torchinfo.json").read_text(encoding="utf-8"))
MEASURED = {m["name"]: m for m in SAVED["models"]}
IN_ZOO = sorted(n for n in MEASURED if n in zoo_names())


def _plan(name: str, **kw) -> Plan:
    return plan(zoo_analysis(name), Settings(**kw))


# --- the backward estimate against the measured torchvision models -----------------------------

def test_the_issue_figures_are_the_reference_data():
    issue = {"resnet18": 177_515_520, "vgg16": 586_842_112, "mobilenet_v2": 625_949_184,
             "densenet121": 1_043_559_936}
    for name, figure in issue.items():
        assert MEASURED[name]["saved_with_input"] == figure


def test_every_measured_net_in_the_zoo_is_checked():
    assert set(IN_ZOO) >= {"resnet18", "vgg16", "mobilenet_v2", "densenet121", "alexnet",
                           "vgg11", "resnet34", "resnet50", "resnet101", "googlenet",
                           "squeezenet1_1", "efficientnet_b0", "inception_v3"}


@pytest.mark.parametrize("name", IN_ZOO)
def test_backward_bytes_within_5_percent_of_autograd(name):
    m = MEASURED[name]
    size = m["input"]
    a = analyse(load(name), tuple(size))
    p = plan(a, Settings(batch=m["batch"]))
    # the issue's convention: every storage autograd saves except the parameters
    assert abs(p.backward_bytes + p.kept_buffer_bytes - m["saved_with_input"]) \
        <= 0.05 * m["saved_with_input"], name
    # and like with like: the running statistics are parameters (buffers) to cnncalc
    assert p.kept_buffer_bytes == m["buffer_bytes_saved"]
    assert abs(p.backward_bytes - (m["saved_with_input"] - m["buffer_bytes_saved"])) \
        <= 0.05 * m["saved_with_input"], name


# Where the zoo's spec differs from torchvision's module, the estimate differs by exactly that:
EXACT_EXCEPT = {
    # the zoo's VGG ends in a softmax, as Keras's does (it keeps its 8x1000 output); torchvision's
    # ends in the last Linear
    "vgg16": 8 * 1000 * 4,
    "vgg11": 8 * 1000 * 4,
    # torchvision's EfficientNet multiplies each residual branch by a stochastic-depth mask
    # ([8, 1, 1, 1] float32) in training: 9 blocks with a shortcut
    "efficientnet_b0": -9 * 8 * 4,
}


@pytest.mark.parametrize("name", IN_ZOO)
def test_backward_bytes_are_exact_where_the_spec_is_torchvisions_module(name):
    m = MEASURED[name]
    p = plan(analyse(load(name), tuple(m["input"])), Settings(batch=8))
    measured = m["saved_with_input"] - m["buffer_bytes_saved"]
    assert p.backward_bytes - measured == EXACT_EXCEPT.get(name, 0)


@pytest.mark.parametrize("name", ["resnet18", "vgg16"])
def test_the_kept_storages_are_torchs_storages(name):
    """The per-storage detail: the same tensors, size by size and type by type."""
    m = MEASURED[name]
    p = plan(zoo_analysis(name), Settings(batch=8))
    theirs = Counter((r[4], r[3]) for r in m["detail"] if r[1] != "buffer")
    ours = Counter((k.nbytes, k.dtype.name) for k in p.storages)
    if name == "vgg16":
        ours -= Counter({(8 * 1000 * 4, "float32"): 1})             # the zoo's softmax
    assert ours == theirs


def test_resnet18_who_keeps_what():
    p = _plan("resnet18", batch=8)
    a = zoo_analysis("resnet18")
    by_path = {r.index: r.path for r in a.layers}
    relu = next(k for k in p.storages if k.keepers and by_path[k.keepers[0]] == "relu")
    # the stem's ReLU keeps its result, and the max-pool keeps the same tensor as its input
    assert [by_path[i] for i in relu.keepers] == ["relu", "maxpool"]
    pool = p.layers[3]
    assert [(what, k.dtype.name) for what, k in pool.kept] == [("input", "float32"),
                                                              ("indices", "int64")]
    assert pool.backward_bytes == 8 * 64 * 56 * 56 * 8          # only the indices are new


# --- each layer type's rule against autograd, op by op ------------------------------------------

def _measure(torch, forward, batch: int, shape: tuple[int, int, int]) -> int:
    """Bytes of the unique storages autograd saves during ``forward(x)``, parameters and buffers
    excluded, on an input that requires grad."""
    x = torch.randn(batch, shape[2], shape[0], shape[1], requires_grad=True)
    modules: list = []

    def use(m):
        modules.append(m.train())
        return m

    storages: dict[int, int] = {}

    def pack(t):
        st = t.untyped_storage()
        storages.setdefault(st.data_ptr(), st.nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        forward(torch, use, x)
    skip = {t.untyped_storage().data_ptr() for m in modules
            for t in [*m.parameters(), *m.buffers()]}
    return sum(n for p, n in storages.items() if p not in skip)


def _Scale(torch, c):
    """ConvNeXt's layer scale: a module holding gamma, so that it counts as a parameter."""
    m = torch.nn.Module()
    m.gamma = torch.nn.Parameter(torch.ones(c, 1, 1) * 1e-6)
    return m


def _conv(torch, use, x, k=3, bias=True):
    return use(torch.nn.Conv2d(x.shape[1], 5, k, padding=k // 2, bias=bias))(x)


F_ACT = {   # as PyTorch's models run them: in place where torchvision does
    "relu": lambda t, y: t.nn.functional.relu(y, inplace=True),
    "relu6": lambda t, y: t.nn.functional.relu6(y, inplace=True),
    "silu": lambda t, y: t.nn.functional.silu(y, inplace=True),
    "hardswish": lambda t, y: t.nn.functional.hardswish(y, inplace=True),
    "hardsigmoid": lambda t, y: t.nn.functional.hardsigmoid(y, inplace=True),
    "leaky_relu": lambda t, y: t.nn.functional.leaky_relu(y, 0.01, inplace=True),
    "elu": lambda t, y: t.nn.functional.elu(y, inplace=True),
    "selu": lambda t, y: t.nn.functional.selu(y, inplace=True),
    "sigmoid": lambda t, y: t.sigmoid(y),
    "tanh": lambda t, y: t.tanh(y),
    "gelu": lambda t, y: t.nn.functional.gelu(y),
    "softplus": lambda t, y: t.nn.functional.softplus(y),
    "softmax": lambda t, y: t.softmax(y, 1),
    "mish": lambda t, y: t.nn.functional.mish(y),
}


def _cases() -> dict[str, tuple[str, Callable[..., Any]]]:
    cases: dict[str, tuple[str, Callable[..., Any]]] = {
        "conv": ("[conv: {filters: 5, kernel: 3, padding: 1}]", _conv),
        "conv_no_bias": ("[conv: {filters: 5, kernel: 1, bias: false}]",
                         lambda t, use, x: _conv(t, use, x, 1, False)),
        "depthwise": ("[depthwise_conv: {kernel: 3, padding: 1}]",
                      lambda t, use, x: use(t.nn.Conv2d(4, 4, 3, padding=1, groups=4))(x)),
        "separable": ("[separable_conv: {filters: 5, kernel: 3, padding: 1}]",
                      lambda t, use, x: use(t.nn.Conv2d(4, 5, 1))(
                          use(t.nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False))(x))),
        "conv_transpose": ("[conv_transpose: {filters: 5, kernel: 2, stride: 2}]",
                           lambda t, use, x: use(t.nn.ConvTranspose2d(4, 5, 2, 2))(x)),
        "batchnorm_relu_conv": ("[conv: {filters: 5, kernel: 3, padding: 1}, batchnorm, relu, "
                                "conv: {filters: 3, kernel: 1}]",
                                lambda t, use, x: use(t.nn.Conv2d(5, 3, 1))(t.relu_(
                                    use(t.nn.BatchNorm2d(5))(_conv(t, use, x))))),
        "vgg_like": ("[conv: {filters: 5, kernel: 3, padding: 1, activation: relu}, "
                     "maxpool: 2, conv: {filters: 3, kernel: 3, padding: 1}]",
                     lambda t, use, x: use(t.nn.Conv2d(5, 3, 3, padding=1))(
                         t.nn.functional.max_pool2d(t.relu_(_conv(t, use, x)), 2))),
        "avgpool": ("[conv: {filters: 5, kernel: 1}, avgpool: 2]",
                    lambda t, use, x: t.nn.functional.avg_pool2d(_conv(t, use, x, 1), 2)),
        "adaptive_avgpool_1": ("[conv: {filters: 5, kernel: 1}, adaptive_avgpool: 1]",
                               lambda t, use, x: t.nn.functional.adaptive_avg_pool2d(
                                   _conv(t, use, x, 1), 1)),
        "adaptive_avgpool_3": ("[conv: {filters: 5, kernel: 1}, adaptive_avgpool: 3]",
                               lambda t, use, x: t.nn.functional.adaptive_avg_pool2d(
                                   _conv(t, use, x, 1), 3)),
        "adaptive_maxpool": ("[conv: {filters: 5, kernel: 1}, adaptive_maxpool: 2]",
                             lambda t, use, x: t.nn.functional.adaptive_max_pool2d(
                                 _conv(t, use, x, 1), 2)),
        "global_avgpool": ("[conv: {filters: 5, kernel: 1}, global_avgpool]",
                           lambda t, use, x: _conv(t, use, x, 1).mean((2, 3), keepdim=True)),
        "global_maxpool": ("[conv: {filters: 5, kernel: 1}, global_maxpool]",
                           lambda t, use, x: t.nn.functional.adaptive_max_pool2d(
                               _conv(t, use, x, 1), 1)),
        "flatten_dropout_dense": (
            "[conv: {filters: 5, kernel: 1, activation: relu}, flatten, dropout: 0.5, "
            "dense: {units: 7, activation: softmax}]",
            lambda t, use, x: t.softmax(use(t.nn.Linear(180, 7))(t.nn.functional.dropout(
                t.flatten(t.relu_(_conv(t, use, x, 1)), 1), 0.5, True)), 1)),
        "flatten_dense_shares": (
            "[conv: {filters: 5, kernel: 1, activation: relu}, flatten, dense: 7]",
            lambda t, use, x: use(t.nn.Linear(180, 7))(t.flatten(t.relu_(_conv(t, use, x, 1)),
                                                                  1))),
        "lrn": ("[conv: {filters: 5, kernel: 1}, lrn]",
                lambda t, use, x: t.nn.functional.local_response_norm(_conv(t, use, x, 1), 5)),
        "pad_upsample_crop_shuffle": (
            "[conv: {filters: 4, kernel: 1}, pad: 1, upsample: 2, crop: 2, identity, "
            "channel_shuffle: 2, conv: {filters: 3, kernel: 1}]",
            lambda t, use, x: use(t.nn.Conv2d(4, 3, 1))(t.nn.functional.interpolate(
                t.nn.functional.pad(use(t.nn.Conv2d(4, 4, 1))(x), (1, 1, 1, 1)),
                scale_factor=2)[:, :, 2:-2, 2:-2].reshape(2, 2, 2, 12, 12).transpose(1, 2)
                .reshape(2, 4, 12, 12))),
        "crop_is_a_view": (   # the conv after a crop keeps the whole uncropped storage
            "[conv: {filters: 4, kernel: 1}, crop: 1, conv: {filters: 3, kernel: 1}]",
            lambda t, use, x: use(t.nn.Conv2d(4, 3, 1))(
                use(t.nn.Conv2d(4, 4, 1))(x)[:, :, 1:-1, 1:-1])),
        "chunk_is_a_view": (   # ShuffleNetV2's split: the conv keeps the unsplit storage
            "[conv: {filters: 4, kernel: 1}, chunk: {groups: 2, index: 1}, "
            "conv: {filters: 3, kernel: 1}]",
            lambda t, use, x: use(t.nn.Conv2d(2, 3, 1))(
                use(t.nn.Conv2d(4, 4, 1))(x).chunk(2, 1)[1])),
        "reshape_is_a_view": (   # the dense layer keeps the conv's storage
            "[conv: {filters: 4, kernel: 1}, reshape: [-1], dense: 3]",
            lambda t, use, x: use(t.nn.Linear(144, 3))(use(t.nn.Conv2d(4, 4, 1))(x).reshape(
                2, -1))),
        "rescaling_normalization": (   # Keras's input layers: x·s + o, then (x − mean)/√var
            "[conv: {filters: 4, kernel: 1}, rescaling: {scale: 0.5, offset: 1}, normalization, "
            "rescaling: {scale: [1, 2, 3, 4]}, conv: {filters: 3, kernel: 1}]",
            lambda t, use, x: use(t.nn.Conv2d(4, 3, 1))(
                ((use(t.nn.Conv2d(4, 4, 1))(x) * 0.5 + 1.0 - t.zeros(4, 1, 1)) / t.sqrt(
                    t.ones(4, 1, 1))) * t.tensor([1.0, 2, 3, 4]).reshape(4, 1, 1))),
        "residual_add_relu": (
            "[conv: {filters: 4, kernel: 1}, residual: {body: [conv: {filters: 4, kernel: 3, "
            "padding: 1}, batchnorm], activation: relu}]",
            lambda t, use, x: t.relu_(
                use(t.nn.BatchNorm2d(4))(use(t.nn.Conv2d(4, 4, 3, padding=1))(
                    y := use(t.nn.Conv2d(4, 4, 1))(x))) + y)),
        "concat": ("[conv: {filters: 4, kernel: 1}, parallel: {merge: concat, branches: "
                   "[[conv: {filters: 2, kernel: 1}], [conv: {filters: 3, kernel: 3, "
                   "padding: 1}]]}]",
                   lambda t, use, x: t.cat([use(t.nn.Conv2d(4, 2, 1))(y := use(
                       t.nn.Conv2d(4, 4, 1))(x)), use(t.nn.Conv2d(4, 3, 3, padding=1))(y)], 1)),
        "layernorm": (      # ConvNeXt's LayerNorm2d: the input, a mean and 1/std per position
            "[conv: {filters: 5, kernel: 1}, layernorm: 1e-6, conv: {filters: 3, kernel: 1}]",
            lambda t, use, x: use(t.nn.Conv2d(5, 3, 1))(use(layer_norm_2d(t, 5))(
                _conv(t, use, x, 1)))),
        "layernorm_vector": (
            "[conv: {filters: 5, kernel: 1}, flatten, layernorm, dense: 3]",
            lambda t, use, x: use(t.nn.Linear(180, 3))(use(t.nn.LayerNorm(180))(
                t.flatten(_conv(t, use, x, 1), 1)))),
        "layer_scale": (    # gamma · x keeps x (and gamma, a parameter)
            "[conv: {filters: 5, kernel: 1}, layer_scale, conv: {filters: 3, kernel: 1}]",
            lambda t, use, x: use(t.nn.Conv2d(5, 3, 1))(use(_Scale(t, 5)).gamma *
                                                        _conv(t, use, x, 1))),
        "stochastic_depth": (   # the noise, one value per sample
            "[conv: {filters: 5, kernel: 1}, stochastic_depth: 0.5, "
            "conv: {filters: 3, kernel: 1}]",
            lambda t, use, x: use(t.nn.Conv2d(5, 3, 1))(stochastic_depth(
                t, _conv(t, use, x, 1), 0.5, "row", True))),
        "stochastic_depth_0_is_its_input": (
            "[conv: {filters: 5, kernel: 1}, stochastic_depth: {rate: 0, mode: batch}, "
            "conv: {filters: 3, kernel: 1}]",
            lambda t, use, x: use(t.nn.Conv2d(5, 3, 1))(stochastic_depth(
                t, _conv(t, use, x, 1), 0.0, "batch", True))),
        "resize": (         # interpolate keeps nothing: its gradient needs only the sizes
            "[conv: {filters: 4, kernel: 1, name: a}, resize: {scale: 2, mode: bilinear}, "
            "conv: {filters: 3, kernel: 1}, global_avgpool, resize: {to: a}, "
            "conv: {filters: 2, kernel: 1}]",
            lambda t, use, x: use(t.nn.Conv2d(3, 2, 1))(t.nn.functional.interpolate(
                use(t.nn.Conv2d(4, 3, 1))(t.nn.functional.interpolate(
                    use(t.nn.Conv2d(4, 4, 1))(x), scale_factor=2, mode="bilinear")).mean(
                    (2, 3), keepdim=True), size=(6, 6)))),
        "squeeze_excite": (
            "[conv: {filters: 4, kernel: 1, name: f}, global_avgpool, conv: {filters: 4, "
            "kernel: 1}, sigmoid, multiply: {from: [f, -1]}]",
            lambda t, use, x: (y := use(t.nn.Conv2d(4, 4, 1))(x)) * t.sigmoid(
                use(t.nn.Conv2d(4, 4, 1))(y.mean((2, 3), keepdim=True)))),
    }
    for name, f in F_ACT.items():
        cases[f"{name}_layer"] = (
            f"[conv: {{filters: 5, kernel: 3, padding: 1}}, {name}]",
            lambda t, use, x, f=f: f(t, _conv(t, use, x)))
        cases[f"{name}_fused"] = (
            f"[conv: {{filters: 5, kernel: 3, padding: 1, activation: {name}}}, "
            f"conv: {{filters: 3, kernel: 1}}]",
            lambda t, use, x, f=f: use(t.nn.Conv2d(5, 3, 1))(f(t, _conv(t, use, x))))
    return cases


CASES = _cases()


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_layer_rule_matches_autograd(case, torch):
    """Each layer type's ``saved_for_backward``, checked on a small network with torch's
    ``saved_tensors_hooks``: the same bytes, counting each storage once."""
    torch.manual_seed(0)
    layers, forward = CASES[case]
    a = analyse(loads(f"input: 6x6x4\nlayers: {layers}\n"))
    p = plan(a, Settings(batch=2))
    assert p.backward_bytes == _measure(torch, forward, 2, (6, 6, 4)), case


def test_every_layer_type_is_checked_against_autograd():
    from cnncalc.layers import REGISTRY
    covered = {r.layer.type for _, (layers, _) in CASES.items()
               for r in analyse(loads(f"input: 6x6x4\nlayers: {layers}\n")).layers}
    assert covered == {cls.type for cls in REGISTRY.values()}


# --- parameters, gradients, optimizer states, types ----------------------------------------------

def test_adam_keeps_two_float32_states_per_parameter():
    p = _plan("resnet50", optimizer="adam")
    assert p.optim_state_bytes == 2 * 25_557_032 * 4 == 204_456_256     # the issue's figure
    assert p.grad_bytes == 25_557_032 * 4
    assert p.param_bytes == 25_610_152 * 4         # with the running statistics (buffers)


def test_optimizer_states():
    assert {o: _plan("resnet18", optimizer=o).optim_state_bytes for o in OPTIMIZERS} == {
        "sgd": 0, "momentum": 11_689_512 * 4, "adam": 2 * 11_689_512 * 4,
        "adamw": 2 * 11_689_512 * 4}


def test_half_precision_halves_everything_but_indices_and_statistics():
    f32 = _plan("resnet18", batch=8)
    f16 = _plan("resnet18", batch=8, dtype="float16")
    bf16 = _plan("resnet18", batch=8, dtype="bfloat16")
    assert f16.backward_bytes == bf16.backward_bytes
    indices = 8 * 64 * 56 * 56 * 8                  # the max-pool's int64 indices
    stats = 2 * 4 * sum(r.output[-1] for r in zoo_analysis("resnet18").layers
                        if r.type == "batchnorm")
    assert f16.backward_bytes == (f32.backward_bytes - indices - stats) // 2 + indices + stats
    assert f16.param_bytes * 2 == f32.param_bytes
    assert f16.optim_state_bytes * 2 == f32.optim_state_bytes


def test_mixed_precision_keeps_float32_masters_and_float16_activations():
    f32 = _plan("resnet50", batch=8)
    mixed = _plan("resnet50", batch=8, mixed_precision=True)
    f16 = _plan("resnet50", batch=8, dtype="float16")
    assert mixed.backward_bytes == f16.backward_bytes
    assert (mixed.param_bytes, mixed.grad_bytes, mixed.optim_state_bytes) == \
        (f32.param_bytes, f32.grad_bytes, f32.optim_state_bytes)
    assert mixed.param_copy_bytes == 25_557_032 * 2         # the float16 working weights
    assert f32.param_copy_bytes == f16.param_copy_bytes == 0
    assert plan(zoo_analysis("resnet50"), Settings(8, "bfloat16", True)).backward_bytes == \
        mixed.backward_bytes


def test_the_backward_bytes_grow_with_the_batch_except_statistics():
    one, eight = _plan("mobilenet_v2", batch=1), _plan("mobilenet_v2", batch=8)
    stats = sum(k.nbytes for k in one.storages if k.what.startswith("batch "))
    assert eight.backward_bytes - stats == 8 * (one.backward_bytes - stats)


def test_per_layer_figures_add_up():
    p = _plan("densenet121", batch=4)
    assert sum(m.backward_bytes for m in p.layers) == p.backward_bytes
    assert sum(k.nbytes for k in p.storages) == p.backward_bytes
    assert sum(m.param_bytes for m in p.layers) == p.param_bytes
    assert p.total_bytes == p.param_bytes + p.grad_bytes + p.optim_state_bytes + p.backward_bytes


# --- torchinfo's and Keras's conventions ----------------------------------------------------------

@pytest.mark.parametrize("model", TORCHINFO["models"], ids=lambda m: m["name"])
def test_torchinfo_raw_figures(model):
    t = torchinfo(zoo_analysis(model["name"]), Settings(batch=1))
    raw = model["raw"]
    assert (t.input_bytes, t.forward_backward_bytes, t.param_bytes, t.total_params,
            t.trainable_params, t.mult_adds) == (
        raw["total_input"], raw["total_output_bytes"], raw["total_param_bytes"],
        raw["total_params"], raw["trainable_params"], raw["total_mult_adds"])


def test_keras_parameter_bytes():
    k = keras(zoo_analysis("vgg16"), Settings())
    assert (k.total_bytes, k.trainable_bytes, k.non_trainable_bytes) == (553_430_176,
                                                                          553_430_176, 0)
    k = keras(zoo_analysis("resnet50"), Settings(dtype="float16"))
    assert k.non_trainable_bytes == 53_120 * 2


# --- the largest batch that fits -----------------------------------------------------------------

@pytest.mark.parametrize("convention", ["true", "torchinfo"])
@pytest.mark.parametrize("limit", [8 * 2 ** 30, 10 ** 9, 3 * 10 ** 8])
def test_fit_is_the_largest_batch(limit, convention):
    from cnncalc.memory import total_at
    a = zoo_analysis("resnet18")
    s = Settings(optimizer="adam")
    f = fit(a, s, limit, convention)
    assert f.batch >= 1
    assert total_at(a, Settings(f.batch), convention) <= limit
    assert total_at(a, Settings(f.batch + 1), convention) > limit


def test_fit_when_nothing_fits():
    f = fit(zoo_analysis("vgg16"), Settings(), 10 ** 9)     # 4 × 553 MB of weights alone
    assert f.batch == 0 and f.fixed_bytes > 10 ** 9


def test_dtypes_and_optimizers_are_checked():
    from cnncalc.errors import CnnCalcError
    with pytest.raises(CnnCalcError, match="dtype"):
        Settings(dtype="float8")
    with pytest.raises(CnnCalcError, match="optimizer"):
        Settings(optimizer="lion")
    assert set(DTYPES) == {"float32", "float16", "bfloat16"}


# --- the command line ----------------------------------------------------------------------------

def test_the_cli_choices_are_the_planners():
    from cnncalc import cli, memory
    assert cli.TRAIN_OPTIMIZERS == list(memory.OPTIMIZERS)
    assert cli.TRAIN_DTYPES == list(memory.DTYPES)
    assert cli.TRAIN_CONVENTIONS == list(memory.CONVENTIONS)


@pytest.mark.parametrize("model", TORCHINFO["models"], ids=lambda m: m["name"])
def test_torchinfo_convention_prints_torchinfos_block(cli, model):
    res = cli(model["name"], "--memory-convention", "torchinfo")
    assert res.code == 0
    lines = res.out.splitlines()
    start = lines.index(model["lines"][0])
    assert lines[start:start + len(model["lines"])] == model["lines"]
    if "expected" in model:                 # the issue's figures: fwd/bwd, params, total
        fb, params, total = model["expected"]
        assert f"Forward/backward pass size (MB): {fb}" in lines
        assert f"Params size (MB): {params}" in lines
        assert f"Estimated Total Size (MB): {total}" in lines
    assert "torchinfo's convention" in res.out


def test_keras_sizes_as_keras_prints_them():
    from cnncalc.report import keras_size
    # Keras 3's ResNet50 summary: "Total params: 25,636,712 (97.80 MB)", "Non-trainable params:
    # 53,120 (207.50 KB)" (tests/data/keras/totals.json has the counts)
    assert keras_size(25_636_712 * 4) == "97.80 MB"
    assert keras_size(53_120 * 4) == "207.50 KB"
    assert keras_size(0) == "0.00 B"


def test_keras_convention(cli):
    res = cli("vgg16", "--memory-convention", "keras")
    assert res.code == 0 and "Keras's convention" in res.out
    assert " Total params: 138,357,544 (527.79 MB)" in res.out.splitlines()
    assert " Non-trainable params: 0 (0.00 B)" in res.out.splitlines()


def test_train_says_its_convention_and_figures(cli):
    res = cli("resnet50", "--train", "--optimizer", "adam")
    assert res.code == 0
    assert "true estimate" in res.out
    line = next(ln for ln in res.out.splitlines() if "optimizer state" in ln)
    assert "204,456,256 bytes" in line and "Adam" in line


def test_train_json_keys_say_what_each_figure_is(cli):
    res = cli("resnet18", "--train", "-b", "8", "-F", "json")
    doc = json.loads(res.out)
    mem = doc["memory"]
    assert mem["convention"] == "true" and mem["batch"] == 8
    assert mem["backward_bytes"] == 177_477_120 and mem["optim_state_bytes"] == 93_516_096
    assert any("backward" in k for k in mem) and any("optim" in k for k in mem)
    assert mem["total_bytes"] == sum(mem[k] for k in ("param_bytes", "param_copy_bytes",
                                                      "grad_bytes", "optim_state_bytes",
                                                      "backward_bytes"))
    layers = doc["layers"]
    assert sum(r["memory"]["backward_bytes"] for r in layers) == mem["backward_bytes"]
    pool = next(r for r in layers if r["path"] == "maxpool")["memory"]
    assert pool["backward_kept"][0] == {
        "what": "input", "shape": [112, 112, 64], "dtype": "float32", "bytes": 25_690_112,
        "tensor_of": "relu", "counted_here": False, "kept_by": ["relu", "maxpool"]}
    assert pool["backward_kept"][1]["what"] == "indices"


def test_train_table_csv_and_markdown(cli):
    table = cli("resnet18", "-S", "--train", "-b", "8")
    assert "Kept for bwd" in table.out.splitlines()[1] and "Training memory" in table.out
    rows = cli("resnet18", "-F", "csv", "--train", "-b", "8").out.splitlines()
    head = rows[0].split(",")
    assert head[-4:] == ["param_bytes", "grad_bytes", "optim_state_bytes", "backward_bytes"]
    assert sum(int(r.split(",")[-1]) for r in rows[1:]) == 177_477_120
    md = cli("lenet5", "-F", "markdown", "--train").out
    assert "Kept for bwd" in md and "Training memory" in md


def test_mixed_precision_and_dtype_in_the_output(cli):
    res = cli("resnet18", "--mixed-precision")
    assert "float16 weight copies" in res.out and "float16 activations" in res.out
    res = cli("resnet18", "--dtype", "bfloat16")
    assert "Batch 1, bfloat16, Adam" in res.out


@pytest.mark.parametrize("size,limit", [("8G", 8 * 2 ** 30), ("8GiB", 8 * 2 ** 30),
                                        ("8000MB", 8 * 10 ** 9), ("8e9", 8 * 10 ** 9)])
def test_fit_accepts_the_size_notations(cli, size, limit):
    res = cli("resnet50", "--fit", size, "-F", "json")
    assert res.code == 0
    f = json.loads(res.out)["memory"]["fit"]
    expected = fit(zoo_analysis("resnet50"), Settings(), limit)
    assert f["limit_bytes"] == limit and f["batch"] == expected.batch > 1
    text = cli("resnet50", "--fit", size).out
    assert f"Largest batch that fits in {limit:,} bytes" in text
    assert f": {expected.batch}  (float32, Adam)" in text
    assert "kept for backward" in text        # the breakdown at that batch


@pytest.mark.parametrize("bad", ["-1", "0", "-8G", "abc", "8X", "", "0.0GiB"])
def test_fit_rejects_bad_sizes(cli, bad):
    res = cli("resnet50", "--fit", bad)
    assert res.code == 2 and res.out == ""
    assert len(res.err_lines) == 1 and res.err.startswith("cnncalc: error: --fit must be a size")


def test_fit_when_nothing_fits_exits_1(cli):
    res = cli("vgg16", "--fit", "1GB")
    assert res.code == 1 and "Nothing fits in 1,000,000,000 bytes" in res.out


@pytest.mark.parametrize("args,message", [
    (["--train", "-q"], "--quiet prints only the output shape"),
    (["--fit", "8G", "-F", "dot"], "--format dot draws the graph only"),
    (["--fit", "8G", "--memory-convention", "keras"], "--fit needs a total that grows"),
    (["--optimizer", "lion"], "'lion' is not one of"),
    (["--dtype", "float8"], "'float8' is not one of"),
])
def test_train_bad_input_is_one_line_exit_2(cli, args, message):
    res = cli("resnet18", *args)
    assert res.code == 2 and len(res.err_lines) == 1 and message in res.err


def test_train_block_golden(cli, golden):
    res = cli("resnet18", "--train", "-b", "8")
    golden("resnet18_train.txt", res.out)


def test_the_readme_shows_real_output(cli):
    from conftest import ROOT
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### `--train`", 1)[1].split("\n### ", 1)[0]
    block = section.split("```text\n", 1)[1].split("```", 1)[0]
    for command in block.split("$ cnncalc ")[1:]:
        args, _, shown = command.partition("\n")
        out = cli(*args.split()).out.splitlines()
        for line in shown.splitlines():
            if line != "…":
                assert line in out, (args, line)
