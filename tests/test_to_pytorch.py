"""Taking a model to PyTorch, as the README says: a saved classifier's model.safetensors loads
(strictly: every name, every shape) into a torch module built from its config.json, which then
gives bptt's logits; its TorchScript trace, saved and reloaded, gives them on other batches.
(ONNX: ``torch.onnx.export`` needs the ``onnx`` / ``onnxscript`` packages, which the tests do
not install; ``torch.export`` does not trace ``pack_padded_sequence``; so TorchScript here.)"""
import json
import warnings

import numpy as np
import pytest
import safetensors.torch
import torch

from bptt import io
from bptt.data.batching import encode_texts, pad_batch
from bptt.data.vocab import Vocabulary
from bptt.jobs.sentiment import PRETRAINED
from bptt.models import Classifier, ClassifierConfig
from torch_reference import TorchClassifier

TEXTS = ["this movie is not good", "a gem", "the plot is thin but the acting is wonderful and moving"]
OTHER_TEXTS = ["bad", "great fun , see it", "it is not bad at all", "dull", "an utterly predictable mess"]


def _random_classifier(directory):
    """A 2-layer GRU classifier with mean pooling, every parameter U(-0.5, 0.5), saved."""
    rng = np.random.default_rng(4)
    words = sorted({w for t in TEXTS + OTHER_TEXTS for w in t.split()})
    model = Classifier(ClassifierConfig(len(words) + 2, 6, 5, 3, "gru", 2, True, pooling="mean"), rng)
    for p in model.params.values():
        p[...] = rng.uniform(-0.5, 0.5, p.shape)
    io.save(model, directory)
    Vocabulary(["<pad>", "<unk>", *words]).save(directory / "vocab.json")
    return directory


@pytest.fixture(params=["shipped", "random"])
def saved(request, tmp_path):
    """A saved classifier directory: the shipped sentiment model (bidirectional LSTM, max
    pooling) or a random one (bidirectional 2-layer GRU, mean pooling, 3 classes)."""
    return PRETRAINED if request.param == "shipped" else _random_classifier(tmp_path / "model")


def _torch_module(directory):
    config = ClassifierConfig(**json.loads((directory / "config.json").read_text())["config"])
    module = TorchClassifier(config).eval()
    module.load_state_dict(safetensors.torch.load_file(directory / "model.safetensors"))   # strict
    return module


def _batch(directory, texts):
    ids, lengths = pad_batch(encode_texts(texts, Vocabulary.load(directory / "vocab.json")))  # (T, B), (B,)
    return ids, lengths, (torch.from_numpy(ids), torch.from_numpy(lengths))


def test_saved_weights_load_into_torch_and_give_the_same_logits(saved):
    model, module = io.load_as(saved, Classifier), _torch_module(saved)
    ids, lengths, batch = _batch(saved, TEXTS)
    with torch.no_grad():
        theirs = module(*batch).numpy()                                                 # (B, C)
    ours, _ = model.forward(ids, lengths)
    assert theirs.dtype == ours.dtype == np.float32 and np.abs(ours).max() > 0.1
    np.testing.assert_allclose(theirs, ours, rtol=0, atol=1e-5)


def test_the_torch_module_traced_to_torchscript_runs_other_batches(saved, tmp_path):
    model, module = io.load_as(saved, Classifier), _torch_module(saved)
    with warnings.catch_warnings():
        # torch 2.13 calls jit.trace and jit.load deprecated (they work); the TracerWarning is
        # pad_packed_sequence's check total_length >= max(lengths), a guard, not a traced branch
        warnings.filterwarnings("ignore", message=".*is deprecated")
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        traced = torch.jit.trace(module, _batch(saved, TEXTS)[2])
        traced.save(tmp_path / "classifier.pt")
        loaded = torch.jit.load(tmp_path / "classifier.pt")
    ids, lengths, batch = _batch(saved, OTHER_TEXTS)                 # other T, B and lengths
    assert ids.shape != _batch(saved, TEXTS)[0].shape
    with torch.no_grad():
        np.testing.assert_allclose(loaded(*batch).numpy(), model.forward(ids, lengths)[0], rtol=0, atol=1e-5)
