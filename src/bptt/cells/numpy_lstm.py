r"""LSTM, the fast NumPy path: the whole time loop of ``lstm.py``'s equations over a batch.

Computes the same function as the reference steps in ``lstm.py`` (the equations and their
derivation are there and in docs/math.md section 5), tested against them. What makes it fast:

- the gate buffer ``xs`` (T, B, 4H) arrives with the input side of every step already in it,
  from one matrix product (``numpy_path.input_projection``), and is overwritten with the gate
  activations: the memory BPTT needs, not a copy of it;
- the sigmoid gates are evaluated through tanh with their halving folded into the weights
  (``numpy_gates.py``), so one tanh activates all four gates of a step;
- preallocated buffers and ``out=`` everywhere, no allocation inside the loop;
- the batch is sorted by length, longest first: at step t only the first ``batch_sizes[t]``
  rows are still inside their sequence, so every operation works on the prefix ``[:n]`` of the
  rows (a view, no copy) and a finished sequence keeps its state and costs nothing;
- the parameter gradients are one matrix product each after the loop::

    dW = sum_t da_t^T h_{t-1}      dU = sum_t da_t^T x_t      db = sum_t da_t
"""
from __future__ import annotations

import sys
from typing import NamedTuple

import numpy as np

from . import lstm
from .lstm import GATES
from ._params import Params
from .numpy_path import FastNumpy, fast_numpy
from .numpy_gates import activate_, activation_grad_, gate_constants, prescale

SIGMOID_BLOCKS = (True, True, False, True)


class Cache(NamedTuple):
    gates: np.ndarray        # (T, B, 4H) activations [i, f, g, o] of every step
    hs: np.ndarray           # (T+1, B, H) hs[0] = h_0, hs[t+1] = h_t
    cs: np.ndarray           # (T+1, B, H) cs[0] = c_0, cs[t+1] = c_t
    tanh_cs: np.ndarray      # (T, B, H) tanh(c_t)
    batch_sizes: np.ndarray  # (T,) rows still running at each step, non-increasing


