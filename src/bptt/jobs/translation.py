"""The sequence-to-sequence job: a translator from source text to target text (encoder-decoder).

    Translator(**settings).fit(pairs, dev_pairs)        Seq2Seq (models/seq2seq.py) + vocabularies
    translator.translate(["tue 3 mar 98"], beam=1)      -> ["1998-03-03"]
    translator.evaluate(pairs, beam=1)                  exact match
    translator.save(dir); Translator.load(dir)
    translator.source_vocab_, .target_vocab_, .max_output_len_, .model_, .trainer_   # set by fit

Pair files are read by ``bptt.data.pairs.read_pairs``; the date-normalisation data the defaults
are tuned on comes from ``bptt.data.dates``.

Tokens are characters (``level="char"``, as for dates) or whitespace-separated words
(``level="word"``); source and target have vocabularies of their own. The target vocabulary is
``<pad>`` 0, ``<unk>`` 1, ``<bos>`` 2, ``<eos>`` 3, then its tokens by frequency.

A saved translator is a directory: ``model.safetensors`` + ``config.json`` (the ``Seq2Seq``),
``source_vocab.json``, ``target_vocab.json`` and ``translator.json`` (settings).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from .. import distributed
from ._common import (Estimator, SharedSettings, VectorSettings, check_fitted, hold_out, identity, load_model,
                      pretrained_vectors, read_job_file, save_job, set_embedding, settings_of)
from ..data.batching import bucket_batches, fixed_batches, pad_batch
from ..data.vocab import PAD, UNK, Vocabulary
from ..models.seq2seq import Hypothesis, Seq2Seq, Seq2SeqConfig
from ..train import TrainConfig, Trainer, train_keep_best


BOS, EOS = "<bos>", "<eos>"
BOS_ID, EOS_ID = 2, 3
SETTINGS_FILE = "translator.json"
MAX_SOURCE_TOKENS = 10_000          # a source to translate: beyond this the encoder's cache is gigabytes
SOURCE_VOCAB_FILE, TARGET_VOCAB_FILE = "source_vocab.json", "target_vocab.json"


# ---- the translator -------------------------------------------------------------------------
DEFAULT_EMBEDDING_DIM = 32


@dataclass(frozen=True)
class TranslatorSettings(SharedSettings, VectorSettings):
    """Every hyperparameter of the model, its tokens and its training (saved with the model).
    The defaults are the recipe of bench/dates.py (99.75% exact match on held-out dates).
    (Optimizer, seed and dtype: ``SharedSettings``.)"""
    level: str = "char"                 # char | word
    cell: str = "lstm"
    embedding_dim: int | None = None    # None: 32, or the dimension of ``vectors`` (level "word")
    hidden_size: int = 64               # per encoder direction (the decoder has 2 x 64)
    num_layers: int = 1
    bidirectional_encoder: bool = True
    dropout: float = 0.0
    embedding_dropout: float = 0.0
    output_dropout: float = 0.0
    max_output_len: int | None = None   # decoding limit in tokens; None: 2 x longest training target + 10
    epochs: int = 8
    batch_size: int = 64
    patience: int | None = 3

    def __post_init__(self):
        super().__post_init__()
        if self.level not in ("char", "word"):
            raise ValueError(f"level must be 'char' or 'word', got {self.level!r}")
        if self.vectors is not None and self.level != "word":
            raise ValueError("vectors (pretrained word vectors) need level='word'")


class PairBatch(NamedTuple):
    src: np.ndarray             # (S, B) source ids, padded with 0, longest first
    src_lengths: np.ndarray     # (B,)
    tgt: np.ndarray             # (T, B) target ids then <eos>, padded with 0
    tgt_lengths: np.ndarray     # (B,) target length + 1
    index: np.ndarray           # (B,) positions in the input list


class Translator(Estimator):
    """Source tokens -> encoder -> final state -> decoder -> target tokens."""

    source_vocab_: Vocabulary
    target_vocab_: Vocabulary       # <pad> 0, <unk> 1, <bos> 2, <eos> 3, then its tokens
    max_output_len_: int            # decoding limit in tokens
    model_: Seq2Seq
    trainer_: Trainer               # fit only

    def __init__(self, verbose: int = 1, **settings):
        self.verbose = verbose            # 0: fit trains silently (``Estimator``)
        self.settings = settings_of(TranslatorSettings, settings)

    # ---- tokens ---------------------------------------------------------------------------
    def split(self, text: str) -> list[str]:
        return list(text) if self.settings.level == "char" else text.split()

    def join(self, tokens: Sequence[str]) -> str:
        return ("" if self.settings.level == "char" else " ").join(tokens)

    def _encode_source(self, texts: Sequence[str]) -> list[np.ndarray]:
        out = []
        for t in texts:
            tokens = self.split(t)
            out.append(self.source_vocab_.encode(tokens) if tokens else np.array([1], dtype=np.int64))
        return out

    def _encode_target(self, texts: Sequence[str]) -> list[np.ndarray]:
        return [np.append(self.target_vocab_.encode(self.split(t)), EOS_ID) for t in texts]

    def _batch(self, src: list, tgt: list | None, index: np.ndarray) -> PairBatch:
        s, sl = pad_batch([src[i] for i in index])
        if tgt is None:
            t, tl = np.zeros((1, len(index)), dtype=np.int64), np.ones(len(index), dtype=np.int64)
        else:
            t, tl = pad_batch([tgt[i] for i in index])
        return PairBatch(s, sl, t, tl, index)

    # ---- training -------------------------------------------------------------------------
    def _build(self, sources: Sequence[str], targets: Sequence[str]) -> None:
        s = self.settings
        self.source_vocab_ = Vocabulary.build([self.split(t) for t in sources])
        built = Vocabulary.build([self.split(t) for t in targets])
        rest = (t for t in built.tokens[2:] if t not in (BOS, EOS))
        self.target_vocab_ = Vocabulary([PAD, UNK, BOS, EOS, *rest])
        longest = max(len(self.split(t)) for t in targets)
        self.max_output_len_ = s.max_output_len or 2 * longest + 10
        # the source vocabulary may grow by the file's frequent words; the target's cannot (outputs)
        self.source_vocab_, src_matrix, self.vector_report_, dim = pretrained_vectors(
            s, self.source_vocab_, s.embedding_dim, DEFAULT_EMBEDDING_DIM, what="source vectors")
        tgt_settings = replace(s, vectors_vocab=0)
        self.target_vocab_, tgt_matrix, _, _ = pretrained_vectors(
            tgt_settings, self.target_vocab_, dim if s.vectors else s.embedding_dim, DEFAULT_EMBEDDING_DIM,
            specials=(PAD, UNK, BOS, EOS), extend=False, what="target vectors")
        config = Seq2SeqConfig(len(self.source_vocab_), len(self.target_vocab_), dim,
                               s.hidden_size, s.cell, s.num_layers, s.bidirectional_encoder, s.dropout,
                               s.embedding_dropout, s.output_dropout, padding_idx=0, bos_id=BOS_ID,
                               eos_id=EOS_ID, dtype=s.dtype)
        self.model_ = Seq2Seq(config, np.random.default_rng(s.seed), dropout_seed=s.seed + 1)
        set_embedding(self.model_.encoder_embedding, src_matrix, s.freeze_vectors)
        set_embedding(self.model_.decoder_embedding, tgt_matrix, s.freeze_vectors)

    def fit(self, pairs: Sequence[tuple[str, str]], dev: Sequence[tuple[str, str]] | None = None,
            out_dir: str | Path | None = None, resume: str | Path | None = None,
            progress: bool = True, overwrite: bool = False,
            time_budget: float | None = None) -> "Translator":
        """Train with teacher forcing; keeps the epoch with the best dev exact match (greedy).

        ``pairs``: (source, target) (more fields, like a DatePair's format, are ignored). Without
        ``dev``, 5% of the pairs (seeded) are held out as one.
        """
        s = self.settings
        pairs = [(p[0], p[1]) for p in pairs]
        if not pairs:
            raise ValueError("Translator.fit: no training pairs")
        if dev is None:
            (pairs,), (dev,) = hold_out(20, s.seed, pairs)
        dev = [(p[0], p[1]) for p in dev]
        self._build([p[0] for p in pairs], [p[1] for p in pairs])
        src = self._encode_source([p[0] for p in pairs])
        tgt = self._encode_target([p[1] for p in pairs])

        def batches(rng):
            plan = bucket_batches(src, None, s.batch_size, seed=int(rng.integers(2**63)))
            return [self._batch(src, tgt, b.index) for b in plan]

        def evaluate():                             # sharded over the processes, counts summed
            part = distributed.part(dev)
            right = sum(o == p[1] for o, p in zip(self.translate([p[0] for p in part]) if part else [], part))
            right, total = distributed.total(right, len(part))
            return {"exact_match": right / total}

        self.trainer_ = train_keep_best(self.model_, TrainConfig.from_settings(s, metric="exact_match"),
                                        batches, self.model_.loss_and_grads, evaluate, self.save,
                                        out_dir, resume, progress and self.says(),
                                        identity=identity(s, pairs, dev), overwrite=overwrite,
                                        time_budget=time_budget, verbose=self.says(),
                                        eval_tokens=sum(len(a) + len(b) for a, b in dev))
        return self

    # ---- decoding -------------------------------------------------------------------------
    def hypotheses(self, texts: Sequence[str], beam: int = 1, batch_size: int = 256) -> list[Hypothesis]:
        """The decoded hypothesis (token ids, log-probability, finished) of each source text.

        A text must hold a token and at most ``MAX_SOURCE_TOKENS``: an empty one has nothing to
        translate (its output would be a guess), and a huge one would not fit in memory.
        """
        check_fitted(self)
        texts = list(texts)
        for i, text in enumerate(texts, start=1):
            n = len(self.split(text))
            if n == 0 or n > MAX_SOURCE_TOKENS:
                what = "is empty: nothing to translate" if n == 0 else \
                    f"has {n:,} tokens, more than the {MAX_SOURCE_TOKENS:,} a source may have"
                raise ValueError(f"text {i} {what}")
        src = self._encode_source(texts)
        out: list[Hypothesis | None] = [None] * len(src)
        for b in fixed_batches(src, None, batch_size):
            batch = self._batch(src, None, b.index)
            if beam == 1:
                hyps = self.model_.greedy(batch.src, batch.src_lengths, self.max_output_len_)
            else:
                hyps = self.model_.beam_search(batch.src, batch.src_lengths, beam, self.max_output_len_)
            for i, h in zip(b.index, hyps):
                out[i] = h
        return out

    def translate(self, texts: Sequence[str], beam: int = 1) -> list[str]:
        """The output text of each source text: greedy (beam = 1) or beam search."""
        return [self.join(self.target_vocab_.decode(h.tokens)) for h in self.hypotheses(texts, beam)]

    def evaluate(self, pairs: Sequence, beam: int = 1) -> dict:
        """Exact match (the whole output equals the target) over ``pairs``, and the outputs."""
        if not pairs:
            raise ValueError("no pairs to evaluate")
        outputs = self.translate([p[0] for p in pairs], beam)
        right = [o == p[1] for o, p in zip(outputs, pairs)]
        return {"exact_match": float(np.mean(right)), "pairs": len(pairs), "outputs": outputs}

    def score(self, pairs: Sequence) -> float:
        """Exact match over ``pairs``, greedy (scikit-learn's ``score(X)``)."""
        return self.evaluate(pairs)["exact_match"]

    # ---- saving ---------------------------------------------------------------------------
    def save(self, directory: str | Path, weights_dtype: str | None = None) -> Path:
        """Model directory: model.safetensors, config.json, source_vocab.json, target_vocab.json,
        translator.json."""
        check_fitted(self)
        return save_job(directory, self.model_, {
            SOURCE_VOCAB_FILE: self.source_vocab_, TARGET_VOCAB_FILE: self.target_vocab_,
            SETTINGS_FILE: {"settings": asdict(self.settings), "max_output_len": self.max_output_len_}},
            weights_dtype)

    @classmethod
    def load(cls, directory: str | Path) -> "Translator":
        directory = Path(directory)
        self, max_output_len = read_job_file(directory, SETTINGS_FILE, "translator model",
                                             lambda doc: (cls(**doc["settings"]), int(doc["max_output_len"])))
        self.max_output_len_ = max_output_len
        self.source_vocab_ = Vocabulary.load(directory / SOURCE_VOCAB_FILE)
        self.target_vocab_ = Vocabulary.load(directory / TARGET_VOCAB_FILE)
        if self.target_vocab_.tokens[2:4] != [BOS, EOS]:
            raise ValueError(f"{directory / TARGET_VOCAB_FILE}: ids 2 and 3 must be {BOS} and {EOS}, "
                             f"got {self.target_vocab_.tokens[2:4]}")
        self.model_ = load_model(directory, Seq2Seq, lambda m: [
            ("source tokens", m.config.src_vocab_size, SOURCE_VOCAB_FILE, len(self.source_vocab_)),
            ("target tokens", m.config.tgt_vocab_size, TARGET_VOCAB_FILE, len(self.target_vocab_))])
        return self
