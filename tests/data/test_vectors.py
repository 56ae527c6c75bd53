"""Loading GloVe / word2vec text vectors: values, coverage report, fallbacks, malformed files."""
import gzip

import numpy as np
import pytest

from bptt.data.vectors import load_word_vectors

GLOVE = """\
the 0.1 0.2 0.3
cat -1.5 2.0 0.25
new york 7 8 9
Dog 1e-3 -4 5
the 9 9 9
dog 3 3 3
"""
VOCAB = ["the", "cat", "new york", "Dog", "dog", "<unk>", "zebra", "The"]


def _write(tmp_path, name, text, gz=False):
    path = tmp_path / name
    data = text.encode("utf-8") if isinstance(text, str) else text
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def test_glove_rows_and_report(tmp_path):
    path = _write(tmp_path, "glove.tiny.3d.txt", GLOVE)
    matrix, report = load_word_vectors(path, VOCAB)
    assert matrix.shape == (8, 3) and matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix[0], np.float32([0.1, 0.2, 0.3]))  # first "the" wins
    np.testing.assert_array_equal(matrix[1], np.float32([-1.5, 2.0, 0.25]))
    np.testing.assert_array_equal(matrix[2], [7, 8, 9])                     # word with a space
    np.testing.assert_array_equal(matrix[3], np.float32([1e-3, -4, 5]))     # exact case first
    np.testing.assert_array_equal(matrix[4], [3, 3, 3])
    np.testing.assert_array_equal(matrix[7], matrix[0])                     # "The" -> "the"
    assert (report.found, report.found_lowercase, report.missing, report.total, report.dim) == \
        (6, 1, 2, 8, 3)
    assert report.coverage == 0.75
    assert report.missing_examples == ("<unk>", "zebra")
    assert str(report) == "found 6 of 8 words (75.0%) in glove.tiny.3d.txt"


def test_report_line_uses_thousands_separators(tmp_path):
    words = [f"w{i}" for i in range(1200)]
    path = _write(tmp_path, "big.txt", "".join(f"{w} 1 2\n" for w in words[:1000]))
    _, report = load_word_vectors(path, words)
    assert str(report) == "found 1,000 of 1,200 words (83.3%) in big.txt"


def test_missing_rows_are_seeded_normal_at_the_found_scale(tmp_path):
    rng = np.random.default_rng(0)
    found = 0.5 * rng.standard_normal((300, 4))
    path = _write(tmp_path, "v.txt", "".join(f"w{i} " + " ".join(repr(float(x)) for x in v) + "\n"
                                             for i, v in enumerate(found)))
    vocab = [f"w{i}" for i in range(300)] + [f"oov{i}" for i in range(3000)]
    m1, _ = load_word_vectors(path, vocab, dtype=np.float64, rng=np.random.default_rng(5))
    m2, _ = load_word_vectors(path, vocab, dtype=np.float64, rng=np.random.default_rng(5))
    m3, _ = load_word_vectors(path, vocab, dtype=np.float64, rng=np.random.default_rng(6))
    assert m1.dtype == np.float64
    np.testing.assert_array_equal(m1[:300], found)
    assert np.array_equal(m1, m2) and not np.array_equal(m1[300:], m3[300:])
    assert abs(m1[300:].std() - found.std()) < 0.02 * found.std()
    assert abs(m1[300:].mean()) < 0.02


def test_lowercase_fallback_can_be_turned_off(tmp_path):
    path = _write(tmp_path, "glove.txt", GLOVE)
    matrix, report = load_word_vectors(path, VOCAB, lowercase_fallback=False)
    assert report.found == 5 and report.found_lowercase == 0
    assert "The" in report.missing_examples
    assert not np.array_equal(matrix[7], matrix[0])


def test_word2vec_header_and_gzip_give_the_same_matrix(tmp_path):
    lines = GLOVE.replace("\n", " \n")                        # word2vec writes a trailing space
    w2v = _write(tmp_path, "vectors.w2v.txt", "6 3\n" + lines)
    gz = _write(tmp_path, "vectors.w2v.txt.gz", "6 3\n" + lines, gz=True)
    glove = _write(tmp_path, "glove.txt", GLOVE)
    m_glove, r_glove = load_word_vectors(glove, VOCAB)
    m_w2v, r_w2v = load_word_vectors(w2v, VOCAB)
    m_gz, r_gz = load_word_vectors(gz, VOCAB)
    assert np.array_equal(m_glove, m_w2v) and np.array_equal(m_glove, m_gz)
    assert r_w2v.found == r_gz.found == r_glove.found == 6
    assert str(r_gz).endswith("in vectors.w2v.txt.gz")


