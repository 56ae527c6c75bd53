"""The sentiment classifier end to end: learns negation that a bag of words cannot, saves and
loads to identical predictions, explains word by word, and the shipped model works offline."""
import json

from pathlib import Path

import numpy as np
import pytest

from bptt import io
from bptt.jobs.sentiment import PRETRAINED, SentimentClassifier
from bptt.train import CHECKPOINT
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


# ---- pretrained vectors: fine-tuned, frozen, vocabulary extension -------------------------------
from helpers import NEGATIVE, POSITIVE  # noqa: E402

from bptt.data.vectors import load_word_vectors  # noqa: E402
from bptt.data.vocab import PAD_ID, UNK_ID  # noqa: E402

VEC_WORDS = (["the", "movie", "this", "film", "plot", "acting", "it", "is", "not", "."]
             + POSITIVE + NEGATIVE)
EXTRA = {"superb": "great", "dreadful": "awful"}        # never in training: copies of a known vector
SMALL = dict(cell="gru", hidden_size=12, bidirectional=False, pooling="last", embedding_dropout=0.0,
             output_dropout=0.0, epochs=2, batch_size=32, lr=0.01, seed=0, patience=None)


@pytest.fixture(scope="module")
def vector_file(tmp_path_factory):
    """An 8-d GloVe text file: the training words, then 'superb' = 'great', 'dreadful' = 'awful'
    (listed among the first words, as frequent words are), then filler words."""
    rng = np.random.default_rng(42)
    vec = {w: rng.normal(0, 0.5, 8).round(4) for w in VEC_WORDS}
    order = VEC_WORDS[:5] + list(EXTRA) + VEC_WORDS[5:] + [f"filler{i}" for i in range(20)]
    vec.update({e: vec[w] for e, w in EXTRA.items()})
    vec.update({f"filler{i}": rng.normal(0, 0.5, 8).round(4) for i in range(20)})
    path = tmp_path_factory.mktemp("vectors") / "tiny.8d.txt"
    path.write_text("".join(w + " " + " ".join(str(x) for x in vec[w]) + "\n" for w in order))
    return path


def _fit(vector_file, **kw):
    texts, labels = negation_data(400, 3)
    return SentimentClassifier(**{**SMALL, "vectors": str(vector_file), **kw}).fit(
        texts, labels, *negation_data(100, 4), progress=False)


def test_frozen_vectors_stay_bit_identical_through_training(vector_file, capsys):
    clf = _fit(vector_file, freeze_vectors=True)
    assert "vectors: found 20 of 20 words (100.0%) in tiny.8d.txt" in capsys.readouterr().out
    found, _ = load_word_vectors(vector_file, clf.vocab_.tokens[2:], dtype=np.float32)
    weight = clf.model_.embedding.params["weight"]
    assert weight.shape == (22, 8) and clf.model_.config.embedding_dim == 8
    np.testing.assert_array_equal(weight[2:], found)                     # every word row, bit for bit
    np.testing.assert_array_equal(weight[PAD_ID], 0.0)
    np.testing.assert_array_equal(weight[UNK_ID], found.mean(axis=0))    # <unk>: the average word
    assert clf.trainer_.state.global_step > 0


def test_fine_tuned_vectors_start_from_the_file_and_move(vector_file):
    clf = _fit(vector_file)
    good = clf.vocab_.encode(["good"])[0]
    expected, _ = load_word_vectors(vector_file, ["good"])
    moved = np.abs(clf.model_.embedding.params["weight"][good] - expected[0]).max()
    assert 1e-3 < moved < 0.5                                            # trained, from the file's vector


def test_vocabulary_extension_gives_an_unseen_word_its_vector_at_prediction(vector_file, capsys, tmp_path):
    clf = _fit(vector_file, freeze_vectors=True, vectors_vocab=10)
    assert "2 words of the file added to the vocabulary" in capsys.readouterr().out
    assert clf.vocab_.tokens[-2:] == ["superb", "dreadful"]               # first 10 lines, not in training
    superb, great = clf.vocab_.encode(["superb", "great"])
    np.testing.assert_array_equal(clf.model_.embedding.params["weight"][superb],
                                  clf.model_.embedding.params["weight"][great])
    clf.save(tmp_path / "m")
    loaded = SentimentClassifier.load(tmp_path / "m")
    p = loaded.predict_proba(["the movie is superb .", "the movie is great .", "the movie is not dreadful .",
                              "the movie is not awful ."])
    np.testing.assert_array_equal(p[0], p[1])                            # the same vector, the same answer
    np.testing.assert_array_equal(p[2], p[3])
    assert loaded.predict(["the movie is superb ."]) == ["positive"]
    without = _fit(vector_file, freeze_vectors=True)
    assert without.vocab_.encode(["superb"])[0] == 1                      # <unk> without the extension


