"""Small synthetic data sets that several test files train on, and the ``bptt`` command called
in-process."""
from __future__ import annotations

import numpy as np

from bptt.cli import build_parser
from bptt.data.tagged import TaggedSentence
from bptt.models.regressor import Regressor, RegressorConfig


def run_cli(argv) -> int:
    """``bptt ARGV`` in this process; exceptions propagate (``cli.main`` turns them into lines)."""
    args = build_parser().parse_args([str(a) for a in argv])
    return args.func(args)


def random_regressor(mode: str, rng: np.random.Generator, **kw) -> Regressor:
    """A float64 Regressor (3 inputs, 4 hidden, 2 outputs) with every parameter U(-0.8, 0.8)."""
    model = Regressor(RegressorConfig(3, 4, 2, mode, dtype="float64", **kw), rng)
    for p in model.params.values():
        p[...] = rng.uniform(-0.8, 0.8, p.shape)
    return model


# ---- sentiment: order matters -------------------------------------------------------------------
SUBJECTS = ["the movie", "this film", "the plot", "the acting", "it"]
POSITIVE = ["good", "great", "funny", "moving", "smart"]
NEGATIVE = ["bad", "boring", "dull", "awful", "weak"]


def negation_data(n: int, seed: int) -> tuple[list[str], list[str]]:
    """'<subject> is [not] <adjective> .' labelled (adjective positive) XOR (negated)."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        pos, neg = rng.random() < 0.5, rng.random() < 0.5
        adj = rng.choice(POSITIVE if pos else NEGATIVE)
        texts.append(f"{rng.choice(SUBJECTS)} is {'not ' if neg else ''}{adj} .")
        labels.append("positive" if pos != neg else "negative")
    return texts, labels


# ---- tagging: a small ambiguous language ----------------------------------------------------------
def toy_sentences(n: int, seed: int) -> list[TaggedSentence]:
    """DET NOUN VERB DET NOUN PUNCT, where "saw", "run" and "duck" are nouns or verbs by position."""
    rng = np.random.default_rng(seed)
    nouns, verbs = ["dog", "cat", "saw", "run", "duck"], ["saw", "run", "duck", "likes", "sees"]
    out = []
    for _ in range(n):
        w = [rng.choice(["the", "a"]), rng.choice(nouns), rng.choice(verbs), rng.choice(["the", "a"]),
             rng.choice(nouns), "."]
        out.append(TaggedSentence([str(x) for x in w], ["DET", "NOUN", "VERB", "DET", "NOUN", "PUNCT"]))
    return out


SMALL_TAGGER = dict(embedding_dim=8, hidden_size=12, epochs=6, batch_size=16, lr=0.02, embedding_dropout=0.0,
                    output_dropout=0.0, word_dropout=0.0, patience=None)


# ---- sequence to sequence: reversal -----------------------------------------------------------------
def reversal_pairs(n: int, seed: int) -> list[tuple[str, str]]:
    """Strings of 1-5 letters from "abcd" and the same string reversed."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        s = "".join(rng.choice(list("abcd"), size=rng.integers(1, 6)))
        out.append((s, s[::-1]))
    return out


# ---- language models: a repetitive text ---------------------------------------------------------
LINES = ["the cat sat on the mat.", "the dog ran to the cat.", "a cat and a dog sat.", "the mat is red."]
TEXT = "\n".join(LINES[i % 4] for i in range(60)) + "\n"          # 1,380 characters


# ---- files of every job, for the command line -------------------------------------------------------
def write_job_files(root, n: int = 40) -> dict:
    """Tiny data files of the four jobs in ``root``: {"sentiment": s.tsv (GLUE), "tagger": tags.tsv
    (token<TAB>tag), "seq2seq": pairs.tsv, "lm": text.txt}, with ``n`` examples (the text: TEXT)."""
    texts, labels = negation_data(n, 0)
    paths = {"sentiment": root / "s.tsv", "tagger": root / "tags.tsv", "seq2seq": root / "pairs.tsv",
             "lm": root / "text.txt"}
    paths["sentiment"].write_text("sentence\tlabel\n" + "".join(
        f"{t}\t{int(y == 'positive')}\n" for t, y in zip(texts, labels)), encoding="utf-8")
    paths["tagger"].write_text("\n".join("\n".join(f"{w}\t{g}" for w, g in zip(s.words, s.tags)) + "\n"
                                         for s in toy_sentences(n // 2, 0)), encoding="utf-8")
    paths["seq2seq"].write_text("".join(f"{a}\t{b}\n" for a, b in reversal_pairs(n, 0)), encoding="utf-8")
    paths["lm"].write_text(TEXT, encoding="utf-8")
    return paths
