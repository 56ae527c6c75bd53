r"""The compiled path for one direction of one layer (optional: ``pip install 'bptt[fast]'``).

The same function as ``reference.py``, tested against it. The work splits as on the fast NumPy
path (``numpy_path.py``), minus every pass it can fuse:

- input side: ``U x_t`` for all steps, one BLAS product (T*B, In) x (In, G*H) before the loop
  (the biases are added inside the loop, where they cost nothing);
- the time loop: one compiled call per direction and pass (``numba_rnn.py``, ``numba_lstm.py``,
  ``numba_gru.py``), the recurrent product of each step through the same BLAS, the gate math of
  a step in one fused loop; so a step costs no Python and no NumPy call, which is what dominates
  at B = 1;
- after the backward loop, dW, dU and dx are one BLAS product each (``numpy_path``).

The caches are the fast NumPy path's, so ``numpy_<cell>.step_cache`` reads them for the
diagnostics. First use compiles the kernels (seconds, once: ``cache=True`` keeps the machine code
on disk, under ``__pycache__`` or numba's user cache).
"""
from __future__ import annotations

import numpy as np

from . import numba_gru, numba_lstm, numba_rnn, numpy_gru, numpy_lstm, numpy_rnn
from ._params import Params
from .numba_common import SMALL, gemm_abi, wide
from .numpy_path import FastCache, input_side_backward

_NONE = np.zeros((0, 0))        # stands for an unused array argument of a kernel (no projection)


def _input_side(x: np.ndarray, U: np.ndarray) -> np.ndarray:
    """(T, B, G*H) U x_t for every step, one product."""
    T, B, In = x.shape
    return (x.reshape(T * B, In) @ U.T).reshape(T, B, -1)


def forward(cell, x: np.ndarray, params: Params, state0: tuple[np.ndarray, ...], batch_sizes
            ) -> tuple[tuple[np.ndarray, ...], FastCache]:
    """x (T, B, In) length-sorted; returns (states, each (T+1, B, H) with the initial state at
    index 0 and zeros after each row's end, cache)."""
    U, W, b_ih, b_hh, W_hr = params
    T, B, _ = x.shape
    P = W.shape[1]                                      # size of h (H, or the LSTM's proj_size)
    a = _input_side(x, U)
    trans, big = bool(batch_sizes[0] < SMALL), wide(W)
    Wt = W if trans else np.ascontiguousarray(W.T)      # BLAS multiplies h W^T faster this way
    hs = np.empty((T + 1, B, P), dtype=x.dtype)
    hs[0] = state0[0]
    if cell.mode == "lstm":
        H = a.shape[2] // 4
        cs, tanh_cs = np.empty((T + 1, B, H), dtype=x.dtype), np.empty((T, B, H), dtype=x.dtype)
        cs[0] = state0[1]
        proj = W_hr is not None
        WhrT = np.ascontiguousarray(W_hr.T) if proj else _NONE.astype(x.dtype)
        m = np.empty((B, H), dtype=x.dtype) if proj else _NONE.astype(x.dtype)
        numba_lstm.forward(a, Wt, b_ih + b_hh, hs, cs, tanh_cs, batch_sizes, WhrT, m, proj, trans, big,
                           gemm_abi())
        return (hs, cs), FastCache(x, numpy_lstm.Cache(a, hs, cs, tanh_cs, batch_sizes))
    if cell.mode == "gru":
        q_n = np.empty((T, B, P), dtype=x.dtype)
        numba_gru.forward(a, Wt, b_ih, b_hh, hs, q_n, np.empty((B, 3 * P), dtype=x.dtype),
                          batch_sizes, trans, big, gemm_abi())
        return (hs,), FastCache(x, numpy_gru.Cache(a, q_n, hs, batch_sizes))
    numba_rnn.forward(a, Wt, b_ih + b_hh, hs, batch_sizes, numba_rnn.CODES[cell.nonlinearity], trans, big,
                      gemm_abi())
    return (hs,), FastCache(x, numpy_rnn.Cache(hs, batch_sizes, cell.nonlinearity))


def backward(cell, d_out: np.ndarray, d_final: tuple[np.ndarray, ...], cache: FastCache,
             params: Params) -> tuple[np.ndarray, tuple[np.ndarray, ...], Params]:
    """d_out (T, B, H) dL/dh_t; d_final dL/d final states, each (B, H).
    Returns (dx (T, B, In), d_state0, Params gradients)."""
    U, W, _, _, W_hr = params
    x, cc = cache
    dtype = x.dtype
    d_hs = np.ascontiguousarray(d_out, dtype=dtype)
    dh = np.array(d_final[0], dtype=dtype)              # running dL/dh_t, in place
    dW_hr = None
    if cell.mode == "lstm":
        dc = np.array(d_final[1], dtype=dtype)
        da = np.empty_like(cc.gates)
        T, B, P = d_hs.shape
        proj = W_hr is not None
        none = _NONE.astype(dtype)
        dm = np.empty_like(dc) if proj else none
        dh_all = np.zeros((T, B, P), dtype=dtype) if proj else none.reshape(0, 0, 0)
        numba_lstm.backward(cc.gates, cc.hs, cc.cs, cc.tanh_cs, W, d_hs, dh, dc, cc.batch_sizes, da,
                            W_hr if proj else none, np.empty_like(dh), dm, dh_all, proj, wide(W), gemm_abi())
        if proj:
            dW_hr = numpy_lstm.projection_grad(dh_all, cc.gates, cc.tanh_cs)
        dq, d_state0 = da, (dh, dc)
    elif cell.mode == "gru":
        da, dq = np.empty_like(cc.gates), np.empty_like(cc.gates)
        numba_gru.backward(cc.gates, cc.q_n, cc.hs, W, d_hs, dh, cc.batch_sizes, da, dq, wide(W), gemm_abi())
        d_state0 = (dh,)
    else:
        da = np.empty((d_hs.shape[0],) + dh.shape, dtype=dtype)
        numba_rnn.backward(cc.hs, W, d_hs, dh, cc.batch_sizes, numba_rnn.CODES[cell.nonlinearity], da,
                           wide(W), gemm_abi())
        dq, d_state0 = da, (dh,)
    T, B, _ = da.shape
    P = W.shape[1]
    dq2 = dq.reshape(T * B, -1)
    dW = dq2.T @ cc.hs[:-1].reshape(T * B, P)           # sum_t dq_t^T h_{t-1}
    dx, dU, db_ih = input_side_backward(da, x, U)
    db_hh = db_ih.copy() if dq is da else dq2.sum(axis=0)   # RNN, LSTM: the same sum
    return dx, d_state0, Params(dU, dW, db_ih, db_hh, dW_hr)
