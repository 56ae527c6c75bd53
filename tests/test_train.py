"""The training loop: exact resume after an interruption, Ctrl-C, non-finite steps, best model,
early stopping."""
import json
import subprocess
import sys
import os
import signal

import numpy as np
import pytest

from bptt import io
from bptt.losses import softmax_cross_entropy
from bptt.models import (Classifier, ClassifierBatch, ClassifierConfig, LanguageModel, LanguageModelBatch,
                         LanguageModelConfig, Seq2Seq, Seq2SeqBatch, Seq2SeqConfig, Tagger, TaggerBatch,
                         TaggerConfig)
from bptt.models.seq2seq import shift_right
from bptt.plots import quantities, read_metrics
from bptt.train import CHECKPOINT, TrainConfig, Trainer, TrainingDiverged


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
        return [ClassifierBatch(ids[:, b], lengths[b], labels[b]) for b in np.array_split(order, 6)]

    calls = {"n": 0}

    def step_fn(batch):
        calls["n"] += 1
        result = model.loss_and_grads(batch)
        if calls["n"] in nan_steps:
            result = result._replace(loss=float("nan"))
        if stop_at is not None and calls["n"] == stop_at:
            trainer.request_stop()
        return result

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
    assert [l["epoch"] for l in lines if "event" not in l] == [1, 2, 3]
    assert [(l["event"], l["epoch"], l["step_in_epoch"]) for l in lines if "event" in l] == \
        [("stopped", 2, 2)]


def test_a_checkpoint_with_the_old_epoch_examples_name_still_resumes(tmp_path):
    interrupted, _ = _setup(tmp_path, "b", stop_at=8)
    interrupted.fit()
    path = tmp_path / "b" / CHECKPOINT
    tensors, meta = io.load_params(path)
    trainer = json.loads(meta["trainer"])
    trainer["epoch_examples"] = trainer.pop("epoch_count")
    io.save_params(path, tensors, {**meta, "trainer": json.dumps(trainer)})
    resumed, _ = _setup(tmp_path, "b")
    resumed.load_checkpoint(path)
    assert resumed.state.epoch_count == trainer["epoch_examples"] == 32          # two batches of 16


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
    weights, evaluate = [], trainer.evaluate

    def keep_the_weights_and_evaluate():            # at the end of every epoch, before any export
        weights.append({name: p.copy() for name, p in model.params.items()})
        return evaluate()
    trainer.evaluate = keep_the_weights_and_evaluate
    state = trainer.fit()
    assert state.finished and state.epoch < 30 and state.epoch == state.best_epoch + 2
    lines = [json.loads(l) for l in open(tmp_path / "run" / "metrics.jsonl")]
    assert max(l["dev_accuracy"] for l in lines) == state.best_score
    assert [l["epoch"] for l in lines if l["best"]][-1] == state.best_epoch
    best = io.load(tmp_path / "run" / "best")
    assert isinstance(best, Classifier) and len(weights) == state.epoch
    assert best.params.keys() == weights[0].keys()
    for name, value in best.params.items():                     # the best epoch's weights ...
        np.testing.assert_array_equal(value, weights[state.best_epoch - 1][name], err_msg=name)
    assert not all(np.array_equal(best.params[n], weights[-1][n]) for n in best.params)   # ... not the last's


# ---- the reported training loss -----------------------------------------------------------------
def _padded(rng, lengths, V):
    ids = rng.integers(1, V, size=(max(lengths), len(lengths)))
    ids[np.arange(ids.shape[0])[:, None] >= np.asarray(lengths)[None, :]] = 0
    return ids, np.asarray(lengths)


def _classifier_run(rng):
    model = Classifier(ClassifierConfig(9, 3, 4, 3, "gru", dtype="float64"), rng)
    batches = [ClassifierBatch(*_padded(rng, n, 9), rng.integers(0, 3, len(n)))
               for n in ([5, 2], [3, 4, 1, 6, 2])]

    def loss_sum(b):                # the summed cross-entropy of a batch and its number of terms
        logits, _ = model.forward(b.ids, b.lengths)
        return softmax_cross_entropy(logits, b.labels, reduction="sum")[0], len(b.labels)
    return model, batches, loss_sum


def _tagger_run(rng):
    model = Tagger(TaggerConfig(9, 3, 4, 3, "lstm", dtype="float64"), rng)
    batches = [TaggerBatch(*_padded(rng, n, 9), rng.integers(0, 3, (max(n), len(n))))
               for n in ([7, 6, 7], [1, 2], [3, 1, 2, 2])]

    def loss_sum(b):
        logits, _ = model.forward(b.ids, b.lengths)
        mask = np.arange(logits.shape[0])[:, None] < b.lengths[None, :]
        return softmax_cross_entropy(logits, b.tags, mask, reduction="sum")[0], int(mask.sum())
    return model, batches, loss_sum


