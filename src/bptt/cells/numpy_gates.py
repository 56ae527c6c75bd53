r"""Gate non-linearities applied to a whole block of gates in a few in-place operations.

A cell's gate pre-activations sit side by side in one (n, G*H) array, some gates through the
logistic sigmoid and some through tanh. Using

    sigma(x) = (1 + tanh(x / 2)) / 2

every gate becomes ``scale * tanh(scale * x) + shift`` with (scale, shift) = (1/2, 1/2) for a
sigmoid gate and (1, 0) for a tanh gate. The inner ``scale * x`` is folded into the weights and
biases once per sequence: the rows of U, b (the cell's ``loop_form``, applied by
``bptt.sequence`` inside the input projection) and of W (``prescale``) of the sigmoid gates are
halved, so the loop computes ``scale * x`` directly. Halving is exact in binary floating point,
so this changes no rounding. The step's activation is then one tanh over all gates plus one
multiply and one add (``activate_``), with no slicing.

The derivative of either, written with the gate's value y::

    sigma'(x) = y (1 - y)  = (1 - y) (y + 0)
    tanh'(x)  = 1 - y^2    = (1 - y) (y + 1)

so ``(1 - y) * (y + low)`` with low = 0 for sigmoid gates and 1 for tanh gates. The backward
pass uses the original, unscaled weights: the prescaling only changes how the forward pass
evaluates sigma, not the function it computes.

The constant rows are full (B, G*H) arrays, not (G*H,) vectors, because NumPy's same-shape
ufunc loops are measurably faster than broadcasting ones for the small arrays of one step.
"""
from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np


class GateConstants(NamedTuple):
    scale: np.ndarray   # (B, G*H) 1/2 on sigmoid gates, 1 on tanh gates
    shift: np.ndarray   # (B, G*H) 1/2 on sigmoid gates, 0 on tanh gates
    low: np.ndarray     # (B, G*H) 0 on sigmoid gates, 1 on tanh gates


@lru_cache(maxsize=32)
def gate_constants(sigmoid_blocks: tuple[bool, ...], H: int, B: int, dtype) -> GateConstants:
    """The constants for blocks of H gates (True = sigmoid), repeated for B rows.

    Memoised (building them costs ~20 us, a step at B = 1 costs ~25 us), so read-only.
    """
    sig = np.repeat(np.array(sigmoid_blocks), H)                     # (G*H,)

    def rows(v):
        a = np.tile(np.where(sig, v[0], v[1]).astype(dtype), (B, 1))
        a.flags.writeable = False
        return a
    return GateConstants(rows((0.5, 1.0)), rows((0.5, 0.0)), rows((0.0, 1.0)))


def prescale(W: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(scale * W)^T, (H, G*H), for the loop's ``h_{t-1} (scale W)^T``.

    W (G*H, H), scale (G*H,) one row of GateConstants.scale. A transposed view of the scaled
    copy: BLAS reads it as is, and a contiguous transposed copy costs more than it saves
    (measured: 0.6 ms to make at H = 256, ~2 us saved per step at B = 1).
    """
    return (W * scale[:, None]).T


def activate_(a: np.ndarray, c: GateConstants) -> None:
    """In place: a (n, G*H) holding scale * x  <-  sigma(x) on sigmoid, tanh(x) on tanh gates."""
    n = a.shape[0]
    np.tanh(a, out=a)
    a *= c.scale[:n]
    a += c.shift[:n]


def activation_grad_(d: np.ndarray, y: np.ndarray, c: GateConstants, tmp: np.ndarray) -> None:
    """In place: d <- d * f'(x) where y = f(x) are the activated gates. d, y, tmp: (n, G*H)."""
    n = d.shape[0]
    np.subtract(1, y, out=tmp)
    d *= tmp
    np.add(y, c.low[:n], out=tmp)
    d *= tmp
