r"""Splitting text into tokens: three tokenizers, one per kind of job.

- ``tokenize`` (below, for sentiment): lower-cased Penn Treebank tokens, as the SST has them.
- ``split_words``: UD-English-style words with case kept (tagging raw text).
- ``level_tokens(text, level)``: characters, or words with ``<eos>`` at each line end (language
  models).

**The SST tokenizer**: a Penn-Treebank-style word tokenizer that reproduces the tokens of the
Stanford Sentiment Treebank.

``tokenize(text) -> list[str]`` lower-cases ``text`` and splits it into the kind of tokens the SST
(and so GLUE SST-2) uses, so raw review text (IMDB, user input) and the already tokenised SST
sentences land in the same vocabulary. On already tokenised SST-2 text it is the identity:
``tokenize(s) == s.split()`` for every sentence of GLUE SST-2 dev (872 of 872) and train
(67,349 of 67,349); tests/data/test_tokenize.py checks both.

Steps, in order:

1. Lower-case. Undo treebank escapes: ``-lrb-``/``-rrb-`` -> ``(``/``)``, ``-lsb-``/``-rsb-`` ->
   ``[``/``]``, ``-lcb-``/``-rcb-`` -> ``{``/``}``, ``\/`` -> ``/``, ``\*`` -> ``*``.
   HTML line breaks (``<br />``, common in IMDB reviews) become spaces.
2. Normalise typography: curly quotes ``“ ”`` -> ``` `` ``` and ``''``, ``‘`` -> ```` ` ````,
   ``’`` -> ``'`` (so ``didn’t`` == ``didn't``), ``…`` -> ``...``, em and en dashes -> ``--``.
   A straight ``"`` that opens a word (at the start or after a space or bracket, and followed by
   a non-space) becomes ``` `` ```, every other ``"`` becomes ``''``, as in the PTB.
   A straight ``'`` that opens a word (e.g. ``'best'``) becomes ```` ` ```` unless it starts a
   known apostrophe word (``'70s``, ``'em``, ``'til``, ``'n'``, ...); a ``'`` standing alone stays.
3. Split contractions PTB-style: ``didn't`` -> ``did n't``, ``can't`` -> ``ca n't``, ``won't`` ->
   ``wo n't``, ``it's`` -> ``it 's``, ``they're`` -> ``they 're``, ``i've`` -> ``i 've``,
   ``we'll`` -> ``we 'll``, ``i'd`` -> ``i 'd``, ``i'm`` -> ``i 'm``, possessive ``director's`` ->
   ``director 's``; also ``cannot`` -> ``can not``, ``gonna``/``wanna``/``gotta`` ->
   ``gon na``/``wan na``/``got ta``. A plural possessive ``directors'`` -> ``directors '``.
4. Cut into tokens; the first rule that matches at a position wins:

   - ``` `` ```, ``''``, ``...``, ``--`` and the clitics ``n't 's 're 've 'll 'd 'm``;
   - apostrophe words kept whole: ``'70s``, ``'53``, ``'em``, ``'til``, ``'tis``, ``'twas``,
     ``'n'``, ``'n``, ``'cause``, ``ol'``;
   - acronyms of single letters with dots: ``u.s.``, ``l.a.``, ``j.r.r.``;
   - abbreviations: ``mr. mrs. ms. dr. jr. sr. st. vs. etc. inc. co. ltd. bros. prof. sept.
     wash.`` (and the months), ``no.`` only before a number, ``al.`` only after ``et``;
   - an initial: one letter and a dot (``j. lo``, ``jason x.``), as the SST keeps it even at the
     end of a sentence; except ``a.`` and ``i.``, which are nearly always a word and a full stop;
   - words: letters and digits (any script: ``clichés``) joined by ``-``, ``/``, ``&``, an inner
     ``'`` or ``.`` (``sci-fi``, ``writer/director``, ``r&b``, ``o'fallon``, ``1.5``,
     ``feardotcom.com``), and ``,`` or ``:`` between digits (``10,000``, ``3:30``); a word may end
     in a hyphen before a space (``anti- castro``, ``pre- and post-war``);
   - runs of ``!``/``?`` (``?!?``) and of ``*`` (``***``) stay one token;
   - any other character is a token of its own (``(``, ``$``, ``%``, ``,``, ``-``, ...).

Nothing is dropped: every non-space character ends up in some token.
"""
from __future__ import annotations

import functools
import re

__all__ = ["tokenize"]

_A = r"[^\W_]"  # one letter or digit, in any script

_ESCAPES = (
    ("-lrb-", "("), ("-rrb-", ")"), ("-lsb-", "["), ("-rsb-", "]"),
    ("-lcb-", "{"), ("-rcb-", "}"), ("\\/", "/"), ("\\*", "*"),
)
_TYPOGRAPHY = str.maketrans({
    "\u201c": " `` ", "\u201d": " '' ", "\u201e": " `` ", "\u00ab": " `` ", "\u00bb": " '' ",
    "\u2018": "`", "\u2019": "'", "\u201a": "'", "\u2032": "'",
    "\u2026": "...", "\u2014": " -- ", "\u2013": " -- ", "\u00a0": " ",
})
_HTML_BREAK = re.compile(r"<br\s*/?>")
_OPEN_DQUOTE = re.compile(r'(?:^|(?<=[(\[{<]))"(?=\S)')
_APOS_WORDS = r"'(?:\d\ds?|em|til|tis|twas|n'|n|cause)(?!" + _A + ")"
_CLITIC = r"(?:n't|'(?:s|re|ve|ll|d|m))(?!" + _A + ")"
_OPEN_SQUOTE = re.compile(r"(?:^|(?<=[(\[{<]))(?!" + _APOS_WORDS + "|" + _CLITIC + r"|'')'(?=\S)")
_CONTRACTION = re.compile(
    r"(?<=" + _A + r")(n't|'(?:s|re|ve|ll|d|m))(?!" + _A + r")"
    r"|(?<!" + _A + r")(can)(not)(?!" + _A + r")|(?<!" + _A + r")(gon|wan|got)(na|ta)(?!" + _A + r")"
)
_ABBREVIATIONS = ("mr|mrs|ms|dr|jr|sr|st|vs|etc|inc|co|ltd|bros|prof|sept|wash"
                  "|jan|feb|mar|apr|jun|jul|aug|sep|oct|nov|dec")
