"""The glue every job shares, written once: settings, the dev hold-out, a job directory.

    SharedSettings                        the settings every job has: optimizer, lr, ..., seed, dtype
    VectorSettings                        pretrained word vectors: file, vocabulary extension, freezing
    pretrained_vectors(settings, vocab, ...)  (vocabulary, embedding matrix, report) from the file
    set_embedding(embedding, matrix, freeze)  copy the matrix in; freeze it or not
    word_embedding(settings, vocab, ...)  the LMs of init_from, then pretrained_vectors beside them
    settings_of(Settings, given)          the settings dataclass; unknown names are a TypeError
    Estimator                             scikit-learn's get_params / set_params over the settings and verbose
    hold_out(one_in, seed, *columns)      (train, dev) parts: a seeded 1-in-``one_in`` dev set
    TooFewToHoldOut                       its ValueError when there are fewer than 2 examples
    check_fitted(estimator)               a RuntimeError unless fit() or load() ran
    fingerprint(*parts)                   SHA-256 of a job's data (a resumed run must have the same)
    identity(settings, *data)             what a resumed run must share: the settings, the data's fingerprint
    save_job(directory, model, files)     model.safetensors + config.json, and the job's files
    read_job_file(directory, name, what, parse)   the job's JSON file, parsed, errors naming it
    load_model(directory, cls, sizes)     the model, checked against the vocabularies beside it

A saved job is a directory: the model as ``bptt.io`` writes it (safetensors weights under
PyTorch names + config.json), each vocabulary as JSON (``Vocabulary.save``), and one JSON file of
the job's own (its settings and whatever else it needs to rebuild itself, e.g. class names).
Estimators follow scikit-learn: ``fit`` returns self; what fit or load sets ends in ``_``
(``model_``, ``vocab_``, ``trainer_``, ...); ``settings`` holds what the constructor was given,
which ``get_params`` returns and ``set_params`` replaces (``Estimator``), so that
``sklearn.base.clone``, ``cross_val_score`` and ``GridSearchCV`` work on them.
"""
from __future__ import annotations

import hashlib
from dataclasses import MISSING, asdict, dataclass, fields, replace
from pathlib import Path
from typing import Callable

import numpy as np

from .. import io
from ._rules import check_setting
from ..data.vectors import VectorReport, load_word_vectors
from ..data.vocab import PAD, PAD_ID, UNK, Vocabulary
from ..files import read_json_object, recover_directory, write_json
from ..transfer import SourceLM, embedding_size, load_lm


@dataclass(frozen=True)
class SharedSettings:
    """The settings every job's settings dataclass extends (with the defaults they all use): the
    optimizer and its clipping (``bptt.train.TrainConfig.from_settings`` reads them), the seed of
    the weights, the dropout masks and the data order, and the float type."""
    optimizer: str = "adam"         # sgd | adam | adamw | rmsprop | adagrad
    lr: float = 2e-3
    weight_decay: float = 0.0
    clip_norm: float | None = 5.0   # the global gradient norm is clipped to this (None: never)
    ema_decay: float | None = None  # keep an exponential moving average of the weights with this decay, e.g. 0.999: each evaluation scores it and best/ holds it (Polyak averaging, docs/pretraining.md)
    seed: int = 0
    dtype: str = "float32"


@dataclass(frozen=True)
class VectorSettings:
    """Pretrained word vectors for the word embedding of a job (``bptt.data.vectors``)."""
    vectors: str | None = None          # GloVe / word2vec text or binary; plain, .gz, .zip[:member]
    vectors_vocab: int = 0              # also add the N most frequent words of the vector file
    freeze_vectors: bool = False        # keep the embedding fixed (nn.Embedding.from_pretrained(freeze=True))

    def __post_init__(self):
        """Refuse the vector flags without a vector file (a job's own ``__post_init__`` calls this)."""
        if (self.vectors_vocab or self.freeze_vectors) and self.vectors is None:
            raise ValueError("vectors_vocab and freeze_vectors need vectors (a word-vector file)")


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


