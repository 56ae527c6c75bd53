"""Sentiment analysis of text, end to end: tokenizer + vocabulary + many-to-one RNN classifier.

``SentimentClassifier`` is a scikit-learn style estimator::

    clf = SentimentClassifier(cell="lstm", bidirectional=True).fit(texts, labels, dev_texts, dev_labels)
    clf.predict(["this movie is not good"])          # ['negative']
    clf.predict_proba([...])                         # (N, C)
    clf.score(texts, labels)                         # accuracy
    clf.explain("this movie is not good")            # P(class) after each word
    clf.save("model_dir"); SentimentClassifier.load("model_dir")
    clf.classes_, clf.vocab_, clf.model_, clf.trainer_     # set by fit (or load)

A saved model is a directory: ``model.safetensors`` + ``config.json`` (the ``Classifier``, as
``bptt.io`` writes it, PyTorch tensor names), ``vocab.json`` and ``sentiment.json`` (classes and
the settings used to train). ``SentimentClassifier.pretrained()`` loads the model that ships in
the package (``bptt/pretrained/sentiment``), trained by ``bench/train_sentiment.py``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ._common import (Estimator, SharedSettings, check_fitted, hold_out, identity, load_model, read_job_file,
                      save_job, settings_of)
from ..data.batching import bucket_batches, encode_texts, fixed_batches
from ..data.tokenize import tokenize
from ..data.vocab import Vocabulary
from ..losses import softmax
from ..models import Classifier, ClassifierConfig
from ..train import TrainConfig, Trainer, train_keep_best

PRETRAINED = Path(__file__).parents[1] / "pretrained" / "sentiment"
SETTINGS_FILE = "sentiment.json"
MAX_EXPLAIN_WORDS = 2_000           # explain runs T prefixes of up to T words: 4 M steps here
VOCAB_FILE = "vocab.json"


@dataclass(frozen=True)
class SentimentSettings(SharedSettings):
    """Every hyperparameter of the model and of its training (saved with the model).
    (Optimizer, seed and dtype: ``SharedSettings``.)"""
    cell: str = "lstm"
    embedding_dim: int = 64
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = True
    pooling: str = "max"
    dropout: float = 0.0
    embedding_dropout: float = 0.3
    output_dropout: float = 0.3
    min_freq: int = 1
    max_vocab: int | None = None
    max_len: int | None = None
    epochs: int = 6
    batch_size: int = 64
    patience: int | None = 3


def _classes_and_ids(labels: Sequence, classes: Sequence[str] | None) -> tuple[np.ndarray, np.ndarray]:
    """Class names (C,) and integer labels (N,): ints 0/1 -> ("negative", "positive"); strings as
    given. The names are an array of str, as scikit-learn's scorers expect ``classes_`` to be."""
    labels = list(labels)
    if classes is not None:
        classes = tuple(str(c) for c in classes)
        index = {c: i for i, c in enumerate(classes)}
        ids = [lab if isinstance(lab, (int, np.integer)) and 0 <= lab < len(classes)
               else index.get(str(lab), -1) for lab in labels]
    elif all(isinstance(lab, (int, np.integer)) for lab in labels):
        k = int(max(labels)) + 1
        classes = ("negative", "positive") if k <= 2 else tuple(str(i) for i in range(k))
        ids = labels
    else:
        classes = tuple(sorted({str(lab) for lab in labels}))
        index = {c: i for i, c in enumerate(classes)}
        ids = [index[str(lab)] for lab in labels]
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) and (ids.min() < 0 or ids.max() >= len(classes)):
        bad = labels[int(np.flatnonzero((ids < 0) | (ids >= len(classes)))[0])]
        raise ValueError(f"label {bad!r} is not one of the classes {classes}")
    return np.array(classes, dtype=str), ids


