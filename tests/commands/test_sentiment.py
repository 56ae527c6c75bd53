"""The sentiment commands: train, predict (arguments, stdin, JSON), explain, evaluate, errors."""
import io as stdio
import json

import pytest

from bptt.cli import main
from helpers import negation_data


def _write_tsv(path, texts, labels):
    lines = ["sentence\tlabel"] + [f"{t}\t{1 if l == 'positive' else 0}" for t, l in zip(texts, labels)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    train = _write_tsv(root / "train.tsv", *negation_data(1200, 0))
    dev = _write_tsv(root / "dev.tsv", *negation_data(200, 1))
    code = main(["train", "sentiment", "--train", str(train), "--dev", str(dev), "--out", str(root / "run"),
                 "--cell", "gru", "--embedding-dim", "16", "--hidden-size", "24", "--bidirectional", "false",
                 "--pooling", "last", "--embedding-dropout", "0", "--output-dropout", "0",
                 "--epochs", "5", "--batch-size", "32", "--lr", "0.01", "--quiet"])
    assert code == 0
    return root / "run" / "best", dev


def test_train_writes_metrics_and_checkpoint(model_dir):
    best, _ = model_dir
    lines = [json.loads(l) for l in open(best.parent / "metrics.jsonl")]
    assert [l["epoch"] for l in lines] == [1, 2, 3, 4, 5]
    assert (best.parent / "checkpoint.safetensors").is_file()
    assert max(l["dev_accuracy"] for l in lines) > 0.97


def test_predict_texts_and_json(model_dir, capsys):
    best, _ = model_dir
    assert main(["predict", str(best), "the movie is not good .", "the plot is great ."]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in out] == ["negative", "positive"]
    assert main(["predict", "--model", str(best), "--json", "it is not bad ."]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["label"] == "positive" and abs(sum(record["probabilities"].values()) - 1) < 1e-6


def test_predict_reads_stdin(model_dir, capsys, monkeypatch):
    best, _ = model_dir
    monkeypatch.setattr("sys.stdin", stdio.StringIO("the movie is good .\nthe movie is not good .\n"))
    assert main(["predict", "--model", str(best)]) == 0
    assert [l.split("\t")[0] for l in capsys.readouterr().out.splitlines()] == ["positive", "negative"]


def test_explain_shows_not_flipping_good(model_dir, capsys):
    best, _ = model_dir
    assert main(["explain", str(best), "the movie is not good ."]) == 0
    rows = capsys.readouterr().out.splitlines()
    words = [r.split()[0] for r in rows[1:-1]]
    assert words == ["the", "movie", "is", "not", "good", "."] and rows[-1] == "=> negative"


def test_evaluate_reports_accuracy_and_confusion(model_dir, capsys):
    best, dev = model_dir
    assert main(["evaluate", str(best), str(dev), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["accuracy"] > 0.97
    assert sum(map(sum, report["confusion_matrix"])) == 200


def test_bad_input_names_the_file_and_line(model_dir, tmp_path, capsys):
    best, _ = model_dir
    assert main(["evaluate", str(best), str(tmp_path / "nope.tsv")]) == 1
    assert "nope.tsv" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path), str(tmp_path / "nope.tsv")]) == 1
    assert "is neither a shipped model (sst2, imdb) nor a model directory" in capsys.readouterr().err
    bad = tmp_path / "bad.tsv"
    bad.write_text("sentence\tlabel\nthe movie is good .\t1\n\t0\nit is bad .\tmaybe\n", encoding="utf-8")
    assert main(["evaluate", str(best), str(bad), "--json"]) == 0
    captured = capsys.readouterr()
    assert "kept 1 of 3 rows" in captured.err and "line 3" in captured.err and "line 4" in captured.err
    assert sum(map(sum, json.loads(captured.out)["confusion_matrix"])) == 1


@pytest.mark.parametrize("text", ["good\nbad", "good\r\nbad", "good\n\n"])
def test_an_argument_holding_a_line_break_is_one_text_with_one_line_of_answer(model_dir, capsys, text):
    best, _ = model_dir
    assert main(["predict", "--model", str(best), text, "the plot is great ."]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 2                   # answers are split on \n only, as --input lines
    assert out.split("\n")[0].split("\t")[2] == text.replace("\n", "\\n")


def test_the_shipped_models_cards_carry_their_figures_and_cite_no_results_file(capsys):
    """An installed package has no bench/results: ``bptt models`` (and each card.json) gives the
    figures themselves and names no results file."""
    assert main(["models", "--json"]) == 0
    models = json.loads(capsys.readouterr().out)
    assert main(["models"]) == 0
    text = capsys.readouterr().out
    for m in models:
        assert m["figures"] and all(isinstance(v, (int, float)) for v in m["figures"].values()), m["name"]
    for m in (m for m in models if m["name"] in ("sst2", "imdb")):
        assert m["figures"]["dev_accuracy"] > 0.8 and f"dev_accuracy: {m['figures']['dev_accuracy']:.2%}" in text
    assert "bench/results" not in text and "bench/results" not in json.dumps(models)
