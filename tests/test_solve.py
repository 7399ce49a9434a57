"""`cnncalc solve` (issue 9, item 4): every whole solution within the documented bounds, each one
verified by the conv (or transposed conv) layer itself, and the same set as a brute-force search;
no solution and contradictions are one line, exit 2."""

from __future__ import annotations

import itertools
import json

import pytest
from conftest import assert_clean_error
from hypothesis import given, settings
from hypothesis import strategies as st

import cnncalc
from cnncalc import solve as sv


def analysed(n: int, f: int, s: int, p: int, d: int, a: int | None) -> tuple[int, ...]:
    """The output of the real layer (read from a spec) for one axis-square setting."""
    if a is None:
        layer = {"conv": {"filters": 1, "kernel": f, "stride": s, "padding": p, "dilation": d}}
    else:
        layer = {"conv_transpose": {"filters": 1, "kernel": f, "stride": s, "padding": p,
                                    "dilation": d, "output_padding": a}}
    return cnncalc.analyse(cnncalc.loads(json.dumps({"input": [n, n, 1], "layers": [layer]}))
                           ).output


def brute(n: int, t: int, fixed: dict, transpose: bool, exact: bool) -> set[tuple]:
    """Every (f, s, p, d, a) within the documented bounds (a fixed value is taken as given)
    that gives t from n."""
    side = t if transpose else n

    def values(key: str) -> range | list[int]:
        return [fixed[key]] if key in fixed else range(1, side + 1)

    found = set()
    for f, s, d in itertools.product(values("kernel"), values("stride"), values("dilation")):
        for p in range(0, d * (f - 1) + 1):
            if fixed.get("padding", p) != p:
                continue
            for a in (range(max(s, d)) if transpose else [None]):
                if transpose and fixed.get("output_padding", a) != a:
                    continue
                if transpose:
                    out = (n - 1) * s - 2 * p + d * (f - 1) + a + 1
                else:
                    span = n + 2 * p - d * (f - 1) - 1
                    if span < 0 or (exact and span % s):
                        continue
                    out = span // s + 1
                if out == t:
                    found.add((f, s, p, d, a))
    return found


def test_the_issue_example(cli):
    res = cli("solve", "64x64x3", "--to", "64x64x8", "--kernel", "5", "--filters", "8")
    assert res.code == 0
    assert res.out.splitlines()[-1] == "  stride 1, padding 2"
    assert "1 solution (searched stride 1–64, padding 0–4)" in res.out


PAIRS = list(itertools.combinations(["kernel", "stride", "padding", "dilation"], 2))


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 14), f=st.integers(1, 5), s=st.integers(1, 3), d=st.integers(1, 2),
       data=st.data(), transpose=st.booleans(), exact=st.booleans())
def test_every_solution_and_only_those(n, f, s, d, data, transpose, exact):
    p = data.draw(st.integers(0, d * (f - 1)))
    a = data.draw(st.integers(0, max(s, d) - 1)) if transpose else None
    if not transpose and n + 2 * p < d * (f - 1) + 1:
        return
    try:
        t = analysed(n, f, s, p, d, a)[0]
    except cnncalc.CnnCalcError:         # an output of size 0
        return
    keep = data.draw(st.sampled_from(PAIRS))
    truth = {"kernel": f, "stride": s, "padding": p, "dilation": d}
    fixed = {k: truth[k] for k in keep}
    if "dilation" not in fixed:
        fixed["dilation"] = d          # the default (1) or what the user fixes
    prob = sv.problem((n, n), (t, t), fixed, transpose, exact and not transpose)
    found = sv.solutions(prob)
    got = {(x.kernel, x.stride, x.padding, x.dilation, x.output_padding) for x in found}
    assert got == brute(n, t, fixed, transpose, exact and not transpose)
    for x in found:                      # each one is what the layer itself computes
        assert analysed(n, x.kernel, x.stride, x.padding, x.dilation, x.output_padding)[0] == t
    side = t if transpose else n
    inside = all(truth[k] <= side for k in ("kernel", "stride", "dilation") if k not in fixed)
    if inside and not (exact and not transpose and (n + 2 * p - d * (f - 1) - 1) % s):
        assert (f, s, p, d, a) in got    # the setting the target came from is found


