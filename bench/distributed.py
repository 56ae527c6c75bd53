"""Data-parallel training on this machine: 1 process x 2 BLAS threads against 2 processes x 1
thread (torchrun, Gloo on 127.0.0.1), the communication per step, and the scaling on paper.

    python bench/distributed.py [--part all|throughput|exactness] [--steps 3] [--batch 8]

Workloads (float32, Adam, clipping at 5, the compiled path if numba is installed):

- sentiment: one IMDB-length batch, ``--batch`` reviews of aclImdb/train whose lengths are
  nearest the mean review (268 tokens), a BiGRU H128 over 64-dimensional word vectors
  (vocabulary: the words seen twice in 2,000 reviews), max pooling: the shipped imdb recipe's shape.
- lm: the word language model, Tiny Shakespeare as words (the 10,000 most frequent), LSTM
  H256, embedding 64, ``--batch`` streams, truncated BPTT k = 35, the state carried on.

For each: tokens per second over ``--steps`` optimizer steps (after 1 warm-up step) in one
process with 2 BLAS (and numba) threads, and in 2 processes with 1 each, the embedding's sparse
gradient densified into the one buffer ("dense") or gathered as (rows, values) ("gather"); in
the 2-process runs, the seconds spent in the step's collectives (waiting for the slower rank
included) and, apart, one all_reduce of the same buffer timed alone (the transfer itself). Then
the exactness of 2 processes against 1 in float32 and float64 (the max relative difference of
the parameters after an epoch of the tests' small runs), and the scaling model of
docs/distributed.md computed from the measured compute time per token.

The machine is shared (the other CPUs' load is recorded): the figures are what they are on it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
DATA = Path(os.environ.get("BPTT_SHARED_DATA", ROOT.parent / "shared" / "data"))
MEAN_REVIEW = 268                   # tokens, aclImdb/train (bptt.data.batching's docstring)


# ---- workloads ------------------------------------------------------------------------------------
def sentiment_workload():
    """(model, batch, tokens): BATCH reviews of mean length, a BiGRU H128 classifier."""
    from bptt.data.batching import pad_batch
    from bptt.data.tokenize import tokenize
    from bptt.data.vocab import Vocabulary
    from bptt.models import Classifier, ClassifierBatch, ClassifierConfig
    files = sorted((DATA / "imdb" / "aclImdb" / "train" / "pos").glob("*.txt"))[:1000] + \
        sorted((DATA / "imdb" / "aclImdb" / "train" / "neg").glob("*.txt"))[:1000]
    tokens = [tokenize(f.read_text(encoding="utf-8")) for f in files]
    labels = np.array([1] * 1000 + [0] * 1000)
    vocab = Vocabulary.build(tokens, min_freq=2)
    nearest = np.argsort(np.abs(np.array([len(t) for t in tokens]) - MEAN_REVIEW), kind="stable")[:BATCH]
    nearest = nearest[np.argsort([-len(tokens[i]) for i in nearest], kind="stable")]     # longest first
    ids, lengths = pad_batch([vocab.encode(tokens[i]) for i in nearest])                 # (T, BATCH)
    config = ClassifierConfig(len(vocab), 64, 128, 2, "gru", bidirectional=True, pooling="max")
    model = Classifier(config, np.random.default_rng(0))
    return model, ClassifierBatch(ids, lengths, labels[nearest]), int(lengths.sum())


def lm_workload():
    """(model, streams): Tiny Shakespeare as words, an LSTM H256 language model, BATCH streams."""
    from bptt.data.tokenize import level_tokens
    from bptt.data.vocab import Vocabulary
    from bptt.jobs.language_model import batchify
    from bptt.models import LanguageModel, LanguageModelConfig
    words = level_tokens((DATA / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8"), "word")
    vocab = Vocabulary.build([words], max_size=10_000)
    model = LanguageModel(LanguageModelConfig(len(vocab), 64, 256, "lstm"), np.random.default_rng(0))
    return model, batchify(vocab.encode(words), BATCH)


SEQ_LEN = 35
BATCH = 8                           # reviews, or streams (--batch)


def steps_of(name: str, group=None):
    """(model, step(i) -> StepResult on the global batch i): this process's share under ``group``."""
    from bptt.models import LanguageModelBatch
    from bptt.truncated import detach
    if name == "sentiment":
        model, batch, _ = sentiment_workload()

        def step(i):
            return model.loss_and_grads(batch) if group is None else \
                group.step(model.loss_and_grads, batch, model.params)
        return model, step
    model, streams = lm_workload()
    columns = list(range(BATCH)) if group is None else list(group.rows(BATCH))
    inputs, targets = streams.inputs[:, columns], streams.targets[:, columns]     # (L, B_local)
    carry = {"state": model.zero_state(len(columns))}

    def local(chunk):
        steps = slice(chunk[0] * SEQ_LEN, (chunk[0] + 1) * SEQ_LEN)
        result = model.loss_and_grads(LanguageModelBatch(inputs[steps], targets[steps], state0=carry["state"]))
        carry["state"] = detach(result.state)
        return result

    def step(i):
        return local((i,)) if group is None else group.step(local, (i,), model.params)   # a chunk: no arrays
    return model, step


