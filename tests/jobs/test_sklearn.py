"""The job estimators under scikit-learn: get_params / set_params / clone over the settings, the
API checks of ``sklearn.utils.estimator_checks`` that apply to text input, their numeric-only
siblings redone on text, and ``cross_val_score`` / ``GridSearchCV`` on a slice of SST-2.

Of the API checks scikit-learn 1.9 runs on every estimator, these do not apply, by design:
``check_no_attributes_set_in_init`` and ``check_do_not_raise_errors_in_init_or_set_params`` (the
constructor takes ``**settings`` into one validated ``settings`` dataclass, so a misspelt name
fails at once instead of at fit), ``check_fit_score_takes_y`` (the second argument of fit is
named ``labels``, and the tagger and translator take none), ``check_estimators_unfitted``
(scikit-learn's own NotFittedError is required; ours is a RuntimeError, and bptt does not
import scikit-learn), ``check_n_features_in_after_fitting``, ``check_readonly_memmap_input``,
``check_positive_only_tag_during_fit`` (numeric matrices), ``check_mixin_order`` (no
BaseEstimator), ``check_estimators_pickle`` (a fitted estimator keeps ``trainer_``, whose
closures hold the training data, and does not pickle; bptt saves with ``save`` / ``load``,
never pickle; an unfitted one pickles, which is what ``GridSearchCV(n_jobs=2)`` sends).
``check_estimators_overwrite_params``, ``check_dont_overwrite_parameters``,
``check_estimators_fit_returns_self`` and ``check_fit_idempotent`` feed numbers; their
properties are checked here on texts.
"""
import pickle
import warnings
from dataclasses import asdict

import joblib
import numpy as np
import pytest
from sklearn.base import clone, is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold, cross_val_score
from sklearn.utils import estimator_checks as checks
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted

from bptt.data.readers import read_dataset
from bptt.jobs.sentiment import SentimentClassifier
from bptt.jobs.tagger import SequenceTagger
from bptt.jobs.translation import Translator
from helpers import SMALL_TAGGER, negation_data, toy_sentences
from shared_data import shared_data

ESTIMATORS = [SentimentClassifier, SequenceTagger, Translator]
TINY = dict(embedding_dim=16, hidden_size=16, cell="gru", bidirectional=False, pooling="mean",
            embedding_dropout=0.0, output_dropout=0.0, epochs=2, lr=0.05, patience=None)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_get_params_are_the_settings_and_rebuild_the_estimator(estimator):
    est = estimator(epochs=2, hidden_size=7)
    params = est.get_params()
    assert params == {**asdict(est.settings), "verbose": 1} and params["epochs"] == 2 and params["hidden_size"] == 7
    assert est.get_params(deep=False) == params
    assert estimator(**params).settings == est.settings


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_set_params_replaces_settings_and_returns_self(estimator):
    est = estimator(epochs=2)
    assert est.set_params(hidden_size=9, lr=0.1) is est
    assert est.settings == estimator(epochs=2, hidden_size=9, lr=0.1).settings
    before = est.settings
    with pytest.raises(ValueError, match=rf"invalid parameter 'hidden' for {estimator.__name__}; "
                                         r"valid parameters: \[.*'hidden_size'"):
        est.set_params(hidden_size=3, hidden=3)
    assert est.settings is before                               # nothing set when one name is wrong


def test_set_params_runs_the_settings_checks():
    tagger = SequenceTagger()
    with pytest.raises(ValueError, match="unknown feature 'colour'"):
        tagger.set_params(features=["suffix", "colour"])
    assert tagger.settings.features == ("suffix", "shape")
    assert tagger.set_params(features=["suffix"]).settings.features == ("suffix",)
    with pytest.raises(ValueError, match="level must be 'char' or 'word', got 'byte'"):
        Translator().set_params(level="byte")


def test_repr_names_the_settings_that_differ_from_the_defaults():
    assert repr(SentimentClassifier(hidden_size=7, cell="gru", lr=2e-3)) == \
        "SentimentClassifier(cell='gru', hidden_size=7)"
    assert repr(SequenceTagger()) == "SequenceTagger()"


@pytest.fixture(scope="module")
def fitted():
    texts, labels = negation_data(200, 0)
    clf = SentimentClassifier(**{**TINY, "epochs": 1}).fit(texts, labels, progress=False)
    return clf, texts, labels


