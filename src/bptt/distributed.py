r"""Data-parallel training across processes and machines, on PyTorch's ``torch.distributed`` (Gloo).

Launch any ``bptt train`` job with ``torchrun`` and nothing else changes on its command line::

    torchrun --nproc-per-node 2 -m bptt train sentiment --train train.tsv --dev dev.tsv ...
    torchrun --nnodes 2 --nproc-per-node 16 --rdzv-backend c10d --rdzv-endpoint HOST:29400 \
             -m bptt train lm --text corpus.txt ...                  (the same on every machine)

``session`` (entered by ``bptt.cli.main`` for ``bptt train``) sees torchrun's environment
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``GROUP_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``, ``TORCHELASTIC_RUN_ID``, ``TORCHELASTIC_RESTART_COUNT``), joins the Gloo process
group and makes a ``Group`` the ``current()`` one; without that environment nothing happens and
the job runs in one process. ``--distributed`` insists: it refuses, in one line, a process that
torchrun did not start or a Python without ``torch.distributed`` (``pip install 'bptt[dist]'``).

One step, on each of the N ranks (``Group.step``, called by ``bptt.train.Trainer``):

1. Every rank builds the same global batch of B examples (same data, same seeded order).
2. Rank r keeps the examples r, r + N, r + 2N, ... (``Group.shard``: batches are longest
   first, so the shards stay sorted and get similar lengths) and computes its mean loss
   l_r over c_r terms (``StepResult.count``) and its gradient g_r = d l_r / d theta.
3. One flat buffer per step, summed over the ranks by one ``all_reduce``::

       [ c_r g_r (every parameter, flattened) | c_r l_r | c_r | tokens_r | examples_r | stop_r ]

   so every rank then holds  g = sum_r c_r g_r / C  and  l = sum_r c_r l_r / C,  C = sum_r c_r:
   exactly the gradient and loss of one process on the whole batch (the loss is a mean over C
   terms, so the ranks' gradients are weighted by their counts, not averaged), up to the order
   of the floating-point additions.
4. Clipping and the optimizer step run after the reduction on identical numbers, so every
   rank's parameters stay identical without ever being sent. stop_r (Ctrl-C or the time
   budget on rank r, asked after the previous step) makes every rank stop after this one.

The embedding's row-sparse gradient (``SparseRows``) is densified into the buffer
(``SPARSE = "dense"``, the default) or sent apart as (rows, values) pairs gathered from every
rank (``"gather"``: two more collectives, and the union of the rows summed);
bench/distributed.py measures both (bench/results/distributed.md).

Only rank 0 writes (checkpoints, ``best/``, metrics.jsonl, progress, printed lines); every
rank reads a checkpoint to resume, so ``--resume`` must name a file every machine can read. The
checkpoint holds nothing that depends on N (the language model's carried state is gathered
whole), so a run resumes with any number of processes. When torchrun restarts the workers after
a failure (``--max-restarts``), ``session`` resumes from ``--out``'s checkpoint (or starts
afresh if none was written yet).

Dropout: each rank draws the masks of its own examples from its own stream (the model's
generators jumped ``rank`` times by 2^127 draws, ``split_random``), so the masks differ from one
process's draws, as another seed's would: they are independent Bernoulli draws either way, the
same training distribution. Without dropout, N processes reproduce one process's parameters
(tests/test_distributed_runs.py, float64, to 1e-10).
"""
from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .models import StepResult
from .sparse import SparseRows

INSTALL = "pip install 'bptt[dist]'"
TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "MASTER_ADDR",
                 "MASTER_PORT", "TORCHELASTIC_RUN_ID")
LAUNCH = "torchrun --nproc-per-node N -m bptt train JOB ..."
SPARSE = os.environ.get("BPTT_SPARSE_REDUCE", "dense")    # "dense" | "gather" (see the docstring)
THREADS_ENV = "BPTT_THREADS"        # threads per rank, instead of the cores' share


class DistributedError(ValueError):
    """A distributed run that cannot start: not under torchrun, no torch.distributed, ..."""


@dataclass(frozen=True)
class Launch:
    """What torchrun tells a worker through its environment."""
    rank: int                   # 0 .. world_size - 1, over every machine
    world_size: int
    local_rank: int             # on this machine
    local_world_size: int       # processes on this machine
    restart_count: int          # times torchrun restarted the workers (TORCHELASTIC_RESTART_COUNT)


def launch_environment(environ=None) -> Launch | None:
    """The ``Launch`` of a process torchrun started, else None (some variable missing)."""
    env = os.environ if environ is None else environ
    if any(name not in env for name in TORCHRUN_VARS):
        return None
    try:
        return Launch(int(env["RANK"]), int(env["WORLD_SIZE"]), int(env["LOCAL_RANK"]),
                      int(env["LOCAL_WORLD_SIZE"]), int(env.get("TORCHELASTIC_RESTART_COUNT", 0)))
    except ValueError:
        raise DistributedError(f"torchrun's environment holds a non-integer rank or size: RANK="
                               f"{env['RANK']!r} WORLD_SIZE={env['WORLD_SIZE']!r}") from None


