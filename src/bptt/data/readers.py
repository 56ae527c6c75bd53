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
  quoted fields may hold the delimiter, quotes and newlines; the delimiter ``,`` ``;`` tab or
  ``|`` is ``delimiter`` or detected) and ``.jsonl`` (one JSON object a line): the text and
  label columns are ``text_column``/``label_column`` or else the first present of ``text,
  sentence, review`` and of ``label, sentiment, polarity``, matched ignoring case when no name
  matches exactly. ``header=False``: a TSV/CSV file without a header line, its columns given
  as positions from 0. The rules are in ``bptt.data.columns``; whatever was matched ignoring
  case, or detected, is in the report's notes.

Labels: ints or strings, one rule for every format. A number with an integral value (JSON ``1``
or ``1.0``, text ``1``, ``+1``, ``01``) is that integer (text "1"); other JSON values are bad
labels. With ``classes`` given, a label must be one of them or an int index into them. Without,
classes are the sorted unique labels (numerically sorted if all are integers), except that
labels all in {0, 1} mean ("negative", "positive") with 0 = negative; and a label that looks
damaged (differs from another only by case, whitespace or one edit, or holds fewer than 2% of
the rows: ``bptt.data.labels``) is an error naming its lines. A row that repeats the header
line (a header pasted twice) is skipped. ``Dataset.labels[i]`` is an index into
``Dataset.classes``.

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
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np

from .columns import DELIMITERS, SAMPLE, delimiter_name, detect_delimiter, pick_column
from .labels import check_labels
from .text import decode, lines as _lines, read_bytes, read_text  # noqa: F401  (read_text: re-exported)

__all__ = ["Dataset", "ReadReport", "read_dataset", "read_lines", "BINARY_CLASSES"]

BINARY_CLASSES = ("negative", "positive")
TEXT_COLUMNS = ("text", "sentence", "review")
LABEL_COLUMNS = ("label", "sentiment", "polarity")
_INT = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?\d+(\.0*)?")


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
    """What a reader did: ``rows`` data rows seen (files for IMDB), ``kept`` of them, every
    other one in ``skipped`` as (line number or file name, reason), the kept rows per class
    (``classes``, in class order), and ``notes`` (a byte-order mark removed, rows spanning lines,
    a class so rare it may be a typo). ``str(report)`` says all of it in one line."""
    path: str
    rows: int = 0
    kept: int = 0
    skipped: list[tuple[int | str, str]] = field(default_factory=list)
    classes: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    unit: str = "rows"

    def __str__(self) -> str:
        name = Path(self.path).name or self.path
        s = f"{name}: kept {self.kept:,} of {self.rows:,} {self.unit}"
        if self.classes:
            s += "; classes " + ", ".join(f"{c} {n:,}" for c, n in self.classes.items())
        if self.skipped:
            shown = "; ".join(f"{_where(w)}: {r}" for w, r in self.skipped[:3])
            more = f"; ... and {len(self.skipped) - 3:,} more" if len(self.skipped) > 3 else ""
            s += f"; skipped {len(self.skipped):,}: {shown}{more}"
        for note in self.notes:
            s += f"; {note}"
        return s

    def count_classes(self, classes: tuple[str, ...], labels, given: bool) -> None:
        """Fill ``classes`` with the kept rows per class; note a class 20 times rarer than the
        most frequent one, unless the classes were given (``given``): it is often a misspelt
        label (there must be 3 classes or more)."""
        counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(classes))
        self.classes = {c: int(n) for c, n in zip(classes, counts)}
        if given or len(classes) < 3:
            return
        most = max(self.classes.values())
        rare = [c for c, n in self.classes.items() if 20 * n < most]
        if rare:
            self.notes.append(f"{plural(len(rare), 'class', 'classes')} 20 times rarer than the most "
                              f"frequent ({', '.join(repr(c) for c in rare[:5])}): a misspelt label? Fix "
                              f"it, or name the classes (classes=..., --classes A,B) to skip the others")


def plural(n: int, word: str, words: str | None = None) -> str:
    """``plural(1, "file")`` -> "1 file", ``plural(2_000, "file")`` -> "2,000 files"."""
    return f"{n:,} {word if n == 1 else words or word + 's'}"