def measure(name: str, steps: int, group=None) -> dict:
    """Tokens per second over ``steps`` optimizer steps after 1 warm-up step; with a group,
    the collectives' seconds, and one all_reduce of the buffer's size timed alone."""
    from bptt.optim import Adam, clip_grad_norm
    model, step = steps_of(name, group)
    optimizer = Adam(model.params, lr=1e-3)

    def one(i):
        result = step(i)
        clip_grad_norm(result.grads, 5.0)
        optimizer.step(result.grads)
        return result.tokens
    one(0)
    if group is not None:
        group.comm.barrier()
        group.comm_seconds = 0.0
    t0, tokens = time.perf_counter(), 0
    for i in range(1, 1 + steps):
        tokens += one(i)
    seconds = time.perf_counter() - t0
    out = {"steps": steps, "tokens": tokens, "seconds": round(seconds, 3),
           "tokens_per_s": round(tokens / seconds, 1), "ms_per_step": round(1000 * seconds / steps, 1),
           "parameters": int(sum(p.size for p in model.params.values()))}
    if group is not None:
        comm = group.comm_seconds / steps
        n = sum(p.size for p in model.params.values()) + 5
        buf = np.zeros(n, dtype=np.float32)
        group.comm.barrier()
        alone = []
        for _ in range(10):
            t1 = time.perf_counter()
            group._all_reduce(buf)
            alone.append(time.perf_counter() - t1)
        out.update({"comm_ms_per_step": round(1000 * comm, 2), "comm_share": round(comm * steps / seconds, 4),
                    "all_reduce_alone_ms": round(1000 * float(np.median(alone)), 2),
                    "buffer_bytes": int(buf.nbytes)})
    return out


# ---- the 2-process side (run under torchrun) --------------------------------------------------
def worker(args) -> None:
    """Under torchrun: join the group (bptt.distributed.session's steps), measure, rank 0 writes."""
    import torch.distributed as dist

    from bptt import distributed
    launch = distributed.check_launch(True)
    dist.init_process_group("gloo", rank=launch.rank, world_size=launch.world_size)
    threads = distributed.share_threads(launch.local_world_size)
    results = {}
    for sparse in ("dense", "gather"):
        for name in ("sentiment", "lm"):
            group = distributed.Group(launch.rank, launch.world_size, dist, sparse=sparse)
            results[f"{name}/{sparse}"] = {**measure(name, args.steps, group), "threads_per_process": threads}
    if launch.rank == 0:
        Path(args.worker).write_text(json.dumps(results))
    dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def two_processes(steps: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr",
               "127.0.0.1", "--master-port", str(free_port()), __file__, "--steps", str(steps),
               "--batch", str(BATCH), "--worker", str(result)]
        subprocess.run(cmd, check=True, timeout=600, env={**os.environ, "GLOO_SOCKET_IFNAME": "lo"})
        return json.loads(result.read_text())


