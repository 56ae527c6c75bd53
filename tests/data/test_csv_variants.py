"""CSV files as people have them (issue 19, point 8): column names in any case, the delimiter
detected among , ; tab | (or given), files without a header read by column positions, a header
that looks like a data row refused with the way out; whatever was detected is reported."""
import pytest

from bptt.cli import main
from bptt.data.readers import read_dataset

ROWS = [("a gem, truly", "positive"), ("dull; slow", "negative"), ("fine | fun", "positive"),
        ("bad", "negative")]


def _csv(path, sep, header="text,label", rows=ROWS):
    quote = lambda f: f'"{f}"' if any(c in f for c in ",;|\t\"") else f     # noqa: E731
    lines = ([header.replace(",", sep)] if header else []) + [sep.join(map(quote, r)) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("sep,name", [(",", ""), (";", "semicolon"), ("\t", "tab"), ("|", "pipe")])
def test_the_delimiter_is_detected_and_reported(tmp_path, sep, name):
    ds, report = read_dataset(_csv(tmp_path / "d.csv", sep))
    assert ds.texts == [t for t, _ in ROWS] and ds.labels.tolist() == [1, 0, 1, 0]
    detected = [n for n in report.notes if "separated" in n]
    assert detected == ([f"{name}-separated (detected; choose with --delimiter, delimiter=)"] if name else [])


def test_a_given_delimiter_is_used_as_given(tmp_path):
    path = _csv(tmp_path / "d.csv", ";")
    ds, report = read_dataset(path, delimiter=";")
    assert len(ds) == 4 and not any("separated" in n for n in report.notes)
    with pytest.raises(ValueError, match=r"d\.csv: no text column .*columns are \('text;label',\)"):
        read_dataset(path, delimiter=",")
    with pytest.raises(ValueError, match="a delimiter is given for a .csv file only"):
        read_dataset(path, delimiter=":")


@pytest.mark.parametrize("header,note", [("Text,Label", "text column 'Text', label column 'Label'"),
                                         ("REVIEW, Sentiment", "text column 'REVIEW', label column ' Sentiment'"),
                                         ("text,Label", "label column 'Label'")])
def test_column_names_match_ignoring_case_and_say_so(tmp_path, header, note):
    ds, report = read_dataset(_csv(tmp_path / "d.csv", ",", header))
    assert ds.labels.tolist() == [1, 0, 1, 0] and f"matched ignoring case: {note}" in report.notes


def test_an_exact_name_wins_and_two_names_differing_by_case_are_ambiguous(tmp_path):
    path = _csv(tmp_path / "d.csv", ",", "Text,text,label", [("X", "a b", "positive"), ("Y", "c", "negative")])
    ds, report = read_dataset(path)
    assert ds.texts == ["a b", "c"] and not any("ignoring case" in n for n in report.notes)
    path = _csv(tmp_path / "d.csv", ",", "Text,TEXT,label", [("X", "a b", "positive"), ("Y", "c", "negative")])
    with pytest.raises(ValueError, match=r"2 columns are named 'text' ignoring case \('Text', 'TEXT'\)"):
        read_dataset(path)


def test_no_header_reads_columns_by_position(tmp_path):
    path = _csv(tmp_path / "d.csv", ";", header="", rows=[("positive", t) for t, _ in ROWS])
    ds, report = read_dataset(path, text_column=1, label_column="0", header=False)
    assert ds.texts == [t for t, _ in ROWS] and ds.classes == ("positive",) * 1
    assert report.rows == 4 and "no header line: text column 1, label column 0" in report.notes
    with pytest.raises(ValueError, match=r"without a header line, give the text column's position"):
        read_dataset(path, header=False, label_column=0)
    with pytest.raises(ValueError, match=r"label column 'label': without a header line a column is a position 0..1"):
        read_dataset(path, text_column=1, label_column="label", header=False)
    tsv = tmp_path / "d.tsv"
    tsv.write_text("good film\t1\nbad film\t0\n", encoding="utf-8")
    ds, _ = read_dataset(tsv, text_column=0, label_column=1, header=False)
    assert ds.texts == ["good film", "bad film"] and ds.classes == ("negative", "positive")


def test_a_header_that_looks_like_data_suggests_no_header(tmp_path):
    path = _csv(tmp_path / "d.csv", ",", header="", rows=ROWS)
    with pytest.raises(ValueError, match=r"d\.csv: no text column .*columns are \('a gem, truly', 'positive'\).*"
                                         r"the first line looks like a data row \(its field 'positive' \(column 1\) "
                                         r"is also the value of that column in 1 of the next 3 rows\): if the file "
                                         r"has no header line, read it with --no-header"):
        read_dataset(path)


def test_a_number_names_a_column_only_without_a_header(tmp_path):
    path = _csv(tmp_path / "d.csv", ",", header="0,1", rows=[("good", "positive"), ("bad", "negative")])
    ds, report = read_dataset(path, text_column="0", label_column="1")       # the columns named 0 and 1
    assert ds.texts == ["good", "bad"] and report.rows == 2
    path = _csv(tmp_path / "d.csv", ",", header="review,label", rows=[("good", "positive"), ("bad", "negative")])
    with pytest.raises(ValueError, match=r"text column '0' not found; columns are \('review', 'label'\); a number "
                                         r"is a column position only with --no-header"):
        read_dataset(path, text_column="0")
    ds, report = read_dataset(path, text_column=0, label_column=1, header=False)   # the header is then a row
    assert ds.texts == ["review", "good", "bad"] and report.rows == 3
    path = _csv(tmp_path / "d.csv", ",", header="", rows=[("a gem", "1"), ("dull", "0"), ("fun", "1")])
    with pytest.raises(ValueError, match=r"label column '1' names a field of the first line, which looks like a "
                                         r"data row \(its field '1' \(column 1\) is also the value of that column "
                                         r"in 1 of the next 2 rows\); a number is a column position only with "
                                         r"--no-header"):
        read_dataset(path, text_column="a gem", label_column="1")      # a headerless file, read as if headed


def test_the_cli_takes_delimiter_and_no_header(tmp_path, capsys):
    path = _csv(tmp_path / "d.csv", "|", header="", rows=ROWS * 3)
    out = tmp_path / "run"
    common = ["train", "sentiment", "--train", str(path), "--dev", str(path), "--epochs", "1", "--hidden-size",
              "4", "--embedding-dim", "4", "--quiet", "--out", str(out)]
    assert main(common) == 1
    assert "--no-header" in capsys.readouterr().err
    assert main(common + ["--no-header", "--text-column", "0", "--label-column", "1", "--delimiter", "|"]) == 0
    err = capsys.readouterr().err
    assert "d.csv: kept 12 of 12 rows; classes negative 6, positive 6; no header line: text column 0, label column 1" in err
    assert (out / "best" / "sentiment.json").is_file()
