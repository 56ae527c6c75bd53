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
the settings used to train), and for the shipped ones ``card.json`` (recipe figures).

Shipped models, addressed by name (``SHIPPED``; ``bptt models`` lists them), in
``bptt/pretrained/<name>``, trained by ``bench/train_sentiment.py``: ``sst2`` (sentences, the
default) and ``imdb`` (paragraph-length reviews). ``SentimentClassifier.pretrained(name)`` loads
one; ``resolve_model(spec)`` turns a MODEL argument into a directory: a shipped name, or a model
directory (one holding ``sentiment.json``), else an error naming both possibilities. A shipped
name always means the shipped model (``./imdb`` is the directory called imdb).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ._common import (SharedSettings, VectorSettings, check_fitted, hold_out, load_model,
                      pretrained_vectors, read_job_file, save_job, set_embedding, settings_of)
from .. import io
from ..data.batching import bucket_batches, encode_texts, encode_tokens, token_budget_batches
from ..data.tokenize import tokenize
from ..data.vocab import PAD_ID, UNK_ID, Vocabulary
from ..losses import softmax
from ..models import Classifier, ClassifierBatch, ClassifierConfig
from ..train import CHECKPOINT, TrainConfig, Trainer, train_keep_best

PRETRAINED_ROOT = Path(__file__).parents[1] / "pretrained"
SHIPPED = ("sst2", "imdb")          # shipped model names; the first is the default
DEFAULT_MODEL = SHIPPED[0]
PRETRAINED = PRETRAINED_ROOT / DEFAULT_MODEL
EXPLAIN_STEPS = 500_000             # token steps one explain() may run (the sum of the prefix lengths)
SETTINGS_FILE = "sentiment.json"
VOCAB_FILE = "vocab.json"
DEFAULT_EMBEDDING_DIM = 64
PREDICT_TOKENS = 1 << 15            # padded cells T*B per prediction batch: bounds the activations held


@dataclass(frozen=True)
class SentimentSettings(SharedSettings, VectorSettings):
    """Every hyperparameter of the model and of its training (saved with the model).
    (Optimizer, seed and dtype: ``SharedSettings``.)"""
    cell: str = "lstm"
    embedding_dim: int | None = None    # None: 64, or the dimension of ``vectors``
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = True
    pooling: str = "max"
    dropout: float = 0.0
    embedding_dropout: float = 0.3
    output_dropout: float = 0.3
    min_freq: int = 1
    max_vocab: int | None = None
    max_len: int | None = None          # training texts keep at most this many tokens ...
    truncate: str = "head+tail"         # ... which ones: head | tail | head+tail (batching.truncate)
    word_dropout: float = 0.0           # training: each token becomes <unk> with this probability
    dev_fraction: float = 0.05          # without a dev set: hold out 1 in round(1 / this), seeded
    ensemble: int = 1                   # members trained with seeds seed, seed + 1, ...; their
                                        # probabilities are averaged
    epochs: int = 6
    batch_size: int = 64
    patience: int | None = 3


def _classes_and_ids(labels: Sequence, classes: Sequence[str] | None) -> tuple[tuple[str, ...], np.ndarray]:
    """Class names and integer labels: ints 0/1 -> ("negative", "positive"); strings as given."""
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
    return classes, ids


