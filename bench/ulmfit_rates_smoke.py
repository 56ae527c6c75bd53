"""A smoke of ULMFiT's learning-rate options on SST-2 (not a result): 1 epoch of a small GRU on the
first 15,000 training phrases, dev accuracy on the 872 dev sentences, for the settings given as
NAME=VALUE arguments; appends a line to bench/results/ulmfit_rates_smoke.txt.

    python bench/ulmfit_rates_smoke.py slanted_triangular=True lr=0.006
"""
import os
import sys
from pathlib import Path

from bptt.data.readers import read_dataset
from bptt.jobs.sentiment import SentimentClassifier

DATA = Path(os.environ.get("BPTT_SHARED_DATA", "../shared/data"))
N = 15_000
BASE = dict(cell="gru", embedding_dim=32, hidden_size=32, bidirectional=False, pooling="max", epochs=1,
            batch_size=64)


def value(text: str):
    """"True" / "False" -> bool, a number with a dot -> float, else the string."""
    if text in ("True", "False"):
        return text == "True"
    return float(text) if "." in text else text


def main(argv: list[str]) -> None:
    extra = {name: value(v) for name, v in (a.split("=", 1) for a in argv)}
    train, _ = read_dataset(DATA / "sst2" / "train.tsv")
    dev, _ = read_dataset(DATA / "sst2" / "dev.tsv")
    labels = [train.classes[i] for i in train.labels[:N]]
    dev_labels = [dev.classes[i] for i in dev.labels]
    clf = SentimentClassifier(**BASE, **extra).fit(train.texts[:N], labels, dev.texts, dev_labels, progress=False)
    line = f"{extra}: dev accuracy {clf.trainer_.state.best_score:.4f}"
    print(line)
    with open(Path(__file__).parent / "results" / "ulmfit_rates_smoke.txt", "a", encoding="utf-8") as f:
        f.write(line + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
