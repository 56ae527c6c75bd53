"""Readers of tagged text: CoNLL-U treebanks and ``token<TAB>tag`` files (errors name the file,
the line and the field).

    read_conllu(path)      CoNLL-U: word lines only (integer ID); FORM (field 2) -> UPOS (field 4)
    read_token_tags(path)  "token<TAB>tag" lines, a blank line between sentences
    read_tagged(path)      either, by the file name (.conllu / .conll) or else token<TAB>tag

Files are decoded as ``bptt.data.text`` says: UTF-8, a byte-order mark removed, lines ending at
``\n`` or ``\r\n`` only. A bad line raises TaggedFileError ``file:line: ...``; an empty file, or
one without a single word line, raises naming the file. Each reader takes an optional
``ReadReport`` and fills it in: words kept, the tags with their counts, and notes (a byte-order
mark removed; multiword tokens and empty nodes, which are not words, skipped).
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import NamedTuple, Sequence

from .labels import check_labels
from .readers import ReadReport, plural
from .text import lines, read_bytes


UPOS = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN",
        "PUNCT", "SCONJ", "SYM", "VERB", "X")


CONLLU_FIELDS = ("ID", "FORM", "LEMMA", "UPOS", "XPOS", "FEATS", "HEAD", "DEPREL", "DEPS", "MISC")


class TaggedSentence(NamedTuple):
    words: list[str]
    tags: list[str]


class TaggedFileError(ValueError):
    """A malformed line: the message starts with ``file:line:`` and names the field."""


def _blocks(path: Path, report: ReadReport):
    """The runs of non-blank lines of a file (one sentence each), as lists of (line number, line)."""
    data, note = read_bytes(path, TaggedFileError)
    if note:
        report.notes.append(note)
    block = []
    for lineno, line, bad in lines(data):
        if line is None:
            raise TaggedFileError(f"{path}:{lineno}: {bad}; save the file as UTF-8")
        if line.strip():
            block.append((lineno, line))
        elif block:
            yield block
            block = []
    if block:
        yield block


def _finish(path: Path, sentences: list, report: ReadReport, expected: str, lines: list[int]) -> list:
    """``sentences``, after filling ``report``; an error naming the file if there are none, or
    naming the lines of a tag that looks misspelt (``bptt.data.labels``: one differing from
    another only by case, whitespace or one edit; the UD tags are never taken for each other).
    ``lines``: the line of every word, in order."""
    if not sentences:
        raise TaggedFileError(f"{path}: no sentences in the file; expected {expected}")
    try:
        check_labels([t for x in sentences for t in x.tags], lambda k: f"{path}:{lines[k]}", unit="word",
                     what="tag", rare=False, known=frozenset(UPOS), remedy="correct those lines")
    except ValueError as e:
        raise TaggedFileError(str(e)) from None
    tags = Counter(t for x in sentences for t in x.tags)
    report.unit = "words"
    report.rows = report.kept = sum(tags.values())
    report.classes = dict(sorted(tags.items()))
    report.notes.insert(0, plural(len(sentences), "sentence"))
    return sentences


def read_conllu(path: str | Path, upos: Sequence[str] | None = UPOS,
                report: ReadReport | None = None) -> list[TaggedSentence]:
    """Sentences of a CoNLL-U file as (FORM, UPOS) lists, word lines only.

    Comment lines (#) are skipped, and so are multiword tokens (ID ``3-4``) and empty nodes
    (ID ``8.1``). Word IDs must count 1, 2, 3, ... within each sentence. ``upos``: the allowed
    tags (the 17 of UD v2), None to accept any. Raises TaggedFileError ``file:line: field N
    (NAME): ...`` for a line with the wrong number of fields, a bad ID, or an empty FORM or UPOS.
    """
    path = Path(path)
    report = ReadReport(str(path)) if report is None else report
    allowed = None if upos is None else frozenset(upos)
    sentences, not_words, word_lines = [], 0, []
    for block in _blocks(path, report):
        words, tags = [], []
        for lineno, line in block:
            if line.startswith("#"):
                continue
            cols = line.split("\t")
            where = f"{path}:{lineno}:"
            if len(cols) != 10:
                raise TaggedFileError(f"{where} expected 10 tab-separated fields "
                                      f"({' '.join(CONLLU_FIELDS)}), found {len(cols)}")
            wid = cols[0]
            if re.fullmatch(r"[1-9]\d*-[1-9]\d*", wid) or re.fullmatch(r"\d+\.[1-9]\d*", wid):
                not_words += 1                              # multiword token / empty node
                continue
            if not re.fullmatch(r"[1-9]\d*", wid):
                raise TaggedFileError(f"{where} field 1 (ID): expected a word index (1, 2, ...), a "
                                      f"range (3-4) or an empty node (8.1), found {wid!r}")
            if int(wid) != len(words) + 1:
                raise TaggedFileError(f"{where} field 1 (ID): expected word {len(words) + 1} of the "
                                      f"sentence, found {wid}")
            form, tag = cols[1], cols[3]
            if not form:
                raise TaggedFileError(f"{where} field 2 (FORM): empty")
            if not tag or tag == "_":
                raise TaggedFileError(f"{where} field 4 (UPOS): a word line needs a tag, found {tag!r}")
            if allowed is not None and tag not in allowed:
                raise TaggedFileError(f"{where} field 4 (UPOS): {tag!r} is not a UD v2 tag "
                                      f"(expected one of {' '.join(sorted(allowed))})")
            words.append(form)
            tags.append(tag)
            word_lines.append(lineno)
        if words:
            sentences.append(TaggedSentence(words, tags))
    if not_words:
        what = plural(not_words, "multiword token or empty node", "multiword tokens and empty nodes")
        report.notes.append(f"skipped {what} (not words)")
    return _finish(path, sentences, report, "word lines of 10 tab-separated fields "
                                            f"({' '.join(CONLLU_FIELDS)})", word_lines)


def read_token_tags(path: str | Path, report: ReadReport | None = None) -> list[TaggedSentence]:
    """Sentences of a ``token<TAB>tag`` file: one token per line, a blank line between sentences.

    Raises TaggedFileError ``file:line: field N (...)`` for a line without exactly one tab or
    with an empty token or tag.
    """
    path = Path(path)
    report = ReadReport(str(path)) if report is None else report
    sentences, word_lines = [], []
    for block in _blocks(path, report):
        words, tags = [], []
        for lineno, line in block:
            cols = line.split("\t")
            where = f"{path}:{lineno}:"
            if len(cols) != 2:
                raise TaggedFileError(f"{where} expected 2 tab-separated fields (token, tag), "
                                      f"found {len(cols)}")
            for k, (name, value) in enumerate(zip(("token", "tag"), cols), start=1):
                if not value.strip():
                    raise TaggedFileError(f"{where} field {k} ({name}): empty")
            words.append(cols[0])
            tags.append(cols[1].strip())
            word_lines.append(lineno)
        sentences.append(TaggedSentence(words, tags))
    return _finish(path, sentences, report, "token<TAB>tag lines, a blank line between sentences", word_lines)


def read_tagged(path: str | Path, report: ReadReport | None = None) -> list[TaggedSentence]:
    """``read_conllu`` for .conllu / .conll files, ``read_token_tags`` otherwise."""
    path = Path(path)
    if path.suffix.lower() in (".conllu", ".conll"):
        return read_conllu(path, report=report)
    return read_token_tags(path, report=report)
