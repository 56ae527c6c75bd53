"""``bptt diagnose``: gradient norms through time for a model on one batch, printed and plotted.

    bptt diagnose --cell rnn_tanh lstm gru --T 100 --out runs/diag
    bptt diagnose --cell lstm --T 100 --train-steps 300 --record-every 20 --clip 1 --out runs/diag
    bptt diagnose --model runs/sentiment/best --T 200 --out runs/diag

Without ``--model`` it builds a ``Regressor`` per ``--cell`` (input 2, ``--hidden`` units, the
``--init``) for the adding problem (``bptt.data.synthetic``), optionally trains each for
``--train-steps`` steps (Adam, ``--lr``, clipping at ``--clip``) recording gradients every
``--record-every`` steps into ``OUT/<cell>_metrics.jsonl``, then runs one batch of length
``--T`` through ``bptt.diagnostics.diagnose`` and prints, per layer and direction, ||dL/dh_t||
and ||ds_n/ds_t|| at some distances from the loss with their per-step decay, the spectral radius
and largest singular value of every gate block of W, and the gradient norm of every parameter
and gate block.

``--model DIR`` loads a saved model (``bptt.io`` format: the ``best/`` of a sentiment, tagger or
language-model run, or a Regressor) instead. A Regressor with input 2 and output 1 gets an
adding-problem batch; any other model gets a synthetic batch (standard normal inputs and
targets; random token ids and labels, tags or next tokens over words), which is enough to see
how the gradient travels.

With ``--out DIR``: ``diagnosis.json`` (every curve and number), and the PNG plots (matplotlib,
the optional extra ``plot``; without it, a note says so before any work and the rest is done,
status 0): ``grad_vs_distance.png`` (||dL/dh|| against distance from the
loss, log scale, one line per model), ``jacobian_vs_distance.png``, and after training
``heatmap_<cell>.png`` (dL/dh over training steps) and ``losses.png`` (clipped steps marked).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ._settings import seed_int

DEFAULT_CELLS = ("rnn_tanh", "lstm", "gru")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``diagnose`` subcommand to an ``argparse`` subparsers object."""
    from ..cells import MODES
    from ..init import INITS
    p = subparsers.add_parser("diagnose", help="gradient norms through time, spectra, plots",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="a saved model: OUT/best of bptt train sentiment, tagger or lm "
                                   "(default: build a Regressor per --cell)")
    p.add_argument("--cell", nargs="+", choices=MODES, default=list(DEFAULT_CELLS),
                   help=f"cells to build (default: {' '.join(DEFAULT_CELLS)})")
    p.add_argument("--task", choices=["adding"], default="adding", help="the task to train on")
    p.add_argument("--T", type=int, default=100, help="sequence length (default 100)")
    p.add_argument("--batch", type=int, default=32, help="sequences in the batch (default 32)")
    p.add_argument("--hidden", type=int, default=64, help="hidden units of the models built (default 64)")
    p.add_argument("--init", choices=INITS, default="default", help="weight initialisation (PyTorch's)")
    p.add_argument("--init-gain", type=gain, default=1.0, help="scale of the initial weights, in (0, 100] "
                                                              "(default 1)")
    p.add_argument("--forget-bias", type=float, default=None, help="LSTM forget-gate bias (default: none)")
    p.add_argument("--train-steps", type=int, default=0, help="train each model this long first")
    p.add_argument("--record-every", type=int, default=20, help="steps between recorded gradients")
    p.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate when training (default 0.003)")
    p.add_argument("--clip", type=float, default=1.0, help="global-norm clipping while training (0: off)")
    p.add_argument("--jacobian-rows", type=int, default=4, help="rows for ||ds_n/ds_t|| (0: skip)")
    p.add_argument("--seed", type=seed_int, default=0, help="random seed of the weights and data (default 0)")
    p.add_argument("--out", help="write diagnosis.json and the PNG plots here")
    p.add_argument("--json", action="store_true", help="print the summary as JSON instead of text")
    p.set_defaults(func=run)
    return p


def gain(text: str) -> float:
    """An argparse type: an initialisation gain in (0, 100]."""
    value = float(text)
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError(f"expected a gain in (0, 100], got {text!r}")
    return value


def _batch(model, T: int, B: int, rng: np.random.Generator):
    """One synthetic batch for ``model.loss_and_grads``: random token ids and labels or tags for a
    model over words, the adding problem for a Regressor with 2 inputs and 1 output, standard
    normal inputs and targets for another Regressor."""
    from ..data.synthetic import adding_problem
    from ..models import (Classifier, ClassifierBatch, ConditionalBatch, ConditionalLanguageModel,
                          LanguageModel, LanguageModelBatch, RegressorBatch, Tagger, TaggerBatch)
    c = model.config
    if isinstance(model, (Classifier, Tagger, LanguageModel, ConditionalLanguageModel)):
        ids = rng.integers(1, c.vocab_size, size=(T, B))
        lengths = np.full(B, T)
    if isinstance(model, Classifier):
        return ClassifierBatch(ids, lengths, rng.integers(0, c.num_classes, size=B))
    if isinstance(model, Tagger):
        features = (np.stack([rng.integers(1, v, size=(T, B)) for v in c.feature_vocab_sizes], axis=2)
                    if c.feature_vocab_sizes else None)
        return TaggerBatch(ids, lengths, rng.integers(0, c.num_tags, size=(T, B)), features)
    if isinstance(model, LanguageModel):
        side = rng.standard_normal((B, c.side_input_size)).astype(c.dtype) if c.side_input_size else None
        return LanguageModelBatch(ids, rng.integers(0, c.vocab_size, size=(T, B)), lengths=lengths, side=side)
    if isinstance(model, ConditionalLanguageModel):
        z = model.labels_to_vectors(rng.integers(0, c.cond_size, size=B))
        return ConditionalBatch(ids, z, rng.integers(0, c.vocab_size, size=(T, B)), lengths=lengths)
    if c.input_size == 2 and c.output_size == 1:
        return RegressorBatch(*adding_problem(B, T, rng, c.dtype))
    return RegressorBatch(rng.standard_normal((T, B, c.input_size)).astype(c.dtype),
                          rng.standard_normal((B, c.output_size)).astype(c.dtype))


