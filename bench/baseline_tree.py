"""Another checkout's bptt (e.g. main's) imported beside this one, for side-by-side timing.

``import_tree(src)`` copies ``src/bptt`` into a temporary directory as the package ``bptt_base``
(its absolute ``bptt`` imports rewritten), imports it and returns the module; the two versions
then run in one process, interleaved like every other side of the benchmark.
"""
from __future__ import annotations

import importlib
import re
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

NAME = "bptt_base"


def import_tree(src: Path):
    """The bptt package below ``src`` (a ``src/`` directory holding ``bptt/``) as ``bptt_base``."""
    package = Path(src) / "bptt"
    if not (package / "__init__.py").exists():
        raise SystemExit(f"--baseline {src}: expected a src/ directory with bptt/__init__.py in it")
    tmp = Path(tempfile.mkdtemp(prefix="bptt-baseline-"))
    shutil.copytree(package, tmp / NAME, ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    for f in (tmp / NAME).rglob("*.py"):
        text = f.read_text(encoding="utf-8")
        f.write_text(re.sub(r"\b(from|import) bptt\b", rf"\1 {NAME}", text), encoding="utf-8")
    sys.path.insert(0, str(tmp))
    return importlib.import_module(NAME)


class BaselineModel:
    """The baseline tree's Classifier with given weights and its own SGD, and the two timed
    operations (the same as ``twin.Pair.bptt_train`` / ``bptt_infer``)."""

    def __init__(self, module, config: dict, params: dict[str, np.ndarray], ids, lengths, labels, lr):
        models = importlib.import_module(f"{NAME}.models")
        optim = importlib.import_module(f"{NAME}.optim")
        self.model = models.Classifier(models.ClassifierConfig(**config), np.random.default_rng(0))
        if set(self.model.params) != set(params):
            raise RuntimeError(f"baseline parameter names differ: {sorted(self.model.params)}")
        self.initial = params
        self.restore()
        self.opt = optim.SGD(self.model.params, lr=lr)
        self.ids, self.lengths, self.labels = ids, lengths, labels
        batch = getattr(models, "ClassifierBatch", None)     # the model contract of issue 10
        self.batch = (ids, lengths, labels) if batch is None else (batch(ids, lengths, labels),)

    def train(self):
        result = self.model.loss_and_grads(*self.batch)
        self.opt.step(result[1])                        # (loss, grads, ...) in every version
        return result[0]

    def infer(self):
        return self.model.forward(self.ids, self.lengths, training=False)[0]

    def restore(self) -> None:
        for name, p in self.model.params.items():
            np.copyto(p, self.initial[name])