def word_embedding(settings, vocab: Vocabulary, default_dim: int, what: str = "vectors"
                   ) -> tuple[Vocabulary, list[SourceLM], np.ndarray | None, VectorReport | None, int]:
    """(vocabulary, the LMs of ``settings.init_from``, matrix (V, E) or None, report or None, E).

    Only LMs, or only a vector file: ``pretrained_vectors`` with E = the LMs' embedding size (so
    the matrix is None with LMs; ``bptt.transfer.init_from_lms`` fills the embedding). Both: the
    word vector is the LMs' blocks, then the file's vectors beside them::

        row(w) = [ E_fwd[w] ; E_bwd[w] ; vectors[w] ]      E = E_fwd + E_bwd + E_file

    here the matrix holds zeros in the LMs' columns (``init_from_lms(..., vectors_dim=E_file)``
    fills them and leaves the file's columns), and the recurrent layers read the file's columns
    through input weights that start at zero: at the start each direction computes exactly its
    LM's states, and training learns what the file's vectors add. ``embedding_dim``, if given,
    must be that sum.
    """
    s = settings
    sources = [load_lm(spec) for spec in s.init_from or ()]
    lm_dim = embedding_size(sources)
    if not (sources and s.vectors is not None):
        vocab, matrix, report, dim = pretrained_vectors(s, vocab, s.embedding_dim or (lm_dim or None),
                                                        default_dim, what=what)
        return vocab, sources, matrix, report, dim
    vocab, vectors, report, file_dim = pretrained_vectors(s, vocab, None, default_dim, what=what)
    if s.embedding_dim and s.embedding_dim != lm_dim + file_dim:
        raise ValueError(f"embedding_dim {s.embedding_dim}: the word vector is the language models' "
                         f"{lm_dim} columns and the {file_dim} of {s.vectors} side by side; give "
                         f"{lm_dim + file_dim} or leave it out")
    matrix = np.zeros((len(vocab), lm_dim + file_dim), dtype=vectors.dtype)      # (V, E_LMs + E_file)
    matrix[:, lm_dim:] = vectors
    return vocab, sources, matrix, report, lm_dim + file_dim


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
    """``settings_cls(**given)``, refusing names that are not among its fields (TypeError) and
    values their rule does not allow (ValueError "name must be ..., got ...", see ``_rules``)."""
    known = {f.name: f for f in fields(settings_cls)}
    unknown = set(given) - set(known)
    if unknown:
        raise TypeError(f"unknown settings {sorted(unknown)}; known: {sorted(known)}")
    for name, value in given.items():
        check_setting(name, value, optional="None" in str(known[name].type))
    return settings_cls(**given)


class Estimator:
    """scikit-learn's estimator API for a job whose constructor is ``__init__(self, verbose=1,
    **settings)`` storing ``self.verbose = verbose`` and ``self.settings = settings_of(Settings,
    settings)``; scikit-learn is not imported unless scikit-learn itself asks for the tags.

    ``verbose``, as in scikit-learn: 0 trains silently (no progress bar, no line per epoch, for
    ``cross_val_score`` and ``GridSearchCV``), 1 (the default, what the command line shows) a
    line per epoch, and a progress bar unless ``fit(progress=False)``.

    ``get_params()`` is ``verbose`` and every field of ``settings``, each the very object the
    constructor was given (``sklearn.base.clone`` checks identity), so
    ``type(e)(**e.get_params())`` builds the same estimator, unfitted. ``set_params(**params)``
    replaces those (the settings' own checks run again; an unknown name is a ValueError, as in
    scikit-learn) and returns self.
    Two class attributes tell scikit-learn what the estimator is: ``classifier`` (fit(X, y),
    labels in ``classes_``; ``cross_val_score`` then stratifies its folds; else fit(X) and
    score(X), X carrying its own targets) and ``text_input`` (X is a list of strings). X is
    one-dimensional in every job: texts, sentences or pairs, never a matrix of numbers.
    """
    classifier = False
    text_input = False

    def get_params(self, deep: bool = True) -> dict:
        """{setting: value} for every setting, and verbose (``deep`` changes nothing: nothing nests)."""
        return {**{f.name: getattr(self.settings, f.name) for f in fields(self.settings)},
                "verbose": self.verbose}

    def set_params(self, **params) -> "Estimator":
        known = [f.name for f in fields(self.settings)] + ["verbose"]
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ValueError(f"invalid parameter {unknown[0]!r} for {type(self).__name__}; "
                             f"valid parameters: {sorted(known)}")
        verbose = params.pop("verbose", self.verbose)
        self.settings = replace(self.settings, **params)
        self.verbose = verbose
        return self

    def says(self) -> bool:
        """Whether fit shows its progress and a line per epoch (``verbose`` not 0)."""
        return bool(self.verbose)

    def __repr__(self) -> str:
        """The class with the settings that differ from their defaults, as scikit-learn prints."""
        default = type(self.settings)()
        changed = [f"{f.name}={getattr(self.settings, f.name)!r}" for f in fields(self.settings)
                   if getattr(self.settings, f.name) != getattr(default, f.name)]
        changed += [f"verbose={self.verbose!r}"] * (self.verbose != 1)
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_tags__(self):
        from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags
        return Tags(estimator_type="classifier" if self.classifier else None,
                    target_tags=TargetTags(required=self.classifier),
                    classifier_tags=ClassifierTags() if self.classifier else None,
                    input_tags=InputTags(one_d_array=True, two_d_array=False, string=self.text_input))