class SentimentClassifier(Estimator):
    """Tokenizer -> vocabulary -> embedding -> RNN/LSTM/GRU -> pooling -> dense -> softmax."""

    classes_: np.ndarray            # (C,) str: class names, column order of predict_proba
    vocab_: Vocabulary
    model_: Classifier
    trainer_: Trainer               # fit only: its ``state`` has the best score and epoch
    classifier = text_input = True    # Estimator: fit(texts, labels), predict -> classes_

    def __init__(self, **settings):
        self.settings = settings_of(SentimentSettings, settings)

    # ---- training -------------------------------------------------------------------------
    def _build(self, texts: Sequence[str], classes: tuple[str, ...]) -> None:
        s = self.settings
        self.vocab_ = Vocabulary.build([tokenize(t) for t in texts], min_freq=s.min_freq,
                                       max_size=s.max_vocab)
        self.classes_ = classes
        config = ClassifierConfig(len(self.vocab_), s.embedding_dim, s.hidden_size, len(classes), s.cell,
                                  s.num_layers, s.bidirectional, s.dropout, s.embedding_dropout,
                                  s.output_dropout, s.pooling, padding_idx=0, dtype=s.dtype)
        self.model_ = Classifier(config, np.random.default_rng(s.seed), dropout_seed=s.seed + 1)

    def fit(self, texts: Sequence[str], labels: Sequence, dev_texts: Sequence[str] | None = None,
            dev_labels: Sequence | None = None, classes: Sequence[str] | None = None,
            out_dir: str | Path | None = None, resume: str | Path | None = None,
            progress: bool = True, overwrite: bool = False) -> "SentimentClassifier":
        """Train; keeps the epoch with the best dev accuracy.

        Without a dev set, 5% of the training examples (seeded) are held out as one. ``out_dir``
        receives the checkpoint, ``best/`` and ``metrics.jsonl`` (a temporary folder if None);
        ``resume`` continues from a checkpoint file exactly where it stopped.
        """
        s = self.settings
        classes, y = _classes_and_ids(labels, classes)
        texts = list(texts)
        if dev_texts is None:
            (texts, y), (dev_texts, dev_y) = hold_out(20, s.seed, texts, y)
        else:
            _, dev_y = _classes_and_ids(dev_labels, classes)
        self._build(texts, classes)
        seqs = encode_texts(texts, self.vocab_, s.max_len)
        dev_seqs = encode_texts(dev_texts, self.vocab_, s.max_len)

        def batches(rng):
            return bucket_batches(seqs, y, s.batch_size, seed=int(rng.integers(2**63)))

        def evaluate():
            return {"accuracy": float(np.mean(self._predict_ids(dev_seqs).argmax(1) == dev_y))}

        same = identity(s, texts, y, dev_texts, dev_y, list(classes))
        self.trainer_ = train_keep_best(self.model_, TrainConfig.from_settings(s), batches,
                                        self.model_.loss_and_grads, evaluate, self.save, out_dir,
                                        resume, progress, same, overwrite)
        return self

    # ---- prediction -----------------------------------------------------------------------
    def _predict_ids(self, seqs: list[np.ndarray], batch_size: int = 256) -> np.ndarray:
        probs = np.empty((len(seqs), len(self.classes_)))
        for batch in fixed_batches(seqs, np.zeros(len(seqs), dtype=np.int64), batch_size):
            logits, _ = self.model_.forward(batch.ids, batch.lengths)
            probs[batch.index] = softmax(logits.astype(np.float64))
        return probs

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(N, C) class probabilities, columns in the order of ``classes_``."""
        check_fitted(self)
        return self._predict_ids(encode_texts(list(texts), self.vocab_, self.settings.max_len))

    def predict(self, texts: Sequence[str]) -> list[str]:
        """The most probable class name of each text."""
        return self.classes_[self.predict_proba(texts).argmax(1)].tolist()

    def score(self, texts: Sequence[str], labels: Sequence) -> float:
        """Accuracy on (texts, labels); labels as class names or integer ids."""
        _, y = _classes_and_ids(labels, self.classes_)
        return float(np.mean(self.predict_proba(texts).argmax(1) == y))

    def explain(self, text: str) -> list[tuple[str, np.ndarray]]:
        """For each word, the class probabilities of the text read up to and including it.

        All prefixes run as one batch: column k of the (T, T) id matrix is the first k+1 words,
        with lengths 1..T, so this holds for any cell, pooling and direction.
        """
        check_fitted(self)
        tokens = tokenize(text) or ["<unk>"]
        if len(tokens) > MAX_EXPLAIN_WORDS:
            raise ValueError(f"the text has {len(tokens):,} words; explain reads every prefix (T x T steps), "
                             f"at most {MAX_EXPLAIN_WORDS:,} words: use predict for a longer text")
        ids = self.vocab_.encode(tokens)                            # (T,)
        T = len(ids)
        prefix = np.where(np.arange(T)[:, None] <= np.arange(T)[None, :], ids[:, None], 0)  # (T, T)
        logits, _ = self.model_.forward(prefix, np.arange(1, T + 1))
        probs = softmax(logits.astype(np.float64))
        return list(zip(tokens, probs))

    # ---- saving ---------------------------------------------------------------------------
    def save(self, directory: str | Path, weights_dtype: str | None = None) -> Path:
        """Model directory: model.safetensors, config.json, vocab.json, sentiment.json."""
        check_fitted(self)
        job = {"classes": list(self.classes_), "settings": asdict(self.settings)}
        return save_job(directory, self.model_, {VOCAB_FILE: self.vocab_, SETTINGS_FILE: job}, weights_dtype)

    @classmethod
    def load(cls, directory: str | Path) -> "SentimentClassifier":
        directory = Path(directory)
        self, classes = read_job_file(directory, SETTINGS_FILE, "sentiment model",
                                      lambda doc: (cls(**doc["settings"]), np.array(doc["classes"], str)))
        self.classes_ = classes
        self.vocab_ = Vocabulary.load(directory / VOCAB_FILE)
        self.model_ = load_model(directory, Classifier, lambda m: [
            ("words", m.config.vocab_size, VOCAB_FILE, len(self.vocab_)),
            ("classes", m.config.num_classes, SETTINGS_FILE, len(self.classes_))])
        return self

    @classmethod
    def pretrained(cls) -> "SentimentClassifier":
        """The sentiment model shipped inside the package."""
        if not (PRETRAINED / SETTINGS_FILE).is_file():
            raise FileNotFoundError(f"no pretrained model in {PRETRAINED}; "
                                    f"train one with `python bench/train_sentiment.py`")
        return cls.load(PRETRAINED)
