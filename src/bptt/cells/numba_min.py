r"""minGRU and minLSTM, the compiled path: the whole recurrence one elementwise pass forward and
one back, with no matrix product inside the loop.

Computes the same functions as the reference steps in ``mingru.py`` and ``minlstm.py``
(equations there and in docs/math.md section 9), tested against them. ``U x_t`` of every real
step is one BLAS product before the loop (``numba_path``), and dU, dx one product each after it;
in between, per step, row r and unit j (b = b_ih)::

    minGRU    z = sigma(a_z + b_z);  h~ = a_h + b_h;  h_t = (1 - z) h_{t-1} + z h~
              back: dh += dL_t/dh_t;  da_z = dh (h~ - h_{t-1}) z (1 - z);  da_h = dh z;
                    dh_{t-1} = dh (1 - z)
    minLSTM   f = sigma(a_f + b_f);  i = sigma(a_i + b_i);  h~ = a_h + b_h;  s = f + i
              h_t = (f / s) h_{t-1} + (i / s) h~
              back: dh += dL_t/dh_t;  k = dh (h_{t-1} - h~) f' i';  da_f = k (1 - f);
                    da_i = -k (1 - i);  da_h = dh i';  dh_{t-1} = dh f'

Buffers in the packed layout of ``numba_path`` (step t's rows at off[t] in the per-step buffers,
its states at hoff[t+1] in hs, h_0 in the first B rows).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from . import mingru, minlstm
from .numba_common import one, sigmoid
from .numba_path import CompiledKernels


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def forward(a, b, hs, batch_sizes, off, hoff, lstm):
    """In place. a (N, G*H): U x_t on entry, the gates on return, [z, h~] (minGRU, G = 2) or
    [f, i, h~] (``lstm``: minLSTM, G = 3); b (G*H,) = b_ih; hs (B+N, H) with h_0 in the first
    B rows, filled with h_t."""
    H = hs.shape[1]
    u = one(a)
    for t in range(batch_sizes.shape[0]):
        n, p, h0, h1 = batch_sizes[t], off[t], hoff[t], hoff[t + 1]
        for r in range(n):
            row, h_prev, h = a[p + r], hs[h0 + r], hs[h1 + r]
            if lstm:
                for j in range(H):
                    f = sigmoid(row[j] + b[j])
                    i = sigmoid(row[H + j] + b[H + j])
                    h_tilde = row[2 * H + j] + b[2 * H + j]
                    row[j], row[H + j], row[2 * H + j] = f, i, h_tilde
                    s = f + i
                    h[j] = (f / s) * h_prev[j] + (i / s) * h_tilde
            else:
                for j in range(H):
                    z = sigmoid(row[j] + b[j])
                    h_tilde = row[H + j] + b[H + j]
                    row[j], row[H + j] = z, h_tilde
                    h[j] = (u - z) * h_prev[j] + z * h_tilde


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def backward(gates, hs, d_hs, dh, batch_sizes, off, hoff, da, lstm):
    """gates (N, G*H), hs from ``forward``; d_hs (N, H) dL/dh_t from above; dh (B, H) dL/d final
    state on entry, dL/dh_0 on return (in place); da (N, G*H) filled with the gradient of
    U x_t + b_ih."""
    H = hs.shape[1]
    u = one(hs)
    for t in range(batch_sizes.shape[0] - 1, -1, -1):
        n, p, h0 = batch_sizes[t], off[t], hoff[t]
        for r in range(n):
            g, h_prev, d_out, d, d_h = gates[p + r], hs[h0 + r], d_hs[p + r], da[p + r], dh[r]
            if lstm:
                for j in range(H):
                    f, i, h_tilde = g[j], g[H + j], g[2 * H + j]
                    s = f + i
                    f_n, i_n = f / s, i / s
                    dh_j = d_h[j] + d_out[j]                # total dL/dh_t
                    k = dh_j * (h_prev[j] - h_tilde) * f_n * i_n
                    d[j] = k * (u - f)
                    d[H + j] = -k * (u - i)
                    d[2 * H + j] = dh_j * i_n
                    d_h[j] = dh_j * f_n                     # dh_{t-1}
            else:
                for j in range(H):
                    z, h_tilde = g[j], g[H + j]
                    dh_j = d_h[j] + d_out[j]                # total dL/dh_t
                    d[j] = dh_j * (h_tilde - h_prev[j]) * z * (u - z)
                    d[H + j] = dh_j * z
                    d_h[j] = dh_j * (u - z)                 # dh_{t-1}


# ---- the glue: what numba_path calls (CompiledKernels) ----------------------------------------

def _glue(lstm: bool, step_cache) -> CompiledKernels:
    def run_forward(cell, a, hs, params, state0, lay):
        forward(a, params.b_ih, hs, lay.batch_sizes, lay.off, lay.hoff, lstm)
        return (hs,), (a,)

    def run_backward(cell, inner, hs, params, d_hs, d_final, lay):
        (gates,) = inner
        dh = np.array(d_final[0], dtype=hs.dtype)       # running dL/dh_t, in place
        da = np.empty_like(gates)
        backward(gates, hs, d_hs, dh, lay.batch_sizes, lay.off, lay.hoff, da, lstm)
        return da, da, (dh,), None

    return CompiledKernels(run_forward, run_backward, step_cache)


def _mingru_step(cell, inner, x, hs, params, p, h0, h1) -> mingru.StepCache:
    g = inner[0][p]
    H = hs.shape[1]
    return mingru.StepCache(x, hs[h0], g[:, :H], g[:, H:], params)


def _minlstm_step(cell, inner, x, hs, params, p, h0, h1) -> minlstm.StepCache:
    g = inner[0][p]
    H = hs.shape[1]
    f, i = g[:, :H], g[:, H:2 * H]
    return minlstm.StepCache(x, hs[h0], f, i, f / (f + i), i / (f + i), g[:, 2 * H:], params)


def mingru_kernels(cell) -> CompiledKernels:
    return _glue(False, _mingru_step)


def minlstm_kernels(cell) -> CompiledKernels:
    return _glue(True, _minlstm_step)
