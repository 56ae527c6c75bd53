"""Train the sentiment model that ships in the package, and measure it against the baseline.

    python bench/train_sentiment.py            # train, ship, evaluate (about 10 minutes)
    python bench/train_sentiment.py --eval-only

1. Trains a SentimentClassifier from scratch (no pretrained vectors) on GLUE SST-2 train.tsv
   (67,349 phrases) with the recipe below, keeping the epoch with the best dev accuracy, within
   a 15-minute budget on a 2-core machine.
2. Saves it into src/bptt/pretrained/sentiment (weights stored as float16 to stay small).
3. Loads the shipped copy back and evaluates it, and a bag-of-words logistic regression trained
   on the same split, on SST-2 dev (872 sentences) and on the negation minimal pairs of
   bench/negation_pairs.tsv. Writes bench/results/sentiment.json and sentiment.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from bptt import io  # noqa: E402
from bptt.baseline import BagOfWords  # noqa: E402
from bptt.data import read_dataset  # noqa: E402
from bptt.jobs.sentiment import PRETRAINED, SentimentClassifier  # noqa: E402
from report import write_atomic  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "sst2"
PAIRS = ROOT / "bench" / "negation_pairs.tsv"
RESULTS = ROOT / "bench" / "results"
RECIPE = dict(cell="lstm", embedding_dim=64, hidden_size=128, num_layers=1, bidirectional=True,
              pooling="max", embedding_dropout=0.3, output_dropout=0.3, min_freq=1,
              epochs=6, batch_size=64, optimizer="adam", lr=2e-3, clip_norm=5.0, patience=3, seed=0)
BUDGET_S = 15 * 60


def pair_accuracy(predict, texts, labels) -> dict:
    """Accuracy on all pair sentences, on the negated halves, and pairs with both members right."""
    right = np.asarray(predict(texts)) == np.asarray(labels)
    return {"sentences": float(right.mean()), "plain": float(right[0::2].mean()),
            "negated": float(right[1::2].mean()), "both_in_pair": float((right[0::2] & right[1::2]).mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-only", action="store_true", help="evaluate the shipped model only")
    parser.add_argument("--out", default=str(ROOT / "runs" / "sentiment"), help="training run folder")
    args = parser.parse_args()

    train, train_report = read_dataset(DATA / "train.tsv")
    dev, dev_report = read_dataset(DATA / "dev.tsv")
    pairs, pairs_report = read_dataset(PAIRS)
    for report in (train_report, dev_report, pairs_report):
        print(report)
    to_names = lambda ds: [ds.classes[i] for i in ds.labels]

    record = {"recipe": RECIPE, "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                            "numpy": np.__version__}}
    if not args.eval_only:
        out = Path(args.out)
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        clf = SentimentClassifier(**RECIPE).fit(train.texts, to_names(train), dev.texts, to_names(dev),
                                                out_dir=out)
        seconds = time.perf_counter() - t0
        if seconds > BUDGET_S:
            print(f"warning: training took {seconds / 60:.1f} min, over the 15-minute budget")
        PRETRAINED.mkdir(parents=True, exist_ok=True)
        clf.save(PRETRAINED, weights_dtype="float16")
        record["training"] = {"seconds": round(seconds, 1), "best_epoch": clf.trainer_.state.best_epoch,
                              "best_dev_accuracy_during_training": clf.trainer_.state.best_score,
                              "epochs_run": clf.trainer_.state.epoch,
                              "log": [json.loads(l) for l in open(out / "metrics.jsonl")]}

    shipped = SentimentClassifier.pretrained()
    size = sum(f.stat().st_size for f in PRETRAINED.iterdir())
    t0 = time.perf_counter()
    bow = BagOfWords(seed=0).fit(train.texts, to_names(train))
    bow_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    rnn_dev = shipped.score(dev.texts, to_names(dev))
    rnn_dev_seconds = time.perf_counter() - t0
    record["shipped_model"] = {"path": str(PRETRAINED.relative_to(ROOT)), "bytes": size,
                               "parameters": int(sum(p.size for p in shipped.model_.params.values())),
                               "dev_accuracy": rnn_dev, "dev_seconds": round(rnn_dev_seconds, 2),
                               "negation_pairs": pair_accuracy(shipped.predict, pairs.texts, to_names(pairs))}
    record["bag_of_words"] = {"dev_accuracy": bow.score(dev.texts, to_names(dev)), "fit_seconds": round(bow_seconds, 1),
                              "negation_pairs": pair_accuracy(bow.predict, pairs.texts, to_names(pairs))}
    examples = ["this movie is not good", "this movie is good", "this movie is not bad", "this movie is bad",
                "i did n't like it at all", "not a bad way to spend an afternoon"]
    record["examples"] = [{"text": t, "rnn": shipped.predict([t])[0], "bag_of_words": bow.predict([t])[0]}
                          for t in examples]

    RESULTS.mkdir(parents=True, exist_ok=True)
    io.write_json(RESULTS / "sentiment.json", record)
    s, b = record["shipped_model"], record["bag_of_words"]
    lines = ["# Sentiment: shipped model vs bag of words", "",
             "Produced by `python bench/train_sentiment.py`; raw figures in `sentiment.json`.", "",
             "| | SST-2 dev (872) | negation pairs: all | plain | negated | both in pair |",
             "|---|---|---|---|---|---|"]
    for name, r in (("RNN (shipped)", s), ("bag of words", b)):
        n = r["negation_pairs"]
        lines.append(f"| {name} | {r['dev_accuracy']:.2%} | {n['sentences']:.2%} | {n['plain']:.2%} | "
                     f"{n['negated']:.2%} | {n['both_in_pair']:.2%} |")
    if "training" in record:
        t = record["training"]
        lines += ["", f"Training: {t['seconds'] / 60:.1f} min, {t['epochs_run']} epochs, best epoch "
                      f"{t['best_epoch']}; shipped model {s['bytes'] / 1e6:.2f} MB, {s['parameters']:,} parameters."]
    lines += ["", "| text | RNN | bag of words |", "|---|---|---|"]
    lines += [f"| {e['text']} | {e['rnn']} | {e['bag_of_words']} |" for e in record["examples"]]
    text = "\n".join(lines) + "\n"
    write_atomic(RESULTS / "sentiment.md", text)
    print(text)


if __name__ == "__main__":
    main()