class TooFewToHoldOut(ValueError):
    """``hold_out`` of fewer than 2 examples; ``n``: how many there were (a command names the file)."""

    def __init__(self, n: int):
        super().__init__(f"{n} training example{'' if n == 1 else 's'}: too few to hold out a dev set "
                         f"and train on the rest; give a dev set (--dev FILE) or more examples")
        self.n = n


def hold_out(one_in: int, seed: int, *columns) -> tuple[tuple, tuple]:
    """Split parallel columns (lists or arrays of one length n) into (train, dev) columns.

    A permutation of 0..n-1 drawn from ``seed``; its first max(1, n // one_in) positions are the
    dev part (``one_in`` 20: 5%, 10: 10%), the rest, in permuted order, the training part.
    Fewer than 2 examples leave nothing to train on: a ``TooFewToHoldOut`` says to give a dev set.
    """
    n = len(columns[0])
    if n < 2:
        raise TooFewToHoldOut(n)
    order = np.random.default_rng(seed).permutation(n)
    n_dev = max(1, n // one_in)

    def take(column, idx):
        return column[idx] if isinstance(column, np.ndarray) else [column[i] for i in idx]
    return (tuple(take(c, order[n_dev:]) for c in columns),
            tuple(take(c, order[:n_dev]) for c in columns))


def fingerprint(*parts) -> str:
    """SHA-256 of a job's data: nested lists and tuples of strings, numbers and arrays, each
    hashed with its type and length, so that different data never give the same bytes."""
    h = hashlib.sha256()

    def feed(x) -> None:
        if isinstance(x, np.ndarray):
            data = np.ascontiguousarray(x)
            h.update(f"a{data.dtype.str}{data.shape}".encode())
            h.update(memoryview(data).cast("B"))
        elif isinstance(x, (list, tuple)):
            h.update(f"l{len(x)}[".encode())
            for item in x:
                feed(item)
            h.update(b"]")
        else:
            text = x if isinstance(x, str) else repr(x)
            data = text.encode("utf-8", errors="surrogatepass")
            h.update(f"{'s' if isinstance(x, str) else 'r'}{len(data)}:".encode() + data)
    for part in parts:
        feed(part)
    return h.hexdigest()


def identity(settings, *data) -> dict:
    """What a resumed run must share with the run that wrote its checkpoint (``bptt.train``):
    the settings (a dataclass), and the fingerprint of the data. ``defaults``: each setting's
    default, which a checkpoint written before that setting existed is taken to have had."""
    defaults = {f.name: f.default if f.default is not MISSING else f.default_factory()
                for f in fields(settings) if f.default is not MISSING or f.default_factory is not MISSING}
    return {"settings": asdict(settings), "data": fingerprint(*data), "defaults": defaults}


def check_fitted(estimator) -> None:
    if getattr(estimator, "model_", None) is None:
        raise RuntimeError(f"this {type(estimator).__name__} is not trained: call fit() or load() first")


def save_job(directory: str | Path, model, files: dict, weights_dtype: str | None = None) -> Path:
    """Write each ``{filename: Vocabulary or JSON object}``, in order, then the model
    (``bptt.io.save``) with their SHA-256s, so that loading refuses a model whose files have
    changed since (a flipped byte in a vocabulary would change its predictions without a word);
    return the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if isinstance(content, Vocabulary):
            content.save(directory / name)
        else:
            write_json(directory / name, content)
    io.save(model, directory, weights_dtype=weights_dtype, files=list(files))
    return directory


def read_job_file(directory: str | Path, filename: str, what: str, parse: Callable[[dict], object]):
    """``parse(doc)`` of the JSON object ``directory/filename``: a FileNotFoundError if the
    directory holds no such file (it is not a saved ``what``), a ValueError naming the file if
    ``parse`` finds a field missing or wrong. A run's ``best/`` that a kill left between two
    renames is put back first (``bptt.files.recover_directory``)."""
    directory = Path(directory)
    if not directory.exists() and not recover_directory(directory):
        raise FileNotFoundError(f"{directory}: no such model folder")
    path = directory / filename
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
