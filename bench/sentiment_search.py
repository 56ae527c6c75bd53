"""The recipe search for the sentiment models: one training run per call, measured and recorded.

    python bench/sentiment_search.py --data sst2 --name glove_ft --set vectors=GLOVE epochs=8
    python bench/sentiment_search.py --data imdb --name h64 --set hidden_size=64 max_len=400
    python bench/sentiment_search.py --table            # rewrite the tables from the records

Each run trains a ``SentimentClassifier`` with the base recipe of its data set (``BASE`` below)
changed by ``--set key=value ...`` (``GLOVE`` stands for the GloVe 6B 50d file), keeping the
epoch with the best dev accuracy, and then measures it on the dev split and, for SST-2, on the
negation pairs (``bench/negation_pairs.tsv``: all 99 pairs, the 70 simple ones, the 29 harder
ones). Beside it, on exactly the same split, the bag-of-words baseline (``BagOfWords``, binary
unigrams) and the same with bigrams added (a stronger baseline, in the spirit of NBSVM-bigrams).

Splits:
- ``sst2``: GLUE SST-2 ``train.tsv`` (67,349 phrases) / ``dev.tsv`` (872 sentences).
- ``imdb``: ``aclImdb/train`` (25,000 reviews, read in ``read_dataset`` order: neg then pos, by
  review id), permuted by ``np.random.default_rng(0).permutation(25000)``; the first 5,000 of
  the permutation are the dev (held-out) part, the other 20,000 the training part. The record
  holds the SHA-256 of the sorted dev file names.

Measured per run: wall time of ``fit`` (reading and tokenizing the data excluded, loading the
vectors included), tokens per second of each epoch (from ``metrics.jsonl``), peak resident memory
of the process (``ru_maxrss``), and the load average at the start, the end and every 30 s (the
machine is shared: tokens/s move with it). NumPy's BLAS runs on ``--threads`` threads (default
1: on a shared 2-CPU machine a 2-thread GEMM waits for the busy CPU; measured 2.5k against 49k
tokens/s for a BiLSTM H64 step under a load of 6).

Records: ``bench/results/search/<data>/<name>.json``; tables: ``bench/results/search_<data>.md``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from threadpoolctl import threadpool_limits  # noqa: E402

from bptt import io  # noqa: E402
from bptt.baseline import BagOfWords  # noqa: E402
from bptt.data import read_dataset  # noqa: E402
from bptt.data.tokenize import tokenize  # noqa: E402
from bptt.jobs.sentiment import SentimentClassifier  # noqa: E402
from bptt.metrics import classification_report  # noqa: E402
from report import write_atomic  # noqa: E402

DATA = Path(os.environ.get("BPTT_SHARED_DATA", ROOT.parent / "shared" / "data"))   # as the tests read it
GLOVE = str(DATA / "glove" / "glove.6B.50d.txt.gz")
PAIRS = ROOT / "bench" / "negation_pairs.tsv"
SIMPLE_PAIRS = 70
# the pairs by kind (bench/negation_pairs.md): a positive sentence negated, a negative one, the harder kinds
PAIR_GROUPS = {"positive base": range(0, 46), "negative base": range(46, 70), "harder": range(70, 99)}
RESULTS = ROOT / "bench" / "results"
BASE = {
    "sst2": dict(cell="lstm", embedding_dim=64, hidden_size=128, num_layers=1, bidirectional=True,
                 pooling="max", embedding_dropout=0.3, output_dropout=0.3, min_freq=1, epochs=6,
                 batch_size=64, optimizer="adam", lr=2e-3, clip_norm=5.0, patience=3, seed=0),
    "imdb": dict(cell="lstm", hidden_size=64, num_layers=1, bidirectional=True, pooling="max",
                 embedding_dropout=0.3, output_dropout=0.3, min_freq=2, epochs=4, batch_size=32,
                 optimizer="adam", lr=2e-3, clip_norm=5.0, patience=2, seed=0, max_len=400),
}


def load_split(name: str):
    """(train texts, train labels, dev texts, dev labels, description) with labels as class names."""
    names = lambda ds, idx: [ds.classes[ds.labels[i]] for i in idx]  # noqa: E731
    if name == "sst2":
        train, _ = read_dataset(DATA / "sst2" / "train.tsv")
        dev, _ = read_dataset(DATA / "sst2" / "dev.tsv")
        return (train.texts, names(train, range(len(train))), dev.texts, names(dev, range(len(dev))),
                {"train": "GLUE SST-2 train.tsv (67,349 phrases)", "dev": "GLUE SST-2 dev.tsv (872 sentences)"})
    data, report = read_dataset(DATA / "imdb" / "aclImdb" / "train")
    files = [f"{c}/{f.name}" for c in ("neg", "pos")
             for f in sorted((DATA / "imdb" / "aclImdb" / "train" / c).glob("*.txt"),
                             key=lambda p: (int(p.stem.split("_")[0]), p.name))]
    assert len(files) == len(data) == 25_000, (len(files), len(data))
    order = np.random.default_rng(0).permutation(len(data))
    dev_idx, train_idx = order[:5000], order[5000:]
    digest = hashlib.sha256("\n".join(sorted(files[i] for i in dev_idx)).encode()).hexdigest()
    return ([data.texts[i] for i in train_idx], names(data, train_idx),
            [data.texts[i] for i in dev_idx], names(data, dev_idx),
            {"train": "aclImdb/train minus the dev part (20,000 reviews)",
             "dev": "aclImdb/train, the first 5,000 of np.random.default_rng(0).permutation(25000) "
                    "in read_dataset order (neg then pos, by review id)",
             "dev_files_sha256": digest})


def bigrams(text: str) -> list[str]:
    """Unigrams plus adjacent-pair bigrams of the SST tokenizer's tokens."""
    toks = tokenize(text)
    return toks + [a + " " + b for a, b in zip(toks, toks[1:])]


