"""``prefix_probabilities`` (the batched prefixes, the forward direction's states shared) gives
the class probabilities of running every prefix as a text of its own, for every cell, pooling,
direction, depth and path, in float64; and ``explain`` uses it."""
import numpy as np
import pytest

from bptt.backend import numba_installed, use_backend
from bptt.explanation import prefix_probabilities, prefix_probabilities_reference
from bptt.jobs.sentiment import SentimentClassifier

WORDS = "the movie is not good but the acting is great and i liked it a lot".split()


def classifier(cell: str, pooling: str, bidirectional: bool, num_layers: int, ensemble: int = 1):
    """An untrained classifier in float64 with random non-zero weights and biases."""
    clf = SentimentClassifier(cell=cell, pooling=pooling, bidirectional=bidirectional, num_layers=num_layers,
                              embedding_dim=6, hidden_size=5, ensemble=ensemble, dtype="float64", seed=3)
    clf._build([WORDS], np.array(["negative", "neutral", "positive"]))
    rng = np.random.default_rng(7)
    for member in clf.members_:
        for name, p in member.params.items():
            p[...] = rng.uniform(-0.8, 0.8, p.shape)         # biases too: none left at zero
    return clf


@pytest.mark.parametrize("cell", ["rnn_tanh", "lstm", "gru"])
@pytest.mark.parametrize("pooling", ["last", "mean", "max", "max+mean", "last+max+mean"])
@pytest.mark.parametrize("bidirectional,num_layers", [(False, 1), (True, 1), (False, 2), (True, 2)])
def test_batched_prefixes_equal_one_run_per_prefix(cell, pooling, bidirectional, num_layers):
    clf = classifier(cell, pooling, bidirectional, num_layers)
    ids = clf.vocab_.encode(WORDS * 2)                          # (32,)
    ends = np.arange(1, len(ids) + 1)
    want = prefix_probabilities_reference(clf, ids, ends)       # (32, 3)
    got = prefix_probabilities(clf, ids, ends, cells=100)       # batches of 3 to 100 prefixes
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)
    assert np.ptp(want[:, 0]) > 1e-3                           # the prefixes do differ


@pytest.mark.parametrize("path", ["reference", "numpy"] + (["numba"] if numba_installed() else []))
def test_every_path_and_an_ensemble_with_some_prefixes(path):
    clf = classifier("lstm", "max+mean", True, 1, ensemble=2)
    ids = clf.vocab_.encode(WORDS)
    ends = np.array([3, 16, 1, 9, 10])                          # any order, as explain's may be
    with use_backend(path):
        np.testing.assert_allclose(prefix_probabilities(clf, ids, ends, cells=20),
                                   prefix_probabilities_reference(clf, ids, ends), rtol=1e-12, atol=1e-13)


def test_explain_answers_with_the_batched_prefixes():
    clf = classifier("gru", "max", True, 1)
    steps = clf.explain(" ".join(WORDS), max_steps=50)          # 136 steps > 50: 16 prefixes... of 16 words
    ids = clf.vocab_.encode(WORDS)
    want = prefix_probabilities_reference(clf, ids, np.arange(1, 17))
    np.testing.assert_allclose(np.stack([p for _, p in steps]), want, rtol=1e-12)
    steps = clf.explain(" ".join(WORDS * 3), max_steps=100)     # 48 words: 16 rows of 3 words
    assert len(steps) == 16 and steps[0][0] == "the movie is"
    want = prefix_probabilities_reference(clf, clf.vocab_.encode(WORDS * 3), np.arange(3, 49, 3))
    np.testing.assert_allclose(np.stack([p for _, p in steps]), want, rtol=1e-12)
