r"""Many-to-one: a sequence in, one label out (e.g. the sentiment of a review).

    e_t = Embedding(w_t)                            (T, B, E)   token ids -> vectors
    h_t = RNN / LSTM / GRU(e_t, h_{t-1})            (T, B, D*H) all layers, real steps only
    s   = pool(h_1 .. h_T)                          (B, D*H)
    y   = softmax(V s + c)                          (B, C)

Pooling over each sequence's real steps (1..len_b):
- ``last``: the final state h_len of the top layer; bidirectional: [forward h_len ; backward
  h_1] (PyTorch's ``h_n[-2:]``). Its gradient enters BPTT as the final-state gradient.
- ``mean``: (1/len_b) sum_t h_t, with gradient (1/len_b) ds at every real step.
- ``max``: the element-wise maximum over real steps; the gradient goes to the arg-max step.

Parameter names are those of a PyTorch module with submodules ``embedding`` (nn.Embedding),
``rnn`` (nn.RNN / LSTM / GRU) and ``fc`` (nn.Linear).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np

from ._compose import dropout_mask, flat_params, prefixed
from ..layers import Dense, Embedding
from ..losses import softmax, softmax_cross_entropy
from ..recurrent import Recurrent, RecurrentConfig

POOLINGS = ("last", "mean", "max")


@dataclass(frozen=True)
class ClassifierConfig:
    vocab_size: int
    embedding_dim: int
    hidden_size: int
    num_classes: int = 2
    mode: str = "lstm"              # rnn_tanh | rnn_relu | rnn_sigmoid | lstm | gru
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0            # between recurrent layers
    embedding_dropout: float = 0.0  # on the word vectors (training only)
    output_dropout: float = 0.0     # on the pooled features before the dense layer
    pooling: str = "last"
    padding_idx: int | None = 0
    dtype: str = "float32"

    def __post_init__(self):
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        for name in ("dropout", "embedding_dropout", "output_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {self.num_classes}")

    def to_dict(self) -> dict:
        return asdict(self)


class ClassifierCache(NamedTuple):
    emb: tuple                      # Embedding cache
    rnn: tuple                      # Recurrent cache
    fc: tuple                       # Dense cache
    output: np.ndarray | None       # (T, B, D*H) top-layer outputs (max pooling), else None
    lengths: np.ndarray             # (B,)
    argmax: np.ndarray | None       # (B, D*H) step of the maximum (max pooling)
    emb_mask: np.ndarray | None     # (T, B, E) embedding dropout mask, scaled by 1/(1-p)
    out_mask: np.ndarray | None     # (B, D*H) feature dropout mask, scaled by 1/(1-p)


class Classifier:
    """Embedding -> recurrent layers -> pooling -> dense -> softmax."""

    type_name = "Classifier"

    def __init__(self, config: ClassifierConfig, rng: np.random.Generator | None = None,
                 dropout_seed: int = 0):
        rng = np.random.default_rng(0) if rng is None else rng
        self.dropout_rng = np.random.default_rng(dropout_seed)
        c = self.config = config
        self.embedding = Embedding(c.vocab_size, c.embedding_dim, c.padding_idx, np.dtype(c.dtype), rng)
        self.rnn = Recurrent(RecurrentConfig(c.mode, c.embedding_dim, c.hidden_size, c.num_layers,
                                             c.bidirectional, c.dropout, dtype=c.dtype), rng)
        D = 2 if c.bidirectional else 1
        self.fc = Dense(D * c.hidden_size, c.num_classes, dtype=np.dtype(c.dtype), rng=rng)
        self.params = flat_params(self._layers())

    @classmethod
    def from_config(cls, config: dict, rng: np.random.Generator | None = None) -> "Classifier":
        return cls(ClassifierConfig(**config), rng)

    def generators(self) -> dict[str, np.random.Generator]:
        """The random generators the model draws from (saved in checkpoints for exact resume)."""
        return {"dropout": self.dropout_rng,
                **prefixed("rnn", self.rnn.generators())}

    def _layers(self):
        return (("embedding", self.embedding), ("rnn", self.rnn), ("fc", self.fc))

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {name: p.shape for name, p in self.params.items()}

    # ---- forward / backward ---------------------------------------------------------------
    def forward(self, ids: np.ndarray, lengths: np.ndarray | None = None,
                training: bool = False) -> tuple[np.ndarray, ClassifierCache]:
        """ids (T, B) int token ids (padding after each sequence's end); lengths (B,) or None
        (all T). Returns (logits (B, C), cache)."""
        ids = np.asarray(ids)
        if ids.ndim != 2:
            raise ValueError(f"ids must be 2-D (T, B), got shape {ids.shape}")
        T, B = ids.shape
        lengths = np.full(B, T, dtype=np.int64) if lengths is None else np.asarray(lengths)
        x, emb_cache = self.embedding.forward(ids)                       # (T, B, E)
        emb_mask = self._dropout_mask(x.shape, self.config.embedding_dropout, training)
        if emb_mask is not None:
            x = x * emb_mask
        out, final, rnn_cache = self.rnn.forward(x, lengths=lengths, training=training)
        pooling = self.config.pooling
        argmax = None
        if pooling == "last":
            h_n = final[0] if isinstance(final, tuple) else final        # (L*D, B, H)
            D = self.rnn.config.directions
            s = np.concatenate(list(h_n[-D:]), axis=1)                   # (B, D*H)
        elif pooling == "mean":
            s = out.sum(axis=0) / lengths[:, None].astype(out.dtype)     # padding is zero
        else:
            real = np.arange(T)[:, None] < lengths[None, :]              # (T, B)
            masked = np.where(real[..., None], out, -np.inf)
            argmax = masked.argmax(axis=0)                               # (B, D*H)
            s = np.take_along_axis(out, argmax[None], axis=0)[0]
        out_mask = self._dropout_mask(s.shape, self.config.output_dropout, training)
        if out_mask is not None:
            s = s * out_mask
        logits, fc_cache = self.fc.forward(s)                            # (B, C)
        cache = ClassifierCache(emb_cache, rnn_cache, fc_cache, out if pooling == "max" else None,
                                lengths, argmax, emb_mask, out_mask)
        return logits, cache

    def _dropout_mask(self, shape, p: float, training: bool) -> np.ndarray | None:
        return dropout_mask(self.dropout_rng, shape, p, self.config.dtype, training)

    def backward(self, d_logits: np.ndarray, cache: ClassifierCache) -> dict[str, np.ndarray]:
        """Gradients of every parameter (flat names) given dL/dlogits (B, C)."""
        ds, fc_grads = self.fc.backward(d_logits, cache.fc)              # (B, D*H)
        if cache.out_mask is not None:
            ds = ds * cache.out_mask
        c = self.rnn.config
        D, H, L = c.directions, c.hidden_size, c.num_layers
        T, B = len(cache.rnn.packing.batch_sizes), len(cache.lengths)
        d_out, d_final = None, None
        if self.config.pooling == "last":
            d_h = np.zeros((L * D, B, H), dtype=ds.dtype)
            for d in range(D):
                d_h[(L - 1) * D + d] = ds[:, d * H:(d + 1) * H]
            d_final = (d_h, np.zeros_like(d_h)) if c.mode == "lstm" else d_h
        elif self.config.pooling == "mean":
            real = (np.arange(T)[:, None] < cache.lengths[None, :]).astype(ds.dtype)   # (T, B)
            d_out = real[..., None] * (ds / cache.lengths[:, None].astype(ds.dtype))[None]
        else:
            d_out = np.zeros((T, B, D * H), dtype=ds.dtype)
            np.put_along_axis(d_out, cache.argmax[None], ds[None], axis=0)
        dx, _, rnn_grads = self.rnn.backward(cache.rnn, d_out, d_final)
        if cache.emb_mask is not None:
            dx = dx * cache.emb_mask
        _, emb_grads = self.embedding.backward(dx, cache.emb)
        grads = {}
        for prefix, g in (("embedding", emb_grads), ("rnn", rnn_grads), ("fc", fc_grads)):
            grads.update(prefixed(prefix, g))
        return grads

    def loss_and_grads(self, ids, lengths, labels, training: bool = True
                       ) -> tuple[float, dict[str, np.ndarray], np.ndarray]:
        """Mean cross-entropy of ``labels`` (B,), its gradients, and the logits (B, C)."""
        logits, cache = self.forward(ids, lengths, training=training)
        loss, d_logits = softmax_cross_entropy(logits, np.asarray(labels))
        return loss, self.backward(d_logits, cache), logits

    def predict_proba(self, ids, lengths=None) -> np.ndarray:
        """Class probabilities (B, C)."""
        logits, _ = self.forward(ids, lengths, training=False)
        return softmax(logits)