def _models(args) -> dict:
    from ..models.regressor import Regressor, RegressorConfig
    if args.model:
        from .. import io
        model = io.load(args.model)
        if not hasattr(model, "rnn") or not hasattr(model, "loss_and_grads"):
            raise ValueError(f"{args.model}: a {type(model).__name__} has no single recurrent layer to "
                             f"diagnose (a Regressor, Classifier, Tagger or language model has one)")
        return {Path(args.model).name or "model": model}
    models = {}
    for mode in args.cell:
        cfg = RegressorConfig(2, args.hidden, mode=mode, init=args.init, init_gain=args.init_gain,
                              forget_bias=args.forget_bias if mode == "lstm" else None)
        models[mode] = Regressor(cfg, np.random.default_rng(args.seed))
    return models


def run(args) -> int:
    from .. import diagnostics as dg
    from ..data.synthetic import ADDING_BASELINE_MSE
    from ..jobs.long_range import RunConfig, train_adding
    if args.T < 2 or args.batch < 1:
        raise ValueError(f"--T must be >= 2 and --batch >= 1, got T={args.T}, batch={args.batch}")
    out = Path(args.out) if args.out else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    missing = _plot_extra_missing() if out else None
    if missing:
        print(f"bptt diagnose: no plots: {missing}; writing {out / 'diagnosis.json'} only", file=sys.stderr)
    models = _models(args)
    trained = {}
    if args.train_steps > 0:
        if args.model and not (models[next(iter(models))].config.to_dict().get("input_size") == 2):
            raise ValueError("--train-steps trains on the adding problem: the model needs input_size 2")
        for label, model in models.items():
            path = out / f"{label}_metrics.jsonl" if out else None
            if path is not None and path.exists():
                path.unlink()
            recorder = dg.record_every(args.record_every, path)
            cfg = RunConfig(T=args.T, steps=args.train_steps, batch_size=args.batch, lr=args.lr,
                            clip_norm=args.clip or None, eval_every=max(args.record_every, 1),
                            eval_size=200, test_size=200, stop_when_solved=False, seed=args.seed)
            log = train_adding(model, cfg, recorder)
            trained[label] = (log, recorder.records)
            print(f"{label}: trained {len(log.loss)} steps, final dev MSE {log.evals[-1][1]:.4f}, "
                  f"{len(log.clipped)} clipped steps", file=sys.stderr)

    rng_seed = args.seed + 12345
    results = {}
    for label, model in models.items():
        batch = _batch(model, args.T, args.batch, np.random.default_rng(rng_seed))
        d = dg.diagnose(model, batch, jacobian=args.jacobian_rows > 0,
                        jacobian_rows=args.jacobian_rows or None, training=False)
        results[label] = d
        if not args.json:
            print(f"=== {label} ===")
            print(dg.format_diagnosis(d))
            print()
    summaries = {label: d.summary() for label, d in results.items()}
    if args.json:
        print(json.dumps(summaries))
    if out is None:
        return 0
    (out / "diagnosis.json").write_text(json.dumps({"T": args.T, "batch": args.batch, "models": summaries}) + "\n")
    if missing:
        print(f"wrote {out / 'diagnosis.json'} (no plots: {missing})", file=sys.stderr)
        return 0
    try:
        written = [dg.plot_distance({lb: d.curves()["l0"]["dh"] for lb, d in results.items()},
                                    out / "grad_vs_distance.png", title=f"||dL/dh_(T-k)||, T = {args.T}")]
        if args.jacobian_rows > 0:
            written.append(dg.plot_distance({lb: d.curves()["l0"]["jacobian"] for lb, d in results.items()},
                                            out / "jacobian_vs_distance.png", ylabel="||ds_T/ds_(T-k)||_2",
                                            title=f"Jacobian products, T = {args.T}"))
        for label, (log, records) in trained.items():
            if records:
                written.append(dg.plot_heatmap(records, out / f"heatmap_{label}.png",
                                               title=f"{label}: log10 ||dL/dh_(T-k)|| during training"))
        if trained:
            written.append(dg.plot_losses({lb: {"loss": log.loss, "clipped": log.clipped,
                                                "diverged_at": log.diverged_at}
                                           for lb, (log, _) in trained.items()},
                                          out / "losses.png", baseline=ADDING_BASELINE_MSE,
                                          title=f"adding problem, T = {args.T}"))
    except ImportError as err:
        print(f"bptt diagnose: wrote {out / 'diagnosis.json'} but no plots: {err}", file=sys.stderr)
        return 1
    print("wrote " + ", ".join(str(p) for p in [out / "diagnosis.json", *written]), file=sys.stderr)
    return 0


def _plot_extra_missing() -> str | None:
    """None if matplotlib (the extra ``plot``) can be imported, else what to install."""
    from ..plots import figure
    try:
        figure()
    except ImportError as err:
        return str(err)
    return None


def add_parsers(subparsers, train_subparsers=None) -> None:
    """The other command modules' signature; ``diagnose`` adds no ``train`` job."""
    add_parser(subparsers)
