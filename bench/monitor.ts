/**
 * What model monitoring costs the fraud topology (issue 14: at most 10 % of its throughput). The
 * fraud topology (topologies/fraud.ts) runs as bench/fraud.ts runs it — the same model, made the
 * same way (demo transactions, `rtml backfill` of card_minute, `rtml features export`, `rtml train`
 * 30 trees depth 4, which embeds the reference profile, `rtml models register --stage production`
 * into a scratch PGlite registry), 200k demo transactions from a 4-partition embedded log,
 * predictions to a discarding sink, the in-process online store, offline rows discarded — once as
 * it is and once with `monitor('registry:fraud', { window: tumbling('1m') })` (or the window given) on its predictions
 * (after sink('predictions'), so the predictions are scored once), the drift records going to a
 * recorder that counts them (as `rtml run --monitor-db` would write them). Both in this process,
 * alternating (ABBA, so drift of the machine falls on both), after a warm-up of each; medians.
 * Prints one line.
 * Run: node --max-semi-space-size=64 --import tsx bench/monitor.ts [events] [rounds] [window] [maxValues]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipe, type MonoTypeOperatorFunction } from 'rxjs';
import { loadTopology } from '../cli/loadTopology.ts';
import { featureStore } from '../connectors/features/featureStore.ts';
import { memoryOnline } from '../connectors/features/memoryOnline.ts';
import type { OfflineStore } from '../connectors/features/stores.ts';
import { logSource } from '../connectors/log/source.ts';
import { nullSink } from '../connectors/null/sink.ts';
import { defineTopology, monitor, parseDuration, tumbling } from '../engine/index.ts';
import type { MonitoringRecorder } from '../engine/monitoring/records.ts';
import { runTopology, type RunStats } from '../engine/runtime.ts';
import type { Topology } from '../engine/topology.ts';
import { registryModels } from '../models/registry/index.ts';
import { FRAUD_FEATURES } from '../topologies/fraud.ts';
import { RTML, ROOT } from './support.ts';

const n = Number(process.argv[2] ?? 200_000);
const rounds = Number(process.argv[3] ?? 5);
/** The monitor's tumbling window (the issue's figure is for 1m; the cost per event falls as windows hold more events). */
const windowText = process.argv[4] ?? '1m';
const windowSize = parseDuration(windowText, 'window');
/** Values compared per feature and window (monitor()'s maxValues; default: all of them, up to 100,000). */
const maxValues = process.argv[5] === undefined ? undefined : Number(process.argv[5]);
const dir = mkdtempSync(join(tmpdir(), 'rtml-bench-monitor-'));
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
  execFileSync(process.execPath, [RTML, 'produce', `log:${topic}`, '--schema', 'schemas/transaction.avsc', '--key', 'card_id', '--partitions', '4'], { cwd: ROOT, input: jsonl, stdio: ['pipe', 'ignore', 'pipe'] });
  return topic;
}

// The model with its reference profile, once: trained on 40k other transactions (seed 2), as bench/fraud.ts and demo/run.sh make it.
const labels = join(dir, 'labels.jsonl');
const training = produce('train', 40_000, 2, labels);
const offline = `pglite:${join(dir, 'pglite')}`;
rtml('backfill', 'topologies/card-minute.ts', '--source', `transactions=log:${training}`, '--offline', offline, '--no-progress');
rtml('features', 'export', '--view', 'card_minute', '--labels', labels, '--out', join(dir, 'train.csv'), '--offline', offline);
rtml('train', '--data', join(dir, 'train.csv'), '--label', 'is_fraud', '--features', FRAUD_FEATURES.join(','), '--out', join(dir, 'fraud.onnx'), '--trees', '30', '--depth', '4');
rtml('models', 'register', 'fraud', join(dir, 'fraud.onnx'), '--stage', 'production', '--registry', registry, '--artifacts', artifacts);

const topic = produce('transactions', n, 1);
const { topology: fraud, path } = await loadTopology(join(ROOT, 'topologies/fraud.ts'));
const baseDir = join(path, '..');

/**
 * topologies/fraud.ts as it is, but for a monitor on what its `predictions` sink writes. The
 * monitor's drift records end the stream there (fraud.ts reads nothing after the sink), hence the
 * cast back to the sink's type.
 */
const monitored = defineTopology('fraud-monitored', (builder) =>
  fraud.build({
    source: builder.source,
    sink: <T>(name: string): MonoTypeOperatorFunction<T> =>
      name === 'predictions' ? (pipe(builder.sink<T>(name), monitor('registry:fraud', { window: tumbling(windowSize), maxValues })) as unknown as MonoTypeOperatorFunction<T>) : builder.sink<T>(name),
  }),
);

/** Offline feature rows discarded (the in-process online store is written as `rtml run` does by default). */
const discardingOffline: OfflineStore = {
  description: 'discarding',
  ensureView: async () => {},
  write: async () => {},
  latest: async (_view, entities) => entities.map(() => null),
  views: async () => [],
  asOf: async () => [],
  close: async () => {},
};

let driftRecords = 0;
/** Drift records counted and discarded, as the run hands them to `rtml run --monitor-db`'s recorder. */
const countingRecorder: MonitoringRecorder = {
  description: 'counting',
  write: async (drift) => void (driftRecords += drift.length),
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
      monitoring: countingRecorder,
      baseDir,
      warn: (m) => warnings.push(m),
    });
    if (stats.in !== n) throw new Error(`read ${stats.in} of ${n}: ${warnings.join('; ')}`);
    const unmonitored = warnings.find((w) => w.includes('no reference profile'));
    if (unmonitored !== undefined) throw new Error(unmonitored);
    return stats;
  } finally {
    await models.close();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

await runOnce(fraud); // warm-up of both (JIT, model and profile load paths)
await runOnce(monitored);
const recordsPerRun = driftRecords;
if (recordsPerRun === 0) throw new Error('the monitor wrote no drift records: no window fired');
const plain: number[] = [];
const watched: number[] = [];
for (let i = 0; i < rounds; i++) {
  // ABBA: each pair in the other order than the last.
  for (const topology of i % 2 === 0 ? [fraud, monitored] : [monitored, fraud]) {
    const seconds = (await runOnce(topology)).elapsedMs / 1000;
    (topology === fraud ? plain : watched).push(n / seconds);
  }
}
rmSync(dir, { recursive: true, force: true });

const without = median(plain);
const withMonitor = median(watched);
const k = (eventsPerSecond: number) => `${Math.round(eventsPerSecond / 1000)}k ev/s`;
console.log(
  `monitor cost: fraud topology, ${n / 1000}k log events, 4 partitions, median of ${rounds} alternating runs each: ` +
    `without monitor ${k(without)}, with monitor('registry:fraud', tumbling ${windowText}${maxValues === undefined ? '' : `, maxValues ${maxValues}`}) ${k(withMonitor)} (${recordsPerRun.toLocaleString('en-US')} drift records a run); ` +
    `with/without ${(withMonitor / without).toFixed(3)}, cost ${((1 - withMonitor / without) * 100).toFixed(1)} % of throughput`,
);
