"""Fingerprints of every job: small deterministic training runs, the sha256 of what they produce.

    python bench/fingerprints.py                          # writes bench/results/fingerprints.json
    python bench/fingerprints.py --out /tmp/after.json    # ... or elsewhere, to compare

A refactor that must not change behaviour is checked by running this before and after it and
comparing the two files: each run trains a tiny model with a fixed seed (dropout of every kind
switched on, so every random generator is exercised) through the job's public API, then hashes

    weights       every tensor of the saved model (names, dtypes, shapes, bytes), in name order
    predictions   the job's outputs on held-out inputs (probabilities, tags, translations, text)
    train_loss    the reported training loss of each epoch (metrics.jsonl), rounded to 12 digits
    dev           the dev metrics of each epoch

Bit-identical weights and predictions mean the same arithmetic in the same order. The hashes
depend on the machine's BLAS, so compare files written on the same machine. NumPy's BLAS runs on
one thread (threadpoolctl), which makes the sums reproducible.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from bptt import io  # noqa: E402
from bptt.cli import build_parser  # noqa: E402
from bptt.data.dates import date_splits  # noqa: E402
from bptt.data.tagged import TaggedSentence  # noqa: E402
from bptt.jobs import language_model as lm  # noqa: E402
from bptt.jobs.long_range import RunConfig, train_adding  # noqa: E402
from bptt.jobs.sentiment import SentimentClassifier  # noqa: E402
from bptt.jobs.tagger import SequenceTagger  # noqa: E402
from bptt.jobs.translation import Translator  # noqa: E402
from bptt.models.regressor import Regressor, RegressorConfig  # noqa: E402


def sha(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def weights_sha(directory: Path) -> str:
    tensors, _ = io.load_params(directory / io.WEIGHTS_FILE)
    h = hashlib.sha256()
    for name in sorted(tensors):
        h.update(name.encode())
        h.update(sha(tensors[name]).encode())
    return h.hexdigest()


def text_sha(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def epochs(out: Path) -> dict:
    """train_loss and dev metrics of each epoch from metrics.jsonl."""
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "train_loss" in r]
    return {"train_loss": [round(r["train_loss"], 12) for r in rows],
            "dev": [{k: round(v, 12) for k, v in r.items() if k.startswith("dev_")} for r in rows]}


# ---- data ---------------------------------------------------------------------------------------
def negation(n: int, seed: int) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        pos, neg = rng.random() < 0.5, rng.random() < 0.5
        adj = rng.choice(["good", "great", "funny"] if pos else ["bad", "dull", "weak"])
        texts.append(f"{rng.choice(['the movie', 'it', 'the plot'])} is {'not ' if neg else ''}{adj} .")
        labels.append("positive" if pos != neg else "negative")
    return texts, labels


def tagged(n: int, seed: int) -> list[TaggedSentence]:
    rng = np.random.default_rng(seed)
    nouns, verbs = ["dog", "Cat", "saw", "run", "duck"], ["saw", "run", "duck", "likes", "sees"]
    out = []
    for _ in range(n):
        w = [rng.choice(["the", "a"]), rng.choice(nouns), rng.choice(verbs), rng.choice(["the", "a"]),
             rng.choice(nouns), "."]
        out.append(TaggedSentence([str(x) for x in w], ["DET", "NOUN", "VERB", "DET", "NOUN", "PUNCT"]))
    return out


TEXT = "".join(f"line {i % 7}: the {['cat', 'dog', 'owl'][i % 3]} sat on the mat.\n" for i in range(60))


# ---- runs ---------------------------------------------------------------------------------------
def run_sentiment(tmp: Path) -> dict:
    texts, labels = negation(400, 0)
    dev_texts, dev_labels = negation(60, 1)
    out = {}
    for name, kw in {"lstm_bi_last_2layers": dict(cell="lstm", bidirectional=True, pooling="last",
                                                  num_layers=2, dropout=0.2),
                     "gru_max": dict(cell="gru", bidirectional=True, pooling="max"),
                     "rnn_mean_holdout": dict(cell="rnn_tanh", bidirectional=False, pooling="mean")}.items():
        clf = SentimentClassifier(embedding_dim=8, hidden_size=10, embedding_dropout=0.2,
                                  output_dropout=0.2, epochs=2, batch_size=32, lr=0.01, seed=3, **kw)
        dev = (None, None) if name.endswith("holdout") else (dev_texts, dev_labels)
        clf.fit(texts, labels, *dev, out_dir=tmp / name, progress=False)
        clf.save(tmp / name / "final")
        out[name] = {"weights": weights_sha(tmp / name / "final"),
                     "predictions": sha(clf.predict_proba(dev_texts)),
                     "explain": sha(*[p for _, p in clf.explain("the movie is not good .")]),
                     **epochs(tmp / name)}
    return out


def run_tagger(tmp: Path) -> dict:
    train, test = tagged(120, 0), tagged(30, 1)
    out = {}
    for name, kw in {"lstm_2layers_features": dict(cell="lstm", num_layers=2, dropout=0.2,
                                                   features=("suffix", "shape")),
                     "gru_words_holdout": dict(cell="gru", features=())}.items():
        tagger = SequenceTagger(embedding_dim=8, hidden_size=10, feature_dim=4, embedding_dropout=0.2,
                                output_dropout=0.2, word_dropout=0.25, epochs=2, batch_size=16,
                                lr=0.02, patience=None, seed=5, **kw)
        tagger.fit(train, None if name.endswith("holdout") else test[:10], out_dir=tmp / name,
                   progress=False)
        tagger.save(tmp / name / "final")
        out[name] = {"weights": weights_sha(tmp / name / "final"),
                     "predictions": text_sha(tagger.predict([s.words for s in test])),
                     **epochs(tmp / name)}
    return out


def run_translation(tmp: Path) -> dict:
    splits = date_splits(0, 300, 20, 20)
    out = {}
    for name, kw in {"lstm_bi_2layers": dict(cell="lstm", bidirectional_encoder=True, num_layers=2,
                                             dropout=0.2),
                     "gru_holdout": dict(cell="gru", bidirectional_encoder=False)}.items():
        tr = Translator(embedding_dim=8, hidden_size=12, embedding_dropout=0.2, output_dropout=0.2,
                        epochs=2, batch_size=32, lr=0.01, seed=7, **kw)
        tr.fit(splits.train, None if name.endswith("holdout") else splits.dev, out_dir=tmp / name,
               progress=False)
        tr.save(tmp / name / "final")
        sources = [p.source for p in splits.test]
        out[name] = {"weights": weights_sha(tmp / name / "final"),
                     "greedy": text_sha(tr.translate(sources)),
                     "beam": text_sha([tuple(h) for h in tr.hypotheses(sources[:8], beam=3)]),
                     **epochs(tmp / name)}
    return out


def run_language_model(tmp: Path) -> dict:
    out = {}
    for name, kw in {"lstm_2layers": dict(cell="lstm", num_layers=2, dropout=0.2),
                     "gru": dict(cell="gru"), "rnn_word": dict(cell="rnn_tanh", level="word")}.items():
        s = lm.LMSettings(embedding_dim=8, hidden_size=16, output_dropout=0.2, batch_size=4, seq_len=12,
                          epochs=2.0, eval_every=7, eval_batch_size=3, lr=0.01, seed=11, **kw)
        result = lm.train_lm(TEXT, s, out_dir=tmp / name, progress=False)
        result.model.save(tmp / name / "final")
        carry = sorted((tmp / name).glob("carry-*.safetensors"))
        out[name] = {"weights": weights_sha(tmp / name / "final"),
                     "carry": [c.name for c in carry] + [sha(*io.load_params(c)[0].values()) for c in carry],
                     "generated": text_sha("".join(result.model.generate("the", 40, 0.8, 3, seed=1))),
                     "best": {k: round(v, 12) for k, v in result.best.items()},
                     **epochs(tmp / name)}
    texts, labels = negation(200, 2)
    dev_texts, dev_labels = negation(40, 3)
    y = [int(lab == "positive") for lab in labels]
    dev_y = [int(lab == "positive") for lab in dev_labels]
    for name, kw in {"conditional_lstm_both": dict(cell="lstm", condition="both", num_layers=2, dropout=0.2),
                     "conditional_gru_init": dict(cell="gru", condition="init")}.items():
        s = lm.LMSettings(level="word", embedding_dim=8, hidden_size=12, cond_embedding_dim=3,
                          output_dropout=0.2, batch_size=16, seq_len=10, epochs=2.0, lr=0.01, seed=13, **kw)
        result = lm.train_conditional(texts, y, ("negative", "positive"), dev_texts, dev_y, s,
                                      out_dir=tmp / name, progress=False)
        result.model.save(tmp / name / "final")
        out[name] = {"weights": weights_sha(tmp / name / "final"),
                     "generated": text_sha([" ".join(result.model.generate("", 12, 0.8, None, seed=2,
                                                                           label=c))
                                            for c in ("negative", "positive")]),
                     "best": {k: round(v, 12) for k, v in result.best.items()},
                     **epochs(tmp / name)}
    tsv = tmp / "labelled.tsv"          # `bptt train lm --labelled` without --dev: 5% held out
    tsv.write_text("sentence\tlabel\n" + "".join(f"{t}\t{int(lab == 'positive')}\n"
                                                 for t, lab in zip(texts, labels)), encoding="utf-8")
    args = build_parser().parse_args([str(a) for a in [
        "train", "lm", "--labelled", tsv, "--level", "word", "--out", tmp / "cli", "--embedding-dim", 8,
        "--hidden-size", 12, "--batch-size", 16, "--epochs", 2, "--seed", 23, "--quiet"]])
    args.func(args)
    out["cli_labelled_holdout"] = {"weights": weights_sha(tmp / "cli" / "best"), **epochs(tmp / "cli")}
    return out


def run_long_range(tmp: Path) -> dict:
    out = {}
    for name, kw in {"lstm": dict(mode="lstm", forget_bias=1.0), "gru_bi_2layers": dict(
            mode="gru", bidirectional=True, num_layers=2, dropout=0.2), "rnn": dict(mode="rnn_tanh")}.items():
        model = Regressor(RegressorConfig(2, 8, **kw), np.random.default_rng(17))
        log = train_adding(model, RunConfig(T=12, steps=30, batch_size=16, lr=0.01, clip_norm=1.0,
                                            eval_every=10, eval_size=50, test_size=50, seed=19))
        io.save(model, tmp / name)
        out[name] = {"weights": weights_sha(tmp / name),
                     "log": text_sha({**log.to_dict(), "seconds": None})}
    return out


RUNS = {"sentiment": run_sentiment, "tagger": run_tagger, "translation": run_translation,
        "language_model": run_language_model, "long_range": run_long_range}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "fingerprints.json"))
    p.add_argument("--only", nargs="*", choices=sorted(RUNS), help="some jobs only")
    args = p.parse_args()
    result = {}
    with threadpool_limits(1), tempfile.TemporaryDirectory() as tmp:
        for job in args.only or RUNS:
            print(f"{job} ...", file=sys.stderr)
            (Path(tmp) / job).mkdir()
            result[job] = RUNS[job](Path(tmp) / job)
    Path(args.out).write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
