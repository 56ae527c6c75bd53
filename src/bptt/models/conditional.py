r"""Conditional generation: one input vector in, a whole sequence out (e.g. a review for a label).

A language model (``language_model.py``) whose initial state, and/or a side input at every
step, is computed from one conditioning vector z (K,), e.g. onehot(label)::

    s    = tanh(C z + d)                     (B, L*H)   condition "init" or "both"
    h_0  = s reshaped to (L, B, H)                      layer l gets s[:, l*H:(l+1)*H];
    c_0  = 0                                            the LSTM's cell state starts at zero
    q    = P z                               (B, Q)     condition "input" or "both" (no bias)
    x_t  = [Embedding(w_t) ; q]              (T, B, E+Q)
    then the language model: h_t = RNN(x_t, h_{t-1}),  z_t = V h_t + c,  per-step cross-entropy

With z = onehot(k), C z + d = C[:, k] + d and P z = P[:, k]: a learned start state and a
learned label embedding. Backward, from the language model's dL/dh_0 and dL/dq::

    ds = dL/dh_0 reshaped to (B, L*H),   da = ds * (1 - s^2)          (tanh' = 1 - tanh^2)
    dC = da^T z,   dd = sum_b da_b,      dP = dq^T z
    dz = da C + dq P                                                   (both paths add)

Parameters: the language model's (``embedding.*``, ``rnn.*``, ``fc.*``) plus ``init.weight``
C (L*H, K) and ``init.bias`` d (L*H,) (nn.Linear(K, L*H)), ``cond.weight`` P (Q, K)
(nn.Linear(K, Q, bias=False)).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, NamedTuple

import numpy as np

from ._compose import Composed, ModelConfig, StepResult, named_grads
from ..layers import Dense, one_hot
from ..state import State
from .language_model import (LanguageModel, LanguageModelCache, LanguageModelConfig, LanguageModelOutput,
                             counted_loss, sample)

CONDITIONS = ("init", "input", "both")


@dataclass(frozen=True)
class ConditionalLMConfig(ModelConfig):
    vocab_size: int
    embedding_dim: int
    hidden_size: int
    cond_size: int                  # K, the length of the conditioning vector (classes for labels)
    mode: str = "lstm"
    num_layers: int = 1
    condition: str = "init"         # init: h_0 = tanh(C z + d) | input: q = P z at every step | both
    cond_embedding_dim: int = 16    # Q, the size of q (input / both)
    dropout: float = 0.0
    output_dropout: float = 0.0
    padding_idx: int | None = 0
    dtype: str = "float32"
    weight_dropout: float = 0.0     # DropConnect on the recurrent weights W (training only; bptt.recurrent)

    def __post_init__(self):
        if self.condition not in CONDITIONS:
            raise ValueError(f"condition must be one of {CONDITIONS}, got {self.condition!r}")
        if self.cond_size < 1:
            raise ValueError(f"cond_size must be >= 1, got {self.cond_size}")
        if self.uses_input and self.cond_embedding_dim < 1:
            raise ValueError(f"cond_embedding_dim must be >= 1 with condition {self.condition!r}, "
                             f"got {self.cond_embedding_dim}")

    @property
    def uses_init(self) -> bool:
        return self.condition in ("init", "both")

    @property
    def uses_input(self) -> bool:
        return self.condition in ("input", "both")

    def lm_config(self) -> LanguageModelConfig:
        return LanguageModelConfig(self.vocab_size, self.embedding_dim, self.hidden_size, self.mode,
                                   self.num_layers, self.dropout, self.output_dropout,
                                   self.cond_embedding_dim if self.uses_input else 0,
                                   self.padding_idx, self.dtype, weight_dropout=self.weight_dropout)


class ConditionalCache(NamedTuple):
    z: np.ndarray                   # (B, K) the conditioning vectors
    s: np.ndarray | None            # (B, L*H) tanh(C z + d) (init / both)
    init: tuple | None              # Dense cache of C z + d
    cond: tuple | None              # Dense cache of P z
    lm: LanguageModelCache


class ConditionalGrads(NamedTuple):
    """What ``backward_with_inputs`` returns."""
    params: dict[str, np.ndarray]   # every parameter, flat names
    z: np.ndarray                   # dL/dz (B, K)


class ConditionalBatch(NamedTuple):
    """What ``loss_and_grads`` reads."""
    ids: np.ndarray                 # (T, B) input token ids
    z: np.ndarray                   # (B, K) conditioning vectors (``labels_to_vectors``)
    targets: np.ndarray             # (T, B) the token to predict at each step
    mask: np.ndarray | None = None  # (T, B) bool: the steps the loss counts (None: see lengths)
    lengths: np.ndarray | None = None   # (B,) real lengths


class ConditionalLanguageModel(Composed):
    """z -> (h_0, q) -> language model over the sequence; see the module docstring.

    ``rng`` draws the weights; ``dropout_seed`` seeds the language model's dropout masks, as
    there (``dropout_seed`` its output dropout, ``dropout_seed + 1`` between its layers).
    """

    config_class = ConditionalLMConfig

    def __init__(self, config: ConditionalLMConfig, rng: np.random.Generator | None = None,
                 dropout_seed: int = 0):
        rng = self._begin(config, rng, None)
        c = config
        self.lm = LanguageModel(c.lm_config(), rng, dropout_seed)
        self.dropout_rng = self.lm.dropout_rng
        L, H = c.num_layers, c.hidden_size
        self.init = Dense(c.cond_size, L * H, dtype=self.dtype, rng=rng) if c.uses_init else None
        self.cond = (Dense(c.cond_size, c.cond_embedding_dim, bias=False, dtype=self.dtype, rng=rng)
                     if c.uses_input else None)
        extra = [(name, layer) for name, layer in (("init", self.init), ("cond", self.cond)) if layer]
        self._compose(*self.lm.named_layers, *extra)                     # the LM's names, then ours

    def labels_to_vectors(self, labels) -> np.ndarray:
        """Class ids (B,) -> onehot vectors z (B, K) in the model's dtype."""
        return one_hot(np.asarray(labels), self.config.cond_size, self.dtype)

    # ---- conditioning ---------------------------------------------------------------------
    def _condition(self, z: np.ndarray):
        """z (B, K) -> (state0 State or None, q, s, init cache, cond cache)."""
        c = self.config
        z = np.asarray(z, dtype=self.dtype)
        if z.ndim != 2 or z.shape[1] != c.cond_size:
            raise ValueError(f"z must have shape (B, {c.cond_size}) (B, cond_size), got {z.shape}")
        B, L, H = z.shape[0], c.num_layers, c.hidden_size
        state0 = s = init_cache = q = cond_cache = None
        if self.init is not None:
            a, init_cache = self.init.forward(z)                         # (B, L*H) C z + d
            s = np.tanh(a)
            h0 = np.ascontiguousarray(s.reshape(B, L, H).transpose(1, 0, 2))   # (L, B, H)
            state0 = State(h0)                                           # an LSTM's c_0 = 0
        if self.cond is not None:
            q, cond_cache = self.cond.forward(z)                         # (B, Q) P z
        return state0, q, s, init_cache, cond_cache

    def initial_state(self, z: np.ndarray) -> tuple[State, np.ndarray | None]:
        """The language model's State(h_0, c_0) and side input q for vectors z (B, K)."""
        state0, q, *_ = self._condition(z)
        return (self.lm.zero_state(len(z)) if state0 is None else state0), q

    # ---- forward / backward ---------------------------------------------------------------
    def forward(self, ids: np.ndarray, z: np.ndarray, lengths: np.ndarray | None = None,
                training: bool = False) -> tuple[LanguageModelOutput, ConditionalCache]:
        """ids (T, B) int, z (B, K), lengths (B,) or None -> ((logits (T, B, N), final State), cache)."""
        state0, q, s, init_cache, cond_cache = self._condition(z)
        outputs, lm_cache = self.lm.forward(ids, state0, lengths, training, q)
        z = np.asarray(z, dtype=self.dtype)
        return outputs, ConditionalCache(z, s, init_cache, cond_cache, lm_cache)

    def backward(self, d_logits: np.ndarray, cache: ConditionalCache) -> dict[str, np.ndarray]:
        """Gradients of every parameter (flat names) given dL/dlogits (T, B, N)."""
        return self.backward_with_inputs(d_logits, cache).params

    def backward_with_inputs(self, d_logits: np.ndarray, cache: ConditionalCache) -> ConditionalGrads:
        """dL/dlogits (T, B, N) -> the gradients of the parameters and of z (B, K)."""
        grads, d_state0, dq = self.lm.backward_with_inputs(d_logits, cache.lm)
        dz = np.zeros_like(cache.z)
        c = self.config
        named = []
        if self.init is not None:
            B = cache.z.shape[0]                                         # dc_0 is not used
            ds = d_state0.h.transpose(1, 0, 2).reshape(B, c.num_layers * c.hidden_size)   # (B, L*H)
            da = ds * (1 - cache.s * cache.s)                            # through tanh
            dz_init, g = self.init.backward(da, cache.init)
            dz += dz_init
            named.append(("init", g))
        if self.cond is not None:
            dz_cond, g = self.cond.backward(dq, cache.cond)
            dz += dz_cond
            named.append(("cond", g))
        return ConditionalGrads({**grads, **named_grads(*named)}, dz)

    def loss_and_grads(self, batch: ConditionalBatch, training: bool = True) -> StepResult:
        """Mean per-step cross-entropy (the mask, or t < lengths[b]), and its gradients.

        StepResult counts: as ``LanguageModel.loss_and_grads`` (count = the counted steps, a mean
        per predicted token); the gradients include those of the conditioning path.
        """
        (logits, final), cache = self.forward(batch.ids, batch.z, batch.lengths, training)
        loss, d_logits, count, tokens = counted_loss(logits, batch)
        return StepResult(loss, self.backward(d_logits, cache), logits.shape[1], tokens, count, final)

    # ---- generation -------------------------------------------------------------------------
    def generate(self, z: np.ndarray, prime: np.ndarray, length: int, temperature: float = 1.0,
                 top_k: int | None = None, rng: np.random.Generator | None = None,
                 banned=()) -> Iterator[int]:
        """Yield ``length`` ids of a sequence conditioned on one vector z (K,), after ``prime``
        (e.g. the start-of-sequence id)."""
        state, q = self.initial_state(np.asarray(z).reshape(1, -1))
        step = lambda ids, st: self.lm.step(ids, st, q)
        return sample(step, state, prime, length, temperature, top_k, rng, banned)
