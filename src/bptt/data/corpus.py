r"""Unlabelled text for a word language model: documents read from folders and files, tokenized
and numbered in one pass.

Sources (``read_corpus``):

- a **folder**: every ``*.txt`` file below it (recursively, in path order, numbers in file names
  compared as numbers: ``2_7.txt`` before ``10_1.txt``) is one document. This reads the aclImdb
  layout as it is: ``aclImdb/train`` gives ``neg/``, ``pos/`` and ``unsup/`` (75,000 reviews),
  ``aclImdb/train/unsup`` the 50,000 unlabelled ones.
- a **file**: every non-blank line is one document (one review per line).
- a **labelled table** (``.tsv``, ``.csv``, ``.jsonl``, read by ``bptt.data.read_dataset`` with
  its columns and checks, e.g. GLUE SST-2's ``train.tsv``): the text of every row is one
  document and the labels are not used. This is ULMFiT's second step, fine-tuning a language
  model on the text of the task it will be fine-tuned for, from the very files of that task.

``exclude`` names documents not to read (e.g. the reviews a sentiment model is measured on),
as paths relative to the folder given (``neg/123_4.txt``); each must name a document that is
there, or the whole call is refused.

Tokens (``encode_corpus``). ``tokenizer="review"`` is ``bptt.data.tokenize.tokenize``, the
lower-cased Penn-Treebank tokenizer of the sentiment job, so a language model's vocabulary and a
classifier's agree word for word; it turns the HTML line breaks of IMDB reviews (``<br />``)
into spaces. ``tokenizer="split"`` splits on white space. Each document becomes its tokens and
then ``<eos>``; a **backward** model reads every document reversed (``<eos>`` still last), so
that it predicts each word from the words after it.

Numbering is done as the documents are read (a provisional id per new token, an int32 array per
document), so 20 million tokens never exist as 20 million Python strings; the vocabulary is then
the ``max_vocab`` most frequent tokens with at least ``min_freq`` occurrences (ties broken by
the token), every other token ``<unk>``, exactly as ``Vocabulary.build``.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

import numpy as np

from .text import read_text
from .tokenize import EOS_WORD, tokenize
from .vocab import PAD, UNK, UNK_ID, Vocabulary

TOKENIZERS = ("review", "split")
TABLES = (".tsv", ".csv", ".jsonl")     # labelled tables: their text column is read
DIRECTIONS = ("forward", "backward")


class Corpus(NamedTuple):
    documents: list[str]        # the texts, in reading order
    names: list[str]            # "<source>/<relative path>" or "<file>:<line>", one per document


def _natural_key(path: Path) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", str(path)))


def read_corpus(sources: Sequence[str | os.PathLike], exclude: Sequence[str] = ()) -> Corpus:
    """Read the documents of every source (see the module docstring), minus ``exclude``."""
    excluded = {str(Path(e)) for e in exclude}
    seen: set[str] = set()
    documents, names = [], []
    for source in sources:
        root = Path(source)
        if root.is_dir():
            paths = sorted(root.rglob("*.txt"), key=lambda p: _natural_key(p.relative_to(root)))
            if not paths:
                raise ValueError(f"{root}: no *.txt files below this folder (each one is a document)")
            for path in paths:
                rel = str(path.relative_to(root))
                if rel in excluded:
                    seen.add(rel)
                    continue
                documents.append(read_text(path, allow_empty=True))
                names.append(f"{root}/{rel}")
        elif root.is_file() and root.suffix.lower() in TABLES:
            from .readers import read_dataset
            table, _ = read_dataset(root, strict=True)
            documents.extend(table.texts)
            names.extend(f"{root}:{n}" for n in range(1, len(table.texts) + 1))
        elif root.is_file():
            for n, line in enumerate(read_text(root).split("\n"), start=1):
                if line.strip():
                    documents.append(line)
                    names.append(f"{root}:{n}")
        else:
            raise FileNotFoundError(f"{root}: no such file or folder")
    missing = sorted(excluded - seen)
    if missing:
        raise ValueError(f"exclude: {len(missing)} listed document(s) are in none of the folders given, "
                         f"e.g. {missing[0]!r} (paths are relative to the folder: neg/123_4.txt)")
    if not documents:
        raise ValueError(f"{', '.join(map(str, sources))}: no documents to read")
    return Corpus(documents, names)


def read_exclude_list(path: str | os.PathLike) -> list[str]:
    """The document paths listed in a file, one per non-blank line."""
    return [line.strip() for line in read_text(path).split("\n") if line.strip()]


def tokenizer_of(name: str) -> Callable[[str], list[str]]:
    if name == "review":
        return tokenize
    if name == "split":
        return str.split
    raise ValueError(f"tokenizer must be one of {TOKENIZERS}, got {name!r}")


class EncodedCorpus(NamedTuple):
    vocab: Vocabulary
    documents: list[np.ndarray]     # one int64 array of final ids per document, <eos> last
    counts: np.ndarray              # (N,) occurrences of each vocabulary entry (<unk>: all others)
    tokens: int                     # all tokens, <eos> included


def encode_corpus(documents: Sequence[str], tokenizer: str = "review", direction: str = "forward",
                  min_freq: int = 1, max_vocab: int | None = None,
                  vocab: Vocabulary | None = None) -> EncodedCorpus:
    """Tokenize and number ``documents``; build the vocabulary (or use ``vocab``, e.g. for held-out
    text or a model being fine-tuned, where unknown words become ``<unk>``)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    split = tokenizer_of(tokenizer)
    table: dict[str, int] = {EOS_WORD: 0}                    # token -> provisional id
    provisional = []
    for doc in documents:
        toks = split(doc)
        if direction == "backward":
            toks = toks[::-1]
        ids = np.fromiter((table.setdefault(t, len(table)) for t in toks), dtype=np.int32, count=len(toks))
        provisional.append(ids)
    words = list(table)                                      # provisional id -> token
    counts = np.zeros(len(words), dtype=np.int64)
    for ids in provisional:
        counts += np.bincount(ids, minlength=len(words))
    counts[0] += len(documents)                              # one <eos> per document
    if vocab is None:
        vocab = _vocabulary(words, counts, min_freq, max_vocab)
    index = {t: i for i, t in enumerate(vocab.tokens)}
    to_final = np.array([index.get(t, UNK_ID) for t in words], dtype=np.int64)   # provisional -> final
    eos = to_final[0]
    encoded = [np.append(to_final[ids], eos) for ids in provisional]
    final_counts = np.bincount(to_final, weights=counts, minlength=len(vocab)).astype(np.int64)
    return EncodedCorpus(vocab, encoded, final_counts, int(counts.sum()))


def _vocabulary(words: list[str], counts: np.ndarray, min_freq: int, max_vocab: int | None) -> Vocabulary:
    """``Vocabulary.build``'s rule from counts: most frequent first, ties by the token."""
    if max_vocab is not None and max_vocab < 2:
        raise ValueError(f"max_vocab must be >= 2 (room for {PAD} and {UNK}), got {max_vocab}")
    kept = [(-int(c), t) for t, c in zip(words, counts) if c >= min_freq and t not in (PAD, UNK)]
    kept.sort()
    if max_vocab is not None:
        kept = kept[:max_vocab - 2]
    return Vocabulary([PAD, UNK, *(t for _, t in kept)])