def test_dim_argument_accepts_matching_file(tmp_path):
    matrix, report = load_word_vectors(_write(tmp_path, "g.txt", GLOVE), ["cat"], dim=3)
    assert report.dim == 3 and matrix.shape == (1, 3)


MALFORMED = [  # (name, content, line, words expected in the message)
    ("short.txt", "a 1 2 3\nb 1 2\n", 2, ["wrong number of values", "3 values"]),
    ("notnum.txt", "the 1 2 3\ncat 1 x 3\n", 2, ["value 2", "'cat'", "'x'", "not a finite number"]),
    ("nan.txt", "cat 1 nan 3\n", 1, ["value 2", "not a finite number", "'nan'"]),
    ("utf8.txt", b"the 1 2\ncaf\xe9 1 2\n", 2, ["undecodable UTF-8", "\\xe9"]),
    ("empty.txt", "", 1, ["empty file"]),
    ("blank.txt", "\n\n", 2, ["empty file"]),
    ("header_only.txt", "5 3\n", 1, ["empty file", "after the header"]),
    ("header_dim.txt", "2 3\nthe 1 2 3 4\ncat 1 2 3 4\n", 2, ["dimension mismatch", "header"]),
    ("header_count.txt", "3 2\nthe 1 2\ncat 1 2\n", 3, ["header says 3", "has 2"]),
    ("noword.txt", "the 1 2\n 1 2\n", 2, ["no word"]),
    ("onefield.txt", "the\n", 1, ["wrong number of values"]),
    ("utf16.txt", "the 1 2\ncat 1 2\n".encode("utf-16-le"), 1, ["NUL bytes", "UTF-16", "without a byte-order mark"]),
    ("nul.txt", b"the 1 2\nc\x00at 1 2\n", 2, ["NUL bytes"]),
]


