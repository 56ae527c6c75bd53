"""Downloads on pooch against the hand-written urllib code they replaced: time and CPU.

    python bench/download.py [--mib 200] [--repeats 3]

Serves a ZIP archive of ``--mib`` MiB of random bytes (stored, so unpacking is a copy) from a
loopback HTTP server in a thread, and runs the whole ``download`` (fetch, archive SHA-256,
unpack, member SHA-256, marker, rename) ``--repeats`` times into a fresh cache with each
implementation: ``bptt.data.download`` as it is (pooch), and the urllib version of commit
88ce5f6, loaded from git. Writes bench/results/download.json and download.md (atomically).
"""
from __future__ import annotations

import argparse
import hashlib
import http.server
import importlib
import importlib.util
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from functools import partial
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from bptt.files import write_json, write_text  # noqa: E402

pooch_version = importlib.import_module("bptt.data.download")

URLLIB_COMMIT = "88ce5f6"


def urllib_version(tmp: Path):
    """The hand-written module of ``URLLIB_COMMIT`` (it imports only the standard library and tqdm)."""
    code = subprocess.run(["git", "show", f"{URLLIB_COMMIT}:src/bptt/data/download.py"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout
    path = tmp / "download_urllib.py"
    path.write_text(code)
    spec = importlib.util.spec_from_file_location("download_urllib", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module                   # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def run(module, url: str, sha256: str, tmp: Path, repeats: int) -> dict:
    source = module.Source(url, sha256, kind="zip", folder="big")
    wall, cpu = [], []
    for i in range(repeats):
        cache = tmp / f"cache-{module.__name__}-{i}"
        r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        module.download("big", cache, source=source, progress=False)
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        wall.append(round(time.perf_counter() - t0, 3))
        cpu.append(round(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime, 3))
        shutil.rmtree(cache)
    return {"wall_s": wall, "cpu_s": cpu, "best_wall_s": min(wall)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "download"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bptt-download-bench-") as name:
        tmp = Path(name)
        (tmp / "www").mkdir()
        archive = tmp / "www" / "big.zip"
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
            for i in range(4):
                zf.writestr(f"big/part{i}.bin", os.urandom(args.mib * 2**20 // 4))
        sha256 = hashlib.sha256(archive.read_bytes()).hexdigest()

        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *a):
                pass
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(tmp / "www")))
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{httpd.server_address[1]}/big.zip"
        try:
            results = {"pooch": run(pooch_version, url, sha256, tmp, args.repeats),
                       f"urllib ({URLLIB_COMMIT})": run(urllib_version(tmp), url, sha256, tmp, args.repeats)}
        finally:
            httpd.shutdown()
    record = {"archive_mib": args.mib, "repeats": args.repeats, "results": results,
              "versions": {"pooch": version("pooch"), "requests": version("requests"),
                           "python": sys.version.split()[0]},
              "load_average": [round(x, 2) for x in os.getloadavg()]}
    lines = ["# Downloads: pooch against the hand-written urllib code", "",
             "Produced by `python bench/download.py`; raw figures in `download.json`. One whole "
             f"`download` of a {args.mib} MiB ZIP from a loopback server (fetch, SHA-256, unpack, member "
             "check, rename), CPU time including the server thread.", "",
             "| implementation | best wall s | wall s (each run) | CPU s (each run) |", "|---|---|---|---|"]
    for label, r in results.items():
        lines.append(f"| {label} | {r['best_wall_s']} | {r['wall_s']} | {r['cpu_s']} |")
    lines += ["", f"pooch {record['versions']['pooch']}, requests {record['versions']['requests']}, "
                  f"Python {record['versions']['python']}; load average {record['load_average']}.", ""]
    write_json(f"{args.out}.json", record)
    write_text(f"{args.out}.md", "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
