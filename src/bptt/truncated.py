r"""Truncated backpropagation through time over a long stream.

A stream x_1 .. x_T too long to backpropagate through at once is cut into chunks of k steps.
The state is carried forward across chunks (chunk j starts from the final state of chunk j-1,
so the forward pass of a unidirectional layer is exactly the full one), but the gradient is cut at every chunk boundary:
the carried state is treated as a constant, and dL/dh_0 of a chunk is dropped. For chunk j with
loss L_j the truncated gradient is

    g = sum_j dL_j / dtheta  |  h_0^(j) held fixed

so no gradient travels more than k steps back, and memory is that of k steps. With k >= T it
is the full BPTT gradient. This is PyTorch's ``hidden = hidden.detach()`` between chunks.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .recurrent import Recurrent
from .state import State


def chunk_slices(T: int, k: int) -> list[slice]:
    """[0:k], [k:2k], ... covering 0..T; the last chunk may be shorter."""
    if k < 1:
        raise ValueError(f"chunk length k must be >= 1, got {k}")
    return [slice(s, min(s + k, T)) for s in range(0, T, k)]


def detach(state) -> State:
    """A copy of a state (a ``State``, or h, or (h, c)) that shares nothing with it."""
    return State.of(state).map(np.ndarray.copy)


def truncated_bptt(layer: Recurrent, x: np.ndarray, k: int,
                   loss_grad: Callable[[np.ndarray, slice], tuple[float, np.ndarray]],
                   state0=None) -> tuple[float, dict[str, np.ndarray], State]:
    """Run ``layer`` over the stream x (T, B, E) in chunks of k steps with the gradient cut.

    loss_grad(out, steps) -> (loss, d_out) gives the loss of a chunk's output out (k, B, D*H)
    for the stream steps ``steps`` and its gradient.
    Returns (total loss, gradients summed over chunks, final state to carry on with).
    """
    if layer.config.batch_first:
        raise ValueError("truncated_bptt takes a time-major stream (T, B, E)")
    if layer.config.bidirectional:
        raise ValueError("truncated_bptt needs a unidirectional layer: a reverse direction would "
                         "read each chunk from its own end, not from the end of the stream")
    state, total, grads = state0, 0.0, {}
    for steps in chunk_slices(x.shape[0], k):
        out, final, cache = layer.forward(x[steps], state, training=True)
        loss, d_out = loss_grad(out, steps)
        _, _, g = layer.backward(cache, d_out)          # dL/dh_0 of the chunk is dropped
        for name, value in g.items():
            grads[name] = grads[name] + value if name in grads else value
        total += loss
        state = detach(final)
    return total, grads, state
