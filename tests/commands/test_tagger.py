"""``bptt train tagger`` and ``bptt tag``, called in-process on a small ambiguous language."""
import json

import pytest

from helpers import SMALL_TAGGER, run_cli, toy_sentences


def _write(path, sentences):
    path.write_text("\n\n".join("\n".join(f"{w}\t{t}" for w, t in zip(s.words, s.tags)) for s in sentences)
                    + "\n", encoding="utf-8")
    return path


def test_cli_train_tagger_then_tag(tmp_path, capsys):
    train, dev = _write(tmp_path / "train.tsv", toy_sentences(300, 0)), _write(tmp_path / "dev.tsv", toy_sentences(30, 1))
    argv = ["train", "tagger", "--train", str(train), "--dev", str(dev), "--test", str(dev), "--out",
            str(tmp_path / "run"), "--quiet", "--features", "suffix,shape", "--lowercase", "true"]
    for name, value in SMALL_TAGGER.items():
        argv += [f"--{name.replace('_', '-')}", str(value)]
    assert run_cli(argv) == 0
    out = capsys.readouterr().out
    assert "best dev accuracy 1.0000" in out and "most-frequent-tag baseline" in out
    settings = json.loads((tmp_path / "run" / "best" / "tagger.json").read_text())["settings"]
    assert settings["features"] == ["suffix", "shape"] and settings["lowercase"] is True
    assert run_cli(["tag", str(tmp_path / "run" / "best"), "The duck saw a run.", "a cat likes the dog ."]) == 0
    assert capsys.readouterr().out.splitlines() == ["The/DET duck/NOUN saw/VERB a/DET run/NOUN ./PUNCT",
                                                    "a/DET cat/NOUN likes/VERB the/DET dog/NOUN ./PUNCT"]
    assert run_cli(["tag", str(tmp_path / "run" / "best"), "the run .", "--json", "--pretokenized"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert [t["tag"] for t in record["tokens"]] == ["DET", "NOUN", "PUNCT"]


def test_cli_tag_without_a_model_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a tagger model"):
        run_cli(["tag", str(tmp_path), "some text"])
