"""Taking a model to PyTorch by hand, as the README shows: a saved classifier's model.safetensors
loads (strictly: every name, every shape) into the package's ``TorchClassifier`` built from its
config.json, which then gives bptt's logits. (``bptt.export.to_torch`` and the TorchScript file
``bptt export MODEL OUT.pt`` writes: tests/export/test_torch.py.)"""
import json

import numpy as np
import pytest
import safetensors.torch
import torch

from bptt import io
from bptt.data.batching import encode_texts, pad_batch
from bptt.data.vocab import Vocabulary
from bptt.export.torch_module import TorchClassifier
from bptt.jobs.sentiment import PRETRAINED
from bptt.models import Classifier, ClassifierConfig

TEXTS = ["this movie is not good", "a gem", "the plot is thin but the acting is wonderful and moving"]


def _random_classifier(directory):
    """A 2-layer GRU classifier with mean pooling, every parameter U(-0.5, 0.5), saved."""
    rng = np.random.default_rng(4)
    words = sorted({w for t in TEXTS for w in t.split()})
    model = Classifier(ClassifierConfig(len(words) + 2, 6, 5, 3, "gru", 2, True, pooling="mean"), rng)
    for p in model.params.values():
        p[...] = rng.uniform(-0.5, 0.5, p.shape)
    io.save(model, directory)
    Vocabulary(["<pad>", "<unk>", *words]).save(directory / "vocab.json")
    return directory


@pytest.fixture(params=["shipped", "random"])
def saved(request, tmp_path):
    """A saved classifier directory: the shipped sentiment model (bidirectional LSTM, last+max+mean
    pooling) or a random one (bidirectional 2-layer GRU, mean pooling, 3 classes)."""
    return PRETRAINED if request.param == "shipped" else _random_classifier(tmp_path / "model")


def test_saved_weights_load_into_torch_and_give_the_same_logits(saved):
    model = io.load_as(saved, Classifier)
    config = ClassifierConfig(**json.loads((saved / "config.json").read_text())["config"])
    module = TorchClassifier(config).eval()
    module.load_state_dict(safetensors.torch.load_file(saved / "model.safetensors"))   # strict
    ids, lengths = pad_batch(encode_texts(TEXTS, Vocabulary.load(saved / "vocab.json")))  # (T, B), (B,)
    with torch.no_grad():
        theirs = module(torch.from_numpy(ids), torch.from_numpy(lengths)).numpy()       # (B, C)
    ours, _ = model.forward(ids, lengths)
    assert theirs.dtype == ours.dtype == np.float32 and np.abs(ours).max() > 0.1
    np.testing.assert_allclose(theirs, ours, rtol=0, atol=1e-5)
