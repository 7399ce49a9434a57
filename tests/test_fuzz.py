"""Fuzzing (hypothesis): random YAML documents, random layer parameters and random command
lines. Every outcome must be a result or a clean error: exit 0, 1 or 2, one line on stderr for
an error, never a traceback and never the "internal error" exit code 70."""

from __future__ import annotations

import json
import math

import yaml
from conftest import invoke
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import cnncalc
from cnncalc.errors import CnnCalcError
from cnncalc.layers import REGISTRY

TYPES = sorted(REGISTRY) + ["block", "repeat", "residual", "parallel"]
PARAM_NAMES = sorted({p for cls in REGISTRY.values() for p in cls.params}
                     | {"name", "from", "use", "times", "layers", "body", "shortcut",
                        "branches", "merge", "first", "activation"})

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(-3, 12), st.integers(-10**12, 10**12), st.just(10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.5, 1e-5, -0.0]),
    st.sampled_from(["same", "valid", "full", "relu", "softmax", "auto", "identity", "concat",
                     "add", "$x", "$filters * 2", "224x224x3", "8x8x1", "-1", "[3, 3]", "x",
                     "", " ", "\u00d7", "conv", "__import__('os')"]),
    st.text(max_size=8),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(st.sampled_from(PARAM_NAMES + TYPES),
                                                      st.text(max_size=5)), inner, max_size=4)),
    max_leaves=12,
)


@st.composite
def layer_entries(draw):
    kind = draw(st.sampled_from(TYPES + ["conv"] * 5 + ["maxpool", "dense", "flatten"] * 2
                                + ["cnov", "Conv"]))
    form = draw(st.integers(0, 3))
    if form == 0:
        return kind
    if form == 1:
        return {kind: draw(scalars)}
    cls = REGISTRY.get(kind)
    names = list(cls.params) + ["name", "from"] if cls else PARAM_NAMES
    params = draw(st.dictionaries(st.sampled_from(names + ["bogus"]), values, max_size=5))
    if form == 3 and cls is not None:        # mostly-valid parameters
        for p, (_check, default) in cls.params.items():
            if isinstance(default, (int, float, str)) and draw(st.booleans()):
                params.setdefault(p, default)
    return {kind: params}


@st.composite
def specs(draw):
    doc = {}
    if draw(st.integers(0, 5)):
        doc["input"] = draw(st.one_of(
            st.sampled_from(["8x8x3", "32x32x1", "224x224x3", [16, 16, 4], [100], "8x8"]),
            st.lists(st.integers(-2, 40), min_size=1, max_size=4), scalars))
    if draw(st.booleans()):
        doc["defaults"] = draw(st.dictionaries(st.sampled_from(["conv", "dense", "cnov", "x"]),
                                               values, max_size=2))
    if draw(st.integers(0, 3)) == 0:
        doc["blocks"] = draw(values)
    doc["layers"] = draw(st.one_of(st.lists(layer_entries(), max_size=6), values))
    if draw(st.integers(0, 4)) == 0:
        doc[draw(st.sampled_from(["name", "description", "layer", "extra"]))] = draw(scalars)
    return doc


def _dump(doc) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, default_flow_style=None, sort_keys=False)


def _mutate(text: str, cuts: list[tuple[int, str]]) -> str:
    for pos, insert in cuts:
        pos = pos % (len(text) + 1)
        text = text[:pos] + insert + text[pos + 1:]
    return text


def _load_or_clean_error(text: str) -> None:
    try:
        model = cnncalc.loads(text, "fuzz.yaml")
        a = cnncalc.analyse(model)
    except CnnCalcError as e:
        msg = str(e)
        assert msg and "\n" not in msg, repr(msg)
        assert msg.startswith("fuzz.yaml"), msg
        return
    t = a.totals()
    assert sum(r.params for r in a.layers) == t["params"]
    assert all(isinstance(d, int) and d > 0 for d in a.output)


