"""What the compiled path (``pip install 'bptt[fast]'``) costs and how exact its float32 tanh is.

    python bench/fast_path.py                  # everything, ~3 minutes
    python bench/fast_path.py --skip-exhaustive

Measures, and writes to ``bench/results/fast_path.{json,md}``:

- the float32 tanh and sigmoid of ``bptt.cells.numba_common`` against float64 ``math.tanh`` on
  **every** finite float32 input (2^32 - 2^24 - 2 values): maximum absolute error and maximum
  error in units of the last place of the float32 result; NumPy's float32 ``np.tanh`` the same
  way, for comparison; and nanoseconds per element of each on a (64, 1024) block;
- install size of the extra: the files of numba, llvmlite and threadpoolctl as their installed
  metadata lists them (MiB);
- import time in a fresh interpreter: ``import bptt``, and ``bptt.cells.numba_path`` (numba
  itself and the BLAS binding) on top of it; median of 5 processes;
- compile time: in a fresh copy of ``src/bptt`` (so nothing is cached), the first forward and
  backward of each cell in float32, which compiles its kernels; then the same in a second
  process, which loads them from the disk cache.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import numpy as np                               # noqa: E402
from numba import njit, prange                           # noqa: E402

from bptt.cells.numba_common import sigmoid, tanh   # noqa: E402

import report                                    # noqa: E402


@njit(cache=False, error_model="numpy")
def _errors(lo, hi, which):
    """Max |f32(x) - f(x)| and max error in float32 ulps of f(x), over float32 bit patterns
    lo..hi-1 (non-finite skipped); which: 0 tanh, 1 sigmoid."""
    worst_abs, worst_ulp, at_abs, at_ulp = 0.0, 0.0, 0.0, 0.0
    bits = np.empty(1, dtype=np.uint32)
    view = bits.view(np.float32)
    for i in range(lo, hi):
        bits[0] = i
        x = view[0]
        if not math.isfinite(x):
            continue
        if which == 0:
            got, want = np.float64(tanh(x)), np.tanh(np.float64(x))
        else:
            got, want = np.float64(sigmoid(x)), 0.5 * np.tanh(0.5 * np.float64(x)) + 0.5
        err = abs(got - want)
        ulp = math.ldexp(1.0, max(math.frexp(abs(want))[1] - 24, -149))   # float32 ulp at want
        if err > worst_abs:
            worst_abs, at_abs = err, x
        if err / ulp > worst_ulp:
            worst_ulp, at_ulp = err / ulp, x
    return worst_abs, at_abs, worst_ulp, at_ulp


@njit(parallel=True, cache=False)
def _errors_all(which, chunk):
    n = 2**32 // chunk
    out = np.zeros((n, 4))
    for c in prange(n):
        out[c, 0], out[c, 1], out[c, 2], out[c, 3] = _errors(c * chunk, (c + 1) * chunk, which)
    return out


def exhaustive(which: int) -> dict:
    r = _errors_all(which, 2**24)
    i, j = int(np.argmax(r[:, 0])), int(np.argmax(r[:, 2]))
    return {"max_abs": r[i, 0], "at_abs": float(r[i, 1]), "max_ulp": r[j, 2], "at_ulp": float(r[j, 3])}


def numpy_tanh_exhaustive() -> dict:
    worst_abs = worst_ulp = 0.0
    for lo in range(0, 2**32, 2**24):
        x = np.arange(lo, lo + 2**24, dtype=np.uint64).astype(np.uint32).view(np.float32)
        x = x[np.isfinite(x)]
        want = np.tanh(x.astype(np.float64))
        err = np.abs(np.tanh(x).astype(np.float64) - want)
        ulp = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
        ulp[ulp == 0] = 1.4e-45
        worst_abs = max(worst_abs, float(err.max()))
        worst_ulp = max(worst_ulp, float((err / ulp).max()))
    return {"max_abs": worst_abs, "max_ulp": worst_ulp}


@njit(cache=False, error_model="numpy")
def _apply_tanh(a, out):
    for i in range(a.shape[0]):
        row, o = a[i], out[i]
        for j in range(row.shape[0]):
            o[j] = tanh(row[j])


def ns_per_element() -> dict:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((64, 1024)).astype(np.float32) * 3
    out = np.empty_like(a)
    _apply_tanh(a, out)

    def t(f):
        times = []
        for _ in range(9):
            t0 = time.process_time()
            for _ in range(200):
                f()
            times.append((time.process_time() - t0) / 200 / a.size * 1e9)
        return statistics.median(times)
    return {"rational_numba": t(lambda: _apply_tanh(a, out)), "np_tanh": t(lambda: np.tanh(a, out=out))}


def install_mib() -> dict:
    out = {}
    for dist in ("numba", "llvmlite", "threadpoolctl"):
        try:
            d = importlib.metadata.distribution(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
        size = 0
        for f in d.files or ():
            p = Path(d.locate_file(f))
            if p.is_file():
                size += p.stat().st_size
        out[dist] = {"version": d.version, "mib": size / 2**20}
    out["total_mib"] = sum(v["mib"] for v in out.values())
    return out


def _python(code: str, env: dict | None = None) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, **(env or {})}).stdout.strip()


IMPORT = """
import time, sys
sys.path.insert(0, {src!r})
t0 = time.perf_counter(); import bptt; t1 = time.perf_counter()
import bptt.cells.numba_path; t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""

