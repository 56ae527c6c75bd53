r"""Synthetic long-range tasks, generated from a seed: the adding problem and the copy task.

**The adding problem** (Hochreiter & Schmidhuber 1997; the version of Le, Jaitly & Hinton 2015).
Each sequence has T steps of two features: a value u_t ~ U[0, 1] and a marker m_t in {0, 1}.
Exactly two markers are 1, one at a random step of the first half [0, T/2) and one in the second
half [T/2, T). The target is the sum of the two marked values, in [0, 2]::

    x (T, B, 2):  x[t, b] = (u_t, m_t)        y (B, 1):  y_b = sum_t m_t u_t

Always predicting 1 (the mean) gives MSE = Var(u_1 + u_2) = 2/12 = 0.1667
(``ADDING_BASELINE_MSE``); a model counts as having solved the task below 0.01
(``ADDING_SOLVED_MSE``). To get there it must carry a value across up to T - 1 steps: the first
marker can be T/2 or more steps before the loss.

**The copy (memory) task** (Hochreiter & Schmidhuber 1997; the version of Arjovsky, Shah & Bengio
2016). Symbols 1..K (K = ``n_symbols``, default 8) and two special ones: 0 = blank, K + 1 =
delimiter. A sequence is ``length`` (S, default 10) random symbols, T - 1 blanks, the delimiter,
then S blanks; the target is blanks everywhere except the last S steps, which must repeat the S
symbols. Total length T + 2S. Inputs are one-hot (K + 2 classes); targets are class ids (T + 2S,
B). A model without memory predicts blanks and then guesses uniformly among K symbols: cross-entropy
S log K / (T + 2S) per step (``copy_baseline``).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

ADDING_BASELINE_MSE = 1.0 / 6.0      # Var(u_1 + u_2), u ~ U[0, 1]
ADDING_SOLVED_MSE = 0.01


def adding_problem(batch_size: int, T: int, rng: np.random.Generator, dtype="float32"
                   ) -> tuple[np.ndarray, np.ndarray]:
    """A batch of the adding problem: x (T, B, 2) = (value, marker), y (B, 1) = the marked sum."""
    if T < 2:
        raise ValueError(f"the adding problem needs T >= 2 (one marker in each half), got T = {T}")
    B, half = batch_size, T // 2
    values = rng.random((T, B))                                        # (T, B) u_t ~ U[0, 1]
    first = rng.integers(0, half, size=B)                              # (B,) in [0, T/2)
    second = rng.integers(half, T, size=B)                             # (B,) in [T/2, T)
    markers = np.zeros((T, B))
    rows = np.arange(B)
    markers[first, rows] = 1.0
    markers[second, rows] = 1.0
    x = np.stack([values, markers], axis=2).astype(dtype)              # (T, B, 2)
    y = (values[first, rows] + values[second, rows])[:, None].astype(dtype)   # (B, 1)
    return x, y


class CopyBatch(NamedTuple):
    x: np.ndarray             # (T + 2S, B, K + 2) one-hot inputs
    targets: np.ndarray       # (T + 2S, B) int class ids: 0 blank, 1..K symbols
    symbols: np.ndarray       # (S, B) the symbols to remember


def copy_task(batch_size: int, T: int, rng: np.random.Generator, n_symbols: int = 8,
              length: int = 10, dtype="float32") -> CopyBatch:
    """A batch of the copy task (see the module docstring): remember ``length`` symbols over T steps."""
    if T < 1 or length < 1 or n_symbols < 2:
        raise ValueError(f"copy_task needs T >= 1, length >= 1, n_symbols >= 2; got T={T}, "
                         f"length={length}, n_symbols={n_symbols}")
    S, K, B = length, n_symbols, batch_size
    total = T + 2 * S
    symbols = rng.integers(1, K + 1, size=(S, B))                      # (S, B) in 1..K
    ids = np.zeros((total, B), dtype=np.int64)                         # blanks
    ids[:S] = symbols
    ids[S + T - 1] = K + 1                                             # the delimiter
    targets = np.zeros((total, B), dtype=np.int64)
    targets[-S:] = symbols
    x = (ids[..., None] == np.arange(K + 2)).astype(dtype)             # (total, B, K + 2)
    return CopyBatch(x, targets, symbols)


def copy_baseline(T: int, n_symbols: int = 8, length: int = 10) -> float:
    """Mean cross-entropy per step of the memoryless strategy: S log K / (T + 2S)."""
    return length * math.log(n_symbols) / (T + 2 * length)
