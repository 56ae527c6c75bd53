"""Polyak averaging (``bptt.averaging``, ``--ema-decay``): the recursion against its closed form,
what the trainer evaluates and keeps (the average), what it trains (the weights, exactly as
without averaging), and exact resume with the average in the checkpoint."""
import numpy as np
import pytest

from bptt import io
from bptt.averaging import WeightAverage
from bptt.models import Classifier, ClassifierBatch, ClassifierConfig
from bptt.train import BEST, CHECKPOINT, TrainConfig, Trainer, train_keep_best

BETA = 0.8


def closed_form(thetas: list[dict], beta: float) -> dict:
    """avg_t = beta^t theta_0 + (1 - beta) sum_{k=1..t} beta^(t-k) theta_k, for t = len(thetas) - 1."""
    t = len(thetas) - 1
    return {name: beta ** t * thetas[0][name] + sum((1 - beta) * beta ** (t - k) * thetas[k][name]
                                                   for k in range(1, t + 1)) for name in thetas[0]}


def test_the_average_follows_its_closed_form_and_swaps_in_and_out_in_place():
    rng = np.random.default_rng(0)
    params = {"a": rng.normal(size=(3, 4)), "b": rng.normal(size=5)}
    arrays = {name: p for name, p in params.items()}
    average = WeightAverage(params, BETA)
    thetas = [{n: p.copy() for n, p in params.items()}]
    for _ in range(7):                                  # the optimizer writes into the same arrays
        for p in params.values():
            p += rng.normal(size=p.shape)
        average.update()
        thetas.append({n: p.copy() for n, p in params.items()})
    expected = closed_form(thetas, BETA)
    for name in params:
        np.testing.assert_allclose(average.average[name], expected[name], rtol=1e-13, atol=1e-14)
    with average.swapped_in():
        for name, p in params.items():
            assert p is arrays[name]                    # the optimizer's references see the average
            np.testing.assert_array_equal(p, average.average[name])
    for name, p in params.items():
        assert p is arrays[name]
        np.testing.assert_array_equal(p, thetas[-1][name])      # the trained weights, bit for bit


def test_the_decay_must_lie_strictly_between_0_and_1():
    for beta in (0.0, 1.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="decay must be in"):
            WeightAverage({"a": np.zeros(2)}, beta)
        with pytest.raises(ValueError, match="ema_decay must be in"):
            TrainConfig(ema_decay=beta)


def _setup(out, ema_decay=BETA, stop_at=None, epochs=3):
    """A float64 GRU classifier trained for ``epochs`` with 6 batches each; records the weights
    every step starts from, and the weights every evaluation sees."""
    rng = np.random.default_rng(0)
    N, T = 60, 5
    ids = rng.integers(1, 15, size=(T, N))
    lengths = rng.integers(1, T + 1, size=N)
    labels = (ids[0] > 7).astype(np.int64)
    model = Classifier(ClassifierConfig(15, 4, 5, 2, "gru", embedding_dropout=0.2, output_dropout=0.2,
                                        dtype="float64"), np.random.default_rng(1))
    seen = {"steps": [], "evaluations": []}

    def batches(data_rng):
        order = data_rng.permutation(N)
        return [ClassifierBatch(ids[:, b], lengths[b], labels[b]) for b in np.array_split(order, 6)]

    def step_fn(batch):
        seen["steps"].append({n: p.copy() for n, p in model.params.items()})
        if stop_at is not None and len(seen["steps"]) == stop_at:
            trainer.request_stop()
        return model.loss_and_grads(batch)

    def evaluate():
        seen["evaluations"].append({n: p.copy() for n, p in model.params.items()})
        # a score that rises with every evaluation of a run: each epoch's average becomes best/
        return {"accuracy": float(len(seen["evaluations"]))}

    cfg = TrainConfig(epochs=epochs, lr=0.05, patience=None, seed=3, ema_decay=ema_decay)
    trainer = Trainer(model, cfg, batches, step_fn, evaluate, lambda d: io.save(model, d), out, progress=False)
    return trainer, model, seen


def _checkpoint_weights(out):
    tensors, _ = io.load_params(out / CHECKPOINT)
    return ({k[6:]: v for k, v in tensors.items() if k.startswith("model/")},
            {k[8:]: v for k, v in tensors.items() if k.startswith("average/")})


def test_the_trainer_evaluates_and_keeps_the_average_and_trains_the_weights_as_without_it(tmp_path):
    plain, plain_model, _ = _setup(tmp_path / "plain", ema_decay=None)
    plain.fit()
    trainer, model, seen = _setup(tmp_path / "ema")
    trainer.fit()
    final, average = _checkpoint_weights(tmp_path / "ema")
    # training is untouched: the same weights at the end as without averaging, bit for bit
    for name, p in plain_model.params.items():
        np.testing.assert_array_equal(final[name], p, err_msg=name)
        np.testing.assert_array_equal(model.params[name], p, err_msg=name)
    assert _checkpoint_weights(tmp_path / "plain")[1] == {}
    # every evaluation (after 6, 12, 18 steps) saw the closed form of the weights up to then
    thetas = seen["steps"] + [final]                    # theta_0 .. theta_18
    assert len(seen["evaluations"]) == 3
    for epoch, evaluated in enumerate(seen["evaluations"], 1):
        expected = closed_form(thetas[:6 * epoch + 1], BETA)
        for name in expected:
            np.testing.assert_allclose(evaluated[name], expected[name], rtol=1e-12, atol=1e-13, err_msg=name)
            assert np.max(np.abs(evaluated[name] - thetas[6 * epoch][name])) > 1e-4     # not the weights
    for name in average:
        np.testing.assert_allclose(average[name], closed_form(thetas, BETA)[name], rtol=1e-12, atol=1e-13)
    best, _ = io.load_params(tmp_path / "ema" / BEST / io.WEIGHTS_FILE)
    for name in average:
        np.testing.assert_array_equal(best[name], average[name], err_msg=name)


