"""The part-of-speech tagging job: a BiLSTM tagger over words and word features.

The readers are in ``bptt.data.tagged`` (CoNLL-U, token<TAB>tag), raw-text splitting in
``bptt.data.tokenize.split_words``, token accuracy in ``bptt.metrics`` and the most-frequent-tag
baseline in ``bptt.baseline``::

    SequenceTagger(**settings).fit(train, dev)          Tagger (models/tagger.py) + vocabularies
    tagger.predict([words, ...]); tagger.evaluate(sentences); tagger.tag("raw text")
    tagger.save(dir); SequenceTagger.load(dir)
    tagger.tags_, tagger.vocab_, tagger.feature_vocabs_, tagger.model_, tagger.trainer_   # set by fit

Inputs of the neural tagger, per token (``TaggerSettings``): the word id (of the lower-cased word
with ``lowercase=True``), and optionally discrete features, each with its own embedding table:
``suffix`` (the last ``suffix_length`` characters, lower-cased) and ``shape`` (capitalisation,
digits, punctuation; see ``word_shape``). Rare words are replaced by ``<unk>`` during training
with probability alpha / (alpha + count) (``word_dropout`` = alpha; Kiperwasser & Goldberg 2016),
so that the model learns what to do with the unknown word it will meet at test time.

A saved tagger is a directory: ``model.safetensors`` + ``config.json`` (the ``Tagger``, as
``bptt.io`` writes it), ``vocab.json`` (words), ``features.json`` (each feature's vocabulary),
``tagger.json`` (tag set and settings).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from .. import distributed
from ._common import (Estimator, SharedSettings, VectorSettings, check_fitted, hold_out, identity, load_model,
                      read_job_file, save_job, set_embedding, settings_of, word_embedding)
from ..data.batching import bucket_batches, fixed_batches, pad_batch
from ..data.labels import check_labels
from ..data.tagged import UPOS, TaggedSentence
from ..data.tokenize import split_words
from ..data.vocab import UNK_ID, Vocabulary
from ..metrics import accuracy_report, token_accuracy
from ..models.tagger import Tagger, TaggerConfig
from ..train import TrainConfig, Trainer, train_keep_best
from ..transfer import init_from_lms, settle_init_from


FEATURES = ("suffix", "shape")
SETTINGS_FILE, VOCAB_FILE, FEATURES_FILE = "tagger.json", "vocab.json", "features.json"


# ---- token features ---------------------------------------------------------------------------
def word_shape(word: str) -> str:
    """A coarse shape class of a word: capitalisation, digits and punctuation.

    ``Harry`` -> "Xx", ``ANSI`` -> "X", ``the`` -> "x", ``3.14`` -> "d", ``1990s`` -> "dx",
    ``,`` -> "p", ``e-mail`` -> "x-", ``Jean-Paul`` -> "Xx-", ``McDonald`` -> "xX" (mixed).
    """
    if not any(ch.isalnum() for ch in word):
        return "p"
    has_digit = any(ch.isdigit() for ch in word)
    letters = [ch for ch in word if ch.isalpha()]
    if not letters:
        return "d"
    if has_digit:
        return "dx"
    hyphen = "-" if "-" in word else ""
    if all(ch.isupper() for ch in letters):
        return ("X" if len(letters) > 1 else "Xx") + hyphen
    if all(ch.islower() for ch in letters):
        return "x" + hyphen
    if letters[0].isupper() and all(ch.islower() for ch in letters[1:]) or hyphen:
        return "Xx" + hyphen
    return "xX"


def _feature_strings(words: Sequence[str], name: str, suffix_length: int) -> list[str]:
    if name == "suffix":
        return [w.lower()[-suffix_length:] for w in words]
    if name == "shape":
        return [word_shape(w) for w in words]
    raise ValueError(f"unknown feature {name!r}; known: {FEATURES}")


# ---- the neural tagger --------------------------------------------------------------------------
DEFAULT_EMBEDDING_DIM = 100


@dataclass(frozen=True)
class TaggerSettings(SharedSettings, VectorSettings):
    """Every hyperparameter of the model, its inputs and its training (saved with the model).
    (Optimizer, seed and dtype: ``SharedSettings``.)"""
    cell: str = "lstm"
    embedding_dim: int | None = None         # None: 100, or the dimension of ``vectors``
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = True
    dropout: float = 0.0
    embedding_dropout: float = 0.25
    output_dropout: float = 0.25
    weight_dropout: float = 0.0              # DropConnect on the recurrent weights W in training, one mask per batch (AWD-LSTM; fastai's weight_p)
    lowercase: bool = True                   # word ids of the lower-cased word (case: see "shape")
    features: tuple[str, ...] = ("suffix", "shape")   # any of FEATURES, or () for words alone
    suffix_length: int = 3
    feature_dim: int = 16
    min_freq: int = 1
    word_dropout: float = 0.25               # alpha: <unk> with probability alpha / (alpha + count)
    epochs: int = 30
    batch_size: int = 32
    patience: int | None = 5
    init_from: tuple[str, ...] | None = ()   # language models to start from: a forward and/or a backward one (bptt.transfer)

    def __post_init__(self):
        super().__post_init__()
        settle_init_from(self)
        feats = (self.features,) if isinstance(self.features, str) else self.features
        object.__setattr__(self, "features", tuple(feats))
        for f in self.features:
            if f not in FEATURES:
                raise ValueError(f"unknown feature {f!r}; known: {FEATURES}")


class TagBatch(NamedTuple):
    ids: np.ndarray                 # (T, B) word ids, padded with 0
    lengths: np.ndarray             # (B,) longest first
    tags: np.ndarray                # (T, B) tag ids, padded with 0 (masked)
    features: np.ndarray | None     # (T, B, K) feature ids, padded with 0
    index: np.ndarray               # (B,) positions in the input list


class SequenceTagger(Estimator):
    """Words (+ suffix / shape features) -> embedding -> BiLSTM -> dense at every step -> tags."""

    tags_: tuple[str, ...]          # the tag set, by id
    vocab_: Vocabulary              # words
    feature_vocabs_: list[Vocabulary]   # one per feature in settings.features
    model_: Tagger
    trainer_: Trainer               # fit only

    def __init__(self, verbose: int = 1, **settings):
        self.verbose = verbose            # 0: fit trains silently (``Estimator``)
        self.settings = settings_of(TaggerSettings, settings)

    # ---- encoding -------------------------------------------------------------------------
    def _norm(self, words: Sequence[str]) -> list[str]:
        return [w.lower() for w in words] if self.settings.lowercase else list(words)

    def _encode_words(self, words: Sequence[str]) -> tuple[np.ndarray, np.ndarray | None]:
        """Word ids (L,) and feature ids (L, K) (None without features)."""
        ids = self.vocab_.encode(self._norm(words))
        if not self.feature_vocabs_:
            return ids, None
        feats = np.stack([v.encode(_feature_strings(words, name, self.settings.suffix_length))
                          for name, v in zip(self.settings.features, self.feature_vocabs_)], axis=1)
        return ids, feats

    def _batch(self, encoded: list, tag_ids: list | None, index: np.ndarray) -> TagBatch:
        ids, lengths = pad_batch([encoded[i][0] for i in index])
        tags = (pad_batch([tag_ids[i] for i in index])[0] if tag_ids is not None
                else np.zeros_like(ids))
        feats = None
        if self.feature_vocabs_:
            K = len(self.feature_vocabs_)
            feats = np.stack([pad_batch([encoded[i][1][:, k] for i in index])[0] for k in range(K)], axis=2)
        return TagBatch(ids, lengths, tags, feats, index)

    # ---- training -------------------------------------------------------------------------
    def _build(self, sentences: Sequence[TaggedSentence]) -> None:
        s = self.settings
        self.vocab_ = Vocabulary.build([self._norm(x.words) for x in sentences], min_freq=s.min_freq)
        self.feature_vocabs_ = [Vocabulary.build([_feature_strings(x.words, name, s.suffix_length)
                                                  for x in sentences]) for name in s.features]
        self.tags_ = tuple(sorted({t for x in sentences for t in x.tags}))
        self.vocab_, sources, matrix, self.vector_report_, dim = word_embedding(
            s, self.vocab_, DEFAULT_EMBEDDING_DIM, what="word vectors")
        config = TaggerConfig(len(self.vocab_), dim, s.hidden_size, len(self.tags_), s.cell,
                              s.num_layers, s.bidirectional, s.dropout, s.embedding_dropout,
                              s.output_dropout, tuple(len(v) for v in self.feature_vocabs_),
                              (s.feature_dim,) * len(self.feature_vocabs_), padding_idx=0, dtype=s.dtype,
                              weight_dropout=s.weight_dropout)
        self.model_ = Tagger(config, np.random.default_rng(s.seed), dropout_seed=s.seed + 1)
        set_embedding(self.model_.embedding, matrix, s.freeze_vectors)
        if sources:
            extra = self.vector_report_.dim if self.vector_report_ else 0     # a vector file's columns
            self.transfer_report_ = init_from_lms(self.model_, self.vocab_, sources, "tagger", extra)
            print(f"init_from: {self.transfer_report_.details()}", flush=True)

    def fit(self, sentences: Sequence[TaggedSentence], dev: Sequence[TaggedSentence] | None = None,
            out_dir: str | Path | None = None, resume: str | Path | None = None,
            progress: bool = True, overwrite: bool = False,
            time_budget: float | None = None) -> "SequenceTagger":
        """Train; keeps the epoch with the best dev token accuracy.

        Without ``dev``, 10% of the training sentences (seeded) are held out as one. ``out_dir``
        receives the checkpoint, ``best/`` and ``metrics.jsonl`` (a temporary folder if None).
        """
        s = self.settings
        sentences = list(sentences)
        if not sentences:
            raise ValueError("SequenceTagger.fit: no training sentences")
        at = [(i, j) for i, x in enumerate(sentences) for j in range(len(x.tags))]   # a misspelt tag is
        check_labels([t for x in sentences for t in x.tags], lambda k: "sentences[%d].tags[%d]" % at[k],
                     unit="word", what="tag", rare=False, known=frozenset(UPOS))     # refused (data.labels)
        if dev is None:
            (sentences,), (dev,) = hold_out(10, s.seed, sentences)
        self._build(sentences)
        unknown_tags = sorted({t for x in dev for t in x.tags} - set(self.tags_))
        if unknown_tags:
            print(f"note: dev tags never seen in training (always wrong): {unknown_tags}")
        tag_index = {t: i for i, t in enumerate(self.tags_)}
        encoded = [self._encode_words(x.words) for x in sentences]
        tag_ids = [np.array([tag_index[t] for t in x.tags], dtype=np.int64) for x in sentences]
        counts = Counter(w for x in sentences for w in self._norm(x.words))
        # probability of replacing each training token by <unk> (word dropout)
        drop = [np.array([s.word_dropout / (s.word_dropout + counts[w]) for w in self._norm(x.words)])
                for x in sentences] if s.word_dropout > 0 else None

        def batches(rng):
            plan = bucket_batches([e[0] for e in encoded], None, s.batch_size,
                                  seed=int(rng.integers(2**63)))
            out = []
            for b in plan:
                batch = self._batch(encoded, tag_ids, b.index)
                if drop is not None:
                    p, _ = pad_batch([drop[i] for i in b.index], pad_id=0)
                    ids = np.where(rng.random(p.shape) < p, UNK_ID, batch.ids)
                    batch = batch._replace(ids=ids)
                out.append(batch)
            return out

        def evaluate():                             # sharded over the processes, counts summed
            part = distributed.part(dev)
            pred = self.predict([x.words for x in part])
            right = sum(a == b for x, p in zip(part, pred) for a, b in zip(x.tags, p))
            right, total = distributed.total(right, sum(len(x.tags) for x in part))
            return {"accuracy": right / total}

        same = identity(s, [tuple(x) for x in sentences], [tuple(x) for x in dev])
        self.trainer_ = train_keep_best(self.model_, TrainConfig.from_settings(s), batches,
                                        self.model_.loss_and_grads, evaluate, self.save, out_dir,
                                        resume, progress and self.says(), identity=same, overwrite=overwrite,
                                        time_budget=time_budget, verbose=self.says(),
                                        eval_tokens=sum(len(x.words) for x in dev))
        return self

    # ---- prediction -----------------------------------------------------------------------
    def predict(self, sentences: Sequence[Sequence[str]], batch_size: int = 256) -> list[list[str]]:
        """The tags of each sentence (a list of words)."""
        check_fitted(self)
        sentences = [list(x) for x in sentences]
        out: list[list[str]] = [[] for _ in sentences]
        nonempty = [i for i, x in enumerate(sentences) if x]
        encoded = [self._encode_words(sentences[i]) for i in nonempty]
        for b in fixed_batches([e[0] for e in encoded], None, batch_size):
            batch = self._batch(encoded, None, b.index)
            pred = self.model_.predict(batch.ids, batch.lengths, batch.features)   # (T, B)
            for col, i in enumerate(b.index):
                out[nonempty[i]] = [self.tags_[k] for k in pred[:batch.lengths[col], col]]
        return out

    def evaluate(self, sentences: Sequence[TaggedSentence]) -> dict:
        """Token accuracy, and on words known / unknown to the word vocabulary."""
        pred = self.predict([x.words for x in sentences])
        known = {w for w in self.vocab_.tokens[2:]}
        if self.settings.lowercase:
            sentences_norm = [TaggedSentence([w.lower() for w in x.words], x.tags) for x in sentences]
            return accuracy_report(sentences_norm, pred, known)
        return accuracy_report(sentences, pred, known)

    def score(self, sentences: Sequence[TaggedSentence]) -> float:
        return token_accuracy([x.tags for x in sentences], self.predict([x.words for x in sentences]))

    def tag(self, text: str, pretokenized: bool = False) -> list[tuple[str, str]]:
        """(word, tag) pairs of raw text (split by ``split_words``, or on whitespace)."""
        words = text.split() if pretokenized else split_words(text)
        return list(zip(words, self.predict([words])[0]))

    # ---- saving ---------------------------------------------------------------------------
    def save(self, directory: str | Path, weights_dtype: str | None = None) -> Path:
        """Model directory: model.safetensors, config.json, vocab.json, features.json, tagger.json."""
        check_fitted(self)
        features = {name: v.to_dict() for name, v in zip(self.settings.features, self.feature_vocabs_)}
        job = {"tags": list(self.tags_), "settings": asdict(self.settings)}
        return save_job(directory, self.model_, {VOCAB_FILE: self.vocab_, FEATURES_FILE: features,
                                                 SETTINGS_FILE: job}, weights_dtype)

    @classmethod
    def load(cls, directory: str | Path) -> "SequenceTagger":
        directory = Path(directory)
        self, tags = read_job_file(directory, SETTINGS_FILE, "tagger model",
                                   lambda doc: (cls(**doc["settings"]), tuple(doc["tags"])))
        self.tags_ = tags
        self.vocab_ = Vocabulary.load(directory / VOCAB_FILE)
        self.feature_vocabs_ = read_job_file(directory, FEATURES_FILE, "tagger model", lambda doc: [
            Vocabulary.from_dict(doc[name], f"{directory / FEATURES_FILE}: {name}")
            for name in self.settings.features])
        self.model_ = load_model(directory, Tagger, lambda m: [
            ("words", m.config.vocab_size, VOCAB_FILE, len(self.vocab_)),
            ("tags", m.config.num_tags, SETTINGS_FILE, len(self.tags_)),
            ("feature values", m.config.feature_vocab_sizes, FEATURES_FILE,
             tuple(len(v) for v in self.feature_vocabs_))])
        return self
