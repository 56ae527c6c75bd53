"""``bptt plot RUN_DIR [RUN_DIR ...] [--out DIR]``: PNGs of training and dev curves.

Each RUN_DIR is the ``--out`` of a ``bptt train`` run (or its ``metrics.jsonl`` itself). Several
runs are overlaid, one colour each, named by their folder. Writes ``loss.png`` and one picture per
dev metric (``accuracy.png``, ``bpc.png``, ...), each against optimizer steps and wall-clock time
(``bptt.plots``). Default ``--out``: the run's folder for one run, ``plots`` for several.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def run_labels(paths: list[Path]) -> list[str]:
    """Each run's folder name, or its whole path where two runs share a name."""
    names = [p.parent.name if p.name.endswith(".jsonl") else p.name for p in paths]
    return [str(p) if names.count(n) > 1 or not n else n for p, n in zip(paths, names)]


def cmd_plot(args) -> int:
    from ..plots import metrics_path, plot_runs, read_metrics
    paths = [Path(r) for r in args.runs]
    runs = {label: read_metrics(metrics_path(p)) for label, p in zip(run_labels(paths), paths)}
    one_folder = len(paths) == 1 and paths[0].is_dir()
    out = Path(args.out) if args.out else (paths[0] if one_folder else Path("plots"))
    try:
        written = plot_runs(runs, out)
    except ImportError as err:
        print(f"bptt plot: {err}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


def add_parsers(subparsers, train_subparsers=None) -> None:
    """Add ``plot`` to ``bptt``."""
    p = subparsers.add_parser("plot", help="PNGs of training and dev curves from metrics.jsonl",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="training run folder(s) with metrics.jsonl")
    p.add_argument("--out", help="folder for the PNGs (default: RUN_DIR for one run, ./plots for several)")
    p.set_defaults(func=cmd_plot)
