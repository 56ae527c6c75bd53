"""Measure the bag-of-words baseline: SST-2 dev accuracy and accuracy on the negation pairs.

    python bench/baseline.py          # a few seconds

Fits ``bptt.baseline.BagOfWords`` (logistic regression on word presence, seed 0, its default
settings) on GLUE SST-2 ``train.tsv`` (67,349 phrases, from ../shared/data/sst2) and measures it
on SST-2 ``dev.tsv`` (872 sentences) and on the negation minimal pairs of
``bench/negation_pairs.tsv`` (70 pairs): every sentence, the sentences without a negation, the
negated ones, and the pairs with both members right. Writes ``bench/results/baseline.json`` and
``baseline.md``.

This is a measurement, not a test: the figures are what the model gets, with no target. (They
were a test with the assertion ``0 <= accuracy <= 1`` before.) ``bench/train_sentiment.py``
measures the same baseline beside the shipped RNN.
"""
from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from bptt.baseline import BagOfWords  # noqa: E402
from bptt.data import read_dataset  # noqa: E402
from bptt.files import write_json, write_text  # noqa: E402
from train_sentiment import DATA, PAIRS, RESULTS, pair_accuracy  # noqa: E402


def main() -> None:
    datasets = {}
    for name, path in (("train", DATA / "train.tsv"), ("dev", DATA / "dev.tsv"), ("pairs", PAIRS)):
        datasets[name], report = read_dataset(path)
        print(report)
    names = {k: [ds.classes[i] for i in ds.labels] for k, ds in datasets.items()}

    t0 = time.perf_counter()
    bow = BagOfWords(seed=0).fit(datasets["train"].texts, names["train"])
    seconds = time.perf_counter() - t0
    right = np.asarray(bow.predict(datasets["dev"].texts)) == np.asarray(names["dev"])     # (872,)
    record = {
        "model": "bptt.baseline.BagOfWords(seed=0), default settings",
        "train": {"path": os.path.relpath(DATA / "train.tsv", ROOT), "examples": len(datasets["train"].texts),
                  "vocabulary": len(bow.vocabulary_), "fit_seconds": round(seconds, 2)},
        "dev_accuracy": float(right.mean()), "dev_right": int(right.sum()), "dev_examples": len(right),
        "negation_pairs": pair_accuracy(bow.predict, datasets["pairs"].texts, names["pairs"]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__},
    }
    write_json(RESULTS / "baseline.json", record)
    n = record["negation_pairs"]
    text = "\n".join([
        "# Bag-of-words baseline: SST-2 dev and the negation pairs", "",
        "Produced by `python bench/baseline.py`; raw figures in `baseline.json`.", "",
        "| | SST-2 dev | negation pairs: all 140 | without negation | negated | both of a pair |",
        "|---|---|---|---|---|---|",
        f"| bag of words (seed 0) | {record['dev_accuracy']:.2%} ({record['dev_right']} of "
        f"{record['dev_examples']}) | {n['sentences']:.2%} | {n['plain']:.2%} | {n['negated']:.2%} | "
        f"{n['both_in_pair']:.2%} |", "",
        f"Fit on {record['train']['examples']:,} SST-2 training phrases "
        f"({record['train']['vocabulary']:,} words) in {seconds:.1f} s.", ""])
    write_text(RESULTS / "baseline.md", text)
    print(text, end="")


if __name__ == "__main__":
    main()