def test_a_resumed_run_ends_with_the_same_average_as_a_straight_one(tmp_path):
    straight, _, _ = _setup(tmp_path / "a")
    straight.fit()
    interrupted, _, _ = _setup(tmp_path / "b", stop_at=9)       # in the middle of epoch 2
    interrupted.fit()
    resumed, _, _ = _setup(tmp_path / "b")
    resumed.load_checkpoint(tmp_path / "b")
    resumed.fit()
    (weights_a, average_a), (weights_b, average_b) = _checkpoint_weights(tmp_path / "a"), \
        _checkpoint_weights(tmp_path / "b")
    for name in weights_a:
        np.testing.assert_array_equal(weights_b[name], weights_a[name], err_msg=name)
        np.testing.assert_array_equal(average_b[name], average_a[name], err_msg=name)


def test_resuming_with_or_without_averaging_against_the_checkpoint_is_refused_naming_it(tmp_path):
    interrupted, _, _ = _setup(tmp_path / "ema", stop_at=3)
    interrupted.fit()
    plain, _, _ = _setup(tmp_path / "ema", ema_decay=None)
    with pytest.raises(ValueError, match=r"checkpoint\.safetensors: the checkpoint holds an average of the "
                                         r"weights and this run does not average them"):
        plain.load_checkpoint(tmp_path / "ema")
    no_average, _, _ = _setup(tmp_path / "plain", ema_decay=None, stop_at=3)
    no_average.fit()
    averaging, _, _ = _setup(tmp_path / "plain")
    with pytest.raises(ValueError, match=r"checkpoint\.safetensors: the checkpoint holds no average"):
        averaging.load_checkpoint(tmp_path / "plain")


def test_a_stop_inside_an_epoch_evaluates_and_keeps_the_average(tmp_path):
    trainer, model, seen = _setup(tmp_path / "x")
    first = {n: p.copy() for n, p in model.params.items()}
    # a budget of 0 seconds: one step, then the stop's evaluation; the model ends as best/
    trainer = train_keep_best(model, trainer.config, trainer.batches, trainer.step_fn, trainer.evaluate,
                              trainer.export, tmp_path / "y", progress=False, time_budget=0.0)
    assert trainer.state.global_step == 1 and len(seen["evaluations"]) == 1
    final, average = _checkpoint_weights(tmp_path / "y")
    for name, theta0 in first.items():
        expected = BETA * theta0 + (1 - BETA) * final[name]
        np.testing.assert_allclose(seen["evaluations"][0][name], expected, rtol=1e-13, atol=1e-14)
        np.testing.assert_array_equal(model.params[name], seen["evaluations"][0][name])
        np.testing.assert_array_equal(average[name], seen["evaluations"][0][name])


def test_the_sentiment_job_keeps_the_average_it_was_asked_for(tmp_path):
    from bptt.jobs.sentiment import SentimentClassifier
    texts = ["good fun", "bad film", "great cast", "dull plot", "lovely", "awful"] * 6
    labels = ["positive", "negative"] * 18
    clf = SentimentClassifier(epochs=1, ema_decay=0.9, hidden_size=4, embedding_dim=3, batch_size=8,
                              dev_fraction=0.25, verbose=0).fit(texts, labels, out_dir=tmp_path / "s")
    trainer = clf.trainer_
    assert trainer.average is not None and trainer.average.decay == 0.9
    # one epoch: best/ (loaded into the model) is the average at its end, not the weights trained
    final, average = _checkpoint_weights(trainer.out_dir)
    for name, p in clf.model_.params.items():
        np.testing.assert_array_equal(p, average[name], err_msg=name)
    assert any(np.max(np.abs(final[n] - average[n])) > 1e-4 for n in average)


def test_the_language_model_stopped_between_evaluations_evaluates_and_keeps_the_average(tmp_path):
    """The LM job's own closing evaluation (after a stop inside a round) is of the average too,
    and the model it returns is best/'s: the average, not the weights trained."""
    from bptt.jobs.language_model import LMSettings, train_lm
    from helpers import TEXT
    s = LMSettings(embedding_dim=8, hidden_size=12, batch_size=4, seq_len=20, lr=0.01, epochs=1, ema_decay=0.9)
    result = train_lm(TEXT, s, out_dir=tmp_path, progress=False, time_budget=0)
    assert result.trainer.state.global_step == 1
    final, average = _checkpoint_weights(tmp_path)
    best, _ = io.load_params(tmp_path / BEST / io.WEIGHTS_FILE)
    for name, p in result.model.model.params.items():
        np.testing.assert_array_equal(best[name], average[name], err_msg=name)
        np.testing.assert_array_equal(p, average[name], err_msg=name)
    assert any(np.max(np.abs(final[n] - average[n])) > 1e-6 for n in average)
