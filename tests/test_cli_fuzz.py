"""Odd command lines: every option of every command given odd values (nan, inf, negative, zero,
huge, empty, "none", words, other scripts), one at a time, on tiny data and models. Each must end
in a run (status 0), a usage error (2) or a one-line error naming what is wrong (1): never a
traceback (70, "internal error"), and a number that is not finite is never accepted.

The default run tries ``FAST`` command lines drawn at random; ``pytest -m slow`` tries all.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import signal

import numpy as np
import pytest

from bptt import cli
from helpers import write_job_files

ODD = ["nan", "inf", "-inf", "-1", "0", "1e39", "", "none", "abc", "3.5", "1e-300", "true", "ünï ✓", "9" * 25]
TINY = ["--embedding-dim", "4", "--hidden-size", "4", "--epochs", "1", "--quiet"]
NOT_FUZZED = {"help", "out", "resume", "overwrite", "train", "text", "pairs", "labelled", "dev", "test", "quiet",
              "model", "texts", "data", "png", "json", "host", "port", "cache_dir", "name", "runs", "version"}
LONG = {"epochs", "length", "train_steps", "T", "batch", "time_budget", "seq_len", "eval_every", "num_layers",
        "hidden_size", "embedding_dim", "batch_size", "hidden", "record_every", "jacobian_rows", "max_len",
        "max_output_len", "beam", "train", "cond_embedding_dim", "feature_dim", "eval_batch_size"}
FAST = 60


class _Timeout(BaseException):
    pass


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    files = write_job_files(root)
    train = {"sentiment": ["train", "sentiment", "--train", files["sentiment"], *TINY],
             "tagger": ["train", "tagger", "--train", files["tagger"], *TINY],
             "seq2seq": ["train", "seq2seq", "--pairs", files["seq2seq"], *TINY],
             "lm": ["train", "lm", "--text", files["lm"], "--seq-len", "10", *TINY]}
    for job, argv in train.items():
        assert cli.main([str(a) for a in [*argv, "--out", root / job]]) == 0
    use = {"predict": ["predict", "--model", root / "sentiment" / "best", "a good film ."],
           "explain": ["explain", root / "sentiment" / "best", "a good film ."],
           "evaluate": ["evaluate", root / "sentiment" / "best", root / "s.tsv"],
           "tag": ["tag", root / "tagger" / "best", "the dog saw a cat ."],
           "translate": ["translate", root / "seq2seq" / "best", "abc"],
           "generate": ["generate", root / "lm" / "best", "--length", "5"],
           "diagnose": ["diagnose", "--T", "4", "--batch", "2", "--hidden", "3", "--cell", "gru"]}
    return root, {**train, **use}


def _options(argv) -> list[argparse.Action]:
    parser = cli.build_parser()
    args, _ = parser.parse_known_args([str(a) for a in argv])
    leaf = cli._chosen(parser, args)
    return [a for a in leaf._actions if a.option_strings and a.dest not in NOT_FUZZED]


def _cases(setup) -> list[tuple[str, str, str, bool]]:
    """(command, option, value, whether the option is a number) for every odd value of every option."""
    _, commands = setup
    return [(name, action.option_strings[0], value, _numeric(action)) for name, argv in commands.items()
            for action in _options(argv)
            for value in (ODD if action.nargs != 0 else [None])
            if not (action.dest in LONG and value.lstrip("-").isdigit() and len(value) > 3)]


def _numeric(action: argparse.Action) -> bool:
    """Whether the option takes a number (its type reads "1.5" or "2")."""
    for text in ("2", "1.5"):
        try:
            return isinstance(action.type(text), (int, float)) if action.type else False
        except (argparse.ArgumentTypeError, ValueError, TypeError):
            continue
    return False


def _run(argv, seconds: float = 60.0) -> tuple[object, str]:
    def alarm(signum, frame):
        raise _Timeout
    err, out = io.StringIO(), io.StringIO()
    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = cli.main([str(a) for a in argv])
    except SystemExit as exit_:
        code = exit_.code
    except _Timeout:
        code = "timeout"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return code, err.getvalue()


def _verdict(case, setup, tmp_path) -> tuple[str, object]:
    """("" for a run, a usage error or a one-line error, else what went wrong; the status)."""
    name, flag, value, numeric = case
    _, commands = setup
    argv = [*commands[name], flag] + ([] if value is None else [value])
    if name in ("sentiment", "tagger", "seq2seq", "lm"):
        argv += ["--out", tmp_path / f"run-{abs(hash(case))}"]
    code, err = _run(argv)
    if code == 0 and value in ("nan", "inf", "-inf") and numeric:
        return f"{' '.join(map(str, argv[:3]))} ... {flag} {value}: accepted", code
    if code == 1 and (not err.strip() or "Traceback" in err or not err.splitlines()[-1].startswith("bptt ")):
        return f"{flag} {value}: not a one-line error: {err[-300:]}", code
    if code not in (0, 1, 2):
        last = err.strip().splitlines()[-1][:300] if err.strip() else ""
        return f"{name} {flag} {value}: status {code}: {last}", code
    return "", code


def test_odd_values_of_any_option_give_a_run_or_a_clear_error(setup, tmp_path):
    cases = _cases(setup)
    rng = np.random.default_rng(0)
    chosen = [cases[i] for i in rng.choice(len(cases), size=min(FAST, len(cases)), replace=False)]
    problems = [p for p, _ in (_verdict(c, setup, tmp_path) for c in chosen) if p]
    assert problems == []


@pytest.mark.slow
def test_odd_values_of_every_option_give_a_run_or_a_clear_error(setup, tmp_path):
    from collections import Counter
    cases = _cases(setup)
    verdicts = [_verdict(c, setup, tmp_path) for c in cases]
    problems = [p for p, _ in verdicts if p]
    print(f"{len(cases)} command lines: status {dict(Counter(code for _, code in verdicts))}, "
          f"{len(problems)} problems")
    assert problems == []
