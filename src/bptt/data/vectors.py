"""Pretrained word vectors (GloVe, word2vec text, word2vec binary) -> an embedding matrix for a vocabulary.

Formats, one vector per word:

    GloVe text:       the 0.418 0.24968 -0.41242 ...            (d values after the word)
    word2vec text:    400000 50                                 (first line: count and dimension)
                      the 0.418 0.24968 -0.41242 ...
    word2vec binary:  400000 50\\n                               (the same header line, then per word:)
                      the<space><d little-endian float32>[\\n]    (4*d bytes, an optional newline)

Containers: a plain file, ``.gz`` (gzip), or ``.zip`` (as ``glove.6B.zip`` is downloaded): name the
member as ``FILE.zip:member`` (``glove.6B.zip:glove.6B.50d.txt``); a zip holding a single file
needs no member name, one holding several without a member name is an error listing them. A
member whose name ends in ``.gz`` is read through gzip as well.

Text or binary: a first line of exactly two integers is a word2vec header; whether the vectors
after it are text or binary is seen from the bytes that follow the first word (text is digits,
signs, dots, ``e`` and spaces; binary float32 is not). ``binary=True/False`` forces it. In text
files the dimension d comes from the header, else from the first vector line (its fields minus
one); every line is split from the right into its last d fields (the vector) and the rest (the
word), so words containing spaces (``. . .``, ``new york`` in GloVe 840B) are read whole.

Streaming: the file is read once, front to back, and only the vectors of the words asked for are
kept (and only their numbers parsed; the other lines are checked for their number of fields), so
memory grows with the vocabulary, not with the file: the 400,000-word GloVe 6B 50d file (171 MB
unpacked) loads for the 14,818-word SST-2 vocabulary in about 3 s keeping 14k vectors.

Row ``i`` of the matrix is the vector of ``vocab[i]``, looked up in this order:

1. the word itself (the first occurrence in the file wins);
2. with ``lowercase_fallback``: ``vocab[i].lower()`` (GloVe 6B is lowercased);
3. with ``compound_fallback``: a word that splits at ``-``, ``/`` or ``_`` into two or more parts
   (``dumbed-down``, ``writer/director``) gets the mean of its parts' vectors when every part is
   found by 1. or 2. (``show-stoppingly``: ``stoppingly`` is not in GloVe 6B, so it stays missing);
   on the SST-2 vocabulary this finds 757 of the 1,364 compounds GloVe 6B lacks (92.9% -> 98.0%);
4. otherwise a row drawn from N(0, s^2), s the standard deviation of all found values (1.0 when
   nothing is found), so random rows sit at the scale of the pretrained ones.

Vocabulary extension (``extend=N``): the N first words of the file (word2vec and GloVe files are
ordered by frequency, most frequent first), those not already in ``vocab``, are appended after
it, in file order, with their vectors; ``report.added`` lists them. A model whose vocabulary was
extended so knows, at prediction time, the vectors of words it never saw in training.
"""
from __future__ import annotations

import gzip
import io
import os
import re
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO, Iterator, NamedTuple, Sequence

import numpy as np

__all__ = ["VectorReport", "VectorFile", "load_word_vectors", "open_vector_file", "vector_file_exists",
           "compound_parts", "parse"]

_COMPOUND = re.compile(r"[-/_]+")
_TEXT_BYTES = frozenset(b"0123456789+-.eEinfINFaA \t\r\n")


