"""read_dataset / read_lines: the real SST-2 files, and small good and malformed files in tmp_path."""
import io
import sys
from pathlib import Path

import numpy as np
import pytest

from bptt.data.readers import Dataset, ReadReport, read_dataset, read_lines
from shared_data import shared_data


def _write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def _consistent(report: ReadReport) -> None:
    assert report.rows == report.kept + len(report.skipped)


# -- the real files -------------------------------------------------------------------------

def test_sst2_dev():
    ds, report = read_dataset(shared_data("sst2", "dev.tsv"))
    assert len(ds) == 872 and ds.classes == ("negative", "positive")
    assert ds.class_counts() == {"negative": 428, "positive": 444}
    assert ds.labels.dtype == np.int64
    assert ds.texts[0] == "it 's a charming and often affecting journey ."  # trailing space stripped
    assert ds.labels[:3].tolist() == [1, 0, 1]
    assert str(report) == "dev.tsv: kept 872 of 872 rows" and report.skipped == []


def test_sst2_train():
    ds, report = read_dataset(shared_data("sst2", "train.tsv"))
    assert len(ds) == 67_349
    assert ds.class_counts() == {"negative": 29_780, "positive": 37_569}
    assert ds.texts[0] == "hide new secretions from the parental units" and ds.labels[0] == 0
    assert str(report) == "train.tsv: kept 67,349 of 67,349 rows"


def test_sst2_sentence_level_train():
    ds, report = read_dataset(shared_data("sst2", "sentence_level", "train.tsv"))
    assert len(ds) == 6_920 and ds.class_counts() == {"negative": 3_310, "positive": 3_610}


# -- GLUE SST-2 format with bad rows ----------------------------------------------------------

GLUE_BAD = (b"sentence\tlabel\n"
            b"a fine film \t1\n"            # 2 ok
            b" \t0\n"                       # 3 empty text
            b"tab\tin text \t0\n"           # 4 ok: split on the last tab
            b"dull \tx\n"                   # 5 bad label
            b"no tab here 1\n"              # 6 no tab
            b"caf\xe9 au lait \t1\n"        # 7 latin-1 byte
            b"\n"                           # 8 blank
            b"two \t2\n"                    # 9 label out of range
            b"awful \t\n"                   # 10 empty label
            b"fine again \t0\r\n")          # 11 ok, CRLF


def test_glue_bad_rows_are_skipped_and_reported(tmp_path):
    ds, report = read_dataset(_write(tmp_path / "train.tsv", GLUE_BAD))
    assert ds.texts == ["a fine film", "tab\tin text", "fine again"]
    assert ds.labels.tolist() == [1, 0, 0]
    assert report.skipped == [
        (3, "empty text"),
        (5, "label 'x' is not one of ('negative', 'positive') (or an index 0..1)"),
        (6, "no tab; expected sentence<TAB>label"),
        (7, "undecodable UTF-8 bytes at byte 3: b'\\xe9 au'"),
        (8, "blank line"),
        (9, "label '2' is not one of ('negative', 'positive') (or an index 0..1)"),
        (10, "empty label"),
    ]
    assert (report.rows, report.kept) == (10, 3)
    assert str(report) == ("train.tsv: kept 3 of 10 rows; skipped 7: line 3: empty text; "
                           "line 5: label 'x' is not one of ('negative', 'positive') (or an index 0..1); "
                           "line 6: no tab; expected sentence<TAB>label; ... and 4 more")


def test_strict_raises_at_first_bad_row_with_file_and_line(tmp_path):
    path = _write(tmp_path / "train.tsv", GLUE_BAD)
    with pytest.raises(ValueError, match=r"train\.tsv:3: empty text$"):
        read_dataset(path, strict=True)


def test_glue_labels_can_be_class_names_with_custom_classes(tmp_path):
    path = _write(tmp_path / "t.tsv", "sentence\tlabel\ngood \tpos\nbad \t0\n")
    ds, _ = read_dataset(path, classes=["neg", "pos"])
    assert ds.classes == ("neg", "pos") and ds.labels.tolist() == [1, 0]


# -- generic TSV, CSV, JSONL -------------------------------------------------------------------

def test_generic_tsv_with_named_columns_and_string_labels(tmp_path):
    path = _write(tmp_path / "r.tsv", "id\treview\tsentiment\n1\tgreat\tpos\n2\tawful\tneg\n3\tonly two\n"
                                      "4\tmeh\tneg\textra\n5\t\"quoted\" text\tpos\n")
    ds, report = read_dataset(path)
    assert ds.classes == ("neg", "pos")  # sorted label strings
    assert ds.texts == ["great", "awful", '"quoted" text'] and ds.labels.tolist() == [1, 0, 1]
    assert report.skipped == [(4, "expected 3 tab-separated fields, got 2"),
                              (5, "expected 3 tab-separated fields, got 4")]
    _consistent(report)


