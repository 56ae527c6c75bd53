"""Recurrent cells, each in two forms: a reference you can read, and fast paths that equal it.

``rnn.py``, ``lstm.py``, ``gru.py`` hold the reference: one step forward and one step back,
plain NumPy, each line one equation of docs/math.md::

    step_forward(x_t, state, params)  -> (state, cache)
    step_backward(d_state, cache)     -> (dx_t, d_state_prev, d_params)

with ``state`` the tuple (h,) or (h, c) for the LSTM, each (B, H), and ``params`` a
``Params(U, W, b_ih, b_hh)``. ``reference.py`` loops them over time for a whole layer.

The fast paths compute the same numbers for a whole layer at once (tested against the
reference, float64 to 1e-12 and float32 to 1e-5):

- ``numpy_path.py`` with ``numpy_rnn.py``, ``numpy_lstm.py``, ``numpy_gru.py``: the fast NumPy
  path (input side in one product, in-place ufuncs, prescaled gates, ``loop_form``/``run``);
- ``numba_path.py`` with ``numba_rnn.py``, ``numba_lstm.py``, ``numba_gru.py``: the compiled
  path (optional, ``pip install 'bptt[fast]'``): the whole time loop in one compiled call.

``bptt.backend`` chooses which one runs.
"""
from __future__ import annotations

from functools import partial
from typing import Callable, NamedTuple

from . import gru, lstm, numpy_gru, numpy_lstm, numpy_rnn, rnn
from ._params import Params


class FastNumpy(NamedTuple):
    """A cell's loop on the fast NumPy path (the functions of ``numpy_<cell>.py``)."""
    forward: Callable       # (xp, state0, W, b_hh, batch_sizes) -> (states, cache), xp = U x_t + b_ih
    backward: Callable      # (d_hs, d_final, cache, W) -> (da, d_state0, dW, db_hh, dW_hr)
    loop_form: Callable     # b_hh -> (scale, ahead): what the input product folds in
    run: Callable           # (xs, state0, W, b_hh, batch_sizes) -> (states, cache), xs in loop form
    #                         (the LSTM's run and backward also take W_hr=, its projection)
    step_cache: Callable    # (cache, x, params, t, rows) -> the reference's StepCache of step t


class Cell(NamedTuple):
    mode: str                   # "rnn_tanh", "rnn_relu", "rnn_sigmoid", "lstm" or "gru"
    gates: int                  # row blocks in weight_ih / weight_hh (1, 4 or 3)
    num_states: int             # 2 for the LSTM (h, c), 1 otherwise
    nonlinearity: str | None    # the RNN's f ("tanh", "relu", "sigmoid"); None for LSTM, GRU
    step_forward: Callable      # the reference step (rnn.py, lstm.py, gru.py)
    step_backward: Callable
    fast: FastNumpy             # the fast NumPy path's loop


MODES = ("rnn_tanh", "rnn_relu", "rnn_sigmoid", "lstm", "gru")


def _fast(module, **kw) -> FastNumpy:
    bind = (lambda f: partial(f, **kw)) if kw else (lambda f: f)
    return FastNumpy(bind(module.forward), module.backward, module.loop_form, bind(module.run),
                     module.step_cache)


def get_cell(mode: str) -> Cell:
    """The cell for a mode name."""
    if mode == "lstm":
        return Cell(mode, lstm.GATES, 2, None, lstm.step_forward, lstm.step_backward, _fast(numpy_lstm))
    if mode == "gru":
        return Cell(mode, gru.GATES, 1, None, gru.step_forward, gru.step_backward, _fast(numpy_gru))
    if mode.startswith("rnn_") and mode[4:] in rnn.NONLINEARITIES:
        f = mode[4:]
        return Cell(mode, rnn.GATES, 1, f, partial(rnn.step_forward, nonlinearity=f), rnn.step_backward,
                    _fast(numpy_rnn, nonlinearity=f))
    raise ValueError(f"unknown cell mode {mode!r}; expected one of {MODES}")


__all__ = ["Cell", "FastNumpy", "MODES", "Params", "get_cell"]
