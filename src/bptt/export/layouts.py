r"""Where each gate's rows sit in PyTorch's (and so bptt's), ONNX's and Keras's weight tensors.

bptt stores a recurrent layer as PyTorch does: ``weight_ih`` (G*H, In) and ``weight_hh``
(G*H, H) are G row blocks of H rows, one per gate, and ``bias_ih``, ``bias_hh`` (G*H,) follow the
same blocks. The other runtimes stack the same blocks in another order (written here in
PyTorch's letters: LSTM i input, f forget, g cell candidate, o output; GRU r reset, z update,
n new/candidate):

=======  ===========  ======================================  ===========================================
cell     PyTorch      ONNX (``LSTM`` / ``GRU`` / ``RNN`` op)    Keras 3 (``LSTM`` / ``GRU`` / ``SimpleRNN``)
=======  ===========  ======================================  ===========================================
LSTM     i f g o      i o f c   (c = PyTorch's g)             i f c o   (c = g): PyTorch's order
GRU      r z n        z r h     (h = PyTorch's n)             z r h     (h = n)
RNN      one block    one block                               one block
=======  ===========  ======================================  ===========================================

and lay the tensors out as

- ONNX: ``W`` [D, G*H, In] = weight_ih per direction (forward, then reverse), ``R`` [D, G*H, H]
  = weight_hh, ``B`` [D, 2*G*H] = [bias_ih ; bias_hh] (``Wb`` then ``Rb``), all in ONNX's gate
  order. The GRU needs ``linear_before_reset=1``: n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),
  PyTorch's formula (ONNX's default puts r inside the product, before R_h).
- Keras: ``kernel`` (In, G*H) = weight_ih transposed, ``recurrent_kernel`` (H, G*H) =
  weight_hh transposed; the LSTM's and SimpleRNN's one ``bias`` (G*H,) is bias_ih + bias_hh; the
  GRU with ``reset_after=True`` (Keras 3's default, PyTorch's formula) keeps both, ``bias``
  (2, G*H) = [bias_ih ; bias_hh].
"""
from __future__ import annotations

import numpy as np

# the gate blocks of each framework, in PyTorch's letters, per bptt cell mode
ORDERS = {
    "lstm": {"torch": "ifgo", "onnx": "iofg", "keras": "ifgo"},
    "gru": {"torch": "rzn", "onnx": "zrn", "keras": "zrn"},
    "rnn": {"torch": "h", "onnx": "h", "keras": "h"},
}


def cell_kind(mode: str) -> str:
    """"lstm", "gru" or "rnn" (for rnn_tanh, rnn_relu, rnn_sigmoid)."""
    return "rnn" if mode.startswith("rnn") else mode


def reorder(rows: np.ndarray, mode: str, source: str, target: str) -> np.ndarray:
    """``rows`` (G*H, ...) with its G gate blocks moved from ``source``'s order to ``target``'s
    ("torch", "onnx" or "keras")."""
    orders = ORDERS[cell_kind(mode)]
    have, want = orders[source], orders[target]
    if rows.shape[0] % len(have):
        raise ValueError(f"{rows.shape[0]} rows do not split into {len(have)} gate blocks ({have})")
    blocks = dict(zip(have, np.split(rows, len(have), axis=0)))
    return np.concatenate([blocks[g] for g in want], axis=0)
