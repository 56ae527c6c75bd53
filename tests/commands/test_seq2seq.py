"""``bptt train seq2seq`` and ``bptt translate``, called in-process on string reversal."""
import json
import re

import pytest

from bptt.data.pairs import read_pairs, write_pairs
from bptt.jobs.translation import Translator
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
            "--epochs", "3", "--hidden-size", "16", "--embedding-dim", "4", "--max-output-len", "12"]
    assert run_cli(argv) == 0
    out = capsys.readouterr().out
    best = str(tmp_path / "run" / "best")
    assert json.loads((tmp_path / "run" / "best" / "translator.json").read_text())["max_output_len"] == 12
    model = Translator.load(best)
    exact = model.evaluate(read_pairs(root / "dev.tsv"))["exact_match"]     # --test is the dev file
    assert "best dev exact match" in out
    assert re.search(r"exact match (\d\.\d{4})", out.splitlines()[-1]).group(1) == f"{exact:.4f}"
    expected = model.translate(["abc", "dd", "bbbd"])
    assert len(set(expected)) == 3                                  # one line per text, in order
    assert run_cli(["translate", best, "abc", "dd", "bbbd"]) == 0
    assert capsys.readouterr().out.splitlines() == expected
    assert run_cli(["translate", best, "abc", "--beam", "3", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    hyp = model.hypotheses(["abc"], beam=3)[0]
    assert record == {"source": "abc", "output": model.translate(["abc"], beam=3)[0],
                      "log_prob": round(hyp.score, 6), "finished": hyp.finished}
    assert hyp.score <= 0


def test_cli_translate_without_a_model_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a translator model"):
        run_cli(["translate", str(tmp_path), "abc"])


@pytest.mark.parametrize("beam", ["1", "3"])
@pytest.mark.parametrize("source", ["stdin", "file"])
def test_translate_answers_a_blank_line_with_empty_and_the_others_in_line(pair_files, tmp_path, capsys,
                                                                          monkeypatch, beam, source):
    import io
    import sys
    from bptt.cli import main
    model = Translator(embedding_dim=4, hidden_size=8, epochs=1, max_output_len=8, patience=None, verbose=0).fit(
        reversal_pairs(60, 0), reversal_pairs(10, 1), progress=False)
    model.save(tmp_path / "m")
    lines = "abc\n\ndd\n"
    expected = model.translate(["abc"], beam=int(beam)) + ["(empty)"] + \
        model.translate(["dd"], beam=int(beam))
    if source == "file":
        (tmp_path / "in.txt").write_text(lines)
        monkeypatch.setattr(sys, "stdin", open(tmp_path / "in.txt"))
    else:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(lines.encode())))
    assert main(["translate", str(tmp_path / "m"), "--beam", beam]) == 0
    assert capsys.readouterr().out.splitlines() == expected
    assert main(["translate", str(tmp_path / "m"), "", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"source": "", "output": None, "note": "nothing to translate"}
