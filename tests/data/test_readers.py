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
    assert str(report) == "dev.tsv: kept 872 of 872 rows; classes negative 428, positive 444"
    assert report.skipped == [] and report.classes == ds.class_counts()


def test_sst2_train():
    ds, report = read_dataset(shared_data("sst2", "train.tsv"))
    assert len(ds) == 67_349
    assert ds.class_counts() == {"negative": 29_780, "positive": 37_569}
    assert ds.texts[0] == "hide new secretions from the parental units" and ds.labels[0] == 0
    assert str(report) == "train.tsv: kept 67,349 of 67,349 rows; classes negative 29,780, positive 37,569"


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
    assert str(report) == ("train.tsv: kept 3 of 10 rows; classes negative 2, positive 1; "
                           "skipped 7: line 3: empty text; "
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
    assert str(report).startswith("train: kept 3 of 5 rows; classes negative 2, positive 1; "
                                  "skipped 2: neg/3_4.txt: empty text")
    with pytest.raises(ValueError, match=r"train: neg/3_4\.txt: empty text"):
        read_dataset(root, strict=True)


def test_folder_without_neg_and_pos_is_refused(tmp_path):
    (tmp_path / "stuff").mkdir()
    with pytest.raises(ValueError, match=r"not an IMDB folder: expected neg/ and pos/.*\['stuff'\]"):
        read_dataset(tmp_path)


# -- files that cannot be read at all ----------------------------------------------------------

@pytest.mark.parametrize("name, content, kwargs, message", [
    ("e.tsv", "", {}, r"e\.tsv: empty file; expected a header line"),
    ("h.csv", b"\xe9t\xe9,x\n", {}, r"h\.csv: undecodable UTF-8 bytes .*expected a header line"),
    ("u.csv", b"\xff\xfe,x\n", {}, r"u\.csv: starts with a UTF-16 LE byte-order mark but is not UTF-16 LE "
                                  r"text \(truncated data at byte 4\); save it as UTF-8"),
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


# -- byte-order marks, line ends, quotes, classes -------------------------------------------------

BOM = b"\xef\xbb\xbf"


@pytest.mark.parametrize("name, content, first_text", [
    ("g.tsv", b"sentence\tlabel\ngood \t1\n", "good"),
    ("t.tsv", b"text\tlabel\ngood\tpos\nbad\tneg\n", "good"),
    ("c.csv", b"text,label\ngood,pos\nbad,neg\n", "good"),
    ("j.jsonl", b'{"text": "good", "label": "pos"}\n{"text": "bad", "label": "neg"}\n', "good"),
])
def test_a_byte_order_mark_is_removed_and_reported(tmp_path, name, content, first_text):
    ds, report = read_dataset(_write(tmp_path / name, BOM + content))
    assert ds.texts[0] == first_text and len(ds) == report.kept == report.rows
    assert report.notes == ["removed a UTF-8 byte-order mark"]
    assert str(report).endswith("; removed a UTF-8 byte-order mark")


def test_imdb_files_with_a_byte_order_mark_are_counted(tmp_path):
    (tmp_path / "neg").mkdir()
    (tmp_path / "pos").mkdir()
    _write(tmp_path / "neg" / "0_1.txt", BOM + b"Bad.")
    _write(tmp_path / "pos" / "0_9.txt", BOM + b"Good.")
    _write(tmp_path / "pos" / "1_9.txt", b"Fine.")
    ds, report = read_dataset(tmp_path)
    assert ds.texts == ["Bad.", "Good.", "Fine."]
    assert report.notes == ["removed a byte-order mark from 2 files"]


def test_utf16_with_its_mark_is_decoded_and_reported(tmp_path):
    ds, report = read_dataset(_write(tmp_path / "u.tsv", "text\tlabel\ncafé\t1\nthé\t0\n".encode("utf-16")))
    assert ds.texts == ["café", "thé"]
    assert report.notes == ["decoded from UTF-16 LE (byte-order mark); UTF-8 is expected"]


@pytest.mark.parametrize("name, content", [
    ("t.tsv", b"text\tlabel\na\rb\t1\nc\t0\r\nd\t1\n"),
    ("c.csv", b"text,label\na\rb,1\nc,0\r\nd,1\n"),
    ("j.jsonl", b'{"text": "a\\rb", "label": 1}\n{"text": "c", "label": 0}\r\n{"text": "d", "label": 1}\n'),
])
def test_only_lf_and_crlf_end_lines(tmp_path, name, content):
    ds, report = read_dataset(_write(tmp_path / name, content))
    assert ds.texts == ["a\rb", "c", "d"] and report.rows == 3 and report.skipped == []


def test_a_lone_cr_in_a_bad_row_does_not_move_later_line_numbers(tmp_path):
    _, report = read_dataset(_write(tmp_path / "t.tsv", b"text\tlabel\na\rb\t1\nc\t0\nno label\n"))
    assert report.skipped == [(4, "expected 2 tab-separated fields, got 1")]


def test_an_unbalanced_quote_swallows_no_rows(tmp_path):
    content = ('text,label\n'
               '"never closed,1\n'                         # 2: opens a quote that never closes
               'good,1\n'                                   # 3
               'bad,0\n')                                   # 4
    ds, report = read_dataset(_write(tmp_path / "u.csv", content))
    assert ds.texts == ["good", "bad"]
    assert report.skipped == [(2, "CSV error: unexpected end of data in the record that starts here and "
                                  "reaches line 4: an unbalanced quote? Read again from the next line")]
    _consistent(report)


def test_a_quote_closed_lines_later_swallows_no_rows(tmp_path):
    content = ('text,label\n'
               '"oops,1\n'                                  # 2: the quote closes on line 4
               'fine,0\n'                                   # 3
               '",2\n'                                      # 4
               'last,1\n')                                  # 5
    ds, report = read_dataset(_write(tmp_path / "u.csv", content), classes=("negative", "positive"))
    assert ds.texts == ["fine", "last"]
    assert report.skipped[0][0] == 2 and "runs to line 4 and the record is not valid (label '2'" in report.skipped[0][1]
    assert report.skipped[1] == (4, "CSV error: unexpected end of data in the record that starts here and "
                                    "reaches line 5: an unbalanced quote? Read again from the next line")
    _consistent(report)


def test_records_spanning_lines_are_noted(tmp_path):
    ds, report = read_dataset(_write(tmp_path / "m.csv", 'text,label\n"two\nlines",0\none,1\n'))
    assert ds.texts == ["two\nlines", "one"]
    assert report.notes == ["1 record with line breaks inside quotes (the first at line 2)"]


def test_a_misspelt_label_is_refused_naming_its_line_unless_the_classes_list_it(tmp_path):
    rows = "".join(f"r{i}\tpositive\nq{i}\tnegative\n" for i in range(60)) + "typo\tpositve\n"
    with pytest.raises(ValueError, match=r"t\.tsv:122: label 'positve' \(1 row\) differs from 'positive' "
                                         r"\(60 rows\) only by one character: a misspelt label\?.*--classes"):
        read_dataset(_write(tmp_path / "t.tsv", "text\tlabel\n" + rows))
    ds, report = read_dataset(tmp_path / "t.tsv", classes=("negative", "positive"))
    assert report.classes == {"negative": 60, "positive": 60} and report.notes == []
    assert report.skipped == [(122, "label 'positve' is not one of ('negative', 'positive') (or an index 0..1)")]
    ds, report = read_dataset(tmp_path / "t.tsv", classes=("negative", "positive", "positve"))
    assert report.classes == {"negative": 60, "positive": 60, "positve": 1} and report.skipped == []


def test_the_report_flags_a_class_20_times_rarer_than_the_most_frequent(tmp_path):
    rows = "".join(f"r{i}\tgood\nq{i}\tbad\n" for i in range(500)) + "".join(f"m{i}\tmixed\n" for i in range(24))
    ds, report = read_dataset(_write(tmp_path / "t.tsv", "text\tlabel\n" + rows))   # 24 of 1,024: 2.3%
    assert ds.classes == ("bad", "good", "mixed")
    assert str(report) == ("t.tsv: kept 1,024 of 1,024 rows; classes bad 500, good 500, mixed 24; "
                           "1 class 20 times rarer than the most frequent ('mixed'): a misspelt label? "
                           "Fix it, or name the classes (classes=..., --classes A,B) to skip the others")


def test_read_lines_splits_only_at_lf_and_crlf(tmp_path):
    assert read_lines(io.StringIO("a\rb\nc\u2028d\r\n")) == ["a\rb", "c\u2028d"]
    assert read_lines(io.BytesIO(BOM + b"x\ny")) == ["x", "y"]

