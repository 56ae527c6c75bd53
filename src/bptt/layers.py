r"""The layers around a recurrent core: token embedding in, dense projection out.

Embedding. Row lookup: for token ids ``ids`` (...) and a table ``weight`` (V, E),

    out[...] = weight[ids[...]]                                   # (..., E)

A one-hot input ``x_t`` (V,) times an input matrix ``U`` (V, E) is the same thing,
``x_t U = U[id_t]``: the product picks out the row of the one hot position, so an RNN whose input
is one-hot words can use an ``Embedding`` holding ``U`` and skip the (V,)-wide multiply. (For a
PyTorch-shaped ``U`` (E, V), ``U x_t`` is the column ``U[:, id_t]``, i.e. row ``id_t`` of
``U^T``.) ``one_hot`` builds the explicit vectors when they are wanted anyway.

Its gradient is a sum over the positions where each token occurs,

    dweight[v] = sum_{n : ids_n = v} dout_n                       # (V, E), zero for unseen v

returned as ``SparseRows`` holding only the rows of the ids in the batch.

Dense. ``y = x V^T + c`` with ``V`` = ``weight`` (out, in), ``c`` = ``bias`` (out,), for any
leading dims of ``x`` (..., in). With all leading dims flattened to N rows (X (N, in), dY (N, out)):

    dX = dY V        dV = dY^T X        dc = sum_n dY_n

Init follows PyTorch: ``nn.Embedding`` draws N(0, 1) (the padding row zero), ``nn.Linear``
draws weight and bias from U(-1/sqrt(in), 1/sqrt(in)).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .rng import default_generator
from .sparse import SparseRows


def one_hot(ids: np.ndarray, num_classes: int, dtype=np.float32) -> np.ndarray:
    """ids (...) int in [0, num_classes) -> (..., num_classes) with a 1 at each id."""
    ids = np.asarray(ids)
    _check_ids(ids, num_classes, "one_hot")
    return (ids[..., None] == np.arange(num_classes)).astype(dtype)


def _check_ids(ids: np.ndarray, size: int, who: str) -> None:
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"{who}: ids must be integers, got dtype {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= size):
        where = np.unravel_index(np.flatnonzero((ids < 0) | (ids >= size))[0], ids.shape)
        raise ValueError(f"{who}: ids{list(map(int, where))} = {int(ids[where])} is outside "
                         f"the valid range [0, {size - 1}]")


def sum_rows_by_id(ids: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum the rows that share an id: ids (N,), rows (N, E) -> unique sorted ids (K,), sums (K, E).

    Sort once, then add neighbours pairwise within each run of equal ids: at level ``s`` (1, 2,
    4, ...) the row at rank ``r`` in its run (r a multiple of 2s) takes in the row at rank
    ``r + s``. Each level is one vectorised add over the runs still longer than ``s``, so there
    are ceil(log2(longest run)) levels, and singletons (most ids of a big vocabulary) are never
    touched. Pairwise sums are also more accurate than a running sum.

    Measured (timeit, best of 15 x 20 calls; ids (100, 64), V = 20000, E = 128, float32, 2 CPUs):
        uniform ids:   np.add.at into zeros (V, E)  10.6 ms | argsort + np.add.reduceat  7.7 ms |
                       this  1.1 ms
        Zipf(1.2) ids: np.add.at  10.3 ms | argsort + np.add.reduceat  3.2 ms | this  1.7-2.0 ms
    (np.add.reduceat pays ~1 us per run, and most runs have length 1.)
    """
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]                                   # (N,)
    n = sorted_ids.size
    is_start = np.ones(n, dtype=bool)
    is_start[1:] = sorted_ids[1:] != sorted_ids[:-1]
    starts = np.flatnonzero(is_start)                         # (K,) first position of each run
    counts = np.diff(np.r_[starts, n])                        # (K,) run lengths
    acc = rows[order]                                         # (N, E) a copy, summed in place
    run_len = np.repeat(counts, counts)                       # (N,) length of each row's run
    rank = np.arange(n) - np.repeat(starts, counts)           # (N,) position within its run
    live = np.flatnonzero(run_len > 1)                        # rows of runs still to be summed
    rank, run_len = rank[live], run_len[live]
    step = 1
    while live.size:
        head = rank % (2 * step) == 0                         # rows that keep a partial sum
        take = head & (rank + step < run_len)                 # ... and have a partner at +step
        acc[live[take]] += acc[live[take] + step]
        step *= 2
        still = head & (run_len > step)
        live, rank, run_len = live[still], rank[still], run_len[still]
    return sorted_ids[starts], acc[starts]


class EmbeddingCache(NamedTuple):
    ids: np.ndarray  # (...) the token ids that were looked up


