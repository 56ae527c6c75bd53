"""Damaged labels (issue 19, points 2 and 14): a label differing from another only by case,
whitespace or one edit, or a class of too few rows, is an error naming its lines and the label
it likely meant, in every format, in ``SentimentClassifier.fit`` and for tagger tags; unless
the classes are named. Numeric labels mean the same in every format."""
import json

import pytest

from bptt.cli import main
from bptt.data.labels import damaged_labels
from bptt.data.readers import read_dataset
from bptt.data.tagged import TaggedFileError, TaggedSentence, read_conllu, read_token_tags
from bptt.jobs.sentiment import SentimentClassifier
from bptt.jobs.tagger import SequenceTagger


def _rows(n: int) -> list[tuple[str, str]]:
    return [(f"review {i}", "positive" if i % 2 else "negative") for i in range(n)]


def _write(path, rows, fmt):
    if fmt == "jsonl":
        path.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in rows), encoding="utf-8")
    else:
        sep = "\t" if fmt == "tsv" else ","
        path.write_text(f"text{sep}label\n" + "".join(f"{t}{sep}{y}\n" for t, y in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("fmt,line", [("tsv", 3), ("csv", 3), ("jsonl", 2)])
@pytest.mark.parametrize("bad,meant,how", [("postive", "positive", "one character"),
                                           ("Negative", "negative", "case or whitespace"),
                                           ("p{sitive", "positive", "one character"),
                                           ("positiv", "positive", "one character"),
                                           ("nega tive", "negative", "case or whitespace")])
def test_a_misspelt_label_names_its_lines_and_the_label_meant(tmp_path, fmt, line, bad, meant, how):
    rows = _rows(40)
    rows[1] = ("a typo", bad)
    rows[30] = ("another", bad)
    path = _write(tmp_path / f"d.{fmt}", rows, fmt)
    with pytest.raises(ValueError) as err:
        read_dataset(path)
    assert str(err.value).startswith(
        f"{path}:{line}: label {bad!r} (2 rows) differs from {meant!r} (19 rows) "
        f"only by {how}: a misspelt label?; also at {path}:{line + 29}; correct those lines, or give the "
        f"classes with --classes")
    ds, report = read_dataset(path, classes=("negative", "positive", bad))    # named: a class
    assert report.classes[bad] == 2 and len(ds) == 40


@pytest.mark.parametrize("fmt", ["tsv", "csv", "jsonl"])
@pytest.mark.parametrize("stray", ["7", "maybe"])
def test_a_class_of_too_few_rows_is_an_error(tmp_path, fmt, stray):
    rows = _rows(60) + [("odd one", stray)]                            # 1 of 61 rows: 1.6%
    path = _write(tmp_path / f"d.{fmt}", rows, fmt)
    line = 61 if fmt == "jsonl" else 62
    with pytest.raises(ValueError, match=rf"d\.{fmt}:{line}: label '{stray}' holds 1 row of 61 \(under 2%\): "
                                         r"too few for a class of its own"):
        read_dataset(path)
    rows = _rows(18) + [("odd one", stray)]                            # under 20 rows: a class of one row
    ds, _ = read_dataset(_write(path, rows, fmt))
    assert stray in ds.classes
    rows = _rows(19) + [("odd one", stray)]                            # 20 rows: needs 2
    with pytest.raises(ValueError, match=rf"label '{stray}' holds 1 row of 20 \(5.0%\)"):
        read_dataset(_write(path, rows, fmt))
    ds, _ = read_dataset(_write(path, rows + [("again", stray)], fmt))
    assert ds.class_counts()[stray] == 2


def test_the_rare_and_near_rules_in_numbers():
    assert damaged_labels(["a"] * 98 + ["b"] * 2) == []                               # 2%: kept
    assert [f.label for f in damaged_labels(["a"] * 99 + ["b"] * 2)] == ["b"]          # 1.98%
    assert damaged_labels(["spam"] * 10 + ["scam"] * 3) == []      # one edit, but 3 > 10 / 4
    assert [(f.label, f.intended) for f in damaged_labels(["spam"] * 12 + ["scam"] * 3)] == [("scam", "spam")]
    assert damaged_labels(["1"] * 5 + ["2"] * 5 + ["3"]) == []     # numbers are never misspellings
    assert damaged_labels(["joy"] * 9 + ["boy"]) == []              # 3 characters: too short to tell
    assert [f.label for f in damaged_labels(["Neg", "neg", "neg"])] == ["Neg"]   # case: always


@pytest.mark.parametrize("fmt", ["tsv", "csv", "jsonl"])
def test_numeric_labels_mean_the_same_in_every_format(tmp_path, fmt):
    rows = [(f"r{i}", str(i % 2)) for i in range(10)]
    if fmt == "jsonl":
        (tmp_path / "d.jsonl").write_text("".join(json.dumps({"text": t, "label": [int(y), float(y)][i % 2]}) + "\n"
                                                  for i, (t, y) in enumerate(rows)))
    else:
        rows[0] = ("r0", "00")
        rows[1] = ("r1", "+1")
        _write(tmp_path / f"d.{fmt}", rows, fmt)
    ds, report = read_dataset(tmp_path / f"d.{fmt}")
    assert ds.classes == ("negative", "positive") and ds.labels.tolist() == [0, 1] * 5
    assert report.classes == {"negative": 5, "positive": 5}


def test_a_repeated_header_line_is_a_skipped_row_not_a_class(tmp_path):
    path = _write(tmp_path / "d.csv", _rows(30) + [("text", "label")], "csv")
    ds, report = read_dataset(path)
    assert ds.classes == ("negative", "positive") and report.skipped == [(32, "repeats the header line")]


def test_fit_refuses_a_misspelt_or_rare_label_unless_classes_list_it():
    texts = [f"review {i}" for i in range(42)]
    labels = ["negative", "positive"] * 20 + ["postive", "Negative"]
    with pytest.raises(ValueError, match=r"labels\[40\]: label 'postive' \(1 row\) differs from 'positive' "
                                         r"\(20 rows\) only by one character.*1 more suspect label \('Negative'\)"):
        SentimentClassifier(epochs=1).fit(texts, labels, progress=False)
    with pytest.raises(ValueError, match=r"labels\[60\]: label 9 holds 1 row of 61"):
        SentimentClassifier(epochs=1).fit(texts + ["x"] * 19, [0, 1] * 30 + [9], progress=False)
    clf = SentimentClassifier(epochs=1, hidden_size=4, embedding_dim=4, batch_size=8)
    clf.fit(texts, labels, texts[:4], labels[:4], classes=["negative", "positive", "postive", "Negative"],
            progress=False)
    assert clf.classes_.tolist() == ["negative", "positive", "postive", "Negative"]


def test_a_misspelt_tag_names_its_line_in_files_and_in_fit(tmp_path):
    body = "The\tDET\ndog\tNOUN\nbarks\tVERB\n\n" * 10 + "A\tDET\ncat\tnoun\n\n" + "Hi\tINTJ\n\n"
    path = tmp_path / "t.tsv"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(TaggedFileError, match=r"t\.tsv:42: tag 'noun' \(1 word\) differs from 'NOUN' "
                                              r"\(10 words\) only by case or whitespace"):
        read_token_tags(path)
    path.write_text(body.replace("noun", "NOUNN"), encoding="utf-8")
    with pytest.raises(TaggedFileError, match=r"t\.tsv:42: tag 'NOUNN' \(1 word\) differs from 'NOUN'"):
        read_token_tags(path)
    path.write_text(body.replace("noun", "PROPN").replace("Hi\tINTJ", "it\tPRON\nis\tAUX\nhe\tPRON\n"
                                                          "she\tPRON\nwe\tPRON"), encoding="utf-8")
    assert len(read_token_tags(path)) == 12                     # PROPN and PRON: both UD tags
    conllu = tmp_path / "t.conllu"
    conllu.write_text("1\tA\ta\tDET\t_\t_\t0\troot\t_\t_\n2\tCat\tcat\tNoun\t_\t_\t1\tdep\t_\t_\n"
                      "3\tdog\tdog\tNOUN\t_\t_\t1\tdep\t_\t_\n\n", encoding="utf-8")
    with pytest.raises(TaggedFileError, match=r"t\.conllu:2: tag 'Noun' \(1 word\) differs from 'NOUN'"):
        read_conllu(conllu, upos=None)
    train = [TaggedSentence(["the", "dog"], ["DET", "NOUN"])] * 5 + [TaggedSentence(["a", "cat"], ["DET", "noun"])]
    with pytest.raises(ValueError, match=r"sentences\[5\]\.tags\[1\]: tag 'noun' \(1 word\) differs from 'NOUN'"):
        SequenceTagger(epochs=1).fit(train, progress=False)


def test_the_cli_refuses_a_misspelt_label_and_trains_with_classes(tmp_path, capsys):
    rows = _rows(40)
    rows[5] = ("typo here", "postive")
    rows[9] = ("and here", "Negative")
    path = _write(tmp_path / "d.csv", rows, "csv")
    args = ["train", "sentiment", "--train", str(path), "--dev", str(path), "--epochs", "1", "--hidden-size", "4",
            "--embedding-dim", "4", "--quiet", "--out", str(tmp_path / "run")]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert f"{path}:7: label 'postive' (1 row) differs from 'positive' (18 rows)" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "run" / "best").exists()
    assert main(args + ["--classes", "negative,positive,postive,Negative"]) == 0
    sentiment = json.loads((tmp_path / "run" / "best" / "sentiment.json").read_text())
    assert sentiment["classes"] == ["negative", "positive", "postive", "Negative"]


def test_a_label_of_thousands_of_digits_is_read_or_skipped_never_a_crash(tmp_path):
    digits = "1" * 5000                             # int() of over 4,300 digits raises in Python
    (tmp_path / "d.csv").write_text(f"text,label\na,{digits}\nb,{digits}\n", encoding="utf-8")
    ds, _ = read_dataset(tmp_path / "d.csv")
    assert ds.classes == (digits,)
    (tmp_path / "d.jsonl").write_text(f'{{"text": "a", "label": {digits}}}\n{{"text": "b", "label": 1}}\n')
    ds, report = read_dataset(tmp_path / "d.jsonl")
    assert report.skipped[0][0] == 1 and report.skipped[0][1].startswith("bad JSON: Exceeds the limit")
