r"""``OUT.tokenizer.json``: the vocabulary and the exact rules that turn a text into the ids the
exported model reads, as data, so that a program in any language reproduces bptt's ids.

The rules are ``bptt.data.tokenize.tokenize`` taken apart (its patterns are read from that
module, so the file cannot drift from it), then the vocabulary look-up:

1. ``text``: lower-case the whole text (Unicode's full default lower-casing, no locale, as
   Python's ``str.lower``, JavaScript's ``toLowerCase`` and Java's ``toLowerCase(Locale.ROOT)``
   do); replace every match of the HTML line-break pattern by a space; split on runs of the
   whitespace characters listed (those of Python's ``str.split()``) into chunks, dropping empty
   ones.
2. ``chunk``: for each chunk, the operations in order: ``replace`` (plain substring replacement,
   each pair in turn, every occurrence), ``map_characters`` (each character found in the table
   becomes its string), ``regex_replace`` (every non-overlapping match, left to right;
   ``$n`` in the replacement is group n's text, empty when group n took no part), then
   ``find_all``: the chunk's tokens are the pattern's successive non-overlapping matches, left to
   right (characters between matches are spaces inserted by the steps before).
3. ``context``: when a chunk ends with "." and its last token is one of ``split_final_dot``
   ("no.", "al."), that token is split into the word and "." unless its condition holds: "no."
   keeps its dot when the next chunk's first character is a digit (Python's ``str.isdigit``),
   "al." when the previous chunk is exactly "et".
4. ``ids``: each token's position in ``vocabulary``; a token not in it is ``unknown_id`` (1); a
   text without tokens is the single id ``unknown_id``. Nothing is cut: bptt's predict reads
   whole texts. A batch pads each row with ``padding_id`` (0) after its length.

Patterns are in Python's ``re`` syntax, leftmost alternative first (as in PCRE, Java, .NET and
JavaScript; not POSIX's longest match). ``[^\W_]`` is one letter or digit in any script:
Unicode general category L* or N*, ``[\p{L}\p{N}]`` in other engines. ``\s`` and ``\S`` use the
whitespace list below, ``\d`` is a Unicode decimal digit (Nd), ``$`` the end of the chunk.
"""
from __future__ import annotations

from ..data.tokenize import (_CONTEXT_ABBREVIATIONS, _CONTRACTION, _ESCAPES, _HTML_BREAK, _OPEN_DQUOTE,
                             _OPEN_SQUOTE, _TOKEN, _TYPOGRAPHY)
from ..data.vocab import PAD_ID, UNK_ID, Vocabulary

FORMAT, VERSION = "bptt-tokenizer", 1


def _whitespace() -> str:
    """The characters Python's str.split() splits on (29 of them)."""
    return "".join(chr(c) for c in range(0x110000) if chr(c).isspace())


def tokenizer_spec(vocab: Vocabulary, model: str) -> dict:
    """The JSON document described in the module docstring."""
    return {
        "format": FORMAT, "version": VERSION, "model": model,
        "description": "Text to ids for the exported bptt model: steps 'text', 'chunk', 'context', "
                       "'ids' in order; docs/export.md and bptt/export/tokenizer_spec.py describe "
                       "each operation.",
        "regex_dialect": "Python re; [^\\W_] = [\\p{L}\\p{N}] (a letter or digit in any script), "
                         "leftmost alternative first",
        "text": [
            {"op": "lowercase", "how": "Unicode full default lower-casing, no locale (Python str.lower)"},
            {"op": "regex_replace", "pattern": _HTML_BREAK.pattern, "replacement": " "},
            {"op": "split", "whitespace": _whitespace()},
        ],
        "chunk": [
            {"op": "replace", "pairs": [list(pair) for pair in _ESCAPES]},
            {"op": "map_characters", "table": {chr(k): v for k, v in _TYPOGRAPHY.items()}},
            {"op": "regex_replace", "pattern": _OPEN_DQUOTE.pattern, "replacement": " `` "},
            {"op": "replace", "pairs": [['"', " '' "]]},
            {"op": "regex_replace", "pattern": _OPEN_SQUOTE.pattern, "replacement": "` "},
            {"op": "regex_replace", "pattern": _CONTRACTION.pattern, "replacement": "$2$4 $1$3$5"},
            {"op": "find_all", "pattern": _TOKEN.pattern},
        ],
        "context": {
            "split_final_dot": sorted(_CONTEXT_ABBREVIATIONS),
            "keeps_dot": {"no.": "the next chunk's first character is a digit (Python str.isdigit)",
                          "al.": "the previous chunk is exactly 'et'"},
        },
        "ids": {"unknown_id": UNK_ID, "padding_id": PAD_ID, "empty_text": [UNK_ID], "truncation": None},
        "vocabulary": vocab.tokens,
    }
