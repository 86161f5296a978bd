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
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTopology } from '../cli/loadTopology.ts';
import { featureStore } from '../connectors/features/featureStore.ts';
import { memoryOnline } from '../connectors/features/memoryOnline.ts';
import type { OfflineStore } from '../connectors/features/stores.ts';
import { logSource } from '../connectors/log/source.ts';
import { nullSink } from '../connectors/null/sink.ts';
import { defineTopology, enrich, keyBy } from '../engine/index.ts';
import { runTopology, type RunStats } from '../engine/runtime.ts';
import type { Topology } from '../engine/topology.ts';
import { registryModels } from '../models/registry/index.ts';
import { cardMinute, minuteFeatures } from '../topologies/card-minute.ts';
import { FRAUD_FEATURES } from '../topologies/fraud.ts';
import { RTML, ROOT, decodeOnlySeconds } from './support.ts';

const n = Number(process.argv[2] ?? 200_000);
const dir = mkdtempSync(join(tmpdir(), 'rtml-bench-fraud-'));
const registry = `pglite:${join(dir, 'registry')}`;
const artifacts = join(dir, 'models');
const rtml = (...args: string[]) => execFileSync(process.execPath, [RTML, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });

/** Demo transactions (and labels) appended to a 4-partition log topic; returns the topic. */
function produce(name: string, events: number, seed: number, labels?: string): string {
  const jsonl = execFileSync(
    process.execPath,
    ['--import', 'tsx', 'demo/generate.ts', '--events', String(events), '--cards', '500', '--seed', String(seed), ...(labels ? ['--labels', labels] : [])],
    { cwd: ROOT, maxBuffer: 1 << 30 },
  );
  const topic = join(dir, name);
  execFileSync(process.execPath, [RTML, 'produce', `log:${topic}`, '--schema', 'schemas/transaction.avsc', '--key', 'card_id', '--partitions', '4'], {
    cwd: ROOT,
    input: jsonl,
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  return topic;
}

// The model, once: trained on 40k other transactions (seed 2), as demo/run.sh does.
const labels = join(dir, 'labels.jsonl');
const training = produce('train', 40_000, 2, labels);
const offline = `pglite:${join(dir, 'pglite')}`;
rtml('backfill', 'topologies/card-minute.ts', '--source', `transactions=log:${training}`, '--offline', offline, '--no-progress');
rtml('features', 'export', '--view', 'card_minute', '--labels', labels, '--out', join(dir, 'train.csv'), '--offline', offline);
rtml('train', '--data', join(dir, 'train.csv'), '--label', 'is_fraud', '--features', FRAUD_FEATURES.join(','), '--out', join(dir, 'fraud.onnx'), '--trees', '30', '--depth', '4');
rtml('models', 'register', 'fraud', join(dir, 'fraud.onnx'), '--registry', registry, '--artifacts', artifacts);
rtml('models', 'promote', 'fraud', '1', '--stage', 'production', '--registry', registry, '--artifacts', artifacts);

const topic = produce('transactions', n, 1);
const { topology: fraud, path } = await loadTopology(join(ROOT, 'topologies/fraud.ts'));
const baseDir = join(path, '..');
/** The same topology without score(): the feature branch and enrich, to the same sink. */
const unscored = defineTopology('fraud-unscored', ({ source, sink }) => {
  const payments = source('transactions', { schema: '../schemas/transaction.avsc', time: 'ts', outOfOrder: '5s' }).pipe(keyBy('card_id'));
  return [payments.pipe(minuteFeatures), payments.pipe(enrich(cardMinute, { prefix: 'card_minute__' }), sink('predictions'))];
});

let featureRows = 0;
/** Offline writes counted and discarded (the in-process online store is written as `rtml run` does by default). */
const discardingOffline: OfflineStore = {
  description: 'discarding',
  ensureView: async () => {},
  write: async (_view, rows) => void (featureRows += rows.length),
  latest: async (_view, entities) => entities.map(() => null),
  views: async () => [],
  asOf: async () => [],
  close: async () => {},
};

async function runOnce(topology: Topology): Promise<RunStats> {
  const models = registryModels(registry, artifacts, () => {});
  const warnings: string[] = [];
  try {
    const stats = await runTopology(topology, {
      sources: { transactions: logSource(topic) },
      sinks: { predictions: nullSink() },
      features: featureStore({ online: memoryOnline(), offline: discardingOffline }),
      models,
      baseDir,
      warn: (m) => warnings.push(m),
    });
    if (stats.in !== n) throw new Error(`read ${stats.in} of ${n}: ${warnings.join('; ')}`);
    return stats;
  } finally {
    await models.close();
  }
}


await runOnce(fraud); // warm-up (JIT, model load paths)
let best: RunStats | undefined;
let bestUnscored: RunStats | undefined;
let decode = Infinity;
let rowsPerRun = 0;
for (let i = 0; i < 3; i++) {
  featureRows = 0;
  const s = await runOnce(fraud);
  rowsPerRun = featureRows;
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
