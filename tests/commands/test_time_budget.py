"""``--time-budget MINUTES`` and ``--resume`` on every ``bptt train`` job: the run stops at the
budget with a checkpoint, and resuming it ends with exactly the weights of a run never stopped.

The clock is faked (``time.perf_counter`` advances 10 s at every reading), so a budget of
0.1 minutes runs out at the first check, after the first training step, whatever the machine."""
import contextlib
import itertools
import json
import time

import numpy as np
import pytest

from bptt import io
from bptt.data.pairs import write_pairs
from bptt.train import CHECKPOINT
from helpers import TEXT, negation_data, reversal_pairs, run_cli, toy_sentences


def _sentiment(root):
    texts, labels = negation_data(200, 0)
    (root / "train.tsv").write_text("sentence\tlabel\n" + "".join(
        f"{t}\t{int(y == 'positive')}\n" for t, y in zip(texts, labels)), encoding="utf-8")
    return ["sentiment", "--train", root / "train.tsv", "--embedding-dim", 8, "--hidden-size", 8,
            "--epochs", 2, "--batch-size", 32, "--patience", "none"]


def _tagger(root):
    path = root / "train.tsv"
    path.write_text("\n\n".join("\n".join(f"{w}\t{t}" for w, t in zip(s.words, s.tags))
                                for s in toy_sentences(120, 0)) + "\n", encoding="utf-8")
    return ["tagger", "--train", path, "--embedding-dim", 8, "--hidden-size", 8, "--epochs", 2,
            "--batch-size", 16, "--patience", "none"]


def _seq2seq(root):
    write_pairs(root / "pairs.tsv", reversal_pairs(200, 0))
    return ["seq2seq", "--pairs", root / "pairs.tsv", "--embedding-dim", 4, "--hidden-size", 8,
            "--epochs", 2, "--batch-size", 32, "--max-output-len", 10, "--patience", "none"]


def _lm(root):
    (root / "input.txt").write_text(TEXT, encoding="utf-8")
    return ["lm", "--text", root / "input.txt", "--embedding-dim", 8, "--hidden-size", 8,
            "--batch-size", 4, "--seq-len", 20, "--epochs", 2, "--eval-every", "none"]


JOBS = {"sentiment": _sentiment, "tagger": _tagger, "seq2seq": _seq2seq, "lm": _lm}


@contextlib.contextmanager
def fake_clock(monkeypatch):
    """``time.perf_counter`` advancing 10 s at every reading, inside the block only."""
    clock = itertools.count(1000.0, 10.0)
    with monkeypatch.context() as m:
        m.setattr(time, "perf_counter", lambda: next(clock))
        yield


def _weights(run):
    tensors, _ = io.load_params(run / CHECKPOINT)
    return {k: v for k, v in tensors.items() if k.startswith("model/")}


@pytest.mark.parametrize("job", sorted(JOBS))
def test_time_budget_stops_with_a_checkpoint_and_resume_finishes_exactly(job, tmp_path, monkeypatch, capsys):
    argv = ["train", *JOBS[job](tmp_path), "--quiet"]
    assert run_cli(argv + ["--out", tmp_path / "straight"]) == 0

    with fake_clock(monkeypatch):
        assert run_cli(argv + ["--out", tmp_path / "cut", "--time-budget", "0.1"]) == 0
    assert "stopped" in capsys.readouterr().out
    lines = [json.loads(line) for line in open(tmp_path / "cut" / "metrics.jsonl")]
    stops = [line for line in lines if line.get("event") == "stopped"]
    if job != "lm":                 # the stream LM stops through its own deadline: a "request"
        assert [(s["reason"], s["epoch"], s["step_in_epoch"]) for s in stops] == [("time budget", 1, 1)]
    assert not any("epoch" in line and "event" not in line for line in lines)   # no epoch finished
    cut = _weights(tmp_path / "cut")
    assert any(not np.array_equal(cut[k], v) for k, v in _weights(tmp_path / "straight").items())

    assert run_cli(argv + ["--out", tmp_path / "cut", "--resume", tmp_path / "cut" / CHECKPOINT]) == 0
    straight, resumed = _weights(tmp_path / "straight"), _weights(tmp_path / "cut")
    assert straight.keys() == resumed.keys()
    for name, value in straight.items():
        np.testing.assert_array_equal(resumed[name], value, err_msg=name)


def test_time_budget_must_be_positive(tmp_path, capsys):
    with pytest.raises(SystemExit):
        run_cli(["train", *_sentiment(tmp_path), "--time-budget", "0"])
    assert "expected a number > 0, got '0'" in capsys.readouterr().err


