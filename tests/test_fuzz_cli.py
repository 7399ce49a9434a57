"""Fuzzing the command line as a process (issue "Hostile input and faults"): arbitrary bytes and
arbitrary YAML structures as specs, arbitrary strings as shapes, kernels and sizes. Each run must
end within its time bound with exit 0, 1 or 2, never a traceback and never the internal-error
exit 70; an error is one line on stderr.

Each input runs as its own process, forked from a server that has imported cnncalc once
(:mod:`forkserver`), so the ~200 examples take seconds. test_fuzz.py fuzzes the same inputs
in-process, with more examples."""

from __future__ import annotations

import os

import pytest
import yaml
from forkserver import ForkServer
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_fuzz import PARAM_NAMES, TYPES, specs

TIME_BOUND = 15.0        # seconds per run (generous: the suite shares two cores)

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the fork server needs os.fork")


@pytest.fixture(scope="module")
def server():
    with ForkServer() as srv:
        yield srv


def check(server: ForkServer, args: list[str], stdin: bytes = b"") -> None:
    code, out, err, secs = server.run(args, stdin, timeout=TIME_BOUND)
    shown = f"cnncalc {args!r} < {stdin[:200]!r}"
    assert code is not None, f"{shown}: still running after {TIME_BOUND} s"
    assert code in (0, 1, 2), (shown, code, err)
    assert "Traceback" not in err and "internal error" not in err, (shown, err)
    if code == 2:
        assert err.startswith("cnncalc: error: ") and len(err.splitlines()) == 1, (shown, err)


def fuzz(n: int):
    return settings(max_examples=n, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


# text as a command line can carry it: no NUL, no lone surrogates
arg_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                   max_size=12)


@fuzz(40)
@given(data=st.binary(max_size=300),
       extra=st.sampled_from([[], ["--summary"], ["-F", "json"], ["-q"], ["--run", "-q"]]))
@example(data=b"\xff\xfe\x00garbage", extra=[])
@example(data=b"input: 8x8x3\nlayers: [relu]\n" + b"\x1b[2J" * 3, extra=["--summary"])
def test_arbitrary_bytes_as_a_spec(server, data, extra):
    check(server, ["-", *extra], data)


yaml_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.integers(), st.floats(),
    st.sampled_from(["same", "relu", "8x8x3", "$x", "", "-1", "1e300", "2024-02-30",
                     "\x1b[2J", "190:20:30"]), arg_text)
yaml_trees = st.recursive(
    yaml_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(PARAM_NAMES + TYPES + ["input", "layers",
                                                                          "blocks", "name"]),
                                  arg_text), inner, max_size=4)),
    max_leaves=16)


def _yaml(doc) -> bytes:
    return yaml.safe_dump(doc, allow_unicode=True, default_flow_style=None,
                          sort_keys=False).encode("utf-8", "surrogatepass")


@fuzz(50)
@given(doc=st.one_of(specs(), yaml_trees),
       extra=st.sampled_from([[], ["--summary"], ["-F", "csv"], ["--strict", "-q"],
                              ["--run", "-q", "--input", "8x8x3"], ["--depth", "0", "-S"]]))
def test_arbitrary_yaml_structures_as_a_spec(server, doc, extra):
    check(server, ["-", *extra], _yaml(doc))


shapes = st.one_of(arg_text, st.sampled_from(["8x8x3", "1x1x1", "0x4x4", "-", "[10]", "4x4",
                                              "99999999999x3x3", "8×8×3", " 8x8x3 "]))
kernels = st.one_of(arg_text, st.sampled_from(["3", "3x3", "3x3x3", "0", "-1", "1e3", "2.5",
                                               "3x5", "99999999999999999999"]))


@fuzz(60)
@given(cmd=st.sampled_from(["conv", "pool"]), shape=shapes, kernel=kernels,
       other=st.sampled_from([[], ["--stride", "2"], ["--padding", "same"], ["--explain"],
                              ["-q"], ["--expect", "4x4x1"], ["--format", "json"]]),
       stdin=st.sampled_from([b"", b"16x16x3\n", b"garbage", b"9" * 1000]))
def test_arbitrary_shapes_and_kernels(server, cmd, shape, kernel, other, stdin):
    flag = ["--filters", "2", "--kernel"] if cmd == "conv" else ["--size"]
    check(server, [cmd, shape, *flag, kernel, *other], stdin)


sizes = st.one_of(arg_text, st.sampled_from(["2G", "1.5GiB", "800MiB", "8e9", "0", "-1", "1e400",
                                             "nan", "inf", "1K", "99999999999999999999999G",
                                             "10"]))


@fuzz(30)
@given(size=sizes, where=st.sampled_from(["--max-memory", "--input", "--batch", "--depth"]))
def test_arbitrary_sizes(server, size, where):
    args = ["lenet5", where, size, "-q"]
    if where == "--max-memory":
        args.append("--run")
    check(server, args)
