"""Which columns of a table to read, and how a CSV file is split: the rules, in one place.

Column names (a header line, or a JSONL object's keys):

- A name given (``--text-column``, ``text_column=``) or a default (``text, sentence, review`` /
  ``label, sentiment, polarity``, the first present wins) matches a column of exactly that name;
  failing that, the one column whose name equals it ignoring case and surrounding whitespace
  (``Text``, `` LABEL``); two such columns are an error. A match ignoring case is reported.
- A number is a column name like any other while the file has a header (``--text-column 0``
  finds a column *named* "0", never the first column), unless the header line looks like a
  data row (below): then it is an error suggesting ``--no-header``, as the number was likely
  meant as a position. With ``header=False`` (``--no-header``) the columns have no names: both
  columns must be given as positions counting from 0.
- When no column matches, the error lists the columns; if the header line looks like a data row
  (one of its fields appears again in the same column of the first rows below, as a label does),
  the error says so and suggests ``--no-header``.

CSV delimiter: ``,`` ``;`` tab or ``|``, given (``--delimiter``) or detected from the first
line and the 50 lines below it: each candidate that splits the first line into two fields or
more is scored by the share of those lines it splits into as many fields; the best score wins,
ties going to the earlier candidate in that order. A delimiter other than ``,`` is reported.
"""
from __future__ import annotations

import csv
from pathlib import Path

__all__ = ["DELIMITERS", "pick_column", "detect_delimiter", "delimiter_name", "looks_like_data"]

DELIMITERS = (",", ";", "\t", "|")
NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
SAMPLE = 50                 # lines below the first one that delimiter detection and looks_like_data read


def delimiter_name(d: str) -> str:
    return NAMES.get(d, repr(d))


def shown(columns: list[str]) -> str:
    """The column names for a message: at most 8, each at most 40 characters."""
    names = [c if len(c) <= 40 else c[:37] + "..." for c in columns[:8]]
    return str(tuple(names)) + (f" and {len(columns) - 8} more" if len(columns) > 8 else "")


def _split(line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return line.split(delimiter)


def detect_delimiter(first: str, below: list[str]) -> str:
    """The CSV delimiter of a file whose first line is ``first`` (see the module docstring)."""
    best, score = ",", -1.0
    sample = [x for x in below[:SAMPLE] if x and x.strip()]
    for d in DELIMITERS:
        n = len(_split(first, d))
        if n < 2:
            continue
        s = sum(len(_split(x, d)) == n for x in sample) / max(len(sample), 1)
        if s > score:
            best, score = d, s
    return best


def looks_like_data(columns: list[str], rows: list[list[str]]) -> str:
    """"" if the header ``columns`` looks like a header; else why it looks like a data row: a
    field of it (shorter than 40 characters) appears again in the same column of ``rows``."""
    for k, name in enumerate(columns):
        value = name.strip()
        if not value or len(value) >= 40:
            continue
        again = sum(1 for r in rows[:SAMPLE] if k < len(r) and r[k].strip() == value)
        if again:
            return (f"its field {value!r} (column {k}) is also the value of that column in "
                    f"{again} of the next {min(len(rows), SAMPLE)} rows")
    return ""


def pick_column(path: Path, columns: list[str], given, defaults: tuple[str, ...], kind: str,
                header: bool = True, rows: list[list[str]] | None = None) -> tuple[int, str]:
    """(index of the column to read, a note if it matched only ignoring case, else "").

    ``columns``: the header's names (``header=True``) or, without a header, the fields of the
    first row (only their number counts). ``rows``: the first rows below the header, to tell a
    header from a data row in the error when nothing matches."""
    flag = f"--{kind}-column"
    if not header:
        if given is None:
            raise ValueError(f"{path}: without a header line, give the {kind} column's position "
                             f"({flag} N, counting from 0; the first line has {len(columns)} fields)")
        text = str(given).strip()
        if not text.isdigit() or int(text) >= len(columns):
            raise ValueError(f"{path}: {kind} column {given!r}: without a header line a column is a "
                             f"position 0..{len(columns) - 1} (the first line has {len(columns)} fields)")
        return int(text), ""
    wanted = (str(given),) if given is not None else defaults
    for name in wanted:
        if name in columns:
            data = looks_like_data(columns, rows or []) if name.strip().isdigit() else ""
            if data:                                    # --text-column 0 meant as a position?
                raise ValueError(f"{path}: {kind} column {name!r} names a field of the first line, which "
                                 f"looks like a data row ({data}); a number is a column position only "
                                 f"with --no-header (header=False)")
            return columns.index(name), ""
        folded = [i for i, c in enumerate(columns) if c.strip().casefold() == name.strip().casefold()]
        if len(folded) > 1:
            raise ValueError(f"{path}: {len(folded)} columns are named {name!r} ignoring case "
                             f"({', '.join(repr(columns[i]) for i in folded)}); name one exactly with {flag}")
        if folded:
            return folded[0], f"{kind} column {columns[folded[0]]!r}"
    if given is not None:
        why = f"{path}: {kind} column {str(given)!r} not found; columns are {shown(columns)}"
        if str(given).strip().isdigit():
            why += "; a number is a column position only with --no-header"
    else:
        why = (f"{path}: no {kind} column (looked for {', '.join(defaults)}); "
               f"columns are {shown(columns)}; name it with {flag} ({kind}_column=)")
    data = looks_like_data(columns, rows or [])
    if data:
        why += (f"; the first line looks like a data row ({data}): if the file has no header line, "
                f"read it with --no-header --text-column N --label-column N (header=False)")
    raise ValueError(why)
