"""PyTorch twins of bptt layers, for parity tests (torch is a test-only dependency). The twin of
a whole classifier ships with the package: ``bptt.export.torch_module.TorchClassifier``."""
from __future__ import annotations

import numpy as np
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from bptt import Recurrent
from bptt.gradcheck import rel_error
from bptt.sparse import as_dense

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


def assert_param_grads_match(grads: dict, module: torch.nn.Module, dtype, tol: float,
                             nonzero: bool = False) -> None:
    """bptt's parameter gradients against the torch module's ``.grad`` after ``backward``: the
    same names, bptt's dtype, relative error below ``tol`` (and, if ``nonzero``, torch's gradient
    not all zero, so that the comparison says something). A row-sparse gradient (the embedding's)
    is compared as its dense array."""
    names = dict(module.named_parameters())
    assert set(grads) == set(names)
    for name, p in names.items():
        assert grads[name].dtype == np.dtype(dtype)
        if nonzero:
            assert np.abs(p.grad.numpy()).max() > 0, name
        assert rel_error(as_dense(grads[name]), p.grad.numpy()) < tol, name