def one_process(steps: int, threads: int) -> dict:
    from threadpoolctl import threadpool_limits

    from bptt.backend import numba_installed
    if numba_installed():
        import numba
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    with threadpool_limits(threads, user_api="blas"):
        return {name: {**measure(name, steps), "threads_per_process": threads} for name in ("sentiment", "lm")}


# ---- exactness in float32 and float64 --------------------------------------------------------------
def exactness() -> dict:
    """Max relative difference of the parameters, 2 processes against 1, after one epoch of the
    small runs of tests/test_distributed_runs.py (no dropout), in float32 and float64."""
    from helpers import write_job_files
    from test_distributed_runs import JOBS, NO_DROPOUT, max_relative_difference
    from bptt.cli import main
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        files = write_job_files(Path(tmp), 200)
        for dtype in ("float32", "float64"):
            for job in JOBS:
                argv = [*JOBS[job](files), *NO_DROPOUT[job], "--epochs", "1", "--dtype", dtype]
                one, two = Path(tmp) / f"{job}-{dtype}-1", Path(tmp) / f"{job}-{dtype}-2"
                main(["train", *map(str, argv), "--out", str(one), "--quiet"])
                cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr",
                       "127.0.0.1", "--master-port", str(free_port()), "-m", "bptt", "train",
                       *map(str, argv), "--out", str(two), "--quiet"]
                subprocess.run(cmd, check=True, timeout=300, capture_output=True,
                               env={**os.environ, "GLOO_SOCKET_IFNAME": "lo"})
                out[f"{job}/{dtype}"] = max_relative_difference(two, one)
    return out


# ---- the scaling model ----------------------------------------------------------------------------
def scaling(compute_s_per_token: float, params: int, tokens_per_rank: int, bandwidth: float,
            latency: float, ranks=(1, 2, 16, 32, 64, 128)) -> list[dict]:
    """Weak scaling (each rank keeps its share of tokens per step): per step, compute
    t_c = tokens_per_rank x compute_s_per_token, ring all-reduce of 4 P bytes
    t_r = 2 (N - 1) / N x 4 P / bandwidth + 2 (N - 1) x latency; speed-up N t_c / (t_c + t_r)."""
    rows = []
    for n in ranks:
        t_c = tokens_per_rank * compute_s_per_token
        t_r = 0.0 if n == 1 else 2 * (n - 1) / n * 4 * params / bandwidth + 2 * (n - 1) * latency
        rows.append({"ranks": n, "compute_ms": round(1000 * t_c, 1), "all_reduce_ms": round(1000 * t_r, 1),
                     "speedup": round(n * t_c / (t_c + t_r), 1), "efficiency": round(t_c / (t_c + t_r), 3)})
    return rows


