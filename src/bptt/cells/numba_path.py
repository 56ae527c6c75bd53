r"""The compiled path for one direction of one layer (optional: ``pip install 'bptt[fast]'``).

The same function as ``reference.py``, tested against it. The work splits as on the fast NumPy
path (``numpy_path.py``), minus every pass it can fuse:

- input side: ``U x_t`` for all steps, one BLAS product (N, In) x (In, G*H) before the loop
  (the biases are added inside the loop, where they cost nothing);
- the time loop: one compiled call per direction and pass (``numba_rnn.py``, ``numba_lstm.py``,
  ``numba_gru.py``), the recurrent product of each step through the same BLAS, the gate math of
  a step in one fused loop; so a step costs no Python and no NumPy call, which is what dominates
  at B = 1;
- after the backward loop, dW, dU and dx are one BLAS product each.

**Packed layout.** Every buffer holds only the real steps, time-major: the n_t = batch_sizes[t]
running rows of step t follow those of step t-1, as in PyTorch's ``PackedSequence``; the state
buffers hold h_0 (c_0) first::

    per-step rows   x, a, tanh_cs, q_n, da     (N, .)      N = sum_t n_t, step t at off[t]
    states          hs, cs                     (B + N, .)  h_0 at 0, h_t of step t at hoff[t+1]

so a batch of mixed lengths costs in proportion to its real tokens, also in the products over
all steps before and after the loop. With no padding this is the dense (T, B) layout itself
(reshaped views, no copies).

First use compiles the kernels (seconds, once: ``cache=True`` keeps the machine code on disk,
under ``__pycache__`` or numba's user cache).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import gru, lstm, numba_gru, numba_lstm, numba_rnn, rnn
from ._params import Params
from .numba_common import SMALL, gemm_abi, wide
from .numpy_lstm import projection_grad

_NONE = np.zeros((0, 0))        # stands for an unused array argument of a kernel (no projection)


class Layout(NamedTuple):
    batch_sizes: np.ndarray     # (T,) running rows per step, non-increasing
    off: np.ndarray             # (T,) first row of step t in the per-step buffers
    hoff: np.ndarray            # (T+1,) first row of h_{t} in the state buffers (hoff[0] = 0: h_0)
    real: np.ndarray | None     # (T, B) True at real steps; None when nothing is padded
    final: np.ndarray           # (B,) row of each sequence's final state in the state buffers
    prev: np.ndarray | None     # (N,) row of h_{t-1} for each per-step row; None: rows 0..N-1


def layout(packing) -> Layout:
    """Where every step's rows go, for a packing (``bptt.sequence.pack``)."""
    bs = packing.batch_sizes
    T, B = len(bs), len(packing.lengths)
    off = np.zeros(T, dtype=np.int64)
    np.cumsum(bs[:-1], out=off[1:])
    hoff = np.concatenate([[0], B + off]).astype(np.int64)
    final = hoff[packing.lengths] + np.arange(B)
    if packing.rev_index is None:                       # no padding: the dense layout
        return Layout(bs, off, hoff, None, final, None)
    real = np.arange(T)[:, None] < packing.lengths[None, :]
    prev = np.concatenate([hoff[t] + np.arange(n) for t, n in enumerate(bs)])
    return Layout(bs, off, hoff, real, final, prev)


class CompiledCache(NamedTuple):
    x: np.ndarray               # (N, In) the cell's input rows (packed)
    gates: np.ndarray | None    # (N, G*H) activations: [i, f, g, o] or [r, z, n]; None for the RNN
    hs: np.ndarray              # (B + N, P) h_0, then h_t of every real step
    cs: np.ndarray | None       # (B + N, H) the LSTM's c
    tanh_cs: np.ndarray | None  # (N, H) the LSTM's tanh(c_t)
    q_n: np.ndarray | None      # (N, H) the GRU's W_n h_{t-1} + b_hn
    layout: Layout
    shape: tuple                # (T, B, In) of the dense input


def _packed(a: np.ndarray, lay: Layout) -> np.ndarray:
    """(T, B, ...) -> (N, ...): the real steps, time-major."""
    return a.reshape(-1, *a.shape[2:]) if lay.real is None else a[lay.real]


def _dense(p: np.ndarray, lay: Layout, T: int, B: int) -> np.ndarray:
    """(N, ...) -> (T, B, ...), zero at padded steps."""
    if lay.real is None:
        return p.reshape(T, B, *p.shape[1:])
    out = np.zeros((T, B) + p.shape[1:], dtype=p.dtype)
    out[lay.real] = p
    return out


