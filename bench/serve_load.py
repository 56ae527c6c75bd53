"""Load test of ``bptt serve`` on loopback: requests per second and latency percentiles.

    python bench/serve_load.py                      # 2,000 /predict + 400 /explain, 16 clients
    python bench/serve_load.py --requests 500 --clients 4

Starts ``bptt serve`` (the shipped model) as its own process on a free port, waits for
``/health``, then for each scenario runs ``--clients`` concurrent clients (asyncio, one kept-alive
HTTP/1.1 connection each) that together send ``--requests`` requests, each a review drawn in
turn from ``bench/negation_pairs.tsv``. Every response must be a 200 with a label; anything else
(a 4xx/5xx, a timeout, a dropped connection) counts as failed. Writes ``bench/results/serve.json``
and ``serve.md`` (atomically) and exits 1 if any request failed. Client and server share the
machine's cores, so the figures are those of the whole loop on one machine, not of the server
alone.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from bptt.data.readers import read_dataset  # noqa: E402
from bptt.files import write_json, write_text  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, blas_threads: int) -> subprocess.Popen:
    server = subprocess.Popen([sys.executable, "-m", "bptt.cli", "serve", "--port", str(port),
                               "--blas-threads", str(blas_threads)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"bptt serve exited with {server.returncode}: {server.stderr.read()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.1)
    server.terminate()
    raise RuntimeError("bptt serve did not answer /health within 60 s")


class Connection:
    """One kept-alive HTTP/1.1 connection, written by hand: a client much lighter than httpx, so
    that on a 2-core machine the clients take less of the CPU the server needs."""

    def __init__(self, host: str, port: int):
        self.host, self.port, self.reader, self.writer = host, port, None, None

    async def post(self, path: str, doc: dict) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        body = json.dumps(doc).encode()
        self.writer.write(f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
                          f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split()[1])
        headers = dict(line.split(": ", 1) for line in head[1:] if ": " in line)
        length = int(next(v for k, v in headers.items() if k.lower() == "content-length"))
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def scenario(port: int, path: str, texts: list[str], requests: int, clients: int) -> dict:
    """``requests`` POSTs of ``{"text": ...}`` to ``path`` from ``clients`` concurrent clients."""
    latencies, failures, next_index = [], [], iter(range(requests))

    async def client():
        connection = Connection("127.0.0.1", port)
        try:
            for i in next_index:                      # shared: each index is taken by one client
                t0 = time.perf_counter()
                try:
                    doc = {"text": texts[i % len(texts)]}
                    status, body = await asyncio.wait_for(connection.post(path, doc), 30)
                    ok = status == 200 and "label" in json.loads(body)
                    problem = None if ok else f"HTTP {status}: {body[:200]!r}"
                except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError,
                        StopIteration) as err:
                    problem = f"{type(err).__name__}: {err}"
                    connection.close()
                    connection = Connection("127.0.0.1", port)
                latencies.append(time.perf_counter() - t0)
                if problem:
                    failures.append(problem)
        finally:
            connection.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    seconds = time.perf_counter() - t0
    ms = sorted(1000 * x for x in latencies)
    pick = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]    # noqa: E731
    return {"path": path, "requests": len(latencies), "clients": clients, "failed": len(failures),
            "failures": failures[:5], "seconds": round(seconds, 3),
            "requests_per_s": round(len(latencies) / seconds, 1),
            "latency_ms": {"p50": round(pick(0.50), 2), "p90": round(pick(0.90), 2),
                           "p99": round(pick(0.99), 2), "max": round(ms[-1], 2),
                           "mean": round(statistics.fmean(ms), 2)}}


def markdown(run: dict) -> str:
    lines = ["# bptt serve under load (loopback)", "",
             "Produced by `python bench/serve_load.py`; raw figures in `serve.json`. One `bptt serve` "
             "process (the shipped model, uvicorn, inference in worker threads); the clients run on the "
             f"same {run['machine']['cpus']}-core machine.", "",
             "| endpoint | requests | clients | failed | requests/s | p50 ms | p90 ms | p99 ms | max ms |",
             "|---|---|---|---|---|---|---|---|---|"]
    for s in run["scenarios"]:
        lat = s["latency_ms"]
        lines.append(f"| POST {s['path']} | {s['requests']:,} | {s['clients']} | {s['failed']} | "
                     f"{s['requests_per_s']:,.1f} | {lat['p50']} | {lat['p90']} | {lat['p99']} | "
                     f"{lat['max']} |")
    m = run["machine"]
    lines += ["", f"Texts: {run['texts']}. `bptt serve --blas-threads {m['blas_threads']}`; Python "
                  f"{m['python']}, starlette {m['starlette']}, uvicorn {m['uvicorn']}; the clients are "
                  f"asyncio connections kept alive. Load average (1, 5, 15 min) before the run "
                  f"{m['load_before']}, after {m['load_after']}: other work on the machine slows "
                  f"both sides.", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="/predict requests")
    parser.add_argument("--explain-requests", type=int, default=400, help="/explain requests (0: none)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--blas-threads", type=int, default=1, help="bptt serve --blas-threads")
    parser.add_argument("--out", default=str(RESULTS / "serve"), help="writes OUT.json and OUT.md")
    args = parser.parse_args()

    data, _ = read_dataset(ROOT / "bench" / "negation_pairs.tsv")
    texts = list(data.texts)
    load_before = [round(x, 2) for x in os.getloadavg()]
    port = free_port()
    server = start_server(port, args.blas_threads)
    try:
        asyncio.run(scenario(port, "/predict", texts, 50, 4))                 # warm up
        scenarios = [asyncio.run(scenario(port, "/predict", texts, args.requests, args.clients))]
        if args.explain_requests:
            scenarios.append(asyncio.run(scenario(port, "/explain", texts, args.explain_requests,
                                                  args.clients)))
    finally:
        server.terminate()
        server.wait(10)
    run = {"scenarios": scenarios,
           "texts": f"the {len(texts)} sentences of bench/negation_pairs.tsv in turn "
                    f"({statistics.fmean(len(t.split()) for t in texts):.1f} words on average)",
           "machine": {"cpus": len(os.sched_getaffinity(0)), "python": platform.python_version(),
                       "starlette": version("starlette"), "uvicorn": version("uvicorn"),
                       "blas_threads": args.blas_threads, "load_before": load_before,
                       "load_after": [round(x, 2) for x in os.getloadavg()]}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_json(f"{args.out}.json", run)
    write_text(f"{args.out}.md", markdown(run))
    print(markdown(run))
    failed = sum(s["failed"] for s in scenarios)
    if failed:
        print(f"{failed} requests failed, e.g. {scenarios[0]['failures'][:1]}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
