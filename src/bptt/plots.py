"""Pictures of training runs (``bptt plot``) and of explanations (``bptt explain --png``).

``read_metrics(path)`` reads the evaluation records of a Trainer's ``metrics.jsonl`` (one JSON
object per line: the epoch records, a language model's ``final`` record and the ``stop
evaluation`` of a run stopped inside an epoch, which may have chosen ``best/``; other events
such as skipped steps or gradient records are passed over), checking every line: a line that is not a
JSON object, or a record whose ``step``, ``elapsed_s`` or metric is not a number, is a
ValueError naming the file, the line and the field.

``plot_runs({label: records}, out_dir)`` writes one PNG per quantity, each with the curves
against optimizer steps (left) and against wall-clock time (right, from ``elapsed_s``), one
colour per run with a legend:

    loss.png          train_loss (solid) and dev_loss (dashed), nats
    accuracy.png      dev_accuracy               bpc.png          dev_bpc (bits per character)
    perplexity.png    dev_perplexity             <name>.png       any other dev_<name>

``plot_explanation(explanation, path)`` draws P(target) after each word of a text, each bar
coloured by how the word moved it.

matplotlib is the optional extra ``plot``; without it ``figure()`` raises an ImportError that
says how to install it. Files are written atomically (``bptt.files.atomic_write``).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .files import atomic_write

METRICS_FILE = "metrics.jsonl"
EVALUATIONS = ("final", "stop evaluation")     # the events that are evaluations (bptt.train, jobs)
NOT_CURVES = {"epoch", "step", "best", "tokens_per_s", "skipped_steps", "elapsed_s", "event",
              "dev_neg_loss"}      # dev_neg_loss is -dev_loss, the language model's "higher is better"
TITLES = {"loss": "loss (nats per example or token)", "accuracy": "dev accuracy",
          "bpc": "dev bits per character", "perplexity": "dev perplexity",
          "exact_match": "dev exact match"}


def figure(figsize=(7, 4.5)):
    """A matplotlib Figure without pyplot (no global state, no display needed)."""
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError("plotting needs matplotlib, the optional extra 'plot': "
                          "pip install 'bptt[plot]' (or pip install matplotlib)") from err
    return Figure(figsize=figsize, layout="constrained")


def save_png(fig, path: str | Path, dpi: int = 110) -> Path:
    """Write ``fig`` to ``path`` as PNG, atomically."""
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi))
    return Path(path)


# ---- reading metrics.jsonl --------------------------------------------------------------------

def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def metrics_path(run: str | Path) -> Path:
    """``run`` itself if it is a file, else ``run/metrics.jsonl``."""
    run = Path(run)
    return run if run.is_file() else run / METRICS_FILE


def read_metrics(path: str | Path, required: bool = True) -> list[dict]:
    """The evaluation records of a metrics.jsonl file, in order, each line checked; a file with
    none is a ValueError (``required``) or gives []."""
    from .data.text import lines, read_bytes
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (a training run's folder holds {METRICS_FILE})")
    records = []
    for lineno, line, bad in lines(read_bytes(path, allow_empty=True).data):   # as every reader
        where = f"{path}:{lineno}"
        if line is None:
            raise ValueError(f"{where}: {bad}")
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{where}: not valid JSON: {err.msg} (column {err.colno})") from None
        if not isinstance(record, dict):
            raise ValueError(f"{where}: expected a JSON object, got {type(record).__name__}")
        if record.get("event", "final") not in EVALUATIONS or "step" not in record:
            continue
        for key in ("step", "elapsed_s", *curves_of(record)):
            value = record.get(key)
            if key in record and not (_is_number(value) or (value is None and key != "step")):
                raise ValueError(f"{where}: field {key!r} should be a number, got {value!r}")
        records.append(record)
    if not records and required:
        raise ValueError(f"{path}: no evaluation records (JSON lines with a \"step\" and metrics); "
                         "is this a training run's metrics file?")
    return records


def curves_of(record: dict) -> list[str]:
    """The metric fields of a record: train_loss and dev_*, but not the bookkeeping fields."""
    return [k for k in record if k not in NOT_CURVES and (k == "train_loss" or k.startswith("dev_"))]


def quantities(runs: dict[str, list[dict]]) -> dict[str, list[str]]:
    """{picture name: the fields drawn in it}, in the order the fields first appear."""
    out: dict[str, list[str]] = {}
    for records in runs.values():
        for record in records:
            for key in curves_of(record):
                name = "loss" if key in ("train_loss", "dev_loss") else key.removeprefix("dev_")
                if key not in out.setdefault(name, []):
                    out[name].append(key)
    return out


# ---- drawing ----------------------------------------------------------------------------------

def _series(records: list[dict], key: str, x: str) -> tuple[np.ndarray, np.ndarray]:
    pts = [(r[x], r[key]) for r in records if _is_number(r.get(x)) and _is_number(r.get(key))]
    pts = [(a, b) for a, b in pts if math.isfinite(b)]
    return np.array([a for a, _ in pts], float), np.array([b for _, b in pts], float)


def plot_runs(runs: dict[str, list[dict]], out_dir: str | Path) -> list[Path]:
    """One PNG per quantity in ``out_dir``; returns the paths written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [save_png(runs_figure(runs, name, keys), out_dir / f"{name}.png")
            for name, keys in quantities(runs).items()]


