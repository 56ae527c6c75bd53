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
finishes the current step, writes a checkpoint and stops (a second Ctrl-C stops at once); so does
a ``time_budget`` (seconds for one call of ``fit``) that runs out. Either stop logs a "stopped"
event; ``train_keep_best`` then evaluates the partial epoch and keeps it as best if it is. A step
whose loss or gradient is not finite is skipped and reported; ``max_nonfinite`` of them in a row
stop the run, and so does a step after which a weight is not finite: no checkpoint and no best
model is ever written from a model with a non-finite parameter, and the message says whether a
good checkpoint exists to resume from.

Nothing is lost. ``best/`` is replaced whole (``bptt.files.replace_directory``): a kill leaves the
old best model or the new one, never a mixture. A run refuses an ``out_dir`` that already holds a
run (checkpoint, best/ or metrics.jsonl) unless it resumes (``load_checkpoint``) or was told to
``overwrite``; the leftovers of a killed run are removed when the next one starts. The checkpoint
holds the job's ``identity`` (its settings and a fingerprint of its data): resuming with other
data, or other settings than ``epochs`` and ``patience``, is refused, since it could not continue
exactly. On resume, metrics.jsonl loses the lines written after the checkpoint (a "stopped"
event, written with the checkpoint, stays: the log tells where the run was stopped and why), so
no step is ever logged twice. A checkpoint with missing or unexpected fields is refused naming
the file.

Progress (``progress=True``): a bar on a terminal; in a log, a line a minute and the epoch's
summary line (``bptt.progress``).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from . import distributed, files, io
from .averaging import WeightAverage
from .models import model_type_name
from .optim import SGD, Adagrad, Adam, AdamW, RMSprop, clip_grad_norm, global_norm
from .progress import progress_bar

OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad}
CHECKPOINT = "checkpoint.safetensors"
METRICS = "metrics.jsonl"
BEST = "best"
# what a run leaves in its out_dir (carry-*.safetensors: the language model's carried state;
# member<k>/: the run of each member of a sentiment ensemble, see bptt.jobs.sentiment)
RUN_FILES = (CHECKPOINT, BEST, METRICS)
RUN_GLOBS = ("carry-*.safetensors", "member[0-9]*")
# settings that may change on resume: they decide when to stop, not what a step does
RESUMABLE_CHANGES = ("epochs", "patience")


class TrainingDiverged(RuntimeError):
    """Too many consecutive steps with a non-finite loss or gradient, or a non-finite weight."""


def run_files(out_dir: str | Path) -> list[Path]:
    """What a training run left in ``out_dir``: checkpoint, best/, metrics.jsonl, carried state."""
    out = Path(out_dir)
    found = [out / name for name in RUN_FILES if (out / name).exists()]
    return found + sorted(p for g in RUN_GLOBS for p in out.glob(g))


def occupied(out_dir: str | Path) -> str:
    """Why a new run refuses ``out_dir``, and what to do: resume, overwrite, or go elsewhere."""
    out = Path(out_dir)
    names = ", ".join(p.name for p in run_files(out))
    if any((p / CHECKPOINT).is_file() for p in out.glob("member[0-9]*")):
        return (f"{out}: holds an ensemble's training run already ({names}): resume it with --resume "
                f"{out}, replace it with --overwrite, or choose another --out")
    if (out / CHECKPOINT).is_file():
        return (f"{out}: holds a training run already ({names}): resume it with --resume "
                f"{out / CHECKPOINT}, replace it with --overwrite, or choose another --out")
    return (f"{out}: holds the files of a run that wrote no checkpoint ({names}), so it cannot be "
            f"resumed: replace them with --overwrite, or choose another --out")


def clear_run(out_dir: str | Path) -> list[Path]:
    """Remove what a training run left in ``out_dir`` (and nothing else); returns what it removed."""
    removed = run_files(out_dir)
    for path in removed:
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    return removed


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
    ema_decay: float | None = None  # Polyak averaging (bptt.averaging): dev scores and best/ use the average

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1) (or None: no averaging), got {self.ema_decay}")

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

    @property
    def batches_done(self) -> int:
        """Batches processed over the whole run, stepped or skipped."""
        return self.global_step + self.skipped_steps


