r"""Many-to-many, aligned: one label for every token (e.g. part-of-speech tagging).

    e_t = [Embedding(w_t) ; F_1(f_t1) ; ... ; F_K(f_tK)]    (T, B, E + sum_k E_k)
    h_t = RNN / LSTM / GRU(e_t, h_{t-1})                    (T, B, D*H) both directions if D = 2
    z_t = V h_t + c                                         (T, B, C)   one Dense, every step
    L   = sum_{b, t < len_b} -log softmax(z_t)[k_t] / N     N = sum_b len_b real tokens

w_t is the word id; f_tk (optional) are ids of K extra discrete features of the same token
(for example a suffix or a word shape), each with its own embedding table F_k, concatenated to
the word vector. Padding steps (t >= len_b) are masked out of the loss, so their logits get a
zero gradient, and the recurrent layers never read them (see ``bptt.sequence``).

Backward is the chain above in reverse, each piece's own ``backward``::

    dz = mask * (softmax(z) - onehot(k)) / N          losses.softmax_cross_entropy
    dh, dV, dc = Dense.backward(dz)                   one product over all T*B rows
    de = Recurrent.backward(d_output=dh)              BPTT, both directions
    dE, dF_k = Embedding.backward(de[..., slice])     the slices of the concatenation

Dropout (training only, seeded ``dropout_rng``): inverted dropout on e_t (``embedding_dropout``)
and on h_t (``output_dropout``); ``dropout`` acts between stacked recurrent layers.

Parameter names are those of a PyTorch module with submodules ``embedding`` (nn.Embedding),
``feature_embeddings`` (nn.ModuleList of nn.Embedding: ``feature_embeddings.0.weight``, ...),
``rnn`` (nn.RNN / LSTM / GRU) and ``fc`` (nn.Linear).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np

from ._compose import dropout_mask, flat_params, prefixed
from ..layers import Dense, Embedding
from ..losses import softmax_cross_entropy
from ..recurrent import Recurrent, RecurrentConfig


@dataclass(frozen=True)
class TaggerConfig:
    vocab_size: int
    embedding_dim: int
    hidden_size: int
    num_tags: int
    mode: str = "lstm"                          # rnn_tanh | rnn_relu | rnn_sigmoid | lstm | gru
    num_layers: int = 1
    bidirectional: bool = True
    dropout: float = 0.0                        # between recurrent layers
    embedding_dropout: float = 0.0              # on the concatenated input vectors
    output_dropout: float = 0.0                 # on the recurrent outputs before the dense layer
    feature_vocab_sizes: tuple[int, ...] = ()   # K extra discrete features: their table sizes
    feature_dims: tuple[int, ...] = ()          # ... and their vector sizes
    padding_idx: int | None = 0                 # for words and features
    dtype: str = "float32"

    def __post_init__(self):
        # JSON gives lists back: store tuples so a loaded config compares equal to the original
        object.__setattr__(self, "feature_vocab_sizes", tuple(int(v) for v in self.feature_vocab_sizes))
        object.__setattr__(self, "feature_dims", tuple(int(v) for v in self.feature_dims))
        if len(self.feature_vocab_sizes) != len(self.feature_dims):
            raise ValueError(f"feature_vocab_sizes {self.feature_vocab_sizes} and feature_dims "
                             f"{self.feature_dims} must have the same length (one per feature)")
        for name in ("dropout", "embedding_dropout", "output_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.num_tags < 2:
            raise ValueError(f"num_tags must be >= 2, got {self.num_tags}")

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def input_size(self) -> int:
        """Width of e_t: the word vector and every feature vector side by side."""
        return self.embedding_dim + sum(self.feature_dims)


class TaggerCache(NamedTuple):
    emb: tuple                      # word Embedding cache
    features: list                  # one Embedding cache per feature
    rnn: tuple                      # Recurrent cache
    fc: tuple                       # Dense cache
    emb_mask: np.ndarray | None     # (T, B, In) input dropout mask, scaled by 1/(1-p)
    out_mask: np.ndarray | None     # (T, B, D*H) output dropout mask, scaled by 1/(1-p)


class Tagger:
    """Embedding (+ feature embeddings) -> recurrent layers -> dense at every step -> softmax."""

    type_name = "Tagger"

    def __init__(self, config: TaggerConfig, rng: np.random.Generator | None = None,
                 dropout_seed: int = 0):
        rng = np.random.default_rng(0) if rng is None else rng
        self.dropout_rng = np.random.default_rng(dropout_seed)
        c = self.config = config
        dtype = np.dtype(c.dtype)
        self.embedding = Embedding(c.vocab_size, c.embedding_dim, c.padding_idx, dtype, rng)
        self.feature_embeddings = [Embedding(v, e, c.padding_idx, dtype, rng)
                                   for v, e in zip(c.feature_vocab_sizes, c.feature_dims)]
        self.rnn = Recurrent(RecurrentConfig(c.mode, c.input_size, c.hidden_size, c.num_layers,
                                             c.bidirectional, c.dropout, dtype=c.dtype), rng)
        D = 2 if c.bidirectional else 1
        self.fc = Dense(D * c.hidden_size, c.num_tags, dtype=dtype, rng=rng)
        self.params = flat_params(self._layers())

    @classmethod
    def from_config(cls, config: dict, rng: np.random.Generator | None = None) -> "Tagger":
        return cls(TaggerConfig(**config), rng)

    def generators(self) -> dict[str, np.random.Generator]:
        """The random generators the model draws from (saved in checkpoints for exact resume)."""
        return {"dropout": self.dropout_rng,
                **prefixed("rnn", self.rnn.generators())}

    def _layers(self):
        return (("embedding", self.embedding),
                *((f"feature_embeddings.{k}", f) for k, f in enumerate(self.feature_embeddings)),
                ("rnn", self.rnn), ("fc", self.fc))

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {name: p.shape for name, p in self.params.items()}

    # ---- forward / backward ---------------------------------------------------------------
    def forward(self, ids: np.ndarray, lengths: np.ndarray | None = None,
                features: np.ndarray | None = None, training: bool = False
                ) -> tuple[np.ndarray, TaggerCache]:
        """ids (T, B) word ids, padded after each sequence's end; lengths (B,) or None (all T);
        features (T, B, K) feature ids (K = len(config.feature_dims)), or None when K = 0.
        Returns (logits (T, B, C), cache); logits at padded steps are those of a zero state."""
        c = self.config
        ids = np.asarray(ids)
        if ids.ndim != 2:
            raise ValueError(f"ids must be 2-D (T, B), got shape {ids.shape}")
        T, B = ids.shape
        K = len(c.feature_dims)
        if K and (features is None or np.shape(features) != (T, B, K)):
            raise ValueError(f"features must have shape (T, B, K) = {(T, B, K)} for a tagger with "
                             f"{K} features, got {None if features is None else np.shape(features)}")
        if not K and features is not None and np.size(features):
            raise ValueError(f"this tagger has no features, got features of shape {np.shape(features)}")
        lengths = np.full(B, T, dtype=np.int64) if lengths is None else np.asarray(lengths)
        x, emb_cache = self.embedding.forward(ids)                       # (T, B, E)
        feat_caches = []
        if K:
            parts = [x]
            for k, table in enumerate(self.feature_embeddings):
                v, fc = table.forward(np.asarray(features)[:, :, k])      # (T, B, E_k)
                parts.append(v)
                feat_caches.append(fc)
            x = np.concatenate(parts, axis=2)                            # (T, B, In)
        emb_mask = self._dropout_mask(x.shape, c.embedding_dropout, training)
        if emb_mask is not None:
            x = x * emb_mask
        out, _, rnn_cache = self.rnn.forward(x, lengths=lengths, training=training)  # (T, B, D*H)
        out_mask = self._dropout_mask(out.shape, c.output_dropout, training)
        if out_mask is not None:
            out = out * out_mask
        logits, fc_cache = self.fc.forward(out)                          # (T, B, C)
        return logits, TaggerCache(emb_cache, feat_caches, rnn_cache, fc_cache, emb_mask, out_mask)

    def _dropout_mask(self, shape, p: float, training: bool) -> np.ndarray | None:
        return dropout_mask(self.dropout_rng, shape, p, self.config.dtype, training)

    def backward(self, d_logits: np.ndarray, cache: TaggerCache) -> dict[str, np.ndarray]:
        """Gradients of every parameter (flat names) given dL/dlogits (T, B, C)."""
        d_out, fc_grads = self.fc.backward(d_logits, cache.fc)          # (T, B, D*H)
        if cache.out_mask is not None:
            d_out = d_out * cache.out_mask
        dx, _, rnn_grads = self.rnn.backward(cache.rnn, d_out)          # (T, B, In)
        if cache.emb_mask is not None:
            dx = dx * cache.emb_mask
        E = self.config.embedding_dim
        _, emb_grads = self.embedding.backward(np.ascontiguousarray(dx[:, :, :E]), cache.emb)
        grads = {f"embedding.{n}": g for n, g in emb_grads.items()}
        start = E
        for k, (table, fcache) in enumerate(zip(self.feature_embeddings, cache.features)):
            width = table.embedding_dim
            _, g = table.backward(np.ascontiguousarray(dx[:, :, start:start + width]), fcache)
            grads.update({f"feature_embeddings.{k}.{n}": v for n, v in g.items()})
            start += width
        grads.update(prefixed("rnn", rnn_grads))
        grads.update({f"fc.{n}": g for n, g in fc_grads.items()})
        return grads

    def loss_and_grads(self, ids, lengths, tags, features=None, training: bool = True
                       ) -> tuple[float, dict[str, np.ndarray], np.ndarray]:
        """Mean cross-entropy over the real tokens of ``tags`` (T, B) (padding may hold any
        value), its gradients, and the logits (T, B, C)."""
        logits, cache = self.forward(ids, lengths, features, training=training)
        mask = real_steps(logits.shape[0], lengths, logits.shape[1])
        loss, d_logits = softmax_cross_entropy(logits, np.asarray(tags), mask=mask)
        return loss, self.backward(d_logits, cache), logits

    def predict(self, ids, lengths=None, features=None) -> np.ndarray:
        """The most probable tag id at every step, (T, B) (-1 at padded steps)."""
        logits, _ = self.forward(ids, lengths, features, training=False)
        pred = logits.argmax(axis=2)
        pred[~real_steps(logits.shape[0], lengths, logits.shape[1])] = -1
        return pred


def real_steps(T: int, lengths: np.ndarray | None, B: int) -> np.ndarray:
    """(T, B) bool: True where t < lengths[b], the steps that hold real tokens."""
    if lengths is None:
        return np.ones((T, B), dtype=bool)
    return np.arange(T)[:, None] < np.asarray(lengths)[None, :]
