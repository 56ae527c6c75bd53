"""Recurrent cells, each in two forms: a reference you can read, and fast paths that equal it.

A cell is described once, as a ``Cell`` (``protocol.py``): its name, its state, its parameter
row blocks, its reference step forward and back, and its kernels on the fast paths. Each
built-in cell registers itself beside its reference step:

- ``rnn.py`` (``rnn_tanh``, ``rnn_relu``, ``rnn_sigmoid``), ``lstm.py``, ``gru.py``: plain
  NumPy, each line one equation of docs/math.md::

      step_forward(x_t, state, params)  -> (state, cache)
      step_backward(d_state, cache)     -> (dx_t, d_state_prev, d_params)

  with ``state`` the tuple (h,) or (h, c) for the LSTM, each (B, H), and ``params`` a
  ``Params(U, W, b_ih, b_hh)``;
- ``mingru.py``, ``minlstm.py``: the parallel RNNs of Feng et al. 2024 (no W).

Every path runs a cell through the same three functions (``protocol.py``):

- ``reference.py``: loops a cell's steps over time; runs every cell;
- ``numpy_path.py`` with ``numpy_rnn.py``, ``numpy_lstm.py``, ``numpy_gru.py``, ``numpy_min.py``:
  the fast NumPy path (input side in one product, in-place ufuncs, prescaled gates);
- ``numba_path.py`` with ``numba_rnn.py``, ``numba_lstm.py``, ``numba_gru.py``, ``numba_min.py``:
  the compiled path, the whole time loop in one compiled call.

The fast paths are tested against the reference (float64 to 1e-12, float32 to 1e-5).
``bptt.backend`` chooses the path; ``register_cell`` adds your own cell (docs/cells.md).
"""
from __future__ import annotations

from . import rnn  # noqa: F401, I001  (each registers its cells, in this order: MODES)
from . import lstm  # noqa: F401
from . import gru  # noqa: F401
from . import mingru  # noqa: F401
from . import minlstm  # noqa: F401
from ._params import Params, sigmoid
from .protocol import MODES, Cell, get_cell, lazy, register_cell, unregister_cell

__all__ = ["Cell", "MODES", "Params", "get_cell", "lazy", "register_cell", "sigmoid", "unregister_cell"]
