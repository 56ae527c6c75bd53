"""Sentiment models and their probability-averaged ensembles, on the shipped models' own split.

    python bench/ensemble_eval.py --data imdb imdb runs/ft/imdb_ulmfit_lr5_lmft/best ...
    python bench/ensemble_eval.py --data sst2 sst2 runs/ft/sst2_ulmfit/best

Each MODEL is a shipped name or a model directory (``bptt.jobs.sentiment.load_sentiment_model``).
Every model predicts the dev split of ``sentiment_search.load_split`` (IMDB: the 5,000 reviews
held out of aclImdb/train, the split of every IMDB figure in bench/results; SST-2: dev.tsv), each
review read whole. The table gives each model alone, then the average of the class
probabilities of every combination of two or more of them (an ensemble of ensembles counts the
shipped ensemble's members as one model: its own average), each beside the bag of words,
TF-IDF + LR and NB-LR of ``bench/linear_baselines.py`` on the same split, with the negation
pairs of ``bench/negation_pairs.tsv`` (the .md lists the best ``TOP`` ensembles and the one of all
the models, the .json the best ``KEEP``: 15 models make 32,752 ensembles).

A model's dev probabilities are kept in ``runs/ensemble_eval/<data>/<name>.npy`` with the
SHA-256 of its weights, so adding a model to the list does not predict the others again.
Writes ``bench/results/ensemble_eval_<data>.json`` and ``.md``.
"""
from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from bptt.jobs.sentiment import load_sentiment_model  # noqa: E402
from report import write_atomic  # noqa: E402
from sentiment_search import load_split, pair_figures  # noqa: E402

RESULTS = ROOT / "bench" / "results"
CACHE = ROOT / "runs" / "ensemble_eval"
TOP = 30                                         # ensembles listed in the .md, best first
KEEP = 500                                       # ... and kept in the .json (with the one of all models)