def _where(w: int | str) -> str:
    return f"line {w}" if isinstance(w, int) else str(w)


class _Rows:
    """Collects (where, text, label) rows, skipping bad ones into the report (or raising)."""

    def __init__(self, path: Path, report: ReadReport, classes: tuple[str, ...] | None, strict: bool):
        self.path, self.report, self.classes, self.strict = path, report, classes, strict
        self.texts: list[str] = []
        self.labels: list[int | str] = []
        self.wheres: list[int | str] = []     # the line (or file) of each kept row
        self.header: tuple[str, str] | None = None   # (text, label) of the header line

    def place(self, k: int) -> str:
        """Where kept row k is, as ``file:line`` (or ``folder: neg/1_2.txt``)."""
        w = self.wheres[k]
        return f"{self.path}:{w}" if isinstance(w, int) else f"{self.path}: {w}"

    def skip(self, where: int | str, reason: str) -> None:
        if self.strict:
            sep = ":" if isinstance(where, int) else ": "
            raise ValueError(f"{self.path}{sep}{where}: {reason}")
        self.report.skipped.append((where, reason))

    def check(self, text, label) -> tuple[str, str, int | str]:
        """(reason the row is bad or "", stripped text, label: a class index if classes are
        known, else the stripped label string)."""
        if not isinstance(text, str):
            return f"text must be a string, got {type(text).__name__}", "", ""
        text = text.strip()
        if not text:
            return "empty text", "", ""
        if isinstance(label, float) and label.is_integer():
            label = int(label)
        if isinstance(label, bool) or not isinstance(label, (int, str)):
            return f"label must be an int or a string, got {type(label).__name__} {label!r}", "", ""
        label = str(label).strip()
        if not label:
            return "empty label", "", ""
        if len(label) <= 40 and _NUMBER.fullmatch(label):
            label = str(int(label.split(".")[0]))           # 1, +1, 01, 1.0 -> "1"
        if self.header is not None and (text, label) == self.header:
            return "repeats the header line", "", ""
        if self.classes is not None:
            if label in self.classes:
                label = self.classes.index(label)
            elif _INT.fullmatch(label) and 0 <= int(label) < len(self.classes):
                label = int(label)
            else:
                return (f"label {label!r} is not one of {self.classes} "
                        f"(or an index 0..{len(self.classes) - 1})"), "", ""
        return "", text, label

    def add(self, where: int | str, text, label) -> None:
        bad, text, label = self.check(text, label)
        if bad:
            return self.skip(where, bad)
        self.texts.append(text)
        self.labels.append(label)
        self.wheres.append(where)


