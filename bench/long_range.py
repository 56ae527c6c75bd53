"""Vanishing and exploding gradients on the adding problem: who learns a dependency T steps long.

    python bench/long_range.py              # the full table: 527 s measured (budget: at most ~20 min), 1 BLAS thread
    python bench/long_range.py --quick      # smoke run, ~1 minute: T = 20, 50, few steps
    python bench/long_range.py --cells lstm gru --T 200 --steps 1500    # a part (partial files)

Each run trains a ``bptt.models.regressor.Regressor`` (one recurrent layer -> last state ->
dense -> MSE, float32) on fresh batches of the adding problem (``bptt.data.synthetic``) with the same
hidden size, batch size, optimizer, learning rate, clipping and step budget for every cell:

    tanh    vanilla RNN, tanh, PyTorch's init U(-1/sqrt(H), 1/sqrt(H))
    irnn    ReLU RNN, W = I, biases 0 (Le, Jaitly & Hinton 2015); learning rate 1e-3, because
            at 1e-2 Adam's first step (every weight moves by ~lr) lifts W's spectral radius well
            above 1 and the ReLU states explode at step 2 (seen in calibration at T = 100)
    lstm    LSTM, PyTorch's init (no forget-gate bias)
    gru     GRU, PyTorch's init

A run stops at the first evaluation (every ``eval_every`` steps, 500 fixed dev sequences) with
MSE < 0.01 ("solved"; always predicting 1 gives 0.167), or when the budget is spent. Per run the
table gives the test MSE (1000 other sequences), the steps to solve, and the per-step decay
factor of ||dL/dh_t|| fitted over the distance from the loss (``bptt.diagnostics.decay_rate``)
at initialisation and at the end, measured on one fixed batch of 32.

The explosion demo trains a ReLU RNN whose W starts large (``init_gain`` times PyTorch's draw)
without and with global-norm clipping, counting the clipped steps: with plain SGD, and with Adam
(which divides every step by a running RMS of the gradient and so hides part of an explosion).

Outputs, written atomically: ``bench/results/long_range.json`` (settings, machine, every run's
numbers, curves and loss history), ``bench/results/long_range.md`` (the tables) and PNG plots
``bench/results/long_range_*.png``. ``--quick`` and partial runs write ``long_range.quick.*`` /
``long_range.partial.*`` and leave the full results alone.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))            # measure this checkout's bptt

import numpy as np                               # noqa: E402
from threadpoolctl import threadpool_limits      # noqa: E402

from bptt.diagnostics import (decay_rate, diagnose, plot_distance, plot_heatmap,   # noqa: E402
                              plot_losses, record_every)
from bptt.models.regressor import Regressor, RegressorBatch, RegressorConfig     # noqa: E402
from report import write_atomic                                                  # noqa: E402
from bptt.data.synthetic import ADDING_BASELINE_MSE, ADDING_SOLVED_MSE, adding_problem  # noqa: E402
from bptt.jobs.long_range import RunConfig, train_adding  # noqa: E402

RESULTS = REPO / "bench" / "results"
CELLS = {   # name: (mode, init, learning rate; None = the common ``lr``)
    "tanh": ("rnn_tanh", "default", None),
    "irnn": ("rnn_relu", "identity", 1e-3),
    "lstm": ("lstm", "default", None),
    "gru": ("gru", "default", None),
}
FULL = dict(T=(50, 100, 200, 400), steps=1000, hidden=64, batch=32, lr=1e-2, clip=1.0,
            eval_every=50, heatmap_T=100, record_every=50, distance_T=200,
            explode_T=100, explode_gain=3.0, explode_steps=600, explode_clip=1.0,
            explode_runs=(("sgd", 0.01), ("adam", 1e-3)))
QUICK = dict(FULL, T=(20, 50), steps=150, eval_every=25, heatmap_T=20, record_every=10, distance_T=50,
             explode_T=50, explode_gain=3.5, explode_steps=100)


def machine() -> dict:
    cpu = platform.processor() or "unknown"
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                   if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "logical_cpus": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "load_avg_start": os.getloadavg(),
            "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def _round(v, digits=4):
    if v is None or not math.isfinite(v):
        return None
    return float(f"{v:.{digits}g}")


def _curve(d) -> list:
    return [_round(v) for v in d.curves()["l0"]["dh"]]


def one_run(cell: str, T: int, s: dict, seed: int, record: bool) -> dict:
    mode, init, lr = CELLS[cell]
    lr = lr or s["lr"]
    model = Regressor(RegressorConfig(2, s["hidden"], mode=mode, init=init), np.random.default_rng(seed))
    probe = adding_problem(32, T, np.random.default_rng(10_000 + T))
    d0 = diagnose(model, RegressorBatch(*probe), jacobian=False, training=False)
    recorder = record_every(s["record_every"]) if record else None
    cfg = RunConfig(T=T, steps=s["steps"], batch_size=s["batch"], lr=lr, clip_norm=s["clip"],
                    eval_every=s["eval_every"], seed=seed)
    t0 = time.perf_counter()
    log = train_adding(model, cfg, recorder,
                       progress=lambda step, lg: print(f"  {cell:5s} T={T:3d} step {step:5d} dev MSE "
                                                       f"{lg.evals[-1][1]:.4f}", flush=True)
                       if step % (10 * s["eval_every"]) == 0 else None)
    seconds = time.perf_counter() - t0
    d1 = diagnose(model, RegressorBatch(*probe), jacobian=False, training=False)
    c0, c1 = d0.curves()["l0"]["dh"], d1.curves()["l0"]["dh"]
    row = {"cell": cell, "mode": mode, "init": init, "lr": lr, "T": T,
           "test_mse": _round(log.test_mse), "best_dev_mse": _round(min((e[1] for e in log.evals), default=None)),
           "steps_to_solve": log.steps_to_solve, "steps_run": len(log.loss),
           "diverged_at": log.diverged_at, "clipped_steps": len(log.clipped),
           "decay_init": _round(decay_rate(c0)), "decay_final": _round(decay_rate(c1)),
           "dh_ratio_init": _round(c0[-1] / c0[0]), "dh_ratio_final": _round(c1[-1] / c1[0]),
           "seconds": round(seconds, 1),
           "curve_init": _curve(d0), "curve_final": _curve(d1),
           "spectrum_init": d0.spectrum, "spectrum_final": d1.spectrum,
           "evals": [(k, _round(v)) for k, v in log.evals],
           "loss": [_round(v, 3) for v in log.loss], "clipped": log.clipped}
    if record:
        row["records"] = [{"step": r["step"], "curves": {"l0": {"dh": [_round(v, 3) for v in r["curves"]["l0"]["dh"]]}}}
                          for r in recorder.records]
    print(f"{cell:5s} T={T:3d}: test MSE {row['test_mse']}, solved at {log.steps_to_solve}, "
          f"{len(log.loss)} steps, decay/step {row['decay_init']} -> {row['decay_final']}, "
          f"{seconds:.0f} s", flush=True)
    return row


def explosion(s: dict, seed: int) -> list[dict]:
    rows = []
    for (optimizer, lr), clip in ((o, c) for o in s["explode_runs"] for c in (None, s["explode_clip"])):
        model = Regressor(RegressorConfig(2, s["hidden"], mode="rnn_relu", init_gain=s["explode_gain"]),
                          np.random.default_rng(seed))
        probe = adding_problem(32, s["explode_T"], np.random.default_rng(10_000))
        d0 = diagnose(model, RegressorBatch(*probe), jacobian=False, training=False)
        cfg = RunConfig(T=s["explode_T"], steps=s["explode_steps"], batch_size=s["batch"], optimizer=optimizer,
                        lr=lr, clip_norm=clip, eval_every=s["eval_every"], seed=seed,
                        stop_when_solved=False)
        t0 = time.perf_counter()
        log = train_adding(model, cfg)
        finite = [v for v in log.grad_norm if math.isfinite(v)]
        row = {"clip_norm": clip, "T": s["explode_T"], "init_gain": s["explode_gain"],
               "optimizer": optimizer, "lr": lr,
               "sigma_max_init": _round(d0.spectrum["weight_hh_l0"]["W"]["sigma_max"]),
               "spectral_radius_init": _round(d0.spectrum["weight_hh_l0"]["W"]["spectral_radius"]),
               "decay_init": _round(decay_rate(d0.curves()["l0"]["dh"])),
               "diverged_at": log.diverged_at, "steps_run": len(log.loss),
               "clipped_steps": len(log.clipped), "max_grad_norm": _round(max(finite, default=None)),
               "first_grad_norm": _round(log.grad_norm[0]), "test_mse": _round(log.test_mse),
               "best_dev_mse": _round(min((e[1] for e in log.evals if math.isfinite(e[1])), default=None)),
               "seconds": round(time.perf_counter() - t0, 1),
               "loss": [_round(v, 3) for v in log.loss], "clipped": log.clipped}
        print(f"explode {optimizer} clip={clip}: diverged at {log.diverged_at}, {len(log.clipped)} clipped, "
              f"test MSE {row['test_mse']}, max |g| {row['max_grad_norm']}", flush=True)
        rows.append(row)
    return rows


def jacobian_figure(s: dict, seed: int, prefix: str) -> dict:
    """||ds_T/ds_(T-k)||_2 at initialisation for every cell at T = distance_T (4 rows of one batch),
    exact products from the forward cache; plotted to ``<prefix>_jacobian_init.png``."""
    T = s["distance_T"]
    probe = adding_problem(32, T, np.random.default_rng(10_000 + T))
    curves, rates = {}, {}
    for cell, (mode, init, _) in CELLS.items():
        model = Regressor(RegressorConfig(2, s["hidden"], mode=mode, init=init), np.random.default_rng(seed))
        d = diagnose(model, RegressorBatch(*probe), jacobian=True, jacobian_rows=4, training=False)
        curves[cell] = d.curves()["l0"]["jacobian"]
        rates[cell] = _round(decay_rate(curves[cell]))
    path = plot_distance(curves, RESULTS / f"{prefix}_jacobian_init.png", ylabel="||ds_T/ds_(T-k)||_2",
                         title=f"exact Jacobian products at initialisation, T = {T}")
    print("wrote", path.relative_to(REPO), "per-step factors", rates)
    return {"T": T, "decay_rate": rates, "curves": {c: [_round(v) for v in cur] for c, cur in curves.items()}}


def markdown(run: dict) -> str:
    s, rows = run["settings"], run["runs"]
    cells = [c for c in CELLS if any(r["cell"] == c for r in rows)]
    Ts = sorted({r["T"] for r in rows})
    get = {(r["cell"], r["T"]): r for r in rows}
    out = [f"Adding problem, H = {s['hidden']}, batch {s['batch']}, Adam lr {s['lr']}, global-norm clip "
           f"{s['clip']}, at most {s['steps']} steps, float32, 1 BLAS thread. Solved: dev MSE < "
           f"{ADDING_SOLVED_MSE} (predicting 1 always: {ADDING_BASELINE_MSE:.3f}).", ""]

    def table(title, fmt):
        out.append(f"**{title}**")
        out.append("")
        out.append("| cell | " + " | ".join(f"T = {T}" for T in Ts) + " |")
        out.append("|---|" + "---|" * len(Ts))
        for c in cells:
            out.append(f"| {c} | " + " | ".join(fmt(get[(c, T)]) if (c, T) in get else "" for T in Ts) + " |")
        out.append("")

    table("Test MSE", lambda r: "diverged" if r["diverged_at"] else f"{r['test_mse']:.4f}")
    table("Steps to solve (dev MSE < 0.01)", lambda r: str(r["steps_to_solve"]) if r["steps_to_solve"]
          else f"not in {r['steps_run']}")
    table("Decay of ||dL/dh_t|| per step back from the loss, at init -> after training",
          lambda r: f"{r['decay_init']:.3f} -> {r['decay_final']:.3f}")
    table("||dL/dh_1|| / ||dL/dh_T|| at init -> after training",
          lambda r: f"{r['dh_ratio_init']:.1e} -> {r['dh_ratio_final']:.1e}" if r["dh_ratio_init"] is not None
          and r["dh_ratio_final"] is not None else "0")
    table("Seconds", lambda r: f"{r['seconds']:.0f}")
    if run.get("jacobian_init"):
        j = run["jacobian_init"]
        out += [f"Exact Jacobian products at initialisation, T = {j['T']}: per-step factor of "
                f"||ds_T/ds_(T-k)||_2: " + ", ".join(f"{c} {v}" for c, v in j["decay_rate"].items()) + ".", ""]
    if run.get("explosion"):
        e0 = run["explosion"][0]
        out += [f"**Exploding: ReLU RNN, W = {e0['init_gain']} x PyTorch's init (sigma_max {e0['sigma_max_init']}, "
                f"spectral radius {e0['spectral_radius_init']}; ||dL/dh|| grows x{e0['decay_init']} per step back), "
                f"T = {e0['T']}, {e0['steps_run'] if e0['diverged_at'] is None else s['explode_steps']} steps**", "",
                "| optimizer | clipping | diverged at step | clipped steps | first / max gradient norm | best dev MSE | test MSE |",
                "|---|---|---|---|---|---|---|"]
        for e in run["explosion"]:
            out.append(f"| {e['optimizer']} lr {e['lr']} | "
                       f"{'none' if e['clip_norm'] is None else 'global norm ' + str(e['clip_norm'])} | "
                       f"{e['diverged_at'] or 'no'} | {e['clipped_steps']} / {e['steps_run']} | "
                       f"{e['first_grad_norm']:.3g} / {e['max_grad_norm']:.3g} | {e['best_dev_mse']} | "
                       f"{e['test_mse']} |")
        out.append("")
    out.append(f"Total {run['seconds']:.0f} s; machine: {run['machine']['cpu']}, load average at start "
               f"{', '.join(f'{v:.1f}' for v in run['machine']['load_avg_start'])}.")
    return "\n".join(out) + "\n"


def plots(run: dict, prefix: str) -> list[Path]:
    s, rows = run["settings"], run["runs"]
    written = []
    Td = s["distance_T"]
    for when in ("init", "final"):
        curves = {r["cell"]: np.array([np.nan if v is None else v for v in r[f"curve_{when}"]], float)
                  for r in rows if r["T"] == Td}
        if curves:
            written.append(plot_distance(curves, RESULTS / f"{prefix}_distance_{when}.png",
                                         title=f"adding problem, T = {Td}: ||dL/dh_(T-k)|| "
                                               f"{'at initialisation' if when == 'init' else 'after training'}"))
    for r in rows:
        if r.get("records"):
            written.append(plot_heatmap(r["records"], RESULTS / f"{prefix}_heatmap_{r['cell']}.png",
                                        title=f"{r['cell']}, T = {r['T']}: log10 ||dL/dh_(T-k)|| during training"))
    runs = {r["cell"]: {"loss": [np.nan if v is None else v for v in r["loss"]], "clipped": r["clipped"],
                        "diverged_at": r["diverged_at"]} for r in rows if r["T"] == Td}
    if runs:
        written.append(plot_losses(runs, RESULTS / f"{prefix}_losses.png", baseline=ADDING_BASELINE_MSE,
                                   title=f"adding problem, T = {Td}: training loss (dots: clipped steps)",
                                   ylim=(1e-3, 1e2)))
    if run.get("explosion"):
        e0 = run["explosion"][0]
        runs = {f"{e['optimizer']}, " + ("no clipping" if e["clip_norm"] is None else f"clip at {e['clip_norm']}"):
                {"loss": [np.nan if v is None else v for v in e["loss"]], "clipped": e["clipped"],
                 "diverged_at": e["diverged_at"]} for e in run["explosion"]}
        written.append(plot_losses(runs, RESULTS / f"{prefix}_explosion.png", baseline=ADDING_BASELINE_MSE,
                                   title=f"ReLU RNN, W x {e0['init_gain']}, T = {e0['T']}: training loss"))
    return written


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--cells", nargs="+", choices=list(CELLS))
    p.add_argument("--T", nargs="+", type=int)
    p.add_argument("--steps", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--no-explosion", action="store_true")
    p.add_argument("--replot", action="store_true",
                   help="rewrite the .md and plots from the existing .json (no training)")
    p.add_argument("--jacobian-only", action="store_true",
                   help="only the Jacobian-product figure at initialisation (seconds)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="file prefix under bench/results (default by mode)")
    args = p.parse_args(argv)
    s = dict(QUICK if args.quick else FULL)
    partial = bool(args.cells or args.T or args.steps or args.lr or args.no_explosion)
    cells = args.cells or list(CELLS)
    s.update({k: v for k, v in (("T", tuple(args.T) if args.T else None), ("steps", args.steps),
                                 ("lr", args.lr)) if v is not None})
    prefix = args.out or ("long_range.quick" if args.quick else "long_range.partial" if partial else "long_range")
    run = {"settings": {**s, "cells": {c: CELLS[c] for c in cells}, "threads": args.threads, "seed": args.seed,
                        "dtype": "float32", "optimizer": "adam"},
           "machine": machine(), "runs": [], "explosion": None}
    if args.replot:
        run = json.loads((RESULTS / f"{prefix}.json").read_text())
        write_atomic(RESULTS / f"{prefix}.md", markdown(run))
        for path in plots(run, prefix):
            print("wrote", path.relative_to(REPO))
        return 0
    t0 = time.perf_counter()
    if args.jacobian_only:
        with threadpool_limits(limits=args.threads):
            jacobian_figure(s, args.seed, args.out or ("long_range.quick" if args.quick else "long_range"))
        return 0
    with threadpool_limits(limits=args.threads):
        if not partial:
            run["jacobian_init"] = jacobian_figure(s, args.seed, prefix)
        for T in s["T"]:
            for cell in cells:
                run["runs"].append(one_run(cell, T, s, args.seed, record=T == s["heatmap_T"]))
        if not args.no_explosion:
            run["explosion"] = explosion(s, args.seed)
    run["seconds"] = round(time.perf_counter() - t0, 1)
    run["machine"]["load_avg_end"] = os.getloadavg()
    write_atomic(RESULTS / f"{prefix}.json", json.dumps(run, indent=1) + "\n")
    md = markdown(run)
    write_atomic(RESULTS / f"{prefix}.md", md)
    print(md)
    try:
        for path in plots(run, prefix):
            print("wrote", path.relative_to(REPO))
    except ImportError as err:
        print(f"no plots: {err}", file=sys.stderr)
    print(f"wrote bench/results/{prefix}.json and .md in {run['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