@dataclass(frozen=True)
class VectorReport:
    """How much of a vocabulary a vector file covered."""

    path: str
    found: int                          # rows filled from the file (exact, lowercase or compound)
    found_lowercase: int                # ... of which through the lowercase fallback
    missing: int                        # rows drawn at random
    total: int                          # rows of the matrix: len(vocab) + len(added)
    dim: int                            # d, values per vector
    missing_examples: tuple[str, ...]   # the first few missing words, in vocab order
    found_compound: int = 0             # ... rows that are the mean of their parts' vectors
    compound_examples: tuple[str, ...] = ()
    added: tuple[str, ...] = ()         # words of the file appended to the vocabulary (extend=N)
    file_words: int = 0                 # vectors in the file
    binary: bool = False                # word2vec binary format

    @property
    def coverage(self) -> float:
        """found / total (0.0 for an empty vocabulary)."""
        return self.found / self.total if self.total else 0.0

    def __str__(self) -> str:
        return (f"found {self.found:,} of {self.total:,} words ({self.coverage:.1%}) "
                f"in {os.path.basename(self.path)}")

    def details(self) -> str:
        """The report as shown at the start of training: counts by fallback, with examples."""
        exact = self.found - self.found_lowercase - self.found_compound
        parts = [f"{self} ({self.file_words:,} vectors of {self.dim} values"
                 f"{', word2vec binary' if self.binary else ''}): {exact:,} exact"]
        if self.found_lowercase:
            parts.append(f"{self.found_lowercase:,} lowercased")
        if self.found_compound:
            parts.append(f"{self.found_compound:,} as the mean of their parts "
                         f"(e.g. {', '.join(map(_shown, self.compound_examples))})")
        text = ", ".join(parts)
        if self.added:
            text += f"; {len(self.added):,} words of the file added to the vocabulary"
        text += f"; missing {self.missing:,}"
        if self.missing_examples:
            text += f" (e.g. {', '.join(map(_shown, self.missing_examples))}), drawn at random"
        return text


def _shown(word: str) -> str:
    """A word as a report shows it: as is, or quoted with escapes if it has invisible characters."""
    return word if word.isprintable() and word.strip() == word and word else repr(word)


def compound_parts(word: str) -> list[str]:
    """The parts of a compound word: ``dumbed-down`` -> ``[dumbed, down]``; [] if not a compound."""
    parts = [p for p in _COMPOUND.split(word) if p]
    return parts if len(parts) >= 2 else []


# ---- opening: plain, .gz, .zip, FILE.zip:member -------------------------------------------------
def _split_member(path: str) -> tuple[str, str | None]:
    """``a.zip:member`` -> (``a.zip``, ``member``); anything else -> (path, None)."""
    if not os.path.exists(path):
        at = path.lower().rfind(".zip:")
        if at >= 0:
            return path[: at + 4], path[at + 5:]
    return path, None


def vector_file_exists(path: str | os.PathLike) -> None:
    """Raise FileNotFoundError naming the file unless the vector file (or the zip of a
    ``FILE.zip:member``) is there: a check to make before reading anything else."""
    archive, _ = _split_member(os.fspath(path))
    if not os.path.isfile(archive):
        raise FileNotFoundError(f"{archive}: no such file" if not os.path.exists(archive)
                                else f"{archive}: not a file (a word-vector file is expected)")


