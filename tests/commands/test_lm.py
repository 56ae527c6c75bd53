"""``bptt train lm`` and ``bptt generate``, called in-process on tiny data: a stream model and a
label-conditioned one."""
import pytest

from helpers import TEXT
from helpers import run_cli as bptt


def test_cli_train_lm_then_generate_reproducibly(tmp_path, capsys):
    text = tmp_path / "input.txt"
    text.write_text(TEXT, encoding="utf-8")
    assert bptt(["train", "lm", "--text", text, "--out", tmp_path / "run", "--embedding-dim", 8,
                 "--hidden-size", 16, "--batch-size", 4, "--seq-len", 20, "--epochs", 2,
                 "--eval-every", "none", "--quiet"]) == 0
    assert "bits per character" in capsys.readouterr().out
    best = tmp_path / "run" / "best"
    outputs = []
    for _ in range(2):
        assert bptt(["generate", best, "--prime", "the ", "--length", 50, "--seed", 3, "--top-k", 5]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] and outputs[0].startswith("the ") and len(outputs[0]) == 4 + 50 + 1
    with pytest.raises(ValueError, match="not in the model's vocabulary"):
        bptt(["generate", best, "--prime", "Zebra"])


def test_cli_trains_a_label_conditioned_model(tmp_path, capsys):
    tsv = tmp_path / "train.tsv"
    rows = [("a great fun film .", 1), ("a dull bad film .", 0)] * 10
    tsv.write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows), encoding="utf-8")
    assert bptt(["train", "lm", "--labelled", tsv, "--dev", tsv, "--level", "word", "--out", tmp_path / "run",
                 "--embedding-dim", 8, "--hidden-size", 16, "--batch-size", 4, "--epochs", 15,
                 "--lr", 0.02, "--quiet"]) == 0
    assert "perplexity" in capsys.readouterr().out
    assert bptt(["generate", tmp_path / "run" / "best", "--label", "positive", "--temperature", 0]) == 0
    assert capsys.readouterr().out == "a great fun film .\n"
