"""Bag-of-words logistic regression: the features, the sparse product against the Dense layer,
training, determinism, save/load, SST-2 dev accuracy and the negation pairs."""
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bptt.baseline import (
    BagOfWords,
    Features,
    MostFrequentTag,
    _sparse_grads,
    _sparse_logits,
    lowercase_split,
)
from bptt.data.tagged import (
    TaggedSentence,
    read_conllu,
)
from bptt.layers import Dense
from bptt.metrics import classification_report
from shared_data import shared_data

REPO = Path(__file__).resolve().parents[1]


PAIRS = REPO / "bench" / "negation_pairs.tsv"


NEGATORS = {"not", "n't", "never", "no", "hardly"}
HARD_NEGATORS = {"nobody", "nothing", "impossible", "fail", "fails"}


def read_tsv(path: Path) -> tuple[list[str], np.ndarray]:
    """`sentence\\tlabel` rows (split on the last tab, trailing space stripped)."""
    texts, labels = [], []
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        sentence, _, label = line.rpartition("\t")
        texts.append(sentence.strip())
        labels.append(int(label))
    return texts, np.array(labels)


TEXTS = ["a b b c", "b c", "c d d d", "a", "e"]


def test_vocabulary_is_by_frequency_then_alphabetical_with_min_freq_and_max_vocab():
    m = BagOfWords(epochs=0, tokenizer=lowercase_split).fit(TEXTS, [0, 1, 0, 1, 0])
    # counts: b 3, c 3, d 3, a 2, e 1
    assert m.vocabulary_ == ["b", "c", "d", "a", "e"]
    assert BagOfWords(min_freq=2, epochs=0).fit(TEXTS, [0] * 5).vocabulary_ == ["b", "c", "d", "a"]
    assert BagOfWords(max_vocab=2, epochs=0).fit(TEXTS, [0] * 5).vocabulary_ == ["b", "c"]


@pytest.mark.parametrize("binary", [True, False])
def test_features_are_counts_or_presence_over_the_vocabulary(binary):
    m = BagOfWords(binary=binary, epochs=0, tokenizer=lowercase_split).fit(TEXTS, [0, 1, 0, 1, 0])
    x = m.features(["B a B zzz", "", "D c"])                   # vocab ids: b 0, c 1, d 2, a 3, e 4
    expected = np.array([[2, 0, 0, 1, 0], [0, 0, 0, 0, 0], [0, 1, 1, 0, 0]], dtype=float)
    if binary:
        expected = np.minimum(expected, 1)
    np.testing.assert_array_equal(x.to_dense(), expected)
    np.testing.assert_array_equal(x.indptr, [0, 2, 2, 4])
    np.testing.assert_array_equal(x.indices, [0, 3, 1, 2])      # ascending within each row


def test_rows_selects_and_reorders_sparse_rows():
    m = BagOfWords(binary=False, epochs=0).fit(TEXTS, [0] * 5)
    x = m.features(TEXTS)
    which = np.array([4, 0, 0, 2])
    np.testing.assert_array_equal(x.rows(which).to_dense(), x.to_dense()[which])


def _random_rows(rng, N=7, V=11) -> Features:
    dense = rng.integers(0, 3, (N, V)) * (rng.random((N, V)) < 0.4)
    dense[3] = 0                                                 # an empty row
    rows, cols = np.nonzero(dense)
    indptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=N))]
    return Features(indptr, cols.astype(np.int64), dense[rows, cols].astype(float), (N, V))


def test_sparse_logits_and_grads_equal_the_dense_layer():
    rng = np.random.default_rng(1)
    layer = Dense(11, 3, dtype=np.float64, rng=rng)
    layer.params["bias"][:] = rng.standard_normal(3)             # non-zero weights and bias
    x = _random_rows(rng)
    z, cache = layer.forward(x.to_dense())
    np.testing.assert_allclose(_sparse_logits(layer, x), z, rtol=1e-12, atol=1e-12)
    dz = rng.standard_normal(z.shape)
    _, grads = layer.backward(dz, cache)
    sparse = _sparse_grads(layer, dz, x)
    for name in ("weight", "bias"):
        np.testing.assert_allclose(sparse[name], grads[name], rtol=1e-12, atol=1e-12)


TOY = (["great fun", "fun and great", "truly great", "awful mess", "a dull mess", "awful",
        "it is a film", "a film about it", "film"],
       ["pos", "pos", "pos", "neg", "neg", "neg", "meh", "meh", "meh"])