def test_non_square_inputs_need_both_axes(cli):
    res = cli("solve", "64x32x3", "--to", "32x16x8", "--kernel", "3", "--stride", "2")
    assert res.code == 0 and "padding 1" in res.out and "(width:" in res.out
    res = cli("solve", "64x32x3", "--to", "32x32x8", "--kernel", "3", "--stride", "2")
    assert res.code == 2 and res.err.startswith("cnncalc: error: no solution")


def test_transpose(cli):
    res = cli("solve", "3x3x1", "--to", "6x6x1", "--kernel", "3", "--stride", "2", "--transpose")
    assert res.code == 0 and "padding 1, output padding 1" in res.out
    res = cli("solve", "3x3x1", "--to", "6x6x1", "--kernel", "3", "--stride", "2", "--transpose",
              "--output-padding", "0")
    assert res.code == 2 and "no solution" in res.err


def test_json(cli):
    obj = json.loads(cli("solve", "224x224x3", "--to", "112x112x64", "--kernel", "7",
                         "--stride", "2", "-F", "json").out)
    assert obj["solutions"] == [{"kernel": 7, "stride": 2, "padding": 3, "dilation": 1,
                                 "floored": True}]
    assert obj["bounds"] == {"padding": [0, 6]} and obj["filters"] == 64


@pytest.mark.parametrize("args, needles", [
    # no solution: the condition and why it fails, one line
    (["10x10x1", "--to", "5x5x1", "--kernel", "3", "--stride", "2", "--exact"],
     ["no solution", "(10 + 2p − 2 − 1)/2 + 1 = 5", "needs 2p = 1, an odd number",
      "the nearest outputs are 4 (padding 0) and 6 (padding 2)"]),
    (["7x7x1", "--to", "11x11x1", "--kernel", "3", "--stride", "1"],
     ["needs 2p = 6: more than 'full' padding allows (p ≤ d·(f − 1) = 2)"]),
    (["7x7x1", "--to", "8x8x1", "--kernel", "3", "--padding", "0"],
     ["needs s between (4 + 1)/8 and 4/7"]),
    # contradictions
    (["64x64x3", "--to", "64x64x8", "--kernel", "5", "--filters", "16"],
     ["contradictory: --filters 16 makes 16 maps, but --to 64x64x8 has 8 channels"]),
    (["64x64x3", "--to", "64x64x8", "--kernel", "3", "--padding", "5"],
     ["padding 5 is more than 'full' padding"]),
    (["64x64x3", "--to", "64x64x8"], ["fix at least two of --kernel, --stride"]),
    (["64x64x3", "--to", "64x64x8", "--kernel", "3", "--dilation", "any"],
     ["only kernel is fixed"]),
    (["64x64x3", "--to", "64x64x8", "--kernel", "3", "--output-padding", "1"],
     ["--output-padding is for a transposed convolution"]),
    (["64x64x3", "--to", "[10]", "--kernel", "3"], ["must be HxWxC maps"]),
    (["3x3x1", "--to", "6x6x1", "--kernel", "3", "--stride", "2", "--dilation", "1",
      "--output-padding", "2", "--transpose"], ["output padding 2 must be smaller"]),
    (["200000x200000x1", "--to", "1x1x1", "--kernel", "3", "--stride", "2"],
     ["above the limit of 100,000"]),
])
def test_errors_are_one_line(cli, args, needles):
    assert_clean_error(cli("solve", *args), *needles)


def test_dilation_any_is_solved_too(cli):
    res = cli("solve", "64x64x3", "--to", "64x64x8", "--kernel", "3", "--stride", "1",
              "--dilation", "any")
    assert res.code == 0
    lines = [ln.strip() for ln in res.out.splitlines()[3:]]
    assert lines[:3] == ["padding 1, dilation 1", "padding 2, dilation 2",
                         "padding 3, dilation 3"]
