"""What an export reads: the members of a sentiment model (one ``Classifier``, or the several of
an ensemble), its vocabulary and its class names, from whatever the user hands over."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..data.vocab import Vocabulary
from ..models import Classifier


@dataclass(frozen=True)
class Exportable:
    members: tuple[Classifier, ...]     # one, or an ensemble's (probabilities averaged)
    vocab: Vocabulary | None            # None for a bare Classifier: no tokenizer file
    classes: tuple[str, ...]            # the probabilities' columns, in order
    name: str                           # where it came from, for the files' descriptions


def exportable(model) -> Exportable:
    """``model``: a shipped model name (``"sst2"``, ``"imdb"``), a model directory (one holding
    sentiment.json), a ``SentimentClassifier``, a bare ``bptt.models.Classifier``, or an
    ``Exportable`` (e.g. members of an ensemble put together by hand)."""
    from ..jobs.sentiment import SentimentClassifier, load_sentiment_model
    if isinstance(model, Exportable):
        return model
    if isinstance(model, Classifier):
        return Exportable((model,), None, tuple(str(k) for k in range(model.config.num_classes)),
                          "a bptt Classifier")
    name = "a SentimentClassifier"
    if isinstance(model, (str, Path)):
        name = f"bptt model {model}"                # a shipped name, or the directory as given
        model, _ = load_sentiment_model(model)
    if not isinstance(model, SentimentClassifier):
        raise TypeError(f"can export a shipped model name, a model directory, a SentimentClassifier or "
                        f"a Classifier, got {type(model).__name__}")
    if not hasattr(model, "members_"):
        raise ValueError("the SentimentClassifier is not fitted: fit or load it before exporting it")
    return Exportable(tuple(model.members_), model.vocab_, tuple(str(c) for c in model.classes_), name)
