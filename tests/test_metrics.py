"""Confusion matrix and classification report: hand-computed values, the zero-division rule,
agreement with a plain per-example loop, the JSON dict and the text table."""
import json
import warnings

import numpy as np
import pytest

from bptt.metrics import classification_report, confusion_matrix, token_accuracy

# 3 classes, 6 examples. Confusion (rows = true, cols = predicted):
#   true 0: [1, 1, 0]   true 1: [1, 2, 0]   true 2: [1, 0, 0]
Y_TRUE = [0, 0, 1, 1, 1, 2]


Y_PRED = [0, 1, 1, 1, 0, 0]


NAMES = ["negative", "positive", "neutral"]


def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    M = confusion_matrix(Y_TRUE, Y_PRED, 3)
    np.testing.assert_array_equal(M, [[1, 1, 0], [1, 2, 0], [1, 0, 0]])
    assert M.dtype == np.int64
    # asymmetric case: one example, true 0 predicted 2 lands in row 0, column 2
    np.testing.assert_array_equal(confusion_matrix([0], [2], 3), [[0, 0, 1], [0, 0, 0], [0, 0, 0]])


def test_confusion_matrix_has_num_classes_even_for_unseen_classes():
    np.testing.assert_array_equal(confusion_matrix([1, 1], [1, 0], 4),
                                  [[0, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])


def test_report_per_class_values_are_the_hand_computed_ones():
    r = classification_report(Y_TRUE, Y_PRED, NAMES)
    # class 0: TP 1, FP 2 (one true-1 and one true-2 predicted 0), FN 1
    # class 1: TP 2, FP 1, FN 1;  class 2: TP 0, FP 0, FN 1
    np.testing.assert_allclose(r.precision, [1 / 3, 2 / 3, 0.0])
    np.testing.assert_allclose(r.recall, [1 / 2, 2 / 3, 0.0])
    np.testing.assert_allclose(r.f1, [2 / 5, 2 / 3, 0.0])          # 2TP / (2TP + FP + FN)
    np.testing.assert_array_equal(r.support, [2, 3, 1])
    assert r.accuracy == pytest.approx(3 / 6)
    assert r.classes == tuple(NAMES)
    np.testing.assert_array_equal(r.confusion, confusion_matrix(Y_TRUE, Y_PRED, 3))


def test_report_macro_and_weighted_averages():
    r = classification_report(Y_TRUE, Y_PRED, NAMES)
    assert r.macro_avg == pytest.approx({"precision": (1 / 3 + 2 / 3 + 0) / 3,
                                         "recall": (1 / 2 + 2 / 3 + 0) / 3,
                                         "f1": (2 / 5 + 2 / 3 + 0) / 3})
    # weights = support / 6 = [2, 3, 1] / 6
    assert r.weighted_avg == pytest.approx({"precision": (2 * 1 / 3 + 3 * 2 / 3) / 6,
                                            "recall": (2 * 1 / 2 + 3 * 2 / 3) / 6,
                                            "f1": (2 * 2 / 5 + 3 * 2 / 3) / 6})


def test_zero_division_gives_zero_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # class 1 has support but is never predicted; class 2 has neither support nor predictions
        r = classification_report([0, 0, 1], [0, 0, 0], 3)
        empty = classification_report([], [], ["a", "b"])
    np.testing.assert_allclose(r.precision, [2 / 3, 0.0, 0.0])
    np.testing.assert_allclose(r.recall, [1.0, 0.0, 0.0])
    np.testing.assert_allclose(r.f1, [4 / 5, 0.0, 0.0])
    assert r.classes == ("0", "1", "2")
    assert empty.accuracy == 0.0 and empty.total == 0
    assert empty.weighted_avg == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert not np.isnan(empty.f1).any()


def test_report_matches_a_per_example_loop_on_random_labels():
    rng = np.random.default_rng(3)
    C, N = 5, 400
    y_true, y_pred = rng.integers(0, C, N), rng.integers(0, C, N)
    r = classification_report(y_true, y_pred, C)
    M = np.zeros((C, C), dtype=int)
    for t, p in zip(y_true, y_pred):
        M[t, p] += 1
    np.testing.assert_array_equal(r.confusion, M)
    for c in range(C):
        tp = sum(1 for t, p in zip(y_true, y_pred) if t == c and p == c)
        pred_c = sum(1 for p in y_pred if p == c)
        true_c = sum(1 for t in y_true if t == c)
        P, R = tp / pred_c, tp / true_c
        assert r.precision[c] == pytest.approx(P)
        assert r.recall[c] == pytest.approx(R)
        assert r.f1[c] == pytest.approx(2 * P * R / (P + R))
    assert r.accuracy == pytest.approx(np.mean(y_true == y_pred))


def test_to_dict_is_json_ready_and_holds_the_values():
    d = classification_report(Y_TRUE, Y_PRED, NAMES).to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["classes"] == NAMES and d["support"] == 6 and d["accuracy"] == 0.5
    assert d["per_class"]["positive"] == pytest.approx(
        {"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3})
    assert d["confusion_matrix"] == [[1, 1, 0], [1, 2, 0], [1, 0, 0]]
    assert d["macro_avg"]["recall"] == pytest.approx(7 / 18)


def test_str_is_a_table_with_the_confusion_matrix():
    lines = str(classification_report(Y_TRUE, Y_PRED, NAMES)).splitlines()
    assert lines[0].split() == ["precision", "recall", "f1-score", "support"]
    assert lines[2].split() == ["negative", "0.3333", "0.5000", "0.4000", "2"]
    assert lines[4].split() == ["neutral", "0.0000", "0.0000", "0.0000", "1"]
    assert lines[6].split() == ["accuracy", "0.5000", "6"]
    assert lines[7].split() == ["macro", "avg", "0.3333", "0.3889", "0.3556", "6"]
    assert lines[8].split() == ["weighted", "avg", "0.4444", "0.5000", "0.4667", "6"]
    i = lines.index("confusion matrix (rows = true, columns = predicted):")
    assert lines[i + 1].split() == NAMES
    assert lines[i + 2].split() == ["negative", "1", "1", "0"]
    assert lines[i + 4].split() == ["neutral", "1", "0", "0"]
    # the numeric columns line up: each number ends at the same column as its header
    assert lines[2].rindex("0.4000") + 6 == lines[0].rindex("f1-score") + 8


def test_report_arrays_are_read_only():
    r = classification_report(Y_TRUE, Y_PRED, NAMES)
    with pytest.raises(ValueError):
        r.precision[0] = 1.0
    with pytest.raises(ValueError):
        r.confusion[0, 0] = 7


def test_errors_say_what_is_wrong():
    with pytest.raises(ValueError, match=r"y_pred\[1\] = 3 is outside the valid range \[0, 2\]"):
        confusion_matrix([0, 1], [0, 3], 3)
    with pytest.raises(ValueError, match="same length, got 2 and 3"):
        confusion_matrix([0, 1], [0, 1, 1], 2)
    with pytest.raises(ValueError, match=r"duplicates \['a'\]"):
        classification_report([0], [0], ["a", "a"])
    with pytest.raises(TypeError, match="integer class ids"):
        confusion_matrix([0.5], [0], 2)


def test_token_accuracy_checks_lengths():
    assert token_accuracy([["A", "B"], ["C"]], [["A", "X"], ["C"]]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="sentence 0: 2 gold tags but 1 predicted"):
        token_accuracy([["A", "B"]], [["A"]])