def test_vector_settings_errors_name_what_is_wrong(vector_file):
    with pytest.raises(ValueError, match=r"tiny\.8d\.txt:1: dimension mismatch: 8 values per vector, expected dim=16"):
        _fit(vector_file, embedding_dim=16)
    with pytest.raises(ValueError, match="vectors_vocab and freeze_vectors need vectors"):
        SentimentClassifier(**SMALL, freeze_vectors=True).fit(*negation_data(50, 0), progress=False)


def test_word_dropout_changes_training_and_resumes_exactly(tmp_path):
    texts, labels = negation_data(300, 5)
    dev = negation_data(60, 6)
    settings = {**SMALL, "embedding_dim": 8, "word_dropout": 0.2, "epochs": 2}
    straight = SentimentClassifier(**settings).fit(texts, labels, *dev, out_dir=tmp_path / "a", progress=False)
    plain = SentimentClassifier(**{**settings, "word_dropout": 0.0}).fit(texts, labels, *dev, progress=False)
    assert not np.array_equal(straight.model_.params["fc.weight"], plain.model_.params["fc.weight"])
    first = SentimentClassifier(**{**settings, "epochs": 1}).fit(texts, labels, *dev, out_dir=tmp_path / "b",
                                                                  progress=False)
    assert first.trainer_.state.epoch == 1
    resumed = SentimentClassifier(**settings).fit(texts, labels, *dev, out_dir=tmp_path / "b",
                                                  resume=tmp_path / "b" / "checkpoint.safetensors",
                                                  progress=False)
    for name, p in straight.model_.params.items():
        np.testing.assert_array_equal(resumed.model_.params[name], p, err_msg=name)


# ---- ensembles ---------------------------------------------------------------------------------
ENSEMBLE = {**SMALL, "embedding_dim": 8, "ensemble": 2, "epochs": 2}


def test_an_ensemble_averages_members_trained_from_their_own_seeds(tmp_path):
    texts, labels = negation_data(300, 7)
    dev = negation_data(60, 8)
    clf = SentimentClassifier(**ENSEMBLE).fit(texts, labels, *dev, out_dir=tmp_path / "run", progress=False)
    assert len(clf.members_) == 2 and clf.model_ is clf.members_[0]
    a, b = clf.members_
    assert not np.array_equal(a.params["fc.weight"], b.params["fc.weight"])
    single = SentimentClassifier(**{**ENSEMBLE, "ensemble": 1}).fit(texts, labels, *dev, progress=False)
    for name, p in single.model_.params.items():             # member 0 is the single model, exactly
        np.testing.assert_array_equal(a.params[name], p, err_msg=name)
    probe = ["the movie is not good .", "it is great ."]
    seqs = [clf.vocab_.encode(t.split()) for t in probe]
    each = [clf._predict_ids(seqs, members=[m]) for m in clf.members_]          # (N, C) per member
    assert not np.allclose(each[0], each[1])
    np.testing.assert_allclose(clf.predict_proba(probe), (each[0] + each[1]) / 2, rtol=1e-12)
    loaded = SentimentClassifier.load(tmp_path / "run" / "best")
    np.testing.assert_array_equal(loaded.predict_proba(probe), clf.predict_proba(probe))
    assert (tmp_path / "run" / "best" / "member1" / "model.safetensors").is_file()
    assert clf.dev_accuracy_ == clf.score(*dev)
    events = [json.loads(line) for line in open(tmp_path / "run" / "member1" / "metrics.jsonl")]
    assert events[-1]["event"] == "ensemble" and events[-1]["members"] == 2


def test_an_ensemble_stopped_by_its_time_budget_resumes_exactly(tmp_path, monkeypatch):
    import itertools
    import time as time_module
    texts, labels = negation_data(300, 7)
    dev = negation_data(60, 8)
    SentimentClassifier(**ENSEMBLE).fit(texts, labels, *dev, out_dir=tmp_path / "a", progress=False)
    clock = itertools.count(0.0, 1.0)
    with monkeypatch.context() as m:
        m.setattr(time_module, "perf_counter", lambda: next(clock))
        cut = SentimentClassifier(**ENSEMBLE).fit(texts, labels, *dev, out_dir=tmp_path / "b",
                                                  progress=False, time_budget=40.0)
    assert len(cut.members_) == 1 and cut.trainer_.stop_reason == "time budget"
    resumed = SentimentClassifier(**ENSEMBLE).fit(texts, labels, *dev, out_dir=tmp_path / "b",
                                                  resume=tmp_path / "b", progress=False)
    assert len(resumed.members_) == 2
    for k in range(2):
        tensors = {n: v for n, v in io.load_params(tmp_path / "b" / f"member{k}" / CHECKPOINT)[0].items()}
        expected = io.load_params(tmp_path / "a" / f"member{k}" / CHECKPOINT)[0]
        for name, value in expected.items():
            if name.startswith("model/"):
                np.testing.assert_array_equal(tensors[name], value, err_msg=f"member {k} {name}")


