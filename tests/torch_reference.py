"""PyTorch twins of bptt layers, for parity tests (torch is a test-only dependency)."""
from __future__ import annotations

import numpy as np
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from bptt import Recurrent
from bptt.gradcheck import rel_error
from bptt.models import ClassifierConfig

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def torch_twin(layer: Recurrent) -> torch.nn.Module:
    """A torch.nn.RNN / LSTM / GRU with the same configuration and the same weights."""
    c = layer.config
    kwargs = dict(input_size=c.input_size, hidden_size=c.hidden_size, num_layers=c.num_layers,
                  bidirectional=c.bidirectional, dropout=c.dropout, batch_first=c.batch_first,
                  bias=c.bias)
    if c.mode == "lstm":
        module = torch.nn.LSTM(proj_size=c.proj_size, **kwargs)
    elif c.mode == "gru":
        module = torch.nn.GRU(**kwargs)
    else:
        module = torch.nn.RNN(nonlinearity=c.mode[4:], **kwargs)
    module = module.to(DTYPES[c.dtype])
    module.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in layer.params.items()})
    return module


def run_torch(module: torch.nn.Module, x: np.ndarray, state0=None, lengths=None):
    """Forward in torch with gradients enabled on x and state0; lengths via pack_padded_sequence.

    Returns (output, final, x_t, state0_t) as torch tensors (output zero-padded).
    """
    x_t = torch.from_numpy(x.copy()).requires_grad_(True)
    s0 = None
    if state0 is not None:
        if isinstance(state0, tuple):
            s0 = tuple(torch.from_numpy(s.copy()).requires_grad_(True) for s in state0)
        else:
            s0 = torch.from_numpy(state0.copy()).requires_grad_(True)
    if lengths is None:
        out, final = module(x_t, s0)
    else:
        packed = pack_padded_sequence(x_t, torch.as_tensor(lengths), batch_first=module.batch_first,
                                      enforce_sorted=False)
        out_p, final = module(packed, s0)
        T = x.shape[1] if module.batch_first else x.shape[0]
        out, _ = pad_packed_sequence(out_p, batch_first=module.batch_first, total_length=T)
    return out, final, x_t, s0


class TorchClassifier(torch.nn.Module):
    """bptt's Classifier in PyTorch: nn.Embedding -> packed nn.LSTM / GRU / RNN -> pooling over the
    real steps -> nn.Linear, under the names of ``Classifier.params`` (embedding, rnn, fc)."""

    def __init__(self, c: ClassifierConfig):
        super().__init__()
        self.embedding = torch.nn.Embedding(c.vocab_size, c.embedding_dim, padding_idx=c.padding_idx)
        cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}.get(c.mode, torch.nn.RNN)
        kw = {} if c.mode in ("lstm", "gru") else {"nonlinearity": c.mode[4:]}
        self.rnn = cls(c.embedding_dim, c.hidden_size, c.num_layers, bidirectional=c.bidirectional, **kw)
        pools = 2 if c.pooling == "max+mean" else 1          # max+mean: [max; mean], concatenated
        self.fc = torch.nn.Linear(pools * (2 if c.bidirectional else 1) * c.hidden_size, c.num_classes)
        self.pooling = c.pooling

    def forward(self, ids, lengths):
        return self.from_embedded(self.embedding(ids), lengths)

    def from_embedded(self, x, lengths):
        """The logits from the embedded sequence x (T, B, E) on: the rest of ``forward``."""
        packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
        out, h = self.rnn(packed)
        h = h[0] if isinstance(h, tuple) else h
        if self.pooling == "last":
            s = torch.cat(list(h[-(2 if self.rnn.bidirectional else 1):]), dim=1)
        else:
            out, _ = pad_packed_sequence(out, total_length=x.shape[0])
            real = (torch.arange(x.shape[0])[:, None] < lengths[None, :])[..., None]
            mean = out.sum(0) / lengths[:, None].to(out.dtype)
            maxed = out.masked_fill(~real, float("-inf")).max(0).values
            s = {"mean": mean, "max": maxed}.get(self.pooling)
            s = torch.cat([maxed, mean], dim=1) if s is None else s
        return self.fc(s)


def assert_param_grads_match(grads: dict, module: torch.nn.Module, dtype, tol: float,
                             nonzero: bool = False) -> None:
    """bptt's parameter gradients against the torch module's ``.grad`` after ``backward``: the
    same names, bptt's dtype, relative error below ``tol`` (and, if ``nonzero``, torch's gradient
    not all zero, so that the comparison says something)."""
    names = dict(module.named_parameters())
    assert set(grads) == set(names)
    for name, p in names.items():
        assert grads[name].dtype == np.dtype(dtype)
        if nonzero:
            assert np.abs(p.grad.numpy()).max() > 0, name
        assert rel_error(grads[name], p.grad.numpy()) < tol, name