def _seq2seq_run(rng):
    model = Seq2Seq(Seq2SeqConfig(9, 8, 3, 4, "gru", dtype="float64"), rng)
    batches = []
    for src_n, tgt_n in (([4, 2], [6, 5]), ([3, 3, 1], [1, 2, 1])):
        tgt, tgt_lengths = _padded(rng, tgt_n, 8)
        batches.append(Seq2SeqBatch(*_padded(rng, src_n, 9), tgt, tgt_lengths))

    def loss_sum(b):
        logits, _ = model.forward(b.src, b.src_lengths, shift_right(b.tgt, 2), b.tgt_lengths)
        mask = np.arange(logits.shape[0])[:, None] < b.tgt_lengths[None, :]
        return softmax_cross_entropy(logits, b.tgt, mask, reduction="sum")[0], int(mask.sum())
    return model, batches, loss_sum


def _language_model_run(rng):
    model = LanguageModel(LanguageModelConfig(9, 3, 4, "rnn_tanh", dtype="float64"), rng)
    batches = [LanguageModelBatch(rng.integers(1, 9, (T, 2)), rng.integers(0, 9, (T, 2)),
                                  rng.random((T, 2)) < p) for T, p in ((6, 0.9), (3, 0.3))]

    def loss_sum(b):
        (logits, _), _ = model.forward(b.ids)
        return softmax_cross_entropy(logits, b.targets, b.mask, reduction="sum")[0], int(b.mask.sum())
    return model, batches, loss_sum


@pytest.mark.parametrize("run", [_classifier_run, _tagger_run, _seq2seq_run, _language_model_run])
def test_reported_train_loss_is_the_mean_over_every_example_or_token(tmp_path, run):
    """With lr = 0 the weights stay fixed, so the epoch's train_loss must equal the loss summed
    over every term of the epoch (examples for the classifier, tokens for the others) divided by
    their number; the mean of the batch means differs here, as the batches differ in size."""
    model, batches, loss_sum = run(np.random.default_rng(4))
    cfg = TrainConfig(epochs=1, optimizer="sgd", lr=0.0, patience=None)
    trainer = Trainer(model, cfg, lambda rng: batches, model.loss_and_grads, lambda: {"accuracy": 0.0},
                      lambda d: None, tmp_path, progress=False)
    trainer.fit()
    reported = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])["train_loss"]
    sums, counts = zip(*(loss_sum(b) for b in batches))
    assert reported == pytest.approx(sum(sums) / sum(counts), rel=1e-12)
    assert abs(np.mean([s / n for s, n in zip(sums, counts)]) - reported) > 1e-3 * reported


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


def test_time_budget_stop_evaluates_the_partial_epoch_and_keeps_it_as_best(tmp_path, monkeypatch):
    import itertools
    import time as time_module

    from bptt.train import train_keep_best
    trainer, model = _setup(tmp_path)
    clock = itertools.count(0.0, 1.0)
    monkeypatch.setattr(time_module, "perf_counter", lambda: next(clock))
    result = train_keep_best(model, trainer.config, trainer.batches, trainer.step_fn, trainer.evaluate,
                             trainer.export, tmp_path / "budget", progress=False, time_budget=12.0)
    st = result.state
    assert result.stop_reason == "time budget" and st.epoch < 3 and st.step_in_epoch > 0
    lines = [json.loads(l) for l in open(tmp_path / "budget" / "metrics.jsonl")]
    assert [l["event"] for l in lines if "event" in l] == ["stopped", "stop evaluation", "time budget"]
    stop_eval = lines[-2]
    assert stop_eval["dev_accuracy"] == st.best_score == trainer.evaluate()["accuracy"]
    assert (tmp_path / "budget" / "best" / io.WEIGHTS_FILE).is_file()
    with pytest.raises(ValueError, match="time_budget must be a number of seconds >= 0, got -1"):
        Trainer(model, trainer.config, trainer.batches, trainer.step_fn, trainer.evaluate, trainer.export,
                tmp_path / "x", time_budget=-1)


