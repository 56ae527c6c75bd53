"""Speed of bptt's paths against PyTorch 2.13 (CPU) on the same classifier, weights and data.

    python bench/speed.py                       # the full matrix
    python bench/speed.py --quick               # smoke run: 2 repeats, 1 thread, two configs
    python bench/speed.py --configs b1_t50 sst2 --threads 1 --repeats 5 --paths numba numpy
    python bench/speed.py --baseline ../main/src   # also time another checkout's bptt (its default path)

Model (both sides): embedding (vocab 20,000, padding id 0) -> RNN (tanh) / LSTM / GRU -> state at
each sequence's last real step -> dense (2 classes) -> softmax cross-entropy; float32. minGRU and
minLSTM have no torch module: their rows time bptt's minGRU / minLSTM classifier against torch's
nn.GRU / nn.LSTM one of the same shapes (``Beside``; no parity guard: different functions), to
put them side by side with the GRU / LSTM rows.
train = forward + backward + SGD (lr 0.1, no momentum); infer = forward only (torch under
``torch.inference_mode()``). Threads are set for both: ``threadpool_limits(n)`` for NumPy's BLAS
and ``torch.set_num_threads(n)``. Every bptt path (``--paths``: the compiled numba path, the fast
NumPy path, the reference) and, with ``--baseline``, another checkout's bptt are timed in turn
with torch, repeat by repeat.

Before any timing, a guard runs one step of each config and cell on both sides from the same
weights, on every path, and stops the run (``ParityError``) unless logits and loss agree to 1e-4
and every gradient to 1e-3 (max-normalised): a speed comparison of two different models means
nothing.

Outputs, each written atomically: ``bench/results/speed.json`` (every raw repeat, wall and CPU
time, medians, machine facts and load) and ``bench/results/speed.md`` (the tables). A run of the
full default matrix also rewrites the generated block of ``docs/performance.md``; ``--quick`` and
partial runs write ``speed-quick.*`` / ``speed-partial.*`` instead and leave the docs alone
(unless ``--out`` or ``--update-docs`` say otherwise).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))          # measure this checkout's bptt, not an installed one

import numpy as np                               # noqa: E402
import torch                                     # noqa: E402
from threadpoolctl import threadpool_limits      # noqa: E402

import bptt                                      # noqa: E402
from bptt.backend import get_backend, numba_installed, use_backend   # noqa: E402
from bptt.models import Classifier, ClassifierConfig   # noqa: E402
from bptt.optim import SGD                       # noqa: E402

import baseline_tree                             # noqa: E402
import measure                                   # noqa: E402
import report                                    # noqa: E402
from twin import LR, Pair                        # noqa: E402

VOCAB = 20_000
CELLS = ("rnn_tanh", "lstm", "gru", "mingru", "minlstm")
STAND_IN = {"mingru": "gru", "minlstm": "lstm"}  # torch's side for a cell torch does not have
PATHS = ("numba", "numpy", "reference")
SST2 = REPO.parent / "shared" / "data" / "sst2" / "dev.tsv"

# name: (B, T, E, H); T None = the longest of B SST-2 sentence lengths drawn with the seed
CONFIGS: dict[str, tuple[int, int | None, int, int]] = {
    "b32_t50": (32, 50, 64, 128),
    "b64_t100": (64, 100, 128, 256),
    "b1_t50": (1, 50, 64, 128),
    "b256_t20": (256, 20, 32, 64),
    "sst2": (64, None, 128, 256),
}
QUICK_CONFIGS = ("b32_t50", "sst2")
LATENCY = {"cell": "lstm", "B": 1, "T": 20, "E": 128, "H": 256}
DATA_SEED, WEIGHT_SEED = 1234, 0
CONTENDED = report.CONTENDED      # margin of CPUs that other processes may take (see free_cpus_needed)


def sst2_lengths(B: int, seed: int, path: Path = SST2) -> np.ndarray:
    """Token counts of B sentences drawn without replacement from SST-2 dev (sentence\\tlabel)."""
    if not path.exists():
        raise SystemExit(f"{path}: SST-2 dev file not found (expected ../shared/data/sst2/dev.tsv "
                         f"relative to the repository root {REPO})")
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0].split("\t") != ["sentence", "label"]:
        raise SystemExit(f"{path}:1: expected the header 'sentence\\tlabel', got {lines[:1]!r}")
    lengths = []
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        sentence, sep, _ = line.rpartition("\t")          # split on the LAST tab
        if not sep:
            raise SystemExit(f"{path}:{n}: no tab separating sentence and label")
        lengths.append(len(sentence.split()))
    lengths = np.array(lengths)
    lengths = lengths[lengths > 0]
    return np.random.default_rng(seed).choice(lengths, size=B, replace=False).astype(np.int64)


def make_batch(name: str, seed: int) -> dict:
    """Token ids (T, B) in 1..V-1 (0 after each sequence's end), labels (B,), lengths or None."""
    B, T, E, H = CONFIGS[name]
    rng = np.random.default_rng(seed)
    lengths = None
    if T is None:
        lengths = sst2_lengths(B, seed)
        T = int(lengths.max())
    ids = rng.integers(1, VOCAB, size=(T, B), dtype=np.int64)
    if lengths is not None:
        ids[np.arange(T)[:, None] >= lengths[None, :]] = 0
    labels = rng.integers(0, 2, size=B, dtype=np.int64)
    tokens = int(lengths.sum()) if lengths is not None else B * T
    label = (f"SST-2 B{B} T≤{T} E{E} H{H}" if lengths is not None else f"B{B} T{T} E{E} H{H}")
    return {"B": B, "T": T, "E": E, "H": H, "ids": ids, "labels": labels, "lengths": lengths,
            "tokens": tokens, "label": label,
            "rows_touched": int(np.unique(ids[ids != 0]).size)}


_GAVE_UP_WAITING = False


def free_cpus_needed(threads: int) -> float:
    """Other processes may keep this many CPUs busy before a run on ``threads`` threads is
    contended: the CPUs it does not use, plus a margin (``CONTENDED``)."""
    return report.usable_cpus() - threads + CONTENDED


def wait_for_quiet(max_wait_s: float, threads: int) -> None:
    """Wait up to ``max_wait_s`` until other processes leave ``threads`` CPUs free.

    Once a wait runs out, later calls return at once: the machine is busy for good, and the rows
    measured now are flagged as contended instead of the run taking hours.
    """
    global _GAVE_UP_WAITING
    deadline = time.monotonic() + max_wait_s
    while max_wait_s > 0 and not _GAVE_UP_WAITING:
        with measure.OtherLoad() as load:
            time.sleep(0.5)
        if not load.cpus >= free_cpus_needed(threads):
            return
        if time.monotonic() > deadline:
            _GAVE_UP_WAITING = True
            print(f"  gave up waiting after {max_wait_s:.0f} s; later rows will not wait", flush=True)
            return
        print(f"  waiting: other processes use {load.cpus:.2f} CPUs", flush=True)
        time.sleep(5)


def measured(fn, quiet_wait: float, threads: int, attempts: int = 3):
    """``fn()`` with the other processes' load during it; with ``quiet_wait`` > 0, wait for a
    quiet machine first and measure again (up to ``attempts`` times) if it got busy meanwhile.
    Returns (result, OtherLoad, attempts used)."""
    for attempt in range(1, attempts + 1):
        wait_for_quiet(quiet_wait, threads)
        with measure.OtherLoad() as load:
            result = fn()
        if quiet_wait <= 0 or _GAVE_UP_WAITING or not load.cpus >= free_cpus_needed(threads):
            break
        print(f"  contended ({load.cpus:.2f} CPUs busy elsewhere): measuring again", flush=True)
    return result, load, attempt


def set_threads(n: int) -> threadpool_limits:
    torch.set_num_threads(n)
    return threadpool_limits(limits=n)


def on_path(path: str, fn):
    """``fn`` run with bptt's backend ``path``: ``fn`` itself on the default path (as a user runs
    it, and as the baseline tree runs: no switching in the timed call), else inside
    ``use_backend`` (about 2 us a call)."""
    if path == get_backend():
        return fn

    def run():
        with use_backend(path):
            return fn()
    return run


class Beside(Pair):
    """bptt's classifier with a cell torch does not have (``config``), timed beside torch's twin
    of the ``stand_in`` config (nn.GRU for minGRU, nn.LSTM for minLSTM): each side trains its own
    weights; ``restore`` puts both back."""

    def __init__(self, config: ClassifierConfig, stand_in: ClassifierConfig, ids, lengths, labels,
                 seed: int = 0):
        super().__init__(stand_in, ids, lengths, labels, seed)
        self.config = config
        self.model = Classifier(config, np.random.default_rng(seed))
        self.initial = {k: v.copy() for k, v in self.model.params.items()}
        self.opt = SGD(self.model.params, lr=LR)


def make_sides(pair: Pair, base, mode: str, paths) -> dict:
    """The timed operations of one row: torch, then each bptt path, then the baseline tree."""
    train = mode == "train"
    sides = {"torch": pair.torch_train if train else pair.torch_infer}
    for path in paths:
        sides[path] = on_path(path, pair.bptt_train if train else pair.bptt_infer)
    if base is not None:
        sides["base"] = base.train if train else base.infer
    return sides


def run(args: argparse.Namespace) -> dict:
    out: dict = {"command": " ".join(["python", "bench/speed.py", *sys.argv[1:]]),
                 "machine": report.machine_info(REPO), "bptt_path": str(Path(bptt.__file__).parent),
                 "settings": {"repeats": args.repeats, "warmup": args.warmup, "target_s": args.target_s,
                              "threads": args.threads, "lr": LR, "vocab": VOCAB, "dtype": "float32",
                              "data_seed": DATA_SEED, "weight_seed": WEIGHT_SEED,
                              "quiet_wait_s": args.quiet_wait, "paths": list(args.paths),
                              "baseline": str(args.baseline) if args.baseline else None},
                 "peak_flops": {}, "configs": {}, "parity": {}, "memory": {}, "results": [],
                 "latency": [], "latency_config": LATENCY}
    base_module = baseline_tree.import_tree(args.baseline) if args.baseline else None
    if base_module is not None:
        out["settings"]["baseline_commit"] = report.git_commit(Path(args.baseline))
    t_start = time.perf_counter()
    for n in args.threads:
        with set_threads(n):
            p, load, _ = measured(lambda: measure.gemm_peak(reps=3 if args.quick else 5),
                                  args.quiet_wait, n)
        out["peak_flops"][str(n)] = p
        p["other_load_cpus"], p["threads"] = load.cpus, n
        print(f"GEMM peak, {n} thread(s): numpy {p['numpy'] / 1e9:.1f} GFLOP/s, "
              f"torch {p['torch'] / 1e9:.1f} GFLOP/s, other load {load.cpus:.2f} CPUs", flush=True)

    for k, name in enumerate(args.configs):
        batch = make_batch(name, DATA_SEED + k)
        out["configs"][name] = {key: batch[key] for key in ("B", "T", "E", "H", "tokens", "label",
                                                               "rows_touched")}
        if batch["lengths"] is not None:
            out["configs"][name]["lengths"] = batch["lengths"].tolist()
        for cell in args.cells:
            cfg = ClassifierConfig(VOCAB, batch["E"], batch["H"], 2, cell, dtype="float32")
            if cell in STAND_IN:
                stand_in = ClassifierConfig(VOCAB, batch["E"], batch["H"], 2, STAND_IN[cell], dtype="float32")
                pair = Beside(cfg, stand_in, batch["ids"], batch["lengths"], batch["labels"], seed=WEIGHT_SEED)
            else:
                pair = Pair(cfg, batch["ids"], batch["lengths"], batch["labels"], seed=WEIGHT_SEED)
            base = None if base_module is None else baseline_tree.BaselineModel(
                base_module, cfg.to_dict(), pair.initial, batch["ids"], batch["lengths"],
                batch["labels"], LR)

            def restore():
                pair.restore()
                if base is not None:
                    base.restore()

            with set_threads(args.threads[0]):
                if cell not in STAND_IN:
                    parity = {path: on_path(path, pair.check_parity)() for path in args.paths}  # raises
                    out["parity"].setdefault(name, {})[cell] = parity
                out["memory"].setdefault(name, {})[cell] = memory(pair, batch["tokens"], args.paths)
            if cell in STAND_IN:
                print(f"[{time.perf_counter() - t_start:6.0f}s] {batch['label']} {cell}: torch side is "
                      f"nn.{STAND_IN[cell].upper()} (no parity guard)", flush=True)
            else:
                worst = max(v["max_grad"] for v in parity.values())
                print(f"[{time.perf_counter() - t_start:6.0f}s] {batch['label']} {cell}: parity ok on "
                      f"{', '.join(args.paths)} (worst gradient error {worst:.1e}, torch "
                      f"{next(iter(parity.values()))['torch_rnn_backward']})", flush=True)
            fwd = measure.forward_flops(cell, batch["tokens"], batch["B"], batch["E"], batch["H"])
            for n in args.threads:
                with set_threads(n):
                    if cell == args.cells[0]:
                        wait_for_quiet(args.quiet_wait, n)
                        out["configs"][name].setdefault("torch_dense_embedding_ms", {})[str(n)] = (
                            1e3 * measure.dense_embedding_step_s(VOCAB, batch["E"], batch["ids"], LR))
                    for mode in ("train", "infer"):
                        sides = make_sides(pair, base, mode, args.paths)
                        load_before = os.getloadavg()
                        t, load, attempts = measured(
                            lambda: measure.interleaved(sides, restore, args.repeats, args.warmup,
                                                        args.target_s), args.quiet_wait, n)
                        flops = fwd * (3 if mode == "train" else 1)
                        row = {"config": name, "cell": cell, "threads": n, "mode": mode,
                               "torch_cell": STAND_IN.get(cell, cell),
                               "tokens": batch["tokens"], "flops": flops,
                               "other_load_cpus": load.cpus, "attempts": attempts,
                               "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
                               "sides": {}, "ratio": {}, "cpu_ratio": {}}
                        for side, r in t.items():
                            row["sides"][side] = {**r, "tok_per_s": batch["tokens"] / r["median_s"],
                                                  "pct_peak": 100 * flops / r["median_s"]
                                                  / out["peak_flops"][str(n)]["numpy"]}
                        for side in t:
                            if side != "torch":
                                row["ratio"][side] = t["torch"]["median_s"] / t[side]["median_s"]
                                row["cpu_ratio"][side] = t["torch"]["cpu_median_s"] / t[side]["cpu_median_s"]
                        out["results"].append(row)
                        print(f"[{time.perf_counter() - t_start:6.0f}s]   {n} thr {mode}: torch "
                              f"{t['torch']['median_s'] * 1e3:8.2f} ms; "
                              + ", ".join(f"{side} {t[side]['median_s'] * 1e3:.2f} ms "
                                          f"({row['ratio'][side]:.2f}x)" for side in row["ratio"])
                              + f"; other load {load.cpus:.2f} CPUs", flush=True)
            restore()

    if not args.no_latency:
        out["latency"] = latency(args, base_module)
    out["elapsed_s"] = time.perf_counter() - t_start
    return out


def memory(pair: Pair, tokens: int, paths) -> dict:
    """Bytes kept for backward by each side, and each path's traced peak of one training step."""
    params = list(pair.model.params.values())
    out = {}
    for path in paths:
        with use_backend(path):
            pair.restore()
            _, cache = pair.model.forward(pair.ids, pair.lengths, training=True)
            stored = measure.cache_bytes(cache, params)
            del cache
            peak = measure.traced_peak(pair.bptt_train, pair.restore)
        out[path] = {"stored_bytes": stored, "stored_per_token": stored / tokens,
                     "traced_peak_bytes": peak}
    saved = measure.torch_saved_bytes(lambda: pair.twin(pair.t_ids, pair.t_lengths),
                                      list(pair.twin.parameters()))
    pair.restore()
    out["torch"] = {"stored_bytes": saved, "stored_per_token": saved / tokens}
    return out


def latency(args: argparse.Namespace, base_module) -> list[dict]:
    """Milliseconds to classify one review: B=1, T=20, LSTM E=128 H=256, inference."""
    c = LATENCY
    rng = np.random.default_rng(DATA_SEED - 1)
    ids = rng.integers(1, VOCAB, size=(c["T"], c["B"]), dtype=np.int64)
    labels = rng.integers(0, 2, size=c["B"], dtype=np.int64)
    cfg = ClassifierConfig(VOCAB, c["E"], c["H"], 2, c["cell"], dtype="float32")
    pair = Pair(cfg, ids, None, labels, seed=WEIGHT_SEED)
    base = None if base_module is None else baseline_tree.BaselineModel(
        base_module, cfg.to_dict(), pair.initial, ids, None, labels, LR)
    rows = []
    for n in args.threads:
        with set_threads(n):
            for path in args.paths:
                on_path(path, pair.check_parity)()
            t, load, _ = measured(
                lambda: measure.interleaved(make_sides(pair, base, "infer", args.paths), pair.restore,
                                            max(args.repeats, 5), args.warmup, args.target_s),
                args.quiet_wait, n)
        row = {"threads": n, "ms": {side: 1e3 * r["median_s"] for side, r in t.items()},
               "sides": t, "other_load_cpus": load.cpus}
        row["ratio"] = {side: row["ms"]["torch"] / ms for side, ms in row["ms"].items() if side != "torch"}
        rows.append(row)
        print(f"latency, {n} thr: " + ", ".join(f"{side} {ms:.3f} ms" for side, ms in row["ms"].items()),
              flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=None, help="timed repeats per side (default 7)")
    ap.add_argument("--threads", type=int, nargs="+", default=None, help="thread counts (default 1 2)")
    ap.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=None,
                    help=f"configs to run (default all: {' '.join(CONFIGS)})")
    ap.add_argument("--cells", nargs="+", choices=CELLS, default=list(CELLS))
    ap.add_argument("--paths", nargs="+", choices=PATHS, default=None,
                    help="bptt paths to time (default: numba (if installed), numpy, reference)")
    ap.add_argument("--baseline", type=Path, default=None, metavar="SRC",
                    help="also time the bptt package in SRC/bptt (e.g. ../main/src), in turn with "
                         "the others; a partial run")
    ap.add_argument("--quick", action="store_true",
                    help=f"smoke run: 2 repeats, 1 thread, configs {' '.join(QUICK_CONFIGS)}")
    ap.add_argument("--warmup", type=int, default=2, help="untimed calls per side before timing")
    ap.add_argument("--target-s", type=float, default=0.1,
                    help="seconds one repeat should last (sets the calls per repeat)")
    ap.add_argument("--quiet-wait", type=float, default=0.0, metavar="S",
                    help="before each measurement wait up to S seconds until other processes "
                         "leave the CPUs it needs free, and measure a row again if they took "
                         "them meanwhile (default 0: do not wait)")
    ap.add_argument("--no-latency", action="store_true", help="skip the single-review latency")
    ap.add_argument("--out", type=Path, default=None,
                    help="output path without suffix (default bench/results/speed[-quick|-partial])")
    ap.add_argument("--update-docs", action="store_true",
                    help="rewrite the generated block of docs/performance.md even for a partial run")
    args = ap.parse_args(argv)
    default_paths = [p for p in PATHS if p != "numba" or numba_installed()]
    full = (not args.quick and args.configs in (None, list(CONFIGS)) and args.threads in (None, [1, 2])
            and args.cells == list(CELLS) and args.repeats in (None, 7) and not args.no_latency
            and args.paths in (None, default_paths))
    args.paths = args.paths or default_paths
    if args.quick:
        args.repeats = args.repeats or 2
        args.threads = args.threads or [1]
        args.configs = args.configs or list(QUICK_CONFIGS)
    args.repeats = args.repeats or 7
    args.threads = args.threads or [1, 2]
    args.configs = args.configs or list(CONFIGS)
    if args.repeats < 1 or any(n < 1 for n in args.threads):
        ap.error(f"--repeats and --threads must be >= 1, got {args.repeats} and {args.threads}")
    suffix = "" if full else ("-quick" if args.quick else "-partial")
    stem = args.out or REPO / "bench" / "results" / f"speed{suffix}"

    result = run(args)
    table = report.markdown(result)
    report.write_atomic(stem.with_suffix(".json"), json.dumps(result, indent=1) + "\n")
    report.write_atomic(stem.with_suffix(".md"), f"# bptt vs PyTorch: speed\n\nGenerated by "
                        f"`{result['command']}`.\n\n" + table)
    print(f"wrote {stem.with_suffix('.json')} and {stem.with_suffix('.md')}")
    if full or args.update_docs:
        doc = REPO / "docs" / "performance.md"
        if report.update_doc(doc, table):
            print(f"updated the generated block of {doc}")
        else:
            print(f"{doc}: no generated block markers, not updated", file=sys.stderr)


if __name__ == "__main__":
    main()
