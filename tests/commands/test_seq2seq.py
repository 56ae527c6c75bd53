"""``bptt train seq2seq`` and ``bptt translate``, called in-process on string reversal."""
import json

import pytest

from bptt.data.pairs import write_pairs
from helpers import reversal_pairs, run_cli


@pytest.fixture(scope="module")
def pair_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("rev")
    write_pairs(root / "train.tsv", reversal_pairs(1500, 0))
    write_pairs(root / "dev.tsv", reversal_pairs(200, 1))
    return root


def test_cli_train_seq2seq_then_translate(pair_files, tmp_path, capsys):
    root = pair_files
    argv = ["train", "seq2seq", "--pairs", str(root / "train.tsv"), "--dev", str(root / "dev.tsv"),
            "--test", str(root / "dev.tsv"), "--out", str(tmp_path / "run"), "--quiet",
            "--epochs", "2", "--hidden-size", "16", "--embedding-dim", "4", "--max-output-len", "12"]
    assert run_cli(argv) == 0
    out = capsys.readouterr().out
    assert "best dev exact match" in out and "exact match" in out.splitlines()[-1]
    best = str(tmp_path / "run" / "best")
    assert json.loads((tmp_path / "run" / "best" / "translator.json").read_text())["max_output_len"] == 12
    assert run_cli(["translate", best, "abc", "dd"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert run_cli(["translate", best, "abc", "--beam", "3", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["source"] == "abc" and record["log_prob"] <= 0 and isinstance(record["output"], str)


def test_cli_translate_without_a_model_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a translator model"):
        run_cli(["translate", str(tmp_path), "abc"])