def bigrams_tokenizer():
    return bigrams


def evaluate(predict, texts, labels, classes=("negative", "positive")) -> dict:
    pred = list(predict(texts))
    index = {c: i for i, c in enumerate(classes)}
    report = classification_report([index[y] for y in labels], [index[p] for p in pred], list(classes))
    d = report.to_dict()
    return {"accuracy": d["accuracy"], "f1": {c: d["per_class"][c]["f1"] for c in classes}
            if "per_class" in d else d}


def pair_figures(predict) -> dict:
    pairs, _ = read_dataset(PAIRS)
    right = np.asarray(predict(pairs.texts)) == np.asarray([pairs.classes[i] for i in pairs.labels])
    both = right[0::2] & right[1::2]
    # per group: [pairs fully right, base sentences right, negated sentences right, pairs]
    groups = {name: [int(both[list(k)].sum()), int(right[0::2][list(k)].sum()), int(right[1::2][list(k)].sum()),
                     len(k)] for name, k in PAIR_GROUPS.items()}
    return {"pairs_all": float(both.mean()), "pairs_simple": float(both[:SIMPLE_PAIRS].mean()),
            "pairs_hard": float(both[SIMPLE_PAIRS:].mean()), "sentences": float(right.mean()),
            "n_pairs": int(both.size), "groups": groups,
            "wrong_pairs": [pairs.texts[2 * k] for k in np.flatnonzero(~both)]}


