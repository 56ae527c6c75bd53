"""Sequence to sequence, end to end: pair files, the date-normalisation data, and a translator.

    read_pairs(path)                   "source<TAB>target" lines; errors name file, line and field
    date_splits(seed)                  DateSplits(train, dev, test) of DatePair(source, target, format):
                                       "the 3rd of march 1998" -> "1998-03-03"; test and dev dates
                                       never occur in train
    Translator(**settings).fit(pairs, dev_pairs)        Seq2Seq (models/seq2seq.py) + vocabularies
    translator.translate(["tue 3 mar 98"], beam=1)      -> ["1998-03-03"]
    translator.evaluate(pairs, beam=1)                  exact match
    translator.save(dir); Translator.load(dir)

Tokens are characters (``level="char"``, as for dates) or whitespace-separated words
(``level="word"``); source and target have vocabularies of their own. The target vocabulary is
``<pad>`` 0, ``<unk>`` 1, ``<bos>`` 2, ``<eos>`` 3, then its tokens by frequency.

The date task. Dates run from 1950-01-01 to 2049-12-31 (36,525 days), so that a two-digit year
is never ambiguous: YY >= 50 is 19YY, YY < 50 is 20YY. Numeric formats with slashes are US
order (month/day/year); with dots, European (day.month.year); ``DATE_FORMATS`` lists them all.
Words are lower case, Title Case or UPPER CASE at random. ``date_splits`` draws the test dates
(2,000) and dev dates (1,000) first, from a permutation of every day seeded by ``seed``, and
builds training pairs only from the remaining days: a held-out date is never seen in training,
in any format. Run ``python -m bptt.translation --out DIR`` to write the three TSV files.

A saved translator is a directory: ``model.safetensors`` + ``config.json`` (the ``Seq2Seq``),
``source_vocab.json``, ``target_vocab.json`` and ``translator.json`` (settings).
"""
from __future__ import annotations

import argparse
import datetime as dt
from collections import Counter
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

import numpy as np

from . import io
from .data.batching import bucket_batches, fixed_batches, pad_batch
from .data.readers import read_text
from .data.vocab import PAD, UNK, Vocabulary
from .models.seq2seq import Hypothesis, Seq2Seq, Seq2SeqConfig
from .train import TrainConfig, Trainer, train_keep_best


BOS, EOS = "<bos>", "<eos>"
BOS_ID, EOS_ID = 2, 3
SETTINGS_FILE = "translator.json"
SOURCE_VOCAB_FILE, TARGET_VOCAB_FILE = "source_vocab.json", "target_vocab.json"


class TranslationFileError(ValueError):
    """A malformed line of a pair file: the message starts with ``file:line:``."""


def read_pairs(path: str | Path) -> list[tuple[str, str]]:
    """(source, target) pairs of a UTF-8 file of ``source<TAB>target`` lines.

    Blank lines are skipped. A line must have exactly one tab and a non-empty source and target;
    otherwise TranslationFileError ``file:line: field N (source|target): ...``.
    """
    path = Path(path)
    text = read_text(path, TranslationFileError)
    pairs = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) != 2:
            raise TranslationFileError(f"{path}:{lineno}: expected 2 tab-separated fields (source, target), "
                                       f"found {len(cols)}")
        for k, (name, value) in enumerate(zip(("source", "target"), cols), start=1):
            if not value.strip():
                raise TranslationFileError(f"{path}:{lineno}: field {k} ({name}): empty")
        pairs.append((cols[0], cols[1]))
    return pairs


def write_pairs(path: str | Path, pairs: Sequence) -> None:
    """Write ``source<TAB>target`` lines (the first two fields of each pair), atomically."""
    lines = []
    for i, (src, tgt, *_) in enumerate(pairs):
        if "\t" in src or "\n" in src or "\t" in tgt or "\n" in tgt:
            raise ValueError(f"pair {i}: a source or target contains a tab or a newline: {(src, tgt)!r}")
        lines.append(f"{src}\t{tgt}\n")
    io._atomic_write(Path(path), lambda tmp: Path(tmp).write_text("".join(lines), encoding="utf-8"))


