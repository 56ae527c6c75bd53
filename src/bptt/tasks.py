r"""Synthetic long-range tasks, generated from a seed, and a small loop that trains on them.

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

**Training** (``train_adding``): Adam or SGD on fresh batches every step, optional global-norm
clipping (the number and steps of clipped updates are kept), a fixed dev set evaluated every
``eval_every`` steps, "steps to solve" = the first evaluation below ``ADDING_SOLVED_MSE``, a test
set at the end, and optional gradient records (``bptt.diagnostics.record_every``). A step whose
loss or gradient is not finite stops the run and is reported as divergence.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .optim import SGD, Adam, clip_grad_norm, global_norm

ADDING_BASELINE_MSE = 1.0 / 6.0      # Var(u_1 + u_2), u ~ U[0, 1]
ADDING_SOLVED_MSE = 0.01


# ---- generators ----------------------------------------------------------------------------------

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


# ---- training ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunConfig:
    T: int
    steps: int = 2000                 # optimizer steps at most
    batch_size: int = 64
    optimizer: str = "adam"           # adam | sgd
    lr: float = 1e-3
    momentum: float = 0.0             # SGD only
    clip_norm: float | None = None    # global-norm clipping of every step's gradient
    eval_every: int = 100
    eval_size: int = 500
    test_size: int = 1000
    stop_when_solved: bool = True
    seed: int = 0                     # training batches; dev and test sets use seed + 1, + 2


@dataclass
class RunLog:
    loss: list = field(default_factory=list)        # training loss per step (NaN when it was)
    grad_norm: list = field(default_factory=list)   # global gradient norm before clipping
    clipped: list = field(default_factory=list)     # steps (1-based) whose gradient was clipped
    evals: list = field(default_factory=list)       # (step, dev MSE)
    steps_to_solve: int | None = None
    diverged_at: int | None = None                  # first step with a non-finite loss/gradient
    test_mse: float | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["loss"] = [None if not math.isfinite(v) else v for v in self.loss]
        d["grad_norm"] = [None if not math.isfinite(v) else v for v in self.grad_norm]
        return d


def evaluate_mse(model, x: np.ndarray, y: np.ndarray, chunk: int = 500) -> float:
    """MSE of ``model.predict`` over a fixed set, in chunks of rows."""
    sq, n = 0.0, 0
    for i in range(0, x.shape[1], chunk):
        pred = model.predict(x[:, i:i + chunk]).astype(np.float64)
        sq += float(np.sum((pred - y[i:i + chunk]) ** 2))
        n += pred.size
    return sq / n


def train_adding(model, cfg: RunConfig, recorder=None, metrics_path: str | Path | None = None,
                 progress=None) -> RunLog:
    """Train ``model`` (a ``Regressor`` with input_size 2) on the adding problem with ``cfg``.

    ``recorder``: called as ``recorder(k, model, x, y)`` before every update, k = the updates
    done so far (0, 1, ...; a ``bptt.diagnostics.GradientRecorder`` records every n-th). ``metrics_path``: append one JSON
    line per evaluation and at the end. ``progress``: called as progress(step, log) after each
    evaluation. Returns the ``RunLog``.
    """
    dtype = model.config.dtype
    rng = np.random.default_rng(cfg.seed)
    dev = adding_problem(cfg.eval_size, cfg.T, np.random.default_rng(cfg.seed + 1), dtype)
    if cfg.optimizer == "adam":
        opt = Adam(model.params, lr=cfg.lr)
    elif cfg.optimizer == "sgd":
        opt = SGD(model.params, lr=cfg.lr, momentum=cfg.momentum)
    else:
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {cfg.optimizer!r}")
    log, t0 = RunLog(), time.perf_counter()

    def write(record):
        if metrics_path is not None:
            with open(metrics_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")

    for step in range(1, cfg.steps + 1):
        x, y = adding_problem(cfg.batch_size, cfg.T, rng, dtype)
        if recorder is not None:
            recorder(step - 1, model, x, y)                            # after step - 1 updates
        with np.errstate(all="ignore"):
            loss, grads, _ = model.loss_and_grads(x, y)
            norm = global_norm(grads)
        log.loss.append(float(loss))
        log.grad_norm.append(float(norm))
        if not (math.isfinite(loss) and math.isfinite(norm)):
            log.diverged_at = step
            write({"event": "diverged", "step": step, "loss": repr(loss), "grad_norm": repr(norm)})
            break
        if cfg.clip_norm is not None and norm > cfg.clip_norm:
            clip_grad_norm(grads, cfg.clip_norm)
            log.clipped.append(step)
        opt.step(grads)
        if step % cfg.eval_every == 0 or step == cfg.steps:
            with np.errstate(all="ignore"):
                dev_mse = evaluate_mse(model, *dev)
            log.evals.append((step, dev_mse))
            write({"event": "eval", "step": step, "train_loss": float(loss), "dev_mse": dev_mse,
                   "clipped_steps": len(log.clipped)})
            if progress is not None:
                progress(step, log)
            if not math.isfinite(dev_mse):
                log.diverged_at = step
                break
            if log.steps_to_solve is None and dev_mse < ADDING_SOLVED_MSE:
                log.steps_to_solve = step
                if cfg.stop_when_solved:
                    break
    if log.diverged_at is None:
        test = adding_problem(cfg.test_size, cfg.T, np.random.default_rng(cfg.seed + 2), dtype)
        with np.errstate(all="ignore"):
            log.test_mse = evaluate_mse(model, *test)
    log.seconds = time.perf_counter() - t0
    write({"event": "end", "steps": len(log.loss), "test_mse": log.test_mse,
           "steps_to_solve": log.steps_to_solve, "diverged_at": log.diverged_at,
           "clipped_steps": len(log.clipped)})
    return log
