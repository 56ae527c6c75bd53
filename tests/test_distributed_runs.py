"""Data-parallel runs under torchrun (Gloo on 127.0.0.1, a free port, bounded by timeouts, every
process ended): 2 processes end with one process's parameters (float64, < 1e-10 relative, after
an epoch of a sentiment, a language-model and a tagger run without dropout), a run resumes with
another number of processes, and a worker killed mid-run is restarted from the last checkpoint.
Slow (torch starts in every process): ``pytest -m slow``."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from bptt.cli import main
from bptt.io import load_params
from helpers import negation_data, write_job_files

pytest.importorskip("torch.distributed")
pytestmark = pytest.mark.slow

TIMEOUT = 240                       # seconds for one torchrun launch, restarts included

NO_DROPOUT = {"sentiment": ["--embedding-dropout", "0", "--output-dropout", "0"],
              "tagger": ["--embedding-dropout", "0", "--output-dropout", "0", "--word-dropout", "0"],
              "lm": []}
JOBS = {
    "sentiment": lambda f: ["sentiment", "--train", f["sentiment"], "--cell", "lstm", "--embedding-dim", "8",
                            "--hidden-size", "8", "--batch-size", "16"],
    "lm": lambda f: ["lm", "--text", f["lm"], "--level", "word", "--cell", "gru", "--embedding-dim", "8",
                     "--hidden-size", "8", "--batch-size", "5", "--seq-len", "5"],
    "tagger": lambda f: ["tagger", "--train", f["tagger"], "--embedding-dim", "8", "--hidden-size", "8",
                         "--batch-size", "7"],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(n: int, argv: list, max_restarts: int = 0, tag: str = "") -> subprocess.Popen:
    """``torchrun --nproc-per-node n -m bptt train ARGV`` on 127.0.0.1, in its own session."""
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "BPTT_TEST_TAG": tag, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(n), "--master-addr",
           "127.0.0.1", "--master-port", str(free_port()), "--max-restarts", str(max_restarts),
           "--monitor-interval", "0.2", "-m", "bptt", "train", *map(str, argv), "--quiet"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def finish(proc: subprocess.Popen, timeout: float = TIMEOUT) -> tuple[str, str]:
    """Wait for torchrun; on timeout end its whole session; returns (stdout, stderr)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"torchrun did not finish in {timeout} s:\n{err[-3000:]}")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)         # anything left of the session
        except ProcessLookupError:
            pass
    assert proc.returncode == 0, err[-3000:]
    return out, err


def run_two(argv: list) -> str:
    return finish(torchrun(2, argv))[0]


def weights(run: Path) -> dict[str, np.ndarray]:
    tensors, _ = load_params(run / "checkpoint.safetensors")
    return {k: v for k, v in tensors.items() if k.startswith("model/")}


def max_relative_difference(a: Path, b: Path) -> float:
    wa, wb = weights(a), weights(b)
    assert sorted(wa) == sorted(wb)
    return max(float(np.max(np.abs(wa[k] - wb[k])) / np.max(np.abs(wb[k]))) for k in wa)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return write_job_files(tmp_path_factory.mktemp("dist"), 200)


