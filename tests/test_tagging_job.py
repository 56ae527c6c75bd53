"""The tagging job: CoNLL-U and token<TAB>tag readers (real UD files, malformed files), the
most-frequent-tag baseline, the neural tagger on a small ambiguous language, and the CLI."""
import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from bptt.commands.tagger import add_parsers
from bptt.tagging import (UPOS, MostFrequentTag, SequenceTagger, TaggedFileError, TaggedSentence,
                          read_conllu, read_tagged, read_token_tags, split_words, token_accuracy,
                          word_shape)


UD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ud-english"


# ---- readers on the real treebanks ------------------------------------------------------------
@pytest.fixture(scope="module")
def lines_train():
    return read_conllu(UD / "UD_English-LinES" / "en_lines-ud-train.conllu")


@pytest.mark.parametrize("path,sentences,words", [
    ("UD_English-LinES/en_lines-ud-train.conllu", 3457, 64684),
    ("UD_English-EWT/en_ewt-ud-dev.conllu", 2001, 25147),     # has multiword tokens and empty nodes
])
def test_conllu_counts_match_the_data_readme(path, sentences, words, lines_train):
    data = lines_train if "LinES" in path else read_conllu(UD / path)
    assert len(data) == sentences
    assert sum(len(s.words) for s in data) == words
    assert all(len(s.words) == len(s.tags) for s in data)


def test_conllu_upos_counts_match_the_data_readme(lines_train):
    data = lines_train
    counts = {t: 0 for t in UPOS}
    for s in data:
        for t in s.tags:
            counts[t] += 1
    assert (counts["NOUN"], counts["PUNCT"], counts["SYM"], counts["X"]) == (11444, 7807, 4, 27)
    assert data[1] == TaggedSentence(["About", "ANSI", "SQL", "query", "mode"],
                                     ["ADP", "PROPN", "PROPN", "NOUN", "NOUN"])


CONLLU = """# sent_id = 1
# text = I don't know.
1-2\tdon't\t_\t_\t_\t_\t_\t_\t_\t_
1\tdo\tdo\tAUX\t_\t_\t0\troot\t_\t_
2\tn't\tnot\tPART\t_\t_\t1\tadvmod\t_\t_
2.1\tknow\tknow\tVERB\t_\t_\t_\t_\t0:root\t_
3\t.\t.\tPUNCT\t_\t_\t1\tpunct\t_\t_

# sent_id = 2
1\tYes\tyes\tINTJ\t_\t_\t0\troot\t_\t_
"""


def test_conllu_skips_multiword_tokens_and_empty_nodes(tmp_path):
    path = tmp_path / "a.conllu"
    path.write_text(CONLLU, encoding="utf-8")                     # no blank line at the end
    assert read_conllu(path) == [TaggedSentence(["do", "n't", "."], ["AUX", "PART", "PUNCT"]),
                                 TaggedSentence(["Yes"], ["INTJ"])]
    assert read_tagged(path) == read_conllu(path)


@pytest.mark.parametrize("line,message", [
    ("1\tdog\tdog\tNOUN\t_\t_\t0\troot\t_", r"a\.conllu:3: expected 10 tab-separated fields .* found 9"),
    ("x\tdog\tdog\tNOUN\t_\t_\t0\troot\t_\t_", r"a\.conllu:3: field 1 \(ID\): expected a word index"),
    ("3\tdog\tdog\tNOUN\t_\t_\t0\troot\t_\t_", r"a\.conllu:3: field 1 \(ID\): expected word 2 of the sentence, found 3"),
    ("2\t\tdog\tNOUN\t_\t_\t0\troot\t_\t_", r"a\.conllu:3: field 2 \(FORM\): empty"),
    ("2\tdog\tdog\t_\t_\t_\t0\troot\t_\t_", r"a\.conllu:3: field 4 \(UPOS\): a word line needs a tag"),
    ("2\tdog\tdog\tNN\t_\t_\t0\troot\t_\t_", r"a\.conllu:3: field 4 \(UPOS\): 'NN' is not a UD v2 tag"),
])
def test_malformed_conllu_names_file_line_and_field(tmp_path, line, message):
    path = tmp_path / "a.conllu"
    path.write_text("# text = The dog\n1\tThe\tthe\tDET\t_\t_\t2\tdet\t_\t_\n" + line + "\n\n", encoding="utf-8")
    with pytest.raises(TaggedFileError, match=message):
        read_conllu(path)


