r"""GRU, the fast NumPy path: the whole time loop of ``gru.py``'s equations over a batch.

Computes the same function as the reference steps in ``gru.py`` (the equations and their
derivation are there and in docs/math.md section 6), tested against them. Fast for the same
reasons as ``numpy_lstm.py``: the input side of every step from one product before the loop
(``numpy_path.input_projection``, with r's and z's part of bias_hh and the sigmoid halving folded
in), one tanh over the r and z gates (``numpy_gates.py``), preallocated buffers, prefixes of
running rows, and the parameter gradients as one product each after the loop::

    dW = sum_t dq_t^T h_{t-1}   db_hh = sum_t dq_t   dU = sum_t da_t^T x_t   db_ih = sum_t da_t

with da = [da_r, da_z, da_n] the input side's gradient and dq = [da_r, da_z, dq_n] the recurrent
side's. b_hn sits inside the reset product, so it is added in the loop.
"""
from __future__ import annotations

import sys
from typing import NamedTuple

import numpy as np

from . import gru
from .gru import GATES
from ._params import Params
from .numpy_path import FastNumpy, fast_numpy
from .numpy_gates import activate_, activation_grad_, gate_constants, prescale

SIGMOID_BLOCKS = (True, True, False)   # r, z; n is activated on its own (after the reset product)


class Cache(NamedTuple):
    gates: np.ndarray        # (T, B, 3H) activations [r, z, n] of every step
    q_n: np.ndarray          # (T, B, H) W_n h_{t-1} + b_hn, the product the reset gate scales
    hs: np.ndarray           # (T+1, B, H) hs[0] = h_0, hs[t+1] = h_t
    batch_sizes: np.ndarray  # (T,) rows still running at each step, non-increasing


