r"""The baselines an RNN must beat: bag-of-words logistic regression (text classification) and
the most frequent tag of each word (tagging, ``MostFrequentTag``, at the end of this file).

**Bag of words** (multinomial, any number of classes).

Features. ``fit`` builds a vocabulary from the training texts: every token seen at least
``min_freq`` times, most frequent first (ties alphabetical), cut to ``max_vocab``. A text becomes
the row x (V,) of its token counts, or of 0/1 presence with ``binary=True``; unknown tokens are
dropped. Rows are stored sparse, CSR-style (``Features``): row n's tokens are
``indices[indptr[n]:indptr[n+1]]`` with values ``data[...]``, token ids ascending.

Model. One ``bptt.layers.Dense`` (weight V (C, V), bias c (C,), PyTorch's ``nn.Linear``), then a
softmax over the C classes, trained on minibatches with ``bptt.optim.Adam`` on

    z_n = V x_n + c                                               # (C,) logits
    J   = mean_n CE(softmax(z_n), y_n) + (l2 / 2) ||V||_F^2       (the bias is not penalised)
    dJ/dV = dZ^T X + l2 V        dJ/dc = sum_n dZ_n               dZ = (P - onehot(Y)) / B

The product V x_n runs on the sparse rows (``_sparse_logits`` / ``_sparse_grads``); it equals
``Dense.forward`` / ``Dense.backward`` on the dense rows (tests check values), but the dense path
must write and read a (B, V) matrix. Measured (float64, V = 14,816, C = 2, SST-2 train rows of
~9 tokens, 2 busy CPUs), forward + backward per batch: B = 64 dense 23 ms, sparse 0.3 ms;
B = 256 dense 42 ms, sparse 0.6 ms. Fitting GLUE SST-2 train (67,349 phrases, 3 epochs) takes
~3 s, about half of it tokenizing.

Determinism: one ``np.random.default_rng(seed)`` draws the initial weights and the order of the
examples in every epoch, and all arithmetic is float64, so a seed gives the same model.

Files (``save`` / ``load``): ``model.safetensors`` holds ``weight`` (C, V) and ``bias`` (C,);
``config.json`` holds the settings, the vocabulary (in id order) and the class labels. Both are
written atomically; nothing is pickled. A custom tokenizer cannot be stored: pass it to ``load``.
"""
from __future__ import annotations

import itertools
import json
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .data.tagged import TaggedSentence
from .io import load_params, save_params, write_json
from .layers import Dense
from .losses import softmax, softmax_cross_entropy
from .metrics import accuracy_report
from .optim import Adam

__all__ = ["BagOfWords", "Features", "MostFrequentTag", "lowercase_split"]

TYPE_NAME = "BagOfWords"
VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
_SST_TOKENIZER = "bptt.data.tokenize.tokenize"
_SPLIT_TOKENIZER = "lowercase_split"


def lowercase_split(text: str) -> list[str]:
    """``text.lower().split()``: the fallback tokenizer (exact on SST's pre-tokenised text)."""
    return text.lower().split()


def _named_tokenizer(name: str) -> Callable[[str], list[str]] | None:
    if name == _SPLIT_TOKENIZER:
        return lowercase_split
    if name == _SST_TOKENIZER:
        from .data.tokenize import tokenize
        return tokenize
    return None


def _default_tokenizer() -> tuple[str, Callable[[str], list[str]]]:
    """``bptt.data.tokenize.tokenize`` when that module exists, else ``lowercase_split``."""
    try:
        return _SST_TOKENIZER, _named_tokenizer(_SST_TOKENIZER)
    except ImportError:
        return _SPLIT_TOKENIZER, lowercase_split


class Features(NamedTuple):
    """N texts as sparse rows of a (N, V) matrix (CSR): row n is ``indices[indptr[n]:indptr[n+1]]``
    (token ids, ascending, no repeats) with values ``data`` at the same positions."""

    indptr: np.ndarray   # (N + 1,) int64
    indices: np.ndarray  # (nnz,) int64
    data: np.ndarray     # (nnz,) float64
    shape: tuple[int, int]

    def rows(self, which: np.ndarray) -> Features:
        """The sub-matrix of rows ``which`` (K,), in that order."""
        starts, ends = self.indptr[which], self.indptr[which + 1]
        lens = ends - starts                                            # (K,)
        indptr = np.zeros(lens.size + 1, dtype=np.int64)
        np.cumsum(lens, out=indptr[1:])
        pos = np.arange(indptr[-1]) + np.repeat(starts - indptr[:-1], lens)  # (nnz_K,)
        return Features(indptr, self.indices[pos], self.data[pos], (lens.size, self.shape[1]))

    def row_ids(self) -> np.ndarray:
        """(nnz,) the row of each stored value."""
        return np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))

    def to_dense(self) -> np.ndarray:
        x = np.zeros(self.shape)                                        # (N, V)
        x[self.row_ids(), self.indices] = self.data
        return x


