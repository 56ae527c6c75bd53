"""Readers of tagged text: CoNLL-U treebanks and ``token<TAB>tag`` files (errors name the file,
the line and the field).

    read_conllu(path)      CoNLL-U: word lines only (integer ID); FORM (field 2) -> UPOS (field 4)
    read_token_tags(path)  "token<TAB>tag" lines, a blank line between sentences
    read_tagged(path)      either, by the file name (.conllu / .conll) or else token<TAB>tag
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple, Sequence

from .readers import read_text


UPOS = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN",
        "PUNCT", "SCONJ", "SYM", "VERB", "X")


CONLLU_FIELDS = ("ID", "FORM", "LEMMA", "UPOS", "XPOS", "FEATS", "HEAD", "DEPREL", "DEPS", "MISC")


class TaggedSentence(NamedTuple):
    words: list[str]
    tags: list[str]


class TaggedFileError(ValueError):
    """A malformed line: the message starts with ``file:line:`` and names the field."""


def _blocks(path: Path):
    """The runs of non-blank lines of a file (one sentence each), as lists of (line number, line)."""
    block = []
    for lineno, line in enumerate(read_text(path, TaggedFileError).split("\n"), start=1):
        line = line.rstrip("\r")
        if line.strip():
            block.append((lineno, line))
        elif block:
            yield block
            block = []
    if block:
        yield block


def read_conllu(path: str | Path, upos: Sequence[str] | None = UPOS) -> list[TaggedSentence]:
    """Sentences of a CoNLL-U file as (FORM, UPOS) lists, word lines only.

    Comment lines (#) are skipped, and so are multiword tokens (ID ``3-4``) and empty nodes
    (ID ``8.1``). Word IDs must count 1, 2, 3, ... within each sentence. ``upos``: the allowed
    tags (the 17 of UD v2), None to accept any. Raises TaggedFileError ``file:line: field N
    (NAME): ...`` for a line with the wrong number of fields, a bad ID, or an empty FORM or UPOS.
    """
    path = Path(path)
    allowed = None if upos is None else frozenset(upos)
    sentences = []
    for block in _blocks(path):
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
                continue                                    # multiword token / empty node
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
        if words:
            sentences.append(TaggedSentence(words, tags))
    return sentences


def read_token_tags(path: str | Path) -> list[TaggedSentence]:
    """Sentences of a ``token<TAB>tag`` file: one token per line, a blank line between sentences.

    Raises TaggedFileError ``file:line: field N (...)`` for a line without exactly one tab or
    with an empty token or tag.
    """
    path = Path(path)
    sentences = []
    for block in _blocks(path):
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
        sentences.append(TaggedSentence(words, tags))
    return sentences


def read_tagged(path: str | Path) -> list[TaggedSentence]:
    """``read_conllu`` for .conllu / .conll files, ``read_token_tags`` otherwise."""
    path = Path(path)
    return read_conllu(path) if path.suffix in (".conllu", ".conll") else read_token_tags(path)
