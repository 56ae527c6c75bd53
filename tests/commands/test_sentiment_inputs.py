"""MODEL arguments (shipped names, model directories, anything else an error naming both), and
texts as users have them: long, odd, on the command line, in a file and on stdin, one per line
split on ``\\n`` only, empty ones answered per line. Uses the shipped sst2 model (offline)."""
import io as stdio
import json
import subprocess
import sys

import numpy as np
import pytest

from bptt.cli import main
from bptt.jobs.sentiment import SHIPPED, SentimentClassifier, resolve_model

LONG = "a truly wonderful film " * 12                     # 276 bytes: once a "File name too long"


@pytest.fixture(scope="module")
def sst2():
    return SentimentClassifier.pretrained("sst2")


def _stdin(monkeypatch, data: bytes):
    class Stdin(stdio.TextIOWrapper):
        pass
    monkeypatch.setattr("sys.stdin", Stdin(stdio.BytesIO(data), encoding="utf-8"))


def _rows(capsys):
    return capsys.readouterr().out.split("\n")[:-1]


def test_a_long_positional_text_is_a_text_not_a_path(sst2, capsys):
    assert main(["predict", LONG]) == 0
    label, p, text = _rows(capsys)[0].split("\t")
    assert text == LONG and label == sst2.predict([LONG])[0]
    huge = "x" * 5000 + "/" + "y" * 5000                  # no whitespace, a slash: still a lone text
    assert main(["predict", huge]) == 0 and _rows(capsys)[0].endswith(huge)


def test_shipped_names_and_directories_are_models_anything_else_an_error(sst2, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)                          # works from any directory
    assert main(["predict", "sst2", "this movie is not good", "this movie is good"]) == 0
    assert [r.split("\t")[0] for r in _rows(capsys)] == ["negative", "positive"]
    assert main(["predict", "--model", "sst2", "sst2"]) == 0          # with --model every positional is a text
    assert _rows(capsys)[0].endswith("\tsst2")
    assert main(["predict", str(resolve_model("sst2")), "this movie is good"]) == 0
    assert _rows(capsys)[0].startswith("positive")
    assert main(["predict", "runs/my_model", "not good"]) == 1        # a mistyped path: not a text
    err = capsys.readouterr().err
    assert "MODEL 'runs/my_model' is neither a shipped model (sst2, imdb) nor a model directory" in err
    assert "no such directory" in err
    (tmp_path / "empty_dir").mkdir()
    assert main(["evaluate", "empty_dir", "x.tsv"]) == 1
    assert "no sentiment.json in it" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no shipped model 'sst3'; the shipped models are sst2, imdb"):
        SentimentClassifier.pretrained("sst3")
    assert SHIPPED == ("sst2", "imdb")


def test_stdin_splits_on_newline_only_and_answers_every_line(sst2, monkeypatch, capsys):
    texts = ["a gorgeous film\u2028with a line separator", "next\x85line", "form\x0cfeed", "", "   ",
             "carriage\rreturn inside", "windows line end", "the plot is bad ."]
    data = ("\n".join(texts[:6]) + "\n" + texts[6] + "\r\n" + texts[7] + "\n").encode("utf-8")
    _stdin(monkeypatch, data)
    assert main(["predict"]) == 0
    rows = _rows(capsys)
    assert len(rows) == len(texts)
    assert [r.split("\t", 2)[2] for r in rows] == texts
    assert rows[3] == "(empty)\t-\t" and rows[4] == "(empty)\t-\t   "
    full = [t for t in texts if t.strip()]
    assert [r.split("\t")[0] for r in rows if not r.startswith("(empty)")] == sst2.predict(full)


def test_stdin_json_marks_empty_lines_and_undecodable_bytes_name_the_line(monkeypatch, capsys):
    _stdin(monkeypatch, b"good\n\nbad\n")
    assert main(["predict", "--json"]) == 0
    records = [json.loads(r) for r in _rows(capsys)]
    assert records[1] == {"text": "", "label": None, "probabilities": None, "note": "no words to classify"}
    assert records[0]["label"] in ("positive", "negative") and len(records) == 3
    _stdin(monkeypatch, b"fine\ncaf\xe9\n")
    assert main(["predict"]) == 1
    assert "<stdin>:2: undecodable UTF-8 bytes at byte 3" in capsys.readouterr().err


