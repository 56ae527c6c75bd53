r"""LSTM, the compiled path: ``lstm.py``'s equations over the whole time loop in one call.

Computes the same function as the reference steps in ``lstm.py`` (equations and derivation there
and in docs/math.md section 5), tested against them. ``forward`` and ``backward`` each run all
T steps inside one compiled function: per step, the recurrent product through BLAS
(``numba_common.gemm``) and then one fused loop over the gates of every running row, with no
Python, no temporary arrays and one pass over memory.

Buffers are in the packed layout of ``numba_path`` (PyTorch's PackedSequence order): step t's
n = batch_sizes[t] running rows are rows off[t] .. off[t]+n of the per-step buffers (a, tanh_cs,
d_hs, da_all), and the states h_t, c_t of those rows are rows hoff[t+1] .. hoff[t+1]+n of hs, cs
(whose first B rows hold h_0, c_0). Padding takes no row anywhere.

The loops read, per row r and unit j (i, f, g, o the gate blocks of ``a``, ``b = b_ih + b_hh``)::

    forward   a_t += h_{t-1} W^T                        (gemm, n rows)
              i, f, g, o = sigma(a_i + b_i), sigma(a_f + b_f), tanh(a_g + b_g), sigma(a_o + b_o)
              c_t = f c_{t-1} + i g;  h_t = o tanh(c_t)  (projected: h_t = W_hr (o tanh(c_t)), gemm)
    backward  dh = dh + dL_t/dh_t;  dm = dh (projected: W_hr^T dh, gemm)
              do = dm tanh(c_t);  dc = dc + dm o (1 - tanh(c_t)^2)
              da = [dc g i (1 - i), dc c_{t-1} f (1 - f), dc i (1 - g^2), do o (1 - o)]
              dc_{t-1} = dc f;  dh_{t-1} = da W         (gemm, n rows)
"""
from __future__ import annotations

import numpy as np
from numba import njit

from . import lstm
from . import numba_common
from .numba_common import gemm, one, sigmoid, step_abi, tanh, wide
from .numba_path import NONE, CompiledKernels, recurrent_weight
from .numpy_lstm import projection_grad


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def forward(a, Wt, b, hs, cs, tanh_cs, batch_sizes, off, hoff, WhrT, m, proj, trans, big, abi):
    """In place. a (N, 4H): U x_t on entry, the gate activations [i, f, g, o] on return;
    Wt (P, 4H) = W^T, contiguous (BLAS is faster on it than on a transposed view), or with
    ``trans`` W (4H, P) itself (for a few rows the copy costs more than it saves); ``big``: W is
    too large for BLAS to pack on every step (``numba_common.step_abi``); b (4H,) = b_ih + b_hh;
    hs (B+N, P), cs (B+N, H) with h_0, c_0 in the first B rows, filled; tanh_cs (N, H) filled.
    With ``proj``, h_t = (o * tanh(c_t)) W_hr^T with WhrT (H, P) = W_hr^T and m (B, H) scratch
    (otherwise both are unused and P = H)."""
    G = a.shape[1]
    H = G // 4
    b_i, b_f, b_g, b_o = b[:H], b[H:2 * H], b[2 * H:3 * H], b[3 * H:]
    for t in range(batch_sizes.shape[0]):
        n, p, h0, h1 = batch_sizes[t], off[t], hoff[t], hoff[t + 1]
        gemm(hs[h0:], Wt, a[p:], n, trans, 1.0, step_abi(n, big, trans, abi))   # a_t += W h_{t-1}
        for r in range(n):
            row = a[p + r]
            a_i, a_f, a_g, a_o = row[:H], row[H:2 * H], row[2 * H:3 * H], row[3 * H:]
            c_prev, c, tc = cs[h0 + r], cs[h1 + r], tanh_cs[p + r]
            h = m[r] if proj else hs[h1 + r]                # o tanh(c_t), projected below
            for j in range(H):
                i = sigmoid(a_i[j] + b_i[j])
                f = sigmoid(a_f[j] + b_f[j])
                g = tanh(a_g[j] + b_g[j])
                o = sigmoid(a_o[j] + b_o[j])
                a_i[j], a_f[j], a_g[j], a_o[j] = i, f, g, o
                c_j = f * c_prev[j] + i * g                 # c_t
                tc_j = tanh(c_j)
                c[j], tc[j], h[j] = c_j, tc_j, o * tc_j     # h_t = o tanh(c_t)
        if proj:
            gemm(m, WhrT, hs[h1:], n, False, 0.0, abi)      # h_t = W_hr (o tanh(c_t))


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def backward(gates, hs, cs, tanh_cs, W, d_hs, dh, dc, batch_sizes, off, hoff, da_all, W_hr, dtot, dm,
             dh_all, proj, big, abi):
    """gates (N, 4H), hs, cs, tanh_cs: ``forward``'s buffers; W (4H, P); d_hs (N, P) dL/dh_t from
    above; dh (B, P), dc (B, H): dL/d final states on entry, dL/dh_0, dL/dc_0 on return (in
    place); da_all (N, 4H) filled with the gradient of the pre-activations; dtot (B, P) scratch.
    With ``proj``: W_hr (P, H), dm (B, H) scratch, and dh_all (N, P) filled with every total
    dL/dh_t (for dW_hr); otherwise unused."""
    G = gates.shape[1]
    H = G // 4
    P = dh.shape[1]
    u = one(gates)
    for t in range(batch_sizes.shape[0] - 1, -1, -1):
        n, p, h0 = batch_sizes[t], off[t], hoff[t]
        for r in range(n):
            d, dr, dout = dtot[r], dh[r], d_hs[p + r]
            for j in range(P):
                d[j] = dr[j] + dout[j]                      # total dL/dh_t
        if proj:
            dh_all[p:p + n] = dtot[:n]
            gemm(dtot, W_hr, dm, n, False, 0.0, abi)        # dm = W_hr^T dh   (P1)
        dmo = dm if proj else dtot                          # dL/d(o tanh(c_t))
        for r in range(n):
            y, da = gates[p + r], da_all[p + r]
            i_, f_, g_, o_ = y[:H], y[H:2 * H], y[2 * H:3 * H], y[3 * H:]
            d_i, d_f, d_g, d_o = da[:H], da[H:2 * H], da[2 * H:3 * H], da[3 * H:]
            c_prev, tc, dc_r, dm_r = cs[h0 + r], tanh_cs[p + r], dc[r], dmo[r]
            for j in range(H):
                i, f, g, o, tc_j = i_[j], f_[j], g_[j], o_[j], tc[j]
                dm_j = dm_r[j]
                do = dm_j * tc_j                            # (L3)
                dc_j = dc_r[j] + dm_j * o * (u - tc_j * tc_j)   # (L2)
                d_i[j] = dc_j * g * i * (u - i)             # (L4), (L5)
                d_f[j] = dc_j * c_prev[j] * f * (u - f)
                d_g[j] = dc_j * i * (u - g * g)
                d_o[j] = do * o * (u - o)
                dc_r[j] = dc_j * f                          # dc_{t-1}
        gemm(da_all[p:], W, dh, n, False, 0.0, step_abi(n, big, False, abi))   # dh_{t-1} = da W (L6)


