r"""The compiled path for one direction of one layer (numba, a dependency of bptt; the default).

The same function as ``reference.py``, tested against it. The work splits as on the fast NumPy
path (``numpy_path.py``), minus every pass it can fuse:

- input side: ``U x_t`` for all steps, one BLAS product (N, In) x (In, G*H) before the loop
  (the biases are added inside the loop, where they cost nothing);
- the time loop: one compiled call per direction and pass (the cell's kernels, a
  ``CompiledKernels`` from ``numba_rnn.py``, ``numba_lstm.py``, ``numba_gru.py``, ``numba_min.py``),
  the recurrent product of each step through the same BLAS, the gate math of a step in one fused
  loop; so a step costs no Python and no NumPy call, which is what dominates at B = 1;
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

from typing import Callable, NamedTuple

import numpy as np

from ._params import Params
from .numba_common import SMALL, wide

NONE = np.zeros((0, 0))         # stands for an unused array argument of a kernel (no projection)


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
    hs: np.ndarray              # (B + N, P) h_0, then h_t of every real step
    inner: tuple                # the cell's own buffers (gates, the LSTM's c, ...): its kernels'
    layout: Layout
    shape: tuple                # (T, B, In) of the dense input


class CompiledKernels(NamedTuple):
    """A cell's kernels on this path (``numba_<cell>.kernels(cell)``); buffers in the packed layout.

    forward(cell, a, hs, params, state0, lay) -> (state buffers (hs, ...), inner)
        a (N, G*H) = U x_t of every real step (theirs to overwrite); hs (B + N, P) with h_0 in
        its first B rows, to fill; the state buffers hold each part's s_0 then s_t, like hs.
    backward(cell, inner, hs, params, d_hs, d_final, lay) -> (da, dq, d_state0, dW_hr)
        d_hs (N, P) dL/dh_t from above; da (N, G*H) the gradient of U x_t + b_ih, dq that of
        W h_{t-1} + b_hh (the same array when they are equal; unused without W).
    step_cache(cell, inner, x, hs, params, p, h0, h1) -> the reference step's cache of step t
        for rows p (per-step buffers), h0 / h1 (h_{t-1} / h_t in hs); x = the input rows p.
    """
    forward: Callable
    backward: Callable
    step_cache: Callable


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


def recurrent_weight(W: np.ndarray, batch_sizes: np.ndarray) -> tuple[np.ndarray, bool, bool]:
    """(W^T contiguous, or W itself with trans when few rows run; trans; big) for the kernels'
    step product (``numba_common.step_abi``): BLAS multiplies h W^T faster on a contiguous W^T."""
    trans, big = bool(batch_sizes[0] < SMALL), wide(W)
    return (W if trans else np.ascontiguousarray(W.T)), trans, big


def forward(cell, x: np.ndarray, params: Params, state0: tuple[np.ndarray, ...], packing
            ) -> tuple[np.ndarray, tuple[np.ndarray, ...], CompiledCache]:
    """x (T, B, In) length-sorted. Returns (out (T, B, P) h_1 .. h_T, zero after each row's end;
    final states, each (B, .); cache)."""
    T, B, _ = x.shape
    lay = layout(packing)
    xp = _packed(x, lay)                                # (N, In)
    if lay.real is None:                                # a view of x: the cache keeps its own copy
        xp = xp.copy()
    N, P = xp.shape[0], state0[0].shape[1]              # P: size of h (H, or the LSTM's proj_size)
    a = xp @ params.U.T                                 # (N, G*H) U x_t, every real step
    hs = np.empty((B + N, P), dtype=x.dtype)
    hs[:B] = state0[0]
    states, inner = cell.kernel("numba").forward(cell, a, hs, params, state0, lay)
    finals = tuple(s[lay.final] for s in states)
    out = _dense(hs[B:], lay, T, B)                     # (T, B, P), a view when nothing is padded
    return out, finals, CompiledCache(xp, hs, inner, lay, x.shape)


def backward(cell, d_out: np.ndarray, d_final: tuple[np.ndarray, ...], cache: CompiledCache,
             params: Params) -> tuple[np.ndarray, tuple[np.ndarray, ...], Params]:
    """d_out (T, B, P) dL/dh_t; d_final dL/d final states, each (B, .).
    Returns (dx (T, B, In), d_state0, Params gradients)."""
    U, W = params.U, params.W
    xp, hs, inner, lay, (T, B, _) = cache
    d_hs = np.ascontiguousarray(_packed(np.asarray(d_out, dtype=xp.dtype), lay))   # (N, P)
    da, dq, d_state0, dW_hr = cell.kernel("numba").backward(cell, inner, hs, params, d_hs, d_final, lay)
    dW = db_hh = None
    if W is not None:
        h_prev = hs[:-B] if lay.prev is None else hs[lay.prev]    # (N, P) h_{t-1} of every row
        dW = dq.T @ h_prev                              # sum_t dq_t^T h_{t-1}
    dU = da.T @ xp                                      # sum_t da_t^T x_t
    db_ih = da.sum(axis=0)
    if W is not None:
        db_hh = db_ih.copy() if dq is da else dq.sum(axis=0)     # RNN, LSTM: the same sum
    dx = _dense(da @ U, lay, T, B)                      # dx_t = da_t U
    return dx, d_state0, Params(dU, dW, db_ih, db_hh, dW_hr)


def step_cache(cell, cache: CompiledCache, params: Params, t: int, rows):
    """Step t as the reference cell's StepCache for the given running rows (a slice or an index
    array): what ``step_backward`` needs, read from the packed buffers (``bptt.diagnostics``)."""
    lay = cache.layout
    r = np.arange(lay.batch_sizes[t])[rows]
    p, h0, h1 = lay.off[t] + r, lay.hoff[t] + r, lay.hoff[t + 1] + r
    return cell.kernel("numba").step_cache(cell, cache.inner, cache.x[p], cache.hs, params, p, h0, h1)
