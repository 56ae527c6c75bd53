"""Vocabulary: deterministic ids, encode/decode, JSON round trip, clear load errors."""

import numpy as np
import pytest

from bptt.data.tokenize import tokenize
from bptt.data.vocab import Vocabulary
from shared_data import shared_data

CORPUS = [["b", "a", "c", "a"], ["c", "a", "d"], ["b", "e", "<unk>"]]  # a:3, b:2, c:2, d:1, e:1


def test_build_orders_by_frequency_then_alphabet():
    v = Vocabulary.build(CORPUS)
    assert v.tokens == ["<pad>", "<unk>", "a", "b", "c", "d", "e"]
    assert v.index("<pad>") == 0 and v.index("<unk>") == 1 and v.index("c") == 4


def test_build_is_independent_of_corpus_order():
    assert Vocabulary.build(CORPUS) == Vocabulary.build(CORPUS[::-1])


def test_min_freq_and_max_size():
    assert Vocabulary.build(CORPUS, min_freq=2).tokens == ["<pad>", "<unk>", "a", "b", "c"]
    assert Vocabulary.build(CORPUS, max_size=4).tokens == ["<pad>", "<unk>", "a", "b"]
    with pytest.raises(ValueError, match="max_size must be >= 2"):
        Vocabulary.build(CORPUS, max_size=1)


def test_encode_maps_unknown_to_one_and_decode_inverts():
    v = Vocabulary.build(CORPUS)
    ids = v.encode(["a", "zzz", "e", "<pad>"])
    assert ids.dtype == np.int64
    np.testing.assert_array_equal(ids, [2, 1, 6, 0])
    assert v.decode(ids) == ["a", "<unk>", "e", "<pad>"]
    assert v.encode([]).tolist() == []
    with pytest.raises(IndexError, match="id 7 is out of range for a vocabulary of 7"):
        v.decode([7])


def test_contains_len_and_index_error():
    v = Vocabulary.build(CORPUS)
    assert len(v) == 7 and "d" in v and "zzz" not in v
    with pytest.raises(KeyError, match="'zzz' is not in the vocabulary"):
        v.index("zzz")


def test_constructor_rejects_bad_token_lists():
    with pytest.raises(ValueError, match="must start with"):
        Vocabulary(["a", "<pad>", "<unk>"])
    with pytest.raises(ValueError, match="'a' appears twice: ids 2 and 3"):
        Vocabulary(["<pad>", "<unk>", "a", "a"])


def test_save_load_round_trip_keeps_ids(tmp_path):
    v = Vocabulary.build(CORPUS + [["café", "naïve"]])
    path = v.save(tmp_path / "vocab.json")
    w = Vocabulary.load(path)
    assert w == v and w.tokens == v.tokens
    assert Vocabulary.from_dict(v.to_dict()) == v
    assert [p.name for p in tmp_path.iterdir()] == ["vocab.json"]  # no temp file left


def test_save_replaces_an_existing_file(tmp_path):
    path = tmp_path / "vocab.json"
    Vocabulary.build([["x"]]).save(path)
    Vocabulary.build(CORPUS).save(path)
    assert Vocabulary.load(path) == Vocabulary.build(CORPUS)


@pytest.mark.parametrize("content, message", [
    ("{not json", r"bad\.json:1:2: not valid JSON: Expecting property name"),
    ("[1, 2]", r"bad\.json: expected a JSON object, got list"),
    ('{"format": "other", "version": 1, "tokens": []}', r"bad\.json: 'format' must be 'bptt-vocab', got 'other'"),
    ('{"format": "bptt-vocab", "version": 9, "tokens": []}', r"bad\.json: unsupported version 9"),
    ('{"format": "bptt-vocab", "version": 1, "tokens": "abc"}', r"bad\.json: 'tokens' must be a list of strings, got str"),
    ('{"format": "bptt-vocab", "version": 1, "tokens": ["<unk>", "<pad>"]}', r"bad\.json: a vocabulary must start with"),
    ('{"format": "bptt-vocab", "version": 1, "tokens": ["<pad>", "<unk>", 5]}', r"bad\.json: token 2 must be a str, got int"),
])
def test_load_malformed_file_names_file_and_problem(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        Vocabulary.load(path)


def test_load_missing_and_non_utf8_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.json: vocabulary file not found"):
        Vocabulary.load(tmp_path / "nope.json")
    (tmp_path / "latin1.json").write_bytes(b'{"tokens": ["caf\xe9"]}')
    with pytest.raises(ValueError, match=r"latin1\.json:1: not UTF-8 text"):
        Vocabulary.load(tmp_path / "latin1.json")


def test_sst2_dev_vocabulary_values():
    lines = (shared_data("sst2", "dev.tsv")).read_text(encoding="utf-8").split("\n")[1:]
    token_lists = [tokenize(line.rsplit("\t", 1)[0]) for line in lines if line]
    v = Vocabulary.build(token_lists)
    # Counted independently: 4,339 distinct tokens; "." 830, "the" 784, "," 747, "a" 535.
    assert len(v) == 4_341
    assert v.tokens[2:6] == [".", "the", ",", "a"]
    assert len(Vocabulary.build(token_lists, min_freq=2)) == 1_430
    ids = v.encode(token_lists[0])  # it 's a charming and often affecting journey .
    assert ids.tolist() == [11, 9, 5, 410, 6, 220, 828, 362, 2]
    assert v.decode(ids) == token_lists[0]
