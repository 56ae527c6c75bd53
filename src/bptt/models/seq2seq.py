r"""Encoder-decoder (sequence to sequence): a source sequence in, a target sequence of its own
length and vocabulary out (e.g. "the 3rd of march 1998" -> "1998-03-03", character by character).

Training (teacher forcing: the decoder reads the true previous target token)::

    x_s = Embedding_src(a_s)                      (S, B, E)    source tokens a_1 .. a_S
    _, h_enc = Encoder(x_1 .. x_S)                (L*D, B, H)  final states at each real last step
    s_0 = bridge(h_enc)                           (L, B, D*H)  [forward ; backward] of each layer
    u_t = Embedding_tgt(y_{t-1}),  y_0 = <bos>    (T, B, E)
    g_t = Decoder(u_t, g_{t-1}), g_0 = s_0        (T, B, D*H)
    z_t = V g_t + c                               (T, B, C)
    L   = sum_{b, t <= len_b} -log softmax(z_t)[y_t] / N      y_1 .. y_n, then y_{n+1} = <eos>

The encoder's final state is the decoder's initial state (for the LSTM both h and c); with a
bidirectional encoder (D = 2) the decoder has D*H units and starts from the forward and backward
final states of each layer side by side. Nothing else connects the two: no attention.

Backward, the chain in reverse::

    dz = mask * (softmax(z) - onehot(y)) / N               per target step
    dg, dV, dc = Dense.backward(dz)
    du, ds_0 = Decoder.backward(d_output=dg)               BPTT through the decoder
    dh_enc = bridge^T(ds_0)                                the split of the concatenation
    dx = Encoder.backward(d_output=0, d_final=dh_enc)      BPTT through the encoder
    dEmbedding_tgt, dEmbedding_src from du, dx

Decoding: ``greedy`` takes the most probable token at each step; ``beam_search`` keeps the K
best prefixes by summed log-probability (ranking the finished ones by score / length^alpha).
With K = 1 it is exactly greedy. ``<pad>`` and ``<bos>`` are never produced.

Parameter names are those of a PyTorch module with submodules ``encoder_embedding``,
``decoder_embedding`` (nn.Embedding), ``encoder``, ``decoder`` (nn.RNN / LSTM / GRU) and ``fc``
(nn.Linear).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ._compose import (Composed, ModelConfig, StepResult, check_fractions, masked, named_grads,
                       real_steps, recurrent)
from ..layers import Dense, Embedding
from ..losses import log_softmax, softmax_cross_entropy
from ..state import State


@dataclass(frozen=True)
class Seq2SeqConfig(ModelConfig):
    src_vocab_size: int
    tgt_vocab_size: int
    embedding_dim: int
    hidden_size: int                # per encoder direction; the decoder has D * hidden_size
    mode: str = "lstm"              # rnn_tanh | rnn_relu | rnn_sigmoid | lstm | gru
    num_layers: int = 1             # of the encoder and of the decoder
    bidirectional_encoder: bool = False
    dropout: float = 0.0            # between stacked recurrent layers
    embedding_dropout: float = 0.0  # on source and target token vectors
    output_dropout: float = 0.0     # on the decoder outputs before the dense layer
    padding_idx: int = 0
    bos_id: int = 2
    eos_id: int = 3
    dtype: str = "float32"

    def __post_init__(self):
        check_fractions(self, ("dropout", "embedding_dropout", "output_dropout"))
        for name in ("padding_idx", "bos_id", "eos_id"):
            if not 0 <= getattr(self, name) < self.tgt_vocab_size:
                raise ValueError(f"{name} must be a target id in [0, {self.tgt_vocab_size}), "
                                 f"got {getattr(self, name)}")
        if len({self.padding_idx, self.bos_id, self.eos_id}) != 3:
            raise ValueError(f"padding_idx, bos_id and eos_id must differ, got "
                             f"{self.padding_idx}, {self.bos_id}, {self.eos_id}")

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional_encoder else 1

    @property
    def decoder_size(self) -> int:
        return self.directions * self.hidden_size


class Seq2SeqCache(NamedTuple):
    src_emb: tuple                  # Embedding caches
    tgt_emb: tuple
    encoder: tuple                  # Recurrent caches
    decoder: tuple
    fc: tuple                       # Dense cache
    src_mask: np.ndarray | None     # (S, B, E) dropout masks, scaled by 1/(1-p)
    tgt_mask: np.ndarray | None     # (T, B, E)
    out_mask: np.ndarray | None     # (T, B, D*H)


class Hypothesis(NamedTuple):
    tokens: list[int]               # output ids, without <bos> and <eos>
    score: float                    # sum of log-probabilities, <eos> included if finished
    finished: bool                  # ended with <eos> (False: stopped at max_len)


def shift_right(tgt: np.ndarray, bos_id: int) -> np.ndarray:
    """Decoder inputs for teacher forcing: (T, B) [<bos>, y_1, ..., y_{T-1}] from targets
    (T, B) [y_1, ..., y_T] (each column ends in <eos> and then padding)."""
    tgt = np.asarray(tgt)
    out = np.empty_like(tgt)
    out[0] = bos_id
    out[1:] = tgt[:-1]
    return out


class Seq2SeqBatch(NamedTuple):
    """What ``loss_and_grads`` reads (the translation job's batches have the same fields)."""
    src: np.ndarray                 # (S, B) source ids, padded after each source's end
    src_lengths: np.ndarray | None  # (B,)
    tgt: np.ndarray                 # (T, B) y_1 .. y_n, <eos>, then padding
    tgt_lengths: np.ndarray | None  # (B,) n + 1 (None: all T)


class Seq2Seq(Composed):
    """Embedding -> encoder RNN -> (final state) -> decoder RNN -> dense -> softmax, per step.

    ``rng`` draws the weights; ``dropout_seed`` seeds the dropout masks on the token vectors and
    the decoder outputs, ``dropout_seed + 1`` and ``+ 2`` those between the encoder's and the
    decoder's layers.
    """

    config_class = Seq2SeqConfig

    def __init__(self, config: Seq2SeqConfig, rng: np.random.Generator | None = None,
                 dropout_seed: int = 0):
        rng = self._begin(config, rng, dropout_seed)
        c = config
        self.encoder_embedding = Embedding(c.src_vocab_size, c.embedding_dim, c.padding_idx, self.dtype, rng)
        self.decoder_embedding = Embedding(c.tgt_vocab_size, c.embedding_dim, c.padding_idx, self.dtype, rng)
        self.encoder = recurrent(c, c.embedding_dim, rng, dropout_seed + 1,
                                 bidirectional=c.bidirectional_encoder)
        self.decoder = recurrent(c, c.embedding_dim, rng, dropout_seed + 2, hidden_size=c.decoder_size)
        self.fc = Dense(c.decoder_size, c.tgt_vocab_size, dtype=self.dtype, rng=rng)
        self._compose(("encoder_embedding", self.encoder_embedding), ("encoder", self.encoder),
                      ("decoder_embedding", self.decoder_embedding), ("decoder", self.decoder),
                      ("fc", self.fc))

    # ---- the bridge between encoder and decoder -----------------------------------------------
    def _bridge(self, state: State) -> State:
        """Encoder final State (L*D, B, H), index l*D + d -> decoder State (L, B, D*H)."""
        c = self.config
        L, D, H = c.num_layers, c.directions, c.hidden_size

        def one(s):                 # (L*D, B, H) = (L, D, B, H) -> (L, B, D, H) -> (L, B, D*H)
            B = s.shape[1]
            return s.reshape(L, D, B, H).transpose(0, 2, 1, 3).reshape(L, B, D * H)
        return state.map(one)

    def _unbridge(self, d_state: State) -> State:
        """The gradient through ``_bridge``: (L, B, D*H) -> (L*D, B, H)."""
        c = self.config
        L, D, H = c.num_layers, c.directions, c.hidden_size

        def one(g):                 # (L, B, D*H) = (L, B, D, H) -> (L, D, B, H) -> (L*D, B, H)
            B = g.shape[1]
            return np.ascontiguousarray(g.reshape(L, B, D, H).transpose(0, 2, 1, 3)).reshape(L * D, B, H)
        return d_state.map(one)

    # ---- forward / backward ---------------------------------------------------------------
    def _encode(self, src, src_lengths, training: bool):
        src = np.asarray(src)
        if src.ndim != 2:
            raise ValueError(f"src must be 2-D (S, B), got shape {src.shape}")
        x, emb_cache = self.encoder_embedding.forward(src)                 # (S, B, E)
        x, mask = self._dropout(x, self.config.embedding_dropout, training)
        _, final, enc_cache = self.encoder.forward(x, lengths=src_lengths, training=training)
        return self._bridge(final), (emb_cache, enc_cache, mask)

    def encode(self, src: np.ndarray, src_lengths: np.ndarray | None = None) -> State:
        """The decoder's initial State for source ids (S, B): h (and the LSTM's c) (L, B, D*H)."""
        return self._encode(src, src_lengths, training=False)[0]

    def forward(self, src: np.ndarray, src_lengths: np.ndarray | None, tgt_in: np.ndarray,
                tgt_lengths: np.ndarray | None, training: bool = False) -> tuple[np.ndarray, Seq2SeqCache]:
        """src (S, B) source ids, src_lengths (B,); tgt_in (T, B) decoder inputs (``shift_right``
        of the targets), tgt_lengths (B,). Returns (logits (T, B, C), cache)."""
        c = self.config
        state0, (src_emb, enc_cache, src_mask) = self._encode(src, src_lengths, training)
        tgt_in = np.asarray(tgt_in)
        if tgt_in.ndim != 2 or tgt_in.shape[1] != np.shape(src)[1]:
            raise ValueError(f"tgt_in must be 2-D (T, B) with B = {np.shape(src)[1]} as src, "
                             f"got shape {tgt_in.shape}")
        u, tgt_emb = self.decoder_embedding.forward(tgt_in)                 # (T, B, E)
        u, tgt_mask = self._dropout(u, c.embedding_dropout, training)
        g, _, dec_cache = self.decoder.forward(u, state0, lengths=tgt_lengths, training=training)
        g, out_mask = self._dropout(g, c.output_dropout, training)
        logits, fc_cache = self.fc.forward(g)                               # (T, B, C)
        return logits, Seq2SeqCache(src_emb, tgt_emb, enc_cache, dec_cache, fc_cache,
                                    src_mask, tgt_mask, out_mask)

    def backward(self, d_logits: np.ndarray, cache: Seq2SeqCache) -> dict[str, np.ndarray]:
        """Gradients of every parameter (flat names) given dL/dlogits (T, B, C)."""
        dg, fc_grads = self.fc.backward(d_logits, cache.fc)                # (T, B, D*H)
        du, d_state0, dec_grads = self.decoder.backward(cache.decoder, masked(dg, cache.out_mask))
        _, tgt_emb_grads = self.decoder_embedding.backward(masked(du, cache.tgt_mask), cache.tgt_emb)
        dx, _, enc_grads = self.encoder.backward(cache.encoder, None, self._unbridge(d_state0))
        _, src_emb_grads = self.encoder_embedding.backward(masked(dx, cache.src_mask), cache.src_emb)
        return named_grads(("encoder_embedding", src_emb_grads), ("encoder", enc_grads),
                           ("decoder_embedding", tgt_emb_grads), ("decoder", dec_grads), ("fc", fc_grads))

    def loss_and_grads(self, batch: Seq2SeqBatch, training: bool = True) -> StepResult:
        """Teacher-forced mean cross-entropy over the real target steps, and its gradients.

        ``batch.tgt`` (T, B): y_1 .. y_n, <eos> of each example, then padding; ``tgt_lengths``
        (B,) = n + 1. StepResult counts: count = the real target steps, sum_b (n_b + 1) (the loss
        is a mean per predicted token), tokens = source and target steps read, examples = B.
        """
        tgt = np.asarray(batch.tgt)
        T, B = tgt.shape
        tgt_lengths = (np.full(B, T, dtype=np.int64) if batch.tgt_lengths is None
                       else np.asarray(batch.tgt_lengths))
        logits, cache = self.forward(batch.src, batch.src_lengths, shift_right(tgt, self.config.bos_id),
                                     tgt_lengths, training=training)
        mask = real_steps(T, tgt_lengths, B)
        loss, d_logits = softmax_cross_entropy(logits, tgt, mask=mask)
        S = np.shape(batch.src)[0]
        src_tokens = S * B if batch.src_lengths is None else int(np.sum(batch.src_lengths))
        N = int(tgt_lengths.sum())
        return StepResult(loss, self.backward(d_logits, cache), B, src_tokens + N, N)

    # ---- decoding -------------------------------------------------------------------------
    def decode_step(self, tokens: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        """One decoder step for B rows: previous tokens (B,) and state -> (log-probabilities
        (B, C) with <pad> and <bos> at -inf, the next state)."""
        u = self.decoder_embedding.params["weight"][np.asarray(tokens)][None]   # (1, B, E)
        g, state, _ = self.decoder.forward(u, state)                           # (1, B, D*H)
        logits, _ = self.fc.forward(g[0])                                      # (B, C)
        logp = log_softmax(logits.astype(np.float64))
        logp[:, [self.config.padding_idx, self.config.bos_id]] = -np.inf
        return logp, state

    @staticmethod
    def _rows(state: State, rows: np.ndarray) -> State:
        return state.map(lambda s: s[:, rows])

    def greedy(self, src: np.ndarray, src_lengths: np.ndarray | None = None,
               max_len: int = 100) -> list[Hypothesis]:
        """The most probable token at every step, for each of the B sources (S, B)."""
        state = self.encode(src, src_lengths)
        B = np.shape(src)[1]
        eos = self.config.eos_id
        tokens = np.full(B, self.config.bos_id, dtype=np.int64)
        out = np.zeros((max_len, B), dtype=np.int64)
        scores = np.zeros(B)
        done = np.zeros(B, dtype=bool)
        steps = np.full(B, max_len)
        for t in range(max_len):
            logp, state = self.decode_step(tokens, state)
            tokens = logp.argmax(axis=1)
            scores[~done] += logp[~done, tokens[~done]]
            out[t] = tokens
            newly = ~done & (tokens == eos)
            steps[newly] = t
            done |= newly
            if done.all():
                break
        return [Hypothesis(out[:steps[b], b].tolist(), float(scores[b]), bool(done[b])) for b in range(B)]

    def beam_search(self, src: np.ndarray, src_lengths: np.ndarray | None = None, beam: int = 5,
                    max_len: int = 100, length_penalty: float = 0.0) -> list[Hypothesis]:
        """The best hypothesis of a beam search of width ``beam``, for each of the B sources.

        Each step extends every live prefix by every token and keeps the ``beam`` best new
        prefixes by summed log-probability; a prefix that takes <eos> is set aside as finished.
        The search stops when no live prefix scores above the best finished one (log-probabilities
        only fall, so none of them could still overtake it), when ``beam`` hypotheses have
        finished (if ``length_penalty`` > 0), or after ``max_len`` steps. The winner maximises
        score / (length + 1)^length_penalty (length counts <eos>). beam = 1 is ``greedy``.
        """
        if beam < 1:
            raise ValueError(f"beam must be >= 1, got {beam}")
        state0 = self.encode(src, src_lengths)
        return [self._beam_one(self._rows(state0, np.array([b])), beam, max_len, length_penalty)
                for b in range(np.shape(src)[1])]

    def _beam_one(self, state, K: int, max_len: int, alpha: float) -> Hypothesis:
        eos, C = self.config.eos_id, self.config.tgt_vocab_size
        alive: list[list[int]] = [[]]
        scores = np.zeros(1)                                       # (A,) of the live prefixes
        finished: list[Hypothesis] = []
        rank = lambda h: h.score / (len(h.tokens) + h.finished) ** alpha if alpha else h.score
        for _ in range(max_len):
            last = np.array([p[-1] if p else self.config.bos_id for p in alive])
            logp, state = self.decode_step(last, state)            # (A, C)
            cand = (scores[:, None] + logp).reshape(-1)            # (A*C,)
            order = np.argsort(-cand, kind="stable")               # ties: lowest index, as argmax
            rows, new_alive, new_scores = [], [], []
            for idx in order:
                if not np.isfinite(cand[idx]):
                    break
                a, v = divmod(int(idx), C)
                if v == eos:
                    finished.append(Hypothesis(list(alive[a]), float(cand[idx]), True))
                    continue
                rows.append(a)
                new_alive.append(alive[a] + [v])
                new_scores.append(cand[idx])
                if len(new_alive) == K:
                    break
            alive, scores = new_alive, np.array(new_scores)
            if not alive:
                break
            state = self._rows(state, np.array(rows))
            if finished:
                best = max(finished, key=rank)
                if (alpha == 0 and best.score >= scores.max()) or (alpha and len(finished) >= K):
                    break
        if not finished:
            finished = [Hypothesis(p, float(s), False) for p, s in zip(alive, scores)]
        return max(finished, key=rank)