def loop_form(b_hh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What the loop reads from the input side: xs_t = scale * (U x_t + b_ih + ahead).

    Returns (scale, ahead), each (3H,): r and z rows halved (see ``numpy_gates.py``) and their
    bias_hh added ahead of the loop; n's b_hn stays in the loop (inside the reset product), so
    ``ahead`` is 0 and ``scale`` 1 on the n block.
    """
    H = b_hh.shape[0] // GATES
    ahead = b_hh.copy()
    ahead[2 * H:] = 0
    return gate_constants(SIGMOID_BLOCKS, H, 1, b_hh.dtype).scale[0], ahead


def forward(xp: np.ndarray, state0: tuple[np.ndarray], W: np.ndarray, b_hh: np.ndarray,
            batch_sizes: np.ndarray) -> tuple[tuple[np.ndarray], Cache]:
    """Run the GRU over a length-sorted batch.

    xp:          (T, B, 3H) U x_t + bias_ih for every step; overwritten with the activations
    state0:      (h_0,) with h_0 (B, H)
    W:           (3H, H) weight_hh;  b_hh: (3H,) bias_hh
    batch_sizes: (T,) non-increasing number of running rows per step
    Returns ((hs,), cache) with hs (T+1, B, H); padded steps stay zero.
    """
    scale, ahead = loop_form(b_hh)
    xp += ahead                                 # r and z take both biases up front
    xp *= scale
    return run(xp, state0, W, b_hh, batch_sizes)


def run(xs: np.ndarray, state0: tuple[np.ndarray], W: np.ndarray, b_hh: np.ndarray,
        batch_sizes: np.ndarray) -> tuple[tuple[np.ndarray], Cache]:
    """``forward``'s time loop, given the input side in loop form (``loop_form``):
    xs (T, B, 3H) = scale * (U x_t + b_ih + ahead), overwritten with the activations.
    ``bptt.sequence`` computes xs in one matrix product with the scale and biases folded in.
    """
    T, B, G = xs.shape
    H = G // GATES
    alloc = np.zeros if (T and batch_sizes[-1] < B) else np.empty
    hs = alloc((T + 1, B, H), dtype=xs.dtype)
    q_n = alloc((T, B, H), dtype=xs.dtype)
    hs[0] = state0[0]
    consts = gate_constants(SIGMOID_BLOCKS[:2], H, B, xs.dtype)   # (B, 2H) for r, z
    scale = gate_constants(SIGMOID_BLOCKS, H, 1, xs.dtype).scale[0]  # (3H,) 1/2 on r, z
    Wt = prescale(W, scale)                     # (H, 3H) r, z rows halved (see numpy_gates.py)
    q = np.empty((B, G), dtype=xs.dtype)        # W h_{t-1} + b_hh

    for t in range(T):
        n = batch_sizes[t]
        h_prev = hs[t, :n]
        a = xs[t, :n]                                   # (n, 3H)
        np.matmul(h_prev, Wt, out=q[:n])
        a_rz, a_n = a[:, :2 * H], a[:, 2 * H:]
        a_rz += q[:n, :2 * H]
        activate_(a_rz, consts)                         # r, z = sigma(.)
        r, z = a_rz[:, :H], a_rz[:, H:]
        qn = q_n[t, :n]
        np.add(q[:n, 2 * H:], b_hh[2 * H:], out=qn)     # W_n h_{t-1} + b_hn
        np.multiply(r, qn, out=q[:n, 2 * H:])           # reuse q's n block for r * qn
        a_n += q[:n, 2 * H:]
        np.tanh(a_n, out=a_n)                           # n_t
        h = hs[t + 1, :n]
        np.subtract(h_prev, a_n, out=h)
        h *= z
        h += a_n                                        # h_t = n + z (h_{t-1} - n)
    return (hs,), Cache(xs, q_n, hs, batch_sizes)


def backward(d_hs: np.ndarray, d_final: tuple[np.ndarray], cache: Cache,
             W: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray], np.ndarray, np.ndarray]:
    """Backpropagate through all steps.

    d_hs:    (T, B, H) dL/dh_t from above; d_final: (dL/dh_n,) with dL/dh_n (B, H)
    Returns (da, (dh_0,), dW, db_hh, None): da (T, B, 3H) the gradient of U x_t + bias_ih,
    dW (3H, H), db_hh (3H,) (None: no projection, as in the LSTM's fast path).
    """
    gates, q_n, hs, batch_sizes = cache
    T, B, G = gates.shape
    H = G // GATES
    consts = gate_constants(SIGMOID_BLOCKS[:2], H, B, gates.dtype)
    alloc = np.zeros if (T and batch_sizes[-1] < B) else np.empty
    da_all = alloc((T, B, G), dtype=gates.dtype)       # input side [da_r, da_z, da_n]
    dq_all = alloc((T, B, G), dtype=gates.dtype)       # recurrent side [da_r, da_z, dq_n]
    dh = np.array(d_final[0], dtype=gates.dtype)       # (B, H) running dL/dh_t
    tmp = np.empty((B, H), dtype=gates.dtype)
    tmp2 = np.empty((B, 2 * H), dtype=gates.dtype)

    for t in reversed(range(T)):
        n = batch_sizes[t]
        dh_t = dh[:n]
        dh_t += d_hs[t, :n]
        a, da, dq = gates[t, :n], da_all[t, :n], dq_all[t, :n]
        r, z, g = a[:, :H], a[:, H:2 * H], a[:, 2 * H:]
        da_r, da_z, da_n = da[:, :H], da[:, H:2 * H], da[:, 2 * H:]
        h_prev = hs[t, :n]
        np.subtract(h_prev, g, out=da_z)
        da_z *= dh_t                                    # dz = dh (h_{t-1} - n)
        np.subtract(1, z, out=da_n)
        da_n *= dh_t                                    # dn = dh (1 - z)
        np.multiply(g, g, out=tmp[:n])
        np.subtract(1, tmp[:n], out=tmp[:n])
        da_n *= tmp[:n]                                 # da_n = dn (1 - n^2)
        np.multiply(da_n, q_n[t, :n], out=da_r)         # dr = da_n * (W_n h + b_hn)
        np.multiply(da_n, r, out=dq[:, 2 * H:])         # dq_n = da_n * r
        activation_grad_(da[:, :2 * H], a[:, :2 * H], consts, tmp2[:n])   # through sigma
        dq[:, :2 * H] = da[:, :2 * H]
        dh_t *= z                                       # dh_{t-1} = dh z
        np.matmul(dq, W, out=tmp[:n])
        dh_t += tmp[:n]                                 #          + dq W

    flat_dq = dq_all.reshape(T * B, G)
    dW = flat_dq.T @ hs[:-1].reshape(T * B, H)          # sum_t dq_t^T h_{t-1}
    db = flat_dq.sum(axis=0)
    return da_all, (dh,), dW, db, None


def step_cache(cache: Cache, x: np.ndarray, params: Params, t: int, rows) -> gru.StepCache:
    """Step t of this loop as the reference's ``gru.StepCache`` for the given rows (a slice or
    an index array): what ``gru.step_backward`` needs, read from the loop's buffers."""
    gates, q_n, hs, _ = cache
    H = hs.shape[2]
    a = gates[t, rows]                                  # (n, 3H) [r, z, n]
    return gru.StepCache(x[t, rows], hs[t, rows], a[:, :H], a[:, H:2 * H], a[:, 2 * H:],
                         q_n[t, rows], params)


def kernels(cell) -> FastNumpy:
    """This loop as the cell's kernels on the fast NumPy path."""
    return fast_numpy(sys.modules[__name__])
