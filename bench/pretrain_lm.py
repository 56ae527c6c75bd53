"""Pretrain the review language models (forward and backward), then ship them.

    python bench/pretrain_lm.py                   # train both (resuming where a run stopped), ship
    python bench/pretrain_lm.py --ship-only       # ship what runs/lm_forward|backward/best hold
    python bench/pretrain_lm.py --minutes 80      # a time budget per run (each resumes later)

1. Trains each direction with the command of ``command(direction)`` (docs/pretraining.md): two
   epochs of a word LSTM LM, H = 256, tied embeddings, sampled softmax (K = 1,024), 30,000 words, on the 70,000
   reviews of aclImdb/train minus the 5,000 held out for the sentiment figures
   (``bench/lm_exclude.txt``). The two directions run side by side, one BLAS thread each (on a
   2-core machine shared with other work a 2-thread BLAS call waits for the busy core: measured
   885 tokens/s against 6,778 with one thread for this model's training step, load 5). A run
   that finds its checkpoint resumes from it (``--resume``), so a stopped session loses nothing.
2. Ships ``runs/lm_<direction>/best`` as float16 into ``src/bptt/pretrained/imdb-lm`` and
   ``imdb-lm-backward`` with a ``card.json``: the data, the command, the tokens read, the best
   held-out perplexity the run measured (full softmax, float32 weights, from its
   ``metrics.jsonl``), the median tokens per second of its rounds, peak memory.

Writes ``bench/results/pretrain_lm.json`` and ``.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from report import write_atomic  # noqa: E402

RESULTS = ROOT / "bench" / "results"
CORPUS = "../shared/data/imdb/aclImdb/train"
SHIP = {"forward": "imdb-lm", "backward": "imdb-lm-backward"}
SETTINGS = ["--level", "word", "--tokenizer", "review", "--cell", "lstm", "--hidden-size", "256",
            "--tie-weights", "--softmax", "sampled", "--num-sampled", "1024", "--max-vocab", "30000",
            "--batch-size", "64", "--seq-len", "50", "--epochs", "2", "--eval-every", "600",
            "--val-fraction", "0.004"]


def command(direction: str) -> list[str]:
    return ["bptt", "train", "lm", "--corpus", CORPUS, "--exclude", "bench/lm_exclude.txt",
            "--direction", direction, *SETTINGS, "--out", f"runs/lm_{direction}"]


def train(minutes: float | None) -> dict:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    procs = {}
    for direction in SHIP:
        cmd = command(direction)
        if (ROOT / f"runs/lm_{direction}/checkpoint.safetensors").is_file():
            cmd += ["--resume", f"runs/lm_{direction}"]
        if minutes:
            cmd += ["--time-budget", str(minutes)]
        log = open(ROOT / f"runs/lm_{direction}.log", "a")
        procs[direction] = (subprocess.Popen(["/usr/bin/time", "-v", *cmd], cwd=ROOT, env=env, stdout=log,
                                             stderr=subprocess.STDOUT), cmd, time.perf_counter())
    out = {}
    for direction, (proc, cmd, t0) in procs.items():
        code = proc.wait()
        out[direction] = {"command": " ".join(cmd), "exit": code, "seconds": round(time.perf_counter() - t0)}
    return out


def metrics(direction: str) -> list[dict]:
    path = ROOT / f"runs/lm_{direction}/metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


PEAK_RSS_MB: dict[str, float] = {}     # --peak-rss-mb: read off /proc/PID/status VmHWM of a run started by hand


def peak_rss_mb(direction: str) -> float | None:
    if direction in PEAK_RSS_MB:
        return PEAK_RSS_MB[direction]
    log = (ROOT / f"runs/lm_{direction}.log").read_text(errors="replace")
    values = [int(line.split(":")[1]) for line in log.splitlines() if "Maximum resident set size" in line]
    return round(max(values) / 1024, 1) if values else None


def ship(direction: str) -> dict:
    from bptt.jobs.language_model import METRIC, TextModel, evaluate_stream  # noqa: F401
    from bptt.files import replace_directory
    run = ROOT / f"runs/lm_{direction}"
    model = TextModel.load(run / "best")
    records = metrics(direction)
    evals = [r for r in records if "dev_perplexity" in r]
    rounds = [r for r in records if "tokens_per_s" in r]
    best = min(evals, key=lambda r: r["dev_perplexity"])
    target = ROOT / "src/bptt/pretrained" / SHIP[direction]
    replace_directory(target, lambda d: model.save(d, weights_dtype="float16"))
    tokens_per_s = [r["tokens_per_s"] for r in rounds]
    figures = {"dev_perplexity": round(best["dev_perplexity"], 2),
               "dev_nats_per_token": round(best["dev_loss"], 4),
               "tokens_trained": int(max(r["step"] for r in evals)) * 64 * 50,   # chunks x B x T
               "tokens_per_s_median": sorted(tokens_per_s)[len(tokens_per_s) // 2] if tokens_per_s else None,
               "peak_rss_mb": peak_rss_mb(direction)}
    card = {"data": f"{CORPUS} (unsup, neg, pos) minus bench/lm_exclude.txt: 70,000 reviews; the last 0.4% "
                    f"of them (shuffled, seed 0) held out for the perplexity",
            "figures": {k: v for k, v in figures.items() if v is not None},
            "notes": f"A {direction} word LSTM language model (H 256, tied embeddings, 30,000 words of the "
                     f"review tokenizer) trained with a sampled softmax by `{' '.join(command(direction))}`; "
                     f"float16 weights. Use it as `bptt train sentiment --init-from {SHIP[direction]}` or "
                     f"`bptt generate {SHIP[direction]}`. docs/pretraining.md has the recipe."}
    write_atomic(target / "card.json", json.dumps(card, indent=2) + "\n")
    return {"shipped": str(target.relative_to(ROOT)), **figures,
            "bytes": sum(f.stat().st_size for f in target.rglob("*") if f.is_file()),
            "evaluations": [{k: r[k] for k in ("epoch", "step", "dev_perplexity", "elapsed_s") if k in r}
                            for r in evals]}


def markdown(results: dict) -> str:
    lines = ["# Review language models", "", "`python bench/pretrain_lm.py` (docs/pretraining.md).", "",
             "| model | held-out perplexity (full softmax) | tokens/s (median of rounds) | peak RSS | size |",
             "|---|---|---|---|---|"]
    for direction, r in results.get("shipped", {}).items():
        lines.append(f"| {SHIP[direction]} | {r['dev_perplexity']} | {r.get('tokens_per_s_median')} | "
                     f"{r.get('peak_rss_mb')} MB | {r['bytes'] / 1e6:.1f} MB |")
    for direction, r in results.get("shipped", {}).items():
        lines += ["", f"{SHIP[direction]} evaluations:", ""]
        lines += [f"- round {e.get('epoch')}: perplexity {e['dev_perplexity']:.2f} at "
                  f"{e.get('elapsed_s', 0) / 60:.0f} min" for e in r["evaluations"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ship-only", action="store_true")
    ap.add_argument("--minutes", type=float)
    ap.add_argument("--peak-rss-mb", type=float, nargs=2, metavar=("FORWARD", "BACKWARD"),
                    help="peak memory of runs started by hand (VmHWM), for the cards")
    args = ap.parse_args()
    if args.peak_rss_mb:
        PEAK_RSS_MB.update(zip(SHIP, args.peak_rss_mb))
    path = RESULTS / "pretrain_lm.json"
    results = json.loads(path.read_text()) if path.is_file() else {}
    if not args.ship_only:
        results["training"] = train(args.minutes)
    results["shipped"] = {d: ship(d) for d in SHIP if (ROOT / f"runs/lm_{d}/best").is_dir()}
    write_atomic(path, json.dumps(results, indent=1))
    write_atomic(RESULTS / "pretrain_lm.md", markdown(results))


if __name__ == "__main__":
    main()
