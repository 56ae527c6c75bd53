"""The shipped sentiment models in bptt and in ONNX Runtime: single-text latency and batch-64
throughput, so that a user can choose with numbers.

    python bench/export_latency.py                      # 1 and 2 threads, 5 repeats
    python bench/export_latency.py --threads 1 --repeats 9

For each shipped model (sst2, imdb): export it with ``bptt.export.export`` to a temporary
ONNX file, then time, text in -> probabilities out, on three workloads: one SST-2 dev sentence,
one IMDB review of median length, and a batch of 64 IMDB reviews (mixed lengths). Sides:
bptt's ``predict_proba`` on the compiled path (``numba``, when installed) and on the NumPy path
(``numpy``, as ``BPTT_BACKEND=numpy`` chooses), and ONNX Runtime (``ort``: bptt's tokenizer and
``pad_batch``, then ``InferenceSession.run``), each side's repeats taking turns
(``measure.interleaved``); at each thread count BLAS (bptt) and ORT's intra-op pool have that
many threads. Medians of wall-clock time; the largest probability difference between the sides
is recorded too. Writes ``bench/results/export_latency.{json,md}``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import numpy as np                               # noqa: E402
import onnxruntime as ort                        # noqa: E402
from threadpoolctl import threadpool_limits      # noqa: E402

from bptt import export                          # noqa: E402
from bptt.backend import numba_installed, use_backend   # noqa: E402
from bptt.data.batching import encode_texts, pad_batch  # noqa: E402
from bptt.jobs.sentiment import SHIPPED, SentimentClassifier   # noqa: E402

import measure                                   # noqa: E402
import report                                    # noqa: E402

DATA = Path(os.environ.get("BPTT_SHARED_DATA", REPO.parent / "shared" / "data"))


def workloads() -> dict[str, list[str]]:
    """{name: texts}: an SST-2 dev sentence, the median-length review of the first 200 IMDB
    training reviews, and 64 reviews (pos/ and neg/ alternating, name order)."""
    dev = (DATA / "sst2" / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:]
    sentence = dev[0].rsplit("\t", 1)[0]
    reviews = {label: [p.read_text(encoding="utf-8") for p in sorted((DATA / "imdb" / "aclImdb" / "train" / label)
                                                                     .iterdir())[:100]]
               for label in ("pos", "neg")}
    mixed = [r for pair in zip(reviews["pos"], reviews["neg"]) for r in pair]
    median = sorted(mixed, key=lambda r: len(r.split()))[len(mixed) // 2]
    return {f"1 sentence ({len(sentence.split())} words)": [sentence],
            f"1 review ({len(median.split())} words)": [median],
            f"64 reviews ({sum(len(r.split()) for r in mixed[:64]) // 64} words on average)": mixed[:64]}


def session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_ort(sess: ort.InferenceSession, clf, texts: list[str]) -> np.ndarray:
    ids, lengths = pad_batch(encode_texts(texts, clf.vocab_))                # (T, B), (B,)
    return sess.run(["probabilities"], {"ids": np.ascontiguousarray(ids.T), "lengths": lengths})[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--paths", nargs="+", default=["numba", "numpy"] if numba_installed() else ["numpy"],
                    choices=["numba", "numpy", "reference"])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    out = {"command": " ".join(["python", "bench/export_latency.py", *sys.argv[1:]]),
           "machine": {**report.machine_info(REPO), "onnxruntime": ort.__version__}, "rows": []}
    sides_names = [*args.paths, "ort"]
    tmp = tempfile.TemporaryDirectory()
    models = {}
    for name in SHIPPED:
        clf = SentimentClassifier.pretrained(name)
        c = clf.model_.config
        label = (f"{name}: {len(clf.members_)} x {'bi' if c.bidirectional else ''}{c.mode.upper()} "
                 f"H{c.hidden_size}, {c.pooling}")
        models[label] = clf, export.export(name, Path(tmp.name) / f"{name}.onnx")[0]
    works = workloads()
    for n in args.threads:                          # every 1-thread row first: a stopped run keeps them
        for label, (clf, path) in models.items():
            sess = session(path, n)
            for work, texts in works.items():
                sides = {p: (lambda p=p: _bptt(clf, texts, p)) for p in args.paths}
                sides["ort"] = lambda: run_ort(sess, clf, texts)
                worst = max(float(np.abs(run_ort(sess, clf, texts) - _bptt(clf, texts, p)).max())
                            for p in args.paths)
                with threadpool_limits(n), measure.OtherLoad() as load:
                    t = measure.interleaved(sides, lambda: None, args.repeats, warmup=1)
                row = {"model": label, "work": work, "texts": len(texts), "threads": n,
                       "other_load_cpus": load.cpus, "loadavg": os.getloadavg(),
                       "max_prob_difference": worst,
                       "ms": {p: 1e3 * r["median_s"] for p, r in t.items()},
                       "cpu_ms": {p: 1e3 * r["cpu_median_s"] for p, r in t.items()}, "sides": t}
                out["rows"].append(row)
                print(f"{label}, {work}, {n} thr: " + ", ".join(f"{p} {ms:.2f} ms" for p, ms in row["ms"].items())
                      + f" (other load {load.cpus:.2f}, max diff {worst:.1e})", flush=True)
                write(out, sides_names, args.repeats)               # after every row: a stopped run keeps its rows
    print(f"wrote {STEM.with_suffix('.json')} and {STEM.with_suffix('.md')}")


STEM = REPO / "bench" / "results" / "export_latency"


def write(out: dict, sides: list[str], repeats: int) -> None:
    report.write_atomic(STEM.with_suffix(".json"), json.dumps(out, indent=1) + "\n")
    report.write_atomic(STEM.with_suffix(".md"), markdown(out, sides, repeats))


def _bptt(clf, texts, path):
    with use_backend(path):
        return clf.predict_proba(texts)


def markdown(out: dict, sides: list[str], repeats: int) -> str:
    m = out["machine"]
    lines = ["# The shipped models in bptt and in ONNX Runtime", "",
             f"Generated by `{out['command']}`: {m['date_utc']} on {m['cpu']} ({m['usable_cpus']} usable "
             f"CPUs), bptt at `{m['git_commit'][:10]}`, ONNX Runtime {m['onnxruntime']}. Text in, "
             f"probabilities out (tokenizing included on every side); median wall clock of {repeats} "
             f"repeats per side, the sides taking turns. `other load`: CPUs other processes kept busy "
             f"meanwhile (above 0.1, other work shared the CPUs: read the ratios, not the absolute "
             f"times). Batch rows also give texts per second.", "",
             "| model | work | threads | " + " | ".join(f"{s} ms" for s in sides)
             + " | " + " | ".join(f"{s} ÷ ort" for s in sides[:-1]) + " | other load | max diff |",
             "|---|---|---:|" + "---:|" * (2 * len(sides) - 1) + "---:|---:|"]
    for r in out["rows"]:
        ms = r["ms"]
        cells = [f"{ms[s]:.2f}" + (f" ({1e3 * r['texts'] / ms[s]:.0f}/s)" if r["texts"] > 1 else "")
                 for s in sides]
        lines.append(f"| {r['model']} | {r['work']} | {r['threads']} | " + " | ".join(cells) + " | "
                     + " | ".join(f"**{ms[s] / ms['ort']:.2f}**" for s in sides[:-1])
                     + f" | {r['other_load_cpus']:.2f} | {r['max_prob_difference']:.1e} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