class Embedding:
    """Token id -> vector lookup, ``out = weight[ids]``.

    params: ``weight`` (V, E), V = num_embeddings, E = embedding_dim.
    ``padding_idx``: that row starts at zero (in ``__init__``) and never gets a gradient, so it
    stays whatever it is. ``frozen``: ``backward`` returns no gradient for ``weight`` at all.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 dtype=np.float32, rng: np.random.Generator | None = None):
        rng = default_generator() if rng is None else rng       # bptt.manual_seed seeds it
        weight = rng.standard_normal((num_embeddings, embedding_dim)).astype(dtype)  # (V, E)
        self._setup(weight, padding_idx, frozen=False)
        if self.padding_idx is not None:
            weight[self.padding_idx] = 0

    @classmethod
    def from_pretrained(cls, matrix: np.ndarray, freeze: bool = False,
                        padding_idx: int | None = None) -> Embedding:
        """An embedding holding a copy of ``matrix`` (V, E), its float dtype kept.

        As in PyTorch, the ``padding_idx`` row is kept as given (not zeroed) and gets no gradient.
        """
        matrix = np.asarray(matrix)
        if matrix.ndim != 2:
            raise ValueError(f"from_pretrained: matrix must be 2-D (V, E), got shape {matrix.shape}")
        if not np.issubdtype(matrix.dtype, np.floating):
            raise TypeError(f"from_pretrained: matrix must be floating point, got {matrix.dtype}")
        self = cls.__new__(cls)
        self._setup(np.array(matrix, copy=True), padding_idx, frozen=freeze)
        return self

    def _setup(self, weight: np.ndarray, padding_idx: int | None, frozen: bool) -> None:
        V = weight.shape[0]
        if padding_idx is not None:
            if not -V <= padding_idx < V:
                raise ValueError(f"padding_idx must be in [-{V}, {V - 1}], got {padding_idx}")
            padding_idx = padding_idx % V  # PyTorch also accepts -1 for the last row
        self.params = {"weight": weight}
        self.padding_idx = padding_idx
        self.frozen = frozen

    @property
    def num_embeddings(self) -> int:
        return self.params["weight"].shape[0]

    @property
    def embedding_dim(self) -> int:
        return self.params["weight"].shape[1]

    def forward(self, ids: np.ndarray) -> tuple[np.ndarray, EmbeddingCache]:
        """ids (...) int -> vectors (..., E)."""
        ids = np.asarray(ids)
        _check_ids(ids, self.num_embeddings, "Embedding.forward")
        return self.params["weight"][ids], EmbeddingCache(ids)

    def backward(self, dout: np.ndarray, cache: EmbeddingCache
                 ) -> tuple[None, dict[str, SparseRows]]:
        """dout (..., E) -> (None, {"weight": SparseRows (V, E)}); ids have no gradient.

        Frozen: (None, {}).
        """
        weight = self.params["weight"]
        if dout.shape != cache.ids.shape + (self.embedding_dim,):
            raise ValueError(f"Embedding.backward: dout must have shape "
                             f"{cache.ids.shape + (self.embedding_dim,)}, got {dout.shape}")
        if self.frozen:
            return None, {}
        ids = cache.ids.reshape(-1)                                  # (N,)
        rows = dout.reshape(-1, self.embedding_dim).astype(weight.dtype, copy=False)  # (N, E)
        if self.padding_idx is not None:
            keep = ids != self.padding_idx
            ids, rows = ids[keep], rows[keep]
        indices, values = sum_rows_by_id(ids, rows)                  # (K,), (K, E)
        return None, {"weight": SparseRows(indices.astype(np.int64), values, weight.shape)}


class DenseCache(NamedTuple):
    x: np.ndarray  # (..., in) the input


class Dense:
    """Affine map ``y = x V^T + c`` over the last axis (PyTorch's ``nn.Linear``).

    params: ``weight`` V (out, in), ``bias`` c (out,) (absent with ``bias=False``).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 dtype=np.float32, rng: np.random.Generator | None = None):
        rng = default_generator() if rng is None else rng       # bptt.manual_seed seeds it
        bound = 1.0 / np.sqrt(in_features) if in_features else 0.0
        self.params = {"weight": rng.uniform(-bound, bound, (out_features, in_features)).astype(dtype)}
        if bias:
            self.params["bias"] = rng.uniform(-bound, bound, out_features).astype(dtype)
        self.in_features, self.out_features = in_features, out_features

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, DenseCache]:
        """x (..., in) -> y (..., out): one (N, in) x (in, out) product over all leading dims."""
        if x.shape[-1:] != (self.in_features,):
            raise ValueError(f"Dense.forward: x.shape[-1] must be in_features. "
                             f"Expected {self.in_features}, got x of shape {x.shape}")
        V = self.params["weight"]                                    # (out, in)
        y = x.reshape(-1, self.in_features) @ V.T                    # (N, out)
        if "bias" in self.params:
            y += self.params["bias"]
        return y.reshape(x.shape[:-1] + (self.out_features,)), DenseCache(x)

    def backward(self, dout: np.ndarray, cache: DenseCache
                 ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """dout (..., out) -> dx (..., in), {"weight": (out, in), "bias": (out,)}."""
        x = cache.x
        if dout.shape != x.shape[:-1] + (self.out_features,):
            raise ValueError(f"Dense.backward: dout must have shape "
                             f"{x.shape[:-1] + (self.out_features,)}, got {dout.shape}")
        dY = dout.reshape(-1, self.out_features)                     # (N, out)
        X = x.reshape(-1, self.in_features)                          # (N, in)
        dx = (dY @ self.params["weight"]).reshape(x.shape)           # (..., in)
        grads = {"weight": dY.T @ X}                                 # (out, in)
        if "bias" in self.params:
            grads["bias"] = dY.sum(axis=0)                           # (out,)
        return dx, grads
