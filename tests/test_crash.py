"""The crash test: a real (tiny) ``bptt train`` run killed with SIGKILL at every point where it
writes (``crashpoint.py``: before a rename, in the middle of a file, between the two renames of
best/) and at moments in between, then resumed. After every kill:

- ``bptt predict`` (or ``generate``) works on ``OUT/best`` if it exists: best/ is never half-written;
- the run goes on: ``--resume OUT`` from the checkpoint if there is one, else ``--overwrite``
  (a kill before the first checkpoint leaves nothing to resume), and it ends exactly as the run
  that was never killed: the same weights and optimizer state, bit for bit, and metrics.jsonl
  with each epoch once, the same numbers;
- no temporary file or folder is left in OUT or OUT/best.

The default run kills at a few points; ``pytest -m slow`` at every one (60 at most per job).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

from bptt.files import leftovers
from helpers import TEXT, negation_data

CRASHPOINT = Path(__file__).with_name("crashpoint.py")
MAX_POINTS = 60             # kill points per job in the slow run (the language model writes ~200)
SENTIMENT = ["--embedding-dim", "8", "--hidden-size", "8", "--epochs", "3", "--batch-size", "16", "--lr", "0.05",
             "--patience", "none", "--quiet"]
LM = ["--embedding-dim", "8", "--hidden-size", "16", "--epochs", "2", "--batch-size", "4", "--seq-len", "20",
      "--eval-every", "4", "--lr", "0.01", "--quiet"]


def _bptt(*argv, kill: tuple[str, int] | None = None, cwd: Path) -> subprocess.CompletedProcess:
    kind, n = kill or ("none", 0)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(CRASHPOINT), kind, str(n), *map(str, argv)], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=env)


class Job:
    """A tiny training run, its uninterrupted result, and the command that reads its model."""

    def __init__(self, name: str, root: Path):
        self.name, self.root = name, root
        if name == "sentiment":
            texts, labels = negation_data(240, 0)
            rows = "".join(f"{t}\t{int(y == 'positive')}\n" for t, y in zip(texts, labels))
            (root / "train.tsv").write_text("sentence\tlabel\n" + rows, encoding="utf-8")
            self.train = ["train", "sentiment", "--train", "train.tsv", *SENTIMENT]
            self.use = lambda best: ["predict", "--model", best, "the movie is not good ."]
        else:
            (root / "text.txt").write_text(TEXT, encoding="utf-8")
            self.train = ["train", "lm", "--text", "text.txt", *LM]
            self.use = lambda best: ["generate", best, "--prime", "the ", "--length", "20", "--seed", "1"]
        done = _bptt(*self.train, "--out", "reference", cwd=root)
        assert done.returncode == 0, done.stderr
        self.reference = root / "reference"
        counted = _bptt(*self.train, "--out", "counted", kill=("count", 0), cwd=root)
        self.counts = json.loads(counted.stderr.strip().splitlines()[-1])

    def points(self, every: bool) -> list[tuple[str, int]]:
        """The kill points: every write (at most ``MAX_POINTS``, evenly spread; or a few), and
        moments through the run in milliseconds."""
        points = [(kind, n) for kind, total in self.counts.items() for n in range(1, total + 1)]
        if not every:
            points = [points[len(points) // 4], points[len(points) // 2], points[-2]]
        elif len(points) > MAX_POINTS:
            points = [points[i] for i in np.linspace(0, len(points) - 1, MAX_POINTS).round().astype(int)]
        moments = [("time", ms) for ms in (range(400, 2400, 150) if every else (900,))]
        return points + moments


def _epochs(path: Path) -> list[tuple]:
    """The epoch lines of metrics.jsonl, without the timings."""
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [tuple((k, v) for k, v in sorted(r.items()) if k not in ("elapsed_s", "tokens_per_s"))
            for r in lines if "event" not in r]


def _survive(job: Job, kill: tuple[str, int], out: str) -> str:
    """Kill a run at ``kill``, check what is left, carry on, compare with the reference; returns
    how it went on ("resume" or "restart")."""
    root = job.root
    killed = _bptt(*job.train, "--out", out, kill=kill, cwd=root)
    if kill[0] != "time":
        assert killed.returncode == -9, f"{kill} did not kill the run: {killed.stderr}"
    elif killed.returncode == 0:
        return "finished"
    assert "Traceback" not in killed.stderr
    run = root / out
    if (run / "best").exists():
        used = _bptt(*job.use(run / "best"), cwd=root)
        assert used.returncode == 0, f"after {kill}: best/ unusable: {used.stderr}"
    how = "resume" if (run / "checkpoint.safetensors").is_file() else "restart"
    again = _bptt(*job.train, "--out", out, *(["--resume", out] if how == "resume" else ["--overwrite"]), cwd=root)
    assert again.returncode == 0, f"after {kill}, {how}: {again.stderr}"
    assert leftovers(run) == [] and leftovers(run / "best") == [], f"after {kill}: leftovers"
    used = _bptt(*job.use(run / "best"), cwd=root)
    want = _bptt(*job.use(job.reference / "best"), cwd=root)
    assert used.returncode == 0 and used.stdout == want.stdout, f"after {kill}: {used.stderr}"
    a = safetensors.numpy.load_file(job.reference / "checkpoint.safetensors")
    b = safetensors.numpy.load_file(run / "checkpoint.safetensors")
    assert sorted(a) == sorted(b), f"after {kill}"
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=f"after {kill}, {how}: {name}")
    assert _epochs(run / "metrics.jsonl") == _epochs(job.reference / "metrics.jsonl"), f"after {kill}"
    return how


def _crash(job_name: str, tmp_path: Path, every: bool) -> dict:
    job = Job(job_name, tmp_path)
    tally = {"kills": 0, "resume": 0, "restart": 0, "finished": 0}
    for i, kill in enumerate(job.points(every)):
        how = _survive(job, kill, f"run{i}")
        tally["kills"] += how != "finished"
        tally[how] += 1
    return tally


@pytest.mark.parametrize("job", ["sentiment", "lm"])
def test_a_run_killed_at_a_few_points_resumes_exactly(tmp_path, job):
    tally = _crash(job, tmp_path, every=False)
    assert tally["kills"] >= 3


@pytest.mark.slow
@pytest.mark.parametrize("job", ["sentiment", "lm"])
def test_a_run_killed_at_every_write_resumes_exactly(tmp_path, job):
    tally = _crash(job, tmp_path, every=True)
    print(f"{job}: {tally}")
    assert tally["kills"] >= 20 and tally["resume"] and tally["restart"]
