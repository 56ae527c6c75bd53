"""bptt.data.text: one way to decode files for every reader (byte-order marks, line ends, bad bytes)."""
import pytest

from bptt.data.text import decode, lines, read_text, read_text_noted, split_lines


def test_split_lines_ends_lines_at_lf_and_crlf_only():
    assert split_lines(b"a\r\nb\rc\n\nd\xe2\x80\xa8e\n") == [b"a", b"b\rc", b"", b"d\xe2\x80\xa8e"]
    assert split_lines(b"") == [] and split_lines(b"x") == [b"x"] and split_lines(b"\n") == [b""]


def test_lines_number_every_line_and_name_bad_bytes():
    assert list(lines(b"ok\nbad \xff\n")) == [(1, "ok", ""), (2, None, "undecodable UTF-8 bytes at byte 4: b'\\xff'")]
    assert list(lines(b"bad \xff", errors="replace")) == [(1, "bad \ufffd", "")]


@pytest.mark.parametrize("data, text, note", [
    (b"\xef\xbb\xbfhi", b"hi", "removed a UTF-8 byte-order mark"),
    ("hé".encode("utf-16-le").join([b"\xff\xfe", b""]), "hé".encode(), "decoded from UTF-16 LE (byte-order mark); UTF-8 is expected"),
    ("hé".encode("utf-16-be").join([b"\xfe\xff", b""]), "hé".encode(), "decoded from UTF-16 BE (byte-order mark); UTF-8 is expected"),
    ("hé".encode("utf-32"), "hé".encode(), "decoded from UTF-32 LE (byte-order mark); UTF-8 is expected"),
    (b"plain", b"plain", ""),
])
def test_decode_removes_or_follows_a_byte_order_mark(data, text, note):
    assert decode(data, "f") == (text, note)


def test_read_text_keeps_a_lone_cr_and_names_what_is_wrong(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(b"\xef\xbb\xbfone\r\ntwo\rthree\n")
    assert read_text_noted(path) == ("one\ntwo\rthree\n", "removed a UTF-8 byte-order mark")
    path.write_bytes(b"one\ntw\xe9o\n")
    with pytest.raises(ValueError, match=r"t\.txt:2: not UTF-8 text \(invalid continuation byte: .* at byte 3 "
                                         r"of the line\); save the file as UTF-8"):
        read_text(path)
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"t\.txt: empty file"):
        read_text(path)
    assert read_text(path, allow_empty=True) == ""
    with pytest.raises(ValueError, match=r"is a folder; expected a file"):
        read_text(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"nope\.txt: no such file"):
        read_text(tmp_path / "nope.txt")


def test_nul_bytes_and_cr_only_line_ends_are_refused_with_what_to_do():
    with pytest.raises(ValueError, match=r"f: holds NUL bytes: UTF-16 or UTF-32 text without a byte-order "
                                         r"mark, or not text at all"):
        decode("text\tlabel\n".encode("utf-16-le"), "f")
    with pytest.raises(ValueError, match=r"f: its lines end in CR alone \(classic Mac OS\)"):
        decode(b"a\tb\rc\td\r", "f")
    assert decode(b"one line with a \r inside", "f").data == b"one line with a \r inside"
