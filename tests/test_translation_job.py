"""The seq2seq job: the date generator (formats, reproducible, disjoint splits), pair files, the
Translator on a small task (greedy = beam 1, save/load), and the CLI."""
import argparse
import datetime as dt
import json

import numpy as np
import pytest

from bptt.commands.seq2seq import add_parsers
from bptt.translation import (DATE_FORMATS, TranslationFileError, Translator, date_pairs, date_splits,
                              ordinal, read_pairs, render_date, write_pairs)



# ---- the date data ----------------------------------------------------------------------------
def test_every_format_of_one_date():
    d = dt.date(1998, 3, 3)                                        # a Tuesday
    assert {f: render_date(d, f) for f in DATE_FORMATS} == {
        "iso": "1998-03-03", "us_slash": "03/03/1998", "us_slash_yy": "3/3/98", "eu_dot": "03.03.1998",
        "compact": "19980303", "d_month_y": "3 march 1998", "d_mon_y": "3 mar 1998",
        "dd_mon_yy": "03-mar-98", "month_d_y": "march 3, 1998", "mon_d_y": "mar 3 1998",
        "month_dth_y": "march 3rd, 1998", "dth_month_y": "3rd march 1998",
        "the_dth_of": "the 3rd of march 1998", "wkd_d_mon_yy": "tue 3 mar 98",
        "weekday_month": "tuesday, march 3, 1998", "weekday_the": "tuesday the 3rd of march 1998"}
    assert render_date(d, "wkd_d_mon_yy", "title") == "Tue 3 Mar 98"
    assert render_date(d, "the_dth_of", "upper") == "THE 3RD OF MARCH 1998"


def test_ordinals_and_month_order_of_slashes_and_dots():
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 31)] == \
        ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "31st"]
    d = dt.date(2049, 12, 31)
    assert (render_date(d, "us_slash"), render_date(d, "eu_dot"), render_date(d, "us_slash_yy")) == \
        ("12/31/2049", "31.12.2049", "12/31/49")
    assert render_date(dt.date(1950, 1, 1), "dd_mon_yy") == "01-jan-50"


def test_date_splits_are_reproducible_and_the_dates_disjoint():
    a, b = date_splits(seed=3, n_train=3000), date_splits(seed=3, n_train=3000)
    assert a == b
    assert date_splits(seed=4, n_train=3000).test != a.test
    assert date_splits(seed=3, n_train=500).test == a.test        # the test set is fixed by the seed
    assert (len(a.train), len(a.dev), len(a.test)) == (3000, 1000, 2000)
    train, dev, test = ({p.target for p in split} for split in a)
    assert len(test) == 2000 and len(dev) == 1000                  # one pair per held-out date
    assert not train & test and not train & dev and not dev & test
    assert len({p.format for p in a.test}) == len(DATE_FORMATS)
    for p in a.train[:300] + a.test[:300]:                          # each source is its target's date
        d = dt.date.fromisoformat(p.target)
        assert p.source.lower() == render_date(d, p.format)


def test_date_pairs_vary_format_and_case():
    rng = np.random.default_rng(0)
    pairs = date_pairs([dt.date(2001, 5, 17)] * 400, rng)
    assert {p.target for p in pairs} == {"2001-05-17"}
    assert len({p.format for p in pairs}) == len(DATE_FORMATS)
    assert any(p.source.isupper() for p in pairs) and any(p.source.islower() for p in pairs)


# ---- pair files -------------------------------------------------------------------------------
def test_read_and_write_pairs(tmp_path):
    path = tmp_path / "p.tsv"
    write_pairs(path, [("3 mar 98", "1998-03-03"), ("a b", "c")])
    assert path.read_text() == "3 mar 98\t1998-03-03\na b\tc\n"
    assert read_pairs(path) == [("3 mar 98", "1998-03-03"), ("a b", "c")]
    for text, message in [("a\tb\nc d\n", r"p\.tsv:2: expected 2 tab-separated fields \(source, target\), found 1"),
                          ("a\tb\tc\n", r"p\.tsv:1: expected 2 tab-separated fields"),
                          ("\tb\n", r"p\.tsv:1: field 1 \(source\): empty"),
                          ("a\tb\n\nc\t \n", r"p\.tsv:3: field 2 \(target\): empty")]:
        path.write_text(text, encoding="utf-8")
        with pytest.raises(TranslationFileError, match=message):
            read_pairs(path)
    with pytest.raises(ValueError, match="contains a tab"):
        write_pairs(path, [("a\tb", "c")])


