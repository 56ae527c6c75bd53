"""``bptt explain`` on a long review with the shipped sst2 model: the batched prefixes with the
shared forward states (``bptt.explanation.prefix_probabilities``) against one run per prefix
(``prefix_probabilities_reference``, the code before issue 19).

    python bench/explain_speed.py                   # aclImdb/train/neg/10548_3.txt, 539 words
    python bench/explain_speed.py --threads 1 2 --repeats 3 --review PATH

For each BLAS thread count (``--threads``), each side runs ``--repeats`` times (taking turns,
after one warm-up of the fast side); the result is the median wall-clock and process CPU time
of each side, the other load on the machine during the runs, the recurrent FLOPs each side does
and the largest difference between their probabilities. Writes
``bench/results/explain_speed.{json,md}``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import numpy as np                               # noqa: E402
from threadpoolctl import threadpool_limits      # noqa: E402

from bptt.data.tokenize import tokenize          # noqa: E402
from bptt.explanation import prefix_probabilities, prefix_probabilities_reference   # noqa: E402
from bptt.jobs.sentiment import SentimentClassifier, resolve_model                 # noqa: E402

import measure                                   # noqa: E402
import report                                    # noqa: E402

DATA = Path(os.environ.get("BPTT_SHARED_DATA", REPO.parent / "shared" / "data"))
REVIEW = "imdb/aclImdb/train/neg/10548_3.txt"


def timed(fn) -> tuple[float, float]:
    t, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--review", default=str(DATA / REVIEW))
    ap.add_argument("--model", default="sst2")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    clf = SentimentClassifier.load(resolve_model(args.model))
    text = Path(args.review).read_text(encoding="utf-8")
    ids = clf.vocab_.encode(tokenize(text))
    ends = np.arange(1, len(ids) + 1)
    c = clf.model_.config
    fast = prefix_probabilities(clf, ids, ends)                         # warm-up, and the answer
    worst = float(np.abs(fast - prefix_probabilities_reference(clf, ids, ends)).max())
    sides = {"batched": lambda: prefix_probabilities(clf, ids, ends),
             "per prefix": lambda: prefix_probabilities_reference(clf, ids, ends)}
    T, D, G = len(ids), 2 if c.bidirectional else 1, 4 if c.mode == "lstm" else 3 if c.mode == "gru" else 1
    step = 2 * G * c.hidden_size * (c.hidden_size + c.embedding_dim)   # one direction, one token step
    steps = {"batched": T + (T * (T + 1) // 2 if D == 2 else 0), "per prefix": D * T * (T + 1) // 2}
    rows = []
    for n in args.threads:
        times = {name: [] for name in sides}
        with threadpool_limits(n), measure.OtherLoad() as load:
            for _ in range(args.repeats):
                for name, fn in sides.items():
                    times[name].append(timed(fn))
        for name, ts in times.items():
            rows.append({"side": name, "threads": n, "wall_s": statistics.median(w for w, _ in ts),
                         "cpu_s": statistics.median(c for _, c in ts), "other_load_cpus": load.cpus,
                         "recurrent_gflop": steps[name] * step / 1e9 * c.num_layers})
            print(rows[-1], flush=True)
    out = {"command": " ".join(["python", "bench/explain_speed.py", *sys.argv[1:]]),
           "machine": report.machine_info(REPO), "review": args.review, "words": len(text.split()),
           "tokens": T, "model": args.model, "repeats": args.repeats, "loadavg": os.getloadavg(),
           "max_prob_difference": worst, "rows": rows}
    lines = [f"Run {out['machine']['date_utc']} on {out['machine']['cpu']}; bptt at "
             f"`{out['machine']['git_commit'][:10]}`. Every prefix of one review of {out['words']} words "
             f"({T} tokens), model {args.model}; median of {args.repeats} runs per side, the sides taking "
             f"turns. Other load: the CPUs other processes kept busy meanwhile (load average at the end "
             f"{os.getloadavg()[0]:.1f}).",
             "", "| side | BLAS threads | wall s | CPU s | recurrent GFLOP | other load |",
             "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['side']} | {r['threads']} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | "
              f"{r['recurrent_gflop']:.0f} | {r['other_load_cpus']:.2f} |" for r in rows]
    lines += ["", f"Largest difference between the two sides' probabilities: {worst:.1e}."]
    stem = REPO / "bench" / "results" / "explain_speed"
    report.write_atomic(stem.with_suffix(".json"), json.dumps(out, indent=1) + "\n")
    report.write_atomic(stem.with_suffix(".md"), "# `bptt explain` on a long review\n\n"
                        f"Generated by `{out['command']}`.\n\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
