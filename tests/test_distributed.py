"""bptt.distributed in one process: torchrun's environment, the refusals, the sharding, and the
gradient reduction and rank-0-only writes with N ranks run as threads over an in-memory
stand-in for torch.distributed (``ThreadComm``). The multi-process runs under torchrun are in
test_distributed_runs.py."""
from __future__ import annotations

import json
import sys
import threading

import numpy as np
import pytest

from bptt import distributed
from bptt.cli import main
from bptt.data.batching import bucket_batches
from bptt.distributed import DistributedError, Group, check_launch, launch_environment
from bptt.models import Classifier, ClassifierConfig
from bptt.sparse import SparseRows, as_dense
from bptt.train import TrainConfig, Trainer
from helpers import write_job_files

TORCHRUN_ENV = {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2", "GROUP_RANK": "0",
                "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500", "TORCHELASTIC_RUN_ID": "none",
                "TORCHELASTIC_RESTART_COUNT": "1"}


class ThreadComm:
    """The collectives ``Group`` uses (all_reduce, all_gather, broadcast_object_list) between N
    threads, summing in rank order; ``rank(r)`` is rank r's handle."""

    def __init__(self, size: int):
        self.size, self.slots, self.barrier = size, [None] * size, threading.Barrier(size, timeout=60)

    def rank(self, r: int):
        comm = self

        class Handle:
            def all_reduce(self, tensor):
                comm.slots[r] = tensor.numpy().copy()
                comm.barrier.wait()
                total = sum(comm.slots[1:], comm.slots[0].copy())
                comm.barrier.wait()
                tensor.numpy()[...] = total

            def all_gather(self, out, tensor):
                comm.slots[r] = tensor.numpy().copy()
                comm.barrier.wait()
                for t, slot in zip(out, comm.slots):
                    t.numpy()[...] = slot
                comm.barrier.wait()

            def broadcast_object_list(self, box, src=0):
                if r == src:
                    comm.slots[r] = box[0]
                comm.barrier.wait()
                box[0] = comm.slots[src]
                comm.barrier.wait()
        return Handle()


