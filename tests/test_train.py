"""The training loop: exact resume after an interruption, Ctrl-C, non-finite steps, best model,
early stopping."""
import json
import os
import signal

import numpy as np
import pytest

from bptt import io
from bptt.models import Classifier, ClassifierConfig
from bptt.plots import quantities, read_metrics
from bptt.train import CHECKPOINT, TrainConfig, Trainer, TrainingDiverged


class Batch:
    def __init__(self, ids, lengths, labels):
        self.ids, self.lengths, self.labels = ids, lengths, labels


def _setup(tmp_path, name="run", epochs=3, patience=None, nan_steps=(), stop_at=None):
    rng = np.random.default_rng(0)
    N, T = 96, 6
    ids = rng.integers(1, 20, size=(T, N))
    lengths = rng.integers(1, T + 1, size=N)
    labels = (ids[0] > 10).astype(np.int64)
    model = Classifier(ClassifierConfig(20, 4, 5, 2, "gru", embedding_dropout=0.2, output_dropout=0.2,
                                        dtype="float64"), np.random.default_rng(1))

    def batches(data_rng):
        order = data_rng.permutation(N)
        return [Batch(ids[:, b], lengths[b], labels[b]) for b in np.array_split(order, 6)]

    calls = {"n": 0}

    def step_fn(batch):
        calls["n"] += 1
        loss, grads, _ = model.loss_and_grads(batch.ids, batch.lengths, batch.labels)
        if calls["n"] in nan_steps:
            loss = float("nan")
        if stop_at is not None and calls["n"] == stop_at:
            trainer.request_stop()
        return loss, grads, int(batch.lengths.sum())

    def evaluate():
        return {"accuracy": float((model.predict_proba(ids, lengths).argmax(1) == labels).mean())}

    cfg = TrainConfig(epochs=epochs, lr=0.05, patience=patience, seed=3, max_nonfinite=3)
    trainer = Trainer(model, cfg, batches, step_fn, evaluate, lambda d: io.save(model, d),
                      tmp_path / name, progress=False)
    return trainer, model


def test_resume_after_interruption_continues_exactly(tmp_path):
    straight, model_a = _setup(tmp_path, "a")
    straight.fit()
    interrupted, _ = _setup(tmp_path, "b", stop_at=8)          # in the middle of epoch 2
    state = interrupted.fit()
    assert (state.epoch, state.step_in_epoch) == (1, 2)
    resumed, model_b = _setup(tmp_path, "b")
    resumed.load_checkpoint(tmp_path / "b" / CHECKPOINT)
    resumed.fit()
    for name, p in model_a.params.items():
        np.testing.assert_array_equal(model_b.params[name], p, err_msg=name)
    assert resumed.state.global_step == straight.state.global_step == 18
    lines = [json.loads(l) for l in open(tmp_path / "b" / "metrics.jsonl")]
    assert [l["epoch"] for l in lines] == [1, 2, 3]


def test_ctrl_c_writes_a_checkpoint_and_stops(tmp_path):
    trainer, model = _setup(tmp_path)
    original = trainer.step_fn

    def step_with_sigint(batch):
        if trainer.state.global_step == 4:
            os.kill(os.getpid(), signal.SIGINT)
        return original(batch)

    trainer.step_fn = step_with_sigint
    before = signal.getsignal(signal.SIGINT)       # SIG_IGN under nohup/CI, else the default
    state = trainer.fit()
    assert state.global_step == 5 and state.epoch == 0
    tensors, meta = io.load_params(tmp_path / "run" / CHECKPOINT)
    assert json.loads(meta["trainer"])["step_in_epoch"] == 5
    np.testing.assert_array_equal(tensors["model/fc.weight"], model.params["fc.weight"])
    assert signal.getsignal(signal.SIGINT) is before                # the handler is restored


def test_non_finite_steps_are_skipped_and_reported(tmp_path):
    trainer, model = _setup(tmp_path, epochs=1, nan_steps={2, 4})
    state = trainer.fit()
    assert state.skipped_steps == 2 and state.global_step == 4
    events = [json.loads(l) for l in open(tmp_path / "run" / "metrics.jsonl")]
    assert [e["step"] for e in events if e.get("event") == "skipped_step"] == [1, 2]


def test_too_many_non_finite_steps_stop_without_overwriting_the_checkpoint(tmp_path):
    trainer, model = _setup(tmp_path, epochs=2, nan_steps={7, 8, 9})
    with pytest.raises(TrainingDiverged, match="3 steps in a row"):
        trainer.fit()
    _, meta = io.load_params(tmp_path / "run" / CHECKPOINT)
    assert json.loads(meta["trainer"])["epoch"] == 1              # the end-of-epoch-1 checkpoint


def test_non_finite_model_is_never_checkpointed(tmp_path):
    trainer, model = _setup(tmp_path, epochs=1)
    model.params["fc.bias"][0] = np.inf
    with pytest.raises(TrainingDiverged, match="fc.bias"):
        trainer.save_checkpoint()
    assert not (tmp_path / "run" / CHECKPOINT).exists()


def test_best_model_is_exported_and_early_stopping(tmp_path):
    trainer, model = _setup(tmp_path, epochs=30, patience=2)
    state = trainer.fit()
    assert state.finished and state.epoch < 30 and state.epoch == state.best_epoch + 2
    best = io.load(tmp_path / "run" / "best")
    lines = [json.loads(l) for l in open(tmp_path / "run" / "metrics.jsonl")]
    assert max(l["dev_accuracy"] for l in lines) == state.best_score
    assert isinstance(best, Classifier)


def test_metrics_carry_elapsed_seconds_that_continue_after_a_resume(tmp_path):
    interrupted, _ = _setup(tmp_path, "b", stop_at=8)
    interrupted.fit()
    _, meta = io.load_params(tmp_path / "b" / CHECKPOINT)
    at_stop = json.loads(meta["trainer"])["elapsed_s"]
    resumed, _ = _setup(tmp_path, "b")
    resumed.load_checkpoint(tmp_path / "b" / CHECKPOINT)
    resumed.fit()
    lines = [json.loads(l) for l in open(tmp_path / "b" / "metrics.jsonl")]
    elapsed = [l["elapsed_s"] for l in lines]
    assert 0 < elapsed[0] <= at_stop < elapsed[1] < elapsed[2]
    records = read_metrics(tmp_path / "b" / "metrics.jsonl")              # what bptt plot reads
    assert quantities({"b": records}) == {"loss": ["train_loss"], "accuracy": ["dev_accuracy"]}


def test_progress_in_a_log_is_one_line_per_epoch_without_carriage_returns(tmp_path, capsys):
    trainer, _ = _setup(tmp_path, epochs=3)
    trainer.progress = True                       # capsys: standard error is not a terminal
    trainer.fit()
    out, err = capsys.readouterr()
    assert "\r" not in out + err and err == ""
    assert [l.split(":")[0] for l in out.splitlines()] == ["epoch 1", "epoch 2", "epoch 3"]


def test_progress_on_a_terminal_draws_a_bar(tmp_path, monkeypatch):
    import io as std_io

    class Terminal(std_io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    trainer, _ = _setup(tmp_path, epochs=1)
    trainer.progress = True
    trainer.fit()
    assert "\r" in terminal.getvalue() and "epoch 1/1" in terminal.getvalue()
