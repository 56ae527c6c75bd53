"""The recurrent state: one small named tuple for every cell.

    State(h, c)        h (L*D, B, H) hidden state; c (L*D, B, H) the LSTM's cell state
    State(h)           RNN and GRU: c is None. Given to an LSTM, c = None means c = 0.

It unpacks like PyTorch's ``(h_n, c_n)``: ``out, (h_n, c_n), cache = lstm.forward(x)``.
Everything that carries a state (truncated BPTT, the language model, the encoder-decoder bridge,
beam search) works on it through ``map``, so no code asks which cell made it.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np


class State(NamedTuple):
    h: np.ndarray                   # (L*D, B, H)
    c: np.ndarray | None = None     # (L*D, B, H), LSTM only

    @classmethod
    def of(cls, state) -> "State | None":
        """A State from what a user may pass: None, a State, an array h, or a pair (h, c)."""
        if state is None or isinstance(state, State):
            return state
        if isinstance(state, (tuple, list)):
            if not 1 <= len(state) <= 2:
                raise ValueError(f"a state is h or a pair (h, c), got {len(state)} arrays")
            return cls(*state)
        return cls(state)

    def map(self, f: Callable[[np.ndarray], np.ndarray]) -> "State":
        """f applied to h and to c (if there is one): ``state.map(np.ndarray.copy)``,
        ``state.map(lambda a: a[:, rows])``."""
        return State(f(self.h), None if self.c is None else f(self.c))

    def arrays(self) -> tuple[np.ndarray, ...]:
        """(h,) or (h, c): the arrays the state holds."""
        return (self.h,) if self.c is None else (self.h, self.c)