# ---- what ships -------------------------------------------------------------------------------
def test_every_shipped_file_is_package_data():
    """pip install . copies exactly the files that pyproject's package-data patterns match: every
    file of every shipped model (an ensemble's member folders included) must match one."""
    import fnmatch
    import tomllib
    from bptt.jobs.sentiment import PRETRAINED_ROOT, SHIPPED
    from bptt.transfer import shipped_lms
    repo = Path(__file__).resolve().parents[2]                  # the source tree, installed or not
    root = repo / "src" / "bptt"
    patterns = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["bptt"]
    files = sorted(str(p.relative_to(root)) for p in (root / "pretrained").rglob("*") if p.is_file()
                   and "__pycache__" not in p.parts)
    assert {f.split("/")[1] for f in files} == set(SHIPPED) | set(shipped_lms())   # the review LMs too
    assert set(shipped_lms()) == {"imdb-lm", "imdb-lm-backward"}
    assert [f for f in files if not any(fnmatch.fnmatch(f, pat) for pat in patterns)] == []
    installed = sorted(str(p.relative_to(PRETRAINED_ROOT.parent)) for p in PRETRAINED_ROOT.rglob("*")
                       if p.is_file() and "__pycache__" not in p.parts)
    assert installed == files                     # what bptt loads from is what the tree ships


def test_every_shipped_weights_file_is_checksummed_float16_and_loads_exactly():
    """Each weights file of each shipped model, an ensemble's member folders included, was
    written by bptt.io (SHA-256 of every tensor); the members are listed with their SHA-256 in
    sentiment.json. The tensors are float16 (explicitly: the model is float32, and float16 is
    the one narrower type io widens, exactly); loading gives the stored values bit for bit."""
    import safetensors

    from bptt.jobs.sentiment import PRETRAINED_ROOT, SHIPPED
    for name in SHIPPED:
        directory = PRETRAINED_ROOT / name
        clf = SentimentClassifier.pretrained(name)
        doc = json.loads((directory / "sentiment.json").read_text())
        assert doc["members"] == len(clf.members_) == clf.settings.ensemble
        assert sorted(doc.get("member_files", {})) == [f"member{k}/model.safetensors"
                                                        for k in range(1, len(clf.members_))]
        for k, member in enumerate(clf.members_):
            path = directory / (f"member{k}" if k else "") / "model.safetensors"
            with safetensors.safe_open(path, "numpy") as f:
                assert "sha256" in (f.metadata() or {}), f"{path} has no checksums"
            stored, _ = io.load_params(path)                         # the checksums verified
            if k:
                assert doc["member_files"][f"member{k}/model.safetensors"] == io.file_digest(path)
            assert member.config.dtype == "float32" and set(stored) == set(member.params)
            for key, value in stored.items():
                assert value.dtype == np.float16, (path, key)
                np.testing.assert_array_equal(member.params[key], value.astype(np.float32), err_msg=key)


def test_a_changed_member_folder_is_refused(tmp_path):
    """A member's weights replaced by another's (same shapes, each file intact) are caught by
    the SHA-256 in sentiment.json."""
    import shutil

    from bptt.jobs.sentiment import PRETRAINED_ROOT
    shutil.copytree(PRETRAINED_ROOT / "imdb", tmp_path / "imdb")
    shutil.copy(tmp_path / "imdb" / "member2" / "model.safetensors", tmp_path / "imdb" / "member1")
    with pytest.raises(ValueError, match=r"member1/model\.safetensors: changed or damaged since the model was "
                                         r"saved \(its SHA-256 differs from the one in sentiment\.json\)"):
        SentimentClassifier.load(tmp_path / "imdb")


def test_shipped_imdb_model_reads_a_review_from_any_directory(tmp_path, monkeypatch):
    from bptt.cli import main
    monkeypatch.chdir(tmp_path)
    clf = SentimentClassifier.pretrained("imdb")
    assert len(clf.members_) == 4 and clf.settings.ensemble == 4
    review = ("I went in expecting a dull costume drama. <br /><br />Instead the acting is superb, the "
              "script is sharp and funny, and the ending moved me. One of the best films of the year.")
    assert clf.predict([review, "Two hours of my life I will never get back. Awful, boring and badly "
                                "acted; avoid it."]) == ["positive", "negative"]
    (tmp_path / "two.tsv").write_text(f"sentence\tlabel\n{review}\t1\n", encoding="utf-8")
    assert main(["evaluate", "imdb", "two.tsv", "--json"]) == 0
