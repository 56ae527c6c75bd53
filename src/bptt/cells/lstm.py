r"""Long short-term memory (LSTM), one step forward and one step back: the reference.

Equations (PyTorch's, gate rows stacked in the order i, f, g, o; docs/math.md section 5)::

    a_t = U x_t + b_ih + W h_{t-1} + b_hh = [a_i; a_f; a_g; a_o]      (4H,)
    i_t = sigma(a_i)        input gate
    f_t = sigma(a_f)        forget gate
    g_t = tanh (a_g)        candidate cell
    o_t = sigma(a_o)        output gate
    c_t = f_t * c_{t-1} + i_t * g_t
    h_t = o_t * tanh(c_t)

U = ``weight_ih`` (4H, In), W = ``weight_hh`` (4H, P). With ``proj_size`` P > 0 (PyTorch's
projection, ``weight_hr`` = W_hr (P, H)) the state h is projected down to P units::

    h_t = W_hr m_t,   m_t = o_t * tanh(c_t)                           (h of size P, c of size H)

and without it P = H and h_t = m_t.

Backward, for one step, given dh = dL/dh_t (from the output at t and from step t+1) and
dc = dL/dc_t (from step t+1)::

    dm = W_hr^T dh  (dm = dh without projection)     dW_hr = dh m_t^T   (P1)
    do = dm * tanh(c_t)                                                   (L3)
    dc = dc + dm * o_t * (1 - tanh(c_t)^2)                                (L2)
    di = dc * g_t          df = dc * c_{t-1}          dg = dc * i_t       (L4)
    dc_{t-1} = dc * f_t
    da_i = di * i (1 - i)  da_f = df * f (1 - f)  da_g = dg * (1 - g^2)  da_o = do * o (1 - o)  (L5)
    dh_{t-1} = W^T da        dx_t = U^T da           with da = [da_i; da_f; da_g; da_o]   (L6)
    dU = da x_t^T    dW = da h_{t-1}^T    db_ih = db_hh = da

(the parameter gradients of one step; ``reference.py`` sums them over steps).
The fast paths computing the same function: ``numpy_lstm.py`` and ``numba_lstm.py``.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._params import Params, sigmoid
from .protocol import Cell, built_in_kernels, register_cell

BLOCKS = ("i", "f", "g", "o")     # row blocks of weight_ih / weight_hh
GATES = len(BLOCKS)


class StepCache(NamedTuple):
    x: np.ndarray           # (B, In) x_t
    h_prev: np.ndarray      # (B, P)  h_{t-1}
    c_prev: np.ndarray      # (B, H)  c_{t-1}
    i: np.ndarray           # (B, H)  input gate
    f: np.ndarray           # (B, H)  forget gate
    g: np.ndarray           # (B, H)  candidate
    o: np.ndarray           # (B, H)  output gate
    tanh_c: np.ndarray      # (B, H)  tanh(c_t)
    params: Params


def step_forward(x_t: np.ndarray, state: tuple[np.ndarray, np.ndarray], params: Params
                 ) -> tuple[tuple[np.ndarray, np.ndarray], StepCache]:
    """One step. x_t (B, In); state (h_{t-1} (B, P), c_{t-1} (B, H)).

    Returns ((h_t, c_t), cache).
    """
    h_prev, c_prev = state
    U, W, b_ih, b_hh, W_hr, _ = params
    a = x_t @ U.T + b_ih + h_prev @ W.T + b_hh          # (B, 4H) a_t
    a_i, a_f, a_g, a_o = np.split(a, 4, axis=1)         # (B, H) each
    i = sigmoid(a_i)                                    # (B, H) input gate
    f = sigmoid(a_f)                                    # (B, H) forget gate
    g = np.tanh(a_g)                                    # (B, H) candidate
    o = sigmoid(a_o)                                    # (B, H) output gate
    c = f * c_prev + i * g                              # (B, H) c_t
    tanh_c = np.tanh(c)                                 # (B, H)
    h = o * tanh_c                                      # (B, H) h_t = o * tanh(c_t)
    if W_hr is not None:
        h = h @ W_hr.T                                  # (B, P) h_t = W_hr (o * tanh(c_t))
    return (h, c), StepCache(x_t, h_prev, c_prev, i, f, g, o, tanh_c, params)


def step_backward(d_state: tuple[np.ndarray, np.ndarray], cache: StepCache
                  ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], Params]:
    """Back through one step. d_state (dL/dh_t (B, P), dL/dc_t (B, H)): dh the total gradient
    of h_t, dc the gradient c_t gets from step t+1 (c_t's path into h_t is added here).

    Returns (dx_t (B, In), (dL/dh_{t-1}, dL/dc_{t-1}) through this step, this step's Params
    gradients).
    """
    dh, dc = d_state
    x, h_prev, c_prev, i, f, g, o, tanh_c, (U, W, _, _, W_hr, _) = cache
    dm = dh if W_hr is None else dh @ W_hr              # (B, H) (P1) dL/d(o * tanh(c_t))
    do = dm * tanh_c                                    # (B, H) (L3)
    dc = dc + dm * o * (1 - tanh_c * tanh_c)            # (B, H) (L2) dc_t complete
    di = dc * g                                         # (B, H) (L4)
    df = dc * c_prev                                    # (B, H)
    dg = dc * i                                         # (B, H)
    dc_prev = dc * f                                    # (B, H) dc_{t-1} through c_t
    da_i = di * i * (1 - i)                             # (B, H) (L5) sigma' = s (1 - s)
    da_f = df * f * (1 - f)                             # (B, H)
    da_g = dg * (1 - g * g)                             # (B, H) tanh' = 1 - tanh^2
    da_o = do * o * (1 - o)                             # (B, H)
    da = np.concatenate([da_i, da_f, da_g, da_o], axis=1)   # (B, 4H)
    dx = da @ U                                         # (B, In) dx_t = U^T da
    dh_prev = da @ W                                    # (B, P) (L6) dh_{t-1} = W^T da
    dU = da.T @ x                                       # (4H, In) da x_t^T
    dW = da.T @ h_prev                                  # (4H, P) da h_{t-1}^T
    db = da.sum(axis=0)                                 # (4H,) db_ih = db_hh = da
    dW_hr = None if W_hr is None else dh.T @ (o * tanh_c)   # (P, H) (P1) dh m_t^T
    return dx, (dh_prev, dc_prev), Params(dU, dW, db, db, dW_hr)


CELL = register_cell(Cell("lstm", BLOCKS, ("h", "c"), step_forward, step_backward,
                          kernels=built_in_kernels("lstm")))
