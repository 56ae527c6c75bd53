"""The training loop: epochs, evaluation, best checkpoint, early stopping, exact resume.

One loop for every model. What it needs from the job is small and explicit:

    model            .params {name: array}, .generators() {name: np.random.Generator},
                     .config.to_dict(), and a type name (see bptt.io)
    batches(rng)     the list of batches of one epoch, drawn with ``rng``
    step_fn(batch)   -> ``bptt.models.StepResult``: forward and backward of one batch (usually
                     ``model.loss_and_grads``)
    evaluate()       -> {metric: value} on the dev set
    export(dir)      writes a usable model (weights + whatever the job needs, e.g. a vocabulary)

The reported training loss of an epoch is the mean over every term the steps' losses average,
``sum(loss * count) / sum(count)`` with each StepResult's ``count``: per example for a classifier,
per predicted token for a tagger, a language model or a seq2seq model (see ``bptt.models``).

Files in ``out_dir``:

    checkpoint.safetensors   model weights, optimizer state and, in its metadata, the trainer state
                             (epoch, step within the epoch, best score, every RNG state). One file,
                             written atomically, so a checkpoint is never half old and half new.
    best/                    ``export`` of the best model so far by the dev metric
    metrics.jsonl            one JSON line per epoch (and per skipped step), with ``elapsed_s``, the
                             wall-clock seconds since training began (``bptt plot`` draws them)

Resume is exact: the data RNG's state at the start of the epoch is saved, so the epoch's batch
order is drawn again identically and the batches already done are skipped; the dropout RNGs and
the optimizer state continue from where they were, and so does the clock of ``elapsed_s``. Ctrl-C
finishes the current step, writes a checkpoint and stops (a second Ctrl-C stops at once). A step
whose loss or gradient is not finite is skipped and reported; ``max_nonfinite`` of them in a row
stop the run, and no checkpoint is ever written from a model with a non-finite parameter.

Progress (``progress=True``): a bar on a terminal; in a log, a line a minute and the epoch's
summary line (``bptt.progress``).
"""
from __future__ import annotations

import json
import math
import signal
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from . import io
from .models import model_type_name
from .optim import SGD, Adagrad, Adam, AdamW, RMSprop, clip_grad_norm, global_norm
from .progress import progress_bar

OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad}
CHECKPOINT = "checkpoint.safetensors"


class TrainingDiverged(RuntimeError):
    """Too many consecutive steps with a non-finite loss or gradient."""


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    optimizer: str = "adam"         # sgd | adam | adamw | rmsprop | adagrad
    lr: float = 2e-3
    weight_decay: float = 0.0
    clip_norm: float | None = 5.0   # clip the global gradient norm (None: no clipping)
    patience: int | None = 3        # stop after this many epochs without a better dev score
    metric: str = "accuracy"        # the dev metric that picks the best model (higher is better)
    seed: int = 0                   # data order
    max_nonfinite: int = 5

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {self.optimizer!r}")

    @classmethod
    def from_settings(cls, settings, **overrides) -> "TrainConfig":
        """The fields of a job's settings dataclass that are TrainConfig fields, plus overrides."""
        names = {f.name for f in fields(cls)}
        return cls(**{**{k: v for k, v in asdict(settings).items() if k in names}, **overrides})


@dataclass
class TrainState:
    epoch: int = 0                  # epochs completed
    step_in_epoch: int = 0          # batches done in the current epoch
    global_step: int = 0            # optimizer steps taken
    best_score: float = -math.inf
    best_epoch: int = 0
    bad_epochs: int = 0             # epochs since the best
    nonfinite_in_a_row: int = 0
    skipped_steps: int = 0
    epoch_rng_state: dict = field(default_factory=dict)   # data RNG at the start of the epoch
    epoch_loss_sum: float = 0.0     # sum of loss * count over the epoch's steps so far
    epoch_count: int = 0            # sum of count: the terms the epoch's losses average
    elapsed_s: float = 0.0          # wall-clock seconds of training, summed over resumed runs
    finished: bool = False


