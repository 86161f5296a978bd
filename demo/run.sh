#!/usr/bin/env bash
# The main demo on embedded defaults (no broker, no database): generate card transactions, append
# them to the embedded log, run the card-activity topology over it and print windowed features.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=data/demo
rm -rf "$DATA"
mkdir -p "$DATA"

echo "== generating 100,000 card transactions"
node --import tsx demo/generate.ts --events 100000 --cards 500 > "$DATA/transactions.jsonl"

echo "== rtml produce: validate against schemas/transaction.avsc, append to the embedded log (4 partitions)"
npx rtml produce "log:$DATA/transactions" --schema schemas/transaction.avsc --key card_id --partitions 4 < "$DATA/transactions.jsonl"
npx rtml log info "log:$DATA/transactions"

echo "== rtml run topologies/card-activity.ts: per-card 60 s windows every 20 s"
npx rtml run topologies/card-activity.ts \
  --source "events=log:$DATA/transactions" \
  --sink "out=file:$DATA/features.jsonl" \
  --sink "late=file:$DATA/late.jsonl" \
  --sink "dlq=file:$DATA/dlq.jsonl"

echo "== windowed features: busiest card windows ($(wc -l < "$DATA/features.jsonl") results in $DATA/features.jsonl)"
node -e '
const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
rows.sort((a, b) => b.total - a.total);
for (const r of rows.slice(0, 5)) console.log(JSON.stringify(r));
' "$DATA/features.jsonl"
echo "== late events kept in $DATA/late.jsonl: $(wc -l < "$DATA/late.jsonl")"
