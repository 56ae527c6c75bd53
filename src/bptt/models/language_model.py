r"""Many-to-many, aligned: a language model predicts token t+1 from tokens 1..t, at every step.

    e_t = Embedding(w_t)                            (T, B, E)   token ids -> vectors
    x_t = [e_t ; q]                                 (T, B, E+S) q: optional side input (B, S),
                                                                the same at every step
    h_t = RNN / LSTM / GRU(x_t, h_{t-1})            (T, B, H)   stacked, unidirectional
    z_t = V h_t + c                                 (T, B, N)   logits over the vocabulary
    L   = sum_{t,b} m_tb CE(z_tb, w_{t+1,b}) / sum m     mean over counted steps (mask m)

Legend: T steps, B sequences (or parallel streams), E embedding size, S ``side_input_size``
(0 = none), H hidden units, L layers, N vocabulary size.

The state State(h_0, c_0) (c_0 for the LSTM only), each (L, B, H), is an input: zeros for a
fresh sequence, the previous chunk's final state when a long stream is read in chunks
(truncated BPTT: the caller detaches it, see ``bptt.truncated``), or a function of a
conditioning vector (``models/conditional.py``). ``forward`` returns the final state beside the
logits; ``backward_with_inputs`` returns the gradients of h_0 (and c_0) and of the side input q
beside those of the parameters, so a model built around this one can send them on.

Backward, given dz = dL/dz (T, B, N) from the loss::

    dV = sum_t dz_t^T h_t,  dc = sum_t dz_t,  dh_t (from the output) = dz_t V      (Dense)
    BPTT through the recurrent layers -> dx_t, dL/dh_0                             (Recurrent)
    de_t = dx_t[:, :E],  dq = sum_t dx_t[:, E:]                                     (split)
    dEmbedding[w] = sum_{t,b : w_tb = w} de_tb                                      (Embedding)

Parameter names are those of a PyTorch module with submodules ``embedding`` (nn.Embedding),
``rnn`` (nn.RNN / LSTM / GRU) and ``fc`` (nn.Linear), as in the classifier.

Sampling (one-to-many) runs the model one step at a time carrying the state: ``step`` feeds
one token per row and returns the next-token logits; ``sample`` draws from
softmax(z / temperature) restricted to the ``top_k`` largest logits (temperature 0: argmax).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, NamedTuple

import numpy as np

from ._compose import (Composed, ModelConfig, StepResult, check_fractions, masked, named_grads,
                       real_steps, recurrent)
from ..adaptive_softmax import AdaptiveSoftmax, check_cutoffs
from ..layers import Dense, Embedding, sum_rows_by_id
from ..losses import softmax_cross_entropy
from ..sampled_softmax import sampled_softmax
from ..sparse import SparseRows, as_dense
from ..state import State


@dataclass(frozen=True)
class LanguageModelConfig(ModelConfig):
    vocab_size: int
    embedding_dim: int
    hidden_size: int
    mode: str = "lstm"              # rnn_tanh | rnn_relu | rnn_sigmoid | lstm | gru
    num_layers: int = 1
    dropout: float = 0.0            # between recurrent layers (training only)
    output_dropout: float = 0.0     # on the top layer's outputs, before the dense layer
    side_input_size: int = 0        # S: a per-sequence vector appended to every step's input
    padding_idx: int | None = 0
    dtype: str = "float32"
    tie_weights: bool = False       # fc.weight is embedding.weight (Press & Wolf 2017): E must be H
    adaptive_cutoffs: tuple = ()    # non-empty: fc is an adaptive softmax with these cutoffs
    adaptive_div: float = 4.0       # its cluster k projects to H // adaptive_div ** k dimensions
    weight_dropout: float = 0.0     # DropConnect on the recurrent weights W (training only; bptt.recurrent)

    def __post_init__(self):
        for name in ("vocab_size", "embedding_dim", "hidden_size", "num_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.tie_weights and (self.embedding_dim != self.hidden_size or self.side_input_size):
            raise ValueError(f"tie_weights needs embedding_dim == hidden_size and no side input (fc.weight "
                             f"is embedding.weight), got embedding_dim {self.embedding_dim}, hidden_size "
                             f"{self.hidden_size}, side_input_size {self.side_input_size}")
        if self.side_input_size < 0:
            raise ValueError(f"side_input_size must be >= 0, got {self.side_input_size}")
        object.__setattr__(self, "adaptive_cutoffs", tuple(self.adaptive_cutoffs))    # JSON gives a list
        if self.adaptive_cutoffs:
            check_cutoffs(self.adaptive_cutoffs, self.vocab_size)
            if self.tie_weights:
                raise ValueError("tie_weights needs the full or the sampled softmax (fc.weight is "
                                 "embedding.weight); the adaptive softmax has no single (N, H) output matrix")
        check_fractions(self, ("dropout", "output_dropout", "weight_dropout"))


class LanguageModelCache(NamedTuple):
    emb: tuple                      # Embedding cache
    rnn: tuple                      # Recurrent cache
    fc: tuple                       # Dense cache
    out_mask: np.ndarray | None     # (T, B, H) output dropout mask, scaled by 1/(1-p)


class LanguageModelOutput(NamedTuple):
    """What ``forward`` computes."""
    logits: np.ndarray              # (T, B, N) next-token logits at every step
    state: State                    # the final state, each (L, B, H): carry it to the next chunk


class LanguageModelGrads(NamedTuple):
    """What ``backward_with_inputs`` returns: the gradients of the parameters and of the inputs
    that a model built around this one computes (``ConditionalLanguageModel``)."""
    params: dict[str, np.ndarray]   # every parameter, flat names
    state0: State                   # dL/dh_0 (and dL/dc_0), each (L, B, H)
    side: np.ndarray | None         # dL/dq (B, S), or None without a side input


class LanguageModelBatch(NamedTuple):
    """What ``loss_and_grads`` reads."""
    ids: np.ndarray                 # (T, B) input token ids
    targets: np.ndarray             # (T, B) the token to predict at each step
    mask: np.ndarray | None = None  # (T, B) bool: the steps the loss counts (None: see lengths)
    state0: State | None = None     # the initial state (None: zeros)
    lengths: np.ndarray | None = None   # (B,) real lengths; without a mask, counts t < len_b
    side: np.ndarray | None = None  # (B, S) side input, if side_input_size > 0


class LanguageModel(Composed):
    """Embedding -> stacked RNN / LSTM / GRU -> dense over the vocabulary at every step.

    ``rng`` draws the weights; ``dropout_seed`` seeds the dropout masks on the top layer's
    outputs, ``dropout_seed + 1`` those between the recurrent layers.
    """

    config_class = LanguageModelConfig

    def __init__(self, config: LanguageModelConfig, rng: np.random.Generator | None = None,
                 dropout_seed: int = 0):
        rng = self._begin(config, rng, dropout_seed)
        c = config
        self.embedding = Embedding(c.vocab_size, c.embedding_dim, c.padding_idx, self.dtype, rng)
        self.rnn = recurrent(c, c.embedding_dim + c.side_input_size, rng, dropout_seed + 1)
        if c.adaptive_cutoffs:      # fc.forward gives log-probabilities, which serve as logits
            self.fc = AdaptiveSoftmax(c.hidden_size, c.vocab_size, c.adaptive_cutoffs, c.adaptive_div,
                                      dtype=self.dtype, rng=rng)
        else:
            self.fc = Dense(c.hidden_size, c.vocab_size, dtype=self.dtype, rng=rng)
        if c.tie_weights:
            self.fc.params["weight"] = self.embedding.params["weight"]    # one array, two uses
        self._compose(("embedding", self.embedding), ("rnn", self.rnn), ("fc", self.fc))
        if c.tie_weights:
            del self.params["fc.weight"]      # a parameter once: its gradient sums both uses

    # ---- states ---------------------------------------------------------------------------
    def zero_state(self, batch_size: int) -> State:
        """State(h_0 = 0, c_0 = 0) (L, B, H); c_0 only for the LSTM."""
        c = self.config
        h = np.zeros((c.num_layers, batch_size, c.hidden_size), dtype=self.dtype)
        return State(h, h.copy() if self.rnn.cell.num_states == 2 else None)

    # ---- forward / backward ---------------------------------------------------------------
    def forward(self, ids: np.ndarray, state0=None, lengths: np.ndarray | None = None,
                training: bool = False, side: np.ndarray | None = None
                ) -> tuple[LanguageModelOutput, LanguageModelCache]:
        """ids (T, B) int; state0 a State like ``zero_state(B)`` (None: zeros); lengths (B,)
        real lengths (None: all T); side (B, S) if ``side_input_size`` > 0.

        Returns ((logits (T, B, N), final State), cache).
        """
        ids = np.asarray(ids)
        if ids.ndim != 2:
            raise ValueError(f"ids must be 2-D (T, B), got shape {ids.shape}")
        out, final, emb_cache, rnn_cache, out_mask = self._hidden(ids, state0, lengths, training, side)
        logits, fc_cache = self.fc.forward(out)                          # (T, B, N)
        cache = LanguageModelCache(emb_cache, rnn_cache, fc_cache, out_mask)
        return LanguageModelOutput(logits, final), cache

    def _hidden(self, ids, state0, lengths, training, side):
        """Embedding -> recurrent layers -> output dropout: the top layer's outputs (T, B, H)."""
        T, B = ids.shape
        e, emb_cache = self.embedding.forward(ids)                       # (T, B, E)
        x = self._with_side(e, side, B)                                  # (T, B, E+S)
        out, final, rnn_cache = self.rnn.forward(x, state0, lengths, training=training)  # (T, B, H)
        out, out_mask = self._dropout(out, self.config.output_dropout, training)
        return out, final, emb_cache, rnn_cache, out_mask

    def _with_side(self, e: np.ndarray, side: np.ndarray | None, B: int) -> np.ndarray:
        S = self.config.side_input_size
        if S == 0:
            if side is not None:
                raise ValueError("side input given, but the model has side_input_size = 0")
            return e
        side = np.asarray(side, dtype=self.dtype) if side is not None else None
        if side is None or side.shape != (B, S):
            got = None if side is None else side.shape
            raise ValueError(f"side must have shape ({B}, {S}) (B, side_input_size), got {got}")
        x = np.empty(e.shape[:2] + (e.shape[2] + S,), dtype=self.dtype)  # (T, B, E+S)
        x[..., :e.shape[2]] = e
        x[..., e.shape[2]:] = side                                       # q at every step
        return x

    def backward(self, d_logits: np.ndarray, cache: LanguageModelCache) -> dict[str, np.ndarray]:
        """Gradients of every parameter (flat names) given dL/dlogits (T, B, N)."""
        return self.backward_with_inputs(d_logits, cache).params

    def backward_with_inputs(self, d_logits: np.ndarray, cache: LanguageModelCache,
                             d_state=None) -> LanguageModelGrads:
        """dL/dlogits (T, B, N), and dL/d final state (a State; None: 0) -> the gradients of the
        parameters, of the initial state and of the side input (``LanguageModelGrads``)."""
        d_out, fc_grads = self.fc.backward(d_logits, cache.fc)           # (T, B, H)
        return self._backward_hidden(d_out, fc_grads, cache, d_state)

    def _backward_hidden(self, d_out, fc_grads: dict, cache, d_state=None) -> LanguageModelGrads:
        """From dL/d(top outputs) (T, B, H) and the output layer's gradients down to the embedding."""
        dx, d_state0, rnn_grads = self.rnn.backward(cache.rnn, masked(d_out, cache.out_mask), d_state)
        E = self.config.embedding_dim                                    # dx (T, B, E+S)
        d_side = dx[..., E:].sum(axis=0) if self.config.side_input_size else None  # (B, S)
        _, emb_grads = self.embedding.backward(np.ascontiguousarray(dx[..., :E]), cache.emb)
        if self.config.tie_weights:          # dL/dV of the one shared array: both uses summed
            fc_grads = dict(fc_grads)
            emb_grads = {"weight": add_grads(emb_grads.get("weight"), fc_grads.pop("weight"))}
        grads = named_grads(("embedding", emb_grads), ("rnn", rnn_grads), ("fc", fc_grads))
        return LanguageModelGrads(grads, d_state0, d_side)

    def loss_and_grads(self, batch: LanguageModelBatch, training: bool = True) -> StepResult:
        """Mean cross-entropy over the counted steps of ``batch.targets`` (the mask; without
        one, t < lengths[b]; without either, every step), its gradients, and the final state.

        StepResult counts: count = the counted steps (the loss is a mean per predicted token),
        tokens = the real steps read (sum_b len_b, or T*B), examples = B; ``state`` is the
        final State, for truncated BPTT to carry on (after ``bptt.truncated.detach``).
        """
        (logits, final), cache = self.forward(batch.ids, batch.state0, batch.lengths, training,
                                              batch.side)
        loss, d_logits, count, tokens = counted_loss(logits, batch)
        return StepResult(loss, self.backward(d_logits, cache), logits.shape[1], tokens, count, final)

    def sampled_loss_and_grads(self, batch: LanguageModelBatch, candidates: np.ndarray,
                               log_q_targets: np.ndarray, log_q_candidates: np.ndarray,
                               training: bool = True) -> StepResult:
        """``loss_and_grads`` with the sampled softmax (``bptt.sampled_softmax``) in place of the
        full one: the same StepResult, the loss over the target and the K shared ``candidates``.

        log_q_targets (T, B) and log_q_candidates (K,): the logQ corrections of the sampler.
        """
        def head(h, targets, mask):
            loss, dh, g = sampled_softmax(h, self.fc.params["weight"], self.fc.params.get("bias"), targets,
                                          candidates, np.asarray(log_q_targets).reshape(-1), log_q_candidates,
                                          mask)
            return loss, dh, {"weight": g.weight} if g.bias is None else {"weight": g.weight, "bias": g.bias}
        return self._loss_through(head, batch, training)

    def adaptive_loss_and_grads(self, batch: LanguageModelBatch, training: bool = True) -> StepResult:
        """``loss_and_grads`` with the adaptive softmax's training path (``bptt.adaptive_softmax``):
        the same loss (the model's exact -log p), reading only the targets' clusters."""
        if not self.config.adaptive_cutoffs:
            raise ValueError("adaptive_loss_and_grads needs a model with adaptive_cutoffs")
        return self._loss_through(self.fc.loss, batch, training)

    def _loss_through(self, head, batch: LanguageModelBatch, training: bool) -> StepResult:
        """The StepResult of an output layer's own loss ``head(h (R, H), targets (R,), mask (R,)
        or None) -> (loss, dL/dh (R, H), fc gradients)`` on the top layer's outputs."""
        out, final, emb_cache, rnn_cache, out_mask = self._hidden(
            np.asarray(batch.ids), batch.state0, batch.lengths, training, batch.side)
        T, B, H = out.shape
        read = real_steps(T, batch.lengths, B)                           # (T, B)
        mask = batch.mask if batch.mask is not None else read if batch.lengths is not None else None
        loss, dh, fc_grads = head(out.reshape(T * B, H), np.asarray(batch.targets).reshape(-1),
                                  None if mask is None else np.asarray(mask).reshape(-1))
        cache = LanguageModelCache(emb_cache, rnn_cache, None, out_mask)
        grads = self._backward_hidden(dh.reshape(T, B, H), fc_grads, cache).params
        count = int(np.sum(mask)) if mask is not None else T * B
        return StepResult(loss, grads, B, int(read.sum()), count, final)

    # ---- one step at a time -----------------------------------------------------------------
    def step(self, ids: np.ndarray, state, side: np.ndarray | None = None) -> tuple[np.ndarray, State]:
        """Feed one token per row: ids (B,) -> (next-token logits (B, N), new State)."""
        ids = np.asarray(ids).reshape(1, -1)                             # (1, B)
        e, _ = self.embedding.forward(ids)
        out, state = self.rnn(self._with_side(e, side, ids.shape[1]), state)   # (1, B, H)
        logits, _ = self.fc.forward(out[0])                              # (B, N)
        return logits, state

    def generate(self, prime: np.ndarray, length: int, temperature: float = 1.0,
                 top_k: int | None = None, rng: np.random.Generator | None = None, state=None,
                 side: np.ndarray | None = None, banned=()) -> Iterator[int]:
        """Yield ``length`` sampled token ids that continue ``prime`` (P >= 1 ids).

        ``side`` (S,) is the side input of this one sequence; ``banned`` ids are never drawn.
        """
        side = None if side is None else np.asarray(side).reshape(1, -1)
        step = lambda ids, s: self.step(ids, s, side)
        state = self.zero_state(1) if state is None else state
        return sample(step, state, prime, length, temperature, top_k, rng, banned)


