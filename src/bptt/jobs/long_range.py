r"""The long-range job: train a ``Regressor`` on the adding problem (``bptt.data.synthetic``).

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

import numpy as np

from ..data.synthetic import ADDING_SOLVED_MSE, adding_problem
from ..models.regressor import RegressorBatch
from ..optim import SGD, Adam, clip_grad_norm, global_norm


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

    ``recorder``: called as ``recorder(k, model, RegressorBatch(x, y))`` before every update, k = the updates
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
        batch = RegressorBatch(*adding_problem(cfg.batch_size, cfg.T, rng, dtype))
        if recorder is not None:
            recorder(step - 1, model, batch)                           # after step - 1 updates
        with np.errstate(all="ignore"):
            result = model.loss_and_grads(batch)
            loss, grads = result.loss, result.grads
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