class SentimentClassifier:
    """Tokenizer -> vocabulary -> embedding -> RNN/LSTM/GRU -> pooling -> dense -> softmax."""

    classes_: tuple[str, ...]       # class names, column order of predict_proba
    vocab_: Vocabulary
    model_: Classifier              # the first (or only) member
    members_: list[Classifier]      # every member of the ensemble (just model_ when ensemble = 1)
    trainer_: Trainer               # fit only: its ``state`` has the best score and epoch
                                    # (ensemble: the last member's; ``dev_accuracy_`` the ensemble's)

    def __init__(self, **settings):
        self.settings = settings_of(SentimentSettings, settings)

    # ---- training -------------------------------------------------------------------------
    def _build(self, token_lists: Sequence[Sequence[str]], classes: tuple[str, ...]) -> None:
        s = self.settings
        self.vocab_ = Vocabulary.build(token_lists, min_freq=s.min_freq, max_size=s.max_vocab)
        self.classes_ = classes
        self.vocab_, matrix, self.vector_report_, dim = pretrained_vectors(
            s, self.vocab_, s.embedding_dim, DEFAULT_EMBEDDING_DIM)
        config = ClassifierConfig(len(self.vocab_), dim, s.hidden_size, len(classes), s.cell,
                                  s.num_layers, s.bidirectional, s.dropout, s.embedding_dropout,
                                  s.output_dropout, s.pooling, padding_idx=0, dtype=s.dtype)
        self.members_ = []
        for k in range(s.ensemble):             # member k: weights and dropout from seed + k
            member = Classifier(config, np.random.default_rng(s.seed + k), dropout_seed=s.seed + k + 1)
            set_embedding(member.embedding, matrix, s.freeze_vectors)
            self.members_.append(member)
        self.model_ = self.members_[0]

    def fit(self, texts: Sequence[str], labels: Sequence, dev_texts: Sequence[str] | None = None,
            dev_labels: Sequence | None = None, classes: Sequence[str] | None = None,
            out_dir: str | Path | None = None, resume: str | Path | None = None,
            progress: bool = True, time_budget: float | None = None) -> "SentimentClassifier":
        """Train; keeps the epoch with the best dev accuracy.

        Without a dev set, ``dev_fraction`` of the training examples (1 in round(1 / dev_fraction),
        drawn by ``hold_out`` with the seed: 0.2 on aclImdb/train is the 20,000 / 5,000 split of
        bench/sentiment_search.py) are held out as one. ``out_dir``
        receives the checkpoint, ``best/`` and ``metrics.jsonl`` (a temporary folder if None);
        ``resume`` continues from a checkpoint file exactly where it stopped.
        """
        s = self.settings
        classes, y = _classes_and_ids(labels, classes)
        texts = list(texts)
        if dev_texts is None:
            if not 0.0 < s.dev_fraction <= 0.5:
                raise ValueError(f"dev_fraction must be in (0, 0.5], got {s.dev_fraction}")
            (texts, y), (dev_texts, dev_y) = hold_out(round(1 / s.dev_fraction), s.seed, texts, y)
        else:
            _, dev_y = _classes_and_ids(dev_labels, classes)
        if not 0.0 <= s.word_dropout < 1.0:
            raise ValueError(f"word_dropout must be in [0, 1), got {s.word_dropout}")
        if s.ensemble < 1:
            raise ValueError(f"ensemble must be >= 1, got {s.ensemble}")
        token_lists = [tokenize(t) for t in texts]
        self._build(token_lists, classes)
        seqs = encode_tokens(token_lists, self.vocab_, s.max_len, s.truncate)
        del token_lists
        dev_seqs = encode_texts(dev_texts, self.vocab_)          # evaluated as predict() reads them
        if s.ensemble == 1:
            self.trainer_ = self._train_member(self.model_, seqs, y, dev_seqs, dev_y, 0, self.save,
                                               out_dir, resume, progress, time_budget)
            return self
        return self._fit_ensemble(seqs, y, dev_seqs, dev_y, out_dir, resume, progress, time_budget)

    def _train_member(self, model: Classifier, seqs, y, dev_seqs, dev_y, k: int, export, out_dir,
                      resume, progress, time_budget) -> Trainer:
        """Train one member (data order and word dropout from seed + k), keeping its best epoch."""
        s = self.settings

        def batches(rng):
            return bucket_batches(seqs, y, s.batch_size, seed=int(rng.integers(2**63)))

        def step_fn(batch):
            if not s.word_dropout:
                return model.loss_and_grads(batch)
            ids = batch.ids                         # the model's dropout RNG: saved in checkpoints
            drop = (model.dropout_rng.random(ids.shape) < s.word_dropout) & (ids != PAD_ID)
            return model.loss_and_grads(ClassifierBatch(np.where(drop, UNK_ID, ids), batch.lengths,
                                                        batch.labels))

        def evaluate():
            return {"accuracy": float(np.mean(self._predict_ids(dev_seqs, members=[model]).argmax(1) == dev_y))}

        return train_keep_best(model, TrainConfig.from_settings(s, seed=s.seed + k), batches, step_fn,
                               evaluate, export, out_dir, resume, progress, time_budget)

    def _fit_ensemble(self, seqs, y, dev_seqs, dev_y, out_dir, resume, progress, time_budget):
        """Members one after the other, each in ``out_dir/member<k>`` (checkpoint, best/, metrics);
        the time budget is shared out as it goes (member k gets what is left / members left).
        Resuming (``resume``: anything, e.g. the run directory) continues every member from its
        own checkpoint. When the budget runs out, the members not reached are left out of this
        fit; ``out_dir/best`` is the ensemble of the members trained."""
        import tempfile
        tmp = tempfile.TemporaryDirectory() if out_dir is None else None
        out = Path(tmp.name if tmp else out_dir)
        deadline = None if time_budget is None else time.perf_counter() + time_budget
        trained = []
        try:
            for k, member in enumerate(self.members_):
                left = None if deadline is None else deadline - time.perf_counter()
                if left is not None and left <= 0:
                    break
                folder = out / f"member{k}"
                checkpoint = folder / CHECKPOINT
                again = resume is not None and checkpoint.is_file()
                self.trainer_ = self._train_member(
                    member, seqs, y, dev_seqs, dev_y, k, lambda d, m=member: io.save(m, d), folder,
                    checkpoint if again else None, progress,
                    None if left is None else left / (len(self.members_) - k))
                trained.append(member)
                if self.trainer_.stop_reason is not None:
                    break
            self.members_, self.model_ = trained, trained[0]
            self.dev_accuracy_ = float(np.mean(self._predict_ids(dev_seqs).argmax(1) == dev_y))
            self.trainer_.log({"event": "ensemble", "members": len(trained), "dev_accuracy": self.dev_accuracy_})
            if out_dir is not None:
                self.save(out / "best")
        finally:
            if tmp:
                tmp.cleanup()
        return self

    # ---- prediction -----------------------------------------------------------------------
    def _predict_ids(self, seqs: list[np.ndarray], batch_size: int = 256,
                     members: list[Classifier] | None = None) -> np.ndarray:
        """(N, C): the mean over the members of their class probabilities."""
        members = self.members_ if members is None else members
        probs = np.zeros((len(seqs), len(self.classes_)))
        for batch in token_budget_batches(seqs, PREDICT_TOKENS, batch_size):
            for model in members:
                logits, _ = model.forward(batch.ids, batch.lengths)
                probs[batch.index] += softmax(logits.astype(np.float64))
        return probs / len(members)

    def predict_proba(self, texts: Sequence[str], max_len: int | None = None,
                      truncate: str = "head+tail") -> np.ndarray:
        """(N, C) class probabilities, columns in the order of ``classes_``.

        Every text is read whole unless ``max_len`` asks otherwise (``truncate``: which tokens to
        keep, as in training). Texts run in batches of at most ``PREDICT_TOKENS`` padded cells,
        longest first, so the activations held at once do not grow with the number of texts."""
        check_fitted(self)
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of strings, got a single str")
        return self._predict_ids(encode_texts(list(texts), self.vocab_, max_len, truncate))

    def predict(self, texts: Sequence[str]) -> list[str]:
        """The most probable class name of each text."""
        return [self.classes_[i] for i in self.predict_proba(texts).argmax(1)]

    def score(self, texts: Sequence[str], labels: Sequence) -> float:
        """Accuracy on (texts, labels); labels as class names or integer ids."""
        _, y = _classes_and_ids(labels, self.classes_)
        return float(np.mean(self.predict_proba(texts).argmax(1) == y))

    def explain(self, text: str, max_steps: int = EXPLAIN_STEPS) -> list[tuple[str, np.ndarray]]:
        """For each word, the class probabilities of the text read up to and including it.

        Each prefix (words 1..k) is run as a text of its own, so this holds for any cell, pooling
        and direction (a backward direction reads every prefix from its own end). That costs
        sum_k k token steps; when reading every prefix would take more than ``max_steps``, only
        P = max(16, 2 * max_steps // T) evenly spaced prefixes are read (the last always) and each
        row covers the words since the previous one, joined by spaces. With the default, a text of
        up to 999 words is explained word by word; a 22,000-word one (100,000 characters) in 45
        rows of about 490 words (about 45 s for the shipped sst2 model, one CPU). Prefixes run in
        token-budget batches, so memory stays that of one batch whatever the length.
        """
        check_fitted(self)
        tokens = tokenize(text) or ["<unk>"]
        ids = self.vocab_.encode(tokens)                            # (T,)
        T = len(ids)
        if T * (T + 1) // 2 <= max_steps:
            ends = np.arange(1, T + 1)
        else:
            P = min(T, max(16, 2 * max_steps // T))
            ends = np.unique(np.ceil(np.arange(1, P + 1) * T / P).astype(np.int64))
        probs = self._predict_ids([ids[:e] for e in ends])          # (P, C)
        starts = np.r_[0, ends[:-1]]
        return [(" ".join(tokens[a:b]), p) for a, b, p in zip(starts, ends, probs)]

    # ---- saving ---------------------------------------------------------------------------
    def save(self, directory: str | Path, weights_dtype: str | None = None) -> Path:
        """Model directory: model.safetensors, config.json, vocab.json, sentiment.json; an
        ensemble's further members in member1/, member2/, ... (model.safetensors, config.json)."""
        check_fitted(self)
        job = {"classes": list(self.classes_), "settings": asdict(self.settings),
               "members": len(self.members_)}
        directory = save_job(directory, self.model_, {VOCAB_FILE: self.vocab_, SETTINGS_FILE: job},
                             weights_dtype)
        for k, member in enumerate(self.members_[1:], start=1):
            io.save(member, directory / f"member{k}", weights_dtype=weights_dtype)
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> "SentimentClassifier":
        directory = Path(directory)
        self, classes, members = read_job_file(
            directory, SETTINGS_FILE, "sentiment model",
            lambda doc: (cls(**doc["settings"]), tuple(doc["classes"]), int(doc.get("members", 1))))
        self.classes_ = classes
        self.vocab_ = Vocabulary.load(directory / VOCAB_FILE)
        self.members_ = [load_model(directory / (f"member{k}" if k else ""), Classifier, lambda m: [
            ("words", m.config.vocab_size, VOCAB_FILE, len(self.vocab_)),
            ("classes", m.config.num_classes, SETTINGS_FILE, len(self.classes_))]) for k in range(members)]
        self.model_ = self.members_[0]
        return self

    @classmethod
    def pretrained(cls, name: str = DEFAULT_MODEL) -> "SentimentClassifier":
        """A sentiment model shipped inside the package: ``sst2`` (default) or ``imdb``."""
        if name not in SHIPPED:
            raise ValueError(f"no shipped model {name!r}; the shipped models are {', '.join(SHIPPED)}")
        directory = PRETRAINED_ROOT / name
        if not (directory / SETTINGS_FILE).is_file():
            raise FileNotFoundError(f"the shipped model {name!r} is missing from {directory}; "
                                    f"train it with `python bench/train_sentiment.py --model {name}`")
        return cls.load(directory)


def is_model_directory(spec: str | Path) -> bool:
    """Whether ``spec`` names a directory holding ``sentiment.json`` (False, never an error, for
    any string: a text of 100,000 characters is not a path)."""
    try:
        return Path(spec, SETTINGS_FILE).is_file()
    except (OSError, ValueError):                    # name too long, NUL byte, ...
        return False


def resolve_model(spec: str | Path | None) -> Path:
    """The directory of a MODEL argument: None -> the default shipped model, a shipped name ->
    its directory, a model directory -> itself; anything else is a FileNotFoundError that names
    both possibilities."""
    if spec is None:
        spec = DEFAULT_MODEL
    if isinstance(spec, str) and spec in SHIPPED:
        return PRETRAINED_ROOT / spec
    if is_model_directory(spec):
        return Path(spec)
    shown = str(spec) if len(str(spec)) <= 80 else str(spec)[:77] + "..."
    why = "no such directory" if not _exists(spec) else f"no {SETTINGS_FILE} in it"
    raise FileNotFoundError(f"MODEL {shown!r} is neither a shipped model ({', '.join(SHIPPED)}) nor a "
                            f"model directory ({why}; a model directory holds {SETTINGS_FILE}, as "
                            f"`bptt train sentiment --out DIR` writes into DIR/best)")


def _exists(spec) -> bool:
    try:
        return Path(spec).exists()
    except (OSError, ValueError):
        return False


def load_sentiment_model(spec: str | Path | None) -> tuple["SentimentClassifier", Path]:
    """(classifier, its directory) for a MODEL argument (see ``resolve_model``)."""
    directory = resolve_model(spec)
    if isinstance(spec, str) and spec in SHIPPED or spec is None:
        return SentimentClassifier.pretrained(spec or DEFAULT_MODEL), directory
    return SentimentClassifier.load(directory), directory


def shipped_models() -> list[dict]:
    """What ships: per model its name, directory, size in bytes, settings and card (figures)."""
    from ..files import read_json_object
    out = []
    for name in SHIPPED:
        directory = PRETRAINED_ROOT / name
        if not (directory / SETTINGS_FILE).is_file():
            continue
        card = read_json_object(directory / "card.json") if (directory / "card.json").is_file() else {}
        out.append({"name": name, "default": name == DEFAULT_MODEL, "directory": str(directory),
                    "bytes": sum(f.stat().st_size for f in directory.rglob("*") if f.is_file()),
                    "settings": read_json_object(directory / SETTINGS_FILE)["settings"], **card})
    return out