def counted_loss(logits: np.ndarray, batch) -> tuple[float, np.ndarray, int, int]:
    """Mean cross-entropy of logits (T, B, N) against ``batch.targets`` over the counted steps:
    ``batch.mask``, else t < ``batch.lengths[b]``, else all. Returns (loss, dL/dlogits, counted
    steps, real steps read)."""
    T, B = logits.shape[:2]
    read = real_steps(T, batch.lengths, B)                               # (T, B)
    mask = batch.mask if batch.mask is not None else read if batch.lengths is not None else None
    loss, d_logits = softmax_cross_entropy(logits, np.asarray(batch.targets), mask)
    return loss, d_logits, int(np.sum(mask)) if mask is not None else T * B, int(read.sum())


def add_grads(a, b):
    """The sum of two gradients of one array, either of which may be row-sparse (or None)."""
    if a is None:
        return b
    if isinstance(a, SparseRows) and isinstance(b, SparseRows):
        ids, values = sum_rows_by_id(np.concatenate([a.indices, b.indices]),
                                     np.concatenate([a.values, b.values]))
        return SparseRows(ids, values, a.shape)
    return as_dense(a) + as_dense(b)


# ---- sampling ---------------------------------------------------------------------------------
def next_token(logits: np.ndarray, temperature: float = 1.0, top_k: int | None = None,
               rng: np.random.Generator | None = None, banned=()) -> int:
    """Draw one id from logits (N,): p ∝ exp(z / temperature) over the ``top_k`` largest z.

    temperature 0 gives the argmax. Exactly ``top_k`` ids stay candidates (ties at the k-th
    value are broken by np.argpartition), and ``banned`` ids never do.
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    z = np.array(logits, dtype=np.float64).reshape(-1)                   # (N,)
    if len(banned):
        z[np.asarray(banned, dtype=np.int64)] = -np.inf
    candidates = np.flatnonzero(np.isfinite(z))                          # (K,)
    if candidates.size == 0:
        raise ValueError("no token can be drawn: every logit is banned or not finite")
    if top_k is not None:
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1 or None, got {top_k}")
        if top_k < candidates.size:
            candidates = candidates[np.argpartition(-z[candidates], top_k - 1)[:top_k]]
    zc = z[candidates]
    if temperature == 0:
        return int(candidates[np.argmax(zc)])
    shifted = (zc - zc.max()) / temperature                              # <= 0: exp never overflows
    p = np.exp(shifted)
    cdf = np.cumsum(p)
    rng = np.random.default_rng() if rng is None else rng
    i = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))
    return int(candidates[min(i, candidates.size - 1)])


def sample(step: Callable, state, prime: np.ndarray, length: int, temperature: float = 1.0,
           top_k: int | None = None, rng: np.random.Generator | None = None,
           banned=()) -> Iterator[int]:
    """Feed the ``prime`` ids one at a time through ``step(ids (1,), state) -> (logits (1, N),
    state)``, then yield ``length`` ids, each drawn from the logits and fed back in."""
    prime = np.asarray(prime, dtype=np.int64).reshape(-1)
    if prime.size == 0:
        raise ValueError("prime must hold at least one token: the first step needs an input")
    if length < 0:
        raise ValueError(f"length must be >= 0, got {length}")
    rng = np.random.default_rng() if rng is None else rng
    for token in prime:
        logits, state = step(np.array([token]), state)
    for i in range(length):
        token = next_token(logits[0], temperature, top_k, rng, banned)
        yield token
        if i + 1 < length:
            logits, state = step(np.array([token]), state)
