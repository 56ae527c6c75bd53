r"""minGRU and minLSTM, the fast NumPy path: every product outside the time loop, the recurrence
one elementwise pass forward and one back.

Computes the same functions as the reference steps in ``mingru.py`` and ``minlstm.py``
(equations there and in docs/math.md section 9), tested against them. With no W, both cells are
the linear recurrence

    h_t = A_t * h_{t-1} + B_t        minGRU:  A = 1 - z,  B = z h~;   minLSTM:  A = f',  B = i' h~

whose A_t and B_t come from x_t alone. So: the input side of every step in one product before
the loop (``numpy_path.input_projection``), the gates of all steps in a few whole-block ufuncs,
then per step two in-place ufuncs on the running rows (h = A h_{t-1}; h += B), no matrix product.
Backward, per step: dh += dL_t/dh_t, keep it, dh *= A_t (dh_{t-1} = A_t dh_t); then the
gradient of the pre-activations of every step in whole-block ufuncs after the loop, and
dU, dx in one product each (``numpy_path``).
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import numpy as np

from . import mingru, minlstm
from ._params import Params, sigmoid
from .numpy_path import FastNumpy


class Cache(NamedTuple):
    gates: np.ndarray        # (T, B, G*H) [z, h~] (minGRU) or [f, i, h~] (minLSTM) of every step
    hs: np.ndarray           # (T+1, B, H) hs[0] = h_0, hs[t+1] = h_t
    batch_sizes: np.ndarray  # (T,)


def loop_form(b_hh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nothing folded into the input product: scale 1, nothing ahead (there is no bias_hh)."""
    return np.ones_like(b_hh), np.zeros_like(b_hh)


def _coefficients(mode: str, gates: np.ndarray) -> tuple[np.ndarray, ...]:
    """(A, B, and the cell's normalised gates) of h_t = A_t h_{t-1} + B_t, every step at once;
    ``gates`` (T, B, G*H) holds the pre-activations U x_t + b_ih on entry, the gates on return."""
    H = gates.shape[-1] // (2 if mode == "mingru" else 3)
    if mode == "mingru":
        z, h_tilde = gates[..., :H], gates[..., H:]
        z[...] = sigmoid(z)
        return 1 - z, z * h_tilde
    f, i, h_tilde = gates[..., :H], gates[..., H:2 * H], gates[..., 2 * H:]
    f[...], i[...] = sigmoid(f), sigmoid(i)
    s = f + i
    f_n, i_n = f / s, i / s                             # f', i'
    return f_n, i_n * h_tilde, i_n


def run(xs: np.ndarray, state0: tuple[np.ndarray], W, b_hh, batch_sizes: np.ndarray, mode: str = "mingru"
        ) -> tuple[tuple[np.ndarray], Cache]:
    """xs (T, B, G*H) = U x_t + b_ih (taken over: it becomes the gates); state0 (h_0,) (B, H);
    W, b_hh unused (None / zeros). Returns ((hs,), cache), hs (T+1, B, H), zero where padded."""
    T, B, _ = xs.shape
    A, Bt = _coefficients(mode, xs)[:2]                 # (T, B, H) each
    alloc = np.zeros if (T and batch_sizes[-1] < B) else np.empty
    hs = alloc((T + 1, B, A.shape[2]), dtype=xs.dtype)
    hs[0] = state0[0]
    for t in range(T):
        n = batch_sizes[t]
        h = hs[t + 1, :n]
        np.multiply(A[t, :n], hs[t, :n], out=h)         # A_t h_{t-1}
        h += Bt[t, :n]                                  # h_t = A_t h_{t-1} + B_t
    return (hs,), Cache(xs, hs, batch_sizes)


def backward(d_hs: np.ndarray, d_final: tuple[np.ndarray], cache: Cache, W, mode: str = "mingru"
             ) -> tuple[np.ndarray, tuple[np.ndarray], None, None, None]:
    """d_hs (T, B, H) dL/dh_t from above; d_final (dL/dh_n,). Returns (da (T, B, G*H) the gradient
    of U x_t + b_ih, (dh_0,), None, None, None): no W, no bias_hh, no projection."""
    gates, hs, batch_sizes = cache
    T, B, H = d_hs.shape
    h_prev = hs[:-1]                                    # (T, B, H) h_{t-1}
    if mode == "mingru":
        z, h_tilde = gates[..., :H], gates[..., H:]
        A = 1 - z
    else:
        f, i, h_tilde = gates[..., :H], gates[..., H:2 * H], gates[..., 2 * H:]
        s = f + i
        A, i_n = f / s, i / s
    alloc = np.zeros if (T and batch_sizes[-1] < B) else np.empty
    dh_all = alloc((T, B, H), dtype=hs.dtype)           # total dL/dh_t, zero where padded
    dh = np.array(d_final[0], dtype=hs.dtype)           # (B, H) running dL/dh_t
    for t in reversed(range(T)):
        n = batch_sizes[t]
        d = dh[:n]
        d += d_hs[t, :n]
        dh_all[t, :n] = d
        d *= A[t, :n]                                   # dh_{t-1} = A_t dh_t
    if mode == "mingru":
        da = np.concatenate([dh_all * (h_tilde - h_prev) * z * (1 - z), dh_all * z], axis=2)
    else:
        k = dh_all * (h_prev - h_tilde) * A * i_n       # dh (h_{t-1} - h~) f' i'
        da = np.concatenate([k * (1 - f), -k * (1 - i), dh_all * i_n], axis=2)
    return da, (dh,), None, None, None


def step_cache(cache: Cache, x: np.ndarray, params: Params, t: int, rows, mode: str = "mingru"):
    """Step t as the reference's StepCache (``mingru`` or ``minlstm``) for the given rows."""
    gates, hs, _ = cache
    g, h_prev = gates[t, rows], hs[t, rows]
    H = hs.shape[2]
    if mode == "mingru":
        return mingru.StepCache(x[t, rows], h_prev, g[:, :H], g[:, H:], params)
    f, i = g[:, :H], g[:, H:2 * H]
    return minlstm.StepCache(x[t, rows], h_prev, f, i, f / (f + i), i / (f + i), g[:, 2 * H:], params)


def _kernels(mode: str) -> FastNumpy:
    run_ = partial(run, mode=mode)
    return FastNumpy(run_, partial(backward, mode=mode), loop_form, run_, partial(step_cache, mode=mode))


def mingru_kernels(cell) -> FastNumpy:
    return _kernels("mingru")


def minlstm_kernels(cell) -> FastNumpy:
    return _kernels("minlstm")