def weights_digest(directory: Path) -> str:
    """SHA-256 over the model's files (name and bytes), so a retrained model is predicted again."""
    h = hashlib.sha256()
    for f in sorted(p for p in directory.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(directory)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def label(spec: str) -> str:
    """A short name for a model: the shipped name, or the run folder's name."""
    path = Path(spec)
    return path.parent.name if path.name == "best" else (path.name if path.exists() else spec)


def probabilities(spec: str, data: str, texts: list[str]) -> tuple[np.ndarray, object, float]:
    """(dev probabilities (N, 2) in the order [negative, positive], the model, seconds spent
    predicting: 0 when read from the cache)."""
    model, directory = load_sentiment_model(spec)
    classes = [str(c) for c in model.classes_]
    if sorted(classes) != ["negative", "positive"]:
        raise SystemExit(f"{spec}: classes {classes}, expected negative and positive")
    digest = weights_digest(directory)
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", label(spec))
    cache = CACHE / data / f"{name}.npy"
    meta = cache.with_suffix(".json")
    if cache.is_file() and meta.is_file() and json.loads(meta.read_text()).get("sha256") == digest:
        return np.load(cache, allow_pickle=False), model, 0.0
    t0 = time.perf_counter()
    p = model.predict_proba(texts)[:, [classes.index("negative"), classes.index("positive")]]
    seconds = time.perf_counter() - t0
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npy")
    np.save(tmp, p, allow_pickle=False)
    tmp.replace(cache)
    write_atomic(meta, json.dumps({"spec": spec, "sha256": digest, "seconds": seconds}) + "\n")
    return p, model, seconds


def run(data: str, specs: list[str]) -> dict:
    _, _, dev_x, dev_y, desc = load_split(data)
    y = np.array([v == "positive" for v in dev_y], dtype=int)
    probs, models, out = {}, {}, {"split": desc, "models": {}, "ensembles": []}
    for spec in specs:
        p, model, seconds = probabilities(spec, data, dev_x)
        name = label(spec)
        probs[name], models[name] = p, model
        acc = float((p.argmax(1) == y).mean())
        pairs = pair_figures(model.predict)
        out["models"][name] = {"spec": spec, "dev_accuracy": acc, "predict_seconds": round(seconds, 1),
                               "pairs_all": pairs["pairs_all"]}
        print(f"{name}: {acc:.2%} dev, {pairs['pairs_all']:.1%} of the negation pairs", flush=True)
    names = list(probs)
    pair_probs = {}                              # name -> (texts, (2P, 2) probabilities): once per model

    def pair_prob(name: str, texts: list[str]) -> np.ndarray:
        if name not in pair_probs or pair_probs[name][0] != texts:
            m = models[name]
            classes = list(map(str, m.classes_))
            pair_probs[name] = (texts, m.predict_proba(texts)[:, [classes.index("negative"),
                                                                  classes.index("positive")]])
        return pair_probs[name][1]

    for k in range(2, len(names) + 1):
        for combo in itertools.combinations(names, k):
            p = np.mean([probs[n] for n in combo], axis=0)

            def predict(texts, combo=combo):
                q = np.mean([pair_prob(n, list(texts)) for n in combo], axis=0)
                return np.array(["negative", "positive"])[q.argmax(1)]

            acc = float((p.argmax(1) == y).mean())
            out["ensembles"].append({"members": list(combo), "dev_accuracy": acc,
                                     "pairs_all": pair_figures(predict)["pairs_all"]})
            print(f"{' + '.join(combo)}: {acc:.2%}", flush=True)
    ranked = sorted(out["ensembles"], key=lambda r: -r["dev_accuracy"])
    out["n_ensembles"] = len(ranked)
    out["ensembles"] = ranked[:KEEP] + [r for r in ranked[KEEP:] if len(r["members"]) == len(names)]
    return out


def markdown(data: str, out: dict, command: str) -> str:
    base = json.loads((RESULTS / "linear_baselines.json").read_text()).get(data, {})
    lines = [f"# {data}: single models and probability-averaged ensembles", "", f"`{command}`", "",
             f"Split: {out['split']['dev']}.", ""]
    if base:
        lines += [f"Same split: bag of words {base['bag_of_words']['bag of words']['dev']['accuracy']:.2%}, "
                  f"TF-IDF + LR (C by CV) {base['tfidf_lr']['dev_accuracy']:.2%}, "
                  f"NB-LR (best C on dev) {base['nblr']['dev_accuracy_best_C_on_dev']:.2%}.", ""]
    lines += ["| model(s) | dev accuracy | negation pairs fully right |", "|---|---:|---:|"]
    for name, r in out["models"].items():
        lines.append(f"| {name} | {r['dev_accuracy']:.2%} | {r['pairs_all']:.1%} |")
    ranked = sorted(out["ensembles"], key=lambda r: -r["dev_accuracy"])
    everyone = [r for r in ranked if len(r["members"]) == len(out["models"])]
    shown = ranked[:TOP] + [r for r in everyone if r not in ranked[:TOP]]
    for r in shown:
        lines.append(f"| {' + '.join(r['members'])} | {r['dev_accuracy']:.2%} | {r['pairs_all']:.1%} |")
    total = out.get("n_ensembles", len(ranked))
    if total > len(shown):
        lines += ["", f"The best {TOP} of the {total:,} ensembles and the one of all the models; the best "
                  f"{min(KEEP, total):,} are in the .json."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", choices=("imdb", "sst2"), required=True)
    ap.add_argument("models", nargs="+", help="shipped names or model directories")
    args = ap.parse_args()
    out = run(args.data, args.models)
    command = " ".join(["python", "bench/ensemble_eval.py", *sys.argv[1:]])
    out["command"] = command
    stem = RESULTS / f"ensemble_eval_{args.data}"
    write_atomic(stem.with_suffix(".json"), json.dumps(out, indent=1) + "\n")
    write_atomic(stem.with_suffix(".md"), markdown(args.data, out, command))
    print(f"wrote {stem}.json and .md")


if __name__ == "__main__":
    main()
