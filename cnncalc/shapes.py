"""Pure integer shape arithmetic: no I/O, no third-party imports.

Every formula here is stated in its docstring and follows "A guide to convolution arithmetic for
deep learning" (Dumoulin & Visin, 2016) and PyTorch's/TensorFlow's documented rules. Sizes are
plain ints; receptive-field jumps are :class:`fractions.Fraction` because transposed convolutions
and upsampling divide them.
"""

from __future__ import annotations

from fractions import Fraction
from typing import NamedTuple


class ShapeError(ValueError):
    """A shape that cannot be computed (non-positive output, kernel larger than input, ...)."""


def effective_kernel(f: int, d: int = 1) -> int:
    """Span of a dilated kernel: ``d·(f − 1) + 1``."""
    return d * (f - 1) + 1


def window_output(n: int, f: int, s: int = 1, before: int = 0, after: int = 0, d: int = 1,
                  ceil_mode: bool = False) -> int:
    """Output length of a sliding window (convolution or pooling) along one axis.

    ``floor((n + p_before + p_after − d·(f − 1) − 1) / s) + 1``; with symmetric padding ``p`` and
    ``d = 1`` this is the textbook ``(n + 2p − f)/s + 1``.

    With ``ceil_mode`` (PyTorch pooling) the division rounds up, but the last window must start
    inside the input or the left padding: if ``(out − 1)·s ≥ n + p_before`` one window is dropped.

    Raises :class:`ShapeError` when the dilated kernel does not fit into the padded input.
    """
    span = n + before + after - effective_kernel(f, d)
    if ceil_mode:
        # PyTorch also allows a window that overhangs the padded input here, provided it
        # starts inside it (MaxPool2d(3, 2, ceil_mode=True) maps 2x2 to 1x1)
        out = -(-span // s) + 1
        if (out - 1) * s >= n + before:
            out -= 1
        if out >= 1:
            return out
    if span < 0:
        raise ShapeError(
            f"kernel {effective_kernel(f, d)} is larger than the padded input {n + before + after}")
    return span // s + 1


def unreached(n: int, f: int, s: int = 1, before: int = 0, after: int = 0, d: int = 1) -> int:
    """Rows (or columns) of the padded input that the last window never covers when the
    division in :func:`window_output` is floored: ``(n + p_b + p_a − d·(f − 1) − 1) mod s``."""
    span = n + before + after - effective_kernel(f, d)
    return span % s if span >= 0 else 0


def same_padding(n: int, f: int, s: int = 1, d: int = 1) -> tuple[int, int]:
    """TensorFlow's ``"same"`` padding along one axis, valid for any stride.

    Output ``ceil(n / s)``; total padding ``max((ceil(n/s) − 1)·s + d·(f − 1) + 1 − n, 0)``,
    split with the odd pixel at the end (bottom/right): ``(total // 2, total − total // 2)``.
    """
    out = -(-n // s)
    total = max((out - 1) * s + effective_kernel(f, d) - n, 0)
    return total // 2, total - total // 2


def full_padding(f: int, d: int = 1) -> tuple[int, int]:
    """``"full"`` padding: ``d·(f − 1)`` on both sides, so every partial overlap is an output."""
    p = effective_kernel(f, d) - 1
    return p, p


def transposed_output(n: int, f: int, s: int = 1, before: int = 0, after: int = 0,
                      output_padding: int = 0, d: int = 1) -> int:
    """Output length of a transposed convolution along one axis (PyTorch's ConvTranspose2d):

    ``(n − 1)·s − p_before − p_after + d·(f − 1) + output_padding + 1``.
    """
    return (n - 1) * s - before - after + effective_kernel(f, d) + output_padding


def transposed_same_padding(f: int, s: int = 1, d: int = 1) -> tuple[int, int]:
    """Padding that makes a transposed convolution output ``n·s`` (Keras ``padding="same"``):
    total ``d·(f − 1) + 1 − s``, the odd pixel at the end. Requires ``d·(f − 1) + 1 ≥ s``."""
    total = effective_kernel(f, d) - s
    if total < 0:
        raise ShapeError(f"padding 'same' needs a kernel span >= stride (span "
                         f"{effective_kernel(f, d)}, stride {s})")
    return total // 2, total - total // 2


def adaptive_windows(n: int, out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive pooling windows: ``[floor(i·n/out), ceil((i+1)·n/out))`` for each
    output index ``i``."""
    return [((i * n) // out, -(-((i + 1) * n) // out)) for i in range(out)]


def adaptive_kernel(n: int, out: int) -> int:
    """Largest window :func:`adaptive_windows` uses (for the receptive field)."""
    return max(e - s for s, e in adaptive_windows(n, out)) if out <= n else 1


Num = int | Fraction     # a whole size is kept as an int (fast), a fractional one as a Fraction


class Field(NamedTuple):
    """Receptive field and jump (effective stride, in input pixels) along the two spatial axes."""
    rf_h: Num
    rf_w: Num
    jump_h: Num
    jump_w: Num


IDENTITY_FIELD = Field(1, 1, 1, 1)


def exact(x: Num) -> Num:
    """A whole Fraction as an int; anything else unchanged."""
    return x.numerator if isinstance(x, Fraction) and x.denominator == 1 else x


def divide(x: Num, s: Num) -> Num:
    """``x / s`` exactly (a Fraction unless whole), never a float."""
    return exact(Fraction(x) / s)


def grow(rf: Num, jump: Num, f: int, s: Num = 1, d: int = 1) -> tuple[Num, Num]:
    """One window layer along one axis: ``rf_out = rf_in + (d·(f − 1))·jump_in`` and
    ``jump_out = jump_in · s`` (Araujo et al., "Computing receptive fields of CNNs", 2019)."""
    return rf + (effective_kernel(f, d) - 1) * jump, exact(jump * s)


def grow_transposed(rf: Num, jump: Num, f: int, s: int = 1, d: int = 1) -> tuple[Num, Num]:
    """A transposed convolution along one axis: an output pixel sees at most
    ``ceil((d·(f − 1) + 1)/s)`` input pixels, so ``rf_out = rf_in + (that − 1)·jump_in`` and
    ``jump_out = jump_in / s``."""
    seen = -(-effective_kernel(f, d) // s)
    return rf + (seen - 1) * jump, divide(jump, s)


def merge_fields(fields: list[Field]) -> Field:
    """Receptive field after a merge (add / concat / multiply): the largest over the paths."""
    return Field(*(max(f[i] for f in fields) for i in range(4)))