@pytest.mark.parametrize("step_s", [1.0, 4.0, 9.0])
def test_a_time_budget_leaves_room_for_the_next_step_and_the_closing_evaluation(tmp_path, monkeypatch, step_s):
    """Steps of ``step_s`` seconds (a small or a large batch), evaluations of 20 s, on a clock
    that only they move: the run, closing evaluation included, ends within its 100 s budget
    (once the first evaluation has been timed), and the budget's use is logged."""
    import time as time_module

    from bptt.train import train_keep_best
    trainer, model = _setup(tmp_path, epochs=5)
    now = [0.0]
    monkeypatch.setattr(time_module, "perf_counter", lambda: now[0])

    def step_fn(batch):
        now[0] += step_s
        return trainer.step_fn(batch)

    def evaluate():
        now[0] += 20.0
        return trainer.evaluate()
    result = train_keep_best(model, trainer.config, trainer.batches, step_fn, evaluate, trainer.export,
                             tmp_path / "budget", progress=False, time_budget=100.0)
    assert result.stop_reason == "time budget"
    lines = [json.loads(line) for line in open(tmp_path / "budget" / "metrics.jsonl")]
    assert lines[-1] == {"event": "time budget", "time_budget_s": 100.0, "used_s": now[0], "over_s": 0.0,
                         "batches": result.state.batches_done, "elapsed_s": now[0]}
    assert 100.0 - (step_s + 20.0) < now[0] <= 100.0


# ---- nothing lost --------------------------------------------------------------------------------
def _lines(path):
    return [json.loads(line) for line in open(path)]


def test_a_second_run_refuses_an_out_dir_holding_a_run_unless_told_to_overwrite(tmp_path):
    first, _ = _setup(tmp_path, epochs=1)
    first.fit()
    before = (tmp_path / "run" / CHECKPOINT).read_bytes()
    second, _ = _setup(tmp_path, epochs=1)
    with pytest.raises(ValueError, match=r"run: holds a training run already \(checkpoint.safetensors, best, "
                                         r"metrics.jsonl\): resume it with --resume .*checkpoint.safetensors, "
                                         r"replace it with --overwrite"):
        second.fit()
    assert (tmp_path / "run" / CHECKPOINT).read_bytes() == before
    (tmp_path / "run" / CHECKPOINT).unlink()              # killed before its first checkpoint
    with pytest.raises(ValueError, match=r"run: holds the files of a run that wrote no checkpoint \(best, "
                                         r"metrics.jsonl\), so it cannot be resumed: replace them with --overwrite"):
        second.fit()
    third, _ = _setup(tmp_path, epochs=2)
    third.overwrite = True
    third.fit()
    assert [r["epoch"] for r in _lines(tmp_path / "run" / "metrics.jsonl")] == [1, 2]


def test_leftovers_of_a_killed_run_are_removed_when_the_next_starts(tmp_path):
    from bptt import files
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "run" / "best").mkdir(parents=True)
    stale = [tmp_path / "run" / f".checkpoint.safetensors.{dead.pid}.0123456789ab.tmp",
             tmp_path / "run" / "best" / f".vocab.json.{dead.pid}.0123456789ab.tmp"]
    for path in stale:
        path.write_text("half")
    trainer, _ = _setup(tmp_path, epochs=1)
    trainer.overwrite = True
    trainer.fit()
    assert not any(p.exists() for p in stale)
    assert files.leftovers(tmp_path / "run") == [] and files.leftovers(tmp_path / "run" / "best") == []


def test_diverging_in_the_first_epoch_says_no_checkpoint_exists(tmp_path):
    trainer, _ = _setup(tmp_path, epochs=2, nan_steps={2, 3, 4})
    with pytest.raises(TrainingDiverged, match=r"training diverged at epoch 1, step 1: 3 steps in a row had "
                                               r"a non-finite loss or gradient\. No checkpoint was written "
                                               r"\(none exists yet\), so there is nothing to resume"):
        trainer.fit()
    assert not (tmp_path / "run" / CHECKPOINT).exists() and not (tmp_path / "run" / "best").exists()


def test_diverging_later_names_the_last_good_checkpoint_and_keeps_it(tmp_path):
    trainer, _ = _setup(tmp_path, epochs=2, nan_steps={7, 8, 9})
    with pytest.raises(TrainingDiverged, match=r"The last good checkpoint, .*checkpoint\.safetensors \(epoch 1, "
                                               r"step 6\), is kept: resume from it with a lower --lr"):
        trainer.fit()


def test_weights_made_infinite_by_a_step_stop_the_run_before_anything_is_saved(tmp_path):
    trainer, model = _setup(tmp_path, epochs=2)
    original = trainer.optimizer.step

    def blow_up(grads):
        original(grads)
        if trainer.state.global_step == 3:
            model.params["fc.weight"][0, 0] = np.inf
    trainer.optimizer.step = blow_up
    with pytest.raises(TrainingDiverged, match=r"step 4 made weights infinite or NaN \(fc.weight\)"):
        trainer.fit()
    assert not (tmp_path / "run" / "best").exists() and not (tmp_path / "run" / CHECKPOINT).exists()


