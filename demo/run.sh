#!/usr/bin/env bash
# The main demo: generate card transactions, append them to the embedded log, run the card-activity
# topology over it (windowed features to a file and to the feature stores), look features up online
# and export a point-in-time training set. Feature stores: Redis and PostgreSQL when they are running
# on their usual local ports, else the embedded defaults (in-process online store, PGlite).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=data/demo
rm -rf "$DATA"
mkdir -p "$DATA"

reachable() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
ONLINE=memory:
OFFLINE="pglite:$DATA/pglite"
if reachable 6379; then ONLINE=redis://127.0.0.1:6379; fi
if reachable 5432; then OFFLINE=postgres://postgres@127.0.0.1:5432/test; fi

echo "== generating 100,000 card transactions (and their fraud labels)"
node --import tsx demo/generate.ts --events 100000 --cards 500 --labels "$DATA/labels.jsonl" > "$DATA/transactions.jsonl"

echo "== rtml produce: validate against schemas/transaction.avsc, append to the embedded log (4 partitions)"
npx rtml produce "log:$DATA/transactions" --schema schemas/transaction.avsc --key card_id --partitions 4 < "$DATA/transactions.jsonl"
npx rtml log info "log:$DATA/transactions"

echo "== rtml run topologies/card-activity.ts: per-card 60 s windows every 20 s -> features (online $ONLINE, offline $OFFLINE)"
npx rtml run topologies/card-activity.ts \
  --source "events=log:$DATA/transactions" \
  --sink "out=file:$DATA/features.jsonl" \
  --sink "late=file:$DATA/late.jsonl" \
  --sink "dlq=file:$DATA/dlq.jsonl" \
  --online "$ONLINE" --offline "$OFFLINE"

echo "== windowed features: busiest card windows ($(wc -l < "$DATA/features.jsonl") results in $DATA/features.jsonl)"
node -e '
const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
rows.sort((a, b) => b.total - a.total);
for (const r of rows.slice(0, 3)) console.log(JSON.stringify(r));
' "$DATA/features.jsonl"
echo "== late events kept in $DATA/late.jsonl: $(wc -l < "$DATA/late.jsonl")"

if [ "$ONLINE" != memory: ]; then
  echo "== rtml features get card_activity card-1 card-2 (online, $ONLINE)"
  npx rtml features get card_activity card-1 card-2 --online "$ONLINE"
fi
echo "== rtml features export: each labelled transaction with card_activity as of its time, never later"
npx rtml features export --view card_activity --labels "$DATA/labels.jsonl" --out "$DATA/train.csv" --offline "$OFFLINE"
head -3 "$DATA/train.csv"
