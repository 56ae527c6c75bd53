r"""The vanilla RNN, the compiled path: ``rnn.py``'s equations over the whole time loop.

Computes the same function as the reference steps in ``rnn.py`` (equations and derivation there
and in docs/math.md section 3), tested against them: per step the recurrent product through BLAS
into the pre-activation buffer, then one fused loop applying f; going back, one loop for
da = dh f'(a) and one product for dh_{t-1} = da W. Buffers in the packed layout of
``numba_path`` (step t's rows at off[t] in the per-step buffers, its states at hoff[t+1] in hs,
h_0 in the first B rows).

``f`` is a code: 0 tanh, 1 relu, 2 sigmoid (``CODES``).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from . import rnn
from . import numba_common
from .numba_common import gemm, one, sigmoid, step_abi, tanh, wide
from .numba_path import CompiledKernels, recurrent_weight

CODES = {"tanh": 0, "relu": 1, "sigmoid": 2}


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def forward(a, Wt, b, hs, batch_sizes, off, hoff, f, trans, big, abi):
    """In place. a (N, H): U x_t on entry, the pre-activations W h_{t-1} + U x_t on return
    (no bias); Wt (H, H) = W^T, contiguous, or W itself with ``trans`` (see
    ``numba_lstm.forward``); b (H,) = b_ih + b_hh; hs (B+N, H) with h_0 in the first B rows,
    filled with h_t = f(a_t + b)."""
    H = a.shape[1]
    zero = one(a) - one(a)
    for t in range(batch_sizes.shape[0]):
        n, p, h0, h1 = batch_sizes[t], off[t], hoff[t], hoff[t + 1]
        gemm(hs[h0:], Wt, a[p:], n, trans, 1.0, step_abi(n, big, trans, abi))   # U x_t + W h_{t-1}
        for r in range(n):
            pre, h = a[p + r], hs[h1 + r]
            if f == 0:
                for j in range(H):
                    h[j] = tanh(pre[j] + b[j])
            elif f == 1:
                for j in range(H):
                    v = pre[j] + b[j]
                    h[j] = v if v > zero else zero
            else:
                for j in range(H):
                    h[j] = sigmoid(pre[j] + b[j])


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def backward(hs, W, d_hs, dh, batch_sizes, off, hoff, f, da_all, big, abi):
    """hs (B+N, H) from ``forward``; W (H, H); d_hs (N, H); dh (B, H) dL/d final state on entry,
    dL/dh_0 on return (in place); da_all (N, H) filled with da_t = dh_t f'(a_t)."""
    H = hs.shape[1]
    u = one(hs)
    zero = u - u
    for t in range(batch_sizes.shape[0] - 1, -1, -1):
        n, p, h1 = batch_sizes[t], off[t], hoff[t + 1]
        for r in range(n):
            h, da, dh_r, dout = hs[h1 + r], da_all[p + r], dh[r], d_hs[p + r]
            if f == 0:
                for j in range(H):
                    da[j] = (dh_r[j] + dout[j]) * (u - h[j] * h[j])
            elif f == 1:
                for j in range(H):
                    da[j] = (dh_r[j] + dout[j]) if h[j] > zero else zero
            else:
                for j in range(H):
                    da[j] = (dh_r[j] + dout[j]) * (h[j] * (u - h[j]))
        gemm(da_all[p:], W, dh, n, False, 0.0, step_abi(n, big, False, abi))   # dh_{t-1} = da_t W


# ---- the glue: what numba_path calls (CompiledKernels) ----------------------------------------

def run_forward(cell, a, hs, params, state0, lay):
    """The forward kernel on numba_path's buffers; returns ((hs,), ()): backward reads f'(a_t)
    from h_t alone, so nothing else is kept."""
    _, W, b_ih, b_hh, *_ = params
    Wt, trans, big = recurrent_weight(W, lay.batch_sizes)
    forward(a, Wt, b_ih + b_hh, hs, lay.batch_sizes, lay.off, lay.hoff, CODES[cell.nonlinearity], trans,
            big, numba_common.gemm_abi())
    return (hs,), ()


def run_backward(cell, inner, hs, params, d_hs, d_final, lay):
    """The backward kernel; returns (da, da, (dh_0,), None): both biases get da."""
    W = params.W
    dh = np.array(d_final[0], dtype=hs.dtype)           # running dL/dh_t, in place
    da = np.empty((d_hs.shape[0], W.shape[0]), dtype=hs.dtype)      # (N, H)
    backward(hs, W, d_hs, dh, lay.batch_sizes, lay.off, lay.hoff, CODES[cell.nonlinearity], da, wide(W),
             numba_common.gemm_abi())
    return da, da, (dh,), None


def step_cache(cell, inner, x, hs, params, p, h0, h1) -> rnn.StepCache:
    return rnn.StepCache(x, hs[h0], hs[h1], params, cell.nonlinearity)


def kernels(cell) -> CompiledKernels:
    return CompiledKernels(run_forward, run_backward, step_cache)