fuzz = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@fuzz
@given(doc=specs())
@example(doc={"input": "8x8x3", "layers": [{"conv": {"filters": 10**30, "kernel": 1}}]})
@example(doc={"input": "8x8x3", "layers": [{"dropout": math.nan}]})
@example(doc={"input": [8, 8, 3], "layers": [{"repeat": {"times": 10**9, "layers": ["relu"]}}]})
def test_random_specs_load_or_fail_cleanly(doc):
    _load_or_clean_error(_dump(doc))


@fuzz
@given(doc=specs(), cuts=st.lists(st.tuples(st.integers(0, 10**4),
                                            st.sampled_from(["", ":", "-", "[", "]", "{", "}",
                                                             "\t", "  ", "\n", "&a ", "*a",
                                                             "!!python/name:os.system ", "'",
                                                             '"', "#", "? ", "\x00", "%"])),
                                  min_size=1, max_size=4))
def test_mutated_yaml_text_fails_cleanly(doc, cuts):
    _load_or_clean_error(_mutate(_dump(doc), cuts))


@fuzz
@given(data=st.binary(max_size=200))
def test_random_bytes_on_stdin(data):
    res = invoke("-", "--format", "json", stdin=data)
    _assert_clean(res)


def _assert_clean(res) -> None:
    assert res.code in (0, 1, 2), (res.code, res.err)
    assert "Traceback" not in res.err and "internal error" not in res.err
    if res.code == 2:
        assert len(res.err_lines) == 1 and res.err.startswith("cnncalc: error: "), res.err
    if res.code == 0 and res.out.startswith("{"):
        json.loads(res.out)


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(doc=specs(), fmt=st.sampled_from(["json", "table", "csv", "tsv", "markdown"]),
       extra=st.sampled_from([[], ["--summary"], ["--strict"], ["-q"], ["--batch", "3"],
                              ["--input", "16x16x3"], ["--depth", "0", "--summary"],
                              ["--expect", "4x4x4", "--expect-params", "100"],
                              ["--at", "1", "--expect-rf", "3", "--expect-macs", "1000"],
                              ["--at", "2", "--explain", "--expect-trainable", "10"],
                              ["--explain"]]))
def test_random_specs_through_the_cli(doc, fmt, extra):
    res = invoke("-", "--format", fmt, *extra, stdin=_dump(doc))
    _assert_clean(res)


option_text = st.one_of(
    st.sampled_from(["3", "0", "-1", "2x2", "3,1", "1,2,3,4", "1,2,3", "same", "valid", "full",
                     "sme", "x", "", "99999", "1e3", "2.5", "[3, 3]", "3x", "×"]),
    st.integers(-5, 300).map(str), st.text(max_size=6))


@settings(max_examples=200, deadline=None)
@given(cmd=st.sampled_from(["conv", "pool", "dense", "deconv", "pad", "solve"]),
       shape=st.one_of(st.sampled_from(["128x128x3", "7x7x1", "1x1x1", "8x8", "-", "0x4x4",
                                        "[25088]", "224×224×3"]), st.text(max_size=8)),
       opts=st.dictionaries(st.sampled_from(["--filters", "--kernel", "--stride", "--padding",
                                             "--dilation", "--groups", "--size", "--expect",
                                             "--expect-params", "--expect-macs", "--kind",
                                             "--units", "--output-padding", "--to"]),
                            option_text, max_size=6),
       flags=st.lists(st.sampled_from(["--ceil", "--no-bias", "--explain", "-q", "--strict",
                                       "--format=json", "--transpose", "--exact"]), max_size=3,
                      unique=True),
       stdin=st.sampled_from(["", "126x126x32\n", "garbage", "[10]"]))
def test_random_quick_calculator_command_lines(cmd, shape, opts, flags, stdin):
    # an option another command has is an error (exit 2, one line) like any other bad input
    args = [cmd, shape]
    for k, v in opts.items():
        args += [f"{k}={v}"]
    res = invoke(*args, *flags, stdin=stdin)
    _assert_clean(res)
