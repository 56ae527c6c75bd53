"""A bptt sentiment model as a PyTorch module, and as a TorchScript file (needs torch).

``TorchClassifier`` is ``bptt.models.Classifier`` in PyTorch: ``nn.Embedding`` -> packed
``nn.LSTM`` / ``GRU`` / ``RNN`` -> pooling over each text's real steps -> ``nn.Linear``, under the
names of ``Classifier.params`` (submodules ``embedding``, ``rnn``, ``fc``), so bptt's weights load
into it strictly and it gives bptt's logits. ``TorchEnsemble`` averages the probabilities of
several, as bptt's ensembles do. Both take bptt's layout, ids (T, B) and lengths (B,).

The TorchScript file (``save_torchscript``) takes the ONNX file's inputs and gives its outputs:
ids (B, T) int64 and lengths (B,) int64 -> (logits (B, C), probabilities (B, C)).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .. import files
from ..models import ClassifierConfig
from ..models.classifier import pooling_parts
from .source import Exportable


class TorchClassifier(torch.nn.Module):
    """bptt's Classifier in PyTorch (see the module docstring). forward(ids (T, B), lengths (B,)
    on the CPU) -> logits (B, C)."""

    def __init__(self, c: ClassifierConfig):
        if c.mode == "rnn_sigmoid":
            raise ValueError("torch.nn.RNN has no sigmoid nonlinearity (tanh or relu): a rnn_sigmoid "
                             "model cannot become a PyTorch module; export it to ONNX instead")
        super().__init__()
        self.embedding = torch.nn.Embedding(c.vocab_size, c.embedding_dim, padding_idx=c.padding_idx)
        cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}.get(c.mode, torch.nn.RNN)
        kw = {} if c.mode in ("lstm", "gru") else {"nonlinearity": c.mode[4:]}
        self.rnn = cls(c.embedding_dim, c.hidden_size, c.num_layers, bidirectional=c.bidirectional, **kw)
        self.parts = pooling_parts(c.pooling)                # e.g. ("max", "mean"): [max; mean]
        self.fc = torch.nn.Linear(len(self.parts) * (2 if c.bidirectional else 1) * c.hidden_size,
                                  c.num_classes)

    def forward(self, ids, lengths):
        return self.from_embedded(self.embedding(ids), lengths)

    def from_embedded(self, x, lengths):
        """The logits from the embedded sequence x (T, B, E) on: the rest of ``forward`` (the
        adversarial-training tests perturb x)."""
        packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
        out, h = self.rnn(packed)
        h = h[0] if isinstance(h, tuple) else h
        pooled = {"last": torch.cat(list(h[-(2 if self.rnn.bidirectional else 1):]), dim=1)}   # (B, D*H)
        if self.parts != ("last",):
            out, _ = pad_packed_sequence(out, total_length=x.shape[0])               # (T, B, D*H)
            real = (torch.arange(x.shape[0])[:, None] < lengths[None, :])[..., None]
            pooled["mean"] = out.sum(0) / lengths[:, None].to(out.dtype)
            pooled["max"] = out.masked_fill(~real, float("-inf")).max(0).values
        return self.fc(torch.cat([pooled[part] for part in self.parts], dim=1))    # (B, C)

    def probabilities(self, ids, lengths):
        return torch.softmax(self(ids, lengths), dim=1)


class TorchEnsemble(torch.nn.Module):
    """Members (``TorchClassifier``) whose probabilities are averaged. forward(ids (T, B),
    lengths (B,)) -> log of the mean probabilities (B, C), so softmax gives them back."""

    def __init__(self, members: list[TorchClassifier]):
        super().__init__()
        self.members = torch.nn.ModuleList(members)

    def probabilities(self, ids, lengths):
        return torch.stack([m.probabilities(ids, lengths) for m in self.members]).mean(0)

    def forward(self, ids, lengths):
        return torch.log(self.probabilities(ids, lengths))


class _Deployed(torch.nn.Module):
    """What the TorchScript file holds: ids (B, T), lengths (B,) -> (logits, probabilities)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, ids, lengths):
        p = self.model.probabilities(ids.t(), lengths)
        logits = torch.log(p) if isinstance(self.model, TorchEnsemble) else self.model(ids.t(), lengths)
        return logits, p


def _member(model) -> TorchClassifier:
    module = TorchClassifier(model.config).eval()
    module.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in model.params.items()})
    return module


def build(source: Exportable) -> torch.nn.Module:
    """A ``TorchClassifier`` (one member) or ``TorchEnsemble``, float32, in eval mode."""
    members = [_member(m) for m in source.members]
    return members[0] if len(members) == 1 else TorchEnsemble(members).eval()


def save_torchscript(source: Exportable, path: str | Path) -> None:
    """Trace the module (on a small batch: the trace holds no batch size or length) and save it,
    atomically, as TorchScript."""
    module = _Deployed(build(source)).eval()
    ids = torch.tensor([[2, 3, 4], [5, 6, 0]], dtype=torch.int64)                    # (B, T)
    lengths = torch.tensor([3, 2], dtype=torch.int64)
    with warnings.catch_warnings(), torch.no_grad():
        # torch 2.13 calls jit.trace deprecated (it works); the TracerWarning is
        # pad_packed_sequence's check total_length >= max(lengths), a guard, not a traced branch
        warnings.filterwarnings("ignore", message=".*is deprecated")
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        traced = torch.jit.trace(module, (ids, lengths))
        files.atomic_write(path, lambda tmp: traced.save(str(tmp)))