def test_an_ensemble_run_resumes_from_its_folder_and_is_refused_or_replaced_otherwise(tmp_path, monkeypatch,
                                                                                      capsys):
    """An ensemble keeps a run per member in OUT/member<k>/: ``--resume OUT`` continues each member
    from its checkpoint and ends with the weights of a run never stopped; a new run into OUT is
    refused (it holds an ensemble's run) unless ``--overwrite``, which starts it afresh."""
    argv = ["train", *_sentiment(tmp_path), "--ensemble", 2, "--quiet"]
    assert run_cli(argv + ["--out", tmp_path / "straight"]) == 0
    with fake_clock(monkeypatch):
        assert run_cli(argv + ["--out", tmp_path / "cut", "--time-budget", "0.1"]) == 0
    assert "ensemble of 1 members" in capsys.readouterr().out
    assert not (tmp_path / "cut" / "member1").exists()
    with pytest.raises(ValueError, match=r"cut: holds an ensemble's training run already \(best, member0\): "
                                         r"resume it with --resume .*cut, replace it with --overwrite"):
        run_cli(argv + ["--out", tmp_path / "cut"])
    assert run_cli(argv + ["--out", tmp_path / "cut", "--resume", tmp_path / "cut"]) == 0
    assert "ensemble of 2 members" in capsys.readouterr().out
    for k in range(2):
        straight, resumed = (_weights(tmp_path / run / f"member{k}") for run in ("straight", "cut"))
        assert straight.keys() == resumed.keys()
        for name, value in straight.items():
            np.testing.assert_array_equal(resumed[name], value, err_msg=f"member {k} {name}")
    assert (tmp_path / "cut" / "best" / "member1" / io.WEIGHTS_FILE).is_file()
    assert run_cli(argv + ["--out", tmp_path / "cut", "--overwrite", "--epochs", 1]) == 0
    lines = (tmp_path / "cut" / "member1" / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    epochs = [json.loads(line).get("epoch") for line in lines]
    assert epochs[0] == 1 and 2 not in epochs                    # the old run's lines are gone


@pytest.mark.parametrize("job", sorted(JOBS))
def test_ctrl_c_stops_with_a_checkpoint_and_exits_130(job, tmp_path, monkeypatch, capsys):
    """One Ctrl-C (SIGINT during the first step): the step finishes, the checkpoint is written,
    and ``bptt`` exits 130, so that a script can tell the interrupted run from a finished one."""
    import os
    import signal

    from bptt import cli, train
    real = train.global_norm

    def norm_then_ctrl_c(grads):
        os.kill(os.getpid(), signal.SIGINT)        # the trainer's handler: finish the step, then stop
        monkeypatch.setattr(train, "global_norm", real)
        return real(grads)
    monkeypatch.setattr(train, "global_norm", norm_then_ctrl_c)
    code = cli.main([str(a) for a in ["train", *JOBS[job](tmp_path), "--quiet", "--out", tmp_path / "run"]])
    assert code == 130, capsys.readouterr().err
    assert (tmp_path / "run" / CHECKPOINT).is_file()
    stops = [r for r in map(json.loads, open(tmp_path / "run" / "metrics.jsonl")) if r.get("event") == "stopped"]
    assert [(s["reason"], s["epoch"], s["step_in_epoch"]) for s in stops] == [("interrupt", 1, 1)]


def test_a_run_stopped_inside_its_first_epoch_can_be_plotted_and_its_card_gives_best_s_accuracy(
        tmp_path, monkeypatch, capsys):
    """Stopped by the budget after one step: only the stop evaluation chose best/. ``bptt plot``
    draws it, and the card (``GET /model``) gives the dev accuracy of exactly the weights in best/."""
    from bptt.cli import main
    from bptt.serve.model import load_model, model_card
    argv = ["train", *_sentiment(tmp_path), "--quiet", "--out", tmp_path / "run"]
    texts, labels = negation_data(60, 1)
    (tmp_path / "dev.tsv").write_text("sentence\tlabel\n" + "".join(
        f"{t}\t{int(y == 'positive')}\n" for t, y in zip(texts, labels)), encoding="utf-8")
    with fake_clock(monkeypatch):
        assert run_cli(argv + ["--time-budget", "0.1", "--dev", tmp_path / "dev.tsv"]) == 0
    records = [json.loads(line) for line in open(tmp_path / "run" / "metrics.jsonl")]
    assert [r.get("event") for r in records] == ["stopped", "stop evaluation", "time budget"]
    assert records[1]["best"]
    assert main(["plot", str(tmp_path / "run"), "--out", str(tmp_path / "pics")]) == 0
    assert (tmp_path / "pics" / "accuracy.png").is_file()
    clf, directory = load_model(str(tmp_path / "run" / "best"))
    training = model_card(clf, directory)["training"]
    accuracy = float(np.mean(clf.predict(texts) == np.asarray(labels)))
    assert training["best"] == {"dev_accuracy": accuracy} and accuracy == records[1]["dev_accuracy"]
    assert (training["epochs"], training["best_epoch"], training["best_event"]) == (0, 1, "stop evaluation")
