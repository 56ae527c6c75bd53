"""The tagging job: word-shape features, and the neural tagger learning tags from context on a
small ambiguous language, where the most-frequent-tag baseline cannot."""


from bptt.baseline import MostFrequentTag
from bptt.jobs.tagger import SequenceTagger, word_shape
from helpers import SMALL_TAGGER, toy_sentences

# ---- readers on the real treebanks ------------------------------------------------------------


def test_word_shape_classes():
    assert [word_shape(w) for w in ["Harry", "ANSI", "the", "3.14", "1990s", ",", "e-mail", "Jean-Paul",
                                    "McDonald", "I"]] == \
        ["Xx", "X", "x", "d", "dx", "p", "x-", "Xx-", "xX", "Xx"]


# ---- the neural tagger on a small ambiguous language ------------------------------------------


def test_tagger_learns_tags_from_context_that_the_baseline_cannot(tmp_path):
    train, test = toy_sentences(300, 0), toy_sentences(100, 1)
    tagger = SequenceTagger(**SMALL_TAGGER, features=("suffix", "shape")).fit(train, test[:20], progress=False)
    ours = tagger.evaluate(test)["accuracy"]
    base = MostFrequentTag().fit(train).evaluate(test)["accuracy"]
    assert ours == 1.0 and base < 0.95
    tagger.save(tmp_path / "m")
    loaded = SequenceTagger.load(tmp_path / "m")
    assert loaded.predict([s.words for s in test]) == tagger.predict([s.words for s in test])
    assert loaded.tag("the duck saw a run .") == list(zip("the duck saw a run .".split(),
                                                          ["DET", "NOUN", "VERB", "DET", "NOUN", "PUNCT"]))
    assert tagger.predict([[], ["the"]])[0] == []                  # an empty sentence has no tags
