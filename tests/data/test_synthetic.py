"""The synthetic long-range tasks: the adding problem and the copy task, and their baselines."""
import numpy as np
import pytest

from bptt.data.synthetic import (
    ADDING_BASELINE_MSE,
    adding_problem,
    copy_baseline,
    copy_task,
)


def test_adding_problem_marks_one_value_in_each_half_and_sums_them():
    x, y = adding_problem(50, 11, np.random.default_rng(0), "float64")
    assert x.shape == (11, 50, 2) and y.shape == (50, 1)
    values, markers = x[..., 0], x[..., 1]
    assert np.all((values >= 0) & (values < 1))
    np.testing.assert_array_equal(markers.sum(axis=0), 2)
    np.testing.assert_array_equal(markers[:5].sum(axis=0), 1)           # first half [0, 5)
    np.testing.assert_array_equal(markers[5:].sum(axis=0), 1)
    np.testing.assert_allclose(y[:, 0], (values * markers).sum(axis=0))
    x2, y2 = adding_problem(50, 11, np.random.default_rng(0), "float64")
    np.testing.assert_array_equal(x, x2)
    assert not np.array_equal(x, adding_problem(50, 11, np.random.default_rng(1), "float64")[0])


def test_adding_problem_baseline_of_always_predicting_one_is_one_sixth():
    _, y = adding_problem(200_000, 4, np.random.default_rng(2), "float64")
    assert np.mean((y - 1.0) ** 2) == pytest.approx(ADDING_BASELINE_MSE, abs=2e-3)
    with pytest.raises(ValueError, match="T >= 2"):
        adding_problem(3, 1, np.random.default_rng(0))


def test_copy_task_layout_and_memoryless_baseline():
    T, S, K = 7, 3, 4
    batch = copy_task(5, T, np.random.default_rng(3), n_symbols=K, length=S)
    ids = batch.x.argmax(axis=2)                                          # (T + 2S, B)
    assert batch.x.shape == (T + 2 * S, 5, K + 2) and np.all(batch.x.sum(axis=2) == 1)
    np.testing.assert_array_equal(ids[:S], batch.symbols)
    assert np.all((batch.symbols >= 1) & (batch.symbols <= K))
    np.testing.assert_array_equal(ids[S:S + T - 1], 0)
    np.testing.assert_array_equal(ids[S + T - 1], K + 1)                  # the delimiter
    np.testing.assert_array_equal(ids[S + T:], 0)
    np.testing.assert_array_equal(batch.targets[:T + S], 0)
    np.testing.assert_array_equal(batch.targets[T + S:], batch.symbols)
    # memoryless: blank with certainty, then uniform over the K symbols
    p = np.zeros((T + 2 * S, K + 2))
    p[:T + S, 0] = 1.0
    p[T + S:, 1:K + 1] = 1.0 / K
    ce = -np.mean([np.log(p[t, batch.targets[t, b]]) for t in range(T + 2 * S) for b in range(5)])
    assert copy_baseline(T, K, S) == pytest.approx(ce)