def test_input_file_and_max_len(sst2, tmp_path, capsys):
    path = tmp_path / "reviews.txt"
    path.write_text("this movie is good\u2028really\nnot good at all\n", encoding="utf-8")
    assert main(["predict", "--input", str(path), "--json"]) == 0
    records = [json.loads(r) for r in _rows(capsys)]
    assert [r["text"] for r in records] == ["this movie is good\u2028really", "not good at all"]
    text = "the film is awful . " * 20 + "but in the end it is wonderful , moving and great ."
    assert main(["predict", "--json", "--max-len", "12", "--truncate", "tail", text]) == 0
    tail = json.loads(_rows(capsys)[0])["probabilities"]["positive"]
    np.testing.assert_allclose(tail, sst2.predict_proba([text], 12, "tail")[0, 1], rtol=1e-6)
    np.testing.assert_allclose(sst2.predict_proba([text], 12, "tail"),
                               sst2.predict_proba(["but in the end it is wonderful , moving and great ."]))
    assert main(["predict", "--input", str(tmp_path / "missing.txt")]) == 1
    assert "missing.txt: no such file" in capsys.readouterr().err


PROBE = """
import json, resource
from bptt.jobs.sentiment import SentimentClassifier
clf = SentimentClassifier.pretrained("sst2")
text = ("the acting is good but the plot is not , and i was bored . " * 2000)[:100_000]
p = clf.predict_proba([text])[0]
steps = clf.explain(text, max_steps=50_000)
print(json.dumps({"rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "p": p.tolist(),
                  "last": steps[-1][1].tolist(), "rows": len(steps),
                  "same_words": " ".join(t for t, _ in steps).split() == text.split()}))
"""


def test_a_100000_character_review_is_predicted_and_explained_in_one_batch_of_memory():
    out = json.loads(subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                                    check=True).stdout)
    assert out["rows"] == 16 and out["same_words"]          # the fewest rows: 16 spans of all the words
    # the last row is the whole text; explain sums the backward states of each prefix from its end
    # (bptt.explanation), predict_proba from its start: float32 paths agree to 1e-5 (bptt.backend)
    np.testing.assert_allclose(out["last"], out["p"], rtol=1e-5)
    assert out["rss"] < 1e9, f"peak RSS {out['rss'] / 1e6:.0f} MB"


def test_explain_reads_one_long_text_from_stdin(sst2, monkeypatch, capsys):
    text = "it is , despite the trailer , a good film . " * 40           # 400 words: one row each
    _stdin(monkeypatch, text.encode())
    assert main(["explain", "-", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["token"] for r in rows] == text.split()
    _stdin(monkeypatch, b"   \n")
    assert main(["explain", "-"]) == 2
    assert "no words to explain" in capsys.readouterr().err


def test_models_lists_what_ships(capsys):
    assert main(["models", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    models = [m for m in listed if m.get("kind") != "language model"]    # the review LMs: tests/test_shipped_lms.py
    assert {m["name"] for m in listed} - {m["name"] for m in models} == {"imdb-lm", "imdb-lm-backward"}
    assert models[0]["name"] == "sst2" and models[0]["default"]
    assert {m["name"] for m in models} <= set(SHIPPED)
    for m in models:                      # bytes: every file of the model, its member folders too
        files = [p for p in resolve_model(m["name"]).rglob("*") if p.is_file()]
        assert m["bytes"] == sum(p.stat().st_size for p in files) and "figures" in m
        assert f"({m['bytes'] / 1e6:.1f} MB with the vocabulary)" in m["notes"]     # what the card says
    sizes = {m["name"]: m["bytes"] for m in models}
    assert sizes["sst2"] < 5e6 and sizes.get("imdb", 0) < 25e6      # 4 float16 BiGRU H128 members, 5.1 MB each
    assert main(["models"]) == 0
    assert capsys.readouterr().out.startswith("sst2 (default): ")