def test_csv_quoting_and_multiline_records(tmp_path):
    content = ('text,label\n'
               '"Good, really good",1\n'                  # 2
               '"He said ""wow"" twice",1\n'               # 3
               '"two\nlines",0\n'                          # 4-5
               'plain,0\n'                                 # 6
               'missing label\n'                           # 7
               ',1\n')                                     # 8
    ds, report = read_dataset(_write(tmp_path / "r.csv", content))
    assert ds.texts == ["Good, really good", 'He said "wow" twice', "two\nlines", "plain"]
    assert ds.labels.tolist() == [1, 1, 0, 0] and ds.classes == ("negative", "positive")
    assert report.skipped == [(7, "expected 2 comma-separated fields, got 1"), (8, "empty text")]
    _consistent(report)


def test_csv_undecodable_line_costs_only_its_record(tmp_path):
    content = b"review,polarity\nok one,positive\nbad \xff\xfe,negative\nok two,negative\n"
    ds, report = read_dataset(_write(tmp_path / "r.csv", content))
    assert ds.texts == ["ok one", "ok two"] and ds.classes == ("negative", "positive")
    assert ds.labels.tolist() == [1, 0]
    assert report.skipped == [(3, "undecodable UTF-8 bytes at byte 4: b'\\xff\\xfe,n'")]


def test_jsonl_mixed_labels_and_bad_lines(tmp_path):
    lines = ['{"text": "loved it", "label": 1}',          # 1
             '{"text": "hated it", "label": "0"}',        # 2
             '{"text": "no label"}',                      # 3
             '{"text": "truncated", "label": 1',          # 4
             '["not", "an", "object"]',                   # 5
             '{"text": "bool label", "label": true}',     # 6
             '{"text": 5, "label": 1}',                   # 7
             '',                                          # 8
             '{"text": "fine", "label": 1, "extra": 2}']  # 9
    ds, report = read_dataset(_write(tmp_path / "r.jsonl", "\n".join(lines) + "\n"))
    assert ds.texts == ["loved it", "hated it", "fine"] and ds.labels.tolist() == [1, 0, 1]
    assert ds.classes == ("negative", "positive")
    assert report.skipped == [
        (3, "missing field 'label'"),
        (4, "bad JSON: Expecting ',' delimiter at column 33"),
        (5, "expected a JSON object, got list"),
        (6, "label must be an int or a string, got bool True"),
        (7, "text must be a string, got int"),
        (8, "blank line"),
    ]
    _consistent(report)


def test_jsonl_with_given_classes_takes_names_or_indices(tmp_path):
    lines = ['{"sentence": "a", "sentiment": "neutral"}', '{"sentence": "b", "sentiment": 2}',
             '{"sentence": "c", "sentiment": 3}', '{"sentence": "d", "sentiment": "meh"}']
    path = _write(tmp_path / "r.jsonl", "\n".join(lines))
    ds, report = read_dataset(path, classes=("negative", "neutral", "positive"))
    assert ds.texts == ["a", "b"] and ds.labels.tolist() == [1, 2]
    msg = "is not one of ('negative', 'neutral', 'positive') (or an index 0..2)"
    assert report.skipped == [(3, f"label '3' {msg}"), (4, f"label 'meh' {msg}")]
    with pytest.raises(ValueError, match=r"r\.jsonl:3: label '3' is not one of"):
        read_dataset(path, classes=("negative", "neutral", "positive"), strict=True)


def test_integer_labels_other_than_0_1_are_classes_sorted_numerically(tmp_path):
    path = _write(tmp_path / "stars.csv", "text,label\na,10\nb,2\nc,1\nd,2\n")
    ds, _ = read_dataset(path)
    assert ds.classes == ("1", "2", "10") and ds.labels.tolist() == [2, 1, 0, 1]


# -- IMDB folder layout ------------------------------------------------------------------------

