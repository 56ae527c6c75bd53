"""Files of ``source<TAB>target`` pairs (sequence to sequence): reading, with errors that name the
file, the line and the field, and writing, atomically."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..files import write_text
from .readers import read_text


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
    write_text(path, "".join(lines))
