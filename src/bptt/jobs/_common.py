"""The glue every job shares, written once: settings, the dev hold-out, a job directory.

    SharedSettings                        the settings every job has: optimizer, lr, ..., seed, dtype
    VectorSettings                        pretrained word vectors: file, vocabulary extension, freezing
    pretrained_vectors(settings, vocab, ...)  (vocabulary, embedding matrix, report) from the file
    set_embedding(embedding, matrix, freeze)  copy the matrix in; freeze it or not
    settings_of(Settings, given)          the settings dataclass; unknown names are a TypeError
    hold_out(one_in, seed, *columns)      (train, dev) parts: a seeded 1-in-``one_in`` dev set
    check_fitted(estimator)               a RuntimeError unless fit() or load() ran
    save_job(directory, model, files)     model.safetensors + config.json, and the job's files
    read_job_file(directory, name, what, parse)   the job's JSON file, parsed, errors naming it
    load_model(directory, cls, sizes)     the model, checked against the vocabularies beside it

A saved job is a directory: the model as ``bptt.io`` writes it (safetensors weights under
PyTorch names + config.json), each vocabulary as JSON (``Vocabulary.save``), and one JSON file of
the job's own (its settings and whatever else it needs to rebuild itself, e.g. class names).
Estimators follow scikit-learn: ``fit`` returns self; what fit or load sets ends in ``_``
(``model_``, ``vocab_``, ``trainer_``, ...); ``settings`` holds what the constructor was given.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable

import numpy as np

from .. import io
from ..data.vectors import VectorReport, load_word_vectors
from ..data.vocab import PAD, PAD_ID, UNK, Vocabulary
from ..files import read_json_object, write_json


@dataclass(frozen=True)
class SharedSettings:
    """The settings every job's settings dataclass extends (with the defaults they all use): the
    optimizer and its clipping (``bptt.train.TrainConfig.from_settings`` reads them), the seed of
    the weights, the dropout masks and the data order, and the float type."""
    optimizer: str = "adam"         # sgd | adam | adamw | rmsprop | adagrad
    lr: float = 2e-3
    weight_decay: float = 0.0
    clip_norm: float | None = 5.0   # the global gradient norm is clipped to this (None: never)
    seed: int = 0
    dtype: str = "float32"


@dataclass(frozen=True)
class VectorSettings:
    """Pretrained word vectors for the word embedding of a job (``bptt.data.vectors``)."""
    vectors: str | None = None          # GloVe / word2vec text or binary; plain, .gz, .zip[:member]
    vectors_vocab: int = 0              # also add the N most frequent words of the vector file
    freeze_vectors: bool = False        # keep the embedding fixed (nn.Embedding.from_pretrained(freeze=True))


def pretrained_vectors(settings, vocab: Vocabulary, embedding_dim: int | None, default_dim: int,
                       specials: tuple[str, ...] = (PAD, UNK), extend: bool = True, what: str = "vectors"
                       ) -> tuple[Vocabulary, np.ndarray | None, VectorReport | None, int]:
    """(vocabulary, matrix (V, E) or None, report or None, E) for a job's word embedding.

    Without ``settings.vectors``: the vocabulary unchanged, no matrix, E = ``embedding_dim`` or
    ``default_dim``. With it: the file's vectors for every word of the vocabulary (``specials``
    are not words: <pad> gets zeros, the others the average word vector), the vocabulary grown
    by the file's first ``vectors_vocab`` words (only where ``extend``: a model that predicts its
    vocabulary cannot learn words that are never a target), E = the file's dimension, which must
    equal ``embedding_dim`` if that is given. The coverage report is printed (``what: ...``).
    """
    s = settings
    if s.vectors is None:
        if s.vectors_vocab or s.freeze_vectors:
            raise ValueError("vectors_vocab and freeze_vectors need vectors (a word-vector file)")
        return vocab, None, None, embedding_dim or default_dim
    if s.vectors_vocab < 0:
        raise ValueError(f"vectors_vocab must be >= 0, got {s.vectors_vocab}")
    if s.vectors_vocab and not extend:
        raise ValueError(f"vectors_vocab: this model predicts its own vocabulary, so words of the vector "
                         f"file that never occur in training cannot be added (got vectors_vocab="
                         f"{s.vectors_vocab}; use 0)")
    tokens = vocab.tokens
    words = [t for t in tokens if t not in specials]
    found, report = load_word_vectors(s.vectors, words, dtype=np.dtype(s.dtype),
                                      rng=np.random.default_rng(s.seed + 3), dim=embedding_dim,
                                      extend=s.vectors_vocab)
    vocab = Vocabulary(tokens + list(report.added))
    matrix = np.empty((len(vocab), found.shape[1]), dtype=found.dtype)            # (V, E)
    rows = [i for i, t in enumerate(tokens) if t not in specials] + list(range(len(tokens), len(vocab)))
    matrix[rows] = found
    for i, t in enumerate(tokens):
        if t in specials:
            matrix[i] = 0.0 if i == PAD_ID and t == PAD else found.mean(axis=0) if len(found) else 0.0
    print(f"{what}: {report.details()}", flush=True)
    return vocab, matrix, report, found.shape[1]


def set_embedding(embedding, matrix: np.ndarray | None, freeze: bool) -> None:
    """Copy ``matrix`` (V, E) into ``embedding.params["weight"]`` (in place: the model's params
    and the optimizer see the same array) and freeze it if asked; nothing without a matrix."""
    if matrix is None:
        return
    weight = embedding.params["weight"]
    if weight.shape != matrix.shape:
        raise ValueError(f"embedding is {weight.shape}, the pretrained matrix {matrix.shape}")
    weight[...] = matrix
    embedding.frozen = freeze


def settings_of(settings_cls, given: dict):
    """``settings_cls(**given)``, refusing names that are not among its fields."""
    known = {f.name for f in fields(settings_cls)}
    unknown = set(given) - known
    if unknown:
        raise TypeError(f"unknown settings {sorted(unknown)}; known: {sorted(known)}")
    return settings_cls(**given)


def hold_out(one_in: int, seed: int, *columns) -> tuple[tuple, tuple]:
    """Split parallel columns (lists or arrays of one length n) into (train, dev) columns.

    A permutation of 0..n-1 drawn from ``seed``; its first max(1, n // one_in) positions are the
    dev part (``one_in`` 20: 5%, 10: 10%), the rest, in permuted order, the training part.
    """
    order = np.random.default_rng(seed).permutation(len(columns[0]))
    n_dev = max(1, len(columns[0]) // one_in)

    def take(column, idx):
        return column[idx] if isinstance(column, np.ndarray) else [column[i] for i in idx]
    return (tuple(take(c, order[n_dev:]) for c in columns),
            tuple(take(c, order[:n_dev]) for c in columns))


def check_fitted(estimator) -> None:
    if getattr(estimator, "model_", None) is None:
        raise RuntimeError(f"this {type(estimator).__name__} is not trained: call fit() or load() first")


def save_job(directory: str | Path, model, files: dict, weights_dtype: str | None = None) -> Path:
    """Write the model (``bptt.io.save``), then each ``{filename: Vocabulary or JSON object}``
    beside it, in order; return the directory."""
    directory = Path(directory)
    io.save(model, directory, weights_dtype=weights_dtype)
    for name, content in files.items():
        if isinstance(content, Vocabulary):
            content.save(directory / name)
        else:
            write_json(directory / name, content)
    return directory


def read_job_file(directory: str | Path, filename: str, what: str, parse: Callable[[dict], object]):
    """``parse(doc)`` of the JSON object ``directory/filename``: a FileNotFoundError if the
    directory holds no such file (it is not a saved ``what``), a ValueError naming the file if
    ``parse`` finds a field missing or wrong."""
    path = Path(directory) / filename
    if not path.is_file():
        raise FileNotFoundError(f"{directory}: not a {what} (no {filename})")
    doc = read_json_object(path)
    try:
        return parse(doc)
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: malformed {what} settings: {err}") from err


def load_model(directory: str | Path, cls, sizes: Callable[[object], list[tuple[str, int, str, int]]]):
    """The model saved in ``directory`` (a ``cls``, or one of a tuple), checked against the files
    beside it: ``sizes(model)`` lists (what, the model's count, file, the file's count), e.g.
    ("words", model.config.vocab_size, "vocab.json", len(vocab)); every one must agree."""
    model = io.load_as(directory, cls)
    wrong = [f"{ours} {what} in the model, {theirs} in {file}"
             for what, ours, file, theirs in sizes(model) if ours != theirs]
    if wrong:
        raise ValueError(f"{directory}: the model does not match the files beside it: " + "; ".join(wrong))
    return model
