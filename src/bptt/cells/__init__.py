"""Recurrent cells: each module runs one cell type forward and backward over a sorted batch.

Every cell module exposes the same functions (see ``lstm.py`` for the fullest example)::

    forward(xp, state0, W, b_hh, batch_sizes)     -> (states, cache)
    backward(d_hs, d_final, cache, W)              -> (da, d_state0, dW, db_hh)
    loop_form(b_hh)                                -> (scale, ahead)
    run(xs, state0, W, b_hh, batch_sizes)          -> (states, cache)

where ``xp`` (T, B, G*H) is U x_t + bias_ih for every step (the input projection is one matrix
product over all steps, done by ``bptt.sequence``), ``states`` are (T+1, B, H) buffers with the
initial state at index 0 (h, and c for the LSTM), and ``da`` is the gradient of xp.

``forward`` is ``run`` after ``xs = scale * (xp + ahead)``: the part of bias_hh that can be added
before the loop, and the sigmoid gates' halving (``_gates.py``). ``bptt.sequence`` folds both
into the input projection's weights, so the fast path never makes those passes over xp.
"""
from __future__ import annotations

from functools import partial
from typing import Callable, NamedTuple

from . import gru, lstm, rnn


class Cell(NamedTuple):
    mode: str            # "rnn_tanh", "rnn_relu", "rnn_sigmoid", "lstm" or "gru"
    gates: int           # row blocks in weight_ih / weight_hh (1, 4 or 3)
    num_states: int      # 2 for the LSTM (h, c), 1 otherwise
    forward: Callable
    backward: Callable
    loop_form: Callable
    run: Callable


MODES = ("rnn_tanh", "rnn_relu", "rnn_sigmoid", "lstm", "gru")


def get_cell(mode: str) -> Cell:
    """The cell for a mode name."""
    if mode == "lstm":
        return Cell(mode, lstm.GATES, 2, lstm.forward, lstm.backward, lstm.loop_form, lstm.run)
    if mode == "gru":
        return Cell(mode, gru.GATES, 1, gru.forward, gru.backward, gru.loop_form, gru.run)
    if mode.startswith("rnn_") and mode[4:] in rnn.NONLINEARITIES:
        f = mode[4:]
        return Cell(mode, rnn.GATES, 1, partial(rnn.forward, nonlinearity=f), rnn.backward,
                    rnn.loop_form, partial(rnn.run, nonlinearity=f))
    raise ValueError(f"unknown cell mode {mode!r}; expected one of {MODES}")
