r"""Running one cell in one direction over a batch of variable-length sequences.

Packing. A batch of B sequences with lengths ``lengths`` (B,) is put in order of decreasing
length once (``pack``). Then at step t the sequences still running are the first
``batch_sizes[t] = #{b : lengths[b] > t}`` rows, and the cells work on that prefix of rows only:
padding after a sequence's end is never read, its state is frozen at its last real step (that
is the final state), and it receives no gradient. This is PyTorch's ``PackedSequence`` layout,
kept as a dense (T, B, .) array so that matrix products still see whole blocks.

Direction. The reverse direction of a bidirectional layer reads each sequence backwards from its
own last real step. Reversing every sequence within its length (``reverse_within``) turns it into
a forward run with the same ``batch_sizes``; the outputs are reversed back the same way.

Input side. ``U x_t + b_ih`` for all t is one matrix product before the loop, and after the
backward loop ``dU = sum_t da_t^T x_t`` and ``dx_t = da_t U`` are one matrix product each, so
only the recurrent product ``W h_{t-1}`` stays inside the time loop. The biases ride in the
forward product as a column of ones appended to the input::

    [x_t, 1] [s U | s (b_ih + ahead)]^T = s (U x_t + b_ih + ahead)     (T*B, E+1) x (E+1, G*H)

where (s, ahead) is the cell's ``loop_form`` (the sigmoid gates' halving and the part of b_hh
the loop would otherwise add): the result is what the cell's loop reads, with no pass over the
(T, B, G*H) block to add biases or scale it. [x_t, 1] is a temporary; the cache keeps x. When
T*B is at most In+1 (a single short sequence) building the folded weights costs more than the
two passes it saves, so ``input_projection`` adds and scales in place instead.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .cells import Cell


class Packing(NamedTuple):
    lengths: np.ndarray         # (B,) lengths in packed (sorted, longest first) order
    batch_sizes: np.ndarray     # (T,) running rows per step, non-increasing
    perm: np.ndarray | None     # (B,) packed row b is input row perm[b]; None if already sorted
    inverse: np.ndarray | None  # (B,) input row b is packed row inverse[b]
    rev_index: np.ndarray | None  # (T, B) time index reversing each sequence; None if no padding


def pack(lengths: np.ndarray | None, T: int, B: int) -> Packing:
    """Sort order and per-step batch sizes for sequences of the given lengths (None: all T)."""
    if lengths is None:
        return Packing(np.full(B, T, dtype=np.int64), np.full(T, B, dtype=np.int64), None, None, None)
    lengths = np.asarray(lengths)
    if lengths.shape != (B,):
        raise ValueError(f"lengths must have shape ({B},) (one per sequence), got {lengths.shape}")
    if not np.issubdtype(lengths.dtype, np.integer):
        raise TypeError(f"lengths must be integers, got dtype {lengths.dtype}")
    if B and (lengths.min() < 1 or lengths.max() > T):
        bad = int(np.flatnonzero((lengths < 1) | (lengths > T))[0])
        raise ValueError(f"lengths[{bad}] = {int(lengths[bad])} is outside 1..{T} "
                         f"(T = {T} steps in the input)")
    lengths = lengths.astype(np.int64)
    if B and lengths[0] == T and lengths.min() == T:                  # no padding: the common case
        return Packing(lengths, np.full(T, B, dtype=np.int64), None, None, None)
    perm = inverse = None
    if np.any(np.diff(lengths) > 0):
        perm = np.argsort(-lengths, kind="stable")
        inverse = np.empty_like(perm)
        inverse[perm] = np.arange(B)
        lengths = lengths[perm]
    batch_sizes = np.count_nonzero(lengths[None, :] > np.arange(T)[:, None], axis=1)
    rev_index = None
    if B and lengths[-1] < T:
        t = np.arange(T)[:, None]
        rev_index = np.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)
    return Packing(lengths, batch_sizes, perm, inverse, rev_index)


def reverse_within(x: np.ndarray, packing: Packing) -> np.ndarray:
    """x (T, B, ...) with each sequence's first lengths[b] steps reversed; padding stays put.

    Its own inverse. Always returns a C-contiguous array.
    """
    if packing.rev_index is None:
        return np.ascontiguousarray(x[::-1])
    return x[packing.rev_index, np.arange(x.shape[1])[None, :]]


def final_states(states: tuple[np.ndarray, ...], packing: Packing) -> tuple[np.ndarray, ...]:
    """Each row's state after its last real step: states[k][lengths[b], b], each (B, H)."""
    if packing.rev_index is None:
        return tuple(s[-1].copy() for s in states)
    rows = np.arange(len(packing.lengths))
    return tuple(s[packing.lengths, rows] for s in states)


