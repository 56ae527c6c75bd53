"""What every cell step reads: the layer's parameters, and the logistic sigmoid."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Params(NamedTuple):
    """One direction of one layer, PyTorch's names in brackets; G = 1 (RNN), 4 (LSTM), 3 (GRU).

    P is the size of h: H, or the LSTM's ``proj_size`` when it projects h_t = W_hr (o_t *
    tanh(c_t)). A layer built with ``bias=False`` passes zero biases (and drops their gradients);
    a cell that is not recurrent (minGRU, minLSTM) gets W = b_hh = None. The same tuple type
    carries the gradients (dU, dW, db_ih, db_hh, dW_hr, extra) back.
    """
    U: np.ndarray       # (G*H, In)  [weight_ih]  input -> hidden
    W: np.ndarray       # (G*H, P)   [weight_hh]  hidden -> hidden, the same at every step
    b_ih: np.ndarray    # (G*H,)     [bias_ih]
    b_hh: np.ndarray    # (G*H,)     [bias_hh]
    W_hr: np.ndarray | None = None   # (P, H) [weight_hr] the LSTM's projection, or None
    extra: dict | None = None        # a cell's further vectors by name, e.g. {"weight_ch": (3H,)}

    def map(self, f) -> "Params":
        """f applied to every array, the extra ones included (None stays None)."""
        extra = None if self.extra is None else {k: f(v) for k, v in self.extra.items()}
        return Params(*(None if p is None else f(p) for p in self[:5]), extra)

    def plus(self, other: "Params") -> "Params":
        """The sum of two gradients (None stays None): a step's added to the running total."""
        extra = None if self.extra is None else {k: v + other.extra[k] for k, v in self.extra.items()}
        return Params(*(None if s is None else s + d for s, d in zip(self[:5], other[:5])), extra)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """sigma(x) = 1 / (1 + e^-x), evaluated as (1 + tanh(x/2)) / 2 (docs/math.md section 7):
    the same function, and e^-x never overflows."""
    return 0.5 * np.tanh(0.5 * x) + 0.5
