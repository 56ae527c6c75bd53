r"""Gate non-linearities applied to a whole block of gates in four in-place operations.

A cell's gate pre-activations sit side by side in one (n, G*H) array, some gates through the
logistic sigmoid and some through tanh. Using

    sigma(x) = (1 + tanh(x / 2)) / 2

every gate becomes ``scale * tanh(scale * x) + shift`` with (scale, shift) = (1/2, 1/2) for a
sigmoid gate and (1, 0) for a tanh gate, so one pass of four ufuncs activates all gates of a
step, with no slicing and no temporary arrays.

The derivative of either, written with the gate's value y::

    sigma'(x) = y (1 - y)  = (1 - y) (y + 0)
    tanh'(x)  = 1 - y^2    = (1 - y) (y + 1)

so ``(1 - y) * (y + low)`` with low = 0 for sigmoid gates and 1 for tanh gates.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=64)
def _constants(sigmoid_blocks: tuple[bool, ...], H: int, dtype_str: str):
    dtype = np.dtype(dtype_str)
    sig = np.repeat(np.array(sigmoid_blocks), H)
    scale = np.where(sig, 0.5, 1.0).astype(dtype)
    shift = np.where(sig, 0.5, 0.0).astype(dtype)
    low = np.where(sig, 0.0, 1.0).astype(dtype)
    for v in (scale, shift, low):
        v.setflags(write=False)
    return scale, shift, low


def gate_constants(sigmoid_blocks: tuple[bool, ...], H: int, dtype) -> tuple[np.ndarray, ...]:
    """(scale, shift, low), each (len(sigmoid_blocks) * H,), for blocks of H gates."""
    return _constants(tuple(sigmoid_blocks), H, np.dtype(dtype).str)


def activate_(a: np.ndarray, scale: np.ndarray, shift: np.ndarray) -> None:
    """In place: a <- sigma(a) on sigmoid blocks, tanh(a) on tanh blocks. a: (n, G*H)."""
    a *= scale
    np.tanh(a, out=a)
    a *= scale
    a += shift


def activation_grad_(d: np.ndarray, y: np.ndarray, low: np.ndarray, tmp: np.ndarray) -> None:
    """In place: d <- d * f'(x) where y = f(x) are the activated gates. d, y, tmp: (n, G*H)."""
    np.subtract(1, y, out=tmp)
    d *= tmp
    np.add(y, low, out=tmp)
    d *= tmp
