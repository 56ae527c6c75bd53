r"""The fast NumPy path for one direction of one layer: the input side in one product, the
cell's loop (its kernels: ``numpy_rnn.py``, ``numpy_lstm.py``, ``numpy_gru.py``, ``numpy_min.py``,
each a ``FastNumpy``), the weight gradients in one product each. Same function as
``reference.py``, tested against it.

Input side. ``U x_t + b_ih`` for all t is one matrix product before the loop, and after the
backward loop ``dU = sum_t da_t^T x_t`` and ``dx_t = da_t U`` are one matrix product each, so
only the recurrent product ``W h_{t-1}`` stays inside the time loop. The biases ride in the
forward product as a column of ones appended to the input::

    [x_t, 1] [s U | s (b_ih + ahead)]^T = s (U x_t + b_ih + ahead)     (T*B, E+1) x (E+1, G*H)

where (s, ahead) is the cell's ``loop_form`` (the sigmoid gates' halving and the part of b_hh
the loop would otherwise add): the result is what the cell's loop reads, with no pass over the
(T, B, G*H) block to add biases or scale it. The cache keeps the x part of [x_t, 1] (its own
copy of the input, never the caller's buffer, at no extra cost; a strided view for dU). When
T*B is at most In+1 (a single short sequence) building the folded weights costs more than the
two passes it saves, so ``input_projection`` adds and scales in place instead.
"""
from __future__ import annotations

from functools import partial
from typing import Callable, NamedTuple

import numpy as np

from ._params import Params


class FastNumpy(NamedTuple):
    """A cell's kernels on this path: its loop (the functions of ``numpy_<cell>.py``)."""
    forward: Callable       # (xp, state0, W, b_hh, batch_sizes) -> (states, cache), xp = U x_t + b_ih
    backward: Callable      # (d_hs, d_final, cache, W) -> (da, d_state0, dW, db_hh, dW_hr)
    loop_form: Callable     # b_hh -> (scale, ahead): what the input product folds in
    run: Callable           # (xs, state0, W, b_hh, batch_sizes) -> (states, cache), xs in loop form
    #                         (the LSTM's run and backward also take W_hr=, its projection)
    step_cache: Callable    # (cache, x, params, t, rows) -> the reference's StepCache of step t


def fast_numpy(module, **options) -> FastNumpy:
    """A ``numpy_<cell>.py`` module's loop as kernels, with the cell's options (the RNN's
    ``nonlinearity``) bound."""
    bind = (lambda f: partial(f, **options)) if options else (lambda f: f)
    return FastNumpy(bind(module.forward), module.backward, module.loop_form, bind(module.run),
                     module.step_cache)


class FastCache(NamedTuple):
    x: np.ndarray               # (T, B, In) the cell's input, in the cell's time order
    cell_cache: tuple           # the loop's own cache (numpy_<cell>.Cache)


def input_projection(cell, x: np.ndarray, U: np.ndarray, b_ih: np.ndarray, b_hh: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The loop-form input side of every step in one product (see the module docstring).

    x (T, B, In), U (G*H, In), b_ih and b_hh (G*H,).
    Returns (xs (T, B, G*H) = s (U x_t + b_ih + ahead), a copy of x (T, B, In) that the cache
    can keep: the x part of [x_t, 1], or a plain copy when that buffer is not made).
    """
    T, B, In = x.shape
    scale, ahead = cell.kernel("numpy").loop_form(b_hh)
    if T * B <= In + 1:             # few rows (one short sequence): two passes over xs cost less
        xs = x.reshape(T * B, In) @ U.T                        # than building [s U | s b]
        xs += b_ih + ahead
        xs *= scale
        return xs.reshape(T, B, -1), x.copy()
    x1 = np.empty((T * B, In + 1), dtype=x.dtype)
    x1[:, :In] = x.reshape(T * B, In)
    x1[:, In] = 1
    U1 = np.empty((U.shape[0], In + 1), dtype=U.dtype)         # (G*H, In+1)
    np.multiply(U, scale[:, None], out=U1[:, :In])
    np.multiply(b_ih + ahead, scale, out=U1[:, In])
    return (x1 @ U1.T).reshape(T, B, -1), x1[:, :In].reshape(T, B, In)


def forward(cell, x: np.ndarray, params: Params, state0: tuple[np.ndarray, ...], packing
            ) -> tuple[np.ndarray, tuple[np.ndarray, ...], FastCache]:
    """x (T, B, In) length-sorted (``packing`` from ``bptt.sequence.pack``). Returns (out (T, B, P)
    h_1 .. h_T, zero after each row's end; final states, each (B, .), taken at each row's last
    real step; cache)."""
    U, W, b_ih, b_hh, W_hr, _ = params
    if b_hh is None:                                           # not recurrent (minGRU, minLSTM)
        b_hh = np.zeros_like(b_ih)
    xs, x = input_projection(cell, x, U, b_ih, b_hh)           # x: the cache's own copy
    projection = {} if W_hr is None else {"W_hr": W_hr}        # the LSTM's proj_size
    states, cell_cache = cell.kernel("numpy").run(xs, state0, W, b_hh, packing.batch_sizes, **projection)
    rows = np.arange(len(packing.lengths))
    finals = tuple(s[packing.lengths, rows] for s in states)   # states[k][lengths[b], b]
    return states[0][1:], finals, FastCache(x, cell_cache)


def backward(cell, d_out: np.ndarray, d_final: tuple[np.ndarray, ...], cache: FastCache,
             params: Params) -> tuple[np.ndarray, tuple[np.ndarray, ...], Params]:
    """d_out (T, B, H) dL/dh_t; d_final dL/d final states, each (B, H).
    Returns (dx (T, B, In), d_state0, Params gradients)."""
    U, W, _, _, W_hr, _ = params
    x, cell_cache = cache
    projection = {} if W_hr is None else {"W_hr": W_hr}
    loop = cell.kernel("numpy")
    da, d_state0, dW, db_hh, dW_hr = loop.backward(d_out, d_final, cell_cache, W, **projection)
    dx, dU, db_ih = input_side_backward(da, x, U)
    return dx, d_state0, Params(dU, dW, db_ih, db_hh, dW_hr)


def input_side_backward(da: np.ndarray, x: np.ndarray, U: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """From da (T, B, G*H), the gradient of U x_t + b_ih: (dx (T, B, In), dU, db_ih), one
    product each: dx_t = da_t U, dU = sum_t da_t^T x_t, db_ih = sum_t da_t."""
    T, B, In = x.shape
    da2 = da.reshape(T * B, -1)                         # (T*B, G*H)
    dU = da2.T @ x.reshape(T * B, In)                   # sum_t da_t^T x_t
    db_ih = da2.sum(axis=0)
    dx = (da2 @ U).reshape(T, B, In)                    # dx_t = da_t U
    return dx, dU, db_ih


def step_cache(cell, cache: FastCache, params: Params, t: int, rows):
    """Step t as the reference cell's StepCache for the given running rows (``bptt.diagnostics``)."""
    x, cell_cache = cache
    return cell.kernel("numpy").step_cache(cell_cache, x, params, t, rows)
