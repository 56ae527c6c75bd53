r"""Adaptive softmax (Grave, Joulin, Cissé, Grangier & Jégou 2017): an exact distribution over N
words at the cost of a short list, for vocabularies sorted by frequency.

The words are split by ``cutoffs`` c_1 < c_2 < ... < c_n < N (c_0 = 0, c_{n+1} = N): the
**head** holds the short list [0, c_1) of the most frequent words and one entry per **cluster**
i = 1 .. n of the rarer words [c_i, c_{i+1}). With h (H,) the top layer's output at one step:

    head logits    a = W_h h + b_h                            (c_1 + n,)   W_h (c_1 + n, H)
    cluster i      z_i = Q_i (P_i h)                          (c_{i+1} - c_i,)
                   P_i (d_i, H), d_i = floor(H / div^i) (a projection), Q_i (c_{i+1} - c_i, d_i)
    log p(w | h)   = log softmax(a)_w                                     w < c_1
                   = log softmax(a)_{c_1 + i - 1} + log softmax(z_i)_{w - c_i}   w in cluster i

The probabilities of all N words sum to 1 (each cluster's softmax is multiplied by the head's
probability of the cluster), so perplexity under this model is exact. Training a token reads the
head and, only for a target in cluster i, that cluster: most tokens are frequent words, so the
average cost is about (c_1 + n) H products plus the rare clusters' small ones, not N H. Layout
and initialisation are PyTorch's ``nn.AdaptiveLogSoftmaxWithLoss`` (``head``: ``nn.Linear``
with a bias; ``tail.{i-1}``: two bias-free ``nn.Linear``s, ``tail.{i-1}.0.weight`` = P_i and
``tail.{i-1}.1.weight`` = Q_i), so its weights copy across by name.

Backward of the loss L = sum_n g_n (-log p(y_n | h_n)), g_n = m_n / sum m (the mean over the
counted rows), with hd_n the head entry of y_n (y_n itself, or c_1 + i - 1) and
softmax(.) written S(.):

    da_n  = g_n (S(a_n) - onehot(hd_n))                         every row
    dz_n  = g_n (S(z_{i,n}) - onehot(y_n - c_i))               rows whose target is in cluster i
    dW_h  = sum_n da_n h_n^T      db_h = sum_n da_n            dQ_i = sum_n dz_n (P_i h_n)^T
    dP_i  = sum_n (Q_i^T dz_n) h_n^T
    dh_n  = W_h^T da_n + [y_n in cluster i] P_i^T Q_i^T dz_n

``AdaptiveSoftmax.forward`` gives every word's log-probability (evaluation, generation) and
``backward`` its vector-Jacobian product for any dL/dlog p; ``loss`` is the training path
above, which reads only the clusters of the targets (checked against the full path).
Legend: R rows (T*B steps), H inputs, N words, n clusters.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from .rng import default_generator


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def check_cutoffs(cutoffs: Sequence[int], vocab_size: int) -> tuple[int, ...]:
    """The cutoffs as a tuple, or a ValueError naming what is wrong."""
    c = tuple(int(x) for x in cutoffs)
    if not c or any(b <= a for a, b in zip(c, c[1:])) or c[0] < 1 or c[-1] >= vocab_size:
        raise ValueError(f"adaptive softmax cutoffs must be increasing, at least 1 and below the vocabulary "
                         f"size {vocab_size:,}, got {list(c)}")
    return c


class AdaptiveCache(NamedTuple):
    h: np.ndarray                   # (R, H) the input rows
    head_lp: np.ndarray             # (R, c_1 + n) log softmax of the head
    proj: list                      # per cluster: (R, d_i) P_i h
    tail_lp: list                   # per cluster: (R, size_i) log softmax of the cluster


class AdaptiveSoftmax:
    """The adaptive softmax layer (see the module docstring); params ``head.weight``,
    ``head.bias``, ``tail.{k}.0.weight`` (P), ``tail.{k}.1.weight`` (Q) for cluster k = 0 .. n-1."""

    def __init__(self, in_features: int, vocab_size: int, cutoffs: Sequence[int], div_value: float = 4.0,
                 dtype=np.float32, rng: np.random.Generator | None = None):
        rng = default_generator() if rng is None else rng
        self.cutoffs = check_cutoffs(cutoffs, vocab_size)
        if div_value < 1:
            raise ValueError(f"div_value must be >= 1, got {div_value}")
        self.in_features, self.vocab_size, self.div_value = in_features, vocab_size, div_value
        self.edges = self.cutoffs + (vocab_size,)                    # cluster k: [edges[k], edges[k+1])
        self.shortlist, self.n_clusters = self.cutoffs[0], len(self.cutoffs)

        def linear(out_f, in_f):                                     # nn.Linear's uniform(-1/sqrt(in), ..)
            bound = 1.0 / np.sqrt(in_f)
            return rng.uniform(-bound, bound, (out_f, in_f)).astype(dtype)

        head = self.shortlist + self.n_clusters
        self.params = {"head.weight": linear(head, in_features),
                       "head.bias": rng.uniform(-1 / np.sqrt(in_features), 1 / np.sqrt(in_features),
                                                head).astype(dtype)}
        for k in range(self.n_clusters):
            d = int(in_features // (div_value ** (k + 1)))
            if d < 1:
                raise ValueError(f"adaptive softmax: cluster {k + 1}'s projection has {in_features} // "
                                 f"{div_value:g}^{k + 1} = 0 dimensions; use fewer cutoffs or a smaller div_value")
            self.params[f"tail.{k}.0.weight"] = linear(d, in_features)                   # P (d, H)
            self.params[f"tail.{k}.1.weight"] = linear(self.edges[k + 1] - self.edges[k], d)  # Q (size, d)

    def _PQ(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.params[f"tail.{k}.0.weight"], self.params[f"tail.{k}.1.weight"]

    # ---- every word: evaluation and generation ----------------------------------------------
    def forward(self, h: np.ndarray) -> tuple[np.ndarray, AdaptiveCache]:
        """h (..., H) -> log p of every word (..., N) (each row sums to 1 in probability)."""
        shape = h.shape[:-1]
        x = h.reshape(-1, self.in_features)                          # (R, H)
        head_lp = _log_softmax(x @ self.params["head.weight"].T + self.params["head.bias"])  # (R, c1+n)
        out = np.empty((x.shape[0], self.vocab_size), dtype=x.dtype)  # (R, N)
        out[:, :self.shortlist] = head_lp[:, :self.shortlist]
        proj, tail_lp = [], []
        for k in range(self.n_clusters):
            P, Q = self._PQ(k)
            proj.append(x @ P.T)                                     # (R, d_k)
            tail_lp.append(_log_softmax(proj[k] @ Q.T))              # (R, size_k)
            out[:, self.edges[k]:self.edges[k + 1]] = head_lp[:, self.shortlist + k, None] + tail_lp[k]
        return out.reshape(shape + (self.vocab_size,)), AdaptiveCache(x, head_lp, proj, tail_lp)

    def backward(self, d_logp: np.ndarray, cache: AdaptiveCache) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """dL/dlog p (..., N) -> (dL/dh (..., H), parameter gradients): the vector-Jacobian product
        of ``forward`` (log softmax: dz = dlp - S(z) sum(dlp))."""
        G = d_logp.reshape(-1, self.vocab_size)                      # (R, N)
        x = cache.h
        d_head = np.empty_like(cache.head_lp)                        # dL/d head log-probs
        d_head[:, :self.shortlist] = G[:, :self.shortlist]
        grads, dx = {}, np.zeros_like(x)
        for k in range(self.n_clusters):
            P, Q = self._PQ(k)
            g_k = G[:, self.edges[k]:self.edges[k + 1]]              # (R, size_k)
            d_head[:, self.shortlist + k] = g_k.sum(axis=1)
            dz = g_k - np.exp(cache.tail_lp[k]) * g_k.sum(axis=1, keepdims=True)
            d_proj = dz @ Q                                          # (R, d_k)
            grads[f"tail.{k}.1.weight"] = dz.T @ cache.proj[k]       # (size_k, d_k)
            grads[f"tail.{k}.0.weight"] = d_proj.T @ x               # (d_k, H)
            dx += d_proj @ P
        da = d_head - np.exp(cache.head_lp) * d_head.sum(axis=1, keepdims=True)   # (R, c1+n)
        grads["head.weight"] = da.T @ x
        grads["head.bias"] = da.sum(axis=0)
        dx += da @ self.params["head.weight"]
        return dx.reshape(d_logp.shape[:-1] + (self.in_features,)), grads

    # ---- training: the head, and each target's own cluster ------------------------------------
    def loss(self, h: np.ndarray, targets: np.ndarray, mask: np.ndarray | None = None
             ) -> tuple[float, np.ndarray, dict[str, np.ndarray]]:
        """Mean -log p(y_n | h_n) over the counted rows, with dL/dh and the parameter gradients
        (the module docstring's backward). h (R, H), targets (R,) ids, mask (R,) bool (None: all)."""
        R = h.shape[0]
        y = np.asarray(targets, dtype=np.int64).reshape(-1)
        m = np.ones(R, dtype=bool) if mask is None else np.asarray(mask, dtype=bool).reshape(-1)
        count = int(m.sum())
        if count == 0:
            raise ValueError("adaptive softmax: no row is counted (the mask is all False)")
        if y.min() < 0 or y.max() >= self.vocab_size:
            raise ValueError(f"adaptive softmax: target ids must be in [0, {self.vocab_size}), "
                             f"got {y.min()}..{y.max()}")
        g = (m / count).astype(h.dtype)                              # (R,) g_n
        cluster = np.searchsorted(self.edges, y, side="right") - 1   # (R,) -1: the short list
        head_target = np.where(cluster < 0, y, self.shortlist + cluster)
        a = h @ self.params["head.weight"].T + self.params["head.bias"]   # (R, c1+n)
        head_lp = _log_softmax(a)
        rows = np.arange(R)
        total = -np.sum(head_lp[rows, head_target].astype(np.float64) * m)
        da = np.exp(head_lp) * g[:, None]
        da[rows, head_target] -= g
        grads = {"head.weight": da.T @ h, "head.bias": da.sum(axis=0)}
        dh = da @ self.params["head.weight"]                         # (R, H)
        for k in range(self.n_clusters):
            P, Q = self._PQ(k)
            sel = np.flatnonzero((cluster == k) & m)                 # the counted rows of cluster k
            proj = h[sel] @ P.T                                      # (R_k, d_k)
            lp = _log_softmax(proj @ Q.T)                            # (R_k, size_k)
            local = y[sel] - self.edges[k]
            total -= np.sum(lp[np.arange(len(sel)), local].astype(np.float64))
            dz = np.exp(lp) * g[sel, None]
            dz[np.arange(len(sel)), local] -= g[sel]
            d_proj = dz @ Q                                          # (R_k, d_k)
            grads[f"tail.{k}.1.weight"] = dz.T @ proj
            grads[f"tail.{k}.0.weight"] = d_proj.T @ h[sel]
            dh[sel] += d_proj @ P
        return float(total / count), dh, grads
