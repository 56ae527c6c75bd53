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

Paths. The cell's work over time runs on the backend chosen in ``bptt.backend`` (the reference
loop, the fast NumPy path or the compiled one; the reference loop for a cell without kernels on
that path); every path takes the same arguments (``cells/protocol.py``), so this module only
hands it the packed input in the cell's time order and takes back the outputs and final states.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import backend
from .cells import Cell, Params


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


def padding_mask(packing: Packing) -> np.ndarray:
    """(T, B) True at the steps after each (packed) row's end."""
    return np.arange(len(packing.batch_sizes))[:, None] >= packing.lengths[None, :]


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
    backend: str                # the path that ran the forward pass (and runs the backward)
    #                             ("reference", "numpy" or "numba")
    reverse: bool
    cache: tuple                # that path's cache (ReferenceCache, FastCache or CompiledCache)


def direction_forward(cell: Cell, x: np.ndarray, params: Params, state0: tuple[np.ndarray, ...],
                      packing: Packing, reverse: bool
                      ) -> tuple[np.ndarray, tuple[np.ndarray, ...], DirectionCache]:
    """One layer, one direction, on the current backend.

    x:      (T, B, In) packed input;  params: Params(U, W, b_ih, b_hh), U (G*H, In), W (G*H, H)
    state0: initial states, each (B, H)
    Returns (out (T, B, H), final states each (B, H), cache).
    """
    name, path = backend.for_cell(cell)
    x = reverse_within(x, packing) if reverse else x
    out, finals, cache = path.forward(cell, x, params, state0, packing)
    if reverse:
        out = reverse_within(out, packing)
    return out, finals, DirectionCache(name, reverse, cache)


def direction_backward(cell: Cell, d_out: np.ndarray, d_final: tuple[np.ndarray, ...],
                       cache: DirectionCache, params: Params, packing: Packing
                       ) -> tuple[np.ndarray, tuple[np.ndarray, ...], Params]:
    """Backward of ``direction_forward``, on the path that ran it.

    d_out: (T, B, H) dL/d out;  d_final: dL/d final states, each (B, H)
    Returns (dx (T, B, In), d_state0, Params gradients (dU, dW, db_ih, db_hh)).
    """
    name, reverse, inner = cache
    if reverse:                                         # work in the cell's time order
        d_out = reverse_within(d_out, packing)
    dx, d_state0, grads = backend.implementation(name).backward(cell, d_out, d_final, inner, params)
    if reverse:
        dx = reverse_within(dx, packing)                # back to the input's time order
    return dx, d_state0, grads


def step_cache(cell: Cell, cache: DirectionCache, params: Params, t: int, rows):
    """Step t (in the cell's time order) of a direction as the reference cell's StepCache, for
    the running rows ``rows``: what ``cell.step_backward`` reads (used by ``bptt.diagnostics``)."""
    return backend.implementation(cache.backend).step_cache(cell, cache.cache, params, t, rows)
