"""Character-level LSTM vs GRU vs vanilla RNN on Tiny Shakespeare, for the same wall-clock budget.

    python bench/lm.py                                  # 20 minutes per model (the issue's budget)
    python bench/lm.py --budget-minutes 4 --threads 1   # what bench/results/lm.* were made with

Each model: embedding (64) -> 1-layer cell (H = 256) -> dense over the 65 characters (+ <pad>,
<unk>), trained by ``bptt.jobs.language_model.train_lm``: the first 90% of input.txt as 32 parallel streams,
truncated BPTT every 100 steps with the state carried, Adam lr 2e-3, global-norm clipping at 5,
float32. The budget is wall-clock time including the periodic evaluations on the held-out last
10% (every ``--eval-every`` chunks); when it runs out the last weights are evaluated too, and
the best validation bits per character is reported with a 500-character sample (temperature
0.8, seed 0) from the best weights.

Before training, a throughput probe times a few training steps of each cell (steps/s and
characters/s), so the budget can be judged against the machine. The CPU used by other processes
during each run is recorded (``other_cpus``): on a shared machine it is what slows a run down.

Outputs, written atomically: ``bench/results/lm.json`` (settings, machine, probe, per model:
the validation curve, the final and best bpc, tokens seen, the sample) and ``bench/results/lm.md``.

Conditional generation on SST-2 (``--conditional``): a word-level LSTM language model over the
sentence-level SST-2 train sentences whose initial state and every input carry the sentiment
label (``ConditionalLanguageModel``, condition "both"), trained for the budget; then dev
perplexity with the true label and with the flipped one, sample review openings for each label,
and how often the sentiment classifier shipped in the package reads each label's samples as
that label. Writes ``bench/results/lm.conditional.json`` and ``.md``.

    python bench/lm.py --conditional --budget-minutes 6 --threads 1
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
from threadpoolctl import threadpool_limits      # noqa: E402

from bptt.data.readers import read_dataset       # noqa: E402
from bptt.data.tokenize import level_tokens  # noqa: E402
from bptt.jobs.language_model import (LMSettings, evaluate_sentences, sentence_ids, train_conditional,  # noqa: E402
                                      train_lm)
from bptt.models.language_model import LanguageModel, LanguageModelBatch, LanguageModelConfig   # noqa: E402
from bptt.optim import Adam, clip_grad_norm      # noqa: E402

import report                                    # noqa: E402
from measure import OtherLoad                    # noqa: E402

DATA = Path(os.environ.get("BPTT_SHARED_DATA", REPO.parent / "shared" / "data"))   # as the tests read it
TEXT = DATA / "tinyshakespeare" / "input.txt"
SST2 = DATA / "sst2" / "sentence_level"
CELLS = ("lstm", "gru", "rnn_tanh", "mingru", "minlstm")


def probe(settings: LMSettings, cells, steps: int = 4) -> list[dict]:
    """Seconds per training step (forward, backward, clip, Adam) of each cell on random data."""
    rows = []
    V, B, T = 67, settings.batch_size, settings.seq_len
    for cell in cells:
        model = LanguageModel(LanguageModelConfig(V, settings.embedding_dim, settings.hidden_size, cell,
                                                  settings.num_layers, settings.dropout, settings.output_dropout))
        opt = Adam(model.params, lr=settings.lr)
        rng = np.random.default_rng(0)
        ids, targets = rng.integers(2, V, (T, B)), rng.integers(2, V, (T, B))
        state, times = None, []
        for _ in range(steps + 1):
            t0 = time.perf_counter()
            result = model.loss_and_grads(LanguageModelBatch(ids, targets, state0=state))
            grads, state = result.grads, result.state
            clip_grad_norm(grads, 5.0)
            opt.step(grads)
            times.append(time.perf_counter() - t0)
        s = float(np.median(times[1:]))
        rows.append({"cell": cell, "s_per_step": s, "chars_per_s": B * T / s})
        print(f"probe {cell:>8}: {s * 1000:6.0f} ms/step  {B * T / s:9,.0f} chars/s", flush=True)
    return rows


def run_one(text: str, cell: str, settings: LMSettings, budget_s: float, out_dir: Path,
            sample_length: int, temperature: float) -> dict:
    s = LMSettings(**{**settings.__dict__, "cell": cell})
    with OtherLoad() as load:
        result = train_lm(text, s, out_dir=out_dir, progress=False, time_budget=budget_s)
    curve = []
    for line in (out_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        if "dev_bpc" in rec:
            curve.append({"step": rec["step"], "tokens": rec["step"] * s.batch_size * s.seq_len,
                          "bpc": round(rec["dev_bpc"], 4)})
    sample = "".join(result.model.generate("\n", sample_length, temperature, seed=0))
    row = {"cell": cell, "budget_s": budget_s, "seconds": round(result.seconds, 1),
           "steps": result.trainer.state.global_step, "train_chars": result.tokens,
           "passes": round(result.tokens / (len(level_tokens(text, "char")) * (1 - s.val_fraction)), 2),
           "chars_per_s": round(result.tokens / result.seconds, 1),
           "final_bpc": round(result.final["bpc"], 4), "best_bpc": round(result.best["bpc"], 4),
           "best_loss_nats": round(result.best["loss"], 4), "other_cpus": round(load.cpus, 2),
           "curve": curve, "sample": sample}
    print(f"{cell:>8}: best {row['best_bpc']:.3f} bpc (final {row['final_bpc']:.3f}) after "
          f"{row['steps']} steps, {row['train_chars']:,} chars in {row['seconds']:.0f} s; "
          f"others kept {row['other_cpus']:.2f} CPUs busy", flush=True)
    return row


def markdown(run: dict) -> str:
    s, m = run["settings"], run["machine"]
    lines = [
        "# Character-level language models on Tiny Shakespeare, same wall-clock budget",
        "",
        f"Budget {run['budget_minutes']:g} min per model (evaluations included), "
        f"{run['threads']} BLAS thread(s), {m['cpu']} ({m['logical_cpus']} CPUs, shared), bptt's "
        f"{m.get('bptt_backend') or 'numpy'} path. "
        f"Embedding {s['embedding_dim']}, {s['num_layers']} layer(s), H = {s['hidden_size']}, "
        f"dropout {s['dropout']:g} between layers and {s['output_dropout']:g} on the outputs, "
        f"{s['batch_size']} streams, "
        f"TBPTT k = {s['seq_len']}, Adam lr {s['lr']}, clip {s['clip_norm']}, float32. "
        f"Validation: the last 10% of input.txt (111,540 characters). Generated by `{run['command']}` "
        f"on {m['date_utc']}.",
        "",
        "| cell | val bpc (best) | val nats/char | at end | steps | chars trained | passes | chars/s | other CPUs busy |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in run["models"]:
        lines.append(f"| {r['cell']} | {r['best_bpc']:.3f} | {r['best_loss_nats']:.3f} | {r['final_bpc']:.3f} | "
                     f"{r['steps']:,} | {r['train_chars']:,} | {r['passes']:.2f} | {r['chars_per_s']:,.0f} | "
                     f"{r['other_cpus']:.2f} |")
    lines += ["", "Validation bpc during training (chars trained: bpc):", ""]
    for r in run["models"]:
        pts = ", ".join(f"{p['tokens'] / 1e6:.2f}M: {p['bpc']:.3f}" for p in r["curve"])
        lines.append(f"- {r['cell']}: {pts}")
    lines += ["", "Throughput probe (one training step, random data, before the runs):", "",
              "| cell | ms/step | chars/s |", "|---|---:|---:|"]
    for p in run["probe"]:
        lines.append(f"| {p['cell']} | {p['s_per_step'] * 1000:.0f} | {p['chars_per_s']:,.0f} |")
    lines += ["", f"Samples ({run['sample_length']} characters from the best weights, primed with a "
              f"newline, temperature {run['temperature']}, seed 0):", ""]
    for r in run["models"]:
        lines += [f"**{r['cell']}**", "", "```", r["sample"].strip("\n"), "```", ""]
    return "\n".join(lines)

def run_conditional(args) -> dict:
    """Train the label-conditioned word-level model on SST-2 and measure what the label does."""
    from bptt.jobs.sentiment import SentimentClassifier
    for name in ("train.tsv", "dev.tsv"):
        if not (SST2 / name).is_file():
            raise SystemExit(f"{SST2 / name}: SST-2 not found (expected ../shared/data/sst2/"
                             f"sentence_level/ relative to the repository root)")
    train, _ = read_dataset(SST2 / "train.tsv")
    dev, _ = read_dataset(SST2 / "dev.tsv", classes=train.classes)
    s = LMSettings(level="word", cell="lstm", embedding_dim=64, hidden_size=args.hidden_size,
                   condition="both", cond_embedding_dim=16, batch_size=args.batch_size, seq_len=60,
                   epochs=1000.0, min_freq=2, max_vocab=args.max_vocab, lr=args.lr,
                   clip_norm=args.clip_norm, seed=0)
    out_dir = args.runs / "conditional"
    for old in out_dir.glob("*") if out_dir.is_dir() else ():
        if old.is_file():
            old.unlink()
    with OtherLoad() as load:
        result = train_conditional(train.texts, train.labels, train.classes, dev.texts, dev.labels, s,
                                   out_dir=out_dir, progress=False, time_budget=args.budget_minutes * 60)
    tm = result.model
    seqs = sentence_ids(dev.texts, tm.vocab, s.level, s.seq_len)
    true = evaluate_sentences(tm.model, seqs, dev.labels)
    flipped = evaluate_sentences(tm.model, seqs, 1 - dev.labels)
    clf = SentimentClassifier.pretrained()
    labels = {}
    for k, name in enumerate(train.classes):
        texts = ["".join(tm.generate("", 40, args.temperature, seed=seed, label=name)) for seed in range(args.n_samples)]
        agree = float(np.mean(np.array(clf.predict(texts)) == name))
        labels[name] = {"classifier_agrees": agree, "greedy": "".join(tm.generate("", 40, 0.0, label=name)),
                        "samples": texts[:args.show]}
        print(f"{name}: the shipped classifier reads {agree:.0%} of {args.n_samples} samples as {name}", flush=True)
    epochs = [json.loads(l) for l in (out_dir / "metrics.jsonl").read_text().splitlines()]
    return {"command": "python bench/lm.py " + " ".join(sys.argv[1:]), "budget_minutes": args.budget_minutes,
            "threads": args.threads, "settings": {k: v for k, v in s.__dict__.items() if k != "epochs"},
            "machine": report.machine_info(REPO), "other_cpus": round(load.cpus, 2),
            "seconds": round(result.seconds, 1), "steps": result.trainer.state.global_step,
            "train_tokens": result.tokens, "vocab_size": len(tm.vocab),
            "passes": round(result.tokens / sum(len(t.split()) + 1 for t in train.texts), 2),
            "curve": [{"epoch": e["epoch"], "dev_perplexity": round(e["dev_perplexity"], 2)}
                      for e in epochs if "dev_perplexity" in e and "event" not in e],
            "dev_perplexity_true_label": round(float(np.exp(true)), 2),
            "dev_perplexity_flipped_label": round(float(np.exp(flipped)), 2),
            "temperature": args.temperature, "n_samples": args.n_samples, "labels": labels}


def conditional_markdown(run: dict) -> str:
    s = run["settings"]
    lines = [
        "# Conditional generation: SST-2 review openings from a sentiment label",
        "",
        f"Word-level LSTM language model (embedding {s['embedding_dim']}, H = {s['hidden_size']}, "
        f"vocabulary {run['vocab_size']:,} words seen twice or more in train), conditioned on the label "
        f"through h_0 = tanh(C onehot(label) + d) and a {s['cond_embedding_dim']}-d label embedding "
        f"at every step. Trained on the 6,920 SST-2 sentence-level train sentences for "
        f"{run['budget_minutes']:g} min ({run['steps']:,} steps, {run['passes']:.2f} passes, batch "
        f"{s['batch_size']}, Adam lr {s['lr']}, clip {s['clip_norm']}, {run['threads']} BLAS thread; "
        f"other processes kept {run['other_cpus']:.2f} of the 2 CPUs busy). Generated by `{run['command']}`.",
        "",
        "| dev perplexity (872 sentences) | with the true label | with the flipped label |",
        "|---|---:|---:|",
        f"| per word, end of sentence included | {run['dev_perplexity_true_label']:.1f} | "
        f"{run['dev_perplexity_flipped_label']:.1f} |",
        "",
        f"The shipped sentiment classifier (`SentimentClassifier.pretrained()`, 85% dev accuracy) on "
        f"{run['n_samples']} samples per label (temperature {run['temperature']}, seeds 0..{run['n_samples'] - 1}):",
        "",
        "| conditioned on | classified as that label |",
        "|---|---:|",
    ]
    for name, r in run["labels"].items():
        lines.append(f"| {name} | {r['classifier_agrees']:.0%} |")
    for name, r in run["labels"].items():
        lines += ["", f"**{name}** (`bptt generate MODEL --label {name} --seed S --temperature {run['temperature']}`, "
                  f"seeds 0..{len(r['samples']) - 1}; greedy last):", "", "```"]
        lines += r["samples"] + [r["greedy"] + "    [greedy]", "```"]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--budget-minutes", type=float, default=20.0, help="wall clock per model (default 20)")
    p.add_argument("--cells", nargs="+", default=list(CELLS), choices=CELLS)
    p.add_argument("--hidden-size", type=int, default=256)
    p.add_argument("--embedding-dim", type=int, default=64)
    p.add_argument("--num-layers", type=int, default=1)
    p.add_argument("--dropout", type=float, default=0.0, help="between recurrent layers")
    p.add_argument("--output-dropout", type=float, default=0.0, help="on the top layer's outputs")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=100)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--clip-norm", type=float, default=5.0)
    p.add_argument("--eval-every", type=int, default=150, help="chunks between validations")
    p.add_argument("--threads", type=int, default=1, help="BLAS threads")
    p.add_argument("--sample-length", type=int, default=500)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--text", type=Path, default=TEXT)
    p.add_argument("--runs", type=Path, default=REPO / "runs" / "bench-lm", help="checkpoints go here")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "lm",
                   help="writes OUT.json and OUT.md (OUT.conditional.* with --conditional)")
    p.add_argument("--conditional", action="store_true", help="the SST-2 conditional generation run")
    p.add_argument("--max-vocab", type=int, default=6000, help="--conditional: vocabulary size cap")
    p.add_argument("--n-samples", type=int, default=100, help="--conditional: samples per label to classify")
    p.add_argument("--show", type=int, default=5, help="--conditional: samples per label in the report")
    args = p.parse_args(argv)
    if args.conditional:
        with threadpool_limits(args.threads):
            run = run_conditional(args)
        json_path, md_path = (args.out.with_name(f"{args.out.name}.conditional.{ext}") for ext in ("json", "md"))
        report.write_atomic(json_path, json.dumps(run, indent=2) + "\n")
        report.write_atomic(md_path, conditional_markdown(run) + "\n")
        print(f"wrote {json_path} and {md_path}")
        return 0
    if not args.text.is_file():
        raise SystemExit(f"{args.text}: Tiny Shakespeare not found (expected "
                         f"../shared/data/tinyshakespeare/input.txt relative to the repository root)")
    text = args.text.read_text(encoding="utf-8")
    settings = LMSettings(level="char", embedding_dim=args.embedding_dim, hidden_size=args.hidden_size,
                          num_layers=args.num_layers, dropout=args.dropout, output_dropout=args.output_dropout,
                          batch_size=args.batch_size, seq_len=args.seq_len, epochs=1000.0,
                          eval_every=args.eval_every, lr=args.lr, clip_norm=args.clip_norm, seed=0)
    run = {"command": "python bench/lm.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "budget_minutes": args.budget_minutes, "threads": args.threads,
           "settings": {k: v for k, v in settings.__dict__.items() if k not in ("cell", "epochs")},
           "sample_length": args.sample_length, "temperature": args.temperature,
           "machine": report.machine_info(REPO), "loadavg_start": os.getloadavg()}
    with threadpool_limits(args.threads):
        run["probe"] = probe(settings, args.cells)
        run["models"] = []
        for cell in args.cells:
            out_dir = args.runs / cell
            for old in out_dir.glob("*") if out_dir.is_dir() else ():   # a fresh run, not a resume
                if old.is_file():
                    old.unlink()
            run["models"].append(run_one(text, cell, settings, args.budget_minutes * 60, out_dir,
                                         args.sample_length, args.temperature))
            report.write_atomic(args.out.with_suffix(".json"), json.dumps(run, indent=2) + "\n")
    run["loadavg_end"] = os.getloadavg()
    report.write_atomic(args.out.with_suffix(".json"), json.dumps(run, indent=2) + "\n")
    report.write_atomic(args.out.with_suffix(".md"), markdown(run) + "\n")
    print(f"wrote {args.out.with_suffix('.json')} and {args.out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