# ---- the date-normalisation data ------------------------------------------------------------
FIRST_DAY, LAST_DAY = dt.date(1950, 1, 1), dt.date(2049, 12, 31)
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
          "october", "november", "december")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class DatePair(NamedTuple):
    source: str             # "the 3rd of march 1998"
    target: str             # "1998-03-03"
    format: str             # a key of DATE_FORMATS


class DateSplits(NamedTuple):
    train: list[DatePair]
    dev: list[DatePair]
    test: list[DatePair]


def ordinal(n: int) -> str:
    """1 -> "1st", 2 -> "2nd", 3 -> "3rd", 11 -> "11th", 22 -> "22nd"."""
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _month(d: dt.date) -> str:
    return MONTHS[d.month - 1]


def _mon(d: dt.date) -> str:
    return MONTHS[d.month - 1][:3]


def _weekday(d: dt.date) -> str:
    return WEEKDAYS[d.weekday()]


def _yy(d: dt.date) -> str:
    return f"{d.year % 100:02d}"


# name: (example, render). Every render is in lower case; case is varied afterwards.
DATE_FORMATS: dict[str, Callable[[dt.date], str]] = {
    "iso":           lambda d: f"{d.year}-{d.month:02d}-{d.day:02d}",          # 1998-03-03
    "us_slash":      lambda d: f"{d.month:02d}/{d.day:02d}/{d.year}",          # 03/03/1998
    "us_slash_yy":   lambda d: f"{d.month}/{d.day}/{_yy(d)}",                   # 3/3/98
    "eu_dot":        lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",          # 03.03.1998
    "compact":       lambda d: f"{d.year}{d.month:02d}{d.day:02d}",            # 19980303
    "d_month_y":     lambda d: f"{d.day} {_month(d)} {d.year}",                # 3 march 1998
    "d_mon_y":       lambda d: f"{d.day} {_mon(d)} {d.year}",                  # 3 mar 1998
    "dd_mon_yy":     lambda d: f"{d.day:02d}-{_mon(d)}-{_yy(d)}",              # 03-mar-98
    "month_d_y":     lambda d: f"{_month(d)} {d.day}, {d.year}",               # march 3, 1998
    "mon_d_y":       lambda d: f"{_mon(d)} {d.day} {d.year}",                  # mar 3 1998
    "month_dth_y":   lambda d: f"{_month(d)} {ordinal(d.day)}, {d.year}",      # march 3rd, 1998
    "dth_month_y":   lambda d: f"{ordinal(d.day)} {_month(d)} {d.year}",       # 3rd march 1998
    "the_dth_of":    lambda d: f"the {ordinal(d.day)} of {_month(d)} {d.year}",  # the 3rd of march 1998
    "wkd_d_mon_yy":  lambda d: f"{_weekday(d)[:3]} {d.day} {_mon(d)} {_yy(d)}",  # tue 3 mar 98
    "weekday_month": lambda d: f"{_weekday(d)}, {_month(d)} {d.day}, {d.year}",  # tuesday, march 3, 1998
    "weekday_the":   lambda d: f"{_weekday(d)} the {ordinal(d.day)} of {_month(d)} {d.year}",
}
CASES = (("lower", 0.5), ("title", 0.3), ("upper", 0.2))


def render_date(d: dt.date, fmt: str, case: str = "lower") -> str:
    """``d`` written in format ``fmt`` (a key of DATE_FORMATS) and ``case`` (lower|title|upper)."""
    text = DATE_FORMATS[fmt](d)
    if case == "upper":
        return text.upper()
    if case == "title":
        return " ".join(w[:1].upper() + w[1:] for w in text.split(" "))   # "3rd" stays "3rd"
    if case != "lower":
        raise ValueError(f"case must be lower, title or upper, got {case!r}")
    return text


def all_days(first: dt.date = FIRST_DAY, last: dt.date = LAST_DAY) -> list[dt.date]:
    return [first + dt.timedelta(days=k) for k in range((last - first).days + 1)]


