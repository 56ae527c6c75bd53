"""Files of ``source<TAB>target`` pairs (sequence to sequence): reading, with errors that name the
file, the line and the field, and writing, atomically.

Files are decoded as ``bptt.data.text`` says: UTF-8, a byte-order mark removed (and noted in the
report), lines ending at ``\n`` or ``\r\n`` only.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..files import write_text
from .readers import ReadReport, plural
from .text import lines, read_bytes


MAX_CHARS = 10_000      # characters of a source or target


class TranslationFileError(ValueError):
    """A malformed line of a pair file: the message starts with ``file:line:``."""


def read_pairs(path: str | Path, report: ReadReport | None = None,
               max_chars: int = MAX_CHARS) -> list[tuple[str, str]]:
    """(source, target) pairs of a UTF-8 file of ``source<TAB>target`` lines.

    Blank lines are skipped (and counted in ``report``). A line must have exactly one tab and a
    non-empty source and target of at most ``max_chars`` characters (a longer one would not fit
    in a training batch); otherwise TranslationFileError ``file:line: field N (source|target):
    ...``. A file without a single pair raises naming the file. ``report``, if given, is filled
    in: pairs kept, blank lines, notes.
    """
    path = Path(path)
    report = ReadReport(str(path)) if report is None else report
    data, note = read_bytes(path, TranslationFileError)
    if note:
        report.notes.append(note)
    pairs, blank = [], 0
    for lineno, line, bad in lines(data):
        if line is None:
            raise TranslationFileError(f"{path}:{lineno}: {bad}; save the file as UTF-8")
        if not line.strip():
            blank += 1
            continue
        cols = line.split("\t")
        if len(cols) != 2:
            raise TranslationFileError(f"{path}:{lineno}: expected 2 tab-separated fields (source, target), "
                                       f"found {len(cols)}")
        for k, (name, value) in enumerate(zip(("source", "target"), cols), start=1):
            if not value.strip():
                raise TranslationFileError(f"{path}:{lineno}: field {k} ({name}): empty")
            if len(value) > max_chars:
                raise TranslationFileError(f"{path}:{lineno}: field {k} ({name}): {len(value):,} characters, "
                                           f"more than the {max_chars:,} a pair may have")
        pairs.append((cols[0], cols[1]))
    if not pairs:
        raise TranslationFileError(f"{path}: no pairs in the file; expected source<TAB>target lines")
    report.unit = "pairs"
    report.rows = report.kept = len(pairs)
    if blank:
        report.notes.append(f"{plural(blank, 'blank line')} ignored")
    return pairs


def write_pairs(path: str | Path, pairs: Sequence) -> None:
    """Write ``source<TAB>target`` lines (the first two fields of each pair), atomically."""
    lines = []
    for i, (src, tgt, *_) in enumerate(pairs):
        if "\t" in src or "\n" in src or "\t" in tgt or "\n" in tgt:
            raise ValueError(f"pair {i}: a source or target contains a tab or a newline: {(src, tgt)!r}")
        lines.append(f"{src}\t{tgt}\n")
    write_text(path, "".join(lines))
