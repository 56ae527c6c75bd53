"""Train the two shipped sentiment models from the command line, ship them, and measure them.

    python bench/train_sentiment.py                  # both: sst2 then imdb
    python bench/train_sentiment.py --model imdb     # one
    python bench/train_sentiment.py --eval-only      # measure what ships, train nothing

(The shipped review language models, ``imdb-lm`` and ``imdb-lm-backward``, are trained and
shipped by ``bench/pretrain_lm.py``; fine-tuning from them by ``bench/finetune_search.py``.)

For each model (``RECIPES``):

1. Trains it as a user would: ``bptt train sentiment ...`` (the exact command is in the results)
   in a subprocess under ``/usr/bin/time -v``, with NumPy's BLAS on ``--threads`` threads
   (``OPENBLAS_NUM_THREADS``; default 1, see below). Wall time and peak resident memory are those
   of that whole command: reading and tokenizing the data, loading the vectors, training, the dev
   evaluations, saving.
2. Ships it: ``best/`` saved again with float16 weights into ``src/bptt/pretrained/<name>``,
   with a ``card.json`` holding its figures (``bptt models`` shows them).
3. Measures the shipped (float16) copy on the dev split: accuracy, per-class F1, the negation
   pairs (``bench/negation_pairs.tsv``: all 99, the 70 simple, the 29 harder); beside it, on the
   same split, the bag-of-words baseline (binary unigrams) and bag of uni+bigrams; the training
   tokens per second of each epoch (from ``metrics.jsonl``); the model's size.
4. For ``imdb``: ``bptt evaluate imdb`` on the 25,000 reviews of ``aclImdb/train`` under
   ``/usr/bin/time -v`` (peak memory and time of evaluating 25,000 IMDB-length reviews; the
   accuracy there includes the training part and means nothing).

Splits: ``sst2``: GLUE SST-2 train.tsv / dev.tsv. ``imdb``: aclImdb/train with 1 in 5 reviews
held out by ``--dev-fraction 0.2`` (seed 0): the 5,000 reviews of ``sentiment_search.load_split``
(the first 5,000 of ``np.random.default_rng(0).permutation(25000)`` in read order, neg then pos,
by review id); this script checks that the dev accuracy the training reports is the one it
measures on that split.

Threads: on a 2-CPU machine shared with other work a 2-thread BLAS call waits for the busy CPU
(measured: a BiLSTM H64 training step at 2.5k tokens/s with 2 threads against 49k with one,
load 6). Each run records ``os.getloadavg()`` before and after: rerun on a quiet machine for the
timing figures.

Writes ``bench/results/sentiment.json`` and ``bench/results/sentiment.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from bptt import io  # noqa: E402
from bptt.jobs.sentiment import PRETRAINED_ROOT, SentimentClassifier  # noqa: E402
from report import write_atomic  # noqa: E402
from sentiment_search import baselines, evaluate, load_split, pair_figures  # noqa: E402

RESULTS = ROOT / "bench" / "results"
GLOVE_REL = "../shared/data/glove/glove.6B.50d.txt.gz"
RECIPES = {
    "sst2": {
        "data": ["--train", "../shared/data/sst2/train.tsv", "--dev", "../shared/data/sst2/dev.tsv"],
        "settings": dict(cell="lstm", hidden_size=256, bidirectional=True, pooling="last+max+mean",
                         vectors=GLOVE_REL, embedding_dropout=0.3, output_dropout=0.3, epochs=8,
                         batch_size=64, lr=2e-3, clip_norm=5.0, patience=3, seed=0),
    },
    "imdb": {
        "data": ["--train", "../shared/data/imdb/aclImdb/train"],
        "settings": dict(cell="gru", hidden_size=128, bidirectional=True, pooling="max",
                         vectors=GLOVE_REL, embedding_dropout=0.3, output_dropout=0.3, min_freq=2,
                         max_len=400, truncate="head+tail", epochs=3, batch_size=32, lr=2e-3,
                         clip_norm=5.0, patience=2, seed=0, dev_fraction=0.2, ensemble=4),
    },
}
BUDGET_MIN = {"sst2": 20, "imdb": 18}         # --time-budget of the training (minutes)


def flag_value(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def command(name: str) -> list[str]:
    recipe = RECIPES[name]
    argv = ["bptt", "train", "sentiment", *recipe["data"]]
    for key, value in recipe["settings"].items():
        argv += [f"--{key.replace('_', '-')}", flag_value(value)]
    return argv + ["--time-budget", str(BUDGET_MIN[name]), "--out", f"runs/shipped/{name}", "--quiet"]


def timed(argv: list[str], threads: int, log: Path) -> dict:
    """Run ``argv`` from the repository root under /usr/bin/time -v; wall time, peak RSS, load."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
           "MKL_NUM_THREADS": str(threads)}
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.run(["/usr/bin/time", "-v", *argv], cwd=ROOT, env=env, stdout=out,
                              stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}); see {log}:\n{log.read_text()[-2000:]}")
    return {**from_log(log, threads), "seconds": round(time.perf_counter() - t0, 1),
            "loadavg_before": [round(x, 2) for x in load0],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()]}