def date_pairs(days: Sequence[dt.date], rng: np.random.Generator,
               formats: Sequence[str] = tuple(DATE_FORMATS)) -> list[DatePair]:
    """One pair per day, each in a format and a case drawn from ``rng``."""
    fmt_ids = rng.integers(len(formats), size=len(days))
    cases = rng.choice(len(CASES), size=len(days), p=[p for _, p in CASES])
    return [DatePair(render_date(d, formats[f], CASES[c][0]), d.isoformat(), formats[f])
            for d, f, c in zip(days, fmt_ids, cases)]


def date_splits(seed: int = 0, n_train: int = 40_000, n_dev_dates: int = 1_000,
                n_test_dates: int = 2_000) -> DateSplits:
    """Train / dev / test pairs with disjoint dates, all drawn from ``seed``.

    The days of FIRST_DAY..LAST_DAY are permuted; the first ``n_test_dates`` are the test dates
    (one pair each), the next ``n_dev_dates`` the dev dates (one pair each), and ``n_train``
    training pairs are drawn from the rest, cycling through them in random order so that every
    training day is used about equally often. Each part draws from its own generator (spawned
    from ``seed``), so the test pairs do not change with ``n_train`` or ``n_dev_dates``.
    """
    seeds = np.random.SeedSequence(seed).spawn(4)
    split_rng, test_rng, dev_rng, train_rng = (np.random.default_rng(s) for s in seeds)
    days = all_days()
    if n_test_dates + n_dev_dates >= len(days):
        raise ValueError(f"{n_test_dates} test + {n_dev_dates} dev dates leave no training dates "
                         f"out of {len(days)}")
    order = split_rng.permutation(len(days))
    test_days = [days[i] for i in order[:n_test_dates]]
    dev_days = [days[i] for i in order[n_test_dates:n_test_dates + n_dev_dates]]
    pool = order[n_test_dates + n_dev_dates:]
    picks = np.concatenate([train_rng.permutation(pool) for _ in range(-(-n_train // len(pool)))])[:n_train]
    train_days = [days[i] for i in picks]
    return DateSplits(date_pairs(train_days, train_rng), date_pairs(dev_days, dev_rng),
                      date_pairs(test_days, test_rng))


# ---- the translator -------------------------------------------------------------------------
@dataclass(frozen=True)
class TranslatorSettings:
    """Every hyperparameter of the model, its tokens and its training (saved with the model).
    The defaults are the recipe of bench/dates.py (99.75% exact match on held-out dates)."""
    level: str = "char"                 # char | word
    cell: str = "lstm"
    embedding_dim: int = 32
    hidden_size: int = 64               # per encoder direction (the decoder has 2 x 64)
    num_layers: int = 1
    bidirectional_encoder: bool = True
    dropout: float = 0.0
    embedding_dropout: float = 0.0
    output_dropout: float = 0.0
    max_output_len: int | None = None   # decoding limit in tokens; None: 2 x longest training target + 10
    epochs: int = 8
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 2e-3
    weight_decay: float = 0.0
    clip_norm: float | None = 5.0
    patience: int | None = 3
    seed: int = 0
    dtype: str = "float32"

    def __post_init__(self):
        if self.level not in ("char", "word"):
            raise ValueError(f"level must be 'char' or 'word', got {self.level!r}")


class PairBatch(NamedTuple):
    src: np.ndarray             # (S, B) source ids, padded with 0, longest first
    src_lengths: np.ndarray     # (B,)
    tgt: np.ndarray             # (T, B) target ids then <eos>, padded with 0
    tgt_lengths: np.ndarray     # (B,) target length + 1
    index: np.ndarray           # (B,) positions in the input list


class Translator:
    """Source tokens -> encoder -> final state -> decoder -> target tokens."""

    def __init__(self, **settings):
        known = {f.name for f in fields(TranslatorSettings)}
        unknown = set(settings) - known
        if unknown:
            raise TypeError(f"unknown settings {sorted(unknown)}; known: {sorted(known)}")
        self.settings = TranslatorSettings(**settings)
        self.source_vocab: Vocabulary | None = None
        self.target_vocab: Vocabulary | None = None
        self.max_output_len: int = 0
        self.model: Seq2Seq | None = None
        self.trainer: Trainer | None = None

    # ---- tokens ---------------------------------------------------------------------------
    def split(self, text: str) -> list[str]:
        return list(text) if self.settings.level == "char" else text.split()

    def join(self, tokens: Sequence[str]) -> str:
        return ("" if self.settings.level == "char" else " ").join(tokens)

    def _encode_source(self, texts: Sequence[str]) -> list[np.ndarray]:
        out = []
        for t in texts:
            tokens = self.split(t)
            out.append(self.source_vocab.encode(tokens) if tokens else np.array([1], dtype=np.int64))
        return out

    def _encode_target(self, texts: Sequence[str]) -> list[np.ndarray]:
        return [np.append(self.target_vocab.encode(self.split(t)), EOS_ID) for t in texts]

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
        self.source_vocab = Vocabulary.build([self.split(t) for t in sources])
        built = Vocabulary.build([self.split(t) for t in targets])
        rest = (t for t in built.tokens[2:] if t not in (BOS, EOS))
        self.target_vocab = Vocabulary([PAD, UNK, BOS, EOS, *rest])
        longest = max(len(self.split(t)) for t in targets)
        self.max_output_len = s.max_output_len or 2 * longest + 10
        config = Seq2SeqConfig(len(self.source_vocab), len(self.target_vocab), s.embedding_dim, s.hidden_size,
                               s.cell, s.num_layers, s.bidirectional_encoder, s.dropout, s.embedding_dropout,
                               s.output_dropout, padding_idx=0, bos_id=BOS_ID, eos_id=EOS_ID, dtype=s.dtype)
        self.model = Seq2Seq(config, np.random.default_rng(s.seed), dropout_seed=s.seed + 1)

    def fit(self, pairs: Sequence[tuple[str, str]], dev: Sequence[tuple[str, str]] | None = None,
            out_dir: str | Path | None = None, resume: str | Path | None = None,
            progress: bool = True) -> "Translator":
        """Train with teacher forcing; keeps the epoch with the best dev exact match (greedy).

        ``pairs``: (source, target) (more fields, like a DatePair's format, are ignored). Without
        ``dev``, 5% of the pairs (seeded) are held out as one.
        """
        s = self.settings
        pairs = [(p[0], p[1]) for p in pairs]
        if not pairs:
            raise ValueError("Translator.fit: no training pairs")
        if dev is None:
            order = np.random.default_rng(s.seed).permutation(len(pairs))
            n_dev = max(1, len(pairs) // 20)
            dev = [pairs[i] for i in order[:n_dev]]
            pairs = [pairs[i] for i in order[n_dev:]]
        dev = [(p[0], p[1]) for p in dev]
        self._build([p[0] for p in pairs], [p[1] for p in pairs])
        src = self._encode_source([p[0] for p in pairs])
        tgt = self._encode_target([p[1] for p in pairs])
        model = self.model

        def batches(rng):
            plan = bucket_batches(src, None, s.batch_size, seed=int(rng.integers(2**63)))
            return [self._batch(src, tgt, b.index) for b in plan]

        def step_fn(batch):
            loss, grads, _ = model.loss_and_grads(batch.src, batch.src_lengths, batch.tgt, batch.tgt_lengths)
            return loss, grads, int(batch.src_lengths.sum() + batch.tgt_lengths.sum())

        def evaluate():
            return {"exact_match": self.evaluate(dev)["exact_match"]}

        cfg = TrainConfig.from_settings(s, metric="exact_match")
        self.trainer = train_keep_best(model, cfg, batches, step_fn, evaluate, self.save, out_dir,
                                       resume, progress)
        return self

    # ---- decoding -------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if self.model is None:
            raise RuntimeError("this Translator is not trained: call fit() or load() first")

    def hypotheses(self, texts: Sequence[str], beam: int = 1, batch_size: int = 256) -> list[Hypothesis]:
        """The decoded hypothesis (token ids, log-probability, finished) of each source text."""
        self._check_fitted()
        src = self._encode_source(list(texts))
        out: list[Hypothesis | None] = [None] * len(src)
        for b in fixed_batches(src, None, batch_size):
            batch = self._batch(src, None, b.index)
            if beam == 1:
                hyps = self.model.greedy(batch.src, batch.src_lengths, self.max_output_len)
            else:
                hyps = self.model.beam_search(batch.src, batch.src_lengths, beam, self.max_output_len)
            for i, h in zip(b.index, hyps):
                out[i] = h
        return out

    def translate(self, texts: Sequence[str], beam: int = 1) -> list[str]:
        """The output text of each source text: greedy (beam = 1) or beam search."""
        return [self.join(self.target_vocab.decode(h.tokens)) for h in self.hypotheses(texts, beam)]

    def evaluate(self, pairs: Sequence, beam: int = 1) -> dict:
        """Exact match (the whole output equals the target) over ``pairs``, and the outputs."""
        if not pairs:
            raise ValueError("no pairs to evaluate")
        outputs = self.translate([p[0] for p in pairs], beam)
        right = [o == p[1] for o, p in zip(outputs, pairs)]
        return {"exact_match": float(np.mean(right)), "pairs": len(pairs), "outputs": outputs}

    # ---- saving ---------------------------------------------------------------------------
    def save(self, directory: str | Path, weights_dtype: str | None = None) -> Path:
        self._check_fitted()
        directory = Path(directory)
        io.save(self.model, directory, weights_dtype=weights_dtype)
        self.source_vocab.save(directory / SOURCE_VOCAB_FILE)
        self.target_vocab.save(directory / TARGET_VOCAB_FILE)
        io.write_json(directory / SETTINGS_FILE, {"settings": asdict(self.settings),
                                                  "max_output_len": self.max_output_len})
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> "Translator":
        directory = Path(directory)
        path, doc = io.read_job_file(directory, SETTINGS_FILE, "translator")
        try:
            self = cls(**doc["settings"])
            self.max_output_len = int(doc["max_output_len"])
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path}: malformed translator settings: {err}") from err
        self.source_vocab = Vocabulary.load(directory / SOURCE_VOCAB_FILE)
        self.target_vocab = Vocabulary.load(directory / TARGET_VOCAB_FILE)
        if self.target_vocab.tokens[2:4] != [BOS, EOS]:
            raise ValueError(f"{directory / TARGET_VOCAB_FILE}: ids 2 and 3 must be {BOS} and {EOS}, "
                             f"got {self.target_vocab.tokens[2:4]}")
        model = io.load_as(directory, Seq2Seq)
        c = model.config
        if c.src_vocab_size != len(self.source_vocab) or c.tgt_vocab_size != len(self.target_vocab):
            raise ValueError(f"{directory}: the model has {c.src_vocab_size} source and {c.tgt_vocab_size} "
                             f"target tokens, but the vocabularies have {len(self.source_vocab)} and "
                             f"{len(self.target_vocab)}")
        self.model = model
        return self


def format_counts(pairs: Sequence[DatePair]) -> dict[str, int]:
    return dict(sorted(Counter(p.format for p in pairs).items()))


def main(argv: list[str] | None = None) -> int:
    """``python -m bptt.translation --out DIR``: write the date data as train/dev/test TSV files."""
    parser = argparse.ArgumentParser(prog="python -m bptt.translation",
                                     description="Write the date-normalisation data (source<TAB>target).")
    parser.add_argument("--out", required=True, help="folder for train.tsv, dev.tsv, test.tsv")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train", type=int, default=40_000, help="training pairs")
    args = parser.parse_args(argv)
    splits = date_splits(args.seed, args.train)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, pairs in splits._asdict().items():
        write_pairs(out / f"{name}.tsv", pairs)
        print(f"{out / f'{name}.tsv'}: {len(pairs)} pairs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