def load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def markdown(doc: dict) -> str:
    lines = ["# Data-parallel training: 1 process x 2 threads against 2 processes x 1 thread", ""]
    if "one_process_2_threads" in doc:
        lines += [f"Generated by `python bench/distributed.py --part throughput --steps {doc['steps']} --batch "
                  f"{doc['batch']}` on {doc['date']}, {doc['machine']}. Load average 1 / 5 / 15 min before: "
                  f"{doc['load_before']}; after: {doc['load_after']}, on 2 CPUs (above about 1, other work "
                  f"shared the cores and the figures say more about that than about the code).", "",
                  "| workload | setting | tokens/s | ms/step | collectives ms/step (share) | one all_reduce alone, ms | buffer |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        for name in ("sentiment", "lm"):
            r = doc["one_process_2_threads"][name]
            lines.append(f"| {name} | 1 process x 2 threads | {r['tokens_per_s']:,.0f} | {r['ms_per_step']:,.0f} "
                         f"| - | - | - |")
            for sparse in ("dense", "gather"):
                r = doc["two_processes_1_thread"][f"{name}/{sparse}"]
                lines.append(f"| {name} | 2 processes x 1 thread, {sparse} | {r['tokens_per_s']:,.0f} | "
                             f"{r['ms_per_step']:,.0f} | {r['comm_ms_per_step']:,.1f} ({r['comm_share']:.1%}) | "
                             f"{r['all_reduce_alone_ms']:.1f} | {r['buffer_bytes'] / 1e6:.1f} MB |")
        lines += ["", "Parameters: " + ", ".join(f"{n} {doc['one_process_2_threads'][n]['parameters']:,}"
                                                 for n in ("sentiment", "lm")) + ". The collectives' time "
                  "includes waiting for the slower rank; the all_reduce alone is the transfer of the same "
                  "buffer on loopback.", "", f"Scaling model (docs/distributed.md): {doc['scaling_assumptions']}", ""]
        for name, rows in doc["scaling"].items():
            lines += [f"**{name}**", "", "| ranks | compute ms/step | all-reduce ms/step | speed-up | efficiency |",
                      "|---:|---:|---:|---:|---:|"]
            lines += [f"| {r['ranks']} | {r['compute_ms']:,} | {r['all_reduce_ms']:,} | {r['speedup']} | "
                      f"{r['efficiency']:.0%} |" for r in rows]
            lines.append("")
    if "exactness" in doc:
        run = doc["exactness_run"]
        lines += ["Exactness: the max relative difference of the parameters (max |a - b| / max |b| per tensor), "
                  "2 processes against 1, after one epoch of the small runs of tests/test_distributed_runs.py "
                  f"(no dropout); `python bench/distributed.py --part exactness` on {run['date']} (load "
                  f"{run['load_before']}):", "", "| run | float32 | float64 |", "|---|---:|---:|"]
        for job in ("sentiment", "lm", "tagger"):
            lines.append(f"| {job} | {doc['exactness'][f'{job}/float32']:.2e} | "
                         f"{doc['exactness'][f'{job}/float64']:.2e} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    global BATCH
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("all", "throughput", "exactness"), default="all",
                        help="what to measure; the other part's figures are kept from the results file")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=BATCH, help="reviews, or streams, per global batch")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "distributed"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)         # under torchrun: the result file
    args = parser.parse_args()
    BATCH = args.batch
    if args.worker:
        return worker(args)
    out = Path(args.out)
    doc = json.loads(out.with_suffix(".json").read_text()) if out.with_suffix(".json").is_file() else {}
    doc.update({"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"})
    if args.part in ("all", "exactness"):
        before = load()
        doc["exactness"] = exactness()
        doc["exactness_run"] = {"date": _now(), "load_before": before, "load_after": load()}
        print("exactness:", json.dumps(doc["exactness"]), flush=True)
    if args.part in ("all", "throughput"):
        before = load()
        one = one_process(args.steps, 2)
        print("one process:", json.dumps(one), flush=True)
        two = two_processes(args.steps)
        print("two processes:", json.dumps(two), flush=True)
        doc.update({"date": _now(), "steps": args.steps, "batch": BATCH, "load_before": before,
                    "load_after": load(), "one_process_2_threads": one, "two_processes_1_thread": two})
        doc.update(scaling_doc(two))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(doc, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(doc))
    print(markdown(doc))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def scaling_doc(two: dict) -> dict:
    """The scaling model of docs/distributed.md from the 2-process figures (dense reduction)."""
    per_rank = {"sentiment": ("8 reviews of 268 tokens per rank", 8 * MEAN_REVIEW),
                "lm": ("8 streams x 35 steps per rank", 8 * SEQ_LEN)}
    bandwidth, latency = 1.25e9, 50e-6
    model = {}
    for name, (what, tokens) in per_rank.items():
        r = two[f"{name}/dense"]
        compute = (r["seconds"] - r["comm_ms_per_step"] * r["steps"] / 1000) / (r["tokens"] / 2)
        model[f"{name} ({what}; {1e6 * compute:.1f} us per token per 1-thread rank, "
              f"{r['parameters']:,} parameters)"] = scaling(compute, r["parameters"], tokens, bandwidth, latency)
    return {"scaling_assumptions": f"ring all-reduce of the float32 gradient over 10 Gb/s Ethernet "
                                   f"({bandwidth / 1e9:.2f} GB/s per link), {latency * 1e6:.0f} us per hop, "
                                   f"1 thread per rank, 16 ranks per machine",
            "scaling": model}


if __name__ == "__main__":
    main()
