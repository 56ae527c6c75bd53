"""Fine-tuning recipes tried on top of the review language models, each with its figures.

    python bench/finetune_search.py imdb_ulmfit sst2_ulmfit ...   # run these recipes (in parallel,
                                                                  # one BLAS thread each)
    python bench/finetune_search.py --table                       # rewrite the table only

Every recipe is one ``bptt train sentiment`` command line (``RECIPES``), run from the repository
root under ``/usr/bin/time -v`` into ``runs/ft/<name>``; its record (the command, minutes, peak
memory, the dev accuracy of every epoch and the best, tokens per second) goes into
``bench/results/finetune_search.json`` and the table ``finetune_search.md``, beside the linear
baselines of the same split (``bench/results/linear_baselines.json``). Splits as everywhere:
SST-2 train.tsv -> dev.tsv; aclImdb/train with 5,000 reviews held out (--dev-fraction 0.2,
seed 0: ``bench/imdb_dev_files.txt``).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from report import write_atomic  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SST2 = ["--train", "../shared/data/sst2/train.tsv", "--dev", "../shared/data/sst2/dev.tsv"]
IMDB = ["--train", "../shared/data/imdb/aclImdb/train", "--dev-fraction", "0.2", "--seed", "0"]
LMS = ["--init-from", "imdb-lm,imdb-lm-backward"]
ENCODER = ["--cell", "lstm", "--hidden-size", "256", "--bidirectional", "true"]
ULMFIT = ["--discriminative-lr", "2.6", "--slanted-triangular"]
IMDB_LEN = ["--max-len", "400", "--truncate", "head+tail", "--min-freq", "2"]

RECIPES: dict[str, dict] = {
    # IMDB: pretrained BiLSTM, ULMFiT's learning-rate plan, two epochs in 28 minutes
    "imdb_ulmfit": dict(data="imdb", argv=[*IMDB, *LMS, *ENCODER, *ULMFIT, *IMDB_LEN, "--pooling", "max+mean",
                                           "--epochs", "2", "--batch-size", "32", "--lr", "0.002",
                                           "--time-budget", "28"]),
    "imdb_ulmfit_adv": dict(data="imdb", argv=[*IMDB, *LMS, *ENCODER, *ULMFIT, *IMDB_LEN, "--pooling", "max+mean",
                                               "--epochs", "2", "--batch-size", "32", "--lr", "0.002",
                                               "--adversarial", "5.0", "--time-budget", "28"]),
    # SST-2: ULMFiT's plan needs a higher peak rate than a constant Adam (with the slanted
    # triangle, --lr is the peak: bench/results/ulmfit_rates_smoke.txt)
    "sst2_ulmfit": dict(data="sst2", argv=[*SST2, *LMS, *ENCODER, *ULMFIT, "--pooling", "max+mean",
                                           "--epochs", "4", "--batch-size", "64", "--lr", "0.005",
                                           "--patience", "none", "--time-budget", "20"]),
    "sst2_ulmfit_adv": dict(data="sst2", argv=[*SST2, *LMS, *ENCODER, *ULMFIT, "--pooling", "max+mean",
                                               "--epochs", "4", "--batch-size", "64", "--lr", "0.005",
                                               "--adversarial", "5.0", "--patience", "none", "--time-budget", "20"]),
    "sst2_pretrained_adam": dict(data="sst2", argv=[*SST2, *LMS, *ENCODER, "--pooling", "max+mean",
                                                    "--epochs", "4", "--batch-size", "64", "--lr", "0.001",
                                                    "--patience", "2", "--time-budget", "20"]),
    # the same encoder without the language models (random init), for the effect of pretraining
    "sst2_scratch": dict(data="sst2", argv=[*SST2, *ENCODER, "--embedding-dim", "512", "--pooling", "max+mean",
                                            "--epochs", "4", "--batch-size", "64", "--lr", "0.002",
                                            "--patience", "2", "--time-budget", "20"]),
    "imdb_ulmfit_lr5": dict(data="imdb", argv=[*IMDB, *LMS, *ENCODER, *ULMFIT, *IMDB_LEN, "--pooling", "max+mean",
                                               "--epochs", "2", "--batch-size", "32", "--lr", "0.005",
                                               "--time-budget", "28"]),
    "imdb_pretrained_adam": dict(data="imdb", argv=[*IMDB, *LMS, *ENCODER, *IMDB_LEN, "--pooling", "max+mean",
                                                    "--epochs", "2", "--batch-size", "32", "--lr", "0.001",
                                                    "--time-budget", "28"]),
}


def run(names: list[str]) -> dict:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    procs = {}
    for name in names:
        out = ROOT / "runs" / "ft" / name
        out.parent.mkdir(parents=True, exist_ok=True)
        argv = ["bptt", "train", "sentiment", *RECIPES[name]["argv"], "--out", f"runs/ft/{name}", "--overwrite"]
        log = open(out.parent / f"{name}.log", "w")
        procs[name] = (subprocess.Popen(["/usr/bin/time", "-v", *argv], cwd=ROOT, env=env, stdout=log,
                                        stderr=subprocess.STDOUT), argv, time.perf_counter())
    records = {}
    for name, (proc, argv, t0) in procs.items():
        code = proc.wait()
        records[name] = record(name, argv, code, time.perf_counter() - t0)
    return records


def record(name: str, argv: list[str], code: int, seconds: float) -> dict:
    log = (ROOT / "runs" / "ft" / f"{name}.log").read_text(errors="replace")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", log)
    metrics = ROOT / "runs" / "ft" / name / "metrics.jsonl"
    lines = [json.loads(x) for x in metrics.read_text().splitlines() if x.strip()] if metrics.is_file() else []
    evals = [r for r in lines if "dev_accuracy" in r]
    return {"data": RECIPES[name]["data"], "command": " ".join(argv), "exit": code,
            "minutes": round(seconds / 60, 1), "peak_rss_mb": round(int(rss.group(1)) / 1024) if rss else None,
            "epochs": [{k: r.get(k) for k in ("epoch", "step", "event", "dev_accuracy", "tokens_per_s", "elapsed_s")}
                       for r in evals],
            "best_dev_accuracy": max((r["dev_accuracy"] for r in evals), default=None)}


def table(records: dict) -> str:
    base = json.loads((RESULTS / "linear_baselines.json").read_text()) if \
        (RESULTS / "linear_baselines.json").is_file() else {}
    lines = ["# Fine-tuning from the review language models: every recipe tried", "",
             "`python bench/finetune_search.py NAME ...`; commands in `finetune_search.json`. Loaded machine "
             "(two runs side by side, one BLAS thread each).", ""]
    for data in ("imdb", "sst2"):
        b = base.get(data)
        lines += [f"## {data}", ""]
        if b:
            lines.append(f"Same split: bag of words {b['bag_of_words']['bag of words']['dev']['accuracy']:.2%}, "
                         f"uni+bigrams {b['bag_of_words']['bag of words + bigrams']['dev']['accuracy']:.2%}, "
                         f"TF-IDF + LR (C by CV) {b['tfidf_lr']['dev_accuracy']:.2%}, "
                         f"(best C on dev) {b['tfidf_lr']['dev_accuracy_best_C_on_dev']:.2%}, "
                         f"NB-LR {b['nblr']['dev_accuracy_best_C_on_dev']:.2%}.")
            lines.append("")
        lines += ["| recipe | best dev accuracy | dev accuracy per evaluation | minutes | peak RSS MB |",
                  "|---|---|---|---|---|"]
        for name, r in records.items():
            if r["data"] != data:
                continue
            per = ", ".join(f"{e['dev_accuracy']:.4f}" for e in r["epochs"])
            best = f"{r['best_dev_accuracy']:.2%}" if r["best_dev_accuracy"] is not None else "-"
            lines.append(f"| {name} | {best} | {per} | {r['minutes']} | {r['peak_rss_mb']} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("names", nargs="*", help=f"recipes: {', '.join(RECIPES)}")
    ap.add_argument("--table", action="store_true")
    args = ap.parse_args()
    unknown = [n for n in args.names if n not in RECIPES]
    if unknown:
        ap.error(f"unknown recipe {unknown[0]!r}; recipes: {', '.join(RECIPES)}")
    path = RESULTS / "finetune_search.json"
    done = run(args.names) if args.names else {}
    records = json.loads(path.read_text()) if path.is_file() else {}     # read after the runs: another
    records.update(done)                                                 # invocation may have written
    write_atomic(path, json.dumps(records, indent=1))
    write_atomic(RESULTS / "finetune_search.md", table(records))


if __name__ == "__main__":
    main()