_TOKEN = re.compile(
    r"``|''|\.\.\.|--|" + _CLITIC + "|" + _APOS_WORDS + r"|(?<!" + _A + r")ol'"
    r"|(?<!" + _A + r")(?:[a-z]\.){2,}"
    r"|(?<!" + _A + r")(?:" + _ABBREVIATIONS + r"|no|al|[b-hj-z])\.(?!" + _A + r")"
    r"|" + _A + r"+(?:(?:[-/&'.]|(?<=\d)[,:](?=\d))" + _A + r"+)*(?:-$)?"
    r"|[!?]+|\*+"
    r"|\S"
)
# Abbreviations kept whole by _TOKEN that keep their dot only in context (see _keeps_dot).
_CONTEXT_ABBREVIATIONS = frozenset(["no.", "al."])


def _split_contraction(m: re.Match) -> str:
    if m.group(1):
        return " " + m.group(1)
    if m.group(2):
        return m.group(2) + " " + m.group(3)
    return m.group(4) + " " + m.group(5)


@functools.lru_cache(maxsize=1 << 18)
def _chunk_tokens(chunk: str) -> tuple[str, ...]:
    """Tokens of one lower-cased, whitespace-free piece of text (steps 1-4, without context)."""
    s = chunk
    if "-" in s or "\\" in s:
        for old, new in _ESCAPES:
            if old in s:
                s = s.replace(old, new)
    if not s.isascii():
        s = s.translate(_TYPOGRAPHY)
    if '"' in s:
        s = _OPEN_DQUOTE.sub(" `` ", s).replace('"', " '' ")
    if "'" in s:
        s = _OPEN_SQUOTE.sub("` ", s)
    s = _CONTRACTION.sub(_split_contraction, s)
    return tuple(_TOKEN.findall(s))


def tokenize(text: str) -> list[str]:
    """Lower-case ``text`` and split it into PTB/SST-style tokens (see the module docstring).

    Works on whitespace-separated chunks, each tokenised once and cached, so repeated words cost
    a dictionary look-up: GLUE SST-2 train (67,349 lines) takes well under a second.

    >>> tokenize("I didn't like the director's cut -LRB- 1.5 hrs -RRB- -- it's “too long”.")
    ['i', 'did', "n't", 'like', 'the', 'director', "'s", 'cut', '(', '1.5', 'hrs', ')', '--', 'it', "'s", '``', 'too', 'long', "''", '.']
    """
    s = text.lower()
    if "<br" in s:
        s = _HTML_BREAK.sub(" ", s)
    chunks = s.split()
    out: list[str] = []
    for i, chunk in enumerate(chunks):
        toks = _chunk_tokens(chunk)
        if chunk[-1] == "." and toks[-1] in _CONTEXT_ABBREVIATIONS and not _keeps_dot(toks[-1], chunks, i):
            out.extend(toks[:-1])
            out.extend((toks[-1][:-1], "."))
        else:
            out.extend(toks)
    return out


def _keeps_dot(abbrev: str, chunks: list[str], i: int) -> bool:
    """Whether ``abbrev`` ("no." or "al."), ending chunk i, keeps its dot: "no." before a number
    ("no. 9"), "al." after "et"; otherwise the dot is a full stop ("say no." -> "no", ".")."""
    if abbrev == "no.":
        return i + 1 < len(chunks) and chunks[i + 1][0].isdigit()
    return i > 0 and chunks[i - 1] == "et"


# ---- raw text with case kept (UD English style, for tagging) ------------------------------
_UD_TOKEN = re.compile(r"""
    (?:[A-Za-z]\.){2,}                      # acronyms with dots: U.S., e.g.
  | \d+(?:[.,:/]\d+)*                       # numbers: 3.14, 10,000, 3:30, 3/4
  | \w+(?=(?i:n't)\b)                       # do|n't, could|n't (ca|n't, wo|n't as in UD)
  | (?i:n't)\b
  | '(?:s|re|ve|ll|d|m|S|RE|VE|LL|D|M)\b    # clitics: it|'s, we|'re
  | \w+(?:-\w+|'(?!(?i:s|re|ve|ll|d|m)\b)\w+)*  # words, hyphenated or with an inner apostrophe (o'clock)
  | \.\.\. | -- | \S                        # any other character is a token of its own
""", re.VERBOSE)


def split_words(text: str) -> list[str]:
    """Split raw text into UD-English-style tokens, keeping case: ``"I don't know."`` ->
    ``['I', 'do', "n't", 'know', '.']``. Clitics (n't, 's, 're, 've, 'll, 'd, 'm) and punctuation
    become tokens of their own."""
    return _UD_TOKEN.findall(text.replace("’", "'"))


# ---- characters or words (language models) ---------------------------------------------------
LEVELS = ("char", "word")
EOS_WORD = "<eos>"


def level_tokens(text: str, level: str) -> list[str]:
    """Characters, or whitespace-separated words with ``<eos>`` for each line end."""
    if level == "char":
        return list(text)
    if level == "word":
        return text.replace("\n", f" {EOS_WORD} ").split()
    raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