def check_launch(requested: bool, environ=None) -> Launch | None:
    """The launch to run under: torchrun's (found in the environment), or None for one process.
    ``requested`` (``--distributed``): refuse, in one line, a process torchrun did not start or
    a Python without torch.distributed."""
    env = os.environ if environ is None else environ
    launch = launch_environment(env)
    if requested and launch is None:
        missing = [name for name in TORCHRUN_VARS if name not in env]
        raise DistributedError(f"--distributed: this process was not started by torchrun (no "
                               f"{', '.join(missing)} in the environment); launch it as `{LAUNCH}`")
    if launch is not None:
        torch_distributed()
    return launch


def torch_distributed():
    """``torch.distributed`` with Gloo, or a DistributedError saying how to install it."""
    try:
        import torch.distributed as dist
    except ImportError:
        raise DistributedError(f"--distributed: distributed training needs PyTorch "
                               f"(torch.distributed), which is not installed: {INSTALL}") from None
    if not dist.is_available() or not dist.is_gloo_available():
        raise DistributedError(f"--distributed: this PyTorch has no torch.distributed with Gloo: {INSTALL}")
    return dist


# ---- the process group ------------------------------------------------------------------------
class Group:
    """This rank's view of the N processes: sharding, the gradient reduction, sums of counts.

    ``comm``: the collective operations, ``torch.distributed`` (``session`` passes it)."""

    def __init__(self, rank: int, size: int, comm=None, sparse: str = SPARSE):
        if sparse not in ("dense", "gather"):
            raise ValueError(f"sparse reduction must be 'dense' or 'gather', got {sparse!r}")
        self.rank, self.size, self.comm, self.sparse = rank, size, comm, sparse
        self._names: list[str] | None = None        # the parameters with gradients, in buffer order
        self._sparse: set[str] = set()               # those sent as (rows, values) ("gather")
        self.comm_seconds = 0.0                      # time spent in the step's collectives
        self.stop_votes = 0                          # ranks that asked to stop, at the last step

    @property
    def is_writer(self) -> bool:
        """Rank 0 alone writes checkpoints, best/, metrics and progress."""
        return self.rank == 0

    # ---- data -----------------------------------------------------------------------------
    def rows(self, n: int) -> np.ndarray:
        """This rank's share of n examples (or streams): r, r + N, r + 2N, ..."""
        return np.arange(self.rank, n, self.size)

    def part(self, items: Sequence) -> list:
        """This rank's share of ``items`` (``rows``)."""
        return [items[i] for i in self.rows(len(items))]

    def shard(self, batch):
        """This rank's examples of a global batch: a named tuple whose 1-D arrays are (B, ...)
        and whose arrays of 2 or more dimensions are time-major (T, B, ...), as every job's
        batches are. A batch without arrays (the stream language model's chunks) is the job's
        to shard and comes back as it is; None if this rank gets no example (B < N)."""
        B = _batch_size(batch)
        if B is None:
            return batch
        rows = self.rows(B)
        if len(rows) == 0:
            return None
        return type(batch)(*(v if not isinstance(v, np.ndarray) else v[rows] if v.ndim == 1
                             else v[:, rows] for v in batch))

    # ---- collectives ----------------------------------------------------------------------
    def _collective(self, name: str, *args, **kwargs) -> None:
        """``comm.<name>(*args)``, timed; a lost peer (it failed or was killed: torchrun
        restarts or stops the run) becomes one line rather than Gloo's traceback."""
        t0 = time.perf_counter()
        try:
            getattr(self.comm, name)(*args, **kwargs)
        except RuntimeError as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise DistributedError(f"rank {self.rank}: lost another process of the run during {name} "
                                   f"({first[:200]}); its own error, if any, is above") from None
        self.comm_seconds += time.perf_counter() - t0

    def _all_reduce(self, array: np.ndarray) -> np.ndarray:
        """Sum ``array`` (contiguous) over the ranks, in place."""
        import torch
        self._collective("all_reduce", torch.from_numpy(array))
        return array

    def total(self, values: Sequence[float]) -> np.ndarray:
        """The sums over the ranks of a few numbers (float64): counts, loss sums."""
        return self._all_reduce(np.array(values, dtype=np.float64))

    def assemble(self, local: np.ndarray, axis: int, n: int) -> np.ndarray:
        """The whole array from every rank's ``rows(n)`` along ``axis`` (zeros elsewhere, summed:
        exact)."""
        shape = list(local.shape)
        shape[axis] = n
        full = np.zeros(shape, dtype=local.dtype)
        index = [slice(None)] * local.ndim
        index[axis] = self.rows(n)
        full[tuple(index)] = local
        return self._all_reduce(full)

    def split_random(self, generators: dict) -> None:
        """Give rank r its own dropout streams: each generator jumped r times (2^127 draws each),
        so no two ranks draw the same masks."""
        for g in generators.values():
            if self.rank:
                g.bit_generator.state = g.bit_generator.jumped(self.rank).state

    # ---- the step -------------------------------------------------------------------------
    def step(self, step_fn: Callable, batch, params: dict, stop: bool = False) -> StepResult:
        """``step_fn`` on this rank's shard of ``batch``, then the gradients, loss and counts
        of every rank combined (see the module docstring): what one process gets on the batch.
        ``stop``: this rank wants to stop (Ctrl-C, time budget); ``stop_votes`` is then the
        number of ranks that want to, the same on every rank, so all stop after the same step."""
        part = self.shard(batch)
        local = None if part is None else step_fn(part)
        B = _batch_size(batch)
        if self._names is None or (B is not None and B < self.size):     # the same on every rank
            self._agree_on_names(local)
        return self.reduce(local, params, stop)

    def _agree_on_names(self, local: StepResult | None) -> None:
        """The parameters that have gradients (frozen ones have none), in buffer order, and which
        of them are row-sparse: rank 0's (rank 0 always has an example), sent to the others."""
        layout = None if local is None else [(n, isinstance(g, SparseRows))
                                             for n, g in local.grads.items() if g is not None]
        if self.size > 1:                           # every rank calls this at the same step
            box = [layout]
            self._collective("broadcast_object_list", box, src=0)
            layout = box[0]
        self._names = [n for n, _ in layout]
        self._sparse = {n for n, is_sparse in layout if is_sparse} if self.sparse == "gather" else set()

    def reduce(self, local: StepResult | None, params: dict, stop: bool = False) -> StepResult:
        """The global StepResult from this rank's (None: no example): one all_reduce of one
        flat buffer of c_r g_r and the counts; the embedding's sparse rows densified into it, or
        (``sparse="gather"``) gathered apart."""
        dense = [n for n in self._names if n not in self._sparse]
        dtype = next(iter(params.values())).dtype
        c = 0 if local is None else local.count
        sizes = [params[n].size for n in dense]
        n_grad = int(sum(sizes))
        buf = np.zeros(n_grad + 5, dtype=dtype)                # (P + 5,) the step's one buffer
        views, offset = {}, 0
        for name, size in zip(dense, sizes):
            views[name] = buf[offset:offset + size].reshape(params[name].shape)
            offset += size
            if local is not None:
                g = local.grads[name]
                if isinstance(g, SparseRows):                  # densified: zero outside its rows
                    views[name][g.indices] = g.values
                    views[name] *= c
                else:
                    np.multiply(g, c, out=views[name])
        if local is not None:
            buf[n_grad:n_grad + 4] = (local.loss * c, c, local.tokens, local.examples)
        buf[-1] = bool(stop)
        self._all_reduce(buf)
        loss_sum, count, tokens, examples, votes = (float(x) for x in buf[n_grad:])
        self.stop_votes = int(votes)
        buf[:n_grad] /= count
        grads = {name: views[name] if name in views else
                 self._gather_rows(None if local is None else local.grads[name], c, params[name], count)
                 for name in self._names}
        return StepResult(loss_sum / count, grads, int(examples), int(tokens), int(count),
                          None if local is None else local.state)

    def _gather_rows(self, g: SparseRows | None, c: float, param: np.ndarray, count: float) -> SparseRows:
        """sum_r c_r g_r / C of row-sparse gradients: every rank's (rows, values) gathered
        (sizes first, then rows and values padded to the longest), rows merged, values summed."""
        import torch
        width = int(np.prod(param.shape[1:]))
        k = 0 if g is None else len(g.indices)
        ks = [torch.zeros(1, dtype=torch.int64) for _ in range(self.size)]
        self._collective("all_gather", ks, torch.tensor([k], dtype=torch.int64))
        ks = [int(x) for x in ks]
        most = max(ks)
        rows = np.zeros(most, dtype=np.int64)                  # (K_max,)
        values = np.zeros((most, width), dtype=param.dtype)    # (K_max, E)
        if k:
            rows[:k] = g.indices
            np.multiply(g.values.reshape(k, width), c, out=values[:k])
        all_rows = [torch.empty(most, dtype=torch.int64) for _ in range(self.size)]
        all_values = [torch.empty_like(torch.from_numpy(values)) for _ in range(self.size)]
        self._collective("all_gather", all_rows, torch.from_numpy(rows))
        self._collective("all_gather", all_values, torch.from_numpy(values))
        r = np.concatenate([t.numpy()[:n] for t, n in zip(all_rows, ks)])
        v = np.concatenate([t.numpy()[:n] for t, n in zip(all_values, ks)])
        union, where = np.unique(r, return_inverse=True)
        summed = np.zeros((len(union), width), dtype=param.dtype)
        np.add.at(summed, where, v)
        summed /= count
        return SparseRows(union, summed.reshape((len(union), *param.shape[1:])), param.shape)


