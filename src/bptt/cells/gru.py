r"""Gated recurrent unit (GRU), one step forward and one step back: the reference.

Equations (PyTorch's, gate rows stacked in the order r, z, n; docs/math.md section 6)::

    ax_t = U x_t + b_ih     = [ax_r; ax_z; ax_n]        input side     (3H,)
    q_t  = W h_{t-1} + b_hh = [q_r;  q_z;  q_n]         recurrent side (3H,)
    r_t = sigma(ax_r + q_r)                             reset gate
    z_t = sigma(ax_z + q_z)                             update gate
    n_t = tanh (ax_n + r_t * q_n)                       candidate
    h_t = (1 - z_t) * n_t + z_t * h_{t-1}

U = ``weight_ih`` (3H, In), W = ``weight_hh`` (3H, H). Unlike the LSTM the two biases of n do not
merge: b_hn sits inside the reset gate's product.

Backward, for one step, given dh = dL/dh_t::

    dz = dh * (h_{t-1} - n_t)                                           (G1)
    dn = dh * (1 - z_t)                                                 (G2)
    da_n = dn * (1 - n_t^2)       gradient of ax_n + r * q_n            (G3)
    dr = da_n * q_n                                                     (G4)
    dq_n = da_n * r_t                                                   (G5)
    da_r = dr * r (1 - r)         da_z = dz * z (1 - z)                 (G6)
    dax = [da_r; da_z; da_n]      dq = [da_r; da_z; dq_n]
    dh_{t-1} = dh * z_t + W^T dq                                        (G7)
    dx_t = U^T dax   dU = dax x_t^T   db_ih = dax   dW = dq h_{t-1}^T   db_hh = dq

The input side receives dax and the recurrent side dq: they share the r and z blocks and differ
in n. ``reference.py`` sums the parameter gradients over steps.
The fast paths computing the same function: ``numpy_gru.py`` and ``numba_gru.py``.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._params import Params, sigmoid
from .protocol import Cell, built_in_kernels, register_cell

BLOCKS = ("r", "z", "n")          # row blocks of weight_ih / weight_hh
GATES = len(BLOCKS)


class StepCache(NamedTuple):
    x: np.ndarray           # (B, In) x_t
    h_prev: np.ndarray      # (B, H)  h_{t-1}
    r: np.ndarray           # (B, H)  reset gate
    z: np.ndarray           # (B, H)  update gate
    n: np.ndarray           # (B, H)  candidate
    q_n: np.ndarray         # (B, H)  W_n h_{t-1} + b_hn, the product the reset gate scales
    params: Params


def step_forward(x_t: np.ndarray, state: tuple[np.ndarray], params: Params
                 ) -> tuple[tuple[np.ndarray], StepCache]:
    """One step. x_t (B, In); state (h_{t-1},) with h_{t-1} (B, H). Returns ((h_t,), cache)."""
    (h_prev,) = state
    U, W, b_ih, b_hh, *_ = params
    ax_r, ax_z, ax_n = np.split(x_t @ U.T + b_ih, 3, axis=1)        # (B, H) each
    q_r, q_z, q_n = np.split(h_prev @ W.T + b_hh, 3, axis=1)        # (B, H) each
    r = sigmoid(ax_r + q_r)                             # (B, H) reset gate
    z = sigmoid(ax_z + q_z)                             # (B, H) update gate
    n = np.tanh(ax_n + r * q_n)                         # (B, H) candidate
    h = (1 - z) * n + z * h_prev                        # (B, H) h_t
    return (h,), StepCache(x_t, h_prev, r, z, n, q_n, params)


def step_backward(d_state: tuple[np.ndarray], cache: StepCache
                  ) -> tuple[np.ndarray, tuple[np.ndarray], Params]:
    """Back through one step. d_state (dL/dh_t,) (B, H), the total gradient of h_t.

    Returns (dx_t (B, In), (dL/dh_{t-1},) through this step, this step's Params gradients).
    """
    (dh,) = d_state
    x, h_prev, r, z, n, q_n, (U, W, *_) = cache
    dz = dh * (h_prev - n)                              # (B, H) (G1)
    dn = dh * (1 - z)                                   # (B, H) (G2)
    da_n = dn * (1 - n * n)                             # (B, H) (G3)
    dr = da_n * q_n                                     # (B, H) (G4)
    dq_n = da_n * r                                     # (B, H) (G5)
    da_r = dr * r * (1 - r)                             # (B, H) (G6)
    da_z = dz * z * (1 - z)                             # (B, H)
    dax = np.concatenate([da_r, da_z, da_n], axis=1)    # (B, 3H) input side
    dq = np.concatenate([da_r, da_z, dq_n], axis=1)     # (B, 3H) recurrent side
    dx = dax @ U                                        # (B, In) dx_t = U^T dax
    dh_prev = dh * z + dq @ W                           # (B, H) (G7)
    dU = dax.T @ x                                      # (3H, In) dax x_t^T
    dW = dq.T @ h_prev                                  # (3H, H) dq h_{t-1}^T
    return dx, (dh_prev,), Params(dU, dW, dax.sum(axis=0), dq.sum(axis=0))


CELL = register_cell(Cell("gru", BLOCKS, ("h",), step_forward, step_backward,
                          kernels=built_in_kernels("gru")))
