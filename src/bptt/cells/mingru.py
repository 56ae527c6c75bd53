r"""minGRU (Feng, Tung, Ahmed, Bengio, Hajimirsadeghi, "Were RNNs All We Needed?", 2024), one step
forward and one step back: the reference.

The gates read x_t only, never h_{t-1}, so there is no W: every matrix product of a sequence is
one product before the time loop, and the recurrence itself is elementwise (docs/math.md
section 9)::

    [a_z; a_h] = U x_t + b_ih                 row blocks z, h~ of weight_ih (2H, In), bias_ih (2H,)
    z_t  = sigma(a_z)                         update gate
    h~_t = a_h                                candidate (no non-linearity)
    h_t  = (1 - z_t) * h_{t-1} + z_t * h~_t

Backward, for one step, given dh = dL/dh_t::

    dz        = dh * (h~_t - h_{t-1})
    da_z      = dz * z (1 - z)                 da_h = dh * z
    dh_{t-1}  = dh * (1 - z)                   (the only path back in time: a diagonal Jacobian)
    dx_t = U^T da    dU = da x_t^T    db_ih = da,    da = [da_z; da_h]

The fast paths computing the same function: ``numpy_min.py`` and ``numba_min.py``.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._params import Params, sigmoid
from .protocol import Cell, built_in_kernels, register_cell

BLOCKS = ("z", "h~")        # row blocks of weight_ih
GATES = len(BLOCKS)


class StepCache(NamedTuple):
    x: np.ndarray           # (B, In) x_t
    h_prev: np.ndarray      # (B, H)  h_{t-1}
    z: np.ndarray           # (B, H)  update gate
    h_tilde: np.ndarray     # (B, H)  candidate
    params: Params


def step_forward(x_t: np.ndarray, state: tuple[np.ndarray], params: Params
                 ) -> tuple[tuple[np.ndarray], StepCache]:
    """One step. x_t (B, In); state (h_{t-1},), (B, H). Returns ((h_t,), cache)."""
    (h_prev,) = state
    a_z, h_tilde = np.split(x_t @ params.U.T + params.b_ih, 2, axis=1)     # (B, H) each
    z = sigmoid(a_z)                                    # (B, H) z_t
    h = (1 - z) * h_prev + z * h_tilde                  # (B, H) h_t
    return (h,), StepCache(x_t, h_prev, z, h_tilde, params)


def step_backward(d_state: tuple[np.ndarray], cache: StepCache
                  ) -> tuple[np.ndarray, tuple[np.ndarray], Params]:
    """Back through one step. d_state (dL/dh_t,) (B, H). Returns (dx_t, (dh_{t-1},), Params)."""
    (dh,) = d_state
    x, h_prev, z, h_tilde, params = cache
    da_z = dh * (h_tilde - h_prev) * z * (1 - z)        # (B, H)
    da_h = dh * z                                       # (B, H)
    da = np.concatenate([da_z, da_h], axis=1)           # (B, 2H)
    dh_prev = dh * (1 - z)                              # (B, H)
    return da @ params.U, (dh_prev,), Params(da.T @ x, None, da.sum(axis=0), None)


CELL = register_cell(Cell("mingru", BLOCKS, ("h",), step_forward, step_backward, recurrent=False,
                          kernels=built_in_kernels("min", "mingru_kernels")))
