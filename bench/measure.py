"""What the benchmark measures: interleaved timings, the GEMM peak, model FLOPs, and the bytes
each side keeps for the backward pass.

Timing. A *repeat* runs an operation ``inner`` times back to back (``inner`` chosen at warm-up so
a repeat lasts about ``target_s``) and records seconds per operation, wall clock and process CPU
time. The repeats of all sides (torch and each bptt path) take turns, A B C A B C ..., so that a
slow patch of a noisy machine lands on every side; the result is the median over repeats of
each side.
"""
from __future__ import annotations

import dataclasses
import math
import os
import statistics
import time
import tracemalloc
from typing import Callable

import numpy as np
import torch

GATES = {"rnn_tanh": 1, "lstm": 4, "gru": 3, "mingru": 2, "minlstm": 3}
RECURRENT = {"mingru": False, "minlstm": False}      # no W h_{t-1}: no recurrent product


# ---- time ----------------------------------------------------------------------------------


def _calibrate(fn: Callable[[], object], before: Callable[[], None], warmup: int,
               target_s: float) -> int:
    """Run ``fn`` ``warmup`` times (after ``before``) and return how many calls fill ``target_s``."""
    before()
    t = math.inf
    for _ in range(max(warmup, 1)):
        t0 = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - t0)
    return max(1, min(1000, round(target_s / max(t, 1e-9))))


def _repeat(fn: Callable[[], object], before: Callable[[], None], inner: int) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) per call of ``inner`` back-to-back calls."""
    before()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - t0) / inner, (time.process_time() - c0) / inner


def interleaved(sides: dict[str, Callable[[], object]], before: Callable[[], None], repeats: int,
                warmup: int = 2, target_s: float = 0.1) -> dict:
    """Median seconds per call of every side, their repeats in rotation (a, b, c, a, b, c, ...).

    ``before`` runs (untimed) ahead of every repeat of any side. Returns ``{name: {"median_s",
    "times_s", "cpu_median_s", "cpu_times_s", "inner"}}``: wall-clock and process CPU time (the
    CPU time does not count moments another process held the CPU; on a busy machine compare
    both).
    """
    inner = {name: _calibrate(fn, before, warmup, target_s) for name, fn in sides.items()}
    wall: dict[str, list[float]] = {name: [] for name in sides}
    cpu: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(repeats):
        for name, fn in sides.items():
            w, c = _repeat(fn, before, inner[name])
            wall[name].append(w)
            cpu[name].append(c)
    return {name: {"median_s": statistics.median(wall[name]), "times_s": wall[name],
                   "cpu_median_s": statistics.median(cpu[name]), "cpu_times_s": cpu[name],
                   "inner": inner[name]} for name in sides}


def gemm_peak(n: int = 2048, reps: int = 5) -> dict:
    """FLOP/s of one large float32 (n, n) @ (n, n) product, median of ``reps``, with NumPy's BLAS
    and with torch's (both at the thread count currently in force)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, n), dtype=np.float32)
    y = rng.standard_normal((n, n), dtype=np.float32)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    out = {}
    for name, mm in (("numpy", lambda: np.matmul(x, y)), ("torch", lambda: torch.matmul(tx, ty))):
        mm()
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            mm()
            times.append(time.perf_counter() - t0)
        out[name] = 2.0 * n**3 / statistics.median(times)
    return out


# ---- work ----------------------------------------------------------------------------------


def forward_flops(mode: str, tokens: int, B: int, E: int, H: int, C: int = 2) -> int:
    """Matmul FLOPs of one forward pass over ``tokens`` real (b, t) positions:

        input projection 2*N*E*G*H  +  recurrent 2*N*H*G*H  +  dense 2*B*H*C

    with N = tokens and G = 1 (RNN), 4 (LSTM), 3 (GRU), 2 (minGRU), 3 (minLSTM; these two have no
    recurrent product). Elementwise gate work, the embedding
    lookup and padded positions are not counted (this is the useful work, as in "model FLOPs").
    A training step counts 3x this (forward, then dX and dW in the backward).
    """
    G = GATES[mode]
    recurrent = 2 * tokens * H * G * H if RECURRENT.get(mode, True) else 0
    return 2 * tokens * E * G * H + recurrent + 2 * B * H * C