def baselines(data: str, split) -> dict:
    """Bag of words (unigrams) and bag of uni+bigrams on the split; cached per data set."""
    path = RESULTS / "search" / data / "_baselines.json"
    if path.is_file():
        return json.loads(path.read_text())
    train_x, train_y, dev_x, dev_y, _ = split
    out = {}
    for name, kw in (("bag of words", {}), ("bag of words + bigrams", {"tokenizer": bigrams_tokenizer()})):
        t0 = time.perf_counter()
        bow = BagOfWords(seed=0, **kw).fit(train_x, train_y)
        rec = {"fit_seconds": round(time.perf_counter() - t0, 1), "vocabulary": len(bow.vocabulary_),
               "dev": evaluate(bow.predict, dev_x, dev_y)}
        rec["negation"] = pair_figures(bow.predict)
        out[name] = rec
        print(name, rec["dev"], flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    io.write_json(path, out)
    return out


class LoadSampler(threading.Thread):
    """os.getloadavg()[0] every ``every`` seconds while a run goes on."""

    def __init__(self, every: float = 30.0):
        super().__init__(daemon=True)
        self.every, self.samples, self._stop = every, [], threading.Event()

    def run(self):
        while not self._stop.wait(self.every):
            self.samples.append(round(os.getloadavg()[0], 2))

    def stop(self) -> list[float]:
        self._stop.set()
        return self.samples


def parse_sets(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        if value == "GLOVE":
            out[key] = GLOVE
            continue
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def run(args) -> None:
    sets = parse_sets(args.set)
    if sets.get("vectors") and "embedding_dim" not in sets:
        sets["embedding_dim"] = None                      # the vector file's dimension
    recipe = {**BASE[args.data], **sets}
    split = load_split(args.data)
    train_x, train_y, dev_x, dev_y, described = split
    out = ROOT / "runs" / "search" / args.data / args.name
    shutil.rmtree(out, ignore_errors=True)
    load_start = os.getloadavg()
    sampler = LoadSampler()
    sampler.start()
    t0 = time.perf_counter()
    with threadpool_limits(args.threads):
        clf = SentimentClassifier(**recipe).fit(train_x, train_y, dev_x, dev_y, out_dir=out,
                                                progress=not args.quiet)
        seconds = time.perf_counter() - t0
        samples = sampler.stop()
        logs = sorted(out.glob("member*/metrics.jsonl")) or [out / "metrics.jsonl"]   # ensembles: per member
        log = [json.loads(line) for path in logs for line in open(path)]
        t1 = time.perf_counter()
        dev = evaluate(clf.predict, dev_x, dev_y)
        eval_seconds = time.perf_counter() - t1
        record = {"name": args.name, "data": args.data, "split": described, "recipe": recipe,
                  "threads": args.threads, "note": args.note,
                  "dev": dev, "best_epoch": clf.trainer_.state.best_epoch,
                  "members": len(clf.members_),
                  "epochs_run": clf.trainer_.state.epoch, "train_seconds": round(seconds, 1),
                  "dev_eval_seconds": round(eval_seconds, 1),
                  "tokens_per_s": [e.get("tokens_per_s") for e in log if "epoch" in e and "tokens_per_s" in e],
                  "dev_by_epoch": [e.get("dev_accuracy") for e in log if "dev_accuracy" in e],
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                  "loadavg_start": [round(x, 2) for x in load_start],
                  "loadavg_end": [round(x, 2) for x in os.getloadavg()], "loadavg_samples": samples,
                  "parameters": int(sum(p.size for m in clf.members_ for p in m.params.values())),
                  "vocabulary": len(clf.vocab_)}
        if clf.vector_report_ is not None:
            record["vectors"] = clf.vector_report_.details()
        record["negation"] = pair_figures(clf.predict)
    path = RESULTS / "search" / args.data / f"{args.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    io.write_json(path, record)
    print(json.dumps({k: record[k] for k in ("dev", "train_seconds", "tokens_per_s", "peak_rss_mb")}))
    if "negation" in record:
        print({k: v for k, v in record["negation"].items() if k != "wrong_pairs"})
    baselines(args.data, split)
    table(args.data)


def _changed(recipe: dict, data: str) -> str:
    base = BASE[data]
    diff = {k: v for k, v in recipe.items() if base.get(k, "<unset>") != v}
    shown = lambda v: "GLOVE" if isinstance(v, str) and v.endswith(Path(GLOVE).name) else v  # noqa: E731
    diff = {k: v for k, v in recipe.items() if base.get(k, "<unset>") != v and k != "embedding_dim"
            or k == "embedding_dim" and v is not None and base.get(k) != v}
    text = ", ".join(f"{k}={shown(v)}" for k, v in diff.items())
    return text or "base recipe"


def table(data: str) -> None:
    folder = RESULTS / "search" / data
    recs = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json")) if not p.name.startswith("_")]
    recs.sort(key=lambda r: -r["dev"]["accuracy"])
    base = json.loads((folder / "_baselines.json").read_text()) if (folder / "_baselines.json").is_file() else {}
    neg = data == "sst2"
    head = ["run", "changes from the base recipe", "dev acc", "F1 neg / pos"]
    if neg:
        head += ["pairs: all", "simple", "harder"]
    head += ["best / run epochs", "train min", "tokens/s", "peak RSS MB", "load (start..end)"]
    lines = [f"# Sentiment recipe search: {data}", "",
             f"Written by `python bench/sentiment_search.py --table` from `bench/results/search/{data}/`. "
             f"Base recipe: `{json.dumps(BASE[data])}`.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, b in base.items():
        row = [f"*{name}*", "same split", f"{b['dev']['accuracy']:.2%}",
               f"{b['dev']['f1']['negative']:.3f} / {b['dev']['f1']['positive']:.3f}"]
        if neg:
            n = b["negation"]
            row += [f"{n['pairs_all']:.1%}", f"{n['pairs_simple']:.1%}", f"{n['pairs_hard']:.1%}"]
        row += ["", f"{b['fit_seconds'] / 60:.1f}", "", "", ""]
        lines.append("| " + " | ".join(row) + " |")
    for r in recs:
        row = [r["name"], _changed(r["recipe"], data), f"{r['dev']['accuracy']:.2%}",
               f"{r['dev']['f1']['negative']:.3f} / {r['dev']['f1']['positive']:.3f}"]
        if neg:
            n = r["negation"]
            row += [f"{n['pairs_all']:.1%}", f"{n['pairs_simple']:.1%}", f"{n['pairs_hard']:.1%}"]
        tps = [t for t in r["tokens_per_s"] if t]
        row += [f"{r['best_epoch']} / {r['epochs_run']}", f"{r['train_seconds'] / 60:.1f}",
                f"{min(tps):,.0f}-{max(tps):,.0f}" if tps else "", f"{r['peak_rss_mb']:,.0f}",
                f"{r['loadavg_start'][0]:.1f}..{r['loadavg_end'][0]:.1f}"]
        lines.append("| " + " | ".join(row) + " |")
    write_atomic(RESULTS / f"search_{data}.md", "\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=sorted(BASE), default="sst2")
    parser.add_argument("--name")
    parser.add_argument("--set", nargs="*", default=[], help="key=value changes to the base recipe")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--note", default="")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--table", action="store_true", help="only rewrite the tables")
    args = parser.parse_args()
    if args.table:
        for data in BASE:
            if (RESULTS / "search" / data).is_dir():
                table(data)
        return
    if not args.name:
        parser.error("--name is required for a run")
    run(args)


if __name__ == "__main__":
    main()