def test_resume_cuts_metrics_back_to_the_checkpoint_so_no_step_repeats(tmp_path):
    straight, _ = _setup(tmp_path, "a", epochs=3)
    straight.fit()
    interrupted, _ = _setup(tmp_path, "b", stop_at=8)
    interrupted.fit()
    log = tmp_path / "b" / "metrics.jsonl"
    with open(log, "a") as f:                 # written after the checkpoint by a run then killed
        f.write(json.dumps({"epoch": 2, "step": 12, "batches": 12, "train_loss": 1.0}) + "\n")
        f.write('{"epoch": 3, "st')           # and half a line
    resumed, _ = _setup(tmp_path, "b")
    resumed.load_checkpoint(tmp_path / "b")   # the run folder does as well as the file
    resumed.fit()
    want = [(r["epoch"], r["step"]) for r in _lines(tmp_path / "a" / "metrics.jsonl")]
    got = _lines(log)
    assert [(r["epoch"], r["step"]) for r in got if r.get("event") != "stopped"] == want == \
        [(1, 6), (2, 12), (3, 18)]
    assert [(r["epoch"], r["step"]) for r in got if r.get("event") == "stopped"] == [(2, 8)]   # the stop, once


def _checkpoint_with(tmp_path, edit):
    interrupted, _ = _setup(tmp_path, "b", stop_at=8)
    interrupted.fit()
    path = tmp_path / "b" / CHECKPOINT
    tensors, meta = io.load_params(path)
    edit(tensors, meta)
    io.save_params(path, tensors, meta)
    return path


def _edit_trainer(change):
    def edit(tensors, meta):
        doc = json.loads(meta["trainer"])
        change(doc)
        meta["trainer"] = json.dumps(doc)
    return edit


@pytest.mark.parametrize("edit, message", [
    (_edit_trainer(lambda d: d.pop("epoch")), r"the trainer state has missing \['epoch'\] fields"),
    (_edit_trainer(lambda d: d.update(surprise=1)), r"the trainer state has unexpected \['surprise'\] fields"),
    (_edit_trainer(lambda d: d.update(epoch="1")), r"trainer field 'epoch' must be int, got '1'"),
    (_edit_trainer(lambda d: d.update(step_in_epoch=-3)), r"the trainer state counts below zero"),
    (lambda t, m: m.update(trainer="{not json"), r"metadata 'trainer' is not valid JSON"),
    (lambda t, m: m.pop("rngs"), r"not a complete bptt training checkpoint \(no 'rngs' metadata\)"),
    (lambda t, m: m.update(rngs="{}"), r"'rngs' must hold the states of \['dropout', 'rnn.dropout'\], found \[\]"),
    (lambda t, m: t.pop("optim/step"), r"the optimizer or random states do not fit this run: optimizer "
                                       r"state_dict has no 'step' entry"),
    (lambda t, m: t.pop("optim/exp_avg_sq.rnn.weight_hh_l0"), r"the optimizer state of 1 parameter\(s\) is "
                                                             r"incomplete \('rnn.weight_hh_l0' lacks exp_avg_sq\)"),
    (lambda t, m: t.pop("model/fc.bias"), r"tensors do not match the Classifier model:\n  missing tensor 'fc.bias'"),
])
def test_a_checkpoint_with_missing_or_extra_fields_is_refused_naming_the_file(tmp_path, edit, message):
    path = _checkpoint_with(tmp_path, edit)
    resumed, _ = _setup(tmp_path, "b")
    with pytest.raises(ValueError, match=message) as err:
        resumed.load_checkpoint(path)
    assert str(err.value).startswith(str(path))


def test_resume_refuses_other_data_and_other_settings_but_not_more_epochs(tmp_path):
    def run(identity, epochs=3, stop_at=None):
        trainer, _ = _setup(tmp_path, "b", epochs=epochs, stop_at=stop_at)
        trainer.identity = identity
        return trainer
    first = run({"settings": {"lr": 0.05, "epochs": 3}, "data": "aaa"}, stop_at=8)
    first.fit()
    path = tmp_path / "b" / CHECKPOINT
    with pytest.raises(ValueError, match=r"the training data differs from the data this checkpoint was trained "
                                         r"on \(fingerprint aaa, now bbb\)"):
        run({"settings": {"lr": 0.05, "epochs": 3}, "data": "bbb"}).load_checkpoint(path)
    with pytest.raises(ValueError, match=r"other settings than the checkpoint's \(lr was 0.05, now 0.1\): resume "
                                         r"with the same settings \(only epochs and patience may change\)"):
        run({"settings": {"lr": 0.1, "epochs": 3}, "data": "aaa"}).load_checkpoint(path)
    more = run({"settings": {"lr": 0.05, "epochs": 4}, "data": "aaa"}, epochs=4)
    more.load_checkpoint(path)
    assert more.fit().epoch == 4