def test_fit_separates_a_toy_three_class_problem():
    m = BagOfWords(epochs=60, lr=0.05, batch_size=4, l2=0.0).fit(*TOY)
    assert list(m.classes_) == ["meh", "neg", "pos"]
    assert list(m.predict(["great", "mess", "a film"])) == ["pos", "neg", "meh"]
    assert m.score(*TOY) == 1.0
    proba = m.predict_proba(TOY[0])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert m.history_[-1] < m.history_[0] / 5


@pytest.mark.parametrize("binary", [True, False])
def test_every_order_of_the_same_words_gets_the_same_probabilities(binary):
    """Word counts are all a bag of words sees: "great fun , not a mess" and "a mess , not great
    fun" are one input to it, so of two such reviews it gets one wrong (measured on the negation
    pairs beside every table of bench/sentiment_search.py and bench/train_sentiment.py)."""
    m = BagOfWords(binary=binary, epochs=20, lr=0.05, l2=0.0).fit(*TOY)
    texts = ["great fun , not a mess", "a mess , not great fun", "not a mess , fun great",
             "great great fun mess", "mess great fun great"]
    p = m.predict_proba(texts)
    for q in p[1:3]:
        np.testing.assert_array_equal(q, p[0])
    np.testing.assert_array_equal(p[4], p[3])
    assert not np.array_equal(p[3], p[0])                          # another bag, another answer
    assert not np.array_equal(m.predict_proba(["great"]), m.predict_proba(["mess"]))


def test_the_same_seed_gives_the_same_model_and_another_seed_does_not():
    a = BagOfWords(epochs=3, batch_size=2).fit(*TOY)
    b = BagOfWords(epochs=3, batch_size=2).fit(*TOY)
    c = BagOfWords(epochs=3, batch_size=2, seed=1).fit(*TOY)
    for name in ("weight", "bias"):
        np.testing.assert_array_equal(a.layer_.params[name], b.layer_.params[name])
    assert not np.array_equal(a.layer_.params["weight"], c.layer_.params["weight"])


def test_save_then_load_predicts_the_same(tmp_path):
    m = BagOfWords(binary=False, min_freq=1, epochs=5).fit(*TOY)
    m.save(tmp_path / "bow")
    assert sorted(p.name for p in (tmp_path / "bow").iterdir()) == ["config.json", "model.safetensors"]
    doc = json.loads((tmp_path / "bow" / "config.json").read_text())
    assert doc["vocabulary"] == m.vocabulary_ and doc["classes"] == ["meh", "neg", "pos"]
    assert doc["settings"]["binary"] is False and doc["settings"]["epochs"] == 5
    loaded = BagOfWords.load(tmp_path / "bow")
    texts = TOY[0] + ["unseen words only", "great great film"]
    np.testing.assert_array_equal(loaded.predict_proba(texts), m.predict_proba(texts))
    assert list(loaded.predict(texts)) == list(m.predict(texts))
    assert loaded.tokenizer_name_ == m.tokenizer_name_


def test_load_needs_a_custom_tokenizer_back(tmp_path):
    split_on_commas = lambda text: text.split(",")
    m = BagOfWords(epochs=1, tokenizer=split_on_commas).fit(["a,b", "c"], [0, 1])
    m.save(tmp_path)
    with pytest.raises(ValueError, match="pass it as load"):
        BagOfWords.load(tmp_path)
    loaded = BagOfWords.load(tmp_path, tokenizer=split_on_commas)
    np.testing.assert_array_equal(loaded.predict_proba(["a,b"]), m.predict_proba(["a,b"]))


def test_default_tokenizer_falls_back_to_lowercase_split(monkeypatch):
    monkeypatch.setitem(sys.modules, "bptt.data.tokenize", None)     # import now fails
    m = BagOfWords(epochs=0).fit(["Good , FUN ."], [1])
    assert m.tokenizer_name_ == "lowercase_split"
    assert m.vocabulary_ == [",", ".", "fun", "good"]


def test_misuse_fails_with_a_message():
    with pytest.raises(RuntimeError, match="not fitted"):
        BagOfWords().predict(["a"])
    with pytest.raises(ValueError, match=r"labels must have shape \(2,\)"):
        BagOfWords().fit(["a", "b"], [0, 1, 1])
    with pytest.raises(TypeError, match="single str"):
        BagOfWords(epochs=0).fit(["a"], [0]).predict("a")
    with pytest.raises(ValueError, match="empty vocabulary"):
        BagOfWords(min_freq=3).fit(["a b", "a"], [0, 1])


SIMPLE_PAIRS = 70       # pairs 1-70 differ only by a negation; 71-99 are the harder kinds