def run_ranks(size: int, work):
    """``work(rank, comm_handle)`` on ``size`` threads; their results by rank (errors re-raised)."""
    comm, results, errors = ThreadComm(size), [None] * size, []

    def run(r):
        try:
            results[r] = work(r, comm.rank(r))
        except BaseException as err:            # noqa: BLE001 - re-raised in the test's thread
            errors.append(err)
            comm.barrier.abort()
    threads = [threading.Thread(target=run, args=(r,)) for r in range(size)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    if errors:
        raise errors[0]
    return results


def classifier(seed=0, **kw) -> Classifier:
    """A float64 bidirectional LSTM classifier with random non-zero weights."""
    cfg = ClassifierConfig(30, 5, 6, 3, "lstm", bidirectional=True, pooling="max", dtype="float64", **kw)
    model = Classifier(cfg, np.random.default_rng(seed))
    for p in model.params.values():
        p[...] = np.random.default_rng(seed + 1).uniform(-0.5, 0.5, p.shape)
    return model


def data(n=23, seed=3):
    rng = np.random.default_rng(seed)
    seqs = [rng.integers(1, 30, rng.integers(1, 9)) for _ in range(n)]
    return seqs, rng.integers(0, 3, n)


# ---- torchrun's environment and the refusals ---------------------------------------------------------
def test_launch_is_read_from_torchruns_environment():
    launch = launch_environment(TORCHRUN_ENV)
    assert (launch.rank, launch.world_size, launch.local_rank, launch.local_world_size, launch.restart_count) \
        == (1, 2, 1, 2, 1)
    partial = {k: v for k, v in TORCHRUN_ENV.items() if k != "TORCHELASTIC_RUN_ID"}
    assert launch_environment(partial) is None and launch_environment({}) is None


def test_distributed_flag_refuses_a_process_torchrun_did_not_start(tmp_path, monkeypatch, capsys):
    for name in TORCHRUN_ENV:
        monkeypatch.delenv(name, raising=False)
    files = write_job_files(tmp_path, 20)
    code = main(["train", "sentiment", "--distributed", "--train", str(files["sentiment"]),
                 "--out", str(tmp_path / "run"), "--epochs", "1", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert "--distributed: this process was not started by torchrun (no RANK, WORLD_SIZE" in err[0]
    assert "torchrun --nproc-per-node N -m bptt train JOB" in err[0]
    assert not (tmp_path / "run").exists()


def test_distributed_flag_refuses_without_the_extra(tmp_path, monkeypatch, capsys):
    for name, value in TORCHRUN_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setitem(sys.modules, "torch", None)           # import torch fails, as when absent
    monkeypatch.setitem(sys.modules, "torch.distributed", None)
    with pytest.raises(DistributedError, match=r"not installed: pip install 'bptt\[dist\]'"):
        check_launch(requested=True)
    files = write_job_files(tmp_path, 20)
    code = main(["train", "sentiment", "--distributed", "--train", str(files["sentiment"]),
                 "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and err.endswith("which is not installed: pip install 'bptt[dist]'")


def test_one_process_is_left_alone():
    assert check_launch(requested=False, environ={}) is None
    assert distributed.current() is None and distributed.is_writer()
    assert distributed.part([3, 1, 2]) == [3, 1, 2] and distributed.total(2.0, 5) == (2.0, 5)


# ---- sharding ---------------------------------------------------------------------------------------
def test_each_rank_takes_every_nth_example_of_the_global_batch():
    seqs, y = data(7)
    batch = bucket_batches(seqs, y, 7, seed=0)[0]            # longest first
    shards = [Group(r, 3).shard(batch) for r in range(3)]
    assert [s.index.tolist() for s in shards] == [batch.index[r::3].tolist() for r in range(3)]
    for s in shards:
        columns = [batch.index.tolist().index(i) for i in s.index]
        assert np.array_equal(s.ids, batch.ids[:, columns]) and np.array_equal(s.lengths, batch.lengths[columns])
        assert np.all(np.diff(s.lengths) <= 0) and np.array_equal(s.labels, y[s.index])
    assert sorted(i for s in shards for i in s.index) == sorted(batch.index)
    assert Group(5, 6).shard(bucket_batches(seqs[:3], y[:3], 3, seed=0)[0]) is None      # B < N
    chunk = (4, slice(0, 5), True)
    assert Group(1, 2).shard(chunk) is chunk                 # no arrays: the job shards


# ---- the reduction: N ranks give one process's step ------------------------------------------------
@pytest.mark.parametrize("sparse", ["dense", "gather"])
@pytest.mark.parametrize("size, n", [(2, 11), (3, 11), (2, 1)])
def test_reduced_step_equals_one_process_step_on_the_whole_batch(size, n, sparse):
    seqs, y = data(n)
    batch = bucket_batches(seqs, y, n, seed=1)[0]
    full = classifier().loss_and_grads(batch)

    def work(r, comm):
        model = classifier()
        return Group(r, size, comm, sparse=sparse).step(model.loss_and_grads, batch, model.params)
    for result in run_ranks(size, work):
        assert (result.count, result.examples, result.tokens) == (full.count, full.examples, full.tokens)
        assert abs(result.loss - full.loss) < 1e-13 * abs(full.loss)
        assert list(result.grads) == list(full.grads)
        for name, g in full.grads.items():
            ours = result.grads[name]
            assert isinstance(ours, SparseRows) == (sparse == "gather" and isinstance(g, SparseRows))
            assert np.allclose(as_dense(ours), as_dense(g), rtol=1e-12, atol=1e-15), name


@pytest.mark.parametrize("size", [2, 3])
def test_a_reduced_adversarial_step_equals_one_process_step(size):
    """``--adversarial`` under torchrun: r_adv is normalised per example, so each rank's share
    perturbs its examples exactly as one process would, and the reduced J and dJ/dtheta are one
    process's (no dropout here: the masks are drawn per rank)."""
    seqs, y = data(11)
    batch = bucket_batches(seqs, y, 11, seed=1)[0]
    full = classifier().loss_and_grads(batch, adversarial=0.7)
    plain = classifier().loss_and_grads(batch)
    assert full.loss > plain.loss + 1e-3              # the adversarial term is there

    def work(r, comm):
        model = classifier()
        step = lambda b: model.loss_and_grads(b, adversarial=0.7)       # noqa: E731
        return Group(r, size, comm, sparse="gather").step(step, batch, model.params)
    for result in run_ranks(size, work):
        assert result.count == full.count and abs(result.loss - full.loss) < 1e-13 * abs(full.loss)
        for name, g in full.grads.items():
            assert np.allclose(as_dense(result.grads[name]), as_dense(g), rtol=1e-12, atol=1e-15), name


def test_a_last_batch_smaller_than_the_ranks_after_full_ones():
    """The epoch's last batch may hold fewer examples than there are ranks: the ranks without
    one contribute zeros, after rank 0 has told them the layout (every rank at the same step)."""
    seqs, y = data(13)
    batches = bucket_batches(seqs, y, 6, seed=2, shuffle=False)          # 6, 6, 1
    assert [len(b.index) for b in batches] == [6, 6, 1]
    alone = classifier()
    full = [alone.loss_and_grads(b) for b in batches]

    def work(r, comm):
        model, group = classifier(), Group(r, 3, comm)
        return [group.step(model.loss_and_grads, b, model.params) for b in batches]
    for results in run_ranks(3, work):
        for ours, theirs in zip(results, full):
            assert ours.count == theirs.count and abs(ours.loss - theirs.loss) < 1e-13
            for name, g in theirs.grads.items():
                assert np.allclose(as_dense(ours.grads[name]), as_dense(g), rtol=1e-12, atol=1e-15), name


def test_counts_weight_the_ranks_gradients():
    """Ranks with 3 and 1 examples: the mean over 4 examples, not the mean of the two means."""
    seqs, y = data(4)
    batch = bucket_batches(seqs, y, 4, seed=0)[0]
    halves = [batch._replace(**{f: v[:3] if v.ndim == 1 else v[:, :3] for f, v in
                                batch._asdict().items() if isinstance(v, np.ndarray)}),
              batch._replace(**{f: v[3:] if v.ndim == 1 else v[:, 3:] for f, v in
                                batch._asdict().items() if isinstance(v, np.ndarray)})]
    full = classifier().loss_and_grads(batch)

    def work(r, comm):
        model, group = classifier(), Group(r, 2, comm)
        group.step(model.loss_and_grads, halves[r], model.params)      # the layout
        return group.reduce(model.loss_and_grads(halves[r]), model.params)
    result = run_ranks(2, work)[0]
    assert result.count == 4 and abs(result.loss - full.loss) < 1e-13
    assert np.allclose(result.grads["fc.weight"], full.grads["fc.weight"], rtol=1e-12)


# ---- the trainer: rank 0 alone writes, and N ranks train as one process ----------------------------
def _trainer(model, out, seqs, y, batch_size=6, epochs=2, lr_plan=None, ema_decay=None):
    def evaluate():
        return {"accuracy": float(np.mean(model.predict_proba(*_dev(seqs)).argmax(1) == y[:8]))}
    return Trainer(model, TrainConfig(epochs=epochs, lr=0.01, seed=4, ema_decay=ema_decay), lambda rng: bucket_batches(
        seqs, y, batch_size, seed=int(rng.integers(2**63))), model.loss_and_grads, evaluate,
        lambda d: (d / "weights").write_text("w"), out, progress=False, lr_plan=lr_plan)


def _dev(seqs):
    from bptt.data.batching import pad_batch
    ids, lengths = pad_batch(seqs[:8])
    return ids, lengths


def test_only_rank_0_writes_and_the_ranks_end_as_one_process(tmp_path, monkeypatch):
    monkeypatch.setattr("bptt.train.signal.signal", lambda *a: None)     # threads cannot set handlers
    seqs, y = data(23)
    alone = classifier()
    _trainer(alone, tmp_path / "alone", seqs, y).fit()

    def work(r, comm):
        model = classifier()
        trainer = _trainer(model, tmp_path / f"rank{r}", seqs, y)
        trainer.parallel, trainer.is_writer = Group(r, 2, comm), r == 0
        trainer.fit()
        return model
    models = run_ranks(2, work)
    assert not (tmp_path / "rank1").exists()
    written = sorted(p.name for p in (tmp_path / "rank0").iterdir())
    assert written == sorted(p.name for p in (tmp_path / "alone").iterdir()) == \
        ["best", "checkpoint.safetensors", "metrics.jsonl"]
    lines = [json.loads(x) for x in (tmp_path / "rank0" / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == [1, 2] and lines[-1]["step"] == 8
    for name, p in alone.params.items():
        for m in models:
            assert np.max(np.abs(m.params[name] - p)) <= 1e-12 * np.max(np.abs(p)), name


def test_ranks_with_ulmfits_learning_rate_plan_end_as_one_process(tmp_path, monkeypatch):
    """Discriminative rates, the slanted triangle and gradual unfreezing (``LayerwiseLR``) scale
    the reduced gradients, at the global step, on every rank: 3 ranks end with one process's
    parameters, also through the last batch of each epoch, which has fewer examples than ranks
    (rank 2 then computes nothing). The plan's factors once went into the step function and were
    lost in the reduction: the ranks trained every layer at the full rate."""
    from bptt.optim import LayerwiseLR, layer_depths
    monkeypatch.setattr("bptt.train.signal.signal", lambda *a: None)
    seqs, y = data(21)                              # batches of 5: 5, 5, 5, 5, 1 per epoch

    def plan(model):
        # 15 steps; unfreezing every 8 steps: fc, then also the LSTM from step 8, the embedding never
        return LayerwiseLR(layer_depths(model.params, 1), 2.6, total_steps=15, steps_per_epoch=8).apply
    alone = classifier()
    _trainer(alone, tmp_path / "alone", seqs, y, 5, 3, plan(alone)).fit()
    unplanned = classifier()
    _trainer(unplanned, tmp_path / "unplanned", seqs, y, 5, 3).fit()

    def work(r, comm):
        model = classifier()
        trainer = _trainer(model, tmp_path / f"rank{r}", seqs, y, 5, 3, plan(model))
        trainer.parallel, trainer.is_writer = Group(r, 3, comm), r == 0
        trainer.fit()
        return model
    for m in run_ranks(3, work):
        for name, p in alone.params.items():
            assert np.max(np.abs(m.params[name] - p)) <= 1e-12 * np.max(np.abs(p)), name
    assert np.array_equal(alone.params["embedding.weight"], classifier().params["embedding.weight"])  # frozen
    assert not np.array_equal(alone.params["rnn.weight_hh_l0"], classifier().params["rnn.weight_hh_l0"])
    assert np.max(np.abs(unplanned.params["fc.weight"] - alone.params["fc.weight"])) > 1e-3


def test_ranks_averaging_the_weights_keep_one_processs_average(tmp_path, monkeypatch):
    """``ema_decay``: every rank updates the average from the same reduced step, so each holds
    one process's average (and evaluates it at each epoch's end) with no communication of its own."""
    monkeypatch.setattr("bptt.train.signal.signal", lambda *a: None)
    seqs, y = data(23)
    alone_model = classifier()
    alone = _trainer(alone_model, tmp_path / "alone", seqs, y, ema_decay=0.7)
    alone.fit()

    def work(r, comm):
        model = classifier()
        trainer = _trainer(model, tmp_path / f"rank{r}", seqs, y, ema_decay=0.7)
        trainer.parallel, trainer.is_writer = Group(r, 2, comm), r == 0
        trainer.fit()
        return trainer
    for trainer in run_ranks(2, work):
        for name, avg in alone.average.average.items():
            assert np.max(np.abs(trainer.average.average[name] - avg)) <= 1e-12 * np.max(np.abs(avg)), name
            assert np.max(np.abs(avg - alone_model.params[name])) > 1e-4, name       # not the weights


def test_a_stop_on_one_rank_stops_every_rank_after_the_same_step(tmp_path, monkeypatch):
    monkeypatch.setattr("bptt.train.signal.signal", lambda *a: None)
    seqs, y = data(23)

    def work(r, comm):
        model = classifier()
        trainer = _trainer(model, tmp_path / f"rank{r}", seqs, y)
        trainer.parallel, trainer.is_writer = Group(r, 2, comm), r == 0
        if r == 1:                                  # rank 1 asks to stop during its second step
            step = trainer.step_fn
            calls = []

            def asking(batch):
                calls.append(1)
                if len(calls) == 2:
                    trainer.request_stop("time budget")
                return step(batch)
            trainer.step_fn = asking
        trainer.fit()
        return trainer.state.global_step, trainer.stop_reason
    (steps0, reason0), (steps1, reason1) = run_ranks(2, work)
    assert steps0 == steps1 == 3                    # asked in step 2, voted with step 3
    assert reason1 == "time budget" and reason0 == "another process stopped"


def test_each_rank_sets_blas_and_numba_threads_to_its_share_of_the_cores(monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    numba = pytest.importorskip("numba")
    monkeypatch.delenv("BPTT_THREADS", raising=False)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(4)), raising=False)
    before = numba.get_num_threads()
    original = threadpoolctl.threadpool_limits(limits=None)      # remembers the limits as they are now
    try:
        assert distributed.share_threads(local_world_size=4) == 1
        assert numba.get_num_threads() == 1
        blas = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
        assert blas and all(i["num_threads"] == 1 for i in blas)
        monkeypatch.setenv("BPTT_THREADS", "2")
        assert distributed.share_threads(local_world_size=4) == 2
    finally:
        original.restore_original_limits()
        numba.set_num_threads(before)
