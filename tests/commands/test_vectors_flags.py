"""``--vectors FILE``, ``--freeze-vectors`` and ``--vectors-vocab N`` on every ``bptt train`` job that
has a word embedding (sentiment, tagger, lm at word level, seq2seq at word level): the saved
model's embedding rows are the file's vectors, bit for bit, after training with frozen vectors;
the vocabulary grows only where the model does not predict its own words."""
import json

import numpy as np
import pytest

from bptt import io
from bptt.data.pairs import write_pairs
from helpers import TEXT, negation_data, reversal_pairs, run_cli, toy_sentences

WORDS = {"a": "cat", "b": "dog", "c": "mat", "d": "red"}
VOCAB_WORDS = sorted(set(TEXT.split()) | set(" ".join(negation_data(300, 0)[0]).split())
                     | {w for s in toy_sentences(100, 0) for w in s.words} | set(WORDS.values()))
EXTRA = ["superb", "dreadful"]                  # in the file, never in any training data


@pytest.fixture(scope="module")
def vectors(tmp_path_factory):
    rng = np.random.default_rng(7)
    path = tmp_path_factory.mktemp("vec") / "tiny.6d.txt"
    table = {w: rng.normal(0, 0.5, 6).round(5) for w in EXTRA + VOCAB_WORDS}
    path.write_text("".join(w + " " + " ".join(map(str, v)) + "\n" for w, v in table.items()), encoding="utf-8")
    return path, table


def _word_pairs(n, seed):
    return [(" ".join(WORDS[c] for c in s), " ".join(WORDS[c] for c in t)) for s, t in reversal_pairs(n, seed)]


def _job(name, root):
    if name == "sentiment":
        texts, labels = negation_data(200, 0)
        (root / "train.tsv").write_text("sentence\tlabel\n" + "".join(
            f"{t}\t{int(y == 'positive')}\n" for t, y in zip(texts, labels)), encoding="utf-8")
        return ["sentiment", "--train", root / "train.tsv", "--hidden-size", 8], [("embedding.weight", "vocab.json")]
    if name == "tagger":
        (root / "train.tsv").write_text("\n\n".join("\n".join(f"{w}\t{t}" for w, t in zip(s.words, s.tags))
                                                    for s in toy_sentences(100, 0)) + "\n", encoding="utf-8")
        return (["tagger", "--train", root / "train.tsv", "--hidden-size", 8, "--features", ""],
                [("embedding.weight", "vocab.json")])
    if name == "lm":
        (root / "input.txt").write_text(TEXT, encoding="utf-8")
        return (["lm", "--text", root / "input.txt", "--level", "word", "--hidden-size", 8, "--batch-size", 4,
                 "--seq-len", 10], [("embedding.weight", "vocab.json")])
    write_pairs(root / "pairs.tsv", _word_pairs(200, 0))
    return (["seq2seq", "--pairs", root / "pairs.tsv", "--level", "word", "--hidden-size", 8,
             "--max-output-len", 10],
            [("encoder_embedding.weight", "source_vocab.json"), ("decoder_embedding.weight", "target_vocab.json")])


@pytest.mark.parametrize("job", ["sentiment", "tagger", "lm", "seq2seq"])
def test_frozen_vectors_are_the_file_rows_after_training(job, vectors, tmp_path, capsys):
    path, table = vectors
    argv, embeddings = _job(job, tmp_path)
    assert run_cli(["train", *argv, "--epochs", 2, "--vectors", path, "--freeze-vectors", "--quiet",
                    "--out", tmp_path / "run"]) == 0
    assert "found" in capsys.readouterr().out                           # the coverage report
    best = tmp_path / "run" / "best"
    tensors, _ = io.load_params(best / io.WEIGHTS_FILE)
    for name, vocab_file in embeddings:
        tokens = json.loads((best / vocab_file).read_text())["tokens"]
        weight = tensors[name]
        assert weight.shape[1] == 6                                      # E from the file
        words = [t for t in tokens if t in table]
        assert len(words) >= len(tokens) - 4                             # all but <pad>, <unk>, <eos>, ...
        for w in words:
            np.testing.assert_array_equal(weight[tokens.index(w)], table[w].astype(np.float32), err_msg=w)
        np.testing.assert_array_equal(weight[0], 0.0)                   # <pad>


@pytest.mark.parametrize("job", ["sentiment", "tagger"])
def test_vectors_vocab_adds_the_files_first_words(job, vectors, tmp_path):
    path, _ = vectors
    argv, embeddings = _job(job, tmp_path)
    assert run_cli(["train", *argv, "--epochs", 1, "--vectors", path, "--vectors-vocab", 2, "--quiet",
                    "--out", tmp_path / "run"]) == 0
    tokens = json.loads((tmp_path / "run" / "best" / embeddings[0][1]).read_text())["tokens"]
    assert tokens[-2:] == EXTRA


def test_a_language_model_refuses_vectors_vocab(vectors, tmp_path):
    path, _ = vectors
    argv, _ = _job("lm", tmp_path)
    with pytest.raises(ValueError, match="predicts its own vocabulary"):
        run_cli(["train", *argv, "--epochs", 1, "--vectors", path, "--vectors-vocab", 2, "--quiet",
                 "--out", tmp_path / "run"])


def test_seq2seq_extends_the_source_vocabulary_only(vectors, tmp_path):
    path, _ = vectors
    argv, _ = _job("seq2seq", tmp_path)
    assert run_cli(["train", *argv, "--epochs", 1, "--vectors", path, "--vectors-vocab", 2, "--quiet",
                    "--out", tmp_path / "run"]) == 0
    best = tmp_path / "run" / "best"
    source = json.loads((best / "source_vocab.json").read_text())["tokens"]
    target = json.loads((best / "target_vocab.json").read_text())["tokens"]
    assert source[-2:] == EXTRA and not set(EXTRA) & set(target)


def test_character_level_jobs_refuse_word_vectors(vectors, tmp_path):
    path, _ = vectors
    (tmp_path / "input.txt").write_text(TEXT, encoding="utf-8")
    with pytest.raises(ValueError, match="vectors .* need level='word'"):
        run_cli(["train", "lm", "--text", tmp_path / "input.txt", "--vectors", path, "--quiet"])
    with pytest.raises(ValueError, match="vectors .* need level='word'"):
        write_pairs(tmp_path / "pairs.tsv", reversal_pairs(20, 0))
        run_cli(["train", "seq2seq", "--pairs", tmp_path / "pairs.tsv", "--vectors", path, "--quiet"])


def test_vectors_flags_without_a_file_are_refused(tmp_path):
    argv, _ = _job("tagger", tmp_path)
    with pytest.raises(ValueError, match="vectors_vocab and freeze_vectors need vectors"):
        run_cli(["train", *argv, "--freeze-vectors", "--quiet", "--out", tmp_path / "run"])
