"""Row-sparse gradients.

An embedding lookup touches only the rows of the token ids in a batch, so its gradient is zero
everywhere else. ``SparseRows`` holds just the touched rows: ``dense[indices] = values`` and every
other row is zero. ``indices`` are unique and sorted, so norms and updates computed on ``values``
are exact.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SparseRows:
    """A gradient of shape ``shape`` that is zero outside the rows ``indices``.

    indices: (K,) int64, unique, sorted ascending
    values:  (K, *shape[1:]) the gradient rows
    shape:   the full (dense) shape, e.g. (vocab_size, embedding_dim)
    """

    indices: np.ndarray
    values: np.ndarray
    shape: tuple[int, ...]

    @property
    def dtype(self) -> np.dtype:
        return self.values.dtype

    def to_dense(self) -> np.ndarray:
        dense = np.zeros(self.shape, dtype=self.values.dtype)
        dense[self.indices] = self.values
        return dense

    def sum_of_squares(self) -> float:
        return float(np.vdot(self.values, self.values))


def as_dense(grad: np.ndarray | SparseRows) -> np.ndarray:
    """The dense array of a gradient that may be row-sparse."""
    return grad.to_dense() if isinstance(grad, SparseRows) else grad