def runs_figure(runs: dict[str, list[dict]], name: str, keys: list[str]):
    """The figure of one quantity: ``keys`` of every run against steps and, where the records
    have ``elapsed_s``, against wall-clock time (minutes when the longest run passes 5)."""
    elapsed = [r["elapsed_s"] for records in runs.values() for r in records if _is_number(r.get("elapsed_s"))]
    minutes = max(elapsed, default=0) > 300
    fig = figure((11, 4.2) if elapsed else (6.5, 4.2))
    axes = fig.subplots(1, 2 if elapsed else 1, squeeze=False)[0]
    for i, (label, records) in enumerate(runs.items()):
        for key in keys:
            style = "--" if key.startswith("dev_") and len(keys) > 1 else "-"
            for ax, x in zip(axes, ("step", "elapsed_s")):
                xs, ys = _series(records, key, x)
                if xs.size:
                    ax.plot(xs / 60 if x == "elapsed_s" and minutes else xs, ys, style, marker="o", ms=3,
                            color=f"C{i % 10}", label=f"{label} {key}" if len(keys) > 1 else label)
    axes[0].set_xlabel("optimizer steps")
    if elapsed:
        axes[1].set_xlabel(f"wall-clock {'minutes' if minutes else 'seconds'} (elapsed_s)")
    for ax in axes:
        ax.set_ylabel(name)
        ax.set_yscale("log" if name == "perplexity" else "linear")
        ax.grid(True, alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    fig.suptitle(TITLES.get(name, f"dev {name}"))
    return fig


def plot_explanation(explanation, path: str | Path) -> Path:
    """Bars of P(target) after each word, green where the word raised it and red where it
    lowered it, with the even-odds line; the title carries the text's label."""
    e = explanation
    p, moves = e.p_target, e.moves
    fig = figure((max(5.0, 0.55 * len(e.tokens) + 1.5), 3.8))
    ax = fig.subplots()
    colors = ["#2e7d32" if m > 0 else "#c62828" if m < 0 else "#9e9e9e" for m in moves]
    x = np.arange(len(e.tokens))
    ax.bar(x, p, color=colors)
    ax.axhline(1.0 / len(e.classes), color="gray", lw=1, ls="--")
    for xi, pi in zip(x, p):
        ax.annotate(f"{pi:.2f}", (xi, pi), textcoords="offset points", xytext=(0, 3), ha="center",
                    fontsize=8)
    slanted = len(e.tokens) > 8
    ax.set_xticks(x, e.tokens, rotation=45 if slanted else 0, ha="right" if slanted else "center")
    ax.set_ylim(0, 1.08)
    ax.set_ylabel(f"P({e.target}) after the word")
    text = e.text if len(e.text) <= 80 else e.text[:77] + "..."
    ax.set_title(f"{e.label}: {text}", fontsize=10)
    return save_png(fig, path)
