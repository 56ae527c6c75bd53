"""The review language models shipped in the package: they load by name, fit together, write
review-like text, stay small, and are listed by ``bptt models``."""
import json

import numpy as np
import pytest

from bptt.cli import main
from bptt.jobs.language_model import TextModel
from bptt.transfer import load_lm, resolve_lm, shipped_language_models, shipped_lms

NAMES = ("imdb-lm", "imdb-lm-backward")


def test_both_review_lms_ship_and_are_small():
    assert set(NAMES) <= set(shipped_lms())
    total = sum(m["bytes"] for m in shipped_language_models() if m["name"] in NAMES)
    assert total <= 40e6, f"{total / 1e6:.1f} MB"


@pytest.mark.parametrize("name, direction", [("imdb-lm", "forward"), ("imdb-lm-backward", "backward")])
def test_a_shipped_lm_loads_by_name_with_its_direction(name, direction):
    lm = TextModel.load(resolve_lm(name))
    s = lm.settings
    assert (s.level, s.tokenizer, s.direction, s.tie_weights) == ("word", "review", direction, True)
    assert lm.model.params["embedding.weight"].dtype == np.float32          # float16 on disk, float32 in use
    assert len(lm.vocab) == s.max_vocab
    src = load_lm(name)
    assert src.embedding_dim == lm.model.config.hidden_size


def test_the_forward_lm_prefers_a_review_to_shuffled_words():
    """The held-out figure is on the card; here a sanity check a broken file would fail: the
    LM gives a real sentence a higher likelihood than the same words shuffled."""
    lm = TextModel.load(resolve_lm("imdb-lm"))

    def nats(text):
        ids = lm.encode(text)
        (logits, _), _ = lm.model.forward(ids[:-1, None])
        z = logits[:, 0].astype(np.float64)
        logp = z - np.log(np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True)) - z.max(1, keepdims=True)
        return -logp[np.arange(len(ids) - 1), ids[1:]].sum()

    real = "this is one of the worst movies i have ever seen . the acting was terrible and the plot made no sense ."
    words = real.split()
    shuffled = " ".join(np.random.default_rng(0).permutation(words))
    assert nats(real) < nats(shuffled) - 10


def test_generate_writes_review_text_from_a_shipped_name(capsys):
    assert main(["generate", "--model", "imdb-lm", "--prime", "this movie", "--length", "30", "--seed", "1",
                 "--temperature", "0.8"]) == 0
    first = capsys.readouterr().out
    assert main(["generate", "imdb-lm", "--prime", "this movie", "--length", "30", "--seed", "1",
                 "--temperature", "0.8"]) == 0
    assert capsys.readouterr().out == first and first.startswith("this movie")
    assert len(first.split()) >= 30


def test_bptt_models_lists_the_language_models(capsys):
    assert main(["models", "--json"]) == 0
    listed = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    for name in NAMES:
        assert listed[name]["kind"] == "language model"
        assert listed[name]["figures"]["dev_perplexity"] > 1
    assert main(["models"]) == 0
    assert "imdb-lm-backward (language model, backward)" in capsys.readouterr().out


def test_bptt_train_lm_fine_tunes_a_shipped_lm_by_name_on_a_labelled_table(tmp_path, capsys):
    """ULMFiT's second step from the command line: `--init-from imdb-lm` names the shipped LM and
    `--corpus train.tsv` reads the text of a labelled table; with a learning rate of ~0 the
    weights written are the shipped ones, the vocabulary is the LM's."""
    table = tmp_path / "train.tsv"
    table.write_text("sentence\tlabel\n" + "".join(f"a {w} film , not {w} at all\t{i % 2}\n"
                                                   for i, w in enumerate(["good", "bad", "dull", "fine"] * 10)),
                     encoding="utf-8")
    out = tmp_path / "ft"
    assert main(["train", "lm", "--corpus", str(table), "--init-from", "imdb-lm", "--level", "word",
                 "--tokenizer", "review", "--hidden-size", "256", "--tie-weights", "--batch-size", "2",
                 "--seq-len", "8", "--epochs", "1", "--val-fraction", "0.1", "--optimizer", "sgd", "--lr", "1e-12",
                 "--out", str(out), "--quiet"]) == 0
    tuned, shipped = TextModel.load(out / "best"), TextModel.load(resolve_lm("imdb-lm"))
    assert tuned.vocab == shipped.vocab
    for name, value in shipped.model.params.items():
        np.testing.assert_allclose(tuned.model.params[name], value, atol=1e-6, err_msg=name)
    capsys.readouterr()
    assert main(["train", "lm", "--corpus", str(table), "--init-from", "no-such-lm", "--level", "word",
                 "--out", str(tmp_path / "x"), "--quiet"]) != 0
    assert "init_from 'no-such-lm': neither a shipped language model (imdb-lm" in capsys.readouterr().err