def test_clone_is_unfitted_with_the_same_settings(fitted):
    clf, texts, _ = fitted
    twin = clone(clf)
    assert type(twin) is SentimentClassifier and twin.settings == clf.settings
    assert not hasattr(twin, "model_") and not hasattr(twin, "classes_")
    with pytest.raises(NotFittedError):
        check_is_fitted(twin)
    check_is_fitted(clf)
    tagger = SequenceTagger(features=["shape"])
    assert clone(tagger).settings.features == ("shape",)
    assert pickle.loads(pickle.dumps(twin)).settings == clf.settings          # unfitted: pickles


def test_scikit_learn_sees_a_text_classifier_and_two_estimators_without_y():
    tags = get_tags(SentimentClassifier())
    assert is_classifier(SentimentClassifier()) and tags.target_tags.required
    assert tags.input_tags.string and tags.input_tags.one_d_array and not tags.input_tags.two_d_array
    for other in (SequenceTagger(), Translator()):
        tags = get_tags(other)
        assert not is_classifier(other) and not tags.target_tags.required and not tags.input_tags.string


@pytest.mark.parametrize("check", [checks.check_estimator_cloneable, checks.check_estimator_tags_renamed,
                                   checks.check_valid_tag_types, checks.check_estimator_repr,
                                   checks.check_get_params_invariance, checks.check_set_params,
                                   checks.check_parameters_default_constructible],
                         ids=lambda check: check.__name__)
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_scikit_learn_api_checks_that_apply_to_text_pass(estimator, check):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check(estimator.__name__, estimator(epochs=1, hidden_size=5))
    # check_set_params tries -inf, inf, None on every setting; where the settings refuse one,
    # it warns, and it warns again if the refused call changed the parameters anyway
    assert not [w for w in caught if "changed after set_params raised" in str(w.message)]


def test_fit_returns_self_adds_only_fitted_attributes_and_leaves_the_settings(fitted):
    _, texts, labels = fitted
    clf = SentimentClassifier(**{**TINY, "epochs": 1})
    settings, params_hash = clf.settings, joblib.hash(clf.get_params())
    assert clf.fit(np.array(texts), np.array(labels), progress=False) is clf   # arrays, as sklearn passes
    assert clf.settings is settings and joblib.hash(clf.get_params()) == params_hash
    added = set(vars(clf)) - {"settings", "verbose"}
    assert added >= {"classes_", "model_", "trainer_", "vocab_"} and all(a.endswith("_") for a in added)


@pytest.mark.parametrize("estimator, data", [
    (SentimentClassifier, lambda: negation_data(80, 0)), (SequenceTagger, lambda: (toy_sentences(40, 0),)),
    (Translator, lambda: ([("abc", "cba"), ("hello", "olleh"), ("xy", "yx")] * 10,))])
def test_verbose_0_fits_silently_and_1_prints_a_line_per_epoch(estimator, data, capsys):
    """As scikit-learn's estimators: ``verbose=0`` is silent inside cross_val_score or a grid
    search; the default, 1, is what the command line shows (a line per epoch)."""
    small = dict(embedding_dim=4, hidden_size=4, epochs=2, patience=None)
    estimator(verbose=0, **small).fit(*data(), progress=False)
    assert capsys.readouterr() == ("", "")
    loud = estimator(**small)
    assert loud.get_params()["verbose"] == 1 and clone(loud.set_params(verbose=0)).verbose == 0
    estimator(**small).fit(*data(), progress=False)
    assert [line.split(":")[0] for line in capsys.readouterr().out.splitlines()] == ["epoch 1", "epoch 2"]
    assert repr(estimator(verbose=0)) == f"{estimator.__name__}(verbose=0)"


def test_fitting_twice_predicts_the_same(fitted):
    clf, texts, labels = fitted
    again = clone(clf).fit(texts, labels, progress=False)
    np.testing.assert_array_equal(again.predict_proba(texts), clf.predict_proba(texts))


def test_predictions_are_values_of_classes_in_its_order():
    texts, labels = negation_data(200, 1)
    names = {"positive": "yes", "negative": "no"}
    three = np.array([names[lab] if i % 10 else "maybe" for i, lab in enumerate(labels)])
    clf = SentimentClassifier(**{**TINY, "epochs": 1}).fit(texts, three, progress=False)
    assert isinstance(clf.classes_, np.ndarray) and clf.classes_.tolist() == ["maybe", "no", "yes"]
    proba = clf.predict_proba(texts)
    assert proba.shape == (200, 3)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    assert clf.predict(texts) == clf.classes_[proba.argmax(1)].tolist()
    assert clf.score(texts, three) == np.mean(np.array(clf.predict(texts)) == three)


