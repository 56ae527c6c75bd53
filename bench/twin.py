"""The PyTorch twin of ``bptt.models.Classifier`` for the benchmark, the weight copy, and the
parity guard that proves both sides compute the same model before any time is taken.

    e = nn.Embedding(ids)                     (T, B, E)   padding_idx 0, like ClassifierConfig
    h = nn.RNN(tanh) / LSTM / GRU(e)          h_n (1, B, H) at each sequence's last real step
    y = nn.Linear(h_n[-1])                    (B, C)

Fixed-length batches go in as the plain padded tensor; the variable-length batch goes through
``pack_padded_sequence(enforce_sorted=False)``, as a PyTorch user would write it.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.nn.utils.rnn import pack_padded_sequence

from bptt.losses import softmax_cross_entropy
from bptt.models import Classifier, ClassifierBatch, ClassifierConfig
from bptt.optim import SGD

LR = 0.1


class TorchClassifier(torch.nn.Module):
    """nn.Embedding -> nn.RNN / LSTM / GRU (one layer, one direction) -> last state -> nn.Linear.

    Submodule names ``embedding``, ``rnn``, ``fc`` make its ``state_dict`` keys exactly the
    parameter names of ``bptt.models.Classifier``.
    """

    def __init__(self, c: ClassifierConfig, packed: bool):
        super().__init__()
        if c.num_layers != 1 or c.bidirectional or c.pooling != "last":
            raise ValueError(f"the benchmark twin is 1 layer, 1 direction, last pooling; got {c}")
        self.embedding = torch.nn.Embedding(c.vocab_size, c.embedding_dim, padding_idx=c.padding_idx)
        cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}.get(c.mode, torch.nn.RNN)
        kw = {} if c.mode in ("lstm", "gru") else {"nonlinearity": c.mode[4:]}
        self.rnn = cls(c.embedding_dim, c.hidden_size, **kw)
        self.fc = torch.nn.Linear(c.hidden_size, c.num_classes)
        self.packed = packed

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """ids (T, B) int64, lengths (B,) int64 (used when packed) -> logits (B, C)."""
        e = self.embedding(ids)                                         # (T, B, E)
        if self.packed:
            e = pack_padded_sequence(e, lengths, enforce_sorted=False)
        _, h = self.rnn(e)
        h = h[0] if isinstance(h, tuple) else h                         # (1, B, H)
        return self.fc(h[-1])                                           # (B, C)


class Pair:
    """One bptt Classifier and its torch twin with identical weights, data and SGD (lr 0.1).

    ``restore()`` puts the initial weights back in place on both sides, so that every timed
    repeat starts from the same point (training the same batch for hundreds of steps would
    otherwise drift the two apart and change the numbers the kernels see).
    """

    def __init__(self, config: ClassifierConfig, ids: np.ndarray, lengths: np.ndarray | None,
                 labels: np.ndarray, seed: int = 0):
        self.config = config
        self.model = Classifier(config, np.random.default_rng(seed))
        self.twin = TorchClassifier(config, packed=lengths is not None)
        names = set(self.twin.state_dict())
        if names != set(self.model.params):
            raise RuntimeError(f"parameter names differ: bptt {sorted(self.model.params)}, "
                               f"torch {sorted(names)}")
        self.twin.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in self.model.params.items()},
                                  strict=True)
        self.initial = {k: v.copy() for k, v in self.model.params.items()}
        self.twin_initial = self.initial            # (bench/speed.py's Beside: another model's)
        self.opt = SGD(self.model.params, lr=LR)
        self.topt = torch.optim.SGD(self.twin.parameters(), lr=LR)
        self.ids, self.lengths, self.labels = ids, lengths, labels
        self.t_ids = torch.from_numpy(ids)
        self.t_lengths = None if lengths is None else torch.from_numpy(lengths)
        self.t_labels = torch.from_numpy(labels)

    # ---- the four timed operations -------------------------------------------------------
    def bptt_train(self) -> float:
        loss, grads, *_ = self.model.loss_and_grads(ClassifierBatch(self.ids, self.lengths, self.labels))
        self.opt.step(grads)
        return loss

    def torch_train(self) -> torch.Tensor:
        self.topt.zero_grad(set_to_none=True)
        logits = self.twin(self.t_ids, self.t_lengths)
        loss = torch.nn.functional.cross_entropy(logits, self.t_labels)
        loss.backward()
        self.topt.step()
        return loss

    def bptt_infer(self) -> np.ndarray:
        return self.model.forward(self.ids, self.lengths, training=False)[0]

    def torch_infer(self) -> torch.Tensor:
        with torch.inference_mode():
            return self.twin(self.t_ids, self.t_lengths)

    def restore(self) -> None:
        for name, p in self.model.params.items():
            np.copyto(p, self.initial[name])
        with torch.no_grad():
            for name, p in self.twin.named_parameters():
                p.copy_(torch.from_numpy(self.twin_initial[name]))

    # ---- the guard ---------------------------------------------------------------------
    def check_parity(self, tol: float = 1e-4, grad_tol: float = 1e-3) -> dict:
        """First step from the same weights: logits, loss and every gradient must agree.

        Errors are max-normalised, max|a - b| / max|b|. Raises ``ParityError`` (naming the config,
        the quantity and both values) if logits or loss differ by more than ``tol`` or a gradient
        by more than ``grad_tol``; returns the errors and torch's RNN backward node otherwise.
        """
        self.restore()
        logits, cache = self.model.forward(self.ids, self.lengths, training=True)
        loss, d_logits = softmax_cross_entropy(logits, self.labels)
        grads = self.model.backward(d_logits, cache)
        self.twin.zero_grad(set_to_none=True)
        t_logits = self.twin(self.t_ids, self.t_lengths)
        t_loss = torch.nn.functional.cross_entropy(t_logits, self.t_labels)
        t_loss.backward()
        node = _rnn_node(t_logits)
        errors = {"logits": _rel(logits, t_logits.detach().numpy()),
                  "loss": abs(float(loss) - t_loss.item()) / max(1.0, abs(t_loss.item()))}
        grad_errors = {}
        for name, p in self.twin.named_parameters():
            g = grads[name]
            g = g.to_dense() if hasattr(g, "to_dense") else g
            grad_errors[name] = _rel(g, p.grad.numpy())
        self.twin.zero_grad(set_to_none=True)
        self.restore()
        bad = [f"{k}: error {v:.3g} > {tol}" for k, v in errors.items() if not v <= tol]
        bad += [f"grad {k}: error {v:.3g} > {grad_tol}" for k, v in grad_errors.items()
                if not v <= grad_tol]
        if bad:
            raise ParityError(f"bptt and torch disagree on the first step of {self.config} "
                              f"(loss bptt {float(loss):.7g} vs torch {t_loss.item():.7g}): "
                              + "; ".join(bad))
        return {**errors, "max_grad": max(grad_errors.values()), "grads": grad_errors,
                "torch_rnn_backward": node}


class ParityError(AssertionError):
    """bptt and PyTorch do not compute the same model: no timing of them means anything."""


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30)) if b.size else 0.0


def _rnn_node(logits: torch.Tensor) -> str:
    """Name of the autograd node of torch's recurrent kernel (shows whether oneDNN ran)."""
    seen, todo = set(), [logits.grad_fn]
    while todo:
        fn = todo.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        name = type(fn).__name__
        if any(k in name.lower() for k in ("rnn", "lstm", "gru", "mkldnn")):
            return name
        todo.extend(f for f, _ in fn.next_functions)
    return "decomposed (per-step aten ops)"
