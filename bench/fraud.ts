/**
 * The whole fraud topology (topologies/fraud.ts: per-card minute features in update mode,
 * materialised, -> enrich -> score with the registry's `fraud` model -> predictions) over 200k
 * demo transactions (demo/generate.ts, 500 cards) from the embedded log (4 partitions, `rtml
 * produce`). The model is made once as demo/run.sh makes it, on a separate, smaller set of
 * transactions: `rtml backfill` of topologies/card-minute.ts into a scratch PGlite, `rtml features
 * export` with the labels, `rtml train` (30 trees, depth 4), `rtml models register` and `promote`
 * in a scratch PGlite registry. The topology then runs in this process (as bench/score.ts does),
 * predictions to a discarding sink, online features to the in-process store (memory:, the default
 * of `rtml run`), offline feature rows counted and discarded. Baselines from the same run and
 * process: the same topology without score() (features, enrich, sink), and a decode-only pass over
 * the same log (as bench/log-run.ts). Warm-up, then best of 3 each. Prints one line.
 * Run: node --max-semi-space-size=64 --import tsx bench/fraud.ts [events]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineTopology, enrich, keyBy } from '../engine/index.ts';
import type { RunStats } from '../engine/runtime.ts';
import type { Topology } from '../engine/topology.ts';
import { cardMinute, minuteFeatures } from '../topologies/card-minute.ts';
import { fraudBench } from './fraudSetup.ts';
import { decodeOnlySeconds } from './support.ts';

const n = Number(process.argv[2] ?? 200_000);
const dir = mkdtempSync(join(tmpdir(), 'rtml-bench-fraud-'));
const bench = await fraudBench(dir, n);
const { topic, fraud } = bench;
/** The same topology without score(): the feature branch and enrich, to the same sink. */
const unscored = defineTopology('fraud-unscored', ({ source, sink }) => {
  const payments = source('transactions', { schema: '../schemas/transaction.avsc', time: 'ts', outOfOrder: '5s' }).pipe(keyBy('card_id'));
  return [payments.pipe(minuteFeatures), payments.pipe(enrich(cardMinute, { prefix: 'card_minute__' }), sink('predictions'))];
});
const runOnce = (topology: Topology) => bench.run(topology);

await runOnce(fraud); // warm-up (JIT, model load paths)
let best: RunStats | undefined;
let bestUnscored: RunStats | undefined;
let decode = Infinity;
let rowsPerRun = 0;
for (let i = 0; i < 3; i++) {
  const before = bench.featureRows();
  const s = await runOnce(fraud);
  rowsPerRun = bench.featureRows() - before;
  if (best === undefined || s.elapsedMs < best.elapsedMs) best = s;
  const u = await runOnce(unscored);
  if (bestUnscored === undefined || u.elapsedMs < bestUnscored.elapsedMs) bestUnscored = u;
  decode = Math.min(decode, await decodeOnlySeconds(topic, n));
}
rmSync(dir, { recursive: true, force: true });

const k = (eventsPerSecond: number) => `${Math.round(eventsPerSecond / 1000)}k ev/s`;
const seconds = best!.elapsedMs / 1000;
console.log(
  `fraud topology (update-mode card_minute features -> enrich -> score registry:fraud, 30 trees depth 4), ${n / 1000}k log events, 4 partitions: ` +
    `${seconds.toFixed(2)}s in the engine (${k(n / seconds)}), ${best!.resultsOut.toLocaleString('en-US')} predictions out, ` +
    `${rowsPerRun.toLocaleString('en-US')} feature rows, ${best!.late} late, ${best!.deadLettered} dead-lettered; ` +
    `without score() ${k(n / (bestUnscored!.elapsedMs / 1000))} (fraud/unscored ${(bestUnscored!.elapsedMs / best!.elapsedMs).toFixed(2)}x), ` +
    `decode-only pass ${k(n / decode)} (fraud/decode-only ${(decode / seconds).toFixed(2)}x)`,
);