def make_optimizer(config: TrainConfig, params: dict[str, np.ndarray]):
    cls = OPTIMIZERS[config.optimizer]
    kwargs = {"weight_decay": config.weight_decay} if config.weight_decay or cls is AdamW else {}
    return cls(params, lr=config.lr, **kwargs)


class Trainer:
    """``time_budget``: seconds of training for this call of ``fit`` (None: no limit); when they
    run out, the current step finishes, a checkpoint is written and ``fit`` returns with
    ``stop_reason`` "time budget" (Ctrl-C: "interrupt"), to be resumed later."""

    def __init__(self, model, config: TrainConfig, batches: Callable[[np.random.Generator], list],
                 step_fn: Callable, evaluate: Callable[[], dict], export: Callable[[Path], None],
                 out_dir: str | Path, progress: bool = True, time_budget: float | None = None):
        if time_budget is not None and not time_budget > 0:
            raise ValueError(f"time_budget must be a positive number of seconds, got {time_budget}")
        self.time_budget = time_budget
        self.stop_reason: str | None = None
        self.model, self.config = model, config
        self.batches, self.step_fn, self.evaluate, self.export = batches, step_fn, evaluate, export
        self.out_dir = Path(out_dir)
        self.progress = progress
        self.optimizer = make_optimizer(config, model.params)
        self.data_rng = np.random.default_rng(config.seed)
        self.state = TrainState(epoch_rng_state=self.data_rng.bit_generator.state)
        self._stop_requested = False
        self._deadline: float | None = None
        self._clock0 = time.perf_counter()

    def elapsed(self) -> float:
        """Wall-clock seconds of training so far, counting the runs before a resume."""
        return round(time.perf_counter() - self._clock0, 3)

    # ---- checkpoints ----------------------------------------------------------------------
    def save_checkpoint(self) -> Path:
        """Model, optimizer and trainer state in one atomically written file."""
        bad = [n for n, p in self.model.params.items() if not np.all(np.isfinite(p))]
        if bad:
            raise TrainingDiverged(f"refusing to write a checkpoint: non-finite values in {bad[:5]}")
        self.state.elapsed_s = self.elapsed()
        tensors = {f"model/{n}": p for n, p in self.model.params.items()}
        tensors.update({f"optim/{k}": v for k, v in self.optimizer.state_dict().items()})
        meta = {
            "trainer": json.dumps(asdict(self.state)),
            "train_config": json.dumps(asdict(self.config)),
            "rngs": json.dumps({k: g.bit_generator.state for k, g in self.model.generators().items()}),
            "model": json.dumps({"type": model_type_name(self.model),
                                 "config": self.model.config.to_dict()}),
        }
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / CHECKPOINT
        io.save_params(path, tensors, meta)
        return path

    def load_checkpoint(self, path: str | Path) -> None:
        """Restore everything ``save_checkpoint`` wrote; ``fit`` then continues exactly."""
        tensors, meta = io.load_params(path)
        for key in ("trainer", "rngs", "model"):
            if key not in meta:
                raise ValueError(f"{path}: not a bptt training checkpoint (no {key!r} metadata)")
        saved = json.loads(meta["model"])
        if saved["config"] != json.loads(json.dumps(self.model.config.to_dict())):
            raise ValueError(f"{path}: the checkpoint's model config {saved['config']} differs from "
                             f"this model's {self.model.config.to_dict()}")
        io.load_state_dict(self.model, {k[6:]: v for k, v in tensors.items() if k.startswith("model/")},
                           str(path))
        self.optimizer.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("optim/")})
        state = json.loads(meta["trainer"])
        # a checkpoint written before StepResult named the epoch's count "epoch_examples"
        state.setdefault("epoch_count", state.pop("epoch_examples", 0))
        self.state = TrainState(**state)
        for name, state in json.loads(meta["rngs"]).items():
            self.model.generators()[name].bit_generator.state = state

    # ---- the loop -------------------------------------------------------------------------
    def request_stop(self, reason: str = "request") -> None:
        """Finish the current step, write a checkpoint and stop (what Ctrl-C does)."""
        self._stop_requested = True
        self.stop_reason = self.stop_reason or reason

    def log(self, record: dict) -> None:
        """Append one JSON line to ``out_dir/metrics.jsonl``, with ``elapsed_s`` added."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with open(self.out_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps({**record, "elapsed_s": self.elapsed()}) + "\n")

    def _on_sigint(self, signum, frame):
        if self._stop_requested:
            raise KeyboardInterrupt
        self.request_stop("interrupt")
        tqdm.write("interrupt: finishing this step, then writing a checkpoint (Ctrl-C again to abort)")

    def fit(self) -> TrainState:
        """Train until ``epochs``, early stopping or Ctrl-C; returns the final state."""
        previous = signal.signal(signal.SIGINT, self._on_sigint)
        self._clock0 = time.perf_counter() - self.state.elapsed_s
        self._deadline = None if self.time_budget is None else time.perf_counter() + self.time_budget
        try:
            while not self.state.finished and self.state.epoch < self.config.epochs:
                if not self._run_epoch():
                    break
        finally:
            signal.signal(signal.SIGINT, previous)
        return self.state

    def _run_epoch(self) -> bool:
        """One epoch (or its rest, after a resume). False if stopped by Ctrl-C."""
        st, cfg = self.state, self.config
        self.data_rng.bit_generator.state = st.epoch_rng_state
        batches = self.batches(self.data_rng)
        next_epoch_rng = self.data_rng.bit_generator.state
        start, tokens, t0 = st.step_in_epoch, 0, time.perf_counter()
        bar = progress_bar(len(batches), f"epoch {st.epoch + 1}/{cfg.epochs}", "batch", initial=start,
                           enabled=self.progress, leave=False)
        for batch in batches[start:]:
            result = self.step_fn(batch)
            loss, grads = result.loss, result.grads
            norm = global_norm(grads)
            if not (math.isfinite(loss) and math.isfinite(norm)):
                st.nonfinite_in_a_row += 1
                st.skipped_steps += 1
                msg = f"step {st.global_step}: non-finite loss {loss} or gradient norm {norm}; skipped"
                tqdm.write(msg)
                self.log({"event": "skipped_step", "epoch": st.epoch + 1, "step": st.global_step,
                           "loss": repr(loss), "grad_norm": repr(norm)})
                if st.nonfinite_in_a_row >= cfg.max_nonfinite:
                    raise TrainingDiverged(
                        f"{st.nonfinite_in_a_row} steps in a row had a non-finite loss or gradient; "
                        f"stopping. The last good checkpoint in {self.out_dir} is kept; try a lower "
                        f"learning rate (now {cfg.lr}) or gradient clipping (clip_norm={cfg.clip_norm}).")
            else:
                st.nonfinite_in_a_row = 0
                if cfg.clip_norm is not None:
                    clip_grad_norm(grads, cfg.clip_norm)
                self.optimizer.step(grads)
                st.global_step += 1
                st.epoch_loss_sum += loss * result.count
                st.epoch_count += result.count
            st.step_in_epoch += 1
            tokens += result.tokens
            bar.update(1)
            bar.set_postfix(loss=f"{st.epoch_loss_sum / max(st.epoch_count, 1):.4f}",
                            tok_s=f"{tokens / (time.perf_counter() - t0):,.0f}")
            if self._deadline is not None and time.perf_counter() > self._deadline:
                self.request_stop("time budget")
            if self._stop_requested:
                bar.close()
                path = self.save_checkpoint()
                self.log({"event": "stopped", "reason": self.stop_reason, "epoch": st.epoch + 1,
                          "step_in_epoch": st.step_in_epoch, "step": st.global_step,
                          "tokens_per_s": round(tokens / (time.perf_counter() - t0), 1)})
                tqdm.write(f"stopped ({self.stop_reason}) at epoch {st.epoch + 1}, step {st.step_in_epoch}; "
                           f"checkpoint: {path} (continue with --resume)")
                return False
        bar.close()
        self._end_epoch(next_epoch_rng, tokens / (time.perf_counter() - t0))
        return True

    def _end_epoch(self, next_epoch_rng: dict, tokens_per_s: float) -> None:
        st, cfg = self.state, self.config
        metrics = self.evaluate()
        score = metrics[cfg.metric]
        st.epoch += 1
        improved = score > st.best_score
        if improved:
            st.best_score, st.best_epoch, st.bad_epochs = score, st.epoch, 0
            self.export(self.out_dir / "best")
        else:
            st.bad_epochs += 1
        record = {"epoch": st.epoch, "step": st.global_step,
                  "train_loss": st.epoch_loss_sum / max(st.epoch_count, 1),
                  **{f"dev_{k}": v for k, v in metrics.items()},
                  "best": improved, "tokens_per_s": round(tokens_per_s, 1),
                  "skipped_steps": st.skipped_steps}
        self.log(record)
        tqdm.write(f"epoch {st.epoch}: train loss {record['train_loss']:.4f}  dev {cfg.metric} "
                   f"{score:.4f}{'  (best)' if improved else ''}  {tokens_per_s:,.0f} tok/s")
        st.step_in_epoch, st.epoch_loss_sum, st.epoch_count = 0, 0.0, 0
        st.epoch_rng_state = next_epoch_rng
        if cfg.patience is not None and st.bad_epochs >= cfg.patience:
            tqdm.write(f"early stop: no better dev {cfg.metric} for {st.bad_epochs} epochs "
                       f"(best {st.best_score:.4f} at epoch {st.best_epoch})")
            st.finished = True
        self.save_checkpoint()


def train_keep_best(model, config: TrainConfig, batches, step_fn, evaluate, export,
                    out_dir: str | Path | None = None, resume: str | Path | None = None,
                    progress: bool = True, time_budget: float | None = None) -> Trainer:
    """Train with a ``Trainer`` (resuming from ``resume`` if given), then load the best epoch's
    weights (``out_dir/best``) back into ``model``. ``out_dir`` None: a temporary folder, removed
    afterwards. Returns the trainer (its ``state`` has the best score and epoch).

    ``time_budget``: seconds for this call (see ``Trainer``). A run stopped inside an epoch (time
    budget or Ctrl-C) evaluates its last weights: when they beat the best so far they become
    ``best/`` (logged as event "stop evaluation") and the checkpoint is rewritten with that best
    score, so the work of a partial epoch is not lost and a resumed run compares against it."""
    tmp = tempfile.TemporaryDirectory() if out_dir is None else None
    out = Path(tmp.name if tmp else out_dir)
    trainer = Trainer(model, config, batches, step_fn, evaluate, export, out, progress, time_budget)
    if resume is not None:
        trainer.load_checkpoint(resume)
    try:
        trainer.fit()
        st = trainer.state
        if trainer.stop_reason is not None and st.step_in_epoch > 0:
            metrics = evaluate()
            improved = metrics[config.metric] > st.best_score
            if improved:
                st.best_score, st.best_epoch, st.bad_epochs = metrics[config.metric], st.epoch + 1, 0
                export(out / "best")
                trainer.save_checkpoint()
            trainer.log({"event": "stop evaluation", "epoch": st.epoch + 1, "step": st.global_step,
                         **{f"dev_{k}": v for k, v in metrics.items()}, "best": improved})
        best = out / "best" / io.WEIGHTS_FILE
        if best.is_file():
            tensors, _ = io.load_params(best)
            io.load_state_dict(model, tensors, str(best))
    finally:
        if tmp:
            tmp.cleanup()
    return trainer
