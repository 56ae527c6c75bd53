"""The sentiment classifier end to end: learns negation that a bag of words cannot, saves and
loads to identical predictions, explains word by word, and the shipped model works offline."""
import numpy as np
import pytest

from bptt.jobs.sentiment import PRETRAINED, SentimentClassifier
from helpers import negation_data


@pytest.fixture(scope="module")
def trained():
    texts, labels = negation_data(1500, 0)
    dev_texts, dev_labels = negation_data(300, 1)
    clf = SentimentClassifier(cell="gru", embedding_dim=16, hidden_size=24, bidirectional=False,
                              pooling="last", embedding_dropout=0.0, output_dropout=0.0,
                              epochs=5, batch_size=32, lr=0.01, seed=0)
    clf.fit(texts, labels, dev_texts, dev_labels, progress=False)
    return clf, dev_texts, dev_labels


def test_learns_negation(trained):
    clf, dev_texts, dev_labels = trained
    assert clf.classes_.tolist() == ["negative", "positive"]
    assert clf.score(dev_texts, dev_labels) > 0.97
    assert clf.predict(["the movie is not good .", "the movie is good .", "it is not bad ."]) == \
        ["negative", "positive", "positive"]


def test_save_load_gives_identical_predictions(trained, tmp_path):
    clf, dev_texts, _ = trained
    clf.save(tmp_path / "m")
    again = SentimentClassifier.load(tmp_path / "m")
    np.testing.assert_array_equal(again.predict_proba(dev_texts), clf.predict_proba(dev_texts))
    assert again.settings == clf.settings and again.classes_.tolist() == clf.classes_.tolist()


def test_explain_gives_the_prefix_probabilities(trained):
    clf, _, _ = trained
    steps = clf.explain("The movie is not good.")
    assert [tok for tok, _ in steps] == ["the", "movie", "is", "not", "good", "."]
    words = ["the", "movie", "is", "not", "good", "."]
    for k, (_, p) in enumerate(steps):
        np.testing.assert_allclose(p, clf.predict_proba([" ".join(words[:k + 1])])[0], rtol=1e-6)
    assert steps[-1][1][1] < 0.5 and steps[-2][1][1] < 0.5      # "not good" is negative


def test_unknown_settings_and_labels_are_refused():
    with pytest.raises(TypeError, match="unknown settings"):
        SentimentClassifier(hidden=3)
    with pytest.raises(ValueError, match="not one of the classes"):
        SentimentClassifier(epochs=1).fit(["a", "b"], ["x", "y"], ["a"], ["z"], progress=False)


def test_shipped_model_gets_negation_right():
    assert (PRETRAINED / "model.safetensors").stat().st_size + (PRETRAINED / "vocab.json").stat().st_size < 5e6
    clf = SentimentClassifier.pretrained()
    assert clf.predict(["this movie is not good", "this movie is good",
                        "this movie is not bad", "this movie is bad"]) == \
        ["negative", "positive", "positive", "negative"]