# ---- the glue: what numba_path calls (CompiledKernels) ----------------------------------------

def run_forward(cell, a, hs, params, state0, lay):
    """The forward kernel on numba_path's buffers; returns ((hs, cs), (gates, cs, tanh_cs))."""
    _, W, b_ih, b_hh, W_hr, _ = params
    Wt, trans, big = recurrent_weight(W, lay.batch_sizes)
    B, N, dtype = state0[0].shape[0], a.shape[0], a.dtype
    H = a.shape[1] // 4
    cs, tanh_cs = np.empty((B + N, H), dtype=dtype), np.empty((N, H), dtype=dtype)
    cs[:B] = state0[1]
    proj = W_hr is not None
    WhrT = np.ascontiguousarray(W_hr.T) if proj else NONE.astype(dtype)
    m = np.empty((B, H), dtype=dtype) if proj else NONE.astype(dtype)
    forward(a, Wt, b_ih + b_hh, hs, cs, tanh_cs, lay.batch_sizes, lay.off, lay.hoff, WhrT, m, proj, trans,
            big, numba_common.gemm_abi())
    return (hs, cs), (a, cs, tanh_cs)


def run_backward(cell, inner, hs, params, d_hs, d_final, lay):
    """The backward kernel; returns (da, da, (dh_0, dc_0), dW_hr): both biases get da."""
    W, W_hr = params.W, params.W_hr
    gates, cs, tanh_cs = inner
    dtype = hs.dtype
    dh = np.array(d_final[0], dtype=dtype)              # running dL/dh_t, in place
    da = np.empty((gates.shape[0], W.shape[0]), dtype=dtype)    # (N, 4H)
    dc = np.array(d_final[1], dtype=dtype)
    proj = W_hr is not None
    none = NONE.astype(dtype)
    dm = np.empty_like(dc) if proj else none
    dh_all = np.empty_like(d_hs) if proj else none
    backward(gates, hs, cs, tanh_cs, W, d_hs, dh, dc, lay.batch_sizes, lay.off, lay.hoff, da,
             W_hr if proj else none, np.empty_like(dh), dm, dh_all, proj, wide(W), numba_common.gemm_abi())
    dW_hr = projection_grad(dh_all[None], gates[None], tanh_cs[None]) if proj else None
    return da, da, (dh, dc), dW_hr


def step_cache(cell, inner, x, hs, params, p, h0, h1) -> lstm.StepCache:
    gates, cs, tanh_cs = inner
    a = gates[p]
    H = cs.shape[1]
    return lstm.StepCache(x, hs[h0], cs[h0], a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:],
                          tanh_cs[p], params)


def kernels(cell) -> CompiledKernels:
    return CompiledKernels(run_forward, run_backward, step_cache)