@contextmanager
def open_vector_file(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary stream of the vector file: plain, gzip (``.gz``), or a member of a ``.zip``.

    Raises FileNotFoundError naming the file, ValueError listing a zip's members when the member
    is not named (and the zip holds several files) or is not there.
    """
    path = os.fspath(path)
    archive, member = _split_member(path)
    if not os.path.isfile(archive):
        raise FileNotFoundError(f"{archive}: no such file")
    if archive.lower().endswith(".zip"):
        try:
            zf = zipfile.ZipFile(archive)
        except zipfile.BadZipFile as e:
            raise ValueError(f"{archive}: not a zip file ({e})") from None
        with zf:
            names = [i.filename for i in zf.infolist() if not i.is_dir()]
            if member is None:
                if len(names) != 1:
                    raise ValueError(f"{archive}: the zip holds {len(names)} files; name one as "
                                     f"{archive}:MEMBER, one of: {', '.join(names) or '(none)'}")
                member = names[0]
            elif member not in names:
                raise ValueError(f"{archive}: no member {member!r}; members: {', '.join(names) or '(none)'}")
            with zf.open(member) as raw:
                if member.lower().endswith(".gz"):
                    with gzip.GzipFile(fileobj=raw) as f:
                        yield f
                else:
                    yield raw
    elif archive.lower().endswith(".gz"):
        with gzip.open(archive, "rb") as f:
            yield f
    else:
        with open(archive, "rb") as f:
            yield f


# ---- records ------------------------------------------------------------------------------------
class _Record(NamedTuple):
    where: str          # "file:line" (text) or "file: record k at byte b" (binary)
    word: str
    payload: object     # text: list[str] of d value fields; binary: bytes of 4*d


def _clip(line: str, n: int = 60) -> str:
    return line if len(line) <= n else line[:n] + "..."


def parse(record: _Record) -> np.ndarray:
    """The (d,) float64 vector of a record; non-finite or non-numeric values raise naming the field."""
    where, word, payload = record
    if isinstance(payload, bytes):
        vec = np.frombuffer(payload, dtype="<f4").astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(vec))
        if bad.size:
            raise ValueError(f"{where}: value {bad[0] + 1} of word {word!r} is not a finite number: "
                             f"{vec[bad[0]]}")
        return vec
    try:
        vec = np.array(payload, dtype=np.float64)
    except ValueError:
        vec = None
    if vec is None or not np.all(np.isfinite(vec)):
        for j, s in enumerate(payload):
            try:
                ok = np.isfinite(float(s))
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(f"{where}: value {j + 1} of word {word!r} is not a finite "
                                 f"number: {s!r}") from None
    return vec


def _header(line: bytes) -> tuple[int, int] | None:
    """``b"400000 50\\n"`` -> (400000, 50); None if the line is not exactly two integers."""
    fields = line.rstrip(b"\r\n").split(b" ")
    if len(fields) == 2 and all(x.isdigit() for x in fields):
        return int(fields[0]), int(fields[1])
    return None


def _looks_binary(peek: bytes, d: int) -> bool:
    """After a word2vec header: are the bytes after the first word float32 rather than text?

    Text: up to the end of the line (or of the 4*d bytes a binary vector would take) only digits,
    signs, dots, ``e``, ``inf``/``nan`` letters and spaces, and at least one digit.
    """
    space = peek.find(b" ")
    if space < 0:
        return False
    values = peek[space + 1: space + 1 + 4 * d].split(b"\n", 1)[0]
    return not values or any(b not in _TEXT_BYTES for b in values) or not any(48 <= b <= 57 for b in values)


class VectorFile:
    """The records of an open vector file, read front to back: ``for record in VectorFile(f, path)``.

    After (or during) iteration: ``dim`` (d), ``count`` (the header's count, or None),
    ``binary``, ``records`` (vectors read so far) and ``where`` (the place of the last one read:
    ``"file:line"``, or ``"file: record k at byte b"`` in a binary file). Words are not parsed into
    numbers here (``parse`` does that for the ones kept).

    Raises ValueError ``"<file>:<line>: <reason>"`` (binary: ``"<file>: record k at byte b: ..."``)
    on undecodable UTF-8, NUL bytes in a text file (UTF-16/32 without a byte-order mark), a wrong
    number of values, a missing word, a header whose dimension disagrees with the lines or with
    ``dim``, or a truncated binary record.
    """

    def __init__(self, f: BinaryIO, path: str, dim: int | None = None, binary: bool | None = None):
        self.f = f if hasattr(f, "peek") else io.BufferedReader(f)
        self.path, self.expected_dim, self.binary = path, dim, binary
        self.dim: int | None = None
        self.count: int | None = None
        self.records = 0
        self.lineno = 0
        self.where = f"{path}:1"

    def __iter__(self) -> Iterator[_Record]:
        path, f = self.path, self.f
        first = f.readline()
        self.lineno = 1
        if first.startswith(b"\xef\xbb\xbf"):
            first = first[3:]                            # a byte-order mark is not part of a word
        while first and not first.strip():               # leading blank lines
            nxt = f.readline()
            if not nxt:
                break
            first = nxt
            self.lineno += 1
        self.where = f"{path}:{self.lineno}"
        if not first.strip():
            return
        head = _header(first)
        if head is not None:
            self.count, d = head
            if d < 1:
                raise ValueError(f"{self.where}: header dimension must be >= 1, got {d}")
            self._check_dim(d, f"the header says {d} values per vector")
            self.dim = d
            if self.binary is None:
                self.binary = _looks_binary(f.peek(4 * d + 1024)[: 4 * d + 1024], d)
            if self.binary:
                yield from self._binary(len(first))
                return
            first = None
        elif self.binary:
            raise ValueError(f"{self.where}: a word2vec binary file starts with a header line "
                             f"'COUNT DIM', got {_clip(first.decode('utf-8', 'replace').strip())!r}")
        self.binary = False
        yield from self._text(first)

    def _check_dim(self, d: int, what: str) -> None:
        if self.expected_dim is not None and d != self.expected_dim:
            raise ValueError(f"{self.where}: dimension mismatch: {what}, expected dim={self.expected_dim}")

    def _text(self, first: bytes | None) -> Iterator[_Record]:
        path, d = self.path, self.dim
        if first is None:
            self.lineno += 1                             # the header was line ``lineno``
        for raw in _chain_first(first, self.f):
            where = self.where = f"{path}:{self.lineno}"
            self.lineno += 1
            if b"\x00" in raw:                          # UTF-16/32 without a byte-order mark, or binary
                raise ValueError(f"{where}: holds NUL bytes: UTF-16 or UTF-32 text without a byte-order "
                                 f"mark, or not a vector file at all; save it as UTF-8 text")
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ValueError(f"{where}: undecodable UTF-8 bytes {raw[e.start:e.end]!r} "
                                 f"at byte {e.start} of the line") from None
            line = line.rstrip()                         # newline, and word2vec's trailing space
            if not line:
                continue
            if d is None:                                # GloVe: d from the first vector line
                d = self.dim = len(line.split(" ")) - 1
                if d < 1:
                    raise ValueError(f"{where}: wrong number of values: a word and at least "
                                     f"one value expected, got {line[:50]!r}")
                self._check_dim(d, f"{d} values per vector")
            fields = line.rsplit(" ", d)                 # [word, v1, ..., vd]
            if len(fields) != d + 1:
                source = "the header" if self.count is not None else "the first vector"
                raise ValueError(f"{where}: wrong number of values: expected a word and {d} "
                                 f"values (d from {source}), got {len(fields) - 1} after "
                                 f"{fields[0]!r} in {_clip(line)!r}")
            if not fields[0]:
                raise ValueError(f"{where}: no word before the {d} values in {_clip(line)!r}")
            self.records += 1
            if self.count is not None and self.records == 1 and len(line.split(" ")) != d + 1:
                raise ValueError(f"{where}: dimension mismatch: the header says {d} values "
                                 f"per vector, this line has {len(line.split(' ')) - 1}")
            yield _Record(where, fields[0], fields[1:])
        self.lineno -= 1                                 # the last line read
        self.where = f"{path}:{max(self.lineno, 1)}"

    def _binary(self, offset: int) -> Iterator[_Record]:
        """word2vec binary records after the header (``offset`` bytes into the file)."""
        path, d, count, f = self.path, self.dim, self.count, self.f
        size = 4 * d
        buf, pos = b"", 0
        for k in range(1, count + 1):
            while True:                                  # the word: the bytes up to a space
                space = buf.find(b" ", pos)
                if space >= 0:
                    break
                more = f.read(1 << 16)
                if not more:
                    inside = " inside a word" if buf[pos:].strip() else ""
                    raise ValueError(f"{path}: record {k} at byte {offset}: the file ends{inside}; "
                                     f"the header says {count:,} vectors, the file has {k - 1:,} "
                                     f"(truncated?)")
                buf, pos = buf[pos:] + more, 0
            start = pos
            while start < space and buf[start] in (0x0A, 0x0D):  # the newline some writers add
                start += 1
            raw_word = buf[start:space]
            where = self.where = f"{path}: record {k} at byte {offset + (start - pos)}"
            try:
                word = raw_word.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ValueError(f"{where}: undecodable UTF-8 bytes {raw_word[e.start:e.end]!r} at "
                                 f"byte {e.start} of the word") from None
            if not word:
                raise ValueError(f"{where}: no word before the {d} values")
            while len(buf) - (space + 1) < size:
                more = f.read(max(1 << 16, size))
                if not more:
                    raise ValueError(f"{where}: the file ends inside the vector of {word!r}: expected "
                                     f"{size} bytes ({d} float32), got {len(buf) - space - 1} "
                                     f"(truncated?)")
                buf = buf + more
            payload = buf[space + 1: space + 1 + size]
            offset += (space + 1 + size) - pos
            pos = space + 1 + size
            self.records += 1
            yield _Record(where, word, payload)
        rest = buf[pos:] + f.read()
        if rest.strip():
            raise ValueError(f"{path}: byte {offset}: {len(rest):,} bytes after the {count:,} vectors "
                             f"the header announces (wrong count in the header?)")


def _chain_first(first: bytes | None, f: BinaryIO) -> Iterator[bytes]:
    if first is not None:
        yield first
    yield from f


# ---- the embedding matrix -----------------------------------------------------------------------
def load_word_vectors(path: str | os.PathLike, vocab: Sequence[str], dtype=np.float32,
                      rng: np.random.Generator | None = None, lowercase_fallback: bool = True,
                      dim: int | None = None, n_examples: int = 5, compound_fallback: bool = True,
                      extend: int = 0, binary: bool | None = None
                      ) -> tuple[np.ndarray, VectorReport]:
    """Embedding matrix (len(vocab) + len(report.added), d) for ``vocab`` from a vector file.

    rng: for the rows of missing words (default ``np.random.default_rng(0)``).
    dim: if given, the file's d must equal it (e.g. the model's embedding_dim).
    extend: append the first ``extend`` words of the file that are not in ``vocab``.
    binary: None detects word2vec binary after a header; True / False forces it.
    Raises ValueError ``"<file>:<line>: <reason>"`` on an empty file, undecodable UTF-8, NUL
    bytes in a text file, a line with the wrong number of values, a value that is not a finite number, a header whose
    dimension or count disagrees with the lines, or d != dim.
    """
    path = os.fspath(path)
    if extend < 0:
        raise ValueError(f"extend must be >= 0, got {extend}")
    rng = np.random.default_rng(0) if rng is None else rng
    vocab = list(vocab)
    in_vocab = set(vocab)
    wanted = set(vocab)
    if lowercase_fallback:
        wanted |= {w.lower() for w in vocab}
    if compound_fallback:
        for w in vocab:
            for part in compound_parts(w):
                wanted.add(part)
                if lowercase_fallback:
                    wanted.add(part.lower())
    vectors: dict[str, np.ndarray] = {}   # word -> (d,) float64, wanted words only
    added: list[str] = []
    try:
        with open_vector_file(path) as f:
            records = VectorFile(f, path, dim, binary)
            for record in records:
                word = record.word
                if records.records <= extend and word not in in_vocab:
                    if word not in vectors:
                        vectors[word] = parse(record)
                        added.append(word)
                elif word in wanted and word not in vectors:   # first occurrence wins
                    vectors[word] = parse(record)
    except (EOFError, gzip.BadGzipFile, zlib.error, zipfile.BadZipFile) as e:
        raise ValueError(f"{_next_place(records.where)}: cannot read the file ({e}); truncated or not "
                         f"{'gzip' if '.gz' in path.lower() else 'a vector file'}?") from None
    d, count = records.dim, records.count
    if d is None or records.records == 0:
        after = " after the header" if count is not None else ""
        raise ValueError(f"{records.where}: empty file: no word vectors{after}")
    if count is not None and count != records.records:
        raise ValueError(f"{records.where}: the header says {count:,} vectors, the file has "
                         f"{records.records:,} (truncated?)")

    words = vocab + added
    rows: list[np.ndarray | None] = []
    lower_hits, compound = 0, []

    def lookup(w: str) -> tuple[np.ndarray | None, bool]:
        v = vectors.get(w)
        if v is None and lowercase_fallback:
            v = vectors.get(w.lower())
            return v, v is not None
        return v, False

    for i, word in enumerate(words):
        vec, lowered = lookup(word)
        lower_hits += lowered
        if vec is None and compound_fallback:
            parts = [lookup(p)[0] for p in compound_parts(word)]
            if parts and all(p is not None for p in parts):
                vec = np.mean(parts, axis=0)
                compound.append(i)
        rows.append(vec)
    found = [i for i, v in enumerate(rows) if v is not None]
    missing = [i for i, v in enumerate(rows) if v is None]
    matrix = np.empty((len(words), d), dtype=dtype)                       # (V, d)
    if found:
        hit = np.stack([rows[i] for i in found])                          # (F, d) float64
        matrix[found] = hit
        scale = float(hit.std())
    else:
        scale = 1.0
    matrix[missing] = rng.normal(0.0, scale, (len(missing), d))
    report = VectorReport(path, len(found), lower_hits, len(missing), len(words), d,
                          tuple(words[i] for i in missing[:n_examples]), len(compound),
                          tuple(words[i] for i in compound[:n_examples]), tuple(added), records.records,
                          records.binary)
    return matrix, report


def _next_place(where: str) -> str:
    """The place after the last record read, for a read error: ``file:line+1``."""
    head, _, tail = where.rpartition(":")
    return f"{head}:{int(tail) + 1}" if tail.isdigit() and head else where
