"""Finite-difference gradient checks.

For a scalar function ``f`` of an array ``x``, the centred difference

    df/dx_i  ~=  (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)

has error O(eps^2) from the Taylor series plus O(u / eps) from rounding (u = 1.1e-16 in
float64), so with eps = 1e-6 it agrees with an exact gradient to about 1e-9 relative. Checks are
meaningful only in float64.

The error reported for a whole tensor is

    rel_error(a, n) = max_i |a_i - n_i| / max(max_i |a_i|, max_i |n_i|)

which, unlike an element-wise ratio, does not blow up where a gradient is legitimately ~0.
"""
from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

from .sparse import SparseRows, as_dense


def numerical_grad(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6,
                   indices: np.ndarray | None = None) -> np.ndarray:
    """Centred-difference gradient of ``f()`` with respect to the array ``x``.

    ``x`` is perturbed in place, one element at a time, and restored. ``indices`` (flat positions)
    limits the check to some elements; the others are returned as NaN.
    """
    if x.dtype != np.float64:
        raise TypeError(f"finite differences need float64, got {x.dtype}")
    flat = x.reshape(-1)  # a view: x must be contiguous
    if not np.shares_memory(flat, x):
        raise ValueError("numerical_grad needs a contiguous array")
    grad = np.full(x.size, np.nan)
    for i in (range(x.size) if indices is None else indices):
        old = flat[i]
        flat[i] = old + eps
        f_plus = f()
        flat[i] = old - eps
        f_minus = f()
        flat[i] = old
        grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad.reshape(x.shape)


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max(max |a|, max |b|); 0.0 when both are exactly zero."""
    scale = max(np.max(np.abs(a)), np.max(np.abs(b)))
    return 0.0 if scale == 0 else float(np.max(np.abs(a - b)) / scale)


def check_grads(f: Callable[[], float], arrays: Mapping[str, np.ndarray],
                grads: Mapping[str, np.ndarray | SparseRows], eps: float = 1e-6,
                max_elements: int | None = None, seed: int = 0) -> dict[str, float]:
    """Relative error between ``grads`` and finite differences of ``f`` for every array.

    ``arrays`` are the inputs of ``f`` that are perturbed (parameters, inputs, initial states);
    ``grads`` their analytic gradients under the same names. With ``max_elements``, a random
    subset of that many elements per array is checked (seeded). Returns ``{name: rel_error}``.
    """
    rng = np.random.default_rng(seed)
    errors = {}
    for name, x in arrays.items():
        if name not in grads:
            raise KeyError(f"no analytic gradient for {name!r}")
        analytic = as_dense(grads[name])
        if analytic.shape != x.shape:
            raise ValueError(f"gradient of {name!r} has shape {analytic.shape}, expected {x.shape}")
        idx = None
        if max_elements is not None and x.size > max_elements:
            idx = np.sort(rng.choice(x.size, size=max_elements, replace=False))
        numeric = numerical_grad(f, x, eps, idx)
        chosen = slice(None) if idx is None else idx
        errors[name] = rel_error(analytic.reshape(-1)[chosen], numeric.reshape(-1)[chosen])
    return errors