# ---- memory --------------------------------------------------------------------------------


def _base(a: np.ndarray) -> np.ndarray:
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def cache_bytes(cache: object, exclude: list[np.ndarray]) -> int:
    """Bytes of all distinct NumPy buffers reachable from ``cache``.

    Walks tuples (NamedTuples), lists, dicts and dataclasses; each array counts its base buffer
    once however many views of it are held; buffers of ``exclude`` (the parameters) never count.
    """
    skip = {id(_base(p)) for p in exclude}
    seen: dict[int, int] = {}
    visited: set[int] = set()
    todo = [cache]
    while todo:
        obj = todo.pop()
        if id(obj) in visited:
            continue
        visited.add(id(obj))
        if isinstance(obj, np.ndarray):
            base = _base(obj)
            if id(base) not in skip:
                seen[id(base)] = base.nbytes
        elif isinstance(obj, (tuple, list)):
            todo.extend(obj)
        elif isinstance(obj, dict):
            todo.extend(obj.values())
        elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            todo.extend(getattr(obj, f.name) for f in dataclasses.fields(obj))
    return sum(seen.values())


def torch_saved_bytes(forward: Callable[[], torch.Tensor], params: list[torch.Tensor]) -> int:
    """Bytes autograd saves for backward while ``forward()`` runs, parameters excluded.

    Every tensor autograd saves passes through a ``saved_tensors_hooks`` pack hook; each distinct
    storage counts once, at its full size.
    """
    skip = {p.untyped_storage().data_ptr() for p in params}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        try:
            s = t.untyped_storage()
            key, size = s.data_ptr(), s.nbytes()
        except (RuntimeError, NotImplementedError):          # opaque (e.g. oneDNN) tensors
            key, size = id(t), t.numel() * t.element_size()
        if key not in skip:
            seen[key] = max(seen.get(key, 0), size)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = forward()
    del out
    return sum(seen.values())


def traced_peak(fn: Callable[[], object], before: Callable[[], None]) -> int:
    """Peak bytes that ``tracemalloc`` sees allocated above the starting level during ``fn()``
    (NumPy reports its array buffers to tracemalloc; BLAS work buffers are not included)."""
    before()
    was = tracemalloc.is_tracing()
    if not was:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start, _ = tracemalloc.get_traced_memory()
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not was:
            tracemalloc.stop()
    return peak - start


def dense_embedding_step_s(V: int, E: int, ids: np.ndarray, lr: float, reps: int = 15) -> float:
    """Seconds torch spends on the parts of a training step that a dense ``nn.Embedding`` adds:
    a zero (V, E) gradient, the scatter-add of the batch's rows into it, and SGD over all V rows
    (what bptt's row-sparse gradient and row-only update skip). Median of ``reps``."""
    w = torch.zeros(V, E)
    idx = torch.from_numpy(ids.reshape(-1))
    rows = torch.ones(idx.numel(), E)
    times = []
    for _ in range(reps + 1):
        t0 = time.perf_counter()
        g = torch.zeros(V, E)
        g.index_add_(0, idx, rows)
        w.add_(g, alpha=-lr)
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:])


# ---- noise ---------------------------------------------------------------------------------


def _busy_cpu_s() -> float:
    """CPU seconds all processes on the machine have used (user+nice+system+irq+softirq+steal)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class OtherLoad:
    """Context manager: how many CPUs *other* processes (and the hypervisor's steal) kept busy
    on average while the block ran, ``.cpus`` (0 on a quiet machine; NaN without /proc/stat).

    The benchmark records it with every row: two threads on two CPUs with a third party busy
    on one of them is no longer a two-thread measurement.
    """

    cpus: float = float("nan")

    def __enter__(self) -> "OtherLoad":
        try:
            self._busy = _busy_cpu_s()
        except (OSError, ValueError):
            self._busy = None
        t = os.times()
        self._own, self._wall = t.user + t.system, time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        if self._busy is None:
            return
        t = os.times()
        wall = time.perf_counter() - self._wall
        other = (_busy_cpu_s() - self._busy) - (t.user + t.system - self._own)
        self.cpus = max(0.0, other / wall) if wall > 0 else float("nan")
