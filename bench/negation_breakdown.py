"""Which negation pairs sentiment models lose, by kind.

    python bench/negation_breakdown.py sst2 runs/ft/sst2_ulmfit_lm2_adv1/best ...

For each MODEL (a shipped name or a model directory): the pairs of ``bench/negation_pairs.tsv``
fully right in each group of ``sentiment_search.PAIR_GROUPS`` (46 negating a positive sentence,
24 negating a negative one, 29 of the harder kinds; ``bench/negation_pairs.md``), with how many
base and negated sentences are right. Writes ``bench/results/negation_breakdown.json`` and ``.md``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from bptt.jobs.sentiment import load_sentiment_model  # noqa: E402
from ensemble_eval import label  # noqa: E402
from report import write_atomic  # noqa: E402
from sentiment_search import PAIR_GROUPS, pair_figures  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", help="shipped names or model directories")
    args = ap.parse_args()
    records = {}
    for spec in args.models:
        model, _ = load_sentiment_model(spec)
        figures = pair_figures(model.predict)
        records[label(spec)] = {"model": spec, "pairs_all": figures["pairs_all"], "groups": figures["groups"]}
    head = " | ".join(f"{name} ({len(k)})" for name, k in PAIR_GROUPS.items())
    lines = ["# Negation pairs lost, by kind", "",
             f"`python bench/negation_breakdown.py {' '.join(args.models)}`", "",
             "Each cell: pairs fully right (base sentences right, negated sentences right).", "",
             f"| model | {head} | all |", "|---|" + "---|" * len(PAIR_GROUPS) + "---|"]
    for name, r in records.items():
        cells = " | ".join(f"{g[0]} ({g[1]}, {g[2]})" for g in r["groups"].values())
        lines.append(f"| {name} | {cells} | {100 * r['pairs_all']:.1f}% |")
    write_atomic(RESULTS / "negation_breakdown.md", "\n".join(lines) + "\n")
    write_atomic(RESULTS / "negation_breakdown.json", json.dumps(records, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
