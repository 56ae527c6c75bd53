r"""The reference path: a plain loop over time on top of a cell's ``step_forward`` and
``step_backward`` (``rnn.py``, ``lstm.py``, ``gru.py``, ``mingru.py``, ``minlstm.py``, or a
registered cell's own), for one direction of one layer. It runs every cell, so it is also where
a cell without fast kernels runs.

Variable lengths. The batch is sorted by length, longest first (``bptt.sequence.pack``), so at
step t the sequences still running are the first ``batch_sizes[t]`` rows. A step runs on those
rows only; a finished row keeps its state, which is therefore its final state, and its padded
inputs are never read.

Forward, for t = 1..T::

    s_t = step(x_t, s_{t-1})            on the running rows; s = (h,) or (h, c) for the LSTM

Backward, for t = T..1, with ds the running gradient of the state (d_final at the start)::

    dh_t += dL/dh_t (from the output at t)
    dx_t, ds_{t-1}, dtheta_t = step_backward(ds_t)
    dtheta = sum_t dtheta_t             (U, W and the biases are shared by every step)

Row by row a finished sequence keeps d_final until its last real step, which is where the
gradient of its final state enters. The fast paths (``numpy_path.py``, ``numba_path.py``)
compute the same numbers and are tested against this loop.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._params import Params


class ReferenceCache(NamedTuple):
    steps: list             # one StepCache per step, for the running rows of that step
    batch_sizes: np.ndarray  # (T,) running rows per step, non-increasing
    input_shape: tuple      # (T, B, In)


def forward(cell, x: np.ndarray, params: Params, state0: tuple[np.ndarray, ...], packing
            ) -> tuple[np.ndarray, tuple[np.ndarray, ...], ReferenceCache]:
    """Run a cell over a length-sorted batch (``packing`` from ``bptt.sequence.pack``).

    x: (T, B, In); state0: (h_0,) or (h_0, c_0), each (B, H).
    Returns (out (T, B, H) = h_1 .. h_T, zero after each sequence's end; final states, each
    (B, H), taken at each row's last real step; cache).
    """
    batch_sizes = packing.batch_sizes
    x = np.array(x)                                                 # the cache keeps its own copy
    T, B, _ = x.shape
    state = state0
    out = np.zeros((T, B, state0[0].shape[1]), dtype=x.dtype)      # (T, B, P) h_t
    steps = []
    for t in range(T):
        n = batch_sizes[t]                                          # running rows
        new, cache = cell.step_forward(x[t, :n], tuple(s[:n] for s in state), params)
        state = tuple(np.concatenate([a, s[n:]]) for a, s in zip(new, state))   # others keep theirs
        out[t, :n] = new[0]                                         # h_t
        steps.append(cache)
    return out, state, ReferenceCache(steps, batch_sizes, x.shape)


def backward(cell, d_out: np.ndarray, d_final: tuple[np.ndarray, ...], cache: ReferenceCache,
             params: Params) -> tuple[np.ndarray, tuple[np.ndarray, ...], Params]:
    """Backpropagate through time.

    d_out: (T, B, H) dL/dh_t from above (read at running rows only); d_final: dL/d final
    states, each (B, H). Returns (dx (T, B, In), d_state0, Params of summed gradients).
    """
    steps, batch_sizes, (T, B, In) = cache
    d_state = tuple(np.array(d) for d in d_final)
    dx = np.zeros((T, B, In), dtype=d_out.dtype)
    total = None
    for t in reversed(range(T)):
        n = batch_sizes[t]
        dh = d_state[0][:n] + d_out[t, :n]                          # total dL/dh_t
        dx_t, d_prev, d_params = cell.step_backward((dh, *(d[:n] for d in d_state[1:])), steps[t])
        dx[t, :n] = dx_t
        d_state = tuple(np.concatenate([a, d[n:]]) for a, d in zip(d_prev, d_state))
        total = d_params if total is None else total.plus(d_params)
    return dx, d_state, total


def step_cache(cell, cache: ReferenceCache, params: Params, t: int, rows):
    """The StepCache of step t for the given running rows (a slice or an index array)."""
    c = cache.steps[t]
    return type(c)(*(f[rows] if isinstance(f, np.ndarray) else f for f in c))
