"""Vocabulary: a fixed, ordered list of tokens and the map token -> id.

Ids: ``<pad>`` = 0 (padding, see ``batching.pad_batch``), ``<unk>`` = 1 (any token not in the
list), then the corpus tokens ordered by frequency, most frequent first, ties broken
alphabetically, so the same corpus always gives the same ids.

Saved as JSON (``save``/``load``)::

    {"format": "bptt-vocab", "version": 1, "pad": "<pad>", "unk": "<unk>",
     "tokens": ["<pad>", "<unk>", "the", ",", ...]}
"""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..files import read_json_object, write_json

__all__ = ["Vocabulary", "PAD", "UNK", "PAD_ID", "UNK_ID"]

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1
FORMAT, VERSION = "bptt-vocab", 1


class Vocabulary:
    """Token <-> id map with ``<pad>`` = 0 and ``<unk>`` = 1.

    ``Vocabulary(tokens)`` takes the full id-ordered list, which must start with
    ``["<pad>", "<unk>"]`` and hold no duplicates; ``Vocabulary.build`` makes one from a corpus.
    """

    def __init__(self, tokens: Sequence[str]):
        tokens = list(tokens)
        if tokens[:2] != [PAD, UNK]:
            raise ValueError(f"a vocabulary must start with [{PAD!r}, {UNK!r}], got {tokens[:2]!r}")
        index: dict[str, int] = {}
        for i, tok in enumerate(tokens):
            if not isinstance(tok, str):
                raise TypeError(f"token {i} must be a str, got {type(tok).__name__}: {tok!r}")
            if tok in index:
                raise ValueError(f"token {tok!r} appears twice: ids {index[tok]} and {i}")
            index[tok] = i
        self._tokens = tokens
        self._index = index

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], min_freq: int = 1,
              max_size: int | None = None) -> "Vocabulary":
        """Count the tokens of ``token_lists`` and keep those seen at least ``min_freq`` times.

        Order: frequency descending, then alphabetical. ``max_size`` caps the total size
        including ``<pad>`` and ``<unk>`` (so at most ``max_size - 2`` corpus tokens are kept).
        The special strings ``<pad>``/``<unk>`` in the corpus are not counted.
        """
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1, got {min_freq}")
        if max_size is not None and max_size < 2:
            raise ValueError(f"max_size must be >= 2 (room for {PAD} and {UNK}), got {max_size}")
        counts: Counter[str] = Counter()
        for tokens in token_lists:
            counts.update(tokens)
        counts.pop(PAD, None)
        counts.pop(UNK, None)
        kept = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[: max_size - 2]
        return cls([PAD, UNK, *kept])

    # -- look-ups -----------------------------------------------------------------------------
    @property
    def tokens(self) -> list[str]:
        """All tokens in id order (a copy)."""
        return list(self._tokens)

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self._tokens == other._tokens

    def __repr__(self) -> str:
        head = ", ".join(repr(t) for t in self._tokens[2:7])
        return f"Vocabulary({len(self)} tokens: <pad>, <unk>, {head}{', ...' if len(self) > 7 else ''})"

    def index(self, token: str) -> int:
        """The id of ``token``; KeyError if it is not in the vocabulary (``encode`` maps it to 1)."""
        try:
            return self._index[token]
        except KeyError:
            raise KeyError(f"token {token!r} is not in the vocabulary ({len(self)} tokens)") from None

    def encode(self, tokens: Sequence[str]) -> np.ndarray:
        """Ids of ``tokens``: shape (len(tokens),) int64; unknown tokens -> 1 (``<unk>``)."""
        get = self._index.get
        return np.fromiter((get(t, UNK_ID) for t in tokens), dtype=np.int64, count=len(tokens))

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of ``ids`` (any int sequence or 1-D array); IndexError names a bad id."""
        out = []
        n = len(self._tokens)
        for i in np.asarray(ids, dtype=np.int64).reshape(-1).tolist():
            if not 0 <= i < n:
                raise IndexError(f"id {i} is out of range for a vocabulary of {n} tokens")
            out.append(self._tokens[i])
        return out

    # -- saving -------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """A JSON-ready dict (see the module docstring)."""
        return {"format": FORMAT, "version": VERSION, "pad": PAD, "unk": UNK, "tokens": list(self._tokens)}

    @classmethod
    def from_dict(cls, d: dict, where: str = "vocabulary") -> "Vocabulary":
        """Inverse of ``to_dict``; ValueError says what is wrong, prefixed by ``where``."""
        if not isinstance(d, dict):
            raise ValueError(f"{where}: expected a JSON object, got {type(d).__name__}")
        if d.get("format") != FORMAT:
            raise ValueError(f"{where}: 'format' must be {FORMAT!r}, got {d.get('format')!r}")
        if d.get("version") != VERSION:
            raise ValueError(f"{where}: unsupported version {d.get('version')!r} (this code reads {VERSION})")
        tokens = d.get("tokens")
        if not isinstance(tokens, list):
            raise ValueError(f"{where}: 'tokens' must be a list of strings, got {type(tokens).__name__}")
        try:
            return cls(tokens)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{where}: {e}") from None

    def save(self, path: str | os.PathLike) -> Path:
        """Write the vocabulary as JSON to ``path`` atomically (temp file + ``os.replace``)."""
        path = Path(path)
        write_json(path, self.to_dict(), indent=0)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Vocabulary":
        """Read a file written by ``save``; errors name the file and what is wrong with it."""
        path = Path(path)
        try:
            d = read_json_object(path)
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: vocabulary file not found") from None
        return cls.from_dict(d, where=str(path))