def test_negation_pairs_file_is_adjacent_minimal_pairs_in_sst_format():
    lines = PAIRS.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "sentence\tlabel"
    texts, labels = read_tsv(PAIRS)
    assert len(texts) == 198
    assert set(labels.tolist()) == {0, 1} and len(set(texts)) == len(texts)
    for k, (base, other, lb, lo) in enumerate(zip(texts[::2], texts[1::2], labels[::2], labels[1::2])):
        assert lb != lo, (base, other)
        assert base == base.lower() and base.endswith(" .") and other.endswith(" ."), (base, other)
        if k < SIMPLE_PAIRS:        # the second sentence is the first plus a negation
            added = set(other.split()) - set(base.split())
            assert added & NEGATORS, (base, other)
            assert not set(base.split()) & NEGATORS, base
        else:                       # a negation (or never/nobody/nothing/impossible) in the pair
            assert (set(base.split()) | set(other.split())) & (NEGATORS | HARD_NEGATORS), (base, other)


def test_negation_pairs_readme_names_the_data_relative_to_the_repository():
    """Its data paths work in any clone: repository-relative, no one machine's absolute path."""
    text = (REPO / "bench" / "negation_pairs.md").read_text(encoding="utf-8")
    assert "`../shared/data/sst2/*.tsv` beside the repository" in text
    assert not re.search(r"(?<![.\w])/(work|home|root|tmp|Users)/", text)


def test_negation_pairs_use_only_sst2_training_words_and_no_training_sentence():
    texts, _ = read_tsv(PAIRS)
    train, _ = read_tsv(shared_data("sst2", "train.tsv"))
    vocab = {w for t in train for w in t.split()}
    assert [w for t in texts for w in t.split() if w not in vocab] == []
    assert set(texts) & set(train) == set()
    assert "the film is never dull" in set(train)             # the closest: without its full stop


@pytest.fixture(scope="module")
def sst2_model():
    texts, labels = read_tsv(shared_data("sst2", "train.tsv"))
    start = time.perf_counter()
    model = BagOfWords().fit(texts, labels)                      # 67,349 phrases, ~2-3 s
    print(f"\nBagOfWords fit on GLUE SST-2 train ({len(texts)} phrases, {len(model.vocabulary_)} "
          f"tokens): {time.perf_counter() - start:.1f} s")
    return model


def test_sst2_dev_accuracy_is_above_the_sanity_floor(sst2_model):
    texts, labels = read_tsv(shared_data("sst2", "dev.tsv"))
    report = classification_report(labels, sst2_model.predict(texts), ["negative", "positive"])
    print(f"\nSST-2 dev (872 sentences):\n{report}")
    assert report.accuracy == pytest.approx(sst2_model.score(texts, labels))
    assert report.accuracy >= 0.78                              # a floor, typical BoW LR: ~0.80-0.82


# ---- readers on the real treebanks ------------------------------------------------------------
@pytest.fixture(scope="module")
def lines_train():
    return read_conllu(shared_data("ud-english", "UD_English-LinES", "en_lines-ud-train.conllu"))


# ---- baseline and helpers ---------------------------------------------------------------------
def test_most_frequent_tag_baseline_accuracy():
    train = [TaggedSentence(["the", "run", "ends"], ["DET", "NOUN", "VERB"]),
             TaggedSentence(["they", "run"], ["PRON", "VERB"]),
             TaggedSentence(["the", "run"], ["DET", "NOUN"]),
             TaggedSentence(["a", "dog"], ["DET", "NOUN"])]
    base = MostFrequentTag().fit(train)
    # run: NOUN 2, VERB 1 -> NOUN; unknown words -> NOUN (NOUN 3 = DET 3, tie broken alphabetically -> DET)
    assert base.default == "DET"
    assert base.predict(["they", "run", "fast"]) == ["PRON", "NOUN", "DET"]
    test = [TaggedSentence(["they", "run", "fast"], ["PRON", "VERB", "ADV"]),
            TaggedSentence(["the", "dog"], ["DET", "NOUN"])]
    result = base.evaluate(test)
    assert result["accuracy"] == pytest.approx(3 / 5)              # they, the, dog right
    assert (result["unknown_words"], result["accuracy_unknown"]) == (1, 0.0)
    assert result["accuracy_known"] == pytest.approx(3 / 4)


def test_baseline_on_lines_test(lines_train):
    """The figure that docs/tagger.md reports: 17,583 of 19,984 test words (88.0%)."""
    base = MostFrequentTag().fit(lines_train)
    test = read_conllu(shared_data("ud-english", "UD_English-LinES", "en_lines-ud-test.conllu"))
    result = base.evaluate(test)
    right = sum(p == g for s in test for p, g in zip(base.predict(s.words), s.tags))
    assert (result["tokens"], right) == (19984, 17583)
    assert result["accuracy"] == right / 19984
    assert result["unknown_words"] == 1839
