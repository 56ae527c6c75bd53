"""Pair files: reading and writing ``source<TAB>target``, errors naming the file, line and field."""
import pytest

from bptt.data.pairs import TranslationFileError, read_pairs, write_pairs


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
