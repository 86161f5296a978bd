import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { loadTopology } from '../cli/loadTopology.ts';
import { featureStore } from '../connectors/features/featureStore.ts';
import { memoryOnline } from '../connectors/features/memoryOnline.ts';
import type { OfflineStore } from '../connectors/features/stores.ts';
import { logSource } from '../connectors/log/source.ts';
import { nullSink } from '../connectors/null/sink.ts';
import { runTopology, type RunOptions, type RunStats } from '../engine/runtime.ts';
import type { Topology } from '../engine/topology.ts';
import { registryModels } from '../models/registry/index.ts';
import { FRAUD_FEATURES } from '../topologies/fraud.ts';
import { RTML, ROOT } from './support.ts';

/**
 * The fraud topology's bench set-up, shared by bench/fraud.ts and bench/monitor.ts: the model made
 * once as demo/run.sh makes it, on a separate, smaller set of transactions (`rtml backfill` of
 * topologies/card-minute.ts into a scratch PGlite, `rtml features export` with the labels, `rtml
 * train` 30 trees depth 4 — which embeds the reference profile —, `rtml models register --stage
 * production` in a scratch PGlite registry); `n` demo transactions (500 cards) on a 4-partition
 * embedded log; and a run of a topology in this process as `rtml run` would, predictions to a
 * discarding sink, online features to the in-process store, offline rows counted and discarded.
 */
export interface FraudBench {
  readonly topic: string;
  readonly fraud: Topology;
  /** Offline feature rows the runs wrote (and discarded), in all. */
  readonly featureRows: () => number;
  run(topology: Topology, extra?: Partial<RunOptions>): Promise<RunStats>;
}

export async function fraudBench(dir: string, n: number): Promise<FraudBench> {
  const registry = `pglite:${join(dir, 'registry')}`;
  const artifacts = join(dir, 'models');
  const rtml = (...args: string[]) => execFileSync(process.execPath, [RTML, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  /** Demo transactions (and labels) appended to a 4-partition log topic; returns the topic. */
  const produce = (name: string, events: number, seed: number, labels?: string): string => {
    const jsonl = execFileSync(
      process.execPath,
      ['--import', 'tsx', 'demo/generate.ts', '--events', String(events), '--cards', '500', '--seed', String(seed), ...(labels ? ['--labels', labels] : [])],
      { cwd: ROOT, maxBuffer: 1 << 30 },
    );
    const topic = join(dir, name);
    execFileSync(process.execPath, [RTML, 'produce', `log:${topic}`, '--schema', 'schemas/transaction.avsc', '--key', 'card_id', '--partitions', '4'], { cwd: ROOT, input: jsonl, stdio: ['pipe', 'ignore', 'pipe'] });
    return topic;
  };
  const labels = join(dir, 'labels.jsonl');
  const training = produce('train', 40_000, 2, labels);
  const offline = `pglite:${join(dir, 'pglite')}`;
  rtml('backfill', 'topologies/card-minute.ts', '--source', `transactions=log:${training}`, '--offline', offline, '--no-progress');
  rtml('features', 'export', '--view', 'card_minute', '--labels', labels, '--out', join(dir, 'train.csv'), '--offline', offline);
  rtml('train', '--data', join(dir, 'train.csv'), '--label', 'is_fraud', '--features', FRAUD_FEATURES.join(','), '--out', join(dir, 'fraud.onnx'), '--trees', '30', '--depth', '4');
  rtml('models', 'register', 'fraud', join(dir, 'fraud.onnx'), '--stage', 'production', '--registry', registry, '--artifacts', artifacts);

  const topic = produce('transactions', n, 1);
  const { topology: fraud, path } = await loadTopology(join(ROOT, 'topologies/fraud.ts'));
  let featureRows = 0;
  const discardingOffline: OfflineStore = {
    description: 'discarding',
    ensureView: async () => {},
    write: async (_view, rows) => void (featureRows += rows.length),
    latest: async (_view, entities) => entities.map(() => null),
    views: async () => [],
    asOf: async () => [],
    close: async () => {},
  };
  return {
    topic,
    fraud,
    featureRows: () => featureRows,
    async run(topology, extra = {}) {
      const models = registryModels(registry, artifacts, () => {});
      const warnings: string[] = [];
      try {
        const stats = await runTopology(topology, {
          sources: { transactions: logSource(topic) },
          sinks: { predictions: nullSink() },
          features: featureStore({ online: memoryOnline(), offline: discardingOffline }),
          models,
          baseDir: join(path, '..'),
          warn: (m) => warnings.push(m),
          ...extra,
        });
        if (stats.in !== n) throw new Error(`read ${stats.in} of ${n}: ${warnings.join('; ')}`);
        const unmonitored = warnings.find((w) => w.includes('no reference profile'));
        if (unmonitored !== undefined) throw new Error(unmonitored);
        return stats;
      } finally {
        await models.close();
      }
    },
  };
}
