#!/usr/bin/env bash
# Every benchmark, one line of output each. Run with the V8 flag bin/rtml.mjs uses, so in-process
# baselines and rtml run under the same conditions.
set -euo pipefail
cd "$(dirname "$0")/.."
for script in jsonl-run log-run log-read checkpoint-cost backfill online-lookup train score fraud swap serve kafka-e2e transports scale-out nexmark; do
  node --max-semi-space-size=64 --import tsx "bench/$script.ts"
done
