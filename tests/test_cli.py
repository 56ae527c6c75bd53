"""The ``bptt`` command's error path: one line naming what is wrong for an expected failure, the
traceback and "a bug" for anything else, "did you mean" for a mistyped option, --version."""
import pytest

from bptt import __version__, cli


def _run(argv, capsys) -> tuple[int, str]:
    try:
        code = cli.main(argv)
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out == f"bptt {__version__}\n"


def test_a_mistyped_option_is_one_line_with_a_suggestion_and_a_pointer_to_help(capsys):
    code, err = _run(["train", "sentiment", "--train", "x.tsv", "--epocs", "3"], capsys)
    assert (code, err) == (2, "bptt train sentiment: error: unknown option --epocs (did you mean --epochs?) "
                              "(see bptt train sentiment --help)\n")


@pytest.mark.parametrize("argv, option, meant", [
    (["train", "sentiment", "--train", "x.tsv", "--hidden", "64"], "--hidden", "--hidden-size"),
    (["train", "lm", "--text", "x.txt", "--time", "1"], "--time", "--time-budget"),
    (["predict", "--mod", "sst2", "a gem"], "--mod", "--model"),
])
def test_an_option_is_never_abbreviated(capsys, argv, option, meant):
    code, err = _run(argv, capsys)
    assert code == 2 and err.startswith(f"bptt {' '.join(argv[:2 if argv[0] == 'train' else 1])}: error: "
                                        f"unknown option {option} (did you mean {meant}?)")


@pytest.mark.parametrize("argv, key, value", [
    (["predict", "sst2", "--json", "a gem", "a bore"], "json", True),
    (["tag", "runs/tagger/best", "--json", "The dog barks."], "texts", ["The dog barks."]),
    (["translate", "m", "x", "--beam", "3"], "beam", 3),
    (["serve", "imdb", "--port", "9"], "port", 9),
    (["evaluate", "--json", "sst2", "dev.tsv", "--max-len", "5"], "data", "dev.tsv"),
    (["plot", "a", "--out", "d", "b"], "runs", ["a", "b"]),
    (["train", "tagger", "--train", "t.tsv", "--test", "a", "b", "--epochs", "2"], "test", ["a", "b"]),
])
def test_options_may_come_after_positional_arguments(argv, key, value):
    args, _ = cli.parse(argv)
    assert getattr(args, key) == value


def test_after_a_double_dash_every_word_is_a_text():
    args, _ = cli.parse(["predict", "--json", "--", "-not an option", "--model"])
    assert args.texts == ["-not an option", "--model"] and args.json


def test_an_expected_failure_is_one_line_naming_the_file(tmp_path, capsys):
    code, err = _run(["train", "tagger", "--train", str(tmp_path)], capsys)
    assert code == 1 and err == f"bptt train tagger: {tmp_path}: is a folder; expected a file\n"


def _command_raising(monkeypatch, fail):
    """Make ``bptt plot x`` run ``fail(args)`` instead of plotting."""
    monkeypatch.setattr(cli, "parse", lambda argv: (type("A", (), {"func": staticmethod(fail)})(), "bptt plot"))


@pytest.mark.parametrize("raised, line", [
    (PermissionError(13, "Permission denied", "runs/x"), "bptt plot: runs/x: Permission denied"),
    (OSError(28, "No space left on device", "runs/x/best"), "bptt plot: runs/x/best: No space left on device"),
])
def test_operating_system_errors_are_one_line_naming_the_file(monkeypatch, capsys, raised, line):
    def fail(args):
        raise raised
    _command_raising(monkeypatch, fail)
    assert _run(["plot", "x"], capsys) == (1, line + "\n")


def test_a_message_of_several_lines_is_joined_into_one(monkeypatch, capsys):
    from bptt import Recurrent, RecurrentConfig, io
    model = Recurrent(RecurrentConfig("gru", 2, 3))
    _command_raising(monkeypatch, lambda args: io.load_state_dict(model, {}, "w.safetensors"))
    code, err = _run(["plot", "x"], capsys)
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("bptt plot: w.safetensors: tensors do not match the Recurrent model: missing tensor "
                          "'weight_ih_l0' (expected shape (9, 2)); missing tensor 'weight_hh_l0'")


@pytest.mark.parametrize("raised", [TypeError("unsupported operand"), KeyError("epoch"),
                                    ValueError("operands could not be broadcast")])
def test_anything_else_is_a_bug_with_its_traceback(monkeypatch, capsys, raised):
    import numpy as np

    def fail(args):
        if isinstance(raised, ValueError):          # raised inside NumPy: a bug, not a bad input
            np.zeros(2) + np.zeros(3)
        raise raised
    _command_raising(monkeypatch, fail)
    code, err = _run(["plot", "x"], capsys)
    assert code == 70 and err.startswith("Traceback (most recent call last):")
    assert err.splitlines()[-1].startswith("bptt plot: internal error (") and "this is a bug in bptt" in err


def test_ctrl_c_is_one_line_and_status_130(monkeypatch, capsys):
    def fail(args):
        raise KeyboardInterrupt
    _command_raising(monkeypatch, fail)
    assert _run(["plot", "x"], capsys) == (130, "\nbptt plot: interrupted\n")