@pytest.mark.parametrize("name, content, line, words", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_file_raises_with_file_and_line(tmp_path, name, content, line, words):
    path = _write(tmp_path, name, content)
    with pytest.raises(ValueError) as e:
        load_word_vectors(path, ["the", "cat"])
    msg = str(e.value)
    assert f"{name}:{line}: " in msg, msg
    for w in words:
        assert w in msg, (w, msg)


def test_dim_argument_mismatch_raises(tmp_path):
    path = _write(tmp_path, "g100.txt", GLOVE)
    with pytest.raises(ValueError, match=r"g100\.txt:1: dimension mismatch: 3 values .* dim=4"):
        load_word_vectors(path, ["the"], dim=4)
    path = _write(tmp_path, "w2v.txt", "1 3\nthe 1 2 3\n")
    with pytest.raises(ValueError, match=r"w2v\.txt:1: dimension mismatch: the header says 3"):
        load_word_vectors(path, ["the"], dim=4)


def test_truncated_gzip_raises_with_file_name(tmp_path):
    data = gzip.compress(("".join(f"w{i} 1 2 3\n" for i in range(2000))).encode())
    path = _write(tmp_path, "cut.txt.gz", data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.txt\.gz:\d+: cannot read"):
        load_word_vectors(path, ["w1"])


# ---- word2vec binary, zip members, compounds, vocabulary extension -----------------------------
import struct  # noqa: E402
import zipfile  # noqa: E402

from bptt.data.vectors import VectorFile, compound_parts, open_vector_file  # noqa: E402
from shared_data import shared_data  # noqa: E402

TINY = {"the": [0.1, 0.2, 0.3], "cat": [-1.5, 2.0, 0.25], "café": [7.0, 8.0, 9.0],
        "Dog": [1e-3, -4.0, 5.0], "dog": [3.0, 3.0, 3.0]}     # binary words end at a space


def _w2v_binary(words: dict, newline: bool = True, count: int | None = None) -> bytes:
    """The word2vec C tool's binary format: header, then word, space, d float32 LE, newline."""
    d = len(next(iter(words.values())))
    out = [f"{len(words) if count is None else count} {d}\n".encode()]
    for w, v in words.items():
        out.append(w.encode("utf-8") + b" " + struct.pack(f"<{d}f", *v) + (b"\n" if newline else b""))
    return b"".join(out)


def _glove_text(words: dict) -> str:
    return "".join(f"{w} " + " ".join(repr(x) for x in v) + "\n" for w, v in words.items())


@pytest.mark.parametrize("newline", [True, False], ids=["newline", "no-newline"])
def test_word2vec_binary_gives_the_float32_values(tmp_path, newline):
    path = _write(tmp_path, "vectors.bin", _w2v_binary(TINY, newline))
    matrix, report = load_word_vectors(path, ["dog", "café", "cat", "zebra", "The"])
    assert report.binary and report.file_words == 5 and report.dim == 3
    np.testing.assert_array_equal(matrix[0], [3, 3, 3])
    np.testing.assert_array_equal(matrix[1], [7, 8, 9])                  # UTF-8 word
    np.testing.assert_array_equal(matrix[2], np.float32([-1.5, 2.0, 0.25]))
    np.testing.assert_array_equal(matrix[4], np.float32([0.1, 0.2, 0.3]))  # lowercase fallback
    assert (report.found, report.found_lowercase, report.missing) == (4, 1, 1)


def test_binary_text_and_gzip_give_the_same_matrix(tmp_path):
    vocab = list(TINY) + ["zebra"]
    text = load_word_vectors(_write(tmp_path, "t.txt", _glove_text(TINY)), vocab)[0]
    binary = load_word_vectors(_write(tmp_path, "b.bin", _w2v_binary(TINY)), vocab)[0]
    gz = load_word_vectors(_write(tmp_path, "b.bin.gz", _w2v_binary(TINY), gz=True), vocab)[0]
    np.testing.assert_array_equal(text[:5], binary[:5])
    np.testing.assert_array_equal(binary, gz)


def test_binary_is_detected_from_the_bytes_not_the_name(tmp_path):
    as_txt = _write(tmp_path, "really_binary.txt", _w2v_binary(TINY))
    assert load_word_vectors(as_txt, ["cat"])[1].binary
    header_text = _write(tmp_path, "w2v.bin", "5 3\n" + _glove_text(TINY))
    matrix, report = load_word_vectors(header_text, ["cat"])
    assert not report.binary and matrix[0].tolist() == [-1.5, 2.0, 0.25]


BINARY_BAD = [  # (name, bytes, words in the message)
    ("cut_vector.bin", _w2v_binary(TINY)[:-7], ["record 5 at byte", "ends inside the vector of 'dog'",
                                                "expected 12 bytes"]),
    ("short_count.bin", _w2v_binary(TINY, count=7), ["record 6", "header says 7 vectors", "has 5"]),
    ("long_count.bin", _w2v_binary(TINY, count=4), ["bytes after the 4 vectors"]),
    ("bad_word.bin", b"1 2\ncaf\xe9 " + struct.pack("<2f", 1, 2), ["record 1 at byte 4",
                                                                 "undecodable UTF-8", "\\xe9"]),
    ("nan.bin", b"1 2\ncat " + struct.pack("<2f", 1, float("nan")), ["record 1", "value 2 of word 'cat'",
                                                                    "not a finite number"]),
]


@pytest.mark.parametrize("name, data, words", BINARY_BAD, ids=[b[0] for b in BINARY_BAD])
def test_malformed_binary_names_the_record_and_byte(tmp_path, name, data, words):
    with pytest.raises(ValueError) as e:
        load_word_vectors(_write(tmp_path, name, data), ["cat", "dog"], binary=True)
    msg = str(e.value)
    assert name in msg
    for w in words:
        assert w in msg, (w, msg)


def test_binary_without_a_header_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"g\.txt:1: a word2vec binary file starts with a header"):
        load_word_vectors(_write(tmp_path, "g.txt", _glove_text(TINY)), ["cat"], binary=True)


def _zip(tmp_path, name, members: dict) -> str:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for member, data in members.items():
            z.writestr(member, data)
    return str(path)


def test_zip_member_is_named_after_a_colon(tmp_path):
    small = {"cat": [1.0, 2.0], "dog": [3.0, 4.0]}
    path = _zip(tmp_path, "glove.6B.zip", {"glove.6B.2d.txt": _glove_text(small),
                                           "glove.6B.3d.txt": _glove_text(TINY)})
    m2, r2 = load_word_vectors(path + ":glove.6B.2d.txt", ["dog", "cat"])
    m3, r3 = load_word_vectors(path + ":glove.6B.3d.txt", ["dog", "cat"])
    assert m2.tolist() == [[3, 4], [1, 2]] and r2.dim == 2
    assert m3[0].tolist() == [3, 3, 3] and r3.dim == 3


def test_zip_with_several_members_and_no_name_lists_them(tmp_path):
    path = _zip(tmp_path, "glove.6B.zip", {"glove.6B.50d.txt": "a 1\n", "glove.6B.100d.txt": "a 1 2\n"})
    with pytest.raises(ValueError, match=r"glove\.6B\.zip: the zip holds 2 files; name one as "
                                         r".*glove\.6B\.zip:MEMBER, one of: glove\.6B\.50d\.txt, "
                                         r"glove\.6B\.100d\.txt"):
        load_word_vectors(path, ["a"])
    with pytest.raises(ValueError, match=r"no member 'glove\.6B\.300d\.txt'; members: glove\.6B\.50d\.txt"):
        load_word_vectors(path + ":glove.6B.300d.txt", ["a"])


def test_zip_with_one_member_binary_or_gzip_inside(tmp_path):
    single = _zip(tmp_path, "one.zip", {"vectors.bin": _w2v_binary(TINY)})
    inner_gz = _zip(tmp_path, "gz.zip", {"v.txt.gz": gzip.compress(_glove_text(TINY).encode())})
    m1, r1 = load_word_vectors(single, ["cat"])
    m2, _ = load_word_vectors(inner_gz + ":v.txt.gz", ["cat"])
    assert r1.binary and m1[0].tolist() == m2[0].tolist() == [-1.5, 2.0, 0.25]


def test_missing_file_and_non_zip_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.txt: no such file"):
        load_word_vectors(tmp_path / "nope.txt", ["a"])
    with pytest.raises(FileNotFoundError, match=r"nope\.zip: no such file"):
        load_word_vectors(str(tmp_path / "nope.zip") + ":a.txt", ["a"])
    with pytest.raises(ValueError, match=r"fake\.zip: not a zip file"):
        load_word_vectors(_write(tmp_path, "fake.zip", "a 1 2\n"), ["a"])


def test_compound_words_get_the_mean_of_their_parts(tmp_path):
    words = {"dumbed": [1.0, 2.0], "down": [3.0, 6.0], "writer": [0.0, 1.0], "director": [2.0, 1.0],
             "sci": [4.0, 4.0]}
    path = _write(tmp_path, "g.txt", _glove_text(words))
    vocab = ["dumbed-down", "writer/director", "Sci-Fi", "down", "self-loathing", "well--made"]
    matrix, report = load_word_vectors(path, vocab, dtype=np.float64)
    np.testing.assert_array_equal(matrix[0], [2.0, 4.0])               # mean of dumbed, down
    np.testing.assert_array_equal(matrix[1], [1.0, 1.0])               # writer/director
    np.testing.assert_array_equal(matrix[3], [3.0, 6.0])
    assert (report.found, report.found_compound, report.missing) == (3, 2, 3)
    assert report.compound_examples == ("dumbed-down", "writer/director")
    assert report.missing_examples == ("Sci-Fi", "self-loathing", "well--made")  # 'fi' etc. absent
    assert "2 as the mean of their parts (e.g. dumbed-down, writer/director)" in report.details()
    _, off = load_word_vectors(path, vocab, compound_fallback=False)
    assert (off.found, off.found_compound) == (1, 0)
    assert compound_parts("well--made") == ["well", "made"] and compound_parts("down") == []
    assert compound_parts("-ish") == []


def test_exact_word_beats_its_parts(tmp_path):
    path = _write(tmp_path, "g.txt", _glove_text({"sci-fi": [9.0, 9.0], "sci": [1.0, 1.0], "fi": [3.0, 3.0]}))
    matrix, report = load_word_vectors(path, ["sci-fi"])
    assert matrix[0].tolist() == [9, 9] and report.found_compound == 0


def test_extend_appends_the_first_words_of_the_file_in_file_order(tmp_path):
    words = {w: [float(i), -float(i)] for i, w in enumerate(["the", ",", "good", "film", "superb", "zzz"])}
    path = _write(tmp_path, "g.txt", _glove_text(words))
    vocab = ["<pad>", "<unk>", "film", "the", "boring"]
    matrix, report = load_word_vectors(path, vocab, extend=5)
    assert report.added == (",", "good", "superb")                     # 'the', 'film' already in
    assert matrix.shape == (8, 2) and report.total == 8
    np.testing.assert_array_equal(matrix[5:], [[1, -1], [2, -2], [4, -4]])
    np.testing.assert_array_equal(matrix[2:4], [[3, -3], [0, 0]])
    assert "3 words of the file added to the vocabulary" in report.details()
    assert load_word_vectors(path, vocab, extend=0)[1].added == ()
    with pytest.raises(ValueError, match="extend must be >= 0"):
        load_word_vectors(path, vocab, extend=-1)


def test_vector_file_reports_its_shape_while_streaming(tmp_path):
    path = _write(tmp_path, "w.txt.gz", "3 2\na 1 2\nb 3 4\nc 5 6\n", gz=True)
    with open_vector_file(path) as f:
        records = VectorFile(f, str(path))
        words = [r.word for r in records]
    assert words == ["a", "b", "c"] and (records.dim, records.count, records.records) == (2, 3, 3)
    assert not records.binary and records.where.endswith("w.txt.gz:4")


# ---- the real GloVe 6B 50d file ---------------------------------------------------------------
def test_real_glove_file_values():
    path = shared_data("glove", "glove.6B.50d.txt.gz")
    matrix, report = load_word_vectors(path, ["the", "movie", "not-good", "qqqzzzx"], dtype=np.float64)
    assert report.file_words == 400_000 and report.dim == 50 and not report.binary
    np.testing.assert_array_equal(matrix[0, :3], [0.418, 0.24968, -0.41242])   # line 1 of the file
    assert (report.found, report.found_compound, report.missing_examples) == (3, 1, ("qqqzzzx",))


STREAM_PROBE = """
import resource, sys
import numpy as np
from bptt.data.vectors import load_word_vectors
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
matrix, report = load_word_vectors(sys.argv[1], ["the", "movie"])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) * 1024, report.file_words)
"""


def test_real_glove_file_is_streamed_not_loaded_whole():
    """Peak resident memory grows by a few MB reading the 171 MB (unpacked) file for two words."""
    import subprocess
    import sys
    path = shared_data("glove", "glove.6B.50d.txt.gz")
    out = subprocess.run([sys.executable, "-c", STREAM_PROBE, str(path)], capture_output=True, text=True,
                         check=True).stdout.split()
    growth, words = int(out[0]), int(out[1])
    assert words == 400_000
    assert growth < 20e6, f"peak RSS grew by {growth / 1e6:.1f} MB"


def test_real_glove_file_covers_sst2_with_the_compound_fallback():
    from bptt.data.readers import read_dataset
    from bptt.data.tokenize import tokenize
    from bptt.data.vocab import Vocabulary
    train, _ = read_dataset(shared_data("sst2", "train.tsv"))
    words = Vocabulary.build(tokenize(t) for t in train.texts).tokens[2:]       # 14,816 word types
    _, plain = load_word_vectors(shared_data("glove", "glove.6B.50d.txt.gz"), words, compound_fallback=False)
    _, fallback = load_word_vectors(shared_data("glove", "glove.6B.50d.txt.gz"), words)
    assert (plain.total, plain.found) == (14_816, 13_769)                     # 92.9%, as the README says
    assert (fallback.found, fallback.found_compound) == (14_526, 757)         # 98.0%


def test_report_quotes_invisible_words(tmp_path):
    path = _write(tmp_path, "g.txt", "the 1 2\n")
    _, report = load_word_vectors(path, ["the", "\x96", "\u200b", "zebra"])
    assert "missing 3 (e.g. '\\x96', '\\u200b', zebra), drawn at random" in report.details()
