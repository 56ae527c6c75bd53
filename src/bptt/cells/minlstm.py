r"""minLSTM (Feng, Tung, Ahmed, Bengio, Hajimirsadeghi, "Were RNNs All We Needed?", 2024), one step
forward and one step back: the reference.

As minGRU (``mingru.py``) the gates read x_t only, so there is no W and the recurrence is
elementwise; the two gates are normalised so that they sum to one (docs/math.md section 9)::

    [a_f; a_i; a_h] = U x_t + b_ih            row blocks f, i, h~ of weight_ih (3H, In), bias_ih (3H,)
    f_t = sigma(a_f)    i_t = sigma(a_i)      h~_t = a_h
    f'_t = f_t / (f_t + i_t)                  i'_t = i_t / (f_t + i_t)
    h_t = f'_t * h_{t-1} + i'_t * h~_t

The state is h only (no c). Backward, for one step, given dh = dL/dh_t: with s = f + i,
df'/df = i / s^2, df'/di = -f / s^2 and i' = 1 - f', so dL/df = (i / s^2) dh (h_{t-1} - h~) and
dL/di = -(f / s^2) dh (h_{t-1} - h~); through the sigmoids, with k = dh (h_{t-1} - h~) f' i'::

    da_f = k (1 - f)        da_i = -k (1 - i)        da_h = dh * i'
    dh_{t-1} = dh * f'                         (a diagonal Jacobian, as in minGRU)
    dx_t = U^T da    dU = da x_t^T    db_ih = da,    da = [da_f; da_i; da_h]

The fast paths computing the same function: ``numpy_min.py`` and ``numba_min.py``.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._params import Params, sigmoid
from .protocol import Cell, built_in_kernels, register_cell

BLOCKS = ("f", "i", "h~")   # row blocks of weight_ih
GATES = len(BLOCKS)


class StepCache(NamedTuple):
    x: np.ndarray           # (B, In) x_t
    h_prev: np.ndarray      # (B, H)  h_{t-1}
    f: np.ndarray           # (B, H)  forget gate sigma(a_f)
    i: np.ndarray           # (B, H)  input gate sigma(a_i)
    f_n: np.ndarray         # (B, H)  f' = f / (f + i)
    i_n: np.ndarray         # (B, H)  i' = i / (f + i)
    h_tilde: np.ndarray     # (B, H)  candidate
    params: Params


def step_forward(x_t: np.ndarray, state: tuple[np.ndarray], params: Params
                 ) -> tuple[tuple[np.ndarray], StepCache]:
    """One step. x_t (B, In); state (h_{t-1},), (B, H). Returns ((h_t,), cache)."""
    (h_prev,) = state
    a_f, a_i, h_tilde = np.split(x_t @ params.U.T + params.b_ih, 3, axis=1)     # (B, H) each
    f, i = sigmoid(a_f), sigmoid(a_i)                   # (B, H) f_t, i_t
    s = f + i
    f_n, i_n = f / s, i / s                             # (B, H) f'_t, i'_t
    h = f_n * h_prev + i_n * h_tilde                    # (B, H) h_t
    return (h,), StepCache(x_t, h_prev, f, i, f_n, i_n, h_tilde, params)


def step_backward(d_state: tuple[np.ndarray], cache: StepCache
                  ) -> tuple[np.ndarray, tuple[np.ndarray], Params]:
    """Back through one step. d_state (dL/dh_t,) (B, H). Returns (dx_t, (dh_{t-1},), Params)."""
    (dh,) = d_state
    x, h_prev, f, i, f_n, i_n, h_tilde, params = cache
    k = dh * (h_prev - h_tilde) * f_n * i_n             # (B, H)
    da = np.concatenate([k * (1 - f), -k * (1 - i), dh * i_n], axis=1)    # (B, 3H)
    dh_prev = dh * f_n                                  # (B, H)
    return da @ params.U, (dh_prev,), Params(da.T @ x, None, da.sum(axis=0), None)


CELL = register_cell(Cell("minlstm", BLOCKS, ("h",), step_forward, step_backward, recurrent=False,
                          kernels=built_in_kernels("min", "minlstm_kernels")))