# fields a checkpoint may lack (it was written before they existed): the default is right for it
OPTIONAL_STATE_FIELDS = ("elapsed_s",)


def make_optimizer(config: TrainConfig, params: dict[str, np.ndarray]):
    cls = OPTIMIZERS[config.optimizer]
    kwargs = {"weight_decay": config.weight_decay} if config.weight_decay or cls is AdamW else {}
    return cls(params, lr=config.lr, **kwargs)


class Trainer:
    """``time_budget``: seconds of training for this call of ``fit`` (None: no limit); when they
    run out, the current step finishes, a checkpoint is written and ``fit`` returns with
    ``stop_reason`` "time budget" (Ctrl-C: "interrupt"), to be resumed later.

    The budget covers the evaluation that closes the run too, whatever the batch size: the clock
    is read after every step, and the run stops as soon as one more step (as long as the last
    one) and one more evaluation would end past the deadline; at an epoch's start, it stops
    there if that epoch's evaluation already ran past it. An evaluation is expected to last as
    long as the last one did; before the first, as long as training on ``eval_tokens`` tokens at
    the speed of the fastest step of this fit but its first, which may have compiled code (an
    evaluation's forward pass alone is faster, but a language model's evaluation reads few
    streams and a greedy decoder decodes step by step; None: not known, no time kept for it).
    Every call of ``fit`` takes at least one step, so a resumed run always moves on.
    ``budget_report`` (logged as event "time budget") says how far the run went over: a slower
    step or evaluation than expected."""

    def __init__(self, model, config: TrainConfig, batches: Callable[[np.random.Generator], list],
                 step_fn: Callable, evaluate: Callable[[], dict], export: Callable[[Path], None],
                 out_dir: str | Path, progress: bool = True, identity: dict | None = None,
                 overwrite: bool = False, time_budget: float | None = None, verbose: bool = True,
                 eval_tokens: int | None = None, lr_plan: Callable | None = None):
        """``identity``: what a resumed run must share with this one, {"settings": the job's
        settings as a dict, "data": a fingerprint of its data} (see ``load_checkpoint``).
        ``lr_plan(grads, t)``: the step's gradients with their learning-rate factors
        (``bptt.optim.LayerwiseLR.apply``), t = the batches read before this one, resumed runs
        included; applied to the whole batch's gradients, after the processes' reduction, so
        every process scales the same sums by the same factors.
        ``overwrite``: remove a previous run's files from ``out_dir`` instead of refusing it.
        ``time_budget``: seconds of training for this call of ``fit`` (see the class; 0 stops
        after the first step). ``verbose`` False: no line per epoch or stop (``progress``: the
        bar)."""
        if time_budget is not None and not (time_budget >= 0 and math.isfinite(time_budget)):
            raise ValueError(f"time_budget must be a number of seconds >= 0, got {time_budget}")
        self.time_budget, self.verbose, self.eval_tokens = time_budget, verbose, eval_tokens
        self._fit_start = time.perf_counter()
        self._step_s = 0.0                          # how long the last step took,
        self._s_per_token = math.inf                # the fastest of this fit's steps, per token,
        self._eval_s: float | None = None           # and how long the last evaluation took
        self._steps_this_fit = 0
        self.stop_reason: str | None = None
        self.model, self.config = model, config
        self.batches, self.step_fn, self.evaluate, self.export = batches, step_fn, evaluate, export
        self.lr_plan = lr_plan
        self.out_dir = Path(out_dir)
        self.progress = progress and distributed.is_writer()
        self.identity = json.loads(json.dumps(identity or {}, default=files.json_scalar))
        self.overwrite = overwrite
        self.optimizer = make_optimizer(config, model.params)
        # Polyak averaging: the average of the weights is what is evaluated and kept as best/
        self.average = None if config.ema_decay is None else WeightAverage(model.params, config.ema_decay)
        self.data_rng = np.random.default_rng(config.seed)
        self.state = TrainState(epoch_rng_state=self.data_rng.bit_generator.state)
        self._stop_requested = False
        self._deadline: float | None = None
        self._clock0 = time.perf_counter()
        self._resumed = self._prepared = False
        self._checkpoint_at: tuple[int, int] | None = None     # (epoch, step) of the last checkpoint
        # data-parallel training (bptt.distributed): each step on this rank's shard of the batch,
        # the gradients summed over the ranks; rank 0 alone writes. None in one process.
        self.parallel = distributed.current()
        self.is_writer = self.parallel is None or self.parallel.is_writer

    def elapsed(self) -> float:
        """Wall-clock seconds of training so far, counting the runs before a resume."""
        return round(time.perf_counter() - self._clock0, 3)

    # ---- checkpoints ----------------------------------------------------------------------
    def save_checkpoint(self) -> Path:
        """Model, optimizer and trainer state in one atomically written file."""
        self._check_finite_weights()
        self.state.elapsed_s = self.elapsed()
        tensors = {f"model/{n}": p for n, p in self.model.params.items()}
        tensors.update({f"optim/{k}": v for k, v in self.optimizer.state_dict().items()})
        if self.average is not None:
            tensors.update({f"average/{k}": v for k, v in self.average.state_dict().items()})
        meta = {
            "trainer": json.dumps(asdict(self.state)),
            "train_config": json.dumps(asdict(self.config)),
            "rngs": json.dumps({k: g.bit_generator.state for k, g in self.model.generators().items()}),
            "model": json.dumps({"type": model_type_name(self.model),
                                 "config": self.model.config.to_dict()}),
            "identity": json.dumps(self.identity),
        }
        path = self.out_dir / CHECKPOINT
        if self.is_writer:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            io.save_params(path, tensors, meta)
        self._checkpoint_at = (self.state.epoch, self.state.global_step)
        return path

    def load_checkpoint(self, path: str | Path) -> None:
        """Restore everything ``save_checkpoint`` wrote; ``fit`` then continues exactly.

        ``path``: the checkpoint file, or the run folder holding it. Refused, naming the file:
        a damaged file, a missing or unexpected field, another model, other data or other
        settings (only those in ``RESUMABLE_CHANGES`` may differ).
        """
        path = Path(path)
        if path.is_dir():
            path = path / CHECKPOINT
        tensors, meta = io.load_params(path)
        doc = {key: _json_field(path, meta, key) for key in ("trainer", "rngs", "model")}
        saved = doc["model"]
        if not isinstance(saved, dict) or _with_defaults(self.model.config, saved.get("config")) != json.loads(
                json.dumps(self.model.config.to_dict(), default=files.json_scalar)):
            theirs = saved.get("config") if isinstance(saved, dict) else saved
            raise ValueError(f"{path}: the checkpoint's model config {theirs} differs from this "
                             f"model's {self.model.config.to_dict()}: resume with the same settings")
        if "identity" in meta:
            self._check_identity(path, _json_field(path, meta, "identity"))
        else:
            tqdm.write(f"note: {path} has no fingerprint of its data (an older checkpoint): "
                       f"the data cannot be checked to be the same")
        state = _train_state(path, doc["trainer"])
        rngs = doc["rngs"]
        generators = self.model.generators()
        if not isinstance(rngs, dict) or set(rngs) != set(generators):
            found = sorted(rngs) if isinstance(rngs, dict) else rngs
            raise ValueError(f"{path}: 'rngs' must hold the states of {sorted(generators)}, found {found}")
        io.load_state_dict(self.model, {k[6:]: v for k, v in tensors.items() if k.startswith("model/")},
                           str(path))
        optim = {k[6:]: v for k, v in tensors.items() if k.startswith("optim/")}
        _check_optimizer_state(path, optim)
        average = {k[8:]: v for k, v in tensors.items() if k.startswith("average/")}
        if (self.average is None) != (not average):
            raise ValueError(f"{path}: the checkpoint {'holds an' if average else 'holds no'} average of the "
                             f"weights and this run {'does not average them' if average else 'averages them'} "
                             f"(ema_decay {self.config.ema_decay}): resume with the checkpoint's settings")
        if self.average is not None:
            self.average.load_state_dict(average, str(path))
        try:
            self.optimizer.load_state_dict(optim)
            for name, rng_state in rngs.items():
                generators[name].bit_generator.state = rng_state
        except (KeyError, ValueError, TypeError) as err:
            raise ValueError(f"{path}: the optimizer or random states do not fit this run: "
                             f"{str(err).strip(chr(34) + chr(39))}") from None
        self.state = state
        self._resumed = True
        self._checkpoint_at = (state.epoch, state.global_step)

    def _check_identity(self, path: Path, saved) -> None:
        if not isinstance(saved, dict):
            raise ValueError(f"{path}: 'identity' must be a JSON object, got {saved!r}")
        if self.identity.get("data") != saved.get("data"):
            raise ValueError(f"{path}: the training data differs from the data this checkpoint was "
                             f"trained on (fingerprint {str(saved.get('data'))[:12]}, now "
                             f"{str(self.identity.get('data'))[:12]}): resume with the same data files, "
                             f"or start a new run")
        ours, theirs = self.identity.get("settings", {}), saved.get("settings", {})
        # a setting added after the checkpoint was written reads as its default there
        theirs = {**self.identity.get("defaults", {}), **theirs} if isinstance(theirs, dict) else {}
        differ = [f"{k} was {theirs.get(k)!r}, now {ours.get(k)!r}" for k in sorted(set(ours) | set(theirs))
                  if k not in RESUMABLE_CHANGES and ours.get(k) != theirs.get(k)]
        if differ:
            raise ValueError(f"{path}: other settings than the checkpoint's ({'; '.join(differ[:5])}): "
                             f"resume with the same settings (only {' and '.join(RESUMABLE_CHANGES)} "
                             f"may change), or start a new run")

    # ---- the loop -------------------------------------------------------------------------
    def request_stop(self, reason: str = "request") -> None:
        """Finish the current step, write a checkpoint and stop (what Ctrl-C does)."""
        self._stop_requested = True
        self.stop_reason = self.stop_reason or reason

    def log(self, record: dict) -> None:
        """Append one JSON line to ``out_dir/metrics.jsonl``, with ``elapsed_s`` and ``batches``
        (batches done so far: what a resume cuts the file back to) added. One ``write`` call
        per line, synced: a killed process leaves whole lines. (Rank 0 alone writes.)"""
        if not self.is_writer:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        line = json.dumps({**record, "batches": self.state.batches_done, "elapsed_s": self.elapsed()}) + "\n"
        fd = os.open(self.out_dir / METRICS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)

    def _prepare_out_dir(self) -> None:
        """Before the first step: clean up after a killed run, refuse (or clear, with
        ``overwrite``) a folder holding another run, and cut metrics.jsonl back to the checkpoint."""
        if self._prepared or not self.is_writer:
            return
        files.clean_leftovers(self.out_dir)
        files.clean_leftovers(self.out_dir / BEST)
        if self._resumed:
            self._cut_log()
        elif run_files(self.out_dir) and self.overwrite:
            clear_run(self.out_dir)
        elif run_files(self.out_dir):
            raise ValueError(occupied(self.out_dir))
        self._prepared = True

    def _cut_log(self) -> None:
        """Keep the metrics.jsonl lines written up to the checkpoint (and drop broken ones)."""
        path = self.out_dir / METRICS
        if not path.is_file():
            return
        st, kept = self.state, []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(record, dict):
                continue
            if "batches" in record:
                keep = record["batches"] <= st.batches_done and not (
                    "event" not in record and record.get("epoch", 0) > st.epoch)
            else:                           # a line from before "batches" was logged
                keep = record.get("epoch", 0) <= st.epoch if "event" not in record else \
                    record.get("step", 0) <= st.global_step
            if keep:
                kept.append(line + "\n")
        files.write_text(path, "".join(kept))

    def _on_sigint(self, signum, frame):
        if self._stop_requested:
            raise KeyboardInterrupt
        self.request_stop("interrupt")
        self.say("interrupt: finishing this step, then writing a checkpoint (Ctrl-C again to abort)")

    def say(self, line: str) -> None:
        """A line of the run's story (epochs, stops), unless ``verbose`` is False."""
        if self.verbose:
            tqdm.write(line)

    def timed_evaluate(self) -> dict:
        """``evaluate()``, its duration kept: the time a budget must leave for the next one."""
        t0 = time.perf_counter()
        metrics = self.evaluate()
        self._eval_s = time.perf_counter() - t0
        return metrics

    def _expected_eval_s(self) -> float:
        """How long the next evaluation should take (see the class)."""
        if self._eval_s is not None:
            return self._eval_s
        if self.eval_tokens and math.isfinite(self._s_per_token):
            return self.eval_tokens * self._s_per_token
        return 0.0

    def _out_of_time(self) -> bool:
        """Whether one more step and the evaluation after it would end past the deadline."""
        return self._deadline is not None and \
            time.perf_counter() + self._step_s + self._expected_eval_s() > self._deadline

    def budget_report(self) -> dict | None:
        """After the run's closing evaluation: {"time_budget_s", "used_s", "over_s"} (None
        without a budget), logged as event "time budget" and said when the run went over."""
        if self.time_budget is None:
            return None
        used = time.perf_counter() - self._fit_start
        report = {"time_budget_s": round(self.time_budget, 3), "used_s": round(used, 3),
                  "over_s": round(max(0.0, used - self.time_budget), 3)}
        self.log({"event": "time budget", **report})
        if report["over_s"] > 0:
            self.say(f"time budget {self.time_budget:.1f} s: used {used:.1f} s, {report['over_s']:.1f} s over")
        return report

    def fit(self) -> TrainState:
        """Train until ``epochs``, early stopping or Ctrl-C; returns the final state."""
        self._prepare_out_dir()
        previous = signal.signal(signal.SIGINT, self._on_sigint)
        self._fit_start = time.perf_counter()
        self._clock0 = self._fit_start - self.state.elapsed_s
        if self.parallel is not None:
            self.parallel.split_random(self.model.generators())
        self._deadline = None if self.time_budget is None else self._fit_start + self.time_budget
        self._steps_this_fit = 0
        try:
            while not self.state.finished and self.state.epoch < self.config.epochs:
                if not self._run_epoch():
                    break
        finally:
            signal.signal(signal.SIGINT, previous)
        return self.state

    def _run_epoch(self) -> bool:
        """One epoch (or its rest, after a resume). False if stopped (Ctrl-C, time budget)."""
        st, cfg = self.state, self.config
        # at an epoch's end: checkpoint written (several processes stop together inside the loop)
        if self.parallel is None and self._steps_this_fit and self._out_of_time():
            self.request_stop("time budget")
            return self._stop(None, 0, time.perf_counter())
        self.data_rng.bit_generator.state = st.epoch_rng_state
        batches = self.batches(self.data_rng)
        next_epoch_rng = self.data_rng.bit_generator.state
        start, tokens, t0 = st.step_in_epoch, 0, time.perf_counter()
        bar = progress_bar(len(batches), self.epoch_label(), "batch", initial=start,
                           enabled=self.progress, leave=False)
        for batch in batches[start:]:
            step_t0 = time.perf_counter()
            with np.errstate(over="ignore", invalid="ignore"):     # non-finite steps are reported below
                result = self.step_fn(batch) if self.parallel is None else \
                    self.parallel.step(self.step_fn, batch, self.model.params, stop=self._stop_requested)
            loss, grads = result.loss, result.grads
            if self.lr_plan is not None:            # frozen parameters dropped: outside the norm too
                grads = self.lr_plan(grads, st.batches_done)
            norm = global_norm(grads)
            if not (math.isfinite(loss) and math.isfinite(norm)):
                st.nonfinite_in_a_row += 1
                st.skipped_steps += 1
                self.say(f"step {st.global_step}: non-finite loss {loss} or gradient norm {norm}; skipped")
                self.log({"event": "skipped_step", "epoch": st.epoch + 1, "step": st.global_step,
                           "loss": repr(loss), "grad_norm": repr(norm)})
                if st.nonfinite_in_a_row >= cfg.max_nonfinite:
                    bar.close()
                    raise self._diverged(f"{st.nonfinite_in_a_row} steps in a row had a non-finite "
                                         f"loss or gradient")
            else:
                st.nonfinite_in_a_row = 0
                if cfg.clip_norm is not None:
                    clip_grad_norm(grads, cfg.clip_norm)
                self.optimizer.step(grads)
                st.global_step += 1
                bad = self._nonfinite_weights()
                if bad:
                    bar.close()
                    raise self._diverged(f"step {st.global_step} made weights infinite or NaN "
                                         f"({', '.join(bad[:3])})")
                if self.average is not None:
                    self.average.update()
                st.epoch_loss_sum += loss * result.count
                st.epoch_count += result.count
            st.step_in_epoch += 1
            self._steps_this_fit += 1
            tokens += result.tokens
            bar.update(1)
            bar.set_postfix(loss=f"{st.epoch_loss_sum / max(st.epoch_count, 1):.4f}",
                            tok_s=f"{tokens / (time.perf_counter() - t0):,.0f}")
            self._step_s = time.perf_counter() - step_t0
            if result.tokens and self._steps_this_fit > 1:    # the first may have compiled code
                self._s_per_token = min(self._s_per_token, self._step_s / result.tokens)
            if st.step_in_epoch < len(batches) and self._out_of_time():
                self.request_stop("time budget")
            if self._stop_requested if self.parallel is None else self.parallel.stop_votes:
                self.stop_reason = self.stop_reason or "another process stopped"   # all ranks, same step
                return self._stop(bar, tokens, t0)
        bar.close()
        self._end_epoch(next_epoch_rng, tokens / (time.perf_counter() - t0))
        return True

    def _stop(self, bar, tokens: int, t0: float) -> bool:
        """Stop where the run is (inside an epoch, or between two): checkpoint, "stopped" event."""
        st = self.state
        if bar is not None:
            bar.close()
        path = self.save_checkpoint()
        self.log({"event": "stopped", "reason": self.stop_reason, "epoch": st.epoch + 1,
                  "step_in_epoch": st.step_in_epoch, "step": st.global_step,
                  "tokens_per_s": round(tokens / max(time.perf_counter() - t0, 1e-9), 1)})
        self.say(f"stopped ({self.stop_reason}) at epoch {st.epoch + 1}, step {st.step_in_epoch}; "
                 f"checkpoint: {path} (continue with --resume)")
        return False

    unit = "epoch"              # what the loop's epochs are called in its messages

    def epoch_label(self) -> str:
        """The progress bar's label for the epoch under way."""
        return f"{self.unit} {self.state.epoch + 1}/{self.config.epochs}"

    def describe(self, metrics: dict) -> str:
        """The dev metrics in the epoch's line (a job may show another figure than its metric)."""
        return f"dev {self.config.metric} {metrics[self.config.metric]:.4f}"

    def kept_weights(self):
        """A context in which the model holds the weights a run evaluates and keeps: the average
        with ``ema_decay`` (``bptt.averaging``), else the trained weights themselves."""
        return contextlib.nullcontext() if self.average is None else self.average.swapped_in()

    def evaluate_kept(self, metrics: dict | None = None) -> tuple[dict, bool]:
        """(dev metrics, improved): evaluate the kept weights (``metrics``: their evaluation,
        already made) and, when they beat the best score so far, write them to best/ whole. The
        caller updates the state (best score, epoch) and the log."""
        with self.kept_weights():
            metrics = metrics or self.timed_evaluate()
            improved = metrics[self.config.metric] > self.state.best_score
            if improved:
                self._check_finite_weights()
                if self.is_writer:
                    files.replace_directory(self.out_dir / BEST, self.export)
        return metrics, improved

    def _nonfinite_weights(self) -> list[str]:
        return [n for n, p in self.model.params.items() if not np.isfinite(p).all()]

    def _check_finite_weights(self) -> None:
        bad = self._nonfinite_weights()
        if bad:
            raise self._diverged(f"weights are infinite or NaN ({', '.join(bad[:3])})")

    def _diverged(self, what: str) -> TrainingDiverged:
        """The error that stops a diverging run, saying what is kept and what to try."""
        cfg, st = self.config, self.state
        if self._checkpoint_at is None:
            earlier = "; best/ is from an earlier epoch" if st.best_epoch else ""
            kept = (f"No checkpoint was written (none exists yet{earlier}), so there is nothing to resume: "
                    f"start again")
        else:
            epoch, step = self._checkpoint_at
            kept = (f"The last good checkpoint, {self.out_dir / CHECKPOINT} (epoch {epoch}, step {step}), "
                    f"is kept: resume from it")
        return TrainingDiverged(
            f"training diverged at epoch {st.epoch + 1}, step {st.global_step}: {what}. {kept} with a "
            f"lower --lr (now {cfg.lr:g}) or --clip-norm (now {cfg.clip_norm})")

    def _end_epoch(self, next_epoch_rng: dict, tokens_per_s: float) -> None:
        st, cfg = self.state, self.config
        metrics, improved = self.evaluate_kept()
        st.epoch += 1
        if improved:
            st.best_score, st.best_epoch, st.bad_epochs = metrics[cfg.metric], st.epoch, 0
        else:
            st.bad_epochs += 1
        record = {"epoch": st.epoch, "step": st.global_step,
                  "train_loss": st.epoch_loss_sum / max(st.epoch_count, 1),
                  **{f"dev_{k}": v for k, v in metrics.items()},
                  "best": improved, "tokens_per_s": round(tokens_per_s, 1),
                  "skipped_steps": st.skipped_steps}
        self.log(record)
        self.say(f"{self.unit} {st.epoch}: train loss {record['train_loss']:.4f}  {self.describe(metrics)}"
                   f"{'  (best)' if improved else ''}  {tokens_per_s:,.0f} tok/s")
        st.step_in_epoch, st.epoch_loss_sum, st.epoch_count = 0, 0.0, 0
        st.epoch_rng_state = next_epoch_rng
        if cfg.patience is not None and st.bad_epochs >= cfg.patience:
            self.say(f"early stop: no better dev {cfg.metric} for {st.bad_epochs} epochs "
                       f"(best {st.best_score:.4f} at epoch {st.best_epoch})")
            st.finished = True
        self.save_checkpoint()


