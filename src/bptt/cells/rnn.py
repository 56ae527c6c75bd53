r"""The vanilla (Elman) RNN, one step forward and one step back: the reference.

Equations (docs/math.md section 3)::

    a_t = U x_t + b_ih + W h_{t-1} + b_hh         pre-activation
    h_t = f(a_t)                                  f in {tanh, relu, sigmoid}

U = ``weight_ih`` (H, In) input -> hidden, W = ``weight_hh`` (H, H) hidden -> hidden, the same at
every step. The output layer y_t = softmax(V h_t + c) is a separate Dense layer.

Backward. With dh = dL/dh_t (from the output at t plus from step t+1)::

    da_t     = dh * f'(a_t)        f' from the output h_t = f(a_t):
                                   tanh: 1 - h_t^2;  sigmoid: h_t (1 - h_t);  relu: [h_t > 0]
    dh_{t-1} = W^T da_t            dx_t = U^T da_t
    dU = da_t x_t^T    dW = da_t h_{t-1}^T    db_ih = db_hh = da_t

for this step; over a sequence the parameter gradients are summed over steps, because U, W and
the biases are shared by all of them (``reference.py``). Unrolled, dL/dh_t collects
``W^T diag(f'(a_{t+1})) ... W^T diag(f'(a_k)) dL_k/dh_k`` for every later k: a product of k - t
Jacobians, which is why gradients vanish or explode over long spans (math.md section 4).

Shapes: a batch is rows, so ``U x_t`` is ``x_t @ U.T`` and ``W^T da_t`` is ``da @ W``.
The fast paths computing the same function: ``numpy_rnn.py`` and ``numba_rnn.py``.
"""
from __future__ import annotations

from typing import NamedTuple

from functools import partial

import numpy as np

from ._params import Params, sigmoid
from .protocol import Cell, built_in_kernels, register_cell

BLOCKS = ("W",)                   # one row block in weight_ih / weight_hh
GATES = len(BLOCKS)
NONLINEARITIES = ("tanh", "relu", "sigmoid")


class StepCache(NamedTuple):
    x: np.ndarray           # (B, In) x_t
    h_prev: np.ndarray      # (B, H)  h_{t-1}
    h: np.ndarray           # (B, H)  h_t = f(a_t)
    params: Params
    nonlinearity: str


def activate(a: np.ndarray, nonlinearity: str) -> np.ndarray:
    """f(a)."""
    if nonlinearity == "tanh":
        return np.tanh(a)
    if nonlinearity == "relu":
        return np.maximum(a, 0)
    if nonlinearity == "sigmoid":
        return sigmoid(a)
    raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")


def derivative(h: np.ndarray, nonlinearity: str) -> np.ndarray:
    """f'(a) written with the output h = f(a)."""
    if nonlinearity == "tanh":
        return 1 - h * h
    if nonlinearity == "relu":
        return (h > 0).astype(h.dtype)          # 0 at a = 0, as in PyTorch
    return h * (1 - h)


def step_forward(x_t: np.ndarray, state: tuple[np.ndarray], params: Params,
                 nonlinearity: str = "tanh") -> tuple[tuple[np.ndarray], StepCache]:
    """One step. x_t (B, In); state (h_{t-1},) with h_{t-1} (B, H). Returns ((h_t,), cache)."""
    (h_prev,) = state
    U, W, b_ih, b_hh, *_ = params
    a = x_t @ U.T + b_ih + h_prev @ W.T + b_hh          # (B, H) a_t = U x_t + W h_{t-1} + b
    h = activate(a, nonlinearity)                       # (B, H) h_t = f(a_t)
    return (h,), StepCache(x_t, h_prev, h, params, nonlinearity)


def step_backward(d_state: tuple[np.ndarray], cache: StepCache
                  ) -> tuple[np.ndarray, tuple[np.ndarray], Params]:
    """Back through one step. d_state (dL/dh_t,) (B, H), the total gradient of h_t.

    Returns (dx_t (B, In), (dL/dh_{t-1},) through this step, this step's Params gradients).
    """
    (dh,) = d_state
    x, h_prev, h, (U, W, *_), nonlinearity = cache
    da = dh * derivative(h, nonlinearity)               # (B, H) da_t = dh * f'(a_t)
    dx = da @ U                                         # (B, In) dx_t = U^T da_t
    dh_prev = da @ W                                    # (B, H) dh_{t-1} = W^T da_t
    dU = da.T @ x                                       # (H, In) da_t x_t^T
    dW = da.T @ h_prev                                  # (H, H) da_t h_{t-1}^T
    db = da.sum(axis=0)                                 # (H,) db_ih = db_hh = da_t
    return dx, (dh_prev,), Params(dU, dW, db, db)


for _f in NONLINEARITIES:           # rnn_tanh, rnn_relu, rnn_sigmoid
    register_cell(Cell(f"rnn_{_f}", BLOCKS, ("h",), partial(step_forward, nonlinearity=_f), step_backward,
                       nonlinearity=_f,
                       kernels=built_in_kernels("rnn")))