def read_dataset(path: str | os.PathLike, text_column: str | int | None = None,
                 label_column: str | int | None = None,
                 classes: tuple[str, ...] | list[str] | None = None,
                 strict: bool = False, delimiter: str | None = None,
                 header: bool = True) -> tuple[Dataset, ReadReport]:
    """Read a labelled dataset (format chosen from the path, see the module docstring).

    Returns the Dataset (texts stripped; labels (N,) int64 indices into classes) and the
    ReadReport of rows kept and skipped, the rows per class and notes. ``strict=True`` raises on
    the first bad row. ``delimiter`` (CSV only): one of , ; tab | (None: detected). ``header=False``
    (TSV and CSV): no header line; ``text_column`` and ``label_column`` are positions from 0.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or directory")
    given = classes is not None
    if classes is not None:
        classes = tuple(classes)
        if not classes or len(set(classes)) != len(classes) or not all(isinstance(c, str) and c.strip()
                                                                       for c in classes):
            raise ValueError(f"classes must be distinct non-empty strings, got {classes!r}")
    report = ReadReport(str(path))
    suffix = path.suffix.lower()
    if delimiter is not None and (suffix != ".csv" or delimiter not in DELIMITERS):
        raise ValueError(f"{path}: delimiter {delimiter!r}: a delimiter is given for a .csv file only, "
                         f"one of {', '.join(map(repr, DELIMITERS))}")
    if not header and suffix not in (".csv", ".tsv"):
        raise ValueError(f"{path}: header=False (--no-header) is for .tsv and .csv files")
    if path.is_dir():
        if classes not in (None, BINARY_CLASSES):
            raise ValueError(f"{path}: IMDB folders have classes {BINARY_CLASSES}, got classes={classes}")
        classes = BINARY_CLASSES
        rows = _Rows(path, report, classes, strict)
        _read_imdb(path, rows)
    elif suffix in (".tsv", ".csv", ".jsonl"):
        data, note = read_bytes(path, allow_empty=suffix != ".jsonl")   # tables: "expected a header"
        if note:
            report.notes.append(note)
        if suffix == ".jsonl":
            rows = _Rows(path, report, classes, strict)
            _read_jsonl(path, data, text_column, label_column, rows)
        else:
            header_line = data.split(b"\n", 1)[0].rstrip(b"\r")
            glue = header and suffix == ".tsv" and header_line.strip() == b"sentence\tlabel"
            if glue and classes is None:
                classes = BINARY_CLASSES
            rows = _Rows(path, report, classes, strict)
            _read_table(path, data, suffix, glue, text_column, label_column, rows, delimiter, header)
    else:
        raise ValueError(f"{path}: unknown format {suffix!r}; expected a directory (IMDB layout), "
                         ".tsv, .csv or .jsonl")
    if not rows.texts:
        if not report.rows:
            raise ValueError(f"{path}: no data rows{' after the header line' if suffix != '.jsonl' else ''}")
        raise ValueError(f"{path}: no valid rows ({report})")
    if classes is None:
        check_labels(rows.labels, rows.place, remedy="correct those lines, or give the classes with "
                     "--classes A,B,... (classes=...): a label listed there is a class, rows with "
                     "another label are skipped and reported")
        classes, labels = _classes_from_labels(rows.labels)
    else:
        labels = rows.labels
    report.kept = len(rows.texts)
    report.count_classes(classes, labels, given)
    return Dataset(rows.texts, np.asarray(labels, dtype=np.int64), classes, str(path)), report


def _classes_from_labels(raw: list) -> tuple[tuple[str, ...], list[int]]:
    """Classes and label indices for label strings when no classes were given."""
    names = set(raw)
    if names <= {"0", "1"}:
        return BINARY_CLASSES, [int(s) for s in raw]
    if all(len(s) <= 40 and _INT.fullmatch(s) for s in names):      # int() of 4,300 digits raises
        ordered = tuple(sorted(names, key=int))
    else:
        ordered = tuple(sorted(names))
    index = {c: i for i, c in enumerate(ordered)}
    return ordered, [index[s] for s in raw]


def _columns(path: Path, columns: list[str], text_column, label_column, rows: _Rows, header: bool,
             sample: list[list[str]]) -> tuple[int, int]:
    """The text and label columns' indices (``bptt.data.columns.pick_column``), noting in the
    report what was matched ignoring case or read without a header."""
    t, t_note = pick_column(rows.path, columns, text_column, TEXT_COLUMNS, "text", header, sample)
    y, y_note = pick_column(rows.path, columns, label_column, LABEL_COLUMNS, "label", header, sample)
    if t == y:
        raise ValueError(f"{path}: the text and the label are the same column ({t if not header else repr(columns[t])})")
    if t_note or y_note:
        rows.report.notes.append("matched ignoring case: " + ", ".join(n for n in (t_note, y_note) if n))
    if header:
        rows.header = (columns[t].strip(), columns[y].strip())
    else:
        rows.report.notes.append(f"no header line: text column {t}, label column {y}")
    return t, y


def _read_table(path: Path, data: bytes, suffix: str, glue: bool, text_column, label_column, rows: _Rows,
                delimiter: str | None = None, header: bool = True):
    """TSV (GLUE or generic) and CSV rows into ``rows``."""
    lines = list(_lines(data))
    if header and (not lines or lines[0][1] is None or not lines[0][1].strip()):
        why = "empty file" if not lines else lines[0][2] or "blank header line"
        raise ValueError(f"{path}: {why}; expected a header line naming the columns (or --no-header)")
    first = next((line for _, line, _ in lines if line is not None and line.strip()), None)
    if first is None:
        raise ValueError(f"{path}: no data rows")
    body = lines[1:] if header else lines
    if suffix == ".csv":
        return _read_csv(path, first, body, text_column, label_column, rows, delimiter, header)
    columns = first.split("\t")
    sample = [line.split("\t") for _, line, _ in body[:SAMPLE] if line is not None]
    t, y = _columns(path, columns, text_column, label_column, rows, header, sample)
    for n, line, bad in body:
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


def _unused_char(data: str) -> str:
    """A private-use character that does not occur in ``data``."""
    return next(ch for ch in map(chr, range(0xE000, 0xF900)) if ch not in data)


def _read_csv(path: Path, first: str, body: list, text_column, label_column, rows: _Rows,
              delimiter: str | None = None, header: bool = True):
    """CSV records; a quoted field may span lines, and the record is numbered by its first line.

    ``first``: the header line (``header=True``, and ``body`` the lines below it) or the first
    non-blank line (``body`` every line). The csv module runs in strict mode, and a record that
    spans lines must be valid as a whole: otherwise (a quote opened and never closed, or closed
    far below) only its first line is skipped and reading starts again at the next line, so one
    stray quote never swallows the rows after it. A lone CR inside a line is kept as text (the
    csv module alone would end the record there).
    """
    if delimiter is None:
        delimiter = detect_delimiter(first, [line for _, line, _ in body[:SAMPLE + 1] if line is not None])
        if delimiter != ",":
            rows.report.notes.append(f"{delimiter_name(delimiter)}-separated (detected; choose with "
                                     f"--delimiter, delimiter=)")
    with_cr = "".join(x for x in [first, *(line for _, line, _ in body)] if x is not None and "\r" in x)
    cr = _unused_char(with_cr) if with_cr else None
    try:
        columns = next(csv.reader([first if cr is None else first.replace("\r", cr)], delimiter=delimiter,
                                  strict=True))
    except csv.Error as e:
        what = "1: the header line" if header else ": the first row"
        hint = f"; expected column names such as text{delimiter}label" if header else ""
        raise ValueError(f"{path}:{what} is not valid CSV ({e}){hint}") from None
    if cr is not None:
        columns = [c.replace(cr, "\r") for c in columns]
    sample = []
    for _, line, _ in body[:SAMPLE]:
        if line is not None:
            try:
                sample.extend(csv.reader([line], delimiter=delimiter))
            except csv.Error:
                pass
    t, y = _columns(path, columns, text_column, label_column, rows, header, sample)
    width = f"{delimiter_name(delimiter)}-separated"
    feed = [("" if line is None else line if cr is None else line.replace("\r", cr)) + "\n"
            for _, line, _ in body]
    spanning: list[int] = []
    i = 0
    while i < len(body):
        reader = csv.reader((feed[k] for k in range(i, len(body))), delimiter=delimiter, strict=True)
        done = 0                                         # lines of body[i:] read by whole records
        try:
            for record in reader:
                first, span = i + done, reader.line_num - done
                done = reader.line_num
                n = body[first][0]
                if cr is not None:
                    record = [f.replace(cr, "\r") for f in record]
                bad = next((b for _, line, b in body[first:first + span] if line is None), "")
                if span > 1:
                    problem = bad or _record_problem(record, columns, t, y, rows)
                    if problem:
                        rows.report.rows += 1
                        rows.skip(n, f"a quoted field opened on this line runs to line "
                                     f"{body[first + span - 1][0]} and the record is not valid "
                                     f"({problem}): an unbalanced quote? Read again from the next line")
                        raise _Resync(first + 1)
                    spanning.append(n)
                rows.report.rows += 1
                if bad:
                    rows.skip(n, bad)
                elif not record or (len(record) == 1 and not record[0].strip()):
                    rows.skip(n, "blank line")
                elif len(record) != len(columns):
                    rows.skip(n, f"expected {len(columns)} {width} fields, "
                                 f"got {len(record)}")
                else:
                    rows.add(n, record[t], record[y])
            i = len(body)
        except _Resync as r:
            i = r.line
        except csv.Error as e:
            first = i + done
            rows.report.rows += 1
            last = body[min(i + reader.line_num, len(body)) - 1][0]
            where = (f" in the record that starts here and reaches line {last}: an unbalanced quote? "
                     f"Read again from the next line") if last > body[first][0] else ""
            rows.skip(body[first][0], f"CSV error: {e}{where}")
            i = first + 1
    if spanning:
        rows.report.notes.append(f"{plural(len(spanning), 'record')} with line breaks inside quotes "
                                 f"(the first at line {spanning[0]})")


class _Resync(Exception):
    """Start reading CSV records again at body line ``line``."""

    def __init__(self, line: int):
        self.line = line


def _record_problem(record: list[str], columns: list[str], t: int, y: int, rows: _Rows) -> str:
    if len(record) != len(columns):
        return f"{len(record)} fields, not {len(columns)}"
    return rows.check(record[t], record[y])[0]


def _read_jsonl(path: Path, data: bytes, text_column, label_column, rows: _Rows):
    """JSON Lines: one object per line; columns from the first object unless given."""
    text_key = label_key = None
    for n, line, bad in _lines(data):
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
        except RecursionError:
            rows.skip(n, "bad JSON: nested too deeply")
            continue
        except ValueError as e:                         # an integer of over 4,300 digits
            rows.skip(n, f"bad JSON: {str(e)[:80]}")
            continue
        if not isinstance(obj, dict):
            rows.skip(n, f"expected a JSON object, got {type(obj).__name__}")
            continue
        if text_key is None:
            keys = list(obj)
            text_key, label_key = (keys[k] for k in _columns(path, keys, text_column, label_column, rows,
                                                            True, []))
            rows.header = None                          # a JSONL file has no header line
        missing = [k for k in (text_key, label_key) if k not in obj]
        if missing:
            rows.skip(n, f"missing field {missing[0]!r}")
        else:
            rows.add(n, obj[text_key], obj[label_key])


def _imdb_key(p: Path):
    stem = p.stem.split("_", 1)[0]
    return (0, int(stem), p.name) if stem.isdigit() else (1, 0, p.name)


def _read_imdb(root: Path, rows: _Rows):
    """IMDB folders: every neg/*.txt (label 0), then every pos/*.txt (label 1)."""
    folders = [root / "neg", root / "pos"]
    if not any(f.is_dir() for f in folders):
        found = sorted(p.name for p in root.iterdir())[:10]
        raise ValueError(f"{root}: not an IMDB folder: expected neg/ and pos/ folders of .txt files; found {found}")
    marks = 0
    for label, folder in enumerate(folders):
        if not folder.is_dir():
            raise ValueError(f"{root}: has no {folder.name}/ folder (IMDB layout needs neg/ and pos/)")
        for file in sorted(folder.glob("*.txt"), key=_imdb_key):
            rows.report.rows += 1
            where = f"{folder.name}/{file.name}"
            try:
                data, note = decode(file.read_bytes(), where)
                text = data.decode("utf-8")
            except UnicodeDecodeError as e:
                rows.skip(where, f"undecodable UTF-8 bytes at byte {e.start}")
                continue
            except (OSError, ValueError) as e:
                rows.skip(where, f"cannot read: {getattr(e, 'strerror', None) or e}")
                continue
            marks += bool(note)
            rows.add(where, text, label)
    if marks:
        rows.report.notes.append(f"removed a byte-order mark from {plural(marks, 'file')}")


def read_lines(source: str | os.PathLike | IO | None = None, errors: str = "strict") -> list[str]:
    """One text per line, for prediction: from a file path, ``"-"``/None (standard input), or an
    open file (text or binary). Lines end at ``\n`` only (a ``\r`` before it is dropped): a text
    holding U+2028, U+0085, a form feed or a lone ``\r`` stays one text, so outputs line up with
    inputs one to one. Line ends and a byte-order mark are removed; empty lines are kept.
    Undecodable bytes raise ``ValueError("file:line: ...")``, or with ``errors="replace"`` become
    U+FFFD."""
    if isinstance(source, (str, os.PathLike)) and source != "-":
        data, name = read_bytes(source, allow_empty=True).data, str(source)
    else:
        if source is None or source == "-":
            stream = getattr(sys.stdin, "buffer", sys.stdin)       # bytes if it has them
            name = "<stdin>"
        else:
            stream, name = source, getattr(source, "name", "<stream>")
        data = stream.read()
        if isinstance(data, str):
            data = data.encode("utf-8", errors="surrogateescape")
        data = decode(data, name).data
    out = []
    for n, line, bad in _lines(data, errors):
        if line is None:
            raise ValueError(f"{name}:{n}: {bad}")
        out.append(line)
    return out