# ---- the translator on a small task -----------------------------------------------------------
def reversal_pairs(n: int, seed: int) -> list[tuple[str, str]]:
    """Strings of 1-5 letters from "abcd" and the same string reversed."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        s = "".join(rng.choice(list("abcd"), size=rng.integers(1, 6)))
        out.append((s, s[::-1]))
    return out


SMALL = dict(embedding_dim=8, hidden_size=32, epochs=12, batch_size=32, lr=0.01, patience=None)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("rev")
    train, dev = reversal_pairs(1500, 0), reversal_pairs(200, 1)
    write_pairs(root / "train.tsv", train)
    write_pairs(root / "dev.tsv", dev)
    model = Translator(**SMALL).fit(train, dev, out_dir=root / "run", progress=False)
    return model, root, dev


def test_translator_learns_to_reverse(trained):
    model, _, dev = trained
    assert model.evaluate(dev)["exact_match"] > 0.9
    assert model.translate(["abcd", "dca"]) == ["dcba", "acd"]


def test_beam_1_is_greedy_and_beam_scores_no_worse_here(trained):
    model, _, dev = trained
    texts = [p[0] for p in dev[:60]]
    greedy, beam3 = model.hypotheses(texts, beam=1), model.hypotheses(texts, beam=3)
    assert model.translate(texts, beam=1) == [model.join(model.target_vocab.decode(h.tokens)) for h in greedy]
    beam1 = [model.model.beam_search(*_single(model, t), beam=1, max_len=model.max_output_len)[0] for t in texts]
    assert [h.tokens for h in beam1] == [h.tokens for h in greedy]
    np.testing.assert_allclose([h.score for h in beam1], [h.score for h in greedy], rtol=1e-5)
    assert all(b.score >= g.score - 1e-6 for b, g in zip(beam3, greedy))


def _single(model, text):
    ids = model._encode_source([text])[0]
    return ids[:, None], np.array([len(ids)])


def test_save_load_round_trip(trained, tmp_path):
    model, _, dev = trained
    model.save(tmp_path / "m")
    loaded = Translator.load(tmp_path / "m")
    texts = [p[0] for p in dev[:20]]
    assert loaded.translate(texts) == model.translate(texts)
    assert loaded.translate(texts, beam=2) == model.translate(texts, beam=2)
    assert loaded.max_output_len == model.max_output_len == 20      # 2 x 5 + 10


def test_word_level_splits_on_whitespace():
    model = Translator(level="word", epochs=1, embedding_dim=4, hidden_size=4, patience=None)
    model.fit([("a b", "x y"), ("b a", "y x")] * 10, progress=False)
    assert model.split("a  b") == ["a", "b"] and model.join(["x", "y"]) == "x y"
    assert model.target_vocab.tokens[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"]


# ---- the command line -----------------------------------------------------------------------
def _run(argv):
    parser = argparse.ArgumentParser(prog="bptt")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train").add_subparsers(dest="job", required=True)
    add_parsers(sub, train)
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_train_seq2seq_then_translate(trained, tmp_path, capsys):
    _, root, _ = trained
    argv = ["train", "seq2seq", "--pairs", str(root / "train.tsv"), "--dev", str(root / "dev.tsv"),
            "--test", str(root / "dev.tsv"), "--out", str(tmp_path / "run"), "--quiet",
            "--epochs", "2", "--hidden-size", "16", "--embedding-dim", "4", "--max-output-len", "12"]
    assert _run(argv) == 0
    out = capsys.readouterr().out
    assert "best dev exact match" in out and "exact match" in out.splitlines()[-1]
    best = str(tmp_path / "run" / "best")
    assert json.loads((tmp_path / "run" / "best" / "translator.json").read_text())["max_output_len"] == 12
    assert _run(["translate", best, "abc", "dd"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert _run(["translate", best, "abc", "--beam", "3", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["source"] == "abc" and record["log_prob"] <= 0 and isinstance(record["output"], str)


def test_cli_translate_without_a_model_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a translator model"):
        _run(["translate", str(tmp_path), "abc"])