def test_imdb_folder_layout(tmp_path):
    root = tmp_path / "aclImdb" / "train"
    for name in ("neg", "pos", "unsup"):
        (root / name).mkdir(parents=True)
    _write(root / "neg" / "10_2.txt", "Awful.<br /><br />Truly.")
    _write(root / "neg" / "2_1.txt", "Bad.")
    _write(root / "neg" / "3_4.txt", "   ")
    _write(root / "pos" / "0_9.txt", "Great film.")
    _write(root / "pos" / "1_10.txt", b"Caf\xe9 scene")
    _write(root / "unsup" / "0_0.txt", "ignored")
    _write(root / "urls_pos.txt", "ignored")
    ds, report = read_dataset(root)
    assert ds.texts == ["Bad.", "Awful.<br /><br />Truly.", "Great film."]  # neg by id, then pos
    assert ds.labels.tolist() == [0, 0, 1] and ds.classes == ("negative", "positive")
    assert report.skipped == [("neg/3_4.txt", "empty text"),
                              ("pos/1_10.txt", "undecodable UTF-8 bytes at byte 3")]
    assert str(report).startswith("train: kept 3 of 5 rows; skipped 2: neg/3_4.txt: empty text")
    with pytest.raises(ValueError, match=r"train: neg/3_4\.txt: empty text"):
        read_dataset(root, strict=True)


def test_folder_without_neg_and_pos_is_refused(tmp_path):
    (tmp_path / "stuff").mkdir()
    with pytest.raises(ValueError, match=r"not an IMDB folder: expected neg/ and pos/.*\['stuff'\]"):
        read_dataset(tmp_path)


# -- files that cannot be read at all ----------------------------------------------------------

@pytest.mark.parametrize("name, content, kwargs, message", [
    ("e.tsv", "", {}, r"e\.tsv: empty file; expected a header line"),
    ("h.csv", b"\xff\xfe,x\n", {}, r"h\.csv: undecodable UTF-8 bytes .*expected a header line"),
    ("c.csv", "body,stars\nx,1\n", {}, r"c\.csv: no text column \(looked for text, sentence, review\); "
                                       r"columns are \('body', 'stars'\)"),
    ("c.tsv", "text\tstars\nx\t1\n", {}, r"c\.tsv: no label column .*columns are \('text', 'stars'\)"),
    ("c.tsv", "text\tlabel\nx\t1\n", {"label_column": "y"}, r"c\.tsv: label column 'y' not found; "
                                                            r"columns are \('text', 'label'\)"),
    ("j.jsonl", '{"body": "x", "label": 1}\n', {}, r"j\.jsonl: no text column .*columns are \('body', 'label'\)"),
    ("n.tsv", "sentence\tlabel\n \t1\nx \tbad\n", {}, r"n\.tsv: no valid rows \(n\.tsv: kept 0 of 2 rows; skipped 2"),
    ("x.txt", "hello\n", {}, r"x\.txt: unknown format '\.txt'"),
])
def test_unreadable_files_raise_naming_the_file(tmp_path, name, content, kwargs, message):
    with pytest.raises(ValueError, match=message):
        read_dataset(_write(tmp_path / name, content), **kwargs)


def test_missing_file_raises_with_its_name(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.tsv: no such file"):
        read_dataset(tmp_path / "nope.tsv")


def test_dataset_checks_its_labels():
    with pytest.raises(ValueError, match=r"labels must be int64 of shape \(2,\)"):
        Dataset(["a", "b"], np.array([0, 1, 1]), ("n", "p"))
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.1"):
        Dataset(["a"], np.array([2]), ("n", "p"))


# -- read_lines ----------------------------------------------------------------------------------

def test_read_lines_from_path_stream_and_stdin(tmp_path, monkeypatch):
    path = _write(tmp_path / "in.txt", "\ufefffirst review\r\n\nthird one\n")
    assert read_lines(path) == ["first review", "", "third one"]
    assert read_lines(io.BytesIO(b"a\nb")) == ["a", "b"]
    assert read_lines(io.StringIO("x\ny\n")) == ["x", "y"]
    fake = io.TextIOWrapper(io.BytesIO(b"from stdin\n"))
    monkeypatch.setattr(sys, "stdin", fake)
    assert read_lines("-") == ["from stdin"]


def test_read_lines_undecodable_bytes(tmp_path):
    path = _write(tmp_path / "in.txt", b"ok\nbad \xff\n")
    with pytest.raises(ValueError, match=r"in\.txt:2: undecodable UTF-8 bytes at byte 4"):
        read_lines(path)
    assert read_lines(path, errors="replace") == ["ok", "bad \ufffd"]


def test_csv_parser_error_skips_the_record_and_continues(tmp_path):
    huge = "x" * 200_000  # longer than csv.field_size_limit() (131,072)
    content = f"text,label\nfirst,1\n{huge},0\nlast,0\n"
    ds, report = read_dataset(_write(tmp_path / "big.csv", content))
    assert ds.texts == ["first", "last"]
    assert report.skipped == [(3, "CSV error: field larger than field limit (131072)")]