def test_integer_labels_stay_integers_through_fit_predict_save_and_load(fitted, tmp_path):
    _, texts, labels = fitted
    y = np.array([int(lab == "positive") for lab in labels])            # 0 / 1, as sklearn users have them
    clf = SentimentClassifier(**{**TINY, "epochs": 1}).fit(texts, y, progress=False)
    assert clf.classes_.tolist() == [0, 1] and clf.classes_.dtype.kind == "i"
    pred = clf.predict(texts)
    assert set(pred) <= {0, 1} and all(type(p) is int for p in pred)
    assert clf.score(texts, y) == np.mean(np.array(pred) == y)
    everything = [(np.arange(len(y)), np.arange(len(y)))]          # one split: fit and score on all
    scores = cross_val_score(clone(clf), np.array(texts), y, cv=everything, scoring="accuracy")
    assert scores[0] == clf.score(texts, y)                         # sklearn's scorer compares ints to ints
    clf.save(tmp_path / "m")
    again = SentimentClassifier.load(tmp_path / "m")
    assert again.classes_.tolist() == [0, 1] and again.predict(texts) == pred
    with pytest.raises(ValueError, match=r"label 2 is not one of the classes \(0, 1\)"):
        clf.score(texts[:2], [0, 2])
    with pytest.raises(ValueError, match="labels mix strings and numbers"):
        SentimentClassifier(**TINY).fit(texts[:4], [0, "positive", 1, "negative"], progress=False)


# ---- model selection on SST-2 ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sst2():
    """2,000 training phrases of SST-2 and 2,000 held-out ones (a seeded draw), labels as names."""
    data, _ = read_dataset(shared_data("sst2", "train.tsv"))
    order = np.random.default_rng(0).permutation(len(data.texts))
    texts, labels = np.array(data.texts, dtype=object), np.array(data.classes)[data.labels]
    train, held_out = order[:2000], order[2000:4000]
    return (texts[train], labels[train]), (texts[held_out], labels[held_out])


def test_cross_val_score_fits_and_scores_each_stratified_fold(sst2):
    (X, y), _ = sst2
    clf = SentimentClassifier(**TINY)
    scores = cross_val_score(clf, X, y, cv=3)
    assert not hasattr(clf, "model_")                               # sklearn fitted clones
    train, test = next(StratifiedKFold(3).split(X, y))              # cv=3 on a classifier
    assert scores[0] == clone(clf).fit(X[train], y[train], progress=False).score(X[test], y[test])
    chance = max(np.mean(y == "positive"), np.mean(y == "negative"))
    assert scores.shape == (3,) and np.all(scores > chance + 0.05) and np.all(scores < 0.9)


def test_grid_search_picks_the_learning_rate_that_learns_and_refits_it(sst2):
    (X, y), (X_held, y_held) = sst2
    search = GridSearchCV(SentimentClassifier(**TINY), {"lr": [0.001, 0.05]}, cv=3,
                          scoring={"accuracy": "accuracy", "roc_auc": "roc_auc"}, refit="accuracy")
    search.fit(X, y)
    results = search.cv_results_
    assert results["params"] == [{"lr": 0.001}, {"lr": 0.05}]
    assert results["param_lr"].tolist() == [0.001, 0.05]
    accuracy, auc = results["mean_test_accuracy"], results["mean_test_roc_auc"]
    # 2 epochs at lr 0.001 barely move the weights: chance-level ranking; at 0.05 it learns
    assert auc[0] < 0.6 < auc[1] and accuracy[0] < accuracy[1]
    assert search.best_index_ == 1 and search.best_params_ == {"lr": 0.05}
    assert search.best_score_ == accuracy[1]
    best = search.best_estimator_
    assert best.get_params() == {**SentimentClassifier(**TINY).get_params(), "lr": 0.05}
    held_chance = max(np.mean(y_held == "positive"), np.mean(y_held == "negative"))
    assert best.score(X_held, y_held) > held_chance + 0.05
    assert roc_auc_score(y_held == "positive", best.predict_proba(X_held)[:, 1]) > 0.65


def test_cross_val_score_fits_a_tagger_without_y():
    sentences = toy_sentences(90, 0)
    tagger = SequenceTagger(**{**SMALL_TAGGER, "epochs": 3})
    scores = cross_val_score(tagger, sentences, cv=3)               # fit(X), score(X): KFold
    train, test = next(KFold(3).split(sentences))
    by_hand = clone(tagger).fit([sentences[i] for i in train], progress=False)
    assert scores[0] == by_hand.score([sentences[i] for i in test])
    assert np.all(scores > 0.9)
