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

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ._compose import (Composed, ModelConfig, StepResult, check_fractions, masked, named_grads, prefixed,
                       real_steps, recurrent)
from ..layers import Dense, Embedding
from ..losses import softmax_cross_entropy


@dataclass(frozen=True)
class TaggerConfig(ModelConfig):
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
    weight_dropout: float = 0.0                 # DropConnect on the recurrent weights W (training only)

    def __post_init__(self):
        # JSON gives lists back: store tuples so a loaded config compares equal to the original
        object.__setattr__(self, "feature_vocab_sizes", tuple(int(v) for v in self.feature_vocab_sizes))
        object.__setattr__(self, "feature_dims", tuple(int(v) for v in self.feature_dims))
        if len(self.feature_vocab_sizes) != len(self.feature_dims):
            raise ValueError(f"feature_vocab_sizes {self.feature_vocab_sizes} and feature_dims "
                             f"{self.feature_dims} must have the same length (one per feature)")
        check_fractions(self, ("dropout", "embedding_dropout", "output_dropout", "weight_dropout"))
        if self.num_tags < 2:
            raise ValueError(f"num_tags must be >= 2, got {self.num_tags}")

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


class TaggerBatch(NamedTuple):
    """What ``loss_and_grads`` reads (the tagging job's batches have the same fields)."""
    ids: np.ndarray                 # (T, B) word ids, padded after each sequence's end
    lengths: np.ndarray | None      # (B,) real lengths (None: all T)
    tags: np.ndarray                # (T, B) tag ids (any value at padded steps)
    features: np.ndarray | None = None  # (T, B, K) feature ids, or None without features


class Tagger(Composed):
    """Embedding (+ feature embeddings) -> recurrent layers -> dense at every step -> softmax.

    ``rng`` draws the weights; ``dropout_seed`` seeds the dropout masks on the input vectors and
    the recurrent outputs, ``dropout_seed + 1`` those between the recurrent layers.
    """

    config_class = TaggerConfig

    def __init__(self, config: TaggerConfig, rng: np.random.Generator | None = None,
                 dropout_seed: int = 0):
        rng = self._begin(config, rng, dropout_seed)
        c = config
        self.embedding = Embedding(c.vocab_size, c.embedding_dim, c.padding_idx, self.dtype, rng)
        self.feature_embeddings = [Embedding(v, e, c.padding_idx, self.dtype, rng)
                                   for v, e in zip(c.feature_vocab_sizes, c.feature_dims)]
        self.rnn = recurrent(c, c.input_size, rng, dropout_seed + 1, bidirectional=c.bidirectional)
        D = 2 if c.bidirectional else 1
        self.fc = Dense(D * c.hidden_size, c.num_tags, dtype=self.dtype, rng=rng)
        self._compose(("embedding", self.embedding),
                      *((f"feature_embeddings.{k}", f) for k, f in enumerate(self.feature_embeddings)),
                      ("rnn", self.rnn), ("fc", self.fc))

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
        x, emb_mask = self._dropout(x, c.embedding_dropout, training)
        out, _, rnn_cache = self.rnn.forward(x, lengths=lengths, training=training)  # (T, B, D*H)
        out, out_mask = self._dropout(out, c.output_dropout, training)
        logits, fc_cache = self.fc.forward(out)                          # (T, B, C)
        return logits, TaggerCache(emb_cache, feat_caches, rnn_cache, fc_cache, emb_mask, out_mask)

    def backward(self, d_logits: np.ndarray, cache: TaggerCache) -> dict[str, np.ndarray]:
        """Gradients of every parameter (flat names) given dL/dlogits (T, B, C)."""
        d_out, fc_grads = self.fc.backward(d_logits, cache.fc)          # (T, B, D*H)
        dx, _, rnn_grads = self.rnn.backward(cache.rnn, masked(d_out, cache.out_mask))  # (T, B, In)
        dx = masked(dx, cache.emb_mask)
        E = self.config.embedding_dim
        _, emb_grads = self.embedding.backward(np.ascontiguousarray(dx[:, :, :E]), cache.emb)
        grads = prefixed("embedding", emb_grads)
        start = E
        for k, (table, fcache) in enumerate(zip(self.feature_embeddings, cache.features)):
            width = table.embedding_dim
            _, g = table.backward(np.ascontiguousarray(dx[:, :, start:start + width]), fcache)
            grads.update(prefixed(f"feature_embeddings.{k}", g))
            start += width
        return {**grads, **named_grads(("rnn", rnn_grads), ("fc", fc_grads))}

    def loss_and_grads(self, batch: TaggerBatch, training: bool = True) -> StepResult:
        """Mean cross-entropy over the real tokens of ``batch.tags``, and its gradients.

        StepResult counts: count = tokens = N = sum_b len_b (the loss is a mean per token),
        examples = B.
        """
        logits, cache = self.forward(batch.ids, batch.lengths, batch.features, training=training)
        T, B = logits.shape[:2]
        mask = real_steps(T, batch.lengths, B)
        loss, d_logits = softmax_cross_entropy(logits, np.asarray(batch.tags), mask=mask)
        N = int(mask.sum())
        return StepResult(loss, self.backward(d_logits, cache), B, N, N)

    def predict(self, ids, lengths=None, features=None) -> np.ndarray:
        """The most probable tag id at every step, (T, B) (-1 at padded steps)."""
        logits, _ = self.forward(ids, lengths, features, training=False)
        pred = logits.argmax(axis=2)
        pred[~real_steps(logits.shape[0], lengths, logits.shape[1])] = -1
        return pred
