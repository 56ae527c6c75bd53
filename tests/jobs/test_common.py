"""The glue every job shares: unknown settings, the seeded dev hold-out, and a job directory
(saved, reloaded, and refused with a message naming the file when it does not fit together)."""
import json

import numpy as np
import pytest

from bptt.data.vocab import Vocabulary
from bptt.jobs._common import hold_out, settings_of
from bptt.jobs.language_model import LMSettings, TextModel
from bptt.jobs.sentiment import SentimentClassifier, SentimentSettings
from bptt.jobs.tagger import SequenceTagger
from bptt.jobs.translation import Translator
from bptt.models import LanguageModel, LanguageModelConfig
from helpers import SMALL_TAGGER, negation_data, toy_sentences


@pytest.mark.parametrize("estimator", [SentimentClassifier, SequenceTagger, Translator])
def test_every_estimator_refuses_unknown_settings(estimator):
    with pytest.raises(TypeError, match=r"unknown settings \['hidden'\]; known: \[.*'hidden_size'"):
        estimator(hidden=3)
    assert estimator(epochs=2).settings.epochs == 2


def test_settings_of_builds_the_dataclass():
    assert settings_of(SentimentSettings, {"lr": 0.5}) == SentimentSettings(lr=0.5)


def test_hold_out_is_a_seeded_one_in_k_split_of_parallel_columns():
    texts, labels = [f"t{i}" for i in range(45)], np.arange(45)
    (train_t, train_y), (dev_t, dev_y) = hold_out(20, 3, texts, labels)
    order = np.random.default_rng(3).permutation(45)
    assert dev_t == [f"t{i}" for i in order[:2]] and train_t == [f"t{i}" for i in order[2:]]   # 45 // 20
    np.testing.assert_array_equal(dev_y, order[:2])
    np.testing.assert_array_equal(train_y, order[2:])
    assert isinstance(dev_y, np.ndarray) and isinstance(dev_t, list)
    (small,), (one,) = hold_out(10, 0, [1, 2, 3])
    assert len(one) == 1 and sorted(small + one) == [1, 2, 3]                 # at least one
    assert hold_out(20, 4, texts) == hold_out(20, 4, texts) != hold_out(20, 5, texts)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A sentiment model and a tagger, each trained one epoch and saved."""
    root = tmp_path_factory.mktemp("jobs")
    texts, labels = negation_data(60, 0)
    SentimentClassifier(embedding_dim=4, hidden_size=4, epochs=1).fit(texts, labels, progress=False) \
        .save(root / "sentiment")
    tagger = SequenceTagger(**{**SMALL_TAGGER, "epochs": 1}).fit(toy_sentences(30, 0), progress=False)
    tagger.save(root / "tagger")
    return root


def _without_file_checksums(directory):
    """Rewrite the weights as a model saved before the files beside it were checksummed."""
    from bptt import io
    tensors, meta = io.load_params(directory / io.WEIGHTS_FILE)
    meta.pop(io.COMPANIONS)
    io.save_params(directory / io.WEIGHTS_FILE, tensors, meta)


@pytest.mark.parametrize("job, file", [("sentiment", "vocab.json"), ("sentiment", "sentiment.json"),
                                       ("tagger", "features.json"), ("tagger", "tagger.json")])
def test_a_file_changed_since_the_model_was_saved_is_refused(saved, tmp_path, job, file):
    import shutil
    shutil.copytree(saved / job, tmp_path / "m")
    path = tmp_path / "m" / file
    path.write_text(path.read_text() + " ")                                # valid JSON, other bytes
    with pytest.raises(ValueError, match=rf"m/{file}: changed or damaged since the model was saved \(its "
                                         rf"SHA-256 differs from the one in model.safetensors\)"):
        (SentimentClassifier if job == "sentiment" else SequenceTagger).load(tmp_path / "m")
    path.unlink()
    with pytest.raises(FileNotFoundError, match=rf"m.*{file}"):
        (SentimentClassifier if job == "sentiment" else SequenceTagger).load(tmp_path / "m")


def test_a_vocabulary_that_does_not_fit_the_model_is_refused_naming_the_file(saved, tmp_path):
    import shutil
    shutil.copytree(saved / "sentiment", tmp_path / "s")
    _without_file_checksums(tmp_path / "s")
    Vocabulary(["<pad>", "<unk>", "a"]).save(tmp_path / "s" / "vocab.json")
    with pytest.raises(ValueError, match=r"the model does not match the files beside it: \d+ words in the "
                                         r"model, 3 in vocab.json"):
        SentimentClassifier.load(tmp_path / "s")
    shutil.copytree(saved / "tagger", tmp_path / "t")
    _without_file_checksums(tmp_path / "t")
    doc = json.loads((tmp_path / "t" / "tagger.json").read_text())
    doc["tags"] = doc["tags"][:-1]
    (tmp_path / "t" / "tagger.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"\d+ tags in the model, \d+ in tagger.json"):
        SequenceTagger.load(tmp_path / "t")


def test_a_malformed_or_missing_job_file_is_named(saved, tmp_path):
    import shutil
    shutil.copytree(saved / "sentiment", tmp_path / "s")
    (tmp_path / "s" / "sentiment.json").write_text(json.dumps({"classes": ["a", "b"]}))
    with pytest.raises(ValueError, match=r"sentiment.json: malformed sentiment model settings: 'settings'"):
        SentimentClassifier.load(tmp_path / "s")
    with pytest.raises(FileNotFoundError, match=r"not a translator model \(no translator.json\)"):
        Translator.load(tmp_path / "s")
    shutil.copy(saved / "sentiment" / "sentiment.json", tmp_path / "s")
    shutil.copy(saved / "tagger" / "tagger.json", tmp_path / "s")        # a tagger's files beside
    shutil.copy(saved / "tagger" / "features.json", tmp_path / "s")      # a Classifier
    with pytest.raises(ValueError, match=r"s/config.json: expected a Tagger, got Classifier"):
        SequenceTagger.load(tmp_path / "s")


def test_a_text_model_round_trips_and_checks_its_vocabulary(tmp_path):
    vocab = Vocabulary(["<pad>", "<unk>", "a", "b"])
    model = LanguageModel(LanguageModelConfig(4, 2, 3, "gru"), np.random.default_rng(0))
    TextModel(model, vocab, LMSettings()).save(tmp_path / "m")
    loaded = TextModel.load(tmp_path / "m")
    assert loaded.vocab == vocab and loaded.settings == LMSettings() and loaded.classes == ()
    np.testing.assert_array_equal(loaded.model.params["fc.weight"], model.params["fc.weight"])
    _without_file_checksums(tmp_path / "m")
    Vocabulary(["<pad>", "<unk>", "a"]).save(tmp_path / "m" / "vocab.json")
    with pytest.raises(ValueError, match="4 tokens in the model, 3 in vocab.json"):
        TextModel.load(tmp_path / "m")


def test_an_unfitted_estimator_says_so():
    with pytest.raises(RuntimeError, match="this Translator is not trained: call fit"):
        Translator().translate(["x"])
    with pytest.raises(RuntimeError, match="this SentimentClassifier is not trained"):
        SentimentClassifier().save("never")