def test_token_tag_reader_and_its_errors(tmp_path):
    path = tmp_path / "a.tsv"
    path.write_text("The\tDET\ndog\tNOUN\n\n\nHi\tINTJ\n", encoding="utf-8")
    assert read_token_tags(path) == [TaggedSentence(["The", "dog"], ["DET", "NOUN"]),
                                     TaggedSentence(["Hi"], ["INTJ"])]
    assert read_tagged(path) == read_token_tags(path)
    for text, message in [("The\tDET\ndog NOUN\n", r"a\.tsv:2: expected 2 tab-separated fields \(token, tag\), found 1"),
                          ("The\tDET\n\tNOUN\n", r"a\.tsv:2: field 1 \(token\): empty"),
                          ("The\t \n", r"a\.tsv:1: field 2 \(tag\): empty"),
                          ("a\tB\tC\n", r"a\.tsv:1: expected 2 tab-separated fields")]:
        path.write_text(text, encoding="utf-8")
        with pytest.raises(TaggedFileError, match=message):
            read_token_tags(path)
    with pytest.raises(FileNotFoundError, match="nope.tsv"):
        read_tagged(tmp_path / "nope.tsv")


# ---- baseline and helpers ---------------------------------------------------------------------
def test_most_frequent_tag_baseline_accuracy():
    train = [TaggedSentence(["the", "run", "ends"], ["DET", "NOUN", "VERB"]),
             TaggedSentence(["they", "run"], ["PRON", "VERB"]),
             TaggedSentence(["the", "run"], ["DET", "NOUN"]),
             TaggedSentence(["a", "dog"], ["DET", "NOUN"])]
    base = MostFrequentTag().fit(train)
    # run: NOUN 2, VERB 1 -> NOUN; unknown words -> NOUN (NOUN 3 = DET 3, tie broken alphabetically -> DET)
    assert base.default == "DET"
    assert base.predict(["they", "run", "fast"]) == ["PRON", "NOUN", "DET"]
    test = [TaggedSentence(["they", "run", "fast"], ["PRON", "VERB", "ADV"]),
            TaggedSentence(["the", "dog"], ["DET", "NOUN"])]
    result = base.evaluate(test)
    assert result["accuracy"] == pytest.approx(3 / 5)              # they, the, dog right
    assert (result["unknown_words"], result["accuracy_unknown"]) == (1, 0.0)
    assert result["accuracy_known"] == pytest.approx(3 / 4)


def test_baseline_on_lines_test(lines_train):
    """The figure that docs/tagger.md reports: 17,583 of 19,984 test words (88.0%)."""
    base = MostFrequentTag().fit(lines_train)
    test = read_conllu(UD / "UD_English-LinES" / "en_lines-ud-test.conllu")
    result = base.evaluate(test)
    right = sum(p == g for s in test for p, g in zip(base.predict(s.words), s.tags))
    assert (result["tokens"], right) == (19984, 17583)
    assert result["accuracy"] == right / 19984
    assert result["unknown_words"] == 1839


def test_token_accuracy_checks_lengths():
    assert token_accuracy([["A", "B"], ["C"]], [["A", "X"], ["C"]]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="sentence 0: 2 gold tags but 1 predicted"):
        token_accuracy([["A", "B"]], [["A"]])


