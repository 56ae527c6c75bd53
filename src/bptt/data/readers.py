"""Reading labelled text: GLUE SST-2 TSV, other TSV/CSV/JSONL files, and the IMDB folder layout.

``read_dataset(path) -> (Dataset, ReadReport)`` picks the format from the path:

- a directory: the IMDB Large Movie Review layout, ``<root>/neg/*.txt`` and ``<root>/pos/*.txt``
  (pass ``aclImdb/train`` or ``aclImdb/test``); the label comes from the folder, neg = 0,
  pos = 1; other folders (``unsup/``) and files are ignored. Files are read in the order neg
  then pos, each by review id (``123_8.txt`` -> 123). A "line" in the report is a file name.
- ``.tsv`` whose header is ``sentence<TAB>label``: GLUE SST-2. Each line is split on its last
  tab and the text stripped (GLUE keeps a space before the tab). Labels must be 0/1 (or the
  class names): classes ("negative", "positive").
- other ``.tsv`` (split on tabs, no quoting, as in the SST files), ``.csv`` (the csv module:
  quoted fields may hold commas, quotes and newlines) and ``.jsonl`` (one JSON object a line):
  the text and label columns are ``text_column``/``label_column`` or else the first present
  of ``text, sentence, review`` and of ``label, sentiment, polarity``.

Labels: ints or strings. With ``classes`` given, a label must be one of them or an int index
into them. Without, classes are the sorted unique label strings (numerically sorted if all are
integers), except that labels all in {0, 1} (or "0"/"1") mean ("negative", "positive") with
0 = negative. ``Dataset.labels[i]`` is an index into ``Dataset.classes``.

Bad rows are skipped and counted, never dropped silently: each lands in ``ReadReport.skipped``
as (line, reason), lines numbered from 1 with the header as line 1. Reasons: blank line, wrong
field count, missing field, bad JSON, undecodable UTF-8 bytes (files are decoded line by line,
so one bad line costs only that line), empty text, empty or unknown label. With
``strict=True`` the first bad row raises ``ValueError("file:line: reason")``. A file that
cannot be read at all (missing, unknown extension, no header, unknown column, no valid row)
raises an error naming the file.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator

import numpy as np

__all__ = ["Dataset", "ReadReport", "read_dataset", "read_lines", "BINARY_CLASSES"]

BINARY_CLASSES = ("negative", "positive")
TEXT_COLUMNS = ("text", "sentence", "review")
LABEL_COLUMNS = ("label", "sentiment", "polarity")
_INT = re.compile(r"[+-]?\d+")


@dataclass(frozen=True, eq=False)
class Dataset:
    """Texts with labels. texts: N strings; labels: (N,) int64, indices into ``classes``;
    source: where it was read from."""
    texts: list[str]
    labels: np.ndarray
    classes: tuple[str, ...]
    source: str = ""

    def __post_init__(self):
        labels = np.asarray(self.labels)
        if labels.shape != (len(self.texts),) or labels.dtype != np.int64:
            raise ValueError(f"labels must be int64 of shape ({len(self.texts)},), "
                             f"got {labels.dtype} {labels.shape}")
        if len(labels) and not (0 <= labels.min() and labels.max() < len(self.classes)):
            raise ValueError(f"labels must lie in 0..{len(self.classes) - 1} for classes {self.classes}")

    def __len__(self) -> int:
        return len(self.texts)

    def class_counts(self) -> dict[str, int]:
        """{class name: number of examples}, in class order."""
        counts = np.bincount(self.labels, minlength=len(self.classes))
        return {c: int(n) for c, n in zip(self.classes, counts)}


@dataclass
class ReadReport:
    """What ``read_dataset`` did: ``rows`` data rows seen (files for IMDB), ``kept`` of them,
    and every other one in ``skipped`` as (line number or file name, reason)."""
    path: str
    rows: int = 0
    kept: int = 0
    skipped: list[tuple[int | str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        name = Path(self.path).name or self.path
        s = f"{name}: kept {self.kept:,} of {self.rows:,} rows"
        if self.skipped:
            shown = "; ".join(f"{_where(w)}: {r}" for w, r in self.skipped[:3])
            more = f"; ... and {len(self.skipped) - 3:,} more" if len(self.skipped) > 3 else ""
            s += f"; skipped {len(self.skipped):,}: {shown}{more}"
        return s


def _where(w: int | str) -> str:
    return f"line {w}" if isinstance(w, int) else str(w)


class _Rows:
    """Collects (where, text, label) rows, skipping bad ones into the report (or raising)."""

    def __init__(self, path: Path, report: ReadReport, classes: tuple[str, ...] | None, strict: bool):
        self.path, self.report, self.classes, self.strict = path, report, classes, strict
        self.texts: list[str] = []
        self.labels: list[int | str] = []

    def skip(self, where: int | str, reason: str) -> None:
        if self.strict:
            sep = ":" if isinstance(where, int) else ": "
            raise ValueError(f"{self.path}{sep}{where}: {reason}")
        self.report.skipped.append((where, reason))

    def add(self, where: int | str, text, label) -> None:
        if not isinstance(text, str):
            return self.skip(where, f"text must be a string, got {type(text).__name__}")
        text = text.strip()
        if not text:
            return self.skip(where, "empty text")
        if isinstance(label, bool) or not isinstance(label, (int, str)):
            return self.skip(where, f"label must be an int or a string, got {type(label).__name__} {label!r}")
        label = str(label).strip()
        if not label:
            return self.skip(where, "empty label")
        if self.classes is not None:
            if label in self.classes:
                label = self.classes.index(label)
            elif _INT.fullmatch(label) and 0 <= int(label) < len(self.classes):
                label = int(label)
            else:
                return self.skip(where, f"label {label!r} is not one of {self.classes} "
                                        f"(or an index 0..{len(self.classes) - 1})")
        self.texts.append(text)
        self.labels.append(label)


def read_text(path: str | os.PathLike, error: type = ValueError, missing: str = "no such file") -> str:
    """A whole UTF-8 file; a missing file or bad bytes raise an error naming the file (and the
    byte), ``error`` (a ValueError subclass) for bad bytes."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: {missing}") from None
    except UnicodeDecodeError as e:
        raise error(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None


def read_dataset(path: str | os.PathLike, text_column: str | None = None, label_column: str | None = None,
                 classes: tuple[str, ...] | list[str] | None = None,
                 strict: bool = False) -> tuple[Dataset, ReadReport]:
    """Read a labelled dataset (format chosen from the path, see the module docstring).

    Returns the Dataset (texts stripped; labels (N,) int64 indices into classes) and the
    ReadReport of rows kept and skipped. ``strict=True`` raises on the first bad row.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or directory")
    if classes is not None:
        classes = tuple(classes)
        if not classes or len(set(classes)) != len(classes) or not all(isinstance(c, str) for c in classes):
            raise ValueError(f"classes must be distinct strings, got {classes!r}")
    report = ReadReport(str(path))
    suffix = path.suffix.lower()
    if path.is_dir():
        if classes not in (None, BINARY_CLASSES):
            raise ValueError(f"{path}: IMDB folders have classes {BINARY_CLASSES}, got classes={classes}")
        classes = BINARY_CLASSES
        rows = _Rows(path, report, classes, strict)
        _read_imdb(path, rows)
    elif suffix in (".tsv", ".csv", ".jsonl"):
        data = path.read_bytes()
        if suffix == ".jsonl":
            rows = _Rows(path, report, classes, strict)
            _read_jsonl(path, data, text_column, label_column, rows)
        else:
            header_line = data.split(b"\n", 1)[0].rstrip(b"\r")
            glue = suffix == ".tsv" and header_line.strip() == b"sentence\tlabel"
            if glue and classes is None:
                classes = BINARY_CLASSES
            rows = _Rows(path, report, classes, strict)
            _read_table(path, data, suffix, glue, text_column, label_column, rows)
    else:
        raise ValueError(f"{path}: unknown format {suffix!r}; expected a directory (IMDB layout), "
                         ".tsv, .csv or .jsonl")
    if not rows.texts:
        raise ValueError(f"{path}: no valid rows ({report})")
    if classes is None:
        classes, labels = _classes_from_labels(rows.labels)
    else:
        labels = rows.labels
    report.kept = len(rows.texts)
    return Dataset(rows.texts, np.asarray(labels, dtype=np.int64), classes, str(path)), report


def _classes_from_labels(raw: list) -> tuple[tuple[str, ...], list[int]]:
    """Classes and label indices for label strings when no classes were given."""
    names = set(raw)
    if names <= {"0", "1"}:
        return BINARY_CLASSES, [int(s) for s in raw]
    if all(_INT.fullmatch(s) for s in names):
        ordered = tuple(sorted(names, key=int))
    else:
        ordered = tuple(sorted(names))
    index = {c: i for i, c in enumerate(ordered)}
    return ordered, [index[s] for s in raw]


def _decoded_lines(data: bytes, errors: str = "strict") -> Iterator[tuple[int, str | None, str]]:
    """(line number from 1, text without its line end or None if undecodable, reason) per line
    of ``data``; a final newline makes no extra empty line; a UTF-8 BOM is dropped.
    ``errors="replace"`` decodes bad bytes as U+FFFD instead."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for n, raw in enumerate(lines, start=1):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            yield n, raw.decode("utf-8", errors=errors), ""
        except UnicodeDecodeError as e:
            yield n, None, f"undecodable UTF-8 bytes at byte {e.start}: {raw[e.start:e.start + 4]!r}"


def _pick_column(path: Path, columns: list[str], given: str | None, defaults: tuple[str, ...], kind: str) -> str:
    """The column to use: ``given`` if present, else the first default present; or an error."""
    if given is not None:
        if given not in columns:
            raise ValueError(f"{path}: {kind} column {given!r} not found; columns are {tuple(columns)}")
        return given
    for name in defaults:
        if name in columns:
            return name
    raise ValueError(f"{path}: no {kind} column (looked for {', '.join(defaults)}); "
                     f"columns are {tuple(columns)}; pass {kind}_column=")


def _read_table(path: Path, data: bytes, suffix: str, glue: bool, text_column, label_column, rows: _Rows):
    """TSV (GLUE or generic) and CSV rows into ``rows``."""
    lines = _decoded_lines(data)
    first = next(lines, None)
    if first is None or first[1] is None or not first[1].strip():
        why = "empty file" if first is None else first[2] or "blank header line"
        raise ValueError(f"{path}: {why}; expected a header line naming the columns")
    if suffix == ".csv":
        return _read_csv(path, first[1], lines, text_column, label_column, rows)
    columns = first[1].split("\t")
    t = columns.index(_pick_column(path, columns, text_column, TEXT_COLUMNS, "text"))
    y = columns.index(_pick_column(path, columns, label_column, LABEL_COLUMNS, "label"))
    for n, line, bad in lines:
        rows.report.rows += 1
        if line is None:
            rows.skip(n, bad)
        elif not line.strip():
            rows.skip(n, "blank line")
        elif glue:
            if "\t" not in line:
                rows.skip(n, "no tab; expected sentence<TAB>label")
            else:
                text, label = line.rsplit("\t", 1)
                rows.add(n, text, label)
        else:
            fields = line.split("\t")
            if len(fields) != len(columns):
                rows.skip(n, f"expected {len(columns)} tab-separated fields, got {len(fields)}")
            else:
                rows.add(n, fields[t], fields[y])


def _read_csv(path: Path, header: str, lines, text_column, label_column, rows: _Rows):
    """CSV records (quoted fields may span lines); a record is numbered by its first line."""
    columns = next(csv.reader([header]))
    t = columns.index(_pick_column(path, columns, text_column, TEXT_COLUMNS, "text"))
    y = columns.index(_pick_column(path, columns, label_column, LABEL_COLUMNS, "label"))
    bad_lines: dict[int, str] = {}

    def feed():
        for n, line, bad in lines:
            if line is None:
                bad_lines[n] = bad
                line = ""
            yield line + "\n"

    reader = csv.reader(feed())
    start = 2
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            rows.report.rows += 1
            rows.skip(start, f"CSV error: {e}")
            start = reader.line_num + 2
            continue
        end = reader.line_num + 1  # the header was line 1
        rows.report.rows += 1
        bad = next((f"line {k}: {bad_lines[k]}" if k != start else bad_lines[k]
                    for k in range(start, end + 1) if k in bad_lines), None)
        if bad is not None:
            rows.skip(start, bad)
        elif not record or (len(record) == 1 and not record[0].strip()):
            rows.skip(start, "blank line")
        elif len(record) != len(columns):
            rows.skip(start, f"expected {len(columns)} comma-separated fields, got {len(record)}")
        else:
            rows.add(start, record[t], record[y])
        start = end + 1


def _read_jsonl(path: Path, data: bytes, text_column, label_column, rows: _Rows):
    """JSON Lines: one object per line; columns from the first object unless given."""
    text_key = label_key = None
    for n, line, bad in _decoded_lines(data):
        rows.report.rows += 1
        if line is None:
            rows.skip(n, bad)
            continue
        if not line.strip():
            rows.skip(n, "blank line")
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            rows.skip(n, f"bad JSON: {e.msg} at column {e.colno}")
            continue
        if not isinstance(obj, dict):
            rows.skip(n, f"expected a JSON object, got {type(obj).__name__}")
            continue
        if text_key is None:
            text_key = _pick_column(path, list(obj), text_column, TEXT_COLUMNS, "text")
            label_key = _pick_column(path, list(obj), label_column, LABEL_COLUMNS, "label")
        missing = [k for k in (text_key, label_key) if k not in obj]
        if missing:
            rows.skip(n, f"missing field {missing[0]!r}")
        else:
            rows.add(n, obj[text_key], obj[label_key])
    if text_key is None and rows.report.rows == len(rows.report.skipped) == 0:
        raise ValueError(f"{path}: empty file")


def _imdb_key(p: Path):
    stem = p.stem.split("_", 1)[0]
    return (0, int(stem), p.name) if stem.isdigit() else (1, 0, p.name)


def _read_imdb(root: Path, rows: _Rows):
    """IMDB folders: every neg/*.txt (label 0), then every pos/*.txt (label 1)."""
    folders = [root / "neg", root / "pos"]
    if not any(f.is_dir() for f in folders):
        found = sorted(p.name for p in root.iterdir())[:10]
        raise ValueError(f"{root}: not an IMDB folder: expected neg/ and pos/ folders of .txt files; found {found}")
    for label, folder in enumerate(folders):
        if not folder.is_dir():
            raise ValueError(f"{root}: has no {folder.name}/ folder (IMDB layout needs neg/ and pos/)")
        for file in sorted(folder.glob("*.txt"), key=_imdb_key):
            rows.report.rows += 1
            where = f"{folder.name}/{file.name}"
            try:
                text = file.read_bytes().decode("utf-8")
            except UnicodeDecodeError as e:
                rows.skip(where, f"undecodable UTF-8 bytes at byte {e.start}")
                continue
            except OSError as e:
                rows.skip(where, f"cannot read: {e.strerror}")
                continue
            rows.add(where, text, label)


def read_lines(source: str | os.PathLike | IO | None = None, errors: str = "strict") -> list[str]:
    """One text per line, for prediction: from a file path, ``"-"``/None (standard input), or an
    open file (text or binary). Lines end at ``\n`` only (a ``\r`` before it is dropped): a text
    holding U+2028, U+0085, a form feed or a lone ``\r`` stays one text, so outputs line up with
    inputs one to one. Line ends are removed; empty lines are kept. Undecodable bytes raise
    ``ValueError("file:line: ...")``, or with ``errors="replace"`` become U+FFFD."""
    if source is None or source == "-":
        stream = getattr(sys.stdin, "buffer", sys.stdin)       # bytes if it has them
        data, name = stream.read(), "<stdin>"
        if isinstance(data, str):
            return read_lines(io.StringIO(data))
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        data, name = path.read_bytes(), str(path)
    else:
        data, name = source.read(), getattr(source, "name", "<stream>")
        if isinstance(data, str):
            lines = data.split("\n")
            if lines and lines[-1] == "":
                lines.pop()
            return [line[:-1] if line.endswith("\r") else line for line in lines]
    out = []
    for n, line, bad in _decoded_lines(data, errors):
        if line is None:
            raise ValueError(f"{name}:{n}: {bad}")
        out.append(line)
    return out
