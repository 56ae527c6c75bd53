r"""LSTM, the compiled path: ``lstm.py``'s equations over the whole time loop in one call.

Computes the same function as the reference steps in ``lstm.py`` (equations and derivation there
and in docs/math.md section 5), tested against them. ``forward`` and ``backward`` each run all
T steps inside one compiled function: per step, the recurrent product through BLAS
(``numba_common.gemm``) and then one fused loop over the gates of every running row, with no
Python, no temporary arrays and one pass over memory. The buffers and the cache are those of the
fast NumPy path (``numpy_lstm.Cache``), so its ``step_cache`` serves both.

The loops read, per row r and unit j (i, f, g, o the gate blocks of ``a``, ``b = b_ih + b_hh``)::

    forward   a_t += h_{t-1} W^T                        (gemm, rows [:n])
              i, f, g, o = sigma(a_i + b_i), sigma(a_f + b_f), tanh(a_g + b_g), sigma(a_o + b_o)
              c_t = f c_{t-1} + i g;  h_t = o tanh(c_t)  (projected: h_t = W_hr (o tanh(c_t)), gemm)
    backward  dh = dh + dL_t/dh_t;  dm = dh (projected: W_hr^T dh, gemm)
              do = dm tanh(c_t);  dc = dc + dm o (1 - tanh(c_t)^2)
              da = [dc g i (1 - i), dc c_{t-1} f (1 - f), dc i (1 - g^2), do o (1 - o)]
              dc_{t-1} = dc f;  dh_{t-1} = da W         (gemm, rows [:n])
"""
from __future__ import annotations

from numba import njit

from .numba_common import gemm, one, sigmoid, step_abi, tanh


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def forward(a, Wt, b, hs, cs, tanh_cs, batch_sizes, WhrT, m, proj, trans, big, abi):
    """In place. a (T, B, 4H): U x_t on entry, the gate activations [i, f, g, o] on return;
    Wt (P, 4H) = W^T, contiguous (BLAS is faster on it than on a transposed view), or with
    ``trans`` W (4H, P) itself (for a few rows the copy costs more than it saves); ``big``: W is
    too large for BLAS to pack on every step (``numba_common.step_abi``);
    b (4H,) = b_ih + b_hh; hs (T+1, B, P), cs (T+1, B, H) with h_0, c_0 at index 0, filled;
    tanh_cs (T, B, H) filled; rows after each row's end are set to 0. With ``proj``,
    h_t = (o * tanh(c_t)) W_hr^T with WhrT (H, P) = W_hr^T and m (B, H) scratch (otherwise both
    are unused and P = H)."""
    T, B, G = a.shape
    H = G // 4
    b_i, b_f, b_g, b_o = b[:H], b[H:2 * H], b[2 * H:3 * H], b[3 * H:]
    for t in range(T):
        n = batch_sizes[t]
        gemm(hs[t], Wt, a[t], n, trans, 1.0, step_abi(n, big, trans, abi))   # a_t = U x_t + W h_{t-1}
        for r in range(n):
            row = a[t, r]
            a_i, a_f, a_g, a_o = row[:H], row[H:2 * H], row[2 * H:3 * H], row[3 * H:]
            c_prev, c, tc = cs[t, r], cs[t + 1, r], tanh_cs[t, r]
            h = m[r] if proj else hs[t + 1, r]              # o tanh(c_t), projected below
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
            gemm(m, WhrT, hs[t + 1], n, False, 0.0, abi)    # h_t = W_hr (o tanh(c_t))
        for r in range(n, B):                               # finished rows: zero after the end
            hs[t + 1, r, :] = 0
            cs[t + 1, r, :] = 0
            tanh_cs[t, r, :] = 0


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def backward(gates, hs, cs, tanh_cs, W, d_hs, dh, dc, batch_sizes, da_all, W_hr, dtot, dm, dh_all,
             proj, big, abi):
    """gates (T, B, 4H), hs, cs, tanh_cs: ``forward``'s buffers; W (4H, P); d_hs (T, B, P)
    dL/dh_t from above; dh (B, P), dc (B, H): dL/d final states on entry, dL/dh_0, dL/dc_0 on
    return (in place); da_all (T, B, 4H) filled with the gradient of the pre-activations (0
    where padded); dtot (B, P) scratch. With ``proj``: W_hr (P, H), dm (B, H) scratch, and
    dh_all (T, B, P) filled with every total dL/dh_t (for dW_hr); otherwise unused."""
    T, B, G = gates.shape
    H = G // 4
    P = dh.shape[1]
    u = one(gates)
    for t in range(T - 1, -1, -1):
        n = batch_sizes[t]
        for r in range(n):
            d, dr, dout = dtot[r], dh[r], d_hs[t, r]
            for j in range(P):
                d[j] = dr[j] + dout[j]                      # total dL/dh_t
        if proj:
            dh_all[t, :n] = dtot[:n]
            gemm(dtot, W_hr, dm, n, False, 0.0, abi)        # dm = W_hr^T dh   (P1)
        dmo = dm if proj else dtot                          # dL/d(o tanh(c_t))
        for r in range(n):
            y, da = gates[t, r], da_all[t, r]
            i_, f_, g_, o_ = y[:H], y[H:2 * H], y[2 * H:3 * H], y[3 * H:]
            d_i, d_f, d_g, d_o = da[:H], da[H:2 * H], da[2 * H:3 * H], da[3 * H:]
            c_prev, tc, dc_r, dm_r = cs[t, r], tanh_cs[t, r], dc[r], dmo[r]
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
        for r in range(n, B):
            da_all[t, r, :] = 0
        gemm(da_all[t], W, dh, n, False, 0.0, step_abi(n, big, False, abi))   # dh_{t-1} = da W (L6)
