"""minGRU and minLSTM against GRU and LSTM of the same parameter count: SST-2 dev accuracy, the
IMDB held-out split, Tiny Shakespeare bits per character in a fixed wall-clock budget.

    python bench/cells_quality.py                    # everything (hours: 4 cells x 3 tasks)
    python bench/cells_quality.py --tasks lm --budget-minutes 20
    python bench/cells_quality.py --smoke            # seconds: every command once, tiny

It runs the project's own recipe scripts once per cell, each in its own process, and collects
their records; nothing here trains a model itself:

- ``sst2``, ``imdb``: ``bench/sentiment_search.py --data D --set cell=C hidden_size=H`` (the base
  recipe of that data set, BiLSTM H128 / H64, with only the cell and its size changed);
- ``lm``: ``bench/lm.py --cells C --hidden-size H --budget-minutes M`` (character level, one
  layer, E64; the issue's budget is 20 minutes).

**Same parameter count.** minGRU and minLSTM have no W (``weight_hh``), so at the same H they
have far fewer parameters than the GRU / LSTM. Each cell's H is chosen so that the whole model
(embedding, recurrent layer(s), output layer) has the parameter count of the reference LSTM of
the recipe, within one unit of H (``matched_hidden_size``).

Writes ``bench/results/cells_quality.json`` and ``.md`` (``-smoke`` with ``--smoke``).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import report  # noqa: E402

from bptt.cells import get_cell  # noqa: E402

CELLS = ("lstm", "gru", "mingru", "minlstm")
# the recipe each task runs: (embedding E, reference H, directions, outputs C, vocabulary V); V is
# roughly the recipe's vocabulary: every cell has the same embedding, so V does not move the H found
RECIPES = {"sst2": (64, 128, 2, 2, 16_000), "imdb": (64, 64, 2, 2, 60_000), "lm": (64, 256, 1, 67, 67)}


def model_params(cell: str, E: int, H: int, D: int, C: int, V: int) -> int:
    """Parameters of embedding (V, E) -> one layer of ``cell`` in D directions -> dense (C, D*H)."""
    c = get_cell(cell)
    G = c.gates * H
    per_direction = G * E + G + (G * H + G if c.recurrent else 0)
    return V * E + D * per_direction + C * D * H + C


def matched_hidden_size(cell: str, recipe: str) -> int:
    """The H at which ``cell``'s model has as many parameters as the recipe's LSTM (nearest)."""
    E, H_ref, D, C, V = RECIPES[recipe]
    target = model_params("lstm", E, H_ref, D, C, V)
    return min(range(1, 8 * H_ref), key=lambda H: abs(model_params(cell, E, H, D, C, V) - target))


def commands(task: str, cell: str, H: int, args) -> list[str]:
    if task == "lm":
        out = REPO / "bench" / "results" / f"cells_quality_lm_{cell}{args.suffix}"
        budget = 0.05 if args.smoke else args.budget_minutes
        return [sys.executable, str(REPO / "bench" / "lm.py"), "--cells", cell, "--hidden-size", str(H),
                "--budget-minutes", str(budget), "--threads", str(args.threads), "--out", str(out),
                "--sample-length", "50" if args.smoke else "500"]
    changes = [f"cell={cell}", f"hidden_size={H}"] + (["epochs=1", "max_len=5"] if args.smoke else [])
    return [sys.executable, str(REPO / "bench" / "sentiment_search.py"), "--data", task, "--name",
            f"cells_{cell}{args.suffix}", "--threads", str(args.threads), "--quiet", "--set", *changes]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", nargs="+", choices=sorted(RECIPES), default=["sst2", "imdb", "lm"])
    p.add_argument("--cells", nargs="+", choices=CELLS, default=list(CELLS))
    p.add_argument("--budget-minutes", type=float, default=20.0, help="lm: wall clock per model")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--smoke", action="store_true", help="every command once, as small as it goes")
    args = p.parse_args(argv)
    args.suffix = "-smoke" if args.smoke else ""
    runs = []
    for task in args.tasks:
        for cell in args.cells:
            H = matched_hidden_size(cell, task)
            E, H_ref, D, C, V = RECIPES[task]
            cmd = commands(task, cell, H, args)
            print(" ".join(cmd[1:]), flush=True)
            done = subprocess.run(cmd, capture_output=True, text=True)
            runs.append({"task": task, "cell": cell, "hidden_size": H,
                         "params": model_params(cell, E, H, D, C, V), "command": " ".join(cmd[1:]),
                         "returncode": done.returncode, "tail": done.stdout.strip().splitlines()[-3:],
                         "stderr_tail": done.stderr.strip().splitlines()[-3:]})
            print(f"  -> {runs[-1]['tail'][-1:] or runs[-1]['stderr_tail'][-1:]}", flush=True)
    out = REPO / "bench" / "results" / f"cells_quality{args.suffix}"
    record = {"command": "python bench/cells_quality.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "machine": report.machine_info(REPO), "runs": runs}
    report.write_atomic(out.with_suffix(".json"), json.dumps(record, indent=1) + "\n")
    lines = ["# minGRU / minLSTM against GRU / LSTM of the same parameter count", "",
             f"Generated by `{record['command']}`. Each run's own record: the command's output files.", "",
             "| task | cell | H | parameters | exit | last line |", "|---|---|---:|---:|---:|---|"]
    lines += [f"| {r['task']} | {r['cell']} | {r['hidden_size']} | {r['params']:,} | {r['returncode']} | "
              f"{(r['tail'] or r['stderr_tail'] or [''])[-1][:120]} |" for r in runs]
    report.write_atomic(out.with_suffix(".md"), "\n".join(lines) + "\n")
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")
    return 0 if all(r["returncode"] == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