def forward(cell, x: np.ndarray, params: Params, state0: tuple[np.ndarray, ...], packing
            ) -> tuple[np.ndarray, tuple[np.ndarray, ...], CompiledCache]:
    """x (T, B, In) length-sorted. Returns (out (T, B, P) h_1 .. h_T, zero after each row's end;
    final states, each (B, .); cache)."""
    U, W, b_ih, b_hh, W_hr = params
    T, B, _ = x.shape
    lay = layout(packing)
    bs, off, hoff = lay.batch_sizes, lay.off, lay.hoff
    xp = _packed(x, lay)                                # (N, In)
    if lay.real is None:                                # a view of x: the cache keeps its own copy
        xp = xp.copy()
    N, P = xp.shape[0], W.shape[1]                      # P: size of h (H, or the LSTM's proj_size)
    a = xp @ U.T                                        # (N, G*H) U x_t, every real step
    trans, big = bool(bs[0] < SMALL), wide(W)
    Wt = W if trans else np.ascontiguousarray(W.T)      # BLAS multiplies h W^T faster this way
    hs = np.empty((B + N, P), dtype=x.dtype)
    hs[:B] = state0[0]
    cs = tanh_cs = q_n = None
    if cell.mode == "lstm":
        H = a.shape[1] // 4
        cs, tanh_cs = np.empty((B + N, H), dtype=x.dtype), np.empty((N, H), dtype=x.dtype)
        cs[:B] = state0[1]
        proj = W_hr is not None
        WhrT = np.ascontiguousarray(W_hr.T) if proj else _NONE.astype(x.dtype)
        m = np.empty((B, H), dtype=x.dtype) if proj else _NONE.astype(x.dtype)
        numba_lstm.forward(a, Wt, b_ih + b_hh, hs, cs, tanh_cs, bs, off, hoff, WhrT, m, proj, trans,
                           big, gemm_abi())
        finals = (hs[lay.final], cs[lay.final])
    elif cell.mode == "gru":
        q_n = np.empty((N, P), dtype=x.dtype)
        numba_gru.forward(a, Wt, b_ih, b_hh, hs, q_n, np.empty((B, 3 * P), dtype=x.dtype), bs, off,
                          hoff, trans, big, gemm_abi())
        finals = (hs[lay.final],)
    else:
        numba_rnn.forward(a, Wt, b_ih + b_hh, hs, bs, off, hoff, numba_rnn.CODES[cell.nonlinearity],
                          trans, big, gemm_abi())
        finals = (hs[lay.final],)
        a = None                                        # backward reads f'(a_t) from h_t alone
    out = _dense(hs[B:], lay, T, B)                     # (T, B, P), a view when nothing is padded
    return out, finals, CompiledCache(xp, a, hs, cs, tanh_cs, q_n, lay, x.shape)


def backward(cell, d_out: np.ndarray, d_final: tuple[np.ndarray, ...], cache: CompiledCache,
             params: Params) -> tuple[np.ndarray, tuple[np.ndarray, ...], Params]:
    """d_out (T, B, P) dL/dh_t; d_final dL/d final states, each (B, .).
    Returns (dx (T, B, In), d_state0, Params gradients)."""
    U, W, _, _, W_hr = params
    xp, gates, hs, cs, tanh_cs, q_n, lay, (T, B, _) = cache
    bs, off, hoff = lay.batch_sizes, lay.off, lay.hoff
    dtype = xp.dtype
    d_hs = np.ascontiguousarray(_packed(np.asarray(d_out, dtype=dtype), lay))   # (N, P)
    dh = np.array(d_final[0], dtype=dtype)              # running dL/dh_t, in place
    big, dW_hr = wide(W), None
    da = np.empty((xp.shape[0], W.shape[0]), dtype=dtype)   # (N, G*H)
    if cell.mode == "lstm":
        dc = np.array(d_final[1], dtype=dtype)
        proj = W_hr is not None
        none = _NONE.astype(dtype)
        dm = np.empty_like(dc) if proj else none
        dh_all = np.empty_like(d_hs) if proj else none
        numba_lstm.backward(gates, hs, cs, tanh_cs, W, d_hs, dh, dc, bs, off, hoff, da,
                            W_hr if proj else none, np.empty_like(dh), dm, dh_all, proj, big, gemm_abi())
        if proj:
            dW_hr = projection_grad(dh_all[None], gates[None], tanh_cs[None])
        dq, d_state0 = da, (dh, dc)
    elif cell.mode == "gru":
        dq = np.empty_like(gates)
        numba_gru.backward(gates, q_n, hs, W, d_hs, dh, bs, off, hoff, da, dq, big, gemm_abi())
        d_state0 = (dh,)
    else:
        numba_rnn.backward(hs, W, d_hs, dh, bs, off, hoff, numba_rnn.CODES[cell.nonlinearity], da, big,
                           gemm_abi())
        dq, d_state0 = da, (dh,)
    h_prev = hs[:-B] if lay.prev is None else hs[lay.prev]    # (N, P) h_{t-1} of every row
    dW = dq.T @ h_prev                                  # sum_t dq_t^T h_{t-1}
    dU = da.T @ xp                                      # sum_t da_t^T x_t
    db_ih = da.sum(axis=0)
    db_hh = db_ih.copy() if dq is da else dq.sum(axis=0)     # RNN, LSTM: the same sum
    dx = _dense(da @ U, lay, T, B)                      # dx_t = da_t U
    return dx, d_state0, Params(dU, dW, db_ih, db_hh, dW_hr)


def step_cache(cell, cache: CompiledCache, params: Params, t: int, rows):
    """Step t as the reference cell's StepCache for the given running rows (a slice or an index
    array): what ``step_backward`` needs, read from the packed buffers (``bptt.diagnostics``)."""
    lay = cache.layout
    r = np.arange(lay.batch_sizes[t])[rows]
    p, h0, h1 = lay.off[t] + r, lay.hoff[t] + r, lay.hoff[t + 1] + r
    x = cache.x[p]
    if cell.mode == "lstm":
        a = cache.gates[p]
        H = cache.cs.shape[1]
        return lstm.StepCache(x, cache.hs[h0], cache.cs[h0], a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H],
                              a[:, 3 * H:], cache.tanh_cs[p], params)
    if cell.mode == "gru":
        a = cache.gates[p]
        H = cache.q_n.shape[1]
        return gru.StepCache(x, cache.hs[h0], a[:, :H], a[:, H:2 * H], a[:, 2 * H:], cache.q_n[p], params)
    return rnn.StepCache(x, cache.hs[h0], cache.hs[h1], params, cell.nonlinearity)
