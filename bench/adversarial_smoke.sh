#!/bin/bash
# A smoke of --adversarial and --virtual-adversarial on SST-2 (not a result: it shows the options
# run, and what a step costs): one epoch of a small GRU, each variant, written to
# bench/results/adversarial_smoke.txt. Run from the repository with bptt installed:
#   bash bench/adversarial_smoke.sh [DATA=../shared/data]
set -e
DATA=${1:-${BPTT_SHARED_DATA:-../shared/data}}
OUT=bench/results/adversarial_smoke.txt
RUNS=$(mktemp -d)
COMMON="--train $DATA/sst2/train.tsv --dev $DATA/sst2/dev.tsv --cell gru --embedding-dim 32 --hidden-size 32 --bidirectional false --pooling max --epochs 1 --batch-size 64 --quiet --overwrite"
: > "$OUT"
for variant in "plain:" "adversarial:--adversarial 1.0" "vat:--virtual-adversarial 1.0"; do
  name=${variant%%:*}; flags=${variant#*:}
  echo "== $name: bptt train sentiment $COMMON --out RUN $flags" >> "$OUT"
  /usr/bin/time -f "peak RSS %M KB, wall %e s" bptt train sentiment $COMMON --out "$RUNS/$name" $flags 2>&1 \
    | grep -E "^epoch|^best|^peak" >> "$OUT"
done
rm -rf "$RUNS"
cat "$OUT"