def train_keep_best(model, config: TrainConfig, batches, step_fn, evaluate, export,
                    out_dir: str | Path | None = None, resume: str | Path | None = None,
                    progress: bool = True, *, identity: dict | None = None,
                    overwrite: bool = False, time_budget: float | None = None, verbose: bool = True,
                    eval_tokens: int | None = None, lr_plan: Callable | None = None) -> Trainer:
    """Train with a ``Trainer`` (resuming from ``resume`` if given), then load the best epoch's
    weights (``out_dir/best``) back into ``model``. ``out_dir`` None: a temporary folder, removed
    afterwards. Returns the trainer (its ``state`` has the best score and epoch).

    ``time_budget``: seconds for this call (see ``Trainer``). A run stopped inside an epoch (time
    budget or Ctrl-C) evaluates its last weights: when they beat the best so far they become
    ``best/`` (logged as event "stop evaluation") and the checkpoint is rewritten with that best
    score, so the work of a partial epoch is not lost and a resumed run compares against it.
    ``verbose`` False: no line per epoch; ``eval_tokens``: what an evaluation reads; ``lr_plan``:
    per-parameter learning-rate factors (``Trainer``)."""
    tmp = tempfile.TemporaryDirectory() if out_dir is None else None
    out = Path(tmp.name if tmp else out_dir)
    trainer = Trainer(model, config, batches, step_fn, evaluate, export, out, progress,
                      identity=identity, overwrite=overwrite, time_budget=time_budget, verbose=verbose,
                      eval_tokens=eval_tokens, lr_plan=lr_plan)
    if resume is not None:
        trainer.load_checkpoint(resume)
    try:
        trainer.fit()
        st = trainer.state
        if trainer.stop_reason is not None and st.step_in_epoch > 0:
            metrics, improved = trainer.evaluate_kept()
            if improved:
                st.best_score, st.best_epoch, st.bad_epochs = metrics[config.metric], st.epoch + 1, 0
                trainer.save_checkpoint()
            trainer.log({"event": "stop evaluation", "epoch": st.epoch + 1, "step": st.global_step,
                         **{f"dev_{k}": v for k, v in metrics.items()}, "best": improved})
        trainer.budget_report()
        best = out / BEST / io.WEIGHTS_FILE
        if best.is_file():
            tensors, _ = io.load_params(best)
            io.load_state_dict(model, tensors, str(best))
    finally:
        if tmp:
            tmp.cleanup()
    return trainer


