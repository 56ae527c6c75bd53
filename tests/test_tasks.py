"""The long-range tasks (adding, copy) and their training loop, the many-to-one Regressor
(finite differences in float64, a PyTorch twin, save/load), and the ``bptt diagnose`` command."""
import argparse
import json
import math

import numpy as np
import pytest
import torch

from bptt.gradcheck import check_grads
from bptt.losses import mse
from bptt.models.regressor import Regressor, RegressorConfig
from bptt.tasks import (ADDING_BASELINE_MSE, RunConfig, adding_problem, copy_baseline, copy_task,
                        evaluate_mse, train_adding)


# ---- generators ----------------------------------------------------------------------------------

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


# ---- the Regressor -------------------------------------------------------------------------------

def _random_regressor(mode, rng, **kw):
    model = Regressor(RegressorConfig(3, 4, 2, mode, dtype="float64", **kw), rng)
    for p in model.params.values():
        p[...] = rng.uniform(-0.8, 0.8, p.shape)
    return model


@pytest.mark.parametrize("mode,layers,bidirectional", [("lstm", 2, True), ("gru", 1, False),
                                                       ("rnn_tanh", 2, False), ("rnn_relu", 1, True)])
def test_regressor_gradients_match_finite_differences(mode, layers, bidirectional):
    rng = np.random.default_rng(4)
    model = _random_regressor(mode, rng, num_layers=layers, bidirectional=bidirectional)
    x, y = rng.standard_normal((5, 3, 3)), rng.standard_normal((3, 2))
    lengths = np.array([5, 2, 4])
    loss, grads, _ = model.loss_and_grads(x, y, lengths)
    errors = check_grads(lambda: mse(model.forward(x, lengths)[0], y)[0], model.params, grads,
                         max_elements=24)
    assert max(errors.values()) < 1e-6, errors
    assert set(grads) == set(model.params)
    assert all(np.abs(g).max() > 0 for g in grads.values())
    assert all(n.startswith(("rnn.", "fc.")) for n in model.params)


def test_regressor_matches_a_pytorch_twin():
    rng = np.random.default_rng(5)
    model = _random_regressor("lstm", rng, num_layers=2, bidirectional=True)
    x, y = rng.standard_normal((6, 3, 3)), rng.standard_normal((3, 2))

    class Twin(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.LSTM(3, 4, 2, bidirectional=True)
            self.fc = torch.nn.Linear(8, 2)

        def forward(self, x):
            _, (h, _) = self.rnn(x)
            return self.fc(torch.cat([h[-2], h[-1]], dim=1))

    twin = Twin().double()
    twin.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in model.params.items()})
    pred_t = twin(torch.from_numpy(x))
    loss_t = ((pred_t - torch.from_numpy(y)) ** 2).mean()
    loss_t.backward()
    loss, grads, pred = model.loss_and_grads(x, y)
    np.testing.assert_allclose(pred, pred_t.detach().numpy(), rtol=1e-10)
    assert loss == pytest.approx(loss_t.item(), rel=1e-10)
    for name, p in twin.named_parameters():
        np.testing.assert_allclose(grads[name], p.grad.numpy(), rtol=1e-8, atol=1e-12, err_msg=name)


def test_regressor_save_and_load_round_trip(tmp_path):
    model = _random_regressor("gru", np.random.default_rng(6), init="orthogonal")
    model.save(tmp_path / "m")
    loaded = Regressor.load(tmp_path / "m")
    assert loaded.config == model.config
    x = np.random.default_rng(0).standard_normal((4, 2, 3))
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    with pytest.raises(ValueError, match="targets must have shape"):
        model.loss_and_grads(x, np.zeros((2, 3)))


# ---- training ------------------------------------------------------------------------------------

def test_a_gru_learns_a_short_adding_problem():
    model = Regressor(RegressorConfig(2, 16, mode="gru"), np.random.default_rng(0))
    x, y = adding_problem(300, 8, np.random.default_rng(9))
    before = evaluate_mse(model, x, y)
    log = train_adding(model, RunConfig(T=8, steps=400, batch_size=32, lr=1e-2, clip_norm=1.0,
                                        eval_every=50, eval_size=200, test_size=300))
    assert before > 0.1 and log.test_mse < 0.03
    assert log.steps_to_solve is None or log.test_mse < 0.02
    assert [s for s, _ in log.evals] == list(range(50, len(log.loss) + 1, 50)) or log.steps_to_solve
    assert len(log.loss) == len(log.grad_norm) == (log.steps_to_solve or 400)


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


# ---- bptt diagnose -------------------------------------------------------------------------------

def _diagnose(argv):
    from bptt.commands.diagnose import add_parser
    parser = argparse.ArgumentParser(prog="bptt")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["diagnose", *argv])
    return args.func(args)


def test_diagnose_command_prints_norms_and_writes_plots(tmp_path, capsys):
    import matplotlib  # noqa: F401  (the plot extra is in the test extra)
    rc = _diagnose(["--cell", "lstm", "--T", "12", "--hidden", "6", "--batch", "4",
                    "--train-steps", "6", "--record-every", "2", "--out", str(tmp_path)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "=== lstm ===" in text
    assert "weight_hh_l0[f]" in text and "rate/step" in text
    doc = json.loads((tmp_path / "diagnosis.json").read_text())
    for cell in ("lstm",):
        curve = doc["models"][cell]["curves"]["l0"]["jacobian"]
        assert len(curve) == 12 and curve[0] == pytest.approx(1.0)          # ds_T/ds_T = I
        assert len([l for l in open(tmp_path / f"{cell}_metrics.jsonl") if '"gradients"' in l]) == 3
    for name in ("grad_vs_distance", "jacobian_vs_distance", "heatmap_lstm", "losses"):
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_diagnose_command_loads_a_saved_model(tmp_path, capsys):
    model = _random_regressor("gru", np.random.default_rng(7))
    model.save(tmp_path / "m")
    assert _diagnose(["--model", str(tmp_path / "m"), "--T", "9", "--batch", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["m"]["mode"] == "gru" and len(out["m"]["curves"]["l0"]["dh"]) == 9
    assert out["m"]["spectrum"]["weight_hh_l0"]["z"]["sigma_max"] == pytest.approx(
        np.linalg.norm(model.params["rnn.weight_hh_l0"][4:8], 2))