COMPILE = """
import time, sys
sys.path.insert(0, {src!r})
import numpy as np, bptt
import bptt.cells.numba_path
bptt.set_backend("numba")
out = {{}}
for mode, make in (("rnn_tanh", bptt.RNN), ("lstm", bptt.LSTM), ("gru", bptt.GRU), ("mingru", bptt.MinGRU),
                   ("minlstm", bptt.MinLSTM)):
    layer = make(8, 16)
    x = np.ones((5, 3, 8), np.float32)
    t0 = time.perf_counter()
    y, _, cache = layer.forward(x)
    layer.backward(cache, np.ones(y.shape, np.float32))
    t1 = time.perf_counter()
    y, _, cache = layer.forward(x)
    layer.backward(cache, np.ones(y.shape, np.float32))
    out[mode] = [t1 - t0, time.perf_counter() - t1]
print(out)
"""


def import_times(src: Path) -> dict:
    runs = [tuple(map(float, _python(IMPORT.format(src=str(src))).split())) for _ in range(5)]
    return {"import_bptt_s": statistics.median(r[0] for r in runs),
            "import_numba_path_s": statistics.median(r[1] for r in runs)}


def compile_times() -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bptt-compile-"))
    try:
        shutil.copytree(REPO / "src" / "bptt", tmp / "bptt",
                        ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
        env = {"NUMBA_CACHE_DIR": str(tmp / "numba-cache")}
        cold = eval(_python(COMPILE.format(src=str(tmp)), env))
        warm = eval(_python(COMPILE.format(src=str(tmp)), env))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"first_process": {k: v[0] for k, v in cold.items()},
            "first_process_total_s": sum(v[0] for v in cold.values()),
            "cached_process": {k: v[0] for k, v in warm.items()},
            "cached_process_total_s": sum(v[0] for v in warm.values()),
            "warm_call": {k: v[1] for k, v in warm.items()}}


def markdown(r: dict) -> str:
    lines = [f"Run {r['machine']['date_utc']} on {r['machine']['cpu']}, numba {r['machine']['numba']}, "
             f"llvmlite {r['machine']['llvmlite']}, numpy {r['machine']['numpy']}; load average at "
             f"the start {' / '.join(f'{v:.2f}' for v in r['machine']['loadavg'])}.", ""]
    if "exhaustive" in r:
        e = r["exhaustive"]
        lines += ["| float32 function, every finite input | max abs error | max error (ulp of the result) |",
                  "|---|---:|---:|",
                  f"| compiled path's rational tanh | {e['tanh']['max_abs']:.2e} (at x = {e['tanh']['at_abs']:.6g}) | "
                  f"{e['tanh']['max_ulp']:.1f} (at x = {e['tanh']['at_ulp']:.6g}) |",
                  f"| compiled path's sigmoid, tanh(x/2)/2 + 1/2 | {e['sigmoid']['max_abs']:.2e} | "
                  f"{e['sigmoid']['max_ulp']:.1f} |",
                  f"| NumPy's float32 `np.tanh` | {e['np_tanh']['max_abs']:.2e} | {e['np_tanh']['max_ulp']:.1f} |",
                  "", "(errors against float64 tanh; the ulp column is large only near 0 for the "
                  "sigmoid, where its absolute error is what a gate sees)", ""]
    s = r["speed_ns"]
    lines += [f"tanh on a (64, 1024) float32 block, ns per element: compiled rational "
              f"{s['rational_numba']:.2f}, `np.tanh` {s['np_tanh']:.2f}.", ""]
    i = r["install"]
    lines += ["Install size of the extra (files listed in the installed metadata): "
              + ", ".join(f"{k} {v['version']} {v['mib']:.1f} MiB" for k, v in i.items() if k != "total_mib")
              + f"; total **{i['total_mib']:.0f} MiB**.", ""]
    t = r["import"]
    lines += [f"Import, fresh interpreter, median of 5: `import bptt` {t['import_bptt_s']:.2f} s "
              f"(numba is not imported by it); the compiled path on first use (numba and the BLAS "
              f"binding) **{t['import_numba_path_s']:.2f} s** more.", ""]
    c = r["compile"]
    lines += ["Compile (first forward + backward of each cell, float32, fresh copy of the package):",
              "", "| cell | first process (compiles) s | next process (disk cache) s | warm call s |",
              "|---|---:|---:|---:|"]
    for k in c["first_process"]:
        lines.append(f"| {k} | {c['first_process'][k]:.2f} | {c['cached_process'][k]:.3f} | "
                     f"{c['warm_call'][k]:.4f} |")
    lines += [f"| all three | **{c['first_process_total_s']:.1f}** | {c['cached_process_total_s']:.2f} | |", ""]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--skip-exhaustive", action="store_true", help="skip the 2^32-input error scan")
    args = ap.parse_args()
    r = {"command": " ".join(["python", "bench/fast_path.py", *sys.argv[1:]]),
         "machine": report.machine_info(REPO)}
    if not args.skip_exhaustive:
        t0 = time.perf_counter()
        r["exhaustive"] = {"tanh": exhaustive(0), "sigmoid": exhaustive(1), "np_tanh": numpy_tanh_exhaustive()}
        print(f"exhaustive scan: {time.perf_counter() - t0:.0f} s, {r['exhaustive']}", flush=True)
    r["speed_ns"] = ns_per_element()
    r["install"] = install_mib()
    r["import"] = import_times(REPO / "src")
    r["compile"] = compile_times()
    print(json.dumps({k: v for k, v in r.items() if k != "machine"}, indent=1))
    stem = REPO / "bench" / "results" / ("fast_path" if not args.skip_exhaustive else "fast_path-partial")
    report.write_atomic(stem.with_suffix(".json"), json.dumps(r, indent=1) + "\n")
    report.write_atomic(stem.with_suffix(".md"), "# The compiled path: accuracy and costs\n\nGenerated by "
                        f"`{r['command']}`.\n\n" + markdown(r))
    print(f"wrote {stem.with_suffix('.json')} and {stem.with_suffix('.md')}")


if __name__ == "__main__":
    main()
