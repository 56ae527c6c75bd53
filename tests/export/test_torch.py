"""``bptt.export.to_torch`` and the TorchScript file: the module gives bptt's logits for every
PyTorch cell, 1-2 layers, one or two directions and every pooling; the file, reloaded with
``torch.jit.load``, gives bptt's probabilities on other batch sizes and lengths than it was
traced on, for random models, an ensemble and both shipped models on real texts."""
import itertools
import warnings

import numpy as np
import pytest
import torch

from bptt import export
from bptt.export.source import Exportable
from bptt.export.torch_module import TorchClassifier, TorchEnsemble
from bptt.jobs.sentiment import SentimentClassifier
from bptt.losses import softmax
from bptt.models.classifier import POOLINGS
from export_helpers import batches, random_batch, random_classifier

TORCH_MODES = ("lstm", "gru", "rnn_tanh", "rnn_relu")        # torch.nn.RNN has no sigmoid
CONFIGS = list(itertools.product(TORCH_MODES, (1, 2), (False, True), POOLINGS))


def _load(path):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is deprecated")        # torch 2.13: jit.load works
        return torch.jit.load(str(path))


def _probabilities(module, ids, lengths):
    with torch.no_grad():
        logits, probs = module(torch.from_numpy(ids), torch.from_numpy(lengths))
    return logits.numpy(), probs.numpy()


@pytest.mark.parametrize("mode,num_layers,bidirectional,pooling", CONFIGS)
def test_to_torch_gives_bptts_logits(mode, num_layers, bidirectional, pooling):
    model = random_classifier(mode, num_layers, bidirectional, pooling, seed=num_layers)
    module = export.to_torch(model)
    assert isinstance(module, TorchClassifier) and not module.training
    assert [name for name, _ in module.named_children()] == ["embedding", "rnn", "fc"]
    assert set(module.state_dict()) == set(model.params)
    ids, lengths = random_batch(num_layers, 9)
    with torch.no_grad():
        theirs = module(torch.from_numpy(ids.T.copy()), torch.from_numpy(lengths)).numpy()
    ours = model.forward(ids.T, lengths)[0]
    assert np.abs(ours).max() > 0.05
    np.testing.assert_allclose(theirs, ours, rtol=0, atol=1e-5)


@pytest.mark.parametrize("mode,num_layers,bidirectional,pooling",
                         [c for c in CONFIGS if (c[1] == 2) == c[2]])     # 1 layer one way, 2 layers both ways
def test_the_torchscript_file_reloaded_gives_bptts_probabilities(mode, num_layers, bidirectional, pooling,
                                                                 tmp_path):
    model = random_classifier(mode, num_layers, bidirectional, pooling, seed=3)
    assert export.export(model, tmp_path / "m.pt") == [tmp_path / "m.pt"]
    loaded = _load(tmp_path / "m.pt")
    for B in (1, 7):                                    # traced on B = 2, T = 3
        ids, lengths = random_batch(B + 10, B, T=13)
        logits, probs = _probabilities(loaded, ids, lengths)
        ours = model.forward(ids.T, lengths)[0]
        np.testing.assert_allclose(logits, ours, rtol=0, atol=1e-5)
        np.testing.assert_allclose(probs, softmax(ours.astype(np.float64)), rtol=0, atol=1e-5)


def test_an_ensemble_averages_its_members_probabilities(tmp_path):
    members = tuple(random_classifier("lstm", 1, True, "max+mean", seed=s) for s in (4, 5))
    source = Exportable(members, None, ("a", "b", "c"), "test")
    assert isinstance(export.to_torch(source), TorchEnsemble)
    export.export(source, tmp_path / "e.pt")
    ids, lengths = random_batch(6, 5)
    logits, probs = _probabilities(_load(tmp_path / "e.pt"), ids, lengths)
    mean = np.mean([softmax(m.forward(ids.T, lengths)[0].astype(np.float64)) for m in members], axis=0)
    np.testing.assert_allclose(probs, mean, rtol=0, atol=1e-6)
    np.testing.assert_allclose(logits, np.log(mean), rtol=0, atol=1e-5)


def test_a_sigmoid_rnn_is_refused_naming_onnx():
    with pytest.raises(ValueError, match="no sigmoid nonlinearity.*ONNX"):
        export.to_torch(random_classifier("rnn_sigmoid", 1, False, "last"))


def _check_shipped(name, tmp_path, texts):
    clf = SentimentClassifier.pretrained(name)
    loaded = _load(export.export(name, tmp_path / f"{name}.pt")[0])
    ours = clf.predict_proba(texts)                                                  # (N, C) float64
    for size in (1, 64):
        theirs = np.concatenate([_probabilities(loaded, ids, lengths)[1]
                                 for ids, lengths in batches(clf.vocab_, texts, size)])
        np.testing.assert_allclose(theirs, ours, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", ["sst2", "imdb"])
def test_the_shipped_models_as_torchscript_give_bptts_probabilities(name, tmp_path, fast_texts):
    _check_shipped(name, tmp_path, fast_texts)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sst2", "imdb"])
def test_the_shipped_models_as_torchscript_on_500_texts(name, tmp_path, slow_texts):
    _check_shipped(name, tmp_path, slow_texts)