def test_split_words_keeps_case_and_splits_clitics():
    assert split_words("I don't know, Mr. Potter's U.S. friend... 3.5 e-mail") == \
        ["I", "do", "n't", "know", ",", "Mr", ".", "Potter", "'s", "U.S.", "friend", "...", "3.5", "e-mail"]
    assert split_words("It’s OK! WE CAN'T") == ["It", "'s", "OK", "!", "WE", "CA", "N'T"]


def test_word_shape_classes():
    assert [word_shape(w) for w in ["Harry", "ANSI", "the", "3.14", "1990s", ",", "e-mail", "Jean-Paul",
                                    "McDonald", "I"]] == \
        ["Xx", "X", "x", "d", "dx", "p", "x-", "Xx-", "xX", "Xx"]


# ---- the neural tagger on a small ambiguous language ------------------------------------------
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


SMALL = dict(embedding_dim=8, hidden_size=12, epochs=6, batch_size=16, lr=0.02, embedding_dropout=0.0,
             output_dropout=0.0, word_dropout=0.0, patience=None)


def test_tagger_learns_tags_from_context_that_the_baseline_cannot(tmp_path):
    train, test = toy_sentences(300, 0), toy_sentences(100, 1)
    tagger = SequenceTagger(**SMALL, features=("suffix", "shape")).fit(train, test[:20], progress=False)
    ours = tagger.evaluate(test)["accuracy"]
    base = MostFrequentTag().fit(train).evaluate(test)["accuracy"]
    assert ours == 1.0 and base < 0.95
    tagger.save(tmp_path / "m")
    loaded = SequenceTagger.load(tmp_path / "m")
    assert loaded.predict([s.words for s in test]) == tagger.predict([s.words for s in test])
    assert loaded.tag("the duck saw a run .") == list(zip("the duck saw a run .".split(),
                                                          ["DET", "NOUN", "VERB", "DET", "NOUN", "PUNCT"]))
    assert tagger.predict([[], ["the"]])[0] == []                  # an empty sentence has no tags


# ---- the command line -----------------------------------------------------------------------
def _parser():
    parser = argparse.ArgumentParser(prog="bptt")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train").add_subparsers(dest="job", required=True)
    add_parsers(sub, train)
    return parser


def _run(argv):
    args = _parser().parse_args(argv)
    return args.func(args)


def _write(path, sentences):
    path.write_text("\n\n".join("\n".join(f"{w}\t{t}" for w, t in zip(s.words, s.tags)) for s in sentences)
                    + "\n", encoding="utf-8")
    return path


def test_cli_train_tagger_then_tag(tmp_path, capsys):
    train, dev = _write(tmp_path / "train.tsv", toy_sentences(300, 0)), _write(tmp_path / "dev.tsv", toy_sentences(30, 1))
    argv = ["train", "tagger", "--train", str(train), "--dev", str(dev), "--test", str(dev), "--out",
            str(tmp_path / "run"), "--quiet", "--features", "suffix,shape", "--lowercase", "true"]
    for name, value in SMALL.items():
        argv += [f"--{name.replace('_', '-')}", str(value)]
    assert _run(argv) == 0
    out = capsys.readouterr().out
    assert "best dev accuracy 1.0000" in out and "most-frequent-tag baseline" in out
    settings = json.loads((tmp_path / "run" / "best" / "tagger.json").read_text())["settings"]
    assert settings["features"] == ["suffix", "shape"] and settings["lowercase"] is True
    assert _run(["tag", str(tmp_path / "run" / "best"), "The duck saw a run.", "a cat likes the dog ."]) == 0
    assert capsys.readouterr().out.splitlines() == ["The/DET duck/NOUN saw/VERB a/DET run/NOUN ./PUNCT",
                                                    "a/DET cat/NOUN likes/VERB the/DET dog/NOUN ./PUNCT"]
    assert _run(["tag", str(tmp_path / "run" / "best"), "the run .", "--json", "--pretokenized"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert [t["tag"] for t in record["tokens"]] == ["DET", "NOUN", "PUNCT"]


def test_cli_tag_without_a_model_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a tagger model"):
        _run(["tag", str(tmp_path), "some text"])
