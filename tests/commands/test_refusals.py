"""What every ``bptt`` command refuses, and how: arguments before any data is read, ``none`` kept
as None, a run folder never overwritten by accident, inputs a model cannot take; help and choices
on every option. Tiny runs, in-process (``cli.main`` turns errors into lines)."""
import argparse
import json
import re

import pytest

from bptt import cli
from helpers import write_job_files

TINY = ["--embedding-dim", "4", "--hidden-size", "4", "--epochs", "1", "--quiet"]


def _run(argv, capsys) -> tuple[int, str, str]:
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_job_files(root, 60)
    return root


TRAIN = {"sentiment": (["train", "sentiment", "--train"], "s.tsv"), "tagger": (["train", "tagger", "--train"], "tags.tsv"),
         "seq2seq": (["train", "seq2seq", "--pairs"], "pairs.tsv"), "lm": (["train", "lm", "--text"], "text.txt")}


def _train(job, data, out, *extra, file=None):
    command, name = TRAIN[job]
    return [*command, file or data / name, *(["--seq-len", "10"] if job == "lm" else []), *TINY, "--out", out, *extra]


@pytest.fixture(scope="module")
def models(data, tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    for job in TRAIN:
        assert cli.main([str(a) for a in _train(job, data, root / job)]) == 0, job
    return root


# ---- arguments ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("job", list(TRAIN))
@pytest.mark.parametrize("flag, value, message", [
    ("--hidden-size", "0", "argument --hidden-size: hidden_size must be in [1, 1000000], got 0"),
    ("--lr", "nan", "argument --lr: lr must be a finite number, got nan"),
    ("--lr", "-1", "argument --lr: lr must be in (0.0, inf), got -1.0"),
    ("--seed", "-1", "argument --seed: seed must be in [0, 9223372036854775807], got -1"),
    ("--cell", "foo", "argument --cell: invalid choice: 'foo' (choose from 'rnn_tanh', 'rnn_relu', 'rnn_sigmoid', "
                      "'lstm', 'gru', 'mingru', 'minlstm')"),
    ("--dtype", "float16", "argument --dtype: invalid choice: 'float16' (choose from 'float32', 'float64')"),
    ("--dropout", "1", "argument --dropout: dropout must be in [0.0, 1.0), got 1.0"),
    ("--hidden-size", "none", "argument --hidden-size: hidden_size cannot be none"),
    ("--num-layers", "9" * 25, "argument --num-layers: num_layers must be in [1, 100], got 9999"),
])
def test_a_bad_value_is_refused_before_any_data_is_read(tmp_path, capsys, job, flag, value, message):
    argv = _train(job, None, tmp_path / "run", flag, value, file=tmp_path / "does-not-exist")
    code, _, err = _run(argv, capsys)
    assert code == 2 and message in err and "does-not-exist" not in err, err


@pytest.mark.parametrize("job, flag, value, code, message", [
    ("sentiment", "--ensemble", "0", 2, "argument --ensemble: ensemble must be in [1, 100], got 0"),
    ("sentiment", "--ensemble", "2.5", 2, "argument --ensemble: expected int, got '2.5'"),
    ("sentiment", "--vectors-vocab", "-1", 2, "argument --vectors-vocab: vectors_vocab must be in [0, 100000000], got -1"),
    ("sentiment", "--max-len", "0", 2, "argument --max-len: max_len must be in [1, 100000000], got 0"),
    ("sentiment", "--truncate", "middle", 2, ("argument --truncate: invalid choice: 'middle' (choose from "
                                              "'head', 'tail', 'head+tail')")),
    ("sentiment", "--pooling", "sum", 2, ("argument --pooling: invalid choice: 'sum' (choose from 'last', "
                                          "'mean', 'max', 'max+mean', 'last+max+mean')")),
    ("sentiment", "--freeze-vectors", "maybe", 2, "argument --freeze-vectors: expected true or false, got 'maybe'"),
    ("sentiment", "--dev-fraction", "1.5", 2, "argument --dev-fraction: dev_fraction must be in (0.0, 1.0), got 1.5"),
    ("sentiment", "--dev-fraction", "0.9", 1, "dev_fraction must be in (0, 0.5], got 0.9"),
    ("sentiment", "--word-dropout", "1", 1, "word_dropout must be in [0, 1) (a probability), got 1.0"),
    ("sentiment", "--freeze-vectors", "true", 1, "vectors_vocab and freeze_vectors need vectors (a word-vector file)"),
    ("tagger", "--vectors-vocab", "3", 1, "vectors_vocab and freeze_vectors need vectors (a word-vector file)"),
    ("lm", "--vectors", "v.txt", 1, "vectors (pretrained word vectors) need level='word'"),
    ("sentiment", "--vectors", "no-such-vectors.txt", 1, "no-such-vectors.txt: no such file"),
    ("sentiment", "--time-budget", "inf", 2, "argument --time-budget: expected a number > 0, got 'inf'"),
    ("lm", "--time-budget", "nan", 2, "argument --time-budget: expected a number > 0, got 'nan'"),
    ("tagger", "--time-budget", "-1", 2, "argument --time-budget: expected a number > 0, got '-1'"),
])
def test_the_new_settings_are_refused_by_their_rules_before_any_data_is_read(tmp_path, capsys, job, flag,
                                                                                value, code, message):
    """The settings of pretrained vectors, long texts, ensembles and the time budget follow the
    rules by name (``jobs._rules``, status 2 as each flag is parsed) or the settings' own checks
    (status 1, one line), always before the data files are looked at."""
    argv = _train(job, None, tmp_path / "run", flag, value, file=tmp_path / "does-not-exist")
    got, _, err = _run(argv, capsys)
    assert got == code and message in err and "does-not-exist" not in err, err
    if code == 1:
        assert err.count("\n") == 1 and err.startswith(f"bptt train {job}: ")


def test_settings_of_refuses_the_new_settings_by_name_in_the_library_too():
    from bptt.jobs.sentiment import SentimentClassifier
    for given, message in [({"ensemble": 0}, "ensemble must be in [1, 100], got 0"),
                           ({"ensemble": True}, "ensemble must be an integer >= 1, got True"),
                           ({"truncate": "middle"}, "truncate must be one of head, tail, head+tail, got 'middle'"),
                           ({"max_len": -5}, "max_len must be in [1, 100000000], got -5"),
                           ({"vectors_vocab": 1.5}, "vectors_vocab must be an integer, got 1.5"),
                           ({"word_dropout": float("nan")}, "word_dropout must be a finite number, got nan")]:
        with pytest.raises(ValueError, match=re.escape(message)):
            SentimentClassifier(**given)


def test_none_is_kept_as_none_and_saved(data, tmp_path, capsys):
    code, _, _ = _run(_train("sentiment", data, tmp_path / "run", "--clip-norm", "none", "--patience", "none",
                             "--max-len", "none"), capsys)
    assert code == 0
    saved = json.loads((tmp_path / "run" / "best" / "sentiment.json").read_text())["settings"]
    assert saved["clip_norm"] is None and saved["patience"] is None and saved["max_len"] is None


def test_every_option_has_help_and_lists_its_choices():
    def walk(parser, name):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub_name, sub in action.choices.items():
                    yield from walk(sub, f"{name} {sub_name}")
            elif action.dest != "help":
                yield name, action
    missing = [(name, a.option_strings or a.dest) for name, a in walk(cli.build_parser(), "bptt") if not a.help]
    assert missing == []
    options = {(name, a.option_strings[0]): a for name, a in walk(cli.build_parser(), "bptt") if a.option_strings}
    for job in ("sentiment", "tagger", "seq2seq", "lm"):
        assert tuple(options[(f"bptt train {job}", "--cell")].choices) == (
            "rnn_tanh", "rnn_relu", "rnn_sigmoid", "lstm", "gru", "mingru", "minlstm")
        assert options[(f"bptt train {job}", "--optimizer")].choices is not None


# ---- run folders -------------------------------------------------------------------------------------
@pytest.mark.parametrize("job", list(TRAIN))
def test_a_folder_holding_a_run_is_refused_before_reading_unless_resumed_or_overwritten(
        data, models, tmp_path, capsys, job):
    import shutil
    out = tmp_path / "run"
    shutil.copytree(models / job, out)
    before = (out / "checkpoint.safetensors").read_bytes()
    code, _, err = _run(_train(job, data, out, file=tmp_path / "missing"), capsys)
    assert code == 1 and err.startswith(f"bptt train {job}: {out}: holds a training run already (")
    assert "--resume" in err and "--overwrite" in err and (out / "checkpoint.safetensors").read_bytes() == before
    code, _, err = _run(_train(job, data, out, "--resume", out), capsys)   # one more epoch? none: done
    assert code == 0, err
    code, _, err = _run(_train(job, data, out, "--overwrite", "--epochs", "2"), capsys)
    assert code == 0, err
    epochs = [r["epoch"] for r in map(json.loads, open(out / "metrics.jsonl")) if "event" not in r]
    assert epochs[-1] == 2 and epochs == sorted(set(epochs))


def test_resume_names_a_missing_checkpoint(data, tmp_path, capsys):
    code, _, err = _run(_train("sentiment", data, tmp_path / "run", "--resume", tmp_path / "nope"), capsys)
    assert code == 1 and f"{tmp_path / 'nope'}: no such checkpoint" in err


def test_resume_with_an_out_naming_another_folder_is_refused(models, tmp_path, data, capsys):
    import shutil
    shutil.copytree(models / "sentiment", tmp_path / "other")
    for out in (tmp_path / "other", tmp_path / "empty"):
        code, _, err = _run(_train("sentiment", data, out, "--resume", models / "tagger"), capsys)
        assert code == 1 and err == (f"bptt train sentiment: --out {out}: a resumed run continues in its own "
                                     f"folder, {models / 'tagger'}: leave out --out (or give --out "
                                     f"{models / 'tagger'})\n")
    assert not (tmp_path / "empty").exists()


@pytest.mark.parametrize("job", list(TRAIN))
def test_resume_without_out_continues_in_the_resumed_folder(data, models, tmp_path, monkeypatch, capsys, job):
    """``--resume DIR`` continues in DIR, not in the default --out (runs/<job>) of the directory
    the command runs in; its metrics stay in one file."""
    import shutil
    shutil.copytree(models / job, tmp_path / "run")
    monkeypatch.chdir(tmp_path)
    argv = [a for a in _train(job, data, "unused", "--resume", tmp_path / "run", "--epochs", "2")
            if a != "unused"]
    argv.remove("--out")
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    assert not (tmp_path / "runs").exists()
    epochs = [r["epoch"] for r in map(json.loads, open(tmp_path / "run" / "metrics.jsonl")) if "event" not in r]
    assert epochs == [1, 2]
    assert str(tmp_path / "run" / "best") in out


def test_a_run_stopped_before_its_first_evaluation_says_there_is_no_best_model(tmp_path):
    from types import SimpleNamespace

    from bptt.commands._settings import run_summary
    trainer = SimpleNamespace(state=SimpleNamespace(best_epoch=0, best_score=float("-inf")))
    assert run_summary(trainer, "accuracy", tmp_path) == (
        f"stopped before the first evaluation: no best model yet; resume with --resume "
        f"{tmp_path / 'checkpoint.safetensors'}")


# ---- what a model cannot take ------------------------------------------------------------------------
def test_translate_answers_an_empty_text_with_empty(models, capsys):
    code, out, err = _run(["translate", models / "seq2seq" / "best", "", "ab"], capsys)
    assert (code, out.splitlines()[0], err) == (0, "(empty)", "") and len(out.splitlines()) == 2


def test_translate_refuses_a_huge_text(models, capsys):
    code, out, err = _run(["translate", models / "seq2seq" / "best", "a " * 20_000], capsys)
    assert code == 1 and out == "" and "text 1 has 40,000 tokens, more than the 10,000" in err


def test_explain_reads_a_text_too_long_for_every_prefix_in_bounded_spans(models, capsys):
    """5,000 words would be 12.5 M token steps prefix by prefix: explain reads 200 evenly spaced
    prefixes instead (EXPLAIN_STEPS, 500,000 steps), each row the words since the previous one."""
    from bptt.jobs.sentiment import EXPLAIN_STEPS, SentimentClassifier
    code, out, err = _run(["explain", models / "sentiment" / "best", "good " * 5000, "--json"], capsys)
    assert code == 0 and err == ""
    rows = json.loads(out)
    assert len(rows) == 2 * EXPLAIN_STEPS // 5000 == 200
    assert " ".join(r["token"] for r in rows).split() == ["good"] * 5000
    assert all(len(r["token"].split()) == 25 for r in rows)
    whole = SentimentClassifier.load(models / "sentiment" / "best").predict_proba(["good " * 5000])[0]
    assert [rows[-1]["probabilities"][c] for c in ("negative", "positive")] == pytest.approx(whole, abs=1e-6)


@pytest.mark.parametrize("flag, value", [("--temperature", "nan"), ("--temperature", "-1"), ("--length", "0"),
                                         ("--top-k", "0")])
def test_generate_refuses_odd_numbers(models, capsys, flag, value):
    code, out, err = _run(["generate", models / "lm" / "best", flag, value], capsys)
    assert code == 2 and out == "" and f"argument {flag}:" in err


def test_generate_writes_nothing_when_the_prime_holds_unknown_characters(models, capsys):
    code, out, err = _run(["generate", models / "lm" / "best", "--prime", "the Zebra"], capsys)
    assert (code, out) == (1, "")
    assert err == ("bptt generate: the prime 'the Zebra': characters ['Z', 'b'] are not in the model's "
                   "vocabulary (16 characters)\n")


@pytest.mark.parametrize("job", ["sentiment", "tagger", "lm"])
def test_diagnose_reads_the_models_the_jobs_make(models, capsys, job):
    code, out, err = _run(["diagnose", "--model", models / job / "best", "--T", "5", "--batch", "2",
                           "--jacobian-rows", "1"], capsys)
    assert code == 0, err
    assert "weight_hh spectrum" in out and "rnn.weight_hh_l0" in out


def test_diagnose_says_why_a_seq2seq_model_is_not_diagnosed(models, capsys):
    code, _, err = _run(["diagnose", "--model", models / "seq2seq" / "best", "--T", "5"], capsys)
    assert code == 1 and "a Seq2Seq has no single recurrent layer to diagnose" in err


# ---- what the readers report ---------------------------------------------------------------------------
def test_a_misspelt_label_is_refused_and_classes_fixes_the_set(data, tmp_path, capsys):
    rows = (data / "s.tsv").read_text(encoding="utf-8").splitlines()[1:]
    table = "text\tlabel\n" + "".join(f"{r.split(chr(9))[0]}\t{['negative', 'positive'][int(r[-1])]}\n" for r in rows)
    (tmp_path / "t.tsv").write_text(table + "a typo here\tpositve\n", encoding="utf-8")
    code, _, err = _run(["train", "sentiment", "--train", tmp_path / "t.tsv", *TINY, "--out", tmp_path / "a"], capsys)
    assert code == 1 and f"{tmp_path / 't.tsv'}:62: label 'positve' (1 row) differs from 'positive' (40 rows) " \
                         "only by one character: a misspelt label?" in err and not (tmp_path / "a" / "best").exists()
    code, _, err = _run(["train", "sentiment", "--train", tmp_path / "t.tsv", *TINY, "--out", tmp_path / "b",
                         "--classes", "negative,positive"], capsys)
    assert code == 0 and "kept 60 of 61 rows; classes negative 20, positive 40; skipped 1: line 62: label " \
                         "'positve' is not one of ('negative', 'positive')" in err
    code, out, err = _run(["evaluate", tmp_path / "b" / "best", tmp_path / "t.tsv"], capsys)
    assert code == 0 and "skipped 1: line 62: label 'positve'" in err


def test_every_reader_of_the_commands_reports_a_byte_order_mark(data, tmp_path, capsys):
    for job, name in (("tagger", "tags.tsv"), ("seq2seq", "pairs.tsv"), ("lm", "text.txt"), ("sentiment", "s.tsv")):
        (tmp_path / name).write_bytes(b"\xef\xbb\xbf" + (data / name).read_bytes())
        code, _, err = _run(_train(job, data, tmp_path / job, file=tmp_path / name), capsys)
        assert code == 0, err
        assert f"{name}: " in err and "removed a UTF-8 byte-order mark" in err, (job, err)


@pytest.mark.parametrize("argv, name, content, message", [
    (["train", "tagger", "--train"], "one.tsv", "The\tDET\ndog\tNOUN\n", "holds 1 sentence: too few to hold out "
     "a dev set and train on the rest; give a dev set (--dev FILE) or more sentences"),
    (["train", "seq2seq", "--pairs"], "one.tsv", "abc\tcba\n", "holds 1 pair: too few to hold out a dev set"),
    (["train", "sentiment", "--classes", "negative,positive", "--train"], "one.jsonl",
     '{"text": "good", "label": "positive"}\n', "holds 1 labelled text: too few to hold out a dev set"),
    (["train", "lm", "--labelled"], "one.jsonl", '{"text": "good", "label": "positive"}\n',
     "holds 1 labelled sentence: too few to hold out a dev set"),
    (["train", "sentiment", "--train"], "one.csv", "text,label\ngood,positive\nfine,positive\nok,positive\n",
     "all 3 rows have the label 'positive': a classifier needs two classes or more"),
    (["train", "sentiment", "--train"], "one.jsonl", '{"text": "good", "label": "positive"}\n',
     "its only row has the label 'positive': a classifier needs two classes or more"),
])
def test_too_little_training_data_is_an_error_naming_the_file_and_what_it_holds(tmp_path, capsys, argv, name,
                                                                               content, message):
    (tmp_path / name).write_text(content, encoding="utf-8")
    code, _, err = _run([*argv, tmp_path / name, *TINY, "--out", tmp_path / "run"], capsys)
    assert code == 1 and err.splitlines()[-1].startswith(f"bptt {' '.join(argv[:2])}: {tmp_path / name}: {message}")