def from_log(log: Path, threads: int) -> dict:
    """Command, wall time and peak RSS from a ``/usr/bin/time -v`` log (``--from-logs``: the
    training already ran and its record was lost; the load average then is not known)."""
    text = log.read_text()
    command_line = re.search(r'Command being timed: "(.*)"', text).group(1)
    clock = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", text).group(1)
    seconds = sum(float(x) * 60 ** i for i, x in enumerate(reversed(clock.split(":"))))
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    return {"command": command_line, "threads": threads, "seconds": round(seconds, 1),
            "peak_rss_mb": round(rss_kb / 1024, 1), "loadavg_before": None, "loadavg_after": None,
            "log": str(log.relative_to(ROOT))}


def card(name: str, record: dict) -> dict:
    m, b = record["shipped"], record["baselines"]
    figures = {"dev_accuracy": round(m["dev"]["accuracy"], 4),
               "bag_of_words_dev_accuracy": round(b["bag of words"]["dev"]["accuracy"], 4),
               "bag_of_bigrams_dev_accuracy": round(b["bag of words + bigrams"]["dev"]["accuracy"], 4)}
    if "negation" in m:
        figures["negation_pairs_both_right"] = round(m["negation"]["pairs_all"], 4)
        if "negation" in b["bag of words"]:
            figures["bag_of_words_negation_pairs_both_right"] = round(b["bag of words"]["negation"]["pairs_all"], 4)
    t = record.get("training", {})
    data = {"sst2": "GLUE SST-2 train.tsv (67,349 phrases); dev = GLUE SST-2 dev.tsv (872 sentences)",
            "imdb": "aclImdb/train minus 5,000 reviews held out as dev (--dev-fraction 0.2, seed 0)"}[name]
    if t:
        data += (f"; trained by `{t['command']}` in {t['seconds'] / 60:.1f} min "
                 f"(peak {t['peak_rss_mb']:,.0f} MB, {t['threads']} BLAS thread)")
    return {"data": data, "figures": figures,
            "notes": f"Weights stored as float16 ({m['bytes'] / 1e6:.1f} MB with the vocabulary)."}


def measure(name: str, record: dict) -> None:
    split = load_split(name)
    train_x, train_y, dev_x, dev_y, described = split
    shipped = SentimentClassifier.pretrained(name)
    directory = PRETRAINED_ROOT / name
    t0 = time.perf_counter()
    m = {"bytes": sum(f.stat().st_size for f in directory.rglob("*") if f.is_file()),
         "parameters": int(sum(p.size for m in shipped.members_ for p in m.params.values())),
         "members": len(shipped.members_),
         "vocabulary": len(shipped.vocab_), "dev": evaluate(shipped.predict, dev_x, dev_y)}
    m["dev_seconds"] = round(time.perf_counter() - t0, 1)
    m["negation"] = pair_figures(shipped.predict)
    record.update(split=described, shipped=m, baselines=baselines(name, split))
    if "training" in record:
        reported = record["training"]["best_dev_accuracy"]
        record["training"]["float32_dev_accuracy_matches_split"] = abs(reported - m["dev"]["accuracy"]) < 0.005