class DirectionCache(NamedTuple):
    x: np.ndarray               # (T, B, In) the input, in its original time order
    cell_cache: tuple           # the cell's own cache
    reverse: bool


def input_projection(cell: Cell, x: np.ndarray, U: np.ndarray, b_ih: np.ndarray, b_hh: np.ndarray
                     ) -> np.ndarray:
    """The loop-form input side of every step in one product (see the module docstring).

    x (T, B, In), U (G*H, In), b_ih and b_hh (G*H,).
    Returns xs (T, B, G*H) = s (U x_t + b_ih + ahead).
    """
    T, B, In = x.shape
    scale, ahead = cell.loop_form(b_hh)
    if T * B <= In + 1:             # few rows (one short sequence): two passes over xs cost less
        xs = x.reshape(T * B, In) @ U.T                        # than building [s U | s b]
        xs += b_ih + ahead
        xs *= scale
        return xs.reshape(T, B, -1)
    x1 = np.empty((T * B, In + 1), dtype=x.dtype)
    x1[:, :In] = x.reshape(T * B, In)
    x1[:, In] = 1
    U1 = np.empty((U.shape[0], In + 1), dtype=U.dtype)         # (G*H, In+1)
    np.multiply(U, scale[:, None], out=U1[:, :In])
    np.multiply(b_ih + ahead, scale, out=U1[:, In])
    return (x1 @ U1.T).reshape(T, B, -1)


def direction_forward(cell: Cell, x: np.ndarray, params: tuple[np.ndarray, ...],
                      state0: tuple[np.ndarray, ...], packing: Packing, reverse: bool
                      ) -> tuple[np.ndarray, tuple[np.ndarray, ...], DirectionCache]:
    """One layer, one direction.

    x:      (T, B, In) packed input;  params: (U, W, b_ih, b_hh) with U (G*H, In), W (G*H, H)
    state0: initial states, each (B, H)
    Returns (out (T, B, H), final states each (B, H), cache).
    """
    U, W, b_ih, b_hh = params
    xs = input_projection(cell, reverse_within(x, packing) if reverse else x, U, b_ih, b_hh)
    states, cell_cache = cell.run(xs, state0, W, b_hh, packing.batch_sizes)
    out = states[0][1:]                                 # (T, B, H) h_1 .. h_T, a view
    if reverse:
        out = reverse_within(out, packing)
    return out, final_states(states, packing), DirectionCache(x, cell_cache, reverse)


def direction_backward(cell: Cell, d_out: np.ndarray, d_final: tuple[np.ndarray, ...],
                       cache: DirectionCache, params: tuple[np.ndarray, ...], packing: Packing
                       ) -> tuple[np.ndarray, tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """Backward of ``direction_forward``.

    d_out: (T, B, H) dL/d out;  d_final: dL/d final states, each (B, H)
    Returns (dx (T, B, In), d_state0, (dU, dW, db_ih, db_hh)).
    """
    U, W, _, _ = params
    x, cell_cache, reverse = cache
    T, B, In = x.shape
    if reverse:                                         # work in the cell's time order
        d_out, x = reverse_within(d_out, packing), reverse_within(x, packing)
    da, d_state0, dW, db_hh = cell.backward(d_out, d_final, cell_cache, W)
    da2 = da.reshape(T * B, -1)                         # (T*B, G*H)
    dU = da2.T @ x.reshape(T * B, In)                   # sum_t da_t^T x_t
    db_ih = da2.sum(axis=0)
    dx = (da2 @ U).reshape(T, B, In)                    # dx_t = da_t U
    if reverse:
        dx = reverse_within(dx, packing)                # back to the input's time order
    return dx, d_state0, (dU, dW, db_ih, db_hh)
