"""Pair files: reading and writing ``source<TAB>target``, errors naming the file, line and field."""
import pytest

from bptt.data.pairs import TranslationFileError, read_pairs, write_pairs
from bptt.data.readers import ReadReport


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


def test_a_byte_order_mark_is_removed_and_a_lone_cr_kept(tmp_path):
    path = tmp_path / "p.tsv"
    path.write_bytes(b"\xef\xbb\xbfa\rb\tc\r\n\nd\te\n")
    report = ReadReport(str(path))
    assert read_pairs(path, report) == [("a\rb", "c"), ("d", "e")]
    assert str(report) == "p.tsv: kept 2 of 2 pairs; removed a UTF-8 byte-order mark; 1 blank line ignored"
    path.write_bytes(b"a\rb\tc\nd e\n")
    with pytest.raises(TranslationFileError, match=r"p\.tsv:2: expected 2 tab-separated fields"):
        read_pairs(path)


@pytest.mark.parametrize("content, message", [
    (b"", r"p\.tsv: empty file"),
    (b"\n \n", r"p\.tsv: no pairs in the file; expected source<TAB>target lines"),
    (b"a\tb\n\xe9\tc\n", r"p\.tsv:2: undecodable UTF-8 bytes at byte 0"),
])
def test_files_without_pairs_are_named(tmp_path, content, message):
    (tmp_path / "p.tsv").write_bytes(content)
    with pytest.raises(TranslationFileError, match=message):
        read_pairs(tmp_path / "p.tsv")
    (tmp_path / "d.tsv").mkdir()
    with pytest.raises(TranslationFileError, match=r"d\.tsv: is a folder; expected a file"):
        read_pairs(tmp_path / "d.tsv")
