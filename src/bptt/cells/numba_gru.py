r"""GRU, the compiled path: ``gru.py``'s equations over the whole time loop in one call.

Computes the same function as the reference steps in ``gru.py`` (equations and derivation there
and in docs/math.md section 6), tested against them. As in ``numba_lstm.py``: per step the
recurrent product through BLAS, then one fused loop over the gates of the running rows, in the
packed layout of ``numba_path`` (step t's rows at off[t] in the per-step buffers, its states at
hoff[t+1] in hs, h_0 in the first B rows).

Per row and unit (r, z, n the gate blocks; q = W h_{t-1})::

    forward   r = sigma(a_r + b_ir + q_r + b_hr);  z = sigma(a_z + b_iz + q_z + b_hz)
              q_n = q_n + b_hn;  n = tanh(a_n + b_in + r q_n);  h_t = n + z (h_{t-1} - n)
    backward  dh = dh + dL_t/dh_t;  dz = dh (h_{t-1} - n);  da_n = dh (1 - z) (1 - n^2)
              da_r = da_n q_n r (1 - r);  da_z = dz z (1 - z);  dq_n = da_n r
              dh_{t-1} = dh z + [da_r, da_z, dq_n] W      (gemm, n rows)
"""
from __future__ import annotations

import numpy as np
from numba import njit

from . import gru
from . import numba_common
from .numba_common import gemm, one, sigmoid, step_abi, tanh, wide
from .numba_path import CompiledKernels, recurrent_weight


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def forward(a, Wt, b_ih, b_hh, hs, q_n, q, batch_sizes, off, hoff, trans, big, abi):
    """In place. a (N, 3H): U x_t on entry, the gates [r, z, n] on return; Wt (H, 3H) = W^T,
    contiguous, or W itself with ``trans`` (see ``numba_lstm.forward``); b_ih, b_hh (3H,);
    hs (B+N, H) with h_0 in the first B rows, filled; q_n (N, H) filled with W_n h_{t-1} + b_hn;
    q (B, 3H) scratch."""
    G = a.shape[1]
    H = G // 3
    b_ir, b_iz, b_in = b_ih[:H], b_ih[H:2 * H], b_ih[2 * H:]
    b_hr, b_hz, b_hn = b_hh[:H], b_hh[H:2 * H], b_hh[2 * H:]
    for t in range(batch_sizes.shape[0]):
        n, p, h0, h1 = batch_sizes[t], off[t], hoff[t], hoff[t + 1]
        gemm(hs[h0:], Wt, q, n, trans, 0.0, step_abi(n, big, trans, abi))   # q = W h_{t-1}
        for r in range(n):
            row, rec = a[p + r], q[r]
            a_r, a_z, a_n = row[:H], row[H:2 * H], row[2 * H:]
            q_r, q_z, q_nr = rec[:H], rec[H:2 * H], rec[2 * H:]
            h_prev, h, qn = hs[h0 + r], hs[h1 + r], q_n[p + r]
            for j in range(H):
                rr = sigmoid((a_r[j] + b_ir[j]) + (q_r[j] + b_hr[j]))
                z = sigmoid((a_z[j] + b_iz[j]) + (q_z[j] + b_hz[j]))
                qn_j = q_nr[j] + b_hn[j]                    # W_n h_{t-1} + b_hn
                nn = tanh((a_n[j] + b_in[j]) + rr * qn_j)
                a_r[j], a_z[j], a_n[j], qn[j] = rr, z, nn, qn_j
                h[j] = nn + z * (h_prev[j] - nn)            # h_t


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def backward(gates, q_n, hs, W, d_hs, dh, batch_sizes, off, hoff, da_all, dq_all, big, abi):
    """gates (N, 3H), q_n, hs: ``forward``'s buffers; W (3H, H); d_hs (N, H); dh (B, H) dL/d
    final state on entry, dL/dh_0 on return (in place). Fills da_all (N, 3H), the input side's
    gradient [da_r, da_z, da_n], and dq_all (N, 3H), the recurrent side's [da_r, da_z, dq_n]."""
    G = gates.shape[1]
    H = G // 3
    u = one(gates)
    for t in range(batch_sizes.shape[0] - 1, -1, -1):
        n, p, h0 = batch_sizes[t], off[t], hoff[t]
        for r in range(n):
            y, da, dq = gates[p + r], da_all[p + r], dq_all[p + r]
            r_, z_, n_ = y[:H], y[H:2 * H], y[2 * H:]
            da_r, da_z, da_n = da[:H], da[H:2 * H], da[2 * H:]
            dq_r, dq_z, dq_n = dq[:H], dq[H:2 * H], dq[2 * H:]
            h_prev, qn, dh_r, dout = hs[h0 + r], q_n[p + r], dh[r], d_hs[p + r]
            for j in range(H):
                rr, z, nn = r_[j], z_[j], n_[j]
                dh_j = dh_r[j] + dout[j]                    # total dL/dh_t
                dz = dh_j * (h_prev[j] - nn)                # (G1)
                dan = dh_j * (u - z) * (u - nn * nn)        # (G2), (G3)
                dar = dan * qn[j] * rr * (u - rr)           # (G4), (G6)
                daz = dz * z * (u - z)
                da_r[j], da_z[j], da_n[j] = dar, daz, dan
                dq_r[j], dq_z[j], dq_n[j] = dar, daz, dan * rr   # (G5)
                dh_r[j] = dh_j * z                          # (G7), the direct path
        gemm(dq_all[p:], W, dh, n, False, 1.0, step_abi(n, big, False, abi))   # (G7) + dq W


# ---- the glue: what numba_path calls (CompiledKernels) ----------------------------------------

def run_forward(cell, a, hs, params, state0, lay):
    """The forward kernel on numba_path's buffers; returns ((hs,), (gates, q_n))."""
    _, W, b_ih, b_hh, *_ = params
    Wt, trans, big = recurrent_weight(W, lay.batch_sizes)
    B, N, P = state0[0].shape[0], a.shape[0], hs.shape[1]
    q_n = np.empty((N, P), dtype=a.dtype)
    forward(a, Wt, b_ih, b_hh, hs, q_n, np.empty((B, 3 * P), dtype=a.dtype), lay.batch_sizes, lay.off,
            lay.hoff, trans, big, numba_common.gemm_abi())
    return (hs,), (a, q_n)


def run_backward(cell, inner, hs, params, d_hs, d_final, lay):
    """The backward kernel; returns (da, dq, (dh_0,), None): dq differs from da in the n block."""
    W = params.W
    gates, q_n = inner
    dh = np.array(d_final[0], dtype=hs.dtype)           # running dL/dh_t, in place
    da = np.empty((gates.shape[0], W.shape[0]), dtype=hs.dtype)     # (N, 3H)
    dq = np.empty_like(gates)
    backward(gates, q_n, hs, W, d_hs, dh, lay.batch_sizes, lay.off, lay.hoff, da, dq, wide(W),
             numba_common.gemm_abi())
    return da, dq, (dh,), None


def step_cache(cell, inner, x, hs, params, p, h0, h1) -> gru.StepCache:
    gates, q_n = inner
    a = gates[p]
    H = q_n.shape[1]
    return gru.StepCache(x, hs[h0], a[:, :H], a[:, H:2 * H], a[:, 2 * H:], q_n[p], params)


def kernels(cell) -> CompiledKernels:
    return CompiledKernels(run_forward, run_backward, step_cache)