def _batch_size(batch) -> int | None:
    """B of a named tuple of arrays (its first 1-D array, else axis 1); None without arrays."""
    arrays = [v for v in batch if isinstance(v, np.ndarray)] if hasattr(batch, "_fields") else []
    if not arrays:
        return None
    return next((len(v) for v in arrays if v.ndim == 1), arrays[0].shape[1])


_current: Group | None = None


def current() -> Group | None:
    """The process group this process trains in, or None (one process)."""
    return _current


def is_writer() -> bool:
    """Whether this process writes the run's files: rank 0, or the only process."""
    return _current is None or _current.is_writer


def part(items: Sequence) -> list:
    """This process's share of ``items`` (all of them in one process): evaluation is sharded."""
    return list(items) if _current is None else _current.part(items)


def total(*values: float) -> tuple[float, ...]:
    """Sums over the processes of a few numbers (the numbers themselves in one process)."""
    return tuple(values) if _current is None else tuple(float(x) for x in _current.total(values))


# ---- threads --------------------------------------------------------------------------------------
_limits = None


def share_threads(local_world_size: int) -> int:
    """Set this rank's BLAS (threadpoolctl) and numba threads to its share of the machine's cores
    (``BPTT_THREADS`` overrides); returns the number."""
    global _limits
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    n = int(os.environ.get(THREADS_ENV) or max(1, cores // max(1, local_world_size)))
    try:
        from threadpoolctl import threadpool_limits
        _limits = threadpool_limits(limits=n, user_api="blas")
    except ImportError:
        pass
    from .backend import numba_installed
    if numba_installed():
        import numba
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    return n


# ---- the command line -----------------------------------------------------------------------------
def add_option(train_subparsers) -> None:
    """``--distributed`` for every ``bptt train`` job."""
    for parser in train_subparsers.choices.values():
        parser.add_argument("--distributed", action="store_true",
                            help=f"insist on data-parallel training under torchrun ({LAUNCH}); "
                                 f"detected without this flag too")


def _resume_after_restart(args) -> None:
    """After torchrun restarted the workers: continue from --out's checkpoint (the run of this
    very job), or replace what the failed attempt left if it wrote none."""
    from .train import CHECKPOINT
    if getattr(args, "resume", None) is not None or not hasattr(args, "out"):
        return
    out = Path(args.out)
    if (out / CHECKPOINT).is_file() or (out / "member0" / CHECKPOINT).is_file():
        args.resume, args.overwrite = str(out), False
    else:
        args.overwrite = True


def _attempt_store(dist, launch: Launch, timeout):
    """The rendezvous store of this attempt. torchrun's static rendezvous (--master-addr/--port)
    keeps one store across restarts and its workers use it without a per-attempt prefix, so the
    restarted workers would read the dead workers' addresses; a prefix per restart keeps the
    attempts apart. None (torch's own env:// store) when the workers host their own store."""
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return None
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), launch.world_size,
                          is_master=False, timeout=timeout)
    return dist.PrefixStore(f"bptt/attempt_{launch.restart_count}", store)


@contextmanager
def session(args):
    """Around a ``bptt train`` command: under torchrun (or ``--distributed``), join the Gloo
    group, share the cores, silence the other ranks' standard output and progress, resume after
    a restart; leave the group at the end. Nothing at all in one process."""
    global _current
    launch = check_launch(getattr(args, "distributed", False))
    if launch is None:
        yield None
        return
    dist = torch_distributed()
    from datetime import timedelta
    timeout = timedelta(seconds=float(os.environ.get("BPTT_DIST_TIMEOUT", 600)))
    dist.init_process_group("gloo", rank=launch.rank, world_size=launch.world_size, timeout=timeout,
                            store=_attempt_store(dist, launch, timeout))
    share_threads(launch.local_world_size)
    _current = Group(launch.rank, launch.world_size, dist)
    stdout = sys.stdout
    if launch.rank != 0:
        args.quiet = True
        sys.stdout = open(os.devnull, "w")
    if launch.restart_count > 0:
        _resume_after_restart(args)
    try:
        yield _current
    finally:
        if sys.stdout is not stdout:
            sys.stdout.close()
            sys.stdout = stdout
        _current = None
        dist.destroy_process_group()
