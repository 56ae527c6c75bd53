"""How well ``--time-budget`` is kept: whole ``bptt train`` commands, each given a budget, timed.

For each case the command runs in a fresh folder; the script records the wall-clock seconds of
the whole process (imports, reading the data, compiling, training, the closing evaluation), and
what the run logged in its ``"event": "time budget"`` line of metrics.jsonl: the seconds ``fit``
used and how far past the budget it went (``over_s``). The cases vary the batch size (one step
of a large batch is long) and the job (the language model evaluates a long held-out text).

    python bench/time_budget.py            # writes bench/results/time_budget.{json,md}

Figures depend on the machine's load: the results carry the load average before and after.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DATA = Path(os.environ.get("BPTT_SHARED_DATA", ROOT.parent / "shared" / "data"))

CASES = {
    "sentiment B16": ["sentiment", "--train", DATA / "sst2" / "train.tsv", "--dev", DATA / "sst2" / "dev.tsv",
                      "--hidden-size", "64", "--batch-size", "16", "--time-budget", "0.75"],
    "sentiment B1024": ["sentiment", "--train", DATA / "sst2" / "train.tsv", "--dev", DATA / "sst2" / "dev.tsv",
                        "--hidden-size", "64", "--batch-size", "1024", "--time-budget", "0.75"],
    "lm char": ["lm", "--text", DATA / "tinyshakespeare" / "input.txt", "--time-budget", "1"],
}


def run(name: str, argv: list) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        command = ["bptt", "train", *map(str, argv), "--quiet", "--out", str(Path(tmp) / "run")]
        t0 = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        if done.returncode != 0:
            raise SystemExit(f"{name}: exit {done.returncode}: {done.stderr.strip()[-500:]}")
        records = [json.loads(line) for line in open(Path(tmp) / "run" / "metrics.jsonl")]
    budget = [r for r in records if r.get("event") == "time budget"][-1]
    stopped = [r for r in records if r.get("event") == "stopped"]
    return {"command": " ".join(["bptt", "train", *map(str, argv), "--quiet", "--out", "RUN"]),
            "process_s": round(seconds, 1), "budget_s": budget["time_budget_s"], "fit_used_s": budget["used_s"],
            "over_s": budget["over_s"], "steps": budget["batches"],
            "stopped_at": stopped[-1]["step_in_epoch"] if stopped else None}


def main() -> None:
    load_before = os.getloadavg()
    rows = {name: run(name, argv) for name, argv in CASES.items()}
    doc = {"load_before": load_before, "load_after": os.getloadavg(), "python": sys.version.split()[0],
           "cases": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "time_budget.json").write_text(json.dumps(doc, indent=2) + "\n")
    lines = ["| case | budget s | fit used s | over s | steps | whole process s |", "|---|---|---|---|---|---|"]
    lines += [f"| {n} | {r['budget_s']:g} | {r['fit_used_s']:.1f} | {r['over_s']:.1f} | {r['steps']} | "
              f"{r['process_s']:.1f} |" for n, r in rows.items()]
    lines.append(f"\nLoad average before {load_before[0]:.1f}, after {doc['load_after'][0]:.1f} (2 CPUs).")
    (RESULTS / "time_budget.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
