"""Single-review latency of every sentiment model shipped in the package, on each bptt path.

    python bench/review_latency.py                      # 1 thread, reviews of 20 and 200 words
    python bench/review_latency.py --threads 1 2 --repeats 9
    python bench/review_latency.py --models sst2 runs/ft/NAME/best --out bench/results/review_latency_candidates
                                                        # a candidate beside a shipped model

For each model directory under ``src/bptt/pretrained/`` with a ``sentiment.json``: load it with
``SentimentClassifier.load`` (or each of ``--models``: a shipped name or a model directory) and time ``predict_proba([review])`` for one review of 20 and one of
200 words (words drawn, seeded, from the model's own vocabulary), the paths (``--paths``) taking
turns repeat by repeat; medians of wall-clock and process CPU time. Writes
``bench/results/review_latency.{json,md}`` (``--out STEM``: ``STEM.{json,md}``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import numpy as np                               # noqa: E402
from threadpoolctl import threadpool_limits      # noqa: E402

from bptt.backend import numba_installed, use_backend   # noqa: E402

import measure                                   # noqa: E402
import report                                    # noqa: E402

try:                                             # the jobs' home after issue 10's reorganisation
    from bptt.jobs.sentiment import SentimentClassifier      # noqa: E402
except ImportError:
    from bptt.sentiment import SentimentClassifier           # noqa: E402

PRETRAINED = REPO / "src" / "bptt" / "pretrained"


def shipped_models() -> list[Path]:
    return sorted(p.parent for p in PRETRAINED.glob("*/sentiment.json"))


def model_directory(spec: str) -> Path:
    """A shipped model's name (a directory under ``src/bptt/pretrained/``) or a model directory."""
    path = PRETRAINED / spec if (PRETRAINED / spec / "sentiment.json").is_file() else Path(spec)
    if not (path / "sentiment.json").is_file():
        raise SystemExit(f"--models: {spec}: neither a shipped sentiment model nor a directory with sentiment.json")
    return path


def label(directory: Path) -> str:
    """``sst2`` for a shipped model, ``NAME`` for ``runs/ft/NAME/best``."""
    return directory.parent.name if directory.name == "best" else directory.name


def review(clf, words: int, seed: int) -> str:
    """``words`` words drawn (seeded) from the model's vocabulary, joined by spaces."""
    vocab = getattr(clf, "vocab_", None) or clf.vocab
    known = [t for t in vocab.tokens if t.isalpha()]
    return " ".join(np.random.default_rng(seed).choice(known, size=words))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1])
    ap.add_argument("--words", type=int, nargs="+", default=[20, 200])
    ap.add_argument("--paths", nargs="+", default=["numba", "numpy"] if numba_installed() else ["numpy"],
                    choices=["numba", "numpy", "reference"])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--models", nargs="+", help="shipped names or model directories (default: every shipped one)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "review_latency",
                    help="results stem: STEM.json and STEM.md")
    args = ap.parse_args()
    directories = [model_directory(m) for m in args.models] if args.models else shipped_models()
    out = {"command": " ".join(["python", "bench/review_latency.py", *sys.argv[1:]]),
           "machine": report.machine_info(REPO), "rows": []}
    for directory in directories:
        clf = SentimentClassifier.load(directory)
        c = getattr(clf, "model_", None) or clf.model          # fitted attribute (scikit-learn style)
        c = c.config
        name = (f"{label(directory)}: {'bi' if c.bidirectional else ''}{c.mode} E{c.embedding_dim} "
                f"H{c.hidden_size}, {c.pooling} pooling")
        for words in args.words:
            text = review(clf, words, seed=words)
            probs = {}
            for path in args.paths:
                with use_backend(path):
                    probs[path] = clf.predict_proba([text])
            worst = max(float(np.abs(p - probs[args.paths[0]]).max()) for p in probs.values())
            for n in args.threads:
                sides = {}
                for path in args.paths:
                    def run(path=path):
                        with use_backend(path):
                            return clf.predict_proba([text])
                    sides[path] = run
                with threadpool_limits(n), measure.OtherLoad() as load:
                    t = measure.interleaved(sides, lambda: None, args.repeats)
                row = {"model": name, "words": words, "threads": n, "other_load_cpus": load.cpus,
                       "loadavg": os.getloadavg(), "max_prob_difference": worst,
                       "ms": {p: 1e3 * r["median_s"] for p, r in t.items()},
                       "cpu_ms": {p: 1e3 * r["cpu_median_s"] for p, r in t.items()}, "sides": t}
                out["rows"].append(row)
                print(f"{name}, {words} words, {n} thr: "
                      + ", ".join(f"{p} {ms:.3f} ms" for p, ms in row["ms"].items())
                      + f" (other load {load.cpus:.2f})", flush=True)
    lines = [f"Run {out['machine']['date_utc']} on {out['machine']['cpu']}; bptt at "
             f"`{out['machine']['git_commit'][:10]}`. One review through `predict_proba`, median of "
             f"{args.repeats} repeats per path (taking turns), wall clock.", "",
             "| model | words | threads | " + " | ".join(f"{p} ms" for p in args.paths)
             + (f" | {args.paths[1]} ÷ {args.paths[0]}" if len(args.paths) > 1 else "")
             + " | other load |",
             "|---|---:|---:|" + "---:|" * len(args.paths) + ("---:|" if len(args.paths) > 1 else "") + "---:|"]
    for r in out["rows"]:
        ratio = (f" | **{r['ms'][args.paths[1]] / r['ms'][args.paths[0]]:.2f}**"
                 if len(args.paths) > 1 else "")
        lines.append(f"| {r['model']} | {r['words']} | {r['threads']} | "
                     + " | ".join(f"{r['ms'][p]:.3f}" for p in args.paths) + ratio
                     + f" | {r['other_load_cpus']:.2f} |")
    lines += ["", "The paths give the same probabilities (largest difference: "
              f"{max((r['max_prob_difference'] for r in out['rows']), default=0):.1e})."]
    stem = args.out
    report.write_atomic(stem.with_suffix(".json"), json.dumps(out, indent=1) + "\n")
    report.write_atomic(stem.with_suffix(".md"), "# Single-review latency of "
                        + ("the shipped models" if not args.models else ", ".join(map(label, directories)))
                        + "\n\n"
                        f"Generated by `{out['command']}`.\n\n" + "\n".join(lines) + "\n")
    print(f"wrote {stem.with_suffix('.json')} and {stem.with_suffix('.md')}")


if __name__ == "__main__":
    main()
