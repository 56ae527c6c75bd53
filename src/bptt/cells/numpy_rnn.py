r"""The vanilla RNN, the fast NumPy path: the whole time loop of ``rnn.py``'s equations.

Computes the same function as the reference steps in ``rnn.py`` (equations and derivation there
and in docs/math.md section 3), tested against them: the input side of every step from one
product before the loop (``numpy_path.input_projection``, both biases folded in), in-place
ufuncs on the running rows' prefix inside it, and the parameter gradients as one product each
after it::

    dW = sum_t da_t^T h_{t-1}      dU = sum_t da_t^T x_t      db = sum_t da_t
"""
from __future__ import annotations

import sys
from typing import NamedTuple

import numpy as np

from . import rnn
from ._params import Params
from .numpy_path import FastNumpy, fast_numpy

NONLINEARITIES = rnn.NONLINEARITIES


class Cache(NamedTuple):
    hs: np.ndarray           # (T+1, B, H) hs[0] = h_0, hs[t+1] = h_t
    batch_sizes: np.ndarray  # (T,)
    nonlinearity: str


def _activate_(a: np.ndarray, nonlinearity: str) -> None:
    """In place a <- f(a)."""
    if nonlinearity == "tanh":
        np.tanh(a, out=a)
    elif nonlinearity == "relu":
        np.maximum(a, 0, out=a)
    else:                                   # sigma(x) = (1 + tanh(x/2)) / 2
        a *= 0.5
        np.tanh(a, out=a)
        a *= 0.5
        a += 0.5


def _derivative(h: np.ndarray, nonlinearity: str, out: np.ndarray) -> np.ndarray:
    """f'(a) written with h = f(a), into ``out``."""
    if nonlinearity == "tanh":
        np.multiply(h, h, out=out)
        np.subtract(1, out, out=out)        # 1 - h^2
    elif nonlinearity == "relu":
        np.sign(h, out=out)                 # h >= 0, so sign(h) = [h > 0]
    else:
        np.subtract(1, h, out=out)
        out *= h                            # h (1 - h)
    return out


def loop_form(b_hh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What the loop reads from the input side: xs_t = scale * (U x_t + b_ih + ahead).

    Returns (scale, ahead), each (H,): scale 1 and all of bias_hh ahead of the loop.
    """
    return np.ones_like(b_hh), b_hh


def forward(xp: np.ndarray, state0: tuple[np.ndarray], W: np.ndarray, b_hh: np.ndarray,
            batch_sizes: np.ndarray, nonlinearity: str = "tanh") -> tuple[tuple[np.ndarray], Cache]:
    """Run the RNN over a length-sorted batch.

    xp:          (T, B, H) U x_t + bias_ih for every step (used as scratch)
    state0:      (h_0,) with h_0 (B, H)
    W:           (H, H) weight_hh;  b_hh: (H,) bias_hh
    batch_sizes: (T,) non-increasing number of running rows per step
    Returns ((hs,), cache) with hs (T+1, B, H); padded steps stay zero.
    """
    xp += b_hh                                  # U x_t + b for all steps at once
    return run(xp, state0, W, b_hh, batch_sizes, nonlinearity)


def run(xs: np.ndarray, state0: tuple[np.ndarray], W: np.ndarray, b_hh: np.ndarray,
        batch_sizes: np.ndarray, nonlinearity: str = "tanh") -> tuple[tuple[np.ndarray], Cache]:
    """``forward``'s time loop, given xs (T, B, H) = U x_t + b_ih + b_hh (``loop_form``).
    ``bptt.sequence`` computes xs in one matrix product with the biases folded in.
    """
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")
    T, B, H = xs.shape
    alloc = np.zeros if (T and batch_sizes[-1] < B) else np.empty
    hs = alloc((T + 1, B, H), dtype=xs.dtype)
    hs[0] = state0[0]
    Wt = W.T
    for t in range(T):
        n = batch_sizes[t]
        h = hs[t + 1, :n]
        np.matmul(hs[t, :n], Wt, out=h)         # W h_{t-1}
        h += xs[t, :n]                          # a_t = U x_t + W h_{t-1} + b
        _activate_(h, nonlinearity)             # h_t = f(a_t)
    return (hs,), Cache(hs, batch_sizes, nonlinearity)


def backward(d_hs: np.ndarray, d_final: tuple[np.ndarray], cache: Cache,
             W: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray], np.ndarray, np.ndarray]:
    """Backpropagate through all steps.

    d_hs:    (T, B, H) dL/dh_t from above;  d_final: (dL/dh_n,) with dL/dh_n (B, H)
    Returns (da, (dh_0,), dW, db_hh, None) with da (T, B, H) the gradient of the
    pre-activations (None: no projection, as in the LSTM's fast path).
    """
    hs, batch_sizes, nonlinearity = cache
    T1, B, H = hs.shape
    T = T1 - 1
    alloc = np.zeros if (T and batch_sizes[-1] < B) else np.empty
    da_all = alloc((T, B, H), dtype=hs.dtype)
    dh = np.array(d_final[0], dtype=hs.dtype)           # (B, H) running dL/dh_t
    for t in reversed(range(T)):
        n = batch_sizes[t]
        dh_t = dh[:n]
        dh_t += d_hs[t, :n]
        da = da_all[t, :n]
        _derivative(hs[t + 1, :n], nonlinearity, out=da)
        da *= dh_t                                      # da_t = dh * f'(a_t)
        np.matmul(da, W, out=dh_t)                      # dh_{t-1} = da_t W
    flat_da = da_all.reshape(T * B, H)
    dW = flat_da.T @ hs[:-1].reshape(T * B, H)          # sum_t da_t^T h_{t-1}
    db = flat_da.sum(axis=0)
    return da_all, (dh,), dW, db, None


def step_cache(cache: Cache, x: np.ndarray, params: Params, t: int, rows) -> rnn.StepCache:
    """Step t of this loop as the reference's ``rnn.StepCache`` for the given rows (a slice or
    an index array): what ``rnn.step_backward`` needs, read from the loop's buffers."""
    hs, _, nonlinearity = cache
    return rnn.StepCache(x[t, rows], hs[t, rows], hs[t + 1, rows], params, nonlinearity)


def kernels(cell) -> FastNumpy:
    """This loop as the cell's kernels on the fast NumPy path, its nonlinearity bound."""
    return fast_numpy(sys.modules[__name__], nonlinearity=cell.nonlinearity)
