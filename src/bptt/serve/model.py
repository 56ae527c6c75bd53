"""The model a server serves, and its card.

``load_model(spec)`` is the one place that turns the MODEL argument of ``bptt serve`` into a
classifier: None is the default model shipped in the package, a shipped name (``sst2``,
``imdb``) that model, anything else a model directory (``sentiment.json`` + weights, as
``SentimentClassifier.save`` writes it); the rules are ``bptt.jobs.sentiment.resolve_model``'s.

``model_card(clf, directory)`` is what ``GET /model`` answers: what the model is, how it was
trained and how well it does, gathered from the files of its directory::

    {"format": "bptt-card", "version": 1,
     "name":   the directory's name,         "task": "sentiment",   "classes": [...],
     "model":  {"type", "cell", "embedding_dim", "hidden_size", "num_layers", "bidirectional",
                "pooling", "vocab_size", "parameters"},              (config.json, the weights)
     "recipe": every training setting,                              (sentiment.json)
     "training": {"epochs", "best_epoch", "best_step", "best": {dev metric: value}, "elapsed_s"},
                                      (metrics.jsonl in the directory or its parent: a run's best/)
     "figures": {...}, "data": "...", "notes": "..."}               (card.json, optional)

``card.json`` is where whoever publishes a model writes what the files cannot tell (the data it
was trained on, test figures, comparisons); its ``figures``, ``data`` and ``notes`` are copied
as they are, and any other key is an error naming the file, so a typo is not silently dropped.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from ..files import read_json_object

CARD_FILE = "card.json"
CARD_FIELDS = ("figures", "data", "notes")
MODEL_FIELDS = ("cell", "embedding_dim", "hidden_size", "num_layers", "bidirectional", "pooling")


def load_model(spec: str | None):
    """(classifier, its directory) for a MODEL argument: None = the default shipped model, a
    shipped name (``sst2``, ``imdb``) or a model directory (``jobs.sentiment.resolve_model``)."""
    from ..jobs.sentiment import load_sentiment_model
    return load_sentiment_model(spec)


def _training(directory: Path) -> dict | None:
    """Epochs completed, the evaluation that chose the weights in ``best/`` (the last record
    marked best: an epoch's end, or the ``stop evaluation`` of a run stopped inside an epoch,
    named in ``best_event``), its dev metrics, and wall time, from the run's metrics.jsonl."""
    from ..plots import METRICS_FILE, read_metrics
    for candidate in (directory / METRICS_FILE, directory.parent / METRICS_FILE):
        if candidate.is_file():
            records = [r for r in read_metrics(candidate, required=False) if "epoch" in r]
            best = [r for r in records if r.get("best")]
            out = {"epochs": max((r["epoch"] for r in records if r.get("event") != "stop evaluation"),
                                 default=0)}
            if best:
                out["best_epoch"], out["best_step"] = best[-1]["epoch"], best[-1]["step"]
                if best[-1].get("event") == "stop evaluation":
                    out["best_event"] = "stop evaluation"        # inside epoch best_epoch
                out["best"] = {k: v for k, v in best[-1].items()
                               if k.startswith("dev_") and k != "dev_neg_loss"}
            if records and "elapsed_s" in records[-1]:
                out["elapsed_s"] = records[-1]["elapsed_s"]
            return out
    return None


def _published(directory: Path) -> dict:
    path = directory / CARD_FILE
    if not path.is_file():
        return {}
    doc = read_json_object(path)
    unknown = sorted(set(doc) - set(CARD_FIELDS))
    if unknown:
        raise ValueError(f"{path}: unknown field {unknown[0]!r}; a card.json holds {', '.join(CARD_FIELDS)}")
    return doc


def model_card(clf, directory: str | Path) -> dict:
    """The card of a loaded classifier (see the module docstring)."""
    directory = Path(directory)
    config = clf.model_.config.to_dict()
    model = {"type": type(clf.model_).__name__, **{k: getattr(clf.settings, k) for k in MODEL_FIELDS},
             "vocab_size": config["vocab_size"],
             "parameters": int(sum(p.size for m in getattr(clf, "members_", [clf.model_])
                                   for p in m.params.values()))}
    card = {"format": "bptt-card", "version": 1, "name": directory.resolve().name, "task": "sentiment",
            "classes": list(clf.classes_), "model": model, "recipe": asdict(clf.settings)}
    training = _training(directory)
    if training is not None:
        card["training"] = training
    card.update(_published(directory))
    return card
