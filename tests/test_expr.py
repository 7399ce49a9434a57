"""cnncalc.expr, the spec's expression language (issue 10 item 1): numbers (integers and floats),
+ − * / // % with Python's precedence, make_divisible / round / floor / ceil / min / max / int,
comparisons, and / or / not, quoted strings; never Python's eval.

The specs that use expressions are tested in test_speclang.py; these are the evaluator's own
rules, with Python itself as the oracle where the meaning is Python's.
"""

from __future__ import annotations

import builtins
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnncalc.expr import FUNCTIONS, ExprError, evaluate, parse

ENV = {"a": 7, "b": 2, "r": 0.25, "t": True, "f": False, "s": "relu"}


def ev(text: str, env: dict | None = None):
    env = ENV if env is None else env

    def lookup(name, field):
        if field is not None:
            raise ExprError(f"${name}.{field}")
        return env[name]
    return evaluate(text, lookup)


def torchvision_make_divisible(v, divisor, min_value=None):
    """torchvision.models._utils._make_divisible, copied verbatim."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    # Make sure that round down does not go down by more than 10%.
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


@pytest.mark.parametrize("text, value", [
    ("$a + $b * 2", 11), ("($a + $b) * 2", 18), ("$a // $b", 3), ("$a % $b", 1),
    ("-$a + 10", 3), ("+$a", 7), ("2 * (3 + $a) // 4", 5), ("$a - $b - 1", 4),
    ("$a * $r", 1.75), ("$b * $r * 2", 1), ("1e-6", 1e-6), ("1E3", 1000), (".5 * 4", 2),
    ("$a / $b", 3.5), ("$a / 7", 1), ("7.5 // 2", 3), ("-7 // 2", -4), ("-7 % 3", 2),
    ("make_divisible(32 * 0.75, 8)", 24), ("make_divisible($a * 10, 8)", 72),
    ("make_divisible(10, 8)", 16),           # 8 would lose more than 10 %
    ("make_divisible(3, 8)", 8), ("make_divisible(3, 8, 1)", 9), ("make_divisible(36, 16, 32)", 48),
    ("round(2.5)", 2), ("round(3.5)", 4), ("round(-0.5)", 0), ("round(1.2345, 2)", 1.23),
    ("floor(-1.5)", -2), ("ceil(1.01)", 2), ("ceil(4)", 4), ("int(-1.7)", -1), ("int(2.9)", 2),
    ("min($a, $b, 5)", 2), ("max(1, $r)", 1), ("max($r, 0.5 * $r)", 0.25),
    ("$a == 7", True), ("$a != 7", False), ("$a >= 7 and $b < 2", False), ("$a > 7 or $t", True),
    ("not $f", True), ("not $t or $f", False), ("not ($t and $f)", True), ("$s == 'relu'", True),
    ("$s != \"silu\"", True), ("$t == true", True), ("$f == false", True),
    ("$a == 7 and ($s == 'relu' or $f)", True), ("1 + 1 == 2", True), ("$a", 7), ("  $a ", 7),
])
def test_values(text, value):
    got = ev(text)
    assert got == value and type(got) is type(value), (text, got)


def test_whole_results_are_integers_fractions_stay_floats():
    assert isinstance(ev("$r * 8"), int) and ev("$r * 8") == 2
    assert isinstance(ev("$a / $b"), float)
    assert isinstance(ev("floor(2.5)"), int) and isinstance(ev("round(2.5)"), int)


def test_and_or_evaluate_their_right_side_only_when_needed():
    """`$se and $in.c > 8` must not read $in when $se is false (that is what lets the spec
    decide such a condition before the shapes are known)."""
    read = []

    def lookup(name, field):
        read.append(name)
        return {"se": False, "on": True}.get(name, 1)
    assert evaluate("$se and $in > 8", lookup) is False and read == ["se"]
    read.clear()
    assert evaluate("$on or $in > 8", lookup) is True and read == ["on"]


@given(v=st.floats(0.01, 5000, allow_nan=False), d=st.sampled_from([1, 2, 4, 8, 16, 32]),
       m=st.one_of(st.none(), st.integers(1, 64)))
def test_make_divisible_is_torchvisions(v, d, m):
    args = f"{v!r}, {d}" + ("" if m is None else f", {m}")
    assert ev(f"make_divisible({args})") == torchvision_make_divisible(v, d, m)


@given(a=st.integers(-10 ** 6, 10 ** 6), b=st.integers(-10 ** 6, 10 ** 6).filter(bool),
       c=st.integers(-1000, 1000))
def test_integer_arithmetic_is_pythons(a, b, c):
    env = {"a": a, "b": b, "c": c}
    for text, want in (("$a + $b * $c", a + b * c), ("($a - $c) // $b", (a - c) // b),
                       ("$a % $b - -$c", a % b + c), ("$a * $c // $b", a * c // b)):
        assert ev(text, env) == want, text
    got = ev("$a / $b", env)
    assert got == (a // b if a % b == 0 else a / b)


@given(x=st.floats(-1e6, 1e6, allow_nan=False))
def test_functions_are_pythons(x):
    env = {"x": x}
    assert ev("floor($x)", env) == math.floor(x)
    assert ev("ceil($x)", env) == math.ceil(x)
    assert ev("int($x)", env) == int(x)
    assert ev("round($x)", env) == round(x)
    assert ev("min($x, 3, -2.5)", env) == min(x, 3, -2.5)
    assert ev("max($x, 3)", env) == max(x, 3)


@pytest.mark.parametrize("text, message", [
    ("$a // 0", "division by zero in '$a // 0'"), ("$a % ($b - 2)", "division by zero"),
    ("$a / (0 * $b)", "division by zero"),
    ("foo($a)", "unknown function 'foo' in 'foo($a)'"),
    ("flor($a)", "(did you mean 'floor'?); functions: make_divisible, round"),
    ("relu", "unknown name 'relu'"), ("$a == relu", "a string in quotes ('relu')"),
    ("min($a)", "min() takes 2 or more arguments, got 1"),
    ("floor($a, 2)", "floor() takes 1 arguments, got 2"),
    ("make_divisible($a)", "make_divisible() takes 2 to 3 arguments"),
    ("make_divisible($a, 0)", "the divisor must be a positive integer"),
    ("make_divisible($a, 2.5)", "the divisor must be a positive integer"),
    ("round($r, 0.5)", "the digits must be an integer"),
    ("$a +", "unexpected 'end' in the expression '$a +'"), ("$a ** 2", "unexpected '*'"),
    ("(($a)", "missing ')'"), ("$a)", "unexpected ')'"), ("floor($a", "missing ')'"),
    ("$a $b", "unexpected '$b'"), ("$a @ 1", "cannot read the expression '$a @ 1' at '@ 1'"),
    ("$a and 1", "'and' needs true or false, but $a is 7"),
    ("$f or 3", "'or' needs true or false, but got 3"), ("not $a", "'not' needs true or false"),
    ("$s * 2", "$s is 'relu', not a number"), ("$t + 1", "$t is true, not a number"),
    ("$s < 3", "'<' compares numbers, but $s is 'relu'"),
    ("$s == 3", "cannot compare 'relu' with 3"), ("$t == 1", "cannot compare true with 1"),
    ("1 < $a < 9", "chained comparison"),
    ("$a * 100000000 * 100000000", "is too large"), ("1" + "0" * 16, "is too large"),
    ("1e400", "is too large"), ("9" * 50, "is too large"),
    ("+".join(["$a"] * 150), "expression too long"),
    ("and", "unexpected 'and'"), ("$a and", "unexpected 'end'"),
])
def test_errors(text, message):
    with pytest.raises(ExprError) as info:
        ev(text)
    assert message in str(info.value), str(info.value)


def test_parse_is_cached_and_never_uses_eval(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("eval/exec/compile called")
    parse.cache_clear()
    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    monkeypatch.setattr(builtins, "compile", forbidden)
    assert ev("make_divisible($a * 4 * $r, 8) + max(1, 2)") == 10
    assert ev("$a > 3 and not ($f or $s != 'relu')") is True
    with pytest.raises(ExprError, match="unknown function '__import__'"):
        ev("__import__('os')")
    assert parse("$a + 1") is parse("$a + 1")


def test_the_function_table():
    assert set(FUNCTIONS) == {"make_divisible", "round", "floor", "ceil", "min", "max", "int"}
