"""The long-range job: a GRU learns a short adding problem; clipping is counted and divergence
stops the run."""
import json
import math

import numpy as np

from bptt.data.synthetic import ADDING_SOLVED_MSE, adding_problem
from bptt.jobs.long_range import RunConfig, evaluate_mse, train_adding
from bptt.models.regressor import Regressor, RegressorConfig


def test_a_gru_learns_a_short_adding_problem():
    model = Regressor(RegressorConfig(2, 16, mode="gru"), np.random.default_rng(0))
    x, y = adding_problem(300, 8, np.random.default_rng(9))
    before = evaluate_mse(model, x, y)
    log = train_adding(model, RunConfig(T=8, steps=400, batch_size=32, lr=1e-2, clip_norm=1.0,
                                        eval_every=50, eval_size=200, test_size=300))
    assert before > 0.1
    # seeded: evaluated every 50 steps until the dev MSE first fell below the solved mark, at 150
    assert [s for s, _ in log.evals] == [50, 100, 150] and log.steps_to_solve == 150
    assert [mse < ADDING_SOLVED_MSE for _, mse in log.evals] == [False, False, True]
    assert len(log.loss) == len(log.grad_norm) == 150 and log.test_mse < 0.02


def test_clipping_is_counted_and_divergence_stops_the_run(tmp_path):
    model = Regressor(RegressorConfig(2, 8, mode="rnn_tanh"), np.random.default_rng(0))
    log = train_adding(model, RunConfig(T=6, steps=20, batch_size=8, clip_norm=1e-4, eval_every=10,
                                        eval_size=20, test_size=20), metrics_path=tmp_path / "m.jsonl")
    assert log.clipped == list(range(1, 21)) and log.diverged_at is None
    events = [json.loads(l)["event"] for l in open(tmp_path / "m.jsonl")]
    assert events == ["eval", "eval", "end"]

    big = Regressor(RegressorConfig(2, 32, mode="rnn_relu", init_gain=4.0), np.random.default_rng(0))
    log = train_adding(big, RunConfig(T=60, steps=50, batch_size=8, optimizer="sgd", lr=0.1, eval_every=10))
    assert log.diverged_at is not None and log.diverged_at <= 10 and log.test_mse is None
    assert not math.isfinite(log.loss[-1]) or not math.isfinite(log.grad_norm[-1])
