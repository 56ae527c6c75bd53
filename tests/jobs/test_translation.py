"""The seq2seq job: the Translator on a small task (it learns, greedy = beam 1, save/load,
word level)."""

import numpy as np
import pytest

from bptt.data.pairs import write_pairs
from bptt.jobs.translation import Translator
from helpers import reversal_pairs

# ---- the translator on a small task -----------------------------------------------------------


SMALL = dict(embedding_dim=8, hidden_size=32, epochs=12, batch_size=32, lr=0.01, patience=None)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("rev")
    train, dev = reversal_pairs(1500, 0), reversal_pairs(200, 1)
    write_pairs(root / "train.tsv", train)
    write_pairs(root / "dev.tsv", dev)
    model = Translator(**SMALL).fit(train, dev, out_dir=root / "run", progress=False)
    return model, root, dev


def test_translator_learns_to_reverse(trained):
    model, _, dev = trained
    assert model.score(dev) == model.evaluate(dev)["exact_match"] > 0.9
    assert model.translate(["abcd", "dca"]) == ["dcba", "acd"]


def test_beam_1_is_greedy_and_beam_scores_no_worse_here(trained):
    model, _, dev = trained
    texts = [p[0] for p in dev[:60]]
    greedy, beam3 = model.hypotheses(texts, beam=1), model.hypotheses(texts, beam=3)
    assert model.translate(texts, beam=1) == [model.join(model.target_vocab_.decode(h.tokens)) for h in greedy]
    beam1 = [model.model_.beam_search(*_single(model, t), beam=1, max_len=model.max_output_len_)[0] for t in texts]
    assert [h.tokens for h in beam1] == [h.tokens for h in greedy]
    np.testing.assert_allclose([h.score for h in beam1], [h.score for h in greedy], rtol=1e-5)
    assert all(b.score >= g.score - 1e-6 for b, g in zip(beam3, greedy))


def _single(model, text):
    ids = model._encode_source([text])[0]
    return ids[:, None], np.array([len(ids)])


def test_save_load_round_trip(trained, tmp_path):
    model, _, dev = trained
    model.save(tmp_path / "m")
    loaded = Translator.load(tmp_path / "m")
    texts = [p[0] for p in dev[:20]]
    assert loaded.translate(texts) == model.translate(texts)
    assert loaded.translate(texts, beam=2) == model.translate(texts, beam=2)
    assert loaded.max_output_len_ == model.max_output_len_ == 20      # 2 x 5 + 10


def test_word_level_splits_on_whitespace():
    model = Translator(level="word", epochs=1, embedding_dim=4, hidden_size=4, patience=None)
    model.fit([("a b", "x y"), ("b a", "y x")] * 10, progress=False)
    assert model.split("a  b") == ["a", "b"] and model.join(["x", "y"]) == "x y"
    assert model.target_vocab_.tokens[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"]
