#!/usr/bin/env bash
# The main demo: generate card transactions, append them to the embedded log, run the card-activity
# topology over it (windowed features to a file and to the feature stores), look features up online
# and export a point-in-time training set; then train a fraud model on per-card windowed features
# and score every payment with it inside a topology, predictions to the embedded log; the model
# answers HTTP requests (rtml serve); live: new payments are appended while the fraud topology
# follows the log, and a consumer prints each prediction as it arrives; last, drift: the world
# changes, rtml monitor flags it and sees the online AUC fall, rtml retrain trains and promotes a
# new version, and the next hour's AUC is back. Feature
# stores: Redis and PostgreSQL when they are running on their usual local ports, else the embedded
# defaults (in-process online store, PGlite).
set -euo pipefail
cd "$(dirname "$0")/.."
# Every background process below is started by `background` and stopped on any exit.
source demo/background.sh
DATA=data/demo
rm -rf "$DATA"
mkdir -p "$DATA"

reachable() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# What `npx rtml` runs, without npm's own notices in the output.
rtml() { node bin/rtml.mjs "$@"; }
ONLINE=memory:
OFFLINE="pglite:$DATA/pglite"
REGISTRY="pglite:$DATA/registry"
if reachable 6379; then ONLINE=redis://127.0.0.1:6379; fi
if reachable 5432; then OFFLINE=postgres://postgres@127.0.0.1:5432/test; REGISTRY=$OFFLINE; fi

echo "== generating 100,000 card transactions (and their fraud labels)"
node --import tsx demo/generate.ts --events 100000 --cards 500 --labels "$DATA/labels.jsonl" > "$DATA/transactions.jsonl"

echo "== rtml produce: validate against schemas/transaction.avsc, append to the embedded log (4 partitions)"
rtml produce "log:$DATA/transactions" --schema schemas/transaction.avsc --key card_id --partitions 4 < "$DATA/transactions.jsonl"
rtml log info "log:$DATA/transactions"

echo "== rtml run topologies/card-activity.ts: per-card 60 s windows every 20 s -> features (online $ONLINE, offline $OFFLINE)"
rtml run topologies/card-activity.ts \
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
  rtml features get card_activity card-1 card-2 --online "$ONLINE"
fi
echo "== rtml features export: each labelled transaction with card_activity as of its time, never later"
rtml features export --view card_activity --labels "$DATA/labels.jsonl" --out "$DATA/train.csv" --offline "$OFFLINE"
head -3 "$DATA/train.csv"

echo "== fraud model: per-card activity this minute (topologies/card-minute.ts), backfilled offline, joined point-in-time with the labels"
rtml backfill topologies/card-minute.ts --source "transactions=log:$DATA/transactions" --offline "$OFFLINE" --no-progress
rtml features export --view card_minute --labels "$DATA/labels.jsonl" --out "$DATA/fraud-train.csv" --offline "$OFFLINE"
FEATURES=amount,card_minute__n,card_minute__total,card_minute__uniq,card_minute__max_amount
echo "== rtml train: without the window features (amount only), then with them"
rtml train --data "$DATA/fraud-train.csv" --label is_fraud --features amount --out "$DATA/amount-only.onnx"
rtml train --data "$DATA/fraud-train.csv" --label is_fraud --features "$FEATURES" --out "$DATA/fraud.onnx"
echo "== rtml models register fraud (model registry: $REGISTRY), promoted to production"
rtml models register fraud "$DATA/fraud.onnx" --stage production --registry "$REGISTRY" --artifacts "$DATA/models"

echo "== rtml run topologies/fraud.ts: every payment enriched and scored; predictions to log:$DATA/predictions"
echo "   (a consumer, rtml log cat --follow, prints the flagged ones as they arrive)"
# It is done once 8 are printed (head), or at the latest 300 s on (--foreground: timeout stays in the job's group).
set -m
timeout --foreground 300 node bin/rtml.mjs log cat "log:$DATA/predictions" --follow 2>/dev/null \
  | grep --line-buffered '"label":1' | head -n 8 | cut -c1-240 &
set +m
started
CONSUMER=$BG_PID
CONSUMER_GROUP=$BG_GROUP
rtml run topologies/fraud.ts \
  --source "transactions=log:$DATA/transactions" --sink "predictions=log:$DATA/predictions" \
  --online "$ONLINE" --offline "$OFFLINE" --registry "$REGISTRY" --artifacts "$DATA/models" --no-progress
