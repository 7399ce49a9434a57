"""``cnncalc solve``: the kernel, stride, padding and dilation that turn one shape into another.

Fix any two of kernel f, stride s, padding p and dilation d (the dilation is 1 unless it is asked
for) and the rest are solved for, per axis from the same rules the layers use
(:func:`cnncalc.shapes.window_output` and :func:`cnncalc.shapes.transposed_output`):

- convolution: ``floor((n + 2p − d·(f − 1) − 1)/s) + 1 = T`` (with ``exact``, no floor: the
  division must have no remainder);
- transposed convolution: ``(n − 1)·s − 2p + d·(f − 1) + a + 1 = T`` with the output padding
  ``0 ≤ a < max(s, d)`` (PyTorch's rule).

The values are one number for both axes (square kernels, strides, paddings, dilations), and every
integer solution within these bounds is listed:

- kernel ``1 … n`` (convolution: no larger than the input's larger side) or ``1 … T``
  (transposed: no larger than the output's larger side);
- dilation ``1 … n`` (convolution) or ``1 … T`` (transposed);
- padding ``0 … d·(f − 1)``: at most 'full' padding, beyond which an output would see only
  padding (a transposed convolution would crop more than the kernel adds);
- stride ``1 … n`` (convolution: a stride beyond the input gives one output whatever it is) or
  ``1 … T`` (transposed).

The last unknown is solved in closed form for each value of the other, so the search is linear in
the bounds. When there is no solution the error says which condition cannot hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

from . import shapes
from .errors import CnnCalcError

NAMES = ("kernel", "stride", "padding", "dilation")
SYMBOL = {"kernel": "f", "stride": "s", "padding": "p", "dilation": "d", "output_padding": "a"}
MAX_SIDE = 100_000          # larger sides are refused (docs/LIMITS.md)


@dataclass(frozen=True)
class Solution:
    kernel: int
    stride: int
    padding: int
    dilation: int
    output_padding: int | None = None        # transposed only
    floored: bool = False                    # conv: the division had a remainder

    def values(self) -> dict[str, int]:
        out = {"kernel": self.kernel, "stride": self.stride, "padding": self.padding,
               "dilation": self.dilation}
        if self.output_padding is not None:
            out["output_padding"] = self.output_padding
        return out


@dataclass
class Problem:
    n: tuple[int, int]                       # input H, W
    target: tuple[int, int]                  # output H, W
    fixed: dict[str, int]                    # of NAMES (and output_padding)
    transpose: bool = False
    exact: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def unknowns(self) -> list[str]:
        return [k for k in NAMES if k not in self.fixed]

    def bounds(self) -> dict[str, tuple[int, int | str]]:
        """The search range of each unknown (padding's upper end depends on f and d)."""
        side = max(self.target) if self.transpose else max(self.n)
        full: int | str = "d·(f − 1)"
        if "kernel" in self.fixed and "dilation" in self.fixed:
            full = self.fixed["dilation"] * (self.fixed["kernel"] - 1)
        return {"kernel": (1, side), "stride": (1, side), "dilation": (1, side),
                "padding": (0, full)}

    def bounds_text(self) -> str:
        b = self.bounds()
        return ", ".join(f"{k} {b[k][0]}–{b[k][1]}" for k in self.unknowns)


def problem(n: tuple[int, int], target: tuple[int, int], fixed: dict[str, int],
            transpose: bool = False, exact: bool = False) -> Problem:
    """Validate the constraints (exit 2 on a contradiction or too few of them)."""
    for what, sides in (("input", n), ("target", target)):
        if max(sides) > MAX_SIDE:
            raise CnnCalcError(f"solve: the {what} side {max(sides):,} is above the limit of "
                               f"{MAX_SIDE:,} (docs/LIMITS.md)")
    given = [k for k in NAMES if k in fixed]
    if len(given) < 2:
        raise CnnCalcError(
            "solve: fix at least two of --kernel, --stride, --padding, --dilation (the "
            "dilation is 1 unless you write --dilation any); "
            + (f"only {given[0]} is fixed" if given else "none is fixed"))
    if not transpose and "output_padding" in fixed:
        raise CnnCalcError("solve: --output-padding is for a transposed convolution; add "
                           "--transpose")
    for k in ("kernel", "stride", "dilation"):
        if k in fixed and fixed[k] < 1:
            raise CnnCalcError(f"solve: --{k} must be at least 1, got {fixed[k]}")
    if fixed.get("padding", 0) < 0 or fixed.get("output_padding", 0) < 0:
        raise CnnCalcError("solve: padding and output padding must be at least 0")
    p = Problem(n, target, dict(fixed), transpose, exact)
    if "kernel" in fixed and "dilation" in fixed and "padding" in fixed:
        span = fixed["dilation"] * (fixed["kernel"] - 1)
        if fixed["padding"] > span:
            raise CnnCalcError(
                f"solve: padding {fixed['padding']} is more than 'full' padding d·(f − 1) = "
                f"{span} for kernel {fixed['kernel']}, dilation {fixed['dilation']}: some "
                f"outputs would see only padding")
    if transpose and "output_padding" in fixed and "stride" in fixed and "dilation" in fixed:
        if fixed["output_padding"] >= max(fixed["stride"], fixed["dilation"]):
            raise CnnCalcError(
                f"solve: output padding {fixed['output_padding']} must be smaller than the "
                f"stride or the dilation ({max(fixed['stride'], fixed['dilation'])})")
    return p


# --- the search ----------------------------------------------------------------------------------

def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _range(lo: int, hi: int) -> range:
    return range(lo, hi + 1) if lo <= hi else range(0)


def _conv_inner(p: Problem, axis: int, v: dict[str, int], x: str) -> range:
    """The values of ``x`` that make ``floor((n + 2p − d(f − 1) − 1)/s) + 1 = T`` on ``axis``,
    the others in ``v``, within the bounds (an interval)."""
    n, t = p.n[axis], p.target[axis]
    b = p.bounds()
    if x == "padding":
        span = v["dilation"] * (v["kernel"] - 1)
        low = (t - 1) * v["stride"]
        high = low if p.exact else t * v["stride"] - 1
        return _range(max(0, _ceil_div(low - n + span + 1, 2)),
                      min(span, (high - n + span + 1) // 2))
    if x == "stride":
        span = v["dilation"] * (v["kernel"] - 1)
        num = n + 2 * v["padding"] - span - 1          # out = num // s + 1
        s_max = int(b["stride"][1])
        if num < 0 or v["padding"] > span:
            return range(0)
        if t == 1:                                     # num // s = 0: s > num
            return _range(1, s_max) if num == 0 else range(0) if p.exact else \
                _range(num + 1, s_max)
        if p.exact:                                    # num = (t − 1)·s
            return _range(num // (t - 1), min(num // (t - 1), s_max)) \
                if num % (t - 1) == 0 else range(0)
        return _range(max(1, _ceil_div(num + 1, t)), min(num // (t - 1), s_max))
    # kernel or dilation: the span E = d·(f − 1) must lie in [e_lo, e_hi]
    s = v["stride"]
    e_hi = n + 2 * v["padding"] - 1 - (t - 1) * s
    e_lo = e_hi if p.exact else n + 2 * v["padding"] - 1 - (t * s - 1)
    e_lo = max(e_lo, v["padding"], 0)
    if x == "kernel":
        d = v["dilation"]
        return _range(max(1, _ceil_div(e_lo, d) + 1), min(int(b["kernel"][1]), e_hi // d + 1))
    f = v["kernel"]
    if f == 1:                       # a 1x1 kernel has no span: every dilation gives the same
        return _range(1, int(b["dilation"][1])) if e_lo <= 0 <= e_hi else range(0)
    return _range(max(1, _ceil_div(e_lo, f - 1)), min(int(b["dilation"][1]), e_hi // (f - 1)))


def _transposed_inner(p: Problem, axis: int, v: dict[str, int], x: str) -> list[int]:
    """The values of ``x`` that make ``(n − 1)·s − 2p + d·(f − 1) + a + 1 = T`` (a included in
    ``v``), within the bounds."""
    n, t = p.n[axis], p.target[axis]
    a = v["output_padding"]
    b = p.bounds()
    if x == "padding":
        span = v["dilation"] * (v["kernel"] - 1)
        twice = (n - 1) * v["stride"] + span + a + 1 - t
        return [twice // 2] if twice % 2 == 0 and 0 <= twice // 2 <= span else []
    if x == "stride":
        span = v["dilation"] * (v["kernel"] - 1)
        rest = t - 1 - span - a + 2 * v["padding"]
        if n == 1:                   # (n − 1)·s = 0: every stride gives the same
            return list(range(1, int(b["stride"][1]) + 1)) if rest == 0 else []
        return [rest // (n - 1)] if rest % (n - 1) == 0 and 1 <= rest // (n - 1) <= \
            int(b["stride"][1]) else []
    span = t - 1 - (n - 1) * v["stride"] + 2 * v["padding"] - a
    if span < max(v["padding"], 0):
        return []
    if x == "kernel":
        d = v["dilation"]
        return [span // d + 1] if span % d == 0 and span // d + 1 <= int(b["kernel"][1]) else []
    f = v["kernel"]
    if f == 1:
        return list(range(1, int(b["dilation"][1]) + 1)) if span == 0 else []
    return [span // (f - 1)] if span % (f - 1) == 0 and 1 <= span // (f - 1) <= \
        int(b["dilation"][1]) else []


def _outer_values(p: Problem, x: str, v: dict[str, int]) -> range:
    b = p.bounds()
    if x == "padding":
        return _range(0, v["dilation"] * (v["kernel"] - 1)) if "kernel" in v and \
            "dilation" in v else _range(0, 2 * max(p.n + p.target))
    return _range(int(b[x][0]), int(b[x][1]))


def _assignments(p: Problem) -> Iterator[tuple[dict[str, int], str | None]]:
    """Every assignment of the unknowns but the last (the inner one, solved in closed form)."""
    unknown = p.unknowns
    base = {k: p.fixed[k] for k in NAMES if k in p.fixed}
    if not unknown:
        yield base, None
        return
    order = ["padding", "kernel", "dilation", "stride"]
    inner = next(k for k in order if k in unknown)
    outer = [k for k in unknown if k != inner]
    if not outer:
        yield base, inner
        return
    (x,) = outer           # at most two unknowns
    for value in _outer_values(p, x, base):
        yield {**base, x: value}, inner


def solutions(p: Problem) -> list[Solution]:
    """Every solution within the bounds, sorted by stride, kernel, dilation, padding."""
    found: list[Solution] = []
    a_values: list[int | None] = [None]
    for v, inner in _assignments(p):
        if p.transpose:
            s_max = max(v.get("stride", max(p.target)), v.get("dilation", max(p.target)))
            a_values = [p.fixed["output_padding"]] if "output_padding" in p.fixed else \
                list(range(0, s_max))
        for a in a_values:
            vv = dict(v) if a is None else {**v, "output_padding": a}
            candidates = [None] if inner is None else (
                _transposed_inner(p, 0, vv, inner) if p.transpose else _conv_inner(p, 0, vv, inner))
            for c in candidates:
                full: dict[str, int] = dict(vv)
                if c is not None and inner is not None:
                    full[inner] = c
                sol = _verify(p, full)
                if sol is not None:
                    found.append(sol)
    unique = sorted(set(found), key=lambda s: (s.stride, s.kernel, s.dilation, s.padding,
                                               s.output_padding or 0))
    return unique


def _verify(p: Problem, v: dict[str, int]) -> Solution | None:
    """Check a full assignment on both axes with the layers' own formulas and the bounds."""
    f, s, pad, d = v["kernel"], v["stride"], v["padding"], v["dilation"]
    a = v.get("output_padding")
    if min(f, s, d) < 1 or pad < 0 or pad > d * (f - 1):
        return None
    floored = False
    for axis in (0, 1):
        n, t = p.n[axis], p.target[axis]
        if p.transpose:
            assert a is not None
            if a >= max(s, d) or a < 0:
                return None
            out = shapes.transposed_output(n, f, s, pad, pad, a, d)
        else:
            if n + 2 * pad < shapes.effective_kernel(f, d):
                return None
            out = shapes.window_output(n, f, s, pad, pad, d)
            if shapes.unreached(n, f, s, pad, pad, d):
                floored = True
        if out != t:
            return None
    if p.exact and floored:
        return None
    return Solution(f, s, pad, d, a, floored)


# --- why there is none -----------------------------------------------------------------------

def equation(p: Problem, axis: int = 0) -> str:
    """The condition on ``axis`` with the fixed values substituted."""
    n, t = p.n[axis], p.target[axis]
    fx = p.fixed
    if "kernel" in fx and "dilation" in fx:
        span = str(fx["dilation"] * (fx["kernel"] - 1))
    elif "kernel" in fx:
        span = f"d·{fx['kernel'] - 1}"
    elif "dilation" in fx:
        span = "(f − 1)" if fx["dilation"] == 1 else f"{fx['dilation']}·(f − 1)"
    else:
        span = "d·(f − 1)"
    pad = f"2·{fx['padding']}" if "padding" in fx else "2p"
    s = str(fx["stride"]) if "stride" in fx else "s"
    if p.transpose:
        a = str(fx["output_padding"]) if "output_padding" in fx else "a"
        return f"({n} − 1)·{s} − {pad} + {span} + {a} + 1 = {t}"
    if p.exact:
        return f"({n} + {pad} − {span} − 1)/{s} + 1 = {t}"
    return f"floor(({n} + {pad} − {span} − 1)/{s}) + 1 = {t}"


def why_none(p: Problem) -> str:
    """One line: the condition, why it has no integer solution within the bounds, and the
    nearest outputs that can be reached."""
    axis = 0 if _fails(p, 0) else 1
    eq = equation(p, axis)
    unknown = p.unknowns
    fixed = ", ".join(f"{k.replace('_', ' ')} {x}" for k, x in p.fixed.items())
    near = _nearest(p, axis)
    near_text = ""
    if near:
        near_text = "; the nearest outputs are " + " and ".join(
            f"{o} ({', '.join(f'{k} {x}' for k, x in vals.items() if k in unknown)})"
            if unknown else f"{o}" for o, vals in near)
    why = _single_reason(p, axis)
    head = (f"no solution for {p.n[0]}x{p.n[1]} → {p.target[0]}x{p.target[1]} with {fixed}"
            + (" and an exact division (--exact)" if p.exact and not p.transpose else ""))
    if not unknown:
        return f"{head}: {eq} does not hold{near_text}"
    return (f"{head}: {eq} {why or 'has no whole solution'} (searched {p.bounds_text()})"
            f"{near_text}")


def _fails(p: Problem, axis: int) -> bool:
    """Whether the axis alone has no solution (to explain the axis that fails)."""
    if p.n[0] == p.n[1] and p.target[0] == p.target[1]:
        return True
    one = Problem((p.n[axis],) * 2, (p.target[axis],) * 2, p.fixed, p.transpose, p.exact)
    return not solutions(one)


def _single_reason(p: Problem, axis: int) -> str:
    """For one unknown padding or stride: the value it would need and why that fails."""
    if len(p.unknowns) != 1 or p.transpose or "kernel" not in p.fixed or \
            "dilation" not in p.fixed:
        return ""
    n, t = p.n[axis], p.target[axis]
    span = p.fixed["dilation"] * (p.fixed["kernel"] - 1)
    (x,) = p.unknowns
    if x == "padding":
        s = p.fixed["stride"]
        lo = (t - 1) * s - n + span + 1
        hi = lo if p.exact else t * s - 1 - n + span + 1
        need = f"needs 2p = {lo}" if lo == hi else f"needs 2p between {lo} and {hi}"
        if hi < 0:
            return f"{need}: a negative padding"
        if lo > 2 * span:
            return f"{need}: more than 'full' padding allows (p ≤ d·(f − 1) = {span})"
        return f"{need}, an odd number, so p is not whole" if lo == hi else \
            f"{need}, and no even number lies there"
    if x == "stride":
        num = n + 2 * p.fixed["padding"] - span - 1
        if num < 0:
            return f"cannot hold: the kernel span {span + 1} is larger than the padded input"
        if t == 1:
            return f"needs a stride above {num}"
        if p.exact:
            return f"needs {t - 1}·s = {num}, so s = {num}/{t - 1}, which is not whole"
        return (f"needs s between ({num} + 1)/{t} and {num}/{t - 1}, and no whole number lies "
                f"there")
    return ""


def _nearest(p: Problem, axis: int, budget: int = 200_000) -> list[tuple[int, dict[str, int]]]:
    """The reachable outputs just below and just above the target (a bounded scan)."""
    t = p.target[axis]
    below: tuple[int, dict[str, int]] | None = None
    above: tuple[int, dict[str, int]] | None = None
    count = 0
    unknown = p.unknowns
    ranges = []
    for k in unknown:
        if k == "padding":
            continue
        ranges.append((k, _outer_values(p, k, {})))
    base = dict(p.fixed)

    def combos(i: int, cur: dict[str, int]) -> Iterator[dict[str, int]]:
        if i == len(ranges):
            yield cur
            return
        k, r = ranges[i]
        for val in r:
            yield from combos(i + 1, {**cur, k: val})

    for v in combos(0, base):
        pads = [v["padding"]] if "padding" in v else list(_range(0, v["dilation"] *
                                                                    (v["kernel"] - 1)))
        for pad in pads:
            vals = {**v, "padding": pad}
            a_list = [vals.get("output_padding", 0)] if not p.transpose or \
                "output_padding" in p.fixed else \
                list(range(0, max(vals["stride"], vals["dilation"])))
            for a in a_list:
                count += 1
                if count > budget:
                    break
                f, s, d = vals["kernel"], vals["stride"], vals["dilation"]
                n = p.n[axis]
                if p.transpose:
                    out = shapes.transposed_output(n, f, s, pad, pad, a, d)
                    shown = {**vals, "output_padding": a}
                else:
                    if n + 2 * pad < shapes.effective_kernel(f, d):
                        continue
                    out = shapes.window_output(n, f, s, pad, pad, d)
                    shown = vals
                if out < t and (below is None or out > below[0]):
                    below = (out, shown)
                if out > t and (above is None or out < above[0]):
                    above = (out, shown)
    return [x for x in (below, above) if x is not None]