def _sparse_logits(layer: Dense, x: Features) -> np.ndarray:
    """z = x V^T + c on sparse rows: x (N, V) -> z (N, C), one bincount per class."""
    V = layer.params["weight"]                                          # (C, V)
    rows = x.row_ids()                                                  # (nnz,)
    z = np.empty((x.shape[0], V.shape[0]))                              # (N, C)
    for c in range(V.shape[0]):
        z[:, c] = np.bincount(rows, weights=V[c, x.indices] * x.data, minlength=x.shape[0])
    return z + layer.params["bias"]


def _sparse_grads(layer: Dense, dz: np.ndarray, x: Features) -> dict[str, np.ndarray]:
    """dV = dZ^T X (C, V) and dc = sum_n dZ_n (C,) for dz (N, C) on sparse rows x (N, V)."""
    C, V = layer.params["weight"].shape
    scaled = dz[x.row_ids()] * x.data[:, None]                          # (nnz, C)
    dV = np.empty((C, V))
    for c in range(C):
        dV[c] = np.bincount(x.indices, weights=scaled[:, c], minlength=V)
    return {"weight": dV, "bias": dz.sum(axis=0)}


class BagOfWords:
    """Bag-of-words multinomial logistic regression, scikit-learn style (see the module docstring).

    Settings: ``min_freq`` (keep tokens seen at least this often in training), ``max_vocab``
    (keep at most this many, the most frequent), ``binary`` (presence instead of counts), ``l2``
    (the L2 penalty on the weight), ``epochs``, ``lr`` (Adam), ``batch_size``, ``seed``,
    ``tokenizer`` (``str -> list[str]``; default ``bptt.data.tokenize.tokenize`` if present,
    else ``lowercase_split``).

    After ``fit``: ``vocabulary_`` (list of V tokens, id order), ``classes_`` (C labels, sorted;
    ``predict`` returns these), ``layer_`` (the Dense), ``history_`` (mean loss J of each epoch).
    """

    def __init__(self, min_freq: int = 1, max_vocab: int | None = None, binary: bool = True,
                 l2: float = 1e-4, epochs: int = 3, lr: float = 3e-3, batch_size: int = 64,
                 seed: int = 0, tokenizer: Callable[[str], list[str]] | None = None):
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1, got {min_freq}")
        if max_vocab is not None and max_vocab < 1:
            raise ValueError(f"max_vocab must be None or >= 1, got {max_vocab}")
        if l2 < 0 or lr <= 0 or epochs < 0 or batch_size < 1:
            raise ValueError(f"need l2 >= 0, lr > 0, epochs >= 0, batch_size >= 1; got l2={l2}, "
                             f"lr={lr}, epochs={epochs}, batch_size={batch_size}")
        self.min_freq, self.max_vocab, self.binary, self.l2 = min_freq, max_vocab, binary, l2
        self.epochs, self.lr, self.batch_size, self.seed = epochs, lr, batch_size, seed
        self.tokenizer = tokenizer

    # ---- features ----------------------------------------------------------------------------
    def _tokenize(self, texts: Sequence[str]) -> list[list[str]]:
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of strings, got a single str")
        return [self._tokenizer(t) for t in texts]

    def features(self, texts: Sequence[str]) -> Features:
        """Texts -> sparse (N, V) count (or presence) rows over the fitted vocabulary."""
        self._check_fitted()
        return self._features(self._tokenize(texts))

    def _features(self, tokens: list[list[str]]) -> Features:
        N, V = len(tokens), len(self.vocabulary_)
        lens = np.fromiter(map(len, tokens), dtype=np.int64, count=N)      # (N,)
        ids = np.fromiter(map(self._index.get, itertools.chain.from_iterable(tokens),
                              itertools.repeat(-1)), dtype=np.int64, count=int(lens.sum()))
        rows = np.repeat(np.arange(N), lens)
        keys = np.sort((rows * V + ids)[ids >= 0])          # (row, id) pairs, grouped by row
        first = np.ones(keys.size, dtype=bool)
        first[1:] = keys[1:] != keys[:-1]
        starts = np.flatnonzero(first)
        keys = keys[starts]                                               # (nnz,) unique
        counts = np.diff(np.r_[starts, first.size]).astype(np.float64)
        data = np.ones(keys.size) if self.binary else counts
        indptr = np.zeros(N + 1, dtype=np.int64)
        np.cumsum(np.bincount(keys // V, minlength=N), out=indptr[1:])
        return Features(indptr, keys % V, data, (N, V))

    # ---- training ----------------------------------------------------------------------------
    def fit(self, texts: Sequence[str], labels: Sequence) -> BagOfWords:
        """Build the vocabulary from ``texts``, then train; returns self."""
        if self.tokenizer is None:
            self.tokenizer_name_, self._tokenizer = _default_tokenizer()
        else:
            self.tokenizer_name_ = "custom:" + getattr(self.tokenizer, "__qualname__", "?")
            self._tokenizer = self.tokenizer
        tokens = self._tokenize(texts)
        labels = np.asarray(labels)
        if labels.shape != (len(tokens),):
            raise ValueError(f"labels must have shape ({len(tokens)},) (one per text), "
                             f"got {labels.shape}")
        self.classes_, y = np.unique(labels, return_inverse=True)       # y (N,) in [0, C)
        counts = Counter(itertools.chain.from_iterable(tokens))
        kept = sorted((w for w, k in counts.items() if k >= self.min_freq),
                      key=lambda w: (-counts[w], w))[:self.max_vocab]
        if not kept:
            raise ValueError(f"empty vocabulary: no token occurs at least min_freq = "
                             f"{self.min_freq} times in the {len(tokens)} training texts")
        self._set_vocabulary(kept)
        x = self._features(tokens)
        rng = np.random.default_rng(self.seed)
        self.layer_ = Dense(len(kept), len(self.classes_), dtype=np.float64, rng=rng)
        opt = Adam(self.layer_.params, lr=self.lr)
        W = self.layer_.params["weight"]
        N, B = x.shape[0], self.batch_size
        self.history_ = []
        for _ in range(self.epochs):
            order = rng.permutation(N)
            total = 0.0
            for start in range(0, N, B):                                 # minibatches
                batch = order[start:start + B]
                xb = x.rows(batch)
                loss, dz = softmax_cross_entropy(_sparse_logits(self.layer_, xb), y[batch])
                grads = _sparse_grads(self.layer_, dz, xb)
                grads["weight"] += self.l2 * W
                # not np.vdot: a BLAS call that wakes its threads cost ~5 ms here on a busy machine
                total += (loss + 0.5 * self.l2 * float(np.square(W).sum())) * batch.size
                opt.step(grads)
            self.history_.append(total / N)
        return self

    def _set_vocabulary(self, vocabulary: list[str]) -> None:
        self.vocabulary_ = list(vocabulary)
        self._index = {w: i for i, w in enumerate(self.vocabulary_)}
        if len(self._index) != len(self.vocabulary_):
            raise ValueError("the vocabulary holds a token twice")

    def _check_fitted(self) -> None:
        if not hasattr(self, "layer_"):
            raise RuntimeError("this BagOfWords is not fitted yet: call fit(texts, labels) first")

    # ---- prediction --------------------------------------------------------------------------
    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """Logits z (N, C)."""
        self._check_fitted()
        return _sparse_logits(self.layer_, self.features(texts))

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """softmax(z) (N, C), columns in the order of ``classes_``."""
        return softmax(self.decision_function(texts))

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """(N,) the most probable label of each text (a value of ``classes_``)."""
        z = self.decision_function(texts)                                # (N, C)
        return self.classes_[np.argmax(z, axis=1)]

    def score(self, texts: Sequence[str], labels: Sequence) -> float:
        """Accuracy: the share of texts whose predicted label equals ``labels``."""
        labels = np.asarray(labels)
        pred = self.predict(texts)
        if labels.shape != pred.shape:
            raise ValueError(f"labels must have shape {pred.shape}, got {labels.shape}")
        return float(np.mean(pred == labels)) if labels.size else 0.0

    # ---- files -------------------------------------------------------------------------------
    def settings(self) -> dict:
        return {"min_freq": self.min_freq, "max_vocab": self.max_vocab, "binary": self.binary,
                "l2": self.l2, "epochs": self.epochs, "lr": self.lr,
                "batch_size": self.batch_size, "seed": self.seed}

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``model.safetensors`` (weight, bias) and ``config.json`` into ``directory``."""
        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        doc = {"format": "bptt", "version": VERSION, "type": TYPE_NAME,
               "settings": self.settings(), "tokenizer": self.tokenizer_name_,
               "classes": self.classes_.tolist(), "vocabulary": self.vocabulary_}
        save_params(directory / WEIGHTS_FILE, self.layer_.params, metadata={"type": TYPE_NAME})
        write_json(directory / CONFIG_FILE, doc)
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike,
             tokenizer: Callable[[str], list[str]] | None = None) -> BagOfWords:
        """The model ``save`` wrote. ``tokenizer`` is required if it was fitted with a custom one."""
        directory = Path(directory)
        path = directory / CONFIG_FILE
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{path}: not valid JSON: {err}") from err
        if not isinstance(doc, dict) or doc.get("type") != TYPE_NAME or doc.get("version") != VERSION:
            raise ValueError(f"{path}: expected a {TYPE_NAME} config of version {VERSION}, got type "
                             f"{doc.get('type')!r} version {doc.get('version')!r}")
        missing = {"settings", "tokenizer", "classes", "vocabulary"} - set(doc)
        if missing:
            raise ValueError(f"{path}: missing keys {sorted(missing)}")
        try:
            model = cls(**doc["settings"], tokenizer=tokenizer)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{path}: invalid settings {doc['settings']}: {err}") from err
        model.tokenizer_name_ = doc["tokenizer"]
        model._tokenizer = tokenizer or _named_tokenizer(doc["tokenizer"])
        if model._tokenizer is None:
            raise ValueError(f"{path}: the model was fitted with tokenizer {doc['tokenizer']!r}, "
                             f"which cannot be stored: pass it as load(..., tokenizer=...)")
        model.classes_ = np.array(doc["classes"])
        model._set_vocabulary(doc["vocabulary"])
        tensors, _ = load_params(directory / WEIGHTS_FILE)
        C, V = len(model.classes_), len(model.vocabulary_)
        expected = {"weight": (C, V), "bias": (C,)}
        found = {k: tuple(v.shape) for k, v in tensors.items()}
        if found != expected:
            raise ValueError(f"{directory / WEIGHTS_FILE}: expected tensors {expected} for "
                             f"{C} classes and {V} tokens, found {found}")
        model.layer_ = Dense(V, C, dtype=np.float64)
        for k, v in tensors.items():
            model.layer_.params[k][...] = v
        return model


# ---- tagging: the most frequent tag of each word -----------------------------------------------
class MostFrequentTag:
    """The baseline: each word gets the tag it had most often in training (ties: the tag seen
    most often overall, then alphabetical); a word never seen gets the most frequent tag overall."""

    def __init__(self):
        self.word_tag: dict[str, str] = {}
        self.default: str | None = None

    def fit(self, sentences: Sequence[TaggedSentence]) -> "MostFrequentTag":
        counts: dict[str, Counter] = defaultdict(Counter)
        overall: Counter = Counter()
        for s in sentences:
            for w, t in zip(s.words, s.tags):
                counts[w][t] += 1
                overall[t] += 1
        if not overall:
            raise ValueError("MostFrequentTag.fit: no tagged words")
        rank = {t: (-n, t) for t, n in overall.items()}
        self.default = min(overall, key=rank.get)
        self.word_tag = {w: min(c, key=lambda t: (-c[t], rank[t])) for w, c in counts.items()}
        return self

    def predict(self, words: Sequence[str]) -> list[str]:
        if self.default is None:
            raise RuntimeError("MostFrequentTag is not fitted: call fit() first")
        return [self.word_tag.get(w, self.default) for w in words]

    def evaluate(self, sentences: Sequence[TaggedSentence]) -> dict:
        return accuracy_report(sentences, [self.predict(s.words) for s in sentences], set(self.word_tag))
