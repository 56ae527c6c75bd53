"""Pretrained word vectors (GloVe, word2vec text format) -> an embedding matrix for a vocabulary.

File formats, one vector per line, values separated by single spaces:

    GloVe:     the 0.418 0.24968 -0.41242 ...          (d values after the word)
    word2vec:  400000 100                              (first line: count and dimension)
               the 0.418 0.24968 -0.41242 ...

A first line of exactly two integers is taken as a word2vec header. The dimension d comes from
the header, else from the first vector line (its number of fields minus one). Every line is then
split from the right into its last d fields (the vector) and the rest (the word), so words that
contain spaces (``. . .``, ``new york`` in GloVe 840B) are read whole. A ``.gz`` name is read
through gzip. The file is streamed: only the vectors of vocabulary words are kept, and only those
lines have their numbers parsed (the others are checked for their number of fields).

Row ``i`` of the matrix is the vector of ``vocab[i]``: its own, or with ``lowercase_fallback``
that of ``vocab[i].lower()`` when only the lowercase form is in the file (GloVe 6B is
lowercased). The first occurrence of a word in the file wins. Rows of words not found are drawn
from N(0, s^2), s the standard deviation of all found values (1.0 when nothing is found), so
they sit at the same scale as the pretrained rows.
"""
from __future__ import annotations

import gzip
import os
import zlib
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class VectorReport:
    """How much of a vocabulary a vector file covered."""

    path: str
    found: int                          # rows filled from the file (exact or lowercase)
    found_lowercase: int                # ... of which through the lowercase fallback
    missing: int                        # rows drawn at random
    total: int                          # len(vocab)
    dim: int                            # d, values per vector
    missing_examples: tuple[str, ...]   # the first few missing words, in vocab order

    @property
    def coverage(self) -> float:
        """found / total (0.0 for an empty vocabulary)."""
        return self.found / self.total if self.total else 0.0

    def __str__(self) -> str:
        return (f"found {self.found:,} of {self.total:,} words ({self.coverage:.1%}) "
                f"in {os.path.basename(self.path)}")


def _open(path: str):
    return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")


def _clip(line: str, n: int = 60) -> str:
    return line if len(line) <= n else line[:n] + "..."


def _parse_values(fields: list[str], where: str, word: str) -> np.ndarray:
    try:
        vec = np.array(fields, dtype=np.float64)
    except ValueError:
        vec = None
    if vec is None or not np.all(np.isfinite(vec)):
        for j, s in enumerate(fields):
            try:
                ok = np.isfinite(float(s))
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(f"{where}: value {j + 1} of word {word!r} is not a finite "
                                 f"number: {s!r}") from None
    return vec


def load_word_vectors(path: str | os.PathLike, vocab: list[str], dtype=np.float32,
                      rng: np.random.Generator | None = None, lowercase_fallback: bool = True,
                      dim: int | None = None, n_examples: int = 5
                      ) -> tuple[np.ndarray, VectorReport]:
    """Embedding matrix (len(vocab), d) for ``vocab`` from a GloVe / word2vec text file.

    rng: for the rows of missing words (default ``np.random.default_rng(0)``).
    dim: if given, the file's d must equal it (e.g. the model's embedding_dim).
    Raises ValueError ``"<file>:<line>: <reason>"`` on an empty file, undecodable UTF-8, a line
    with the wrong number of values, a value that is not a finite number, a header whose
    dimension or count disagrees with the lines, or d != dim.
    """
    path = os.fspath(path)
    rng = np.random.default_rng(0) if rng is None else rng
    wanted = set(vocab)
    if lowercase_fallback:
        wanted |= {w.lower() for w in vocab}
    vectors: dict[str, np.ndarray] = {}   # word -> (d,) float64, vocab (and lowercase) words only
    d = header_count = None
    n_vectors = lineno = 0
    try:
        with _open(path) as f:
            for lineno, raw in enumerate(f, start=1):
                where = f"{path}:{lineno}"
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise ValueError(f"{where}: undecodable UTF-8 bytes {raw[e.start:e.end]!r} "
                                     f"at byte {e.start} of the line") from None
                if lineno == 1:
                    line = line.lstrip("\ufeff")          # a byte-order mark is not part of a word
                line = line.rstrip()                       # newline, and word2vec's trailing space
                if not line:
                    continue
                if d is None:                              # first non-empty line: header or vector?
                    first = line.split(" ")
                    if len(first) == 2 and all(s.isascii() and s.isdigit() for s in first):
                        header_count, d = int(first[0]), int(first[1])
                        if d < 1:
                            raise ValueError(f"{where}: header dimension must be >= 1, got {d}")
                        if dim is not None and d != dim:
                            raise ValueError(f"{where}: dimension mismatch: the header says "
                                             f"{d} values per vector, expected dim={dim}")
                        continue
                    d = len(first) - 1
                    if d < 1:
                        raise ValueError(f"{where}: wrong number of values: a word and at least "
                                         f"one value expected, got {line[:50]!r}")
                    if dim is not None and d != dim:
                        raise ValueError(f"{where}: dimension mismatch: {d} values per vector, "
                                         f"expected dim={dim}")
                fields = line.rsplit(" ", d)               # [word, v1, ..., vd]
                if len(fields) != d + 1:
                    source = "the header" if header_count is not None else "the first vector"
                    raise ValueError(f"{where}: wrong number of values: expected a word and {d} "
                                     f"values (d from {source}), got {len(fields) - 1} after "
                                     f"{fields[0]!r} in {_clip(line)!r}")
                if not fields[0]:
                    raise ValueError(f"{where}: no word before the {d} values in {_clip(line)!r}")
                n_vectors += 1
                if header_count is not None and n_vectors == 1 and len(line.split(" ")) != d + 1:
                    raise ValueError(f"{where}: dimension mismatch: the header says {d} values "
                                     f"per vector, this line has {len(line.split(' ')) - 1}")
                word = fields[0]
                if word in wanted and word not in vectors:  # first occurrence wins
                    vectors[word] = _parse_values(fields[1:], where, word)
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise ValueError(f"{path}:{lineno + 1}: cannot read the file ({e}); truncated or not "
                         f"{'gzip' if path.endswith('.gz') else 'text'}?") from None
    if d is None or n_vectors == 0:
        raise ValueError(f"{path}:{max(lineno, 1)}: empty file: no word vectors"
                         f"{' after the header' if header_count is not None else ''}")
    if header_count is not None and header_count != n_vectors:
        raise ValueError(f"{path}:{lineno}: the header says {header_count:,} vectors, the file "
                         f"has {n_vectors:,} (truncated?)")

    rows, lower_hits = [], 0
    for word in vocab:
        vec = vectors.get(word)
        if vec is None and lowercase_fallback:
            vec = vectors.get(word.lower())
            lower_hits += vec is not None
        rows.append(vec)
    found = [i for i, v in enumerate(rows) if v is not None]
    missing = [i for i, v in enumerate(rows) if v is None]
    matrix = np.empty((len(vocab), d), dtype=dtype)                       # (V, d)
    if found:
        hit = np.stack([rows[i] for i in found])                          # (F, d) float64
        matrix[found] = hit
        scale = float(hit.std())
    else:
        scale = 1.0
    matrix[missing] = rng.normal(0.0, scale, (len(missing), d))
    report = VectorReport(path, len(found), lower_hits, len(missing), len(vocab), d,
                          tuple(vocab[i] for i in missing[:n_examples]))
    return matrix, report
