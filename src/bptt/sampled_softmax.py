r"""Sampled softmax: training a word language model at the cost of K + 1 output columns, not N.

The full softmax over a vocabulary of N words costs N products per predicted token,

    p(y | h) = exp(z_y) / sum_w exp(z_w),        z_w = v_w . h + c_w        (v_w row w of V (N, H))

which for N = 30,000 and H = 256 is most of a word LM's time. The sampled softmax (Jean, Cho,
Memisevic & Bengio 2015; TensorFlow's ``sampled_softmax_loss``) draws, once per batch, K candidate
words s_1 .. s_K shared by every row, i.i.d. from a proposal q (unigram counts ** 0.75,
normalised: ``UnigramSampler``), and computes the cross-entropy over K + 1 corrected logits:

    z'_{n,0} = v_{y_n} . h_n + c_{y_n} - log Q(y_n)          the target of row n
    z'_{n,k} = v_{s_k} . h_n + c_{s_k} - log Q(s_k)          k = 1 .. K, the shared negatives
    z'_{n,k} = -inf                    where s_k = y_n       an "accidental hit" is no negative
    L_n      = -z'_{n,0} + log sum_{j=0..K} exp(z'_{n,j})
    L        = sum_n m_n L_n / sum_n m_n                     mean over the counted rows (mask m)

Q(w) = K q(w) is the expected number of times w is drawn. Subtracting log Q (the "logQ
correction") makes the sampled loss's gradient a consistent estimate of the full softmax's as K
grows: a frequent word, drawn often, is discounted by exactly how often it is drawn. Q is a
constant: it has no gradient. Evaluation always uses the full softmax (``bptt.losses``), so
perplexities are exact.

Backward, with P_{n,j} = softmax_j(z'_n) and g_n = m_n / sum m::

    dz'_{n,0} = g_n (P_{n,0} - 1)          dz'_{n,k} = g_n P_{n,k}     (0 at a hit: P = 0 there)
    dh_n      = dz'_{n,0} v_{y_n} + sum_k dz'_{n,k} v_{s_k}
    dv_w      = sum_{n: y_n = w} dz'_{n,0} h_n + sum_{k: s_k = w} sum_n dz'_{n,k} h_n
    dc_w      = sum_{n: y_n = w} dz'_{n,0}     + sum_{k: s_k = w} sum_n dz'_{n,k}

dV touches only the rows of the targets and candidates, so it is returned row-sparse
(``SparseRows``); dc is dense (N,), cheap. Legend: N_rows rows (T*B steps), H hidden units,
K candidates, N vocabulary size.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .layers import sum_rows_by_id
from .sparse import SparseRows


class UnigramSampler:
    """Draws candidate words i.i.d. from q(w) = count(w) ** power / sum_u count(u) ** power.

    ``counts`` (N,): how often each word occurs in the training text (a word counted 0, such as
    ``<pad>``, is never drawn). ``power`` 0.75 is word2vec's flattening; 1 is the unigram
    distribution, 0 uniform over the words that occur.
    """

    def __init__(self, counts: np.ndarray, power: float = 0.75):
        counts = np.asarray(counts, dtype=np.float64)
        if counts.ndim != 1 or not (counts >= 0).all() or counts.sum() <= 0:
            raise ValueError("counts must be a 1-D array of non-negative counts with a positive sum")
        weights = np.where(counts > 0, counts ** power, 0.0)                # 0 ** 0 is no draw
        self.q = weights / weights.sum()                         # (N,) float64
        self.cdf = np.cumsum(self.q)                             # (N,)
        self.power = power

    def sample(self, k: int, rng: np.random.Generator) -> np.ndarray:
        """K candidate ids (K,) int64, drawn with replacement from q."""
        u = rng.random(k) * self.cdf[-1]
        ids = np.searchsorted(self.cdf, u, side="right")
        return np.minimum(ids, len(self.q) - 1).astype(np.int64)

    def log_expected_count(self, ids: np.ndarray, k: int) -> np.ndarray:
        """log Q(w) = log(K q(w)) for the given ids, float64 (the logQ correction)."""
        return np.log(k * self.q[np.asarray(ids)])


class SampledGrads(NamedTuple):
    weight: SparseRows              # dV, rows of the targets and candidates only, (N, H) in full
    bias: np.ndarray | None         # dc (N,), None without a bias


def sampled_softmax(h: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, targets: np.ndarray,
                    candidates: np.ndarray, log_q_targets: np.ndarray, log_q_candidates: np.ndarray,
                    mask: np.ndarray | None = None) -> tuple[float, np.ndarray, SampledGrads]:
    """The sampled softmax cross-entropy of the module docstring, and its gradients.

    h (R, H) the top layer's outputs, one row per predicted token; weight V (N, H) and bias c (N,)
    of the output layer; targets (R,) ids; candidates (K,) ids shared by every row;
    log_q_targets (R,) and log_q_candidates (K,) the corrections log Q; mask (R,) bool, the rows
    counted (None: all).
    Returns (loss, dL/dh (R, H), SampledGrads(dV row-sparse, dc (N,))).
    """
    dtype = h.dtype
    R = h.shape[0]
    targets = np.asarray(targets, dtype=np.int64)
    candidates = np.asarray(candidates, dtype=np.int64)
    m = np.ones(R, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    count = int(m.sum())
    if count == 0:
        raise ValueError("sampled_softmax: no row is counted (the mask is all False)")
    v_t = weight[targets]                                        # (R, H)
    v_s = weight[candidates]                                     # (K, H)
    z = np.empty((R, 1 + len(candidates)), dtype=dtype)          # (R, 1+K) corrected logits
    z[:, 0] = np.einsum("rh,rh->r", h, v_t) - log_q_targets
    np.matmul(h, v_s.T, out=z[:, 1:])
    z[:, 1:] -= log_q_candidates.astype(dtype)[None, :]
    if bias is not None:
        z[:, 0] += bias[targets]
        z[:, 1:] += bias[candidates][None, :]
    hit = candidates[None, :] == targets[:, None]                # (R, K) accidental hits
    z[:, 1:][hit] = -np.inf
    z -= z.max(axis=1, keepdims=True)                            # the target column is finite
    p = np.exp(z)                                                # (R, 1+K)
    total = p.sum(axis=1)                                        # (R,)
    losses = np.log(total) - z[:, 0]                             # (R,) L_n
    loss = float(losses[m].astype(np.float64).sum() / count)
    p /= total[:, None]                                          # P_{n,j}
    g = (m / count).astype(dtype)                                # (R,) g_n
    dz = p * g[:, None]                                          # (R, 1+K)
    dz[:, 0] -= g
    d0, dk = dz[:, 0], dz[:, 1:]                                 # (R,), (R, K)
    dh = d0[:, None] * v_t + dk @ v_s                            # (R, H)
    rows = np.concatenate([targets[m], candidates])              # ids of the rows of dV
    values = np.concatenate([d0[m, None] * h[m], dk.T @ h])      # (R'+K, H)
    ids, sums = sum_rows_by_id(rows, values)
    d_weight = SparseRows(ids, sums, weight.shape)
    d_bias = None
    if bias is not None:
        bias_terms = np.concatenate([d0[m], dk.sum(axis=0)]).astype(np.float64)
        d_bias = np.bincount(rows, weights=bias_terms, minlength=len(bias)).astype(bias.dtype)
    return loss, dh, SampledGrads(d_weight, d_bias)