def train(name: str, threads: int, record: dict, rerun: bool = True) -> None:
    out = ROOT / "runs" / "shipped" / name
    if rerun:
        shutil.rmtree(out, ignore_errors=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        t = timed(command(name), threads, out.parent / f"{name}.log")
    else:
        t = from_log(out.parent / f"{name}.log", threads)
    logs = sorted(out.glob("member*/metrics.jsonl")) or [out / "metrics.jsonl"]   # ensembles: per member
    log = [{**json.loads(line), "member": i} for i, path in enumerate(logs) for line in open(path)]
    epochs = [e for e in log if "event" not in e]
    ensemble = [e for e in log if e.get("event") == "ensemble"]
    t.update(epochs=[{k: e.get(k) for k in ("member", "epoch", "train_loss", "dev_accuracy", "tokens_per_s",
                                            "elapsed_s")} for e in epochs],
             events=[e for e in log if "event" in e],
             best_dev_accuracy=(ensemble[-1]["dev_accuracy"] if ensemble else
                                max(e["dev_accuracy"] for e in log if "dev_accuracy" in e)))
    record["training"] = t
    best = SentimentClassifier.load(out / "best")
    target = PRETRAINED_ROOT / name
    shutil.rmtree(target, ignore_errors=True)
    best.save(target, weights_dtype="float16")


def table(records: dict) -> str:
    lines = ["# Sentiment: the shipped models against bag of words", "",
             "Written by `python bench/train_sentiment.py`; raw figures in `sentiment.json`. "
             "Dev = the model-selection split (SST-2 dev; IMDB: 5,000 reviews held out of aclImdb/train).", "",
             "| model | split | accuracy | F1 neg / pos | negation pairs: all 99 | 70 simple | 29 harder | "
             "train min | tokens/s | peak RSS | size |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in records.items():
        m = r["shipped"]
        rows = [(f"**{name}** (shipped, float16)", m, r.get("training"))]
        rows += [(f"{k} (same split)", v, None) for k, v in r["baselines"].items()]
        for label, x, t in rows:
            n = x.get("negation")
            tps = [e["tokens_per_s"] for e in t["epochs"] if e.get("tokens_per_s")] if t else []
            lines.append(
                f"| {label} | {name} dev | {x['dev']['accuracy']:.2%} | "
                f"{x['dev']['f1']['negative']:.3f} / {x['dev']['f1']['positive']:.3f} | "
                + (f"{n['pairs_all']:.1%} | {n['pairs_simple']:.1%} | {n['pairs_hard']:.1%} | " if n else "| | | ")
                + (f"{t['seconds'] / 60:.1f} | {min(tps):,.0f}-{max(tps):,.0f} | {t['peak_rss_mb']:,.0f} MB | "
                   if t else "| | | ")
                + (f"{x['bytes'] / 1e6:.1f} MB |" if "bytes" in x else "|"))
    for name, r in records.items():
        lines += ["", f"## {name}", "", f"Recipe: `{json.dumps(RECIPES[name]['settings'])}`", "",
                  "Split: " + "; ".join(f"{k}: {v}" for k, v in r["split"].items())]
        t = r.get("training")
        if t:
            lines += ["", f"Command (from the repository root, BLAS threads = {t['threads']}):", "",
                      f"    OPENBLAS_NUM_THREADS={t['threads']} {t['command']}", "",
                      f"Whole command: {t['seconds'] / 60:.1f} min, peak RSS {t['peak_rss_mb']:,.0f} MB, "
                      + (f"load average {t['loadavg_before'][0]:.1f} before / {t['loadavg_after'][0]:.1f} after."
                         if t["loadavg_before"] else "load average not recorded."),
                      "", "| member | epoch | train loss | dev accuracy | tokens/s | elapsed s (member) |",
                      "|---|---|---|---|---|---|"]
            lines += [f"| {e['member']} | {e['epoch']} | {e['train_loss']:.4f} | {e['dev_accuracy']:.4f} | "
                      f"{e['tokens_per_s']:,.0f} | {e['elapsed_s']:.0f} |" for e in t["epochs"]]
            for e in t["events"]:
                lines.append(f"\nEvent: `{json.dumps(e)}`")
        if "evaluate" in r:
            e = r["evaluate"]
            lines += ["", f"`{e['command']}` (25,000 reviews): {e['seconds']:.0f} s, peak RSS "
                          f"{e['peak_rss_mb']:,.0f} MB."]
        wrong = r["shipped"]["negation"]["wrong_pairs"]
        lines += ["", f"Negation pairs not fully right ({len(wrong)}): " + "; ".join(f"`{w}`" for w in wrong)]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=[*RECIPES, "all"], default="all")
    parser.add_argument("--eval-only", action="store_true", help="measure the shipped models only")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads of the training command")
    parser.add_argument("--from-logs", action="store_true",
                        help="do not train: ship and measure runs/shipped/<model> as the last run left it")
    args = parser.parse_args()
    names = list(RECIPES) if args.model == "all" else [args.model]
    path = RESULTS / "sentiment.json"
    previous = json.loads(path.read_text()) if path.is_file() else {}
    records = previous.get("models", {}) if isinstance(previous.get("models"), dict) else {}
    for name in names:
        record = {} if not args.eval_only else records.get(name, {})
        if not args.eval_only:
            train(name, args.threads, record, rerun=not args.from_logs)
        measure(name, record)
        if name == "imdb":
            record["evaluate"] = timed(["bptt", "evaluate", "imdb", "../shared/data/imdb/aclImdb/train"],
                                       args.threads, ROOT / "runs" / "shipped" / "evaluate_imdb.log")
        io.write_json(PRETRAINED_ROOT / name / "card.json", card(name, record))
        records[name] = record
        doc = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                           "numpy": np.__version__}, "models": records}
        io.write_json(path, doc)
        write_atomic(RESULTS / "sentiment.md", table(records))
        print(table({name: record}))


if __name__ == "__main__":
    main()