wait "$CONSUMER"
# The consumer's reader is still following the topic: stop it.
stop "$CONSUMER_GROUP"

echo "== rtml serve: the same model over HTTP; card-1's features this minute come from the online store ($ONLINE)"
PORT=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
# node itself, not the rtml function (a subshell would not pass the signal on)
background node bin/rtml.mjs serve --port "$PORT" --online "$ONLINE" --registry "$REGISTRY" --artifacts "$DATA/models" --model fraud 2> "$DATA/serve.log"
SERVER=$BG_PID
node -e '
const base = `http://127.0.0.1:${process.argv[1]}`;
(async () => {
  for (let i = 0; i < 200; i++) {
    const ready = await fetch(`${base}/ready`).then((r) => r.ok, () => false);
    if (ready) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const body of [
    { model_name: "fraud", features: { amount: 25 }, entity: { card_id: "card-1" }, return_probabilities: true },
    { model_name: "fraud", features: { amount: 980, card_minute__n: 6, card_minute__total: 4100, card_minute__uniq: 6, card_minute__max_amount: 990 } },
  ]) {
    const answer = await fetch(`${base}/predict`, { method: "POST", body: JSON.stringify(body) }).then((r) => r.text());
    console.log(`POST /predict ${JSON.stringify(body)}\n  -> ${answer}`);
  }
})();
' "$PORT"
kill -INT "$SERVER"
wait "$SERVER"

LIVE_EVENTS=600
echo "== live: rtml run topologies/fraud.ts --follow on log:$DATA/live; $LIVE_EVENTS new payments (some cards under attack)"
echo "   appended in bursts; a consumer (rtml log cat --follow) prints the flagged predictions as they arrive"
LAST_TS=$(tail -n 1 "$DATA/transactions.jsonl" | node -e 'process.stdin.on("data", (d) => console.log(JSON.parse(d).ts))')
node --import tsx demo/generate.ts --events "$LIVE_EVENTS" --cards 40 --seed 1 --fraud-rate 0.05 --start $((LAST_TS + 3600000)) > "$DATA/live.jsonl"
head -n 50 "$DATA/live.jsonl" | rtml produce "log:$DATA/live" --schema schemas/transaction.avsc --key card_id --partitions 4 > /dev/null
background node bin/rtml.mjs run topologies/fraud.ts --follow \
  --source "transactions=log:$DATA/live" --sink "predictions=log:$DATA/live-predictions" \
  --online "$ONLINE" --offline "$OFFLINE" --registry "$REGISTRY" --artifacts "$DATA/models" --no-progress 2> "$DATA/live-run.log"
RUN=$BG_PID
# The consumer follows the predictions topic and stops once every payment's prediction is in.
background node -e '
const [uri, want] = [process.argv[1], Number(process.argv[2])];
const cat = require("child_process").spawn(process.execPath, ["bin/rtml.mjs", "log", "cat", uri, "--follow"], { stdio: ["ignore", "pipe", "ignore"] });
const started = Date.now();
const giveUp = setTimeout(() => { console.error(`consumer: only ${seen} of ${want} predictions after 120 s`); process.exit(1); }, 120_000);
let seen = 0, flagged = 0;
require("readline").createInterface({ input: cat.stdout }).on("line", (line) => {
  const p = JSON.parse(line).value;
  seen++;
  if (p.label === 1) {
    flagged++;
    const at = ((Date.now() - started) / 1000).toFixed(1).padStart(5);
    console.log(`  +${at}s  ${p.card_id.padEnd(8)} ${p.merchant_id.padEnd(14)} ${p.amount.toFixed(2).padStart(7)}  score ${p.score.toFixed(3)}  FLAGGED (${p.model} ${p.version})`);
  }
  if (seen % 100 === 0 || seen === want) console.log(`  ... ${seen} predictions so far, ${flagged} flagged`);
  if (seen === want) { clearTimeout(giveUp); cat.kill("SIGINT"); }
});
' "log:$DATA/live-predictions" "$LIVE_EVENTS"
CONSUMER=$BG_PID
for start in $(seq 51 50 "$LIVE_EVENTS"); do
  sleep 0.5
  # sed, not tail | head: tail would die of SIGPIPE once head has its 50 lines, and pipefail stops the demo.
  sed -n "${start},$((start + 49))p" "$DATA/live.jsonl" | rtml produce "log:$DATA/live" --schema schemas/transaction.avsc --key card_id > /dev/null