@pytest.mark.parametrize("job", ["sentiment", "lm", "tagger"])
def test_two_processes_end_with_one_processs_parameters(job, files, tmp_path):
    argv = [*JOBS[job](files), *NO_DROPOUT[job], "--epochs", "1", "--dtype", "float64"]
    assert main(["train", *map(str, argv), "--out", str(tmp_path / "one"), "--quiet"]) == 0
    out = run_two([*argv, "--out", tmp_path / "two"])
    assert max_relative_difference(tmp_path / "two", tmp_path / "one") < 1e-10
    assert out.count("1: train loss") == 1              # rank 0 alone prints
    lines = (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()
    assert lines and all(json.loads(x) for x in lines)


@pytest.mark.parametrize("reduce", ["dense", "gather"])
def test_two_processes_end_with_one_processs_parameters_with_ulmfits_plan_and_adversarial_training(
        reduce, files, tmp_path, monkeypatch):
    """The options of the IMDB recipes run on both cores (bench/finetune_search.py ``_dp2``):
    discriminative rates, the slanted triangle and ``--adversarial``, the embedding's rows
    reduced densified or gathered."""
    monkeypatch.setenv("BPTT_SPARSE_REDUCE", reduce)             # torchrun's workers inherit it
    argv = [*JOBS["sentiment"](files), *NO_DROPOUT["sentiment"], "--bidirectional", "true",
            "--discriminative-lr", "2.6", "--slanted-triangular", "--lr", "0.01", "--adversarial", "0.5",
            "--epochs", "2", "--dtype", "float64"]
    assert main(["train", *map(str, argv), "--out", str(tmp_path / "one"), "--quiet"]) == 0
    run_two([*argv, "--out", tmp_path / "two"])
    assert max_relative_difference(tmp_path / "two", tmp_path / "one") < 1e-10
    plain = [a for a in argv if a not in ("--adversarial", "0.5")]
    assert main(["train", *map(str, plain), "--out", str(tmp_path / "plain"), "--quiet"]) == 0
    assert max_relative_difference(tmp_path / "plain", tmp_path / "one") > 1e-6   # --adversarial acted


def test_a_run_resumes_with_another_number_of_processes(files, tmp_path):
    """A word LM: 1 process to 1.5 passes, 2 processes on to 2.5, 1 process to 3 (each stop in
    the middle of a pass): the parameters of one uninterrupted process (the carried state split
    and gathered whole)."""
    argv = [*JOBS["lm"](files), "--dtype", "float64", "--eval-every", "3"]
    run = tmp_path / "run"
    assert main(["train", *map(str, argv), "--epochs", "1.5", "--out", str(run), "--quiet"]) == 0
    run_two([*argv, "--epochs", "2.5", "--out", run, "--resume", run])
    assert main(["train", *map(str, argv), "--epochs", "3", "--out", str(run), "--resume", str(run),
                 "--quiet"]) == 0
    assert main(["train", *map(str, argv), "--epochs", "3", "--out", str(tmp_path / "one"), "--quiet"]) == 0
    assert max_relative_difference(run, tmp_path / "one") < 1e-10
    ours, theirs = (load_params(next(d.glob("carry-*.safetensors")))[0] for d in (run, tmp_path / "one"))
    assert np.max(np.abs(ours["h"] - theirs["h"])) < 1e-10 * np.max(np.abs(theirs["h"]))   # (1, B, H)
    rounds = [json.loads(x)["epoch"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert rounds == sorted(set(rounds))                 # every round logged once


def _worker_pid(tag: str, rank: int) -> int | None:
    """The pid of the first attempt's worker ``rank`` of the torchrun tagged ``tag``."""
    want = {f"BPTT_TEST_TAG={tag}", f"RANK={rank}", "TORCHELASTIC_RESTART_COUNT=0"}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = set((entry / "environ").read_bytes().decode(errors="replace").split("\0"))
        except OSError:
            continue
        if want <= env:
            return int(entry.name)
    return None


def test_a_killed_worker_is_restarted_from_the_last_checkpoint(tmp_path):
    """torchrun --max-restarts 1; rank 1 killed (SIGKILL) once the first checkpoint exists: the
    workers restart, resume from it, finish every epoch once, and end with the parameters of one
    uninterrupted process."""
    texts, labels = negation_data(1500, 0)
    data = tmp_path / "s.tsv"
    data.write_text("sentence\tlabel\n" + "".join(f"{t}\t{int(y == 'positive')}\n"
                                                  for t, y in zip(texts, labels)), encoding="utf-8")
    argv = [*JOBS["sentiment"]({"sentiment": data}), *NO_DROPOUT["sentiment"], "--epochs", "4",
            "--dtype", "float64", "--patience", "none"]
    tag = uuid.uuid4().hex
    proc = torchrun(2, [*argv, "--out", tmp_path / "two"], max_restarts=1, tag=tag)
    checkpoint, t0 = tmp_path / "two" / "checkpoint.safetensors", time.monotonic()
    try:
        while not checkpoint.exists():
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() - t0 < TIMEOUT, "no checkpoint in time"
            time.sleep(0.02)
        pid = _worker_pid(tag, 1)
        assert pid is not None
        epochs_at_kill = len((tmp_path / "two" / "metrics.jsonl").read_text().splitlines())
        os.kill(pid, signal.SIGKILL)
    finally:
        if proc.poll() is not None or sys.exc_info()[0] is not None:
            os.killpg(proc.pid, signal.SIGKILL)
    _, err = finish(proc)
    assert epochs_at_kill < 4
    assert "exitcode: -9" in err                              # torchrun saw the kill
    assert err.count("s.tsv: kept 1,500") == 4             # 2 attempts x 2 ranks
    records = [json.loads(x) for x in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records if "event" not in r] == [1, 2, 3, 4]
    assert main(["train", *map(str, argv), "--out", str(tmp_path / "one"), "--quiet"]) == 0
    assert max_relative_difference(tmp_path / "two", tmp_path / "one") < 1e-10