def _json_field(path: Path, meta: dict, key: str):
    """The JSON value of checkpoint metadata ``key``; errors name the file and the key."""
    if key not in meta:
        raise ValueError(f"{path}: not a complete bptt training checkpoint (no {key!r} metadata)")
    try:
        return json.loads(meta[key])
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: metadata {key!r} is not valid JSON ({err.msg} at column {err.colno})") \
            from None


def _with_defaults(config, saved) -> dict | None:
    """``saved`` (a checkpoint's model config) as ``config``'s class reads it: a field added
    after the checkpoint was written takes its default. ``saved`` as it is when the class cannot
    read it (a field it does not know, a bad value): it then differs, and resuming is refused."""
    if not isinstance(saved, dict):
        return None
    try:
        full = type(config)(**saved).to_dict()
    except (TypeError, ValueError):
        return saved
    return json.loads(json.dumps(full, default=files.json_scalar))


def _train_state(path: Path, doc) -> TrainState:
    """The TrainState in a checkpoint's "trainer" metadata: every field present (but those in
    ``OPTIONAL_STATE_FIELDS``), none unknown, each of its type; errors name the file."""
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: 'trainer' must be a JSON object, got {type(doc).__name__}")
    doc = dict(doc)
    if "epoch_count" not in doc and "epoch_examples" in doc:    # its name before StepResult.count
        doc["epoch_count"] = doc.pop("epoch_examples")
    known = {f.name: f for f in fields(TrainState)}
    missing = [n for n in known if n not in doc and n not in OPTIONAL_STATE_FIELDS]
    extra = [n for n in doc if n not in known]
    if missing or extra:
        said = [f"missing {missing}" if missing else "", f"unexpected {extra}" if extra else ""]
        raise ValueError(f"{path}: the trainer state has {' and '.join(x for x in said if x)} fields: "
                         f"the checkpoint is damaged or from another version of bptt")
    kinds = {"int": int, "float": (int, float), "bool": bool, "dict": dict}
    for name, value in doc.items():
        kind = kinds[str(known[name].type)]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ValueError(f"{path}: trainer field {name!r} must be {known[name].type}, got {value!r}")
    if doc["step_in_epoch"] < 0 or doc["epoch"] < 0 or doc["global_step"] < 0:
        raise ValueError(f"{path}: the trainer state counts below zero: epoch {doc['epoch']}, "
                         f"step_in_epoch {doc['step_in_epoch']}, global_step {doc['global_step']}")
    return TrainState(**doc)


def _check_optimizer_state(path: Path, optim: dict) -> None:
    """Every parameter's optimizer state is whole: the same buffers (exp_avg, exp_avg_sq, ...) as
    every other parameter that has any (one never updated, e.g. frozen, has none)."""
    buffers: dict[str, set[str]] = {}
    for key in optim:
        if key not in ("step", "lr"):
            buffer, _, name = key.partition(".")
            buffers.setdefault(name, set()).add(buffer)
    every = set().union(*buffers.values()) if buffers else set()
    partial = {name: sorted(every - have) for name, have in buffers.items() if have != every}
    if partial:
        name, lacks = next(iter(partial.items()))
        raise ValueError(f"{path}: the optimizer state of {len(partial)} parameter(s) is incomplete "
                         f"({name!r} lacks {', '.join(lacks)}): the checkpoint is damaged")