def loop_form(b_hh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What the loop reads from the input side: xs_t = scale * (U x_t + b_ih + ahead).

    Returns (scale, ahead), each (4H,): the sigmoid rows (i, f, o) halved (see ``numpy_gates.py``),
    and all of bias_hh added ahead of the loop (the LSTM's two biases simply add).
    """
    H = b_hh.shape[0] // GATES
    return gate_constants(SIGMOID_BLOCKS, H, 1, b_hh.dtype).scale[0], b_hh


def forward(xp: np.ndarray, state0: tuple[np.ndarray, np.ndarray], W: np.ndarray,
            b_hh: np.ndarray, batch_sizes: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray], Cache]:
    """Run the LSTM over a length-sorted batch.

    xp:          (T, B, 4H) U x_t + bias_ih for every step; taken over and overwritten
                 with the gate activations (the memory BPTT needs, not a copy of it)
    state0:      (h_0, c_0), each (B, H)
    W:           (4H, H) weight_hh;  b_hh: (4H,) bias_hh
    batch_sizes: (T,) non-increasing number of running rows per step
    Returns ((hs, cs), cache) with hs, cs of shape (T+1, B, H); rows of a step after a
    sequence's end stay zero.
    """
    scale, ahead = loop_form(b_hh)
    xp += ahead                                 # (T, B, 4H) U x_t + b, all steps at once
    xp *= scale
    return run(xp, state0, W, b_hh, batch_sizes)


def run(xs: np.ndarray, state0: tuple[np.ndarray, np.ndarray], W: np.ndarray,
        b_hh: np.ndarray, batch_sizes: np.ndarray, W_hr: np.ndarray | None = None
        ) -> tuple[tuple[np.ndarray, np.ndarray], Cache]:
    """``forward``'s time loop, given the input side in loop form (``loop_form``):
    xs (T, B, 4H) = scale * (U x_t + b_ih + b_hh), overwritten with the gate activations.
    ``numpy_path`` computes xs in one matrix product with the scale and biases folded in.
    W (4H, P); W_hr (P, H) projects h_t = W_hr (o * tanh(c_t)) (None: P = H, no projection).
    """
    T, B, G = xs.shape
    H = G // GATES
    P = W.shape[1]                              # size of h
    h0, c0 = state0
    padded = batch_sizes[-1] < B if T else False
    alloc = np.zeros if padded else np.empty
    hs = alloc((T + 1, B, P), dtype=xs.dtype)
    cs = alloc((T + 1, B, H), dtype=xs.dtype)
    tanh_cs = alloc((T, B, H), dtype=xs.dtype)
    hs[0], cs[0] = h0, c0
    consts = gate_constants(SIGMOID_BLOCKS, H, B, xs.dtype)
    Wt = prescale(W, consts.scale[0])           # (H, 4H) sigmoid rows halved (see numpy_gates.py)
    rec = np.empty((B, G), dtype=xs.dtype)      # W h_{t-1}
    ig = np.empty((B, H), dtype=xs.dtype)       # i_t * g_t
    m = None if W_hr is None else np.empty((B, H), dtype=xs.dtype)   # o_t * tanh(c_t)

    for t in range(T):
        n = batch_sizes[t]
        a = xs[t, :n]                                   # (n, 4H) pre-activations
        np.matmul(hs[t, :n], Wt, out=rec[:n])
        a += rec[:n]
        activate_(a, consts)                            # sigma on i, f, o; tanh on g
        i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
        c = cs[t + 1, :n]
        np.multiply(f, cs[t, :n], out=c)                # c_t = f * c_{t-1}
        np.multiply(i, g, out=ig[:n])
        c += ig[:n]                                     #     + i * g
        np.tanh(c, out=tanh_cs[t, :n])
        if m is None:
            np.multiply(o, tanh_cs[t, :n], out=hs[t + 1, :n])  # h_t = o * tanh(c_t)
        else:
            np.multiply(o, tanh_cs[t, :n], out=m[:n])
            np.matmul(m[:n], W_hr.T, out=hs[t + 1, :n])     # h_t = W_hr (o * tanh(c_t))
    return (hs, cs), Cache(xs, hs, cs, tanh_cs, batch_sizes)


def backward(d_hs: np.ndarray, d_final: tuple[np.ndarray, np.ndarray], cache: Cache,
             W: np.ndarray, W_hr: np.ndarray | None = None):
    """Backpropagate through all steps.

    d_hs:    (T, B, P) dL/dh_t from above (the layer's outputs); zero where padded
    d_final: (dL/dh_n (B, P), dL/dc_n (B, H)) for every row's final state (it enters at the
             row's last real step: rows that have not started yet keep it untouched)
    Returns (da, (dh_0, dc_0), dW, db_hh, dW_hr) with da (T, B, 4H) the gradient of the gates'
    pre-activations (= of U x_t + b for every step), dW (4H, P), db_hh (4H,), dW_hr (P, H) or
    None without projection.
    """
    gates, hs, cs, tanh_cs, batch_sizes = cache
    T, B, G = gates.shape
    H = G // GATES
    P = hs.shape[2]
    consts = gate_constants(SIGMOID_BLOCKS, H, B, gates.dtype)
    alloc = np.zeros if (T and batch_sizes[-1] < B) else np.empty
    da_all = alloc((T, B, G), dtype=gates.dtype)
    dh = np.array(d_final[0], dtype=gates.dtype)        # (B, P) running dL/dh_t
    dc = np.array(d_final[1], dtype=gates.dtype)        # (B, H) running dL/dc_t
    tmp = np.empty((B, H), dtype=gates.dtype)
    tmp_g = np.empty((B, G), dtype=gates.dtype)
    if W_hr is not None:
        dm = np.empty((B, H), dtype=gates.dtype)        # dL/d(o * tanh(c_t)) = W_hr^T dh_t
        dh_all = alloc((T, B, P), dtype=gates.dtype)    # every total dh_t, for dW_hr

    for t in reversed(range(T)):
        n = batch_sizes[t]
        dh_t, dc_t = dh[:n], dc[:n]
        dh_t += d_hs[t, :n]
        dm_t = dh_t                                     # dL/d(o * tanh(c_t))
        if W_hr is not None:
            dh_all[t, :n] = dh_t
            dm_t = np.matmul(dh_t, W_hr, out=dm[:n])    # dm = W_hr^T dh
        a, da = gates[t, :n], da_all[t, :n]             # (n, 4H)
        i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
        di, df, dg, do = da[:, :H], da[:, H:2 * H], da[:, 2 * H:3 * H], da[:, 3 * H:]
        tc = tanh_cs[t, :n]
        np.multiply(dm_t, tc, out=do)                   # do = dm * tanh(c_t)
        np.multiply(tc, tc, out=tmp[:n])
        np.subtract(1, tmp[:n], out=tmp[:n])
        tmp[:n] *= o
        tmp[:n] *= dm_t
        dc_t += tmp[:n]                                 # dc += dm * o * (1 - tanh^2 c_t)
        np.multiply(dc_t, g, out=di)                    # di = dc * g
        np.multiply(dc_t, cs[t, :n], out=df)            # df = dc * c_{t-1}
        np.multiply(dc_t, i, out=dg)                    # dg = dc * i
        dc_t *= f                                       # dc_{t-1} = dc * f
        activation_grad_(da, a, consts, tmp_g[:n])         # through sigma and tanh
        np.matmul(da, W, out=dh_t)                      # dh_{t-1} = da W

    flat_da = da_all.reshape(T * B, G)
    dW = flat_da.T @ hs[:-1].reshape(T * B, P)          # sum_t da_t^T h_{t-1}
    db = flat_da.sum(axis=0)
    dW_hr = None if W_hr is None else projection_grad(dh_all, gates, tanh_cs)
    return da_all, (dh, dc), dW, db, dW_hr


def projection_grad(dh_all: np.ndarray, gates: np.ndarray, tanh_cs: np.ndarray) -> np.ndarray:
    """dW_hr = sum_t dh_t^T m_t with m_t = o_t * tanh(c_t): (P, H), one product.
    dh_all (T, B, P) the total dL/dh_t (0 where padded), gates (T, B, 4H), tanh_cs (T, B, H)."""
    T, B, P = dh_all.shape
    H = tanh_cs.shape[2]
    m = gates[:, :, 3 * H:] * tanh_cs                   # (T, B, H) o_t * tanh(c_t)
    return dh_all.reshape(T * B, P).T @ m.reshape(T * B, H)


def step_cache(cache: Cache, x: np.ndarray, params: Params, t: int, rows) -> lstm.StepCache:
    """Step t of this loop as the reference's ``lstm.StepCache`` for the given rows (a slice or
    an index array): what ``lstm.step_backward`` needs, read from the loop's buffers."""
    gates, hs, cs, tanh_cs, _ = cache
    H = cs.shape[2]                                     # (h may be projected to fewer units)
    a = gates[t, rows]                                  # (n, 4H) [i, f, g, o]
    return lstm.StepCache(x[t, rows], hs[t, rows], cs[t, rows], a[:, :H], a[:, H:2 * H],
                          a[:, 2 * H:3 * H], a[:, 3 * H:], tanh_cs[t, rows], params)


def kernels(cell) -> FastNumpy:
    """This loop as the cell's kernels on the fast NumPy path."""
    return fast_numpy(sys.modules[__name__])
