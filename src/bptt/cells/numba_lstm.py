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

from numba import njit

from .numba_common import gemm, one, sigmoid, step_abi, tanh


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