done
wait "$CONSUMER"
kill -INT "$RUN"
wait "$RUN"
grep -v "^rtml: features:" "$DATA/live-run.log" | tail -n 1

echo "== drift: the holidays come: people spend more, and fraudsters switch to card testing (runs of small"
echo "   payments at the card's usual shops), which the fraud model never saw"
# Windows of 10 minutes, aligned; the world shifts 20 minutes in. Outcomes (chargebacks) come 1-30 minutes after each payment.
SEASON=$(( (LAST_TS / 600000 + 12) * 600000 ))
SHIFT=$((SEASON + 1200000))
node --import tsx demo/generate.ts --events 80000 --cards 500 --seed 7 --start "$SEASON" --shift-at "$SHIFT" \
  --labels "$DATA/season-labels.jsonl" --outcomes "$DATA/season-outcomes.jsonl" > "$DATA/season.jsonl"
rtml produce "log:$DATA/season" --schema schemas/transaction.avsc --key card_id --partitions 4 < "$DATA/season.jsonl" > /dev/null
rtml produce "log:$DATA/season-outcomes" --schema schemas/outcome.avsc --key txn_id --partitions 2 < "$DATA/season-outcomes.jsonl" > /dev/null
rtml run topologies/fraud.ts --source "transactions=log:$DATA/season" --sink "predictions=log:$DATA/season-predictions" \
  --online "$ONLINE" --offline "$OFFLINE" --registry "$REGISTRY" --artifacts "$DATA/models" --no-progress 2>&1 | grep -v "^rtml: features:"
echo "== rtml monitor fraud: each 10-minute window of predictions against the reference profile of the version that scored it,"
echo "   and online accuracy as the outcomes arrive (rows in $REGISTRY: rtml_drift, rtml_accuracy)"
# From the second window: the first holds the pipeline's cold start (per-card minutes without history).
rtml monitor fraud --source "predictions=log:$DATA/season-predictions" --source "outcomes=log:$DATA/season-outcomes" \
  --label is_fraud --window 10m --from "t:$((SEASON + 600000))" --sink "drift=file:$DATA/drift.jsonl" --sink "accuracy=file:$DATA/accuracy.jsonl" \
  --registry "$REGISTRY" --artifacts "$DATA/models" --no-progress 2>&1 | grep -v "late event(s) dropped"
node demo/windows.mjs "$DATA/drift.jsonl" "$DATA/accuracy.jsonl" "$SHIFT"

echo "== rtml retrain --policy demo/retrain.yaml: the drift triggers it; the challenger trains on the last 18 minutes"
echo "   of labels (features point-in-time from the offline store) and is promoted only if it beats production on the latest rows"
rtml retrain --policy demo/retrain.yaml --registry "$REGISTRY" --artifacts "$DATA/models" --offline "$OFFLINE"
rtml models list fraud --registry "$REGISTRY" --artifacts "$DATA/models"

echo "== the next hour of the holidays, scored by production, watched the same way: the AUC is back"
NEXT=$((SEASON + 3000000))
node --import tsx demo/generate.ts --events 40000 --cards 500 --seed 8 --start "$NEXT" --shift-at "$NEXT" \
  --outcomes "$DATA/next-outcomes.jsonl" > "$DATA/next.jsonl"
rtml produce "log:$DATA/next" --schema schemas/transaction.avsc --key card_id --partitions 4 < "$DATA/next.jsonl" > /dev/null
rtml produce "log:$DATA/next-outcomes" --schema schemas/outcome.avsc --key txn_id --partitions 2 < "$DATA/next-outcomes.jsonl" > /dev/null
rtml run topologies/fraud.ts --source "transactions=log:$DATA/next" --sink "predictions=log:$DATA/next-predictions" \
  --online "$ONLINE" --offline "$OFFLINE" --registry "$REGISTRY" --artifacts "$DATA/models" --no-progress 2>&1 | grep -v "^rtml: features:"
rtml monitor fraud --source "predictions=log:$DATA/next-predictions" --source "outcomes=log:$DATA/next-outcomes" \
  --label is_fraud --window 10m --from "t:$((NEXT + 600000))" --sink "drift=file:$DATA/next-drift.jsonl" --sink "accuracy=file:$DATA/next-accuracy.jsonl" \
  --registry "$REGISTRY" --artifacts "$DATA/models" --no-progress 2>&1 | grep -v "late event(s) dropped"
node demo/windows.mjs "$DATA/next-drift.jsonl" "$DATA/next-accuracy.jsonl"
