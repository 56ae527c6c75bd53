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
