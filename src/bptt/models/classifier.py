r"""Many-to-one: a sequence in, one label out (e.g. the sentiment of a review).

    e_t = Embedding(w_t)                            (T, B, E)   token ids -> vectors
    h_t = RNN / LSTM / GRU(e_t, h_{t-1})            (T, B, D*H) all layers, real steps only
    s   = pool(h_1 .. h_T)                          (B, P*D*H)  P pooled parts (1 to 3)
    y   = softmax(V s + c)                          (B, C)

Pooling over each sequence's real steps (1..len_b):
- ``last``: the final state h_len of the top layer; bidirectional: [forward h_len ; backward
  h_1] (PyTorch's ``h_n[-2:]``). Its gradient enters BPTT as the final-state gradient.
- ``mean``: (1/len_b) sum_t h_t, with gradient (1/len_b) ds at every real step.
- ``max``: the element-wise maximum over real steps; the gradient goes to the arg-max step.
- ``max+mean``: [max ; mean] concatenated; ds splits into the two halves, each flowing back as
  above.
- ``last+max+mean``: [last ; max ; mean], ULMFiT's "concat pooling" (Howard & Ruder 2018,
  h_c = [h_T ; maxpool(H) ; meanpool(H)]); ds splits into three parts of D*H, the first entering
  BPTT as the final-state gradient, the other two at the steps as above.

Adversarial training (``loss_and_grads(..., adversarial=eps, virtual_adversarial=eps)``, see
``bptt.adversarial`` and docs/pretraining.md): ``forward`` adds a perturbation r (T, B, E) to e_t,
``backward_to_input`` returns dL/de beside the rnn's and fc's gradients, and the objective's
terms share one embedding backward.

Parameter names are those of a PyTorch module with submodules ``embedding`` (nn.Embedding),
``rnn`` (nn.RNN / LSTM / GRU) and ``fc`` (nn.Linear).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ._compose import (Composed, ModelConfig, StepResult, check_fractions, masked, named_grads,
                       real_steps, recurrent, top_final, top_final_grad)
from ..adversarial import VAT_XI, kl_and_grad, per_example_direction
from ..layers import Dense, Embedding
from ..losses import softmax, softmax_cross_entropy

POOLINGS = ("last", "mean", "max", "max+mean", "last+max+mean")


def pooling_parts(pooling: str) -> tuple[str, ...]:
    """The pooled parts of a pooling, in the order they are concatenated: "last+max+mean" ->
    ("last", "max", "mean")."""
    return tuple(pooling.split("+"))


@dataclass(frozen=True)
class ClassifierConfig(ModelConfig):
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
    weight_dropout: float = 0.0     # DropConnect on the recurrent weights W (training only; bptt.recurrent)

    def __post_init__(self):
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        check_fractions(self, ("dropout", "embedding_dropout", "output_dropout", "weight_dropout"))
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {self.num_classes}")


class ClassifierCache(NamedTuple):
    emb: tuple                      # Embedding cache
    rnn: tuple                      # Recurrent cache
    fc: tuple                       # Dense cache
    lengths: np.ndarray             # (B,)
    argmax: np.ndarray | None       # (B, D*H) step of the maximum (max pooling)
    emb_mask: np.ndarray | None     # (T, B, E) embedding dropout mask, scaled by 1/(1-p)
    out_mask: np.ndarray | None     # (B, P*D*H) feature dropout mask, scaled by 1/(1-p)


class ClassifierBatch(NamedTuple):
    """What ``loss_and_grads`` reads (``bptt.data.batching.Batch`` has the same fields)."""
    ids: np.ndarray                 # (T, B) token ids, padded after each sequence's end
    lengths: np.ndarray | None      # (B,) real lengths (None: all T)
    labels: np.ndarray              # (B,) class ids


class Classifier(Composed):
    """Embedding -> recurrent layers -> pooling -> dense -> softmax.

    ``rng`` draws the weights; ``dropout_seed`` seeds the dropout masks on the word vectors and
    the pooled features, ``dropout_seed + 1`` those between the recurrent layers.
    """

    config_class = ClassifierConfig

    def __init__(self, config: ClassifierConfig, rng: np.random.Generator | None = None,
                 dropout_seed: int = 0):
        rng = self._begin(config, rng, dropout_seed)
        c = config
        self.embedding = Embedding(c.vocab_size, c.embedding_dim, c.padding_idx, self.dtype, rng)
        self.rnn = recurrent(c, c.embedding_dim, rng, dropout_seed + 1, bidirectional=c.bidirectional)
        D, P = 2 if c.bidirectional else 1, len(pooling_parts(c.pooling))
        self.fc = Dense(P * D * c.hidden_size, c.num_classes, dtype=self.dtype, rng=rng)
        self._compose(("embedding", self.embedding), ("rnn", self.rnn), ("fc", self.fc))

    # ---- forward / backward ---------------------------------------------------------------
    def forward(self, ids: np.ndarray, lengths: np.ndarray | None = None,
                training: bool = False, perturbation: np.ndarray | None = None
                ) -> tuple[np.ndarray, ClassifierCache]:
        """ids (T, B) int token ids (padding after each sequence's end); lengths (B,) or None
        (all T); ``perturbation`` r (T, B, E) added to the embedded sequence (adversarial
        training; before the embedding dropout). Returns (logits (B, C), cache)."""
        ids = np.asarray(ids)
        if ids.ndim != 2:
            raise ValueError(f"ids must be 2-D (T, B), got shape {ids.shape}")
        T, B = ids.shape
        lengths = np.full(B, T, dtype=np.int64) if lengths is None else np.asarray(lengths)
        x, emb_cache = self.embedding.forward(ids)                       # (T, B, E)
        if perturbation is not None:
            x = x + perturbation                                         # e + r
        x, emb_mask = self._dropout(x, self.config.embedding_dropout, training)
        out, final, rnn_cache = self.rnn.forward(x, lengths=lengths, training=training)
        s, argmax = self.pool(out, final, lengths)                       # (B, P*D*H)
        s, out_mask = self._dropout(s, self.config.output_dropout, training)
        logits, fc_cache = self.fc.forward(s)                            # (B, C)
        cache = ClassifierCache(emb_cache, rnn_cache, fc_cache, lengths, argmax, emb_mask, out_mask)
        return logits, cache

    def pool(self, out: np.ndarray, final, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The pooled features s (B, P*D*H) of the top layer's outputs out (T, B, D*H), zero after
        each sequence's end, its final State (only the top layer's D entries of h are read) and
        lengths (B,); and the step of each maximum (B, D*H) for max pooling, else None. The parts
        are concatenated in ``pooling_parts`` order."""
        parts, argmax = [], None
        for part in pooling_parts(self.config.pooling):
            if part == "last":
                parts.append(top_final(final, self.rnn.config.directions))   # (B, D*H)
            elif part == "max":
                real = real_steps(out.shape[0], lengths, out.shape[1])   # (T, B)
                argmax = np.where(real[..., None], out, -np.inf).argmax(axis=0)   # (B, D*H)
                parts.append(np.take_along_axis(out, argmax[None], axis=0)[0])   # (B, D*H) the maxima
            else:                                                        # mean; padding is zero
                parts.append(out.sum(axis=0) / lengths[:, None].astype(out.dtype))   # (B, D*H)
        return (parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)), argmax

    def backward(self, d_logits: np.ndarray, cache: ClassifierCache) -> dict[str, np.ndarray]:
        """Gradients of every parameter (flat names) given dL/dlogits (B, C)."""
        d_emb, rnn_grads, fc_grads = self.backward_to_input(d_logits, cache)
        _, emb_grads = self.embedding.backward(d_emb, cache.emb)
        return named_grads(("embedding", emb_grads), ("rnn", rnn_grads), ("fc", fc_grads))

    def backward_to_input(self, d_logits: np.ndarray, cache: ClassifierCache) -> tuple[np.ndarray, dict, dict]:
        """(dL/de (T, B, E), the rnn's gradients, the fc's gradients) given dL/dlogits (B, C): the
        backward pass down to the embedded sequence e (the embedding's rows are looked up from it)."""
        ds, fc_grads = self.fc.backward(d_logits, cache.fc)              # (B, P*D*H)
        ds = masked(ds, cache.out_mask)
        c = self.rnn.config
        D, H, L = c.directions, c.hidden_size, c.num_layers
        T, B = len(cache.rnn.packing.batch_sizes), len(cache.lengths)
        d_out, d_final = None, None
        for k, part in enumerate(pooling_parts(self.config.pooling)):
            ds_part = ds[:, k * D * H:(k + 1) * D * H]                   # (B, D*H) this part's share
            if part == "last":                                           # the final-state gradient
                d_final = top_final_grad(ds_part, L, D)                  # State, (L*D, B, H)
                continue
            if d_out is None:
                d_out = np.zeros((T, B, D * H), dtype=ds.dtype)
            if part == "max":                                            # to the arg-max steps
                at = np.take_along_axis(d_out, cache.argmax[None], axis=0)   # (1, B, D*H) so far
                np.put_along_axis(d_out, cache.argmax[None], at + ds_part[None], axis=0)
            else:                                                        # mean: 1/len_b at every real step
                real = real_steps(T, cache.lengths, B).astype(ds.dtype)  # (T, B)
                d_out += real[..., None] * (ds_part / cache.lengths[:, None].astype(ds.dtype))[None]
        dx, _, rnn_grads = self.rnn.backward(cache.rnn, d_out, d_final)
        return masked(dx, cache.emb_mask), rnn_grads, fc_grads

    def loss_and_grads(self, batch: ClassifierBatch, training: bool = True, adversarial: float = 0.0,
                       virtual_adversarial: float = 0.0, vat_xi: float = VAT_XI) -> StepResult:
        """Mean cross-entropy of ``batch.labels`` over the B examples, and its gradients.

        ``adversarial`` eps > 0 adds L(e + r_adv), ``virtual_adversarial`` eps > 0 adds
        KL(p || p(e + r_vadv)) to the loss (``bptt.adversarial``: r held constant, as in the
        paper; VAT's random start is drawn from ``dropout_rng``, saved in checkpoints).

        StepResult counts: examples = count = B (the loss is a mean per example), tokens = the
        real steps read, sum_b len_b.
        """
        logits, cache = self.forward(batch.ids, batch.lengths, training=training)
        loss, d_logits = softmax_cross_entropy(logits, np.asarray(batch.labels))
        B = logits.shape[0]
        if not (adversarial or virtual_adversarial):
            return StepResult(loss, self.backward(d_logits, cache), B, int(cache.lengths.sum()), B)
        parts = [self.backward_to_input(d_logits, cache)]                # [(dL/de, rnn, fc), ...]
        real = real_steps(len(batch.ids), cache.lengths, B)              # (T, B)
        if adversarial:
            r = self.adversarial_perturbation(parts[0][0], real, adversarial)
            loss_adv, d_adv, adv_cache = self._perturbed(batch, r, training)
            loss += loss_adv
            parts.append(self.backward_to_input(d_adv, adv_cache))
        if virtual_adversarial:
            p = softmax(logits.astype(np.float64)).astype(logits.dtype)  # (B, C) held constant
            r = self.virtual_adversarial_perturbation(batch, p, real, virtual_adversarial, vat_xi, training)
            logits_v, cache_v = self.forward(batch.ids, cache.lengths, training=training, perturbation=r)
            kl, d_kl = kl_and_grad(p, logits_v)
            loss += kl
            parts.append(self.backward_to_input(d_kl, cache_v))
        d_emb = sum(part[0] for part in parts)                          # (T, B, E): one lookup, r fixed
        _, emb_grads = self.embedding.backward(d_emb, cache.emb)
        rnn_grads = {k: sum(part[1][k] for part in parts) for k in parts[0][1]}
        fc_grads = {k: sum(part[2][k] for part in parts) for k in parts[0][2]}
        grads = named_grads(("embedding", emb_grads), ("rnn", rnn_grads), ("fc", fc_grads))
        return StepResult(loss, grads, B, int(cache.lengths.sum()), B)

    # ---- adversarial training (bptt.adversarial, docs/pretraining.md) -------------------------
    def adversarial_perturbation(self, d_emb: np.ndarray, real: np.ndarray, eps: float) -> np.ndarray:
        """r_adv (T, B, E) = eps * g_b / ||g_b||_2 with g = dL/de (``backward_to_input``'s first
        output), per example over its real steps (``real`` (T, B))."""
        return per_example_direction(d_emb, real, eps)

    def virtual_adversarial_perturbation(self, batch: ClassifierBatch, p: np.ndarray, real: np.ndarray,
                                         eps: float, xi: float = VAT_XI, training: bool = False) -> np.ndarray:
        """r_vadv (T, B, E): one power iteration from a random d (``dropout_rng``) of length xi
        per example: g = d KL(p || softmax(z(e + d))) / dd, r = eps * g_b / ||g_b||_2."""
        T, B = real.shape
        d = self.dropout_rng.standard_normal((T, B, self.config.embedding_dim))       # (T, B, E)
        d = per_example_direction(d.astype(self.dtype), real, xi)
        logits_d, cache_d = self.forward(batch.ids, batch.lengths, training=training, perturbation=d)
        _, d_logits = kl_and_grad(p, logits_d)
        g = self.backward_to_input(d_logits, cache_d)[0]                 # dKL/d(e + d) = dKL/dd
        return per_example_direction(g, real, eps)

    def _perturbed(self, batch: ClassifierBatch, r: np.ndarray, training: bool):
        """(loss, dL/dlogits, cache) of the batch read with the perturbation r."""
        logits, cache = self.forward(batch.ids, batch.lengths, training=training, perturbation=r)
        loss, d_logits = softmax_cross_entropy(logits, np.asarray(batch.labels))
        return loss, d_logits, cache

    def predict_proba(self, ids, lengths=None) -> np.ndarray:
        """Class probabilities (B, C)."""
        logits, _ = self.forward(ids, lengths, training=False)
        return softmax(logits)
