import { dirname } from 'node:path';
import { RtmlError } from '../engine/errors.ts';
import type { FeatureRow, FeatureStore, FeatureValue } from '../engine/features.ts';
import type { SourceConnector } from '../engine/io.ts';
import { runTopology } from '../engine/runtime.ts';
import { onnxFileModels } from '../models/onnx/index.ts';
import type { OnlineFeatures } from '../connectors/features/stores.ts';
import { DEFAULT_OFFLINE, offlineStoreFromUri, onlineStoreFromUri } from '../connectors/features/uri.ts';
import { nullSink } from '../connectors/null/sink.ts';
import { sourceFromUri } from '../connectors/uri.ts';
import { loadTopology } from './loadTopology.ts';
import { bindings } from './run.ts';
import { logLine } from '../engine/log.ts';

export interface VerifyOptions {
  source: string[];
  view: string;
  online: string;
  offline?: string;
}

interface Latest {
  time: number;
  values: Readonly<Record<string, FeatureValue>>;
}

/** Captures the latest row per entity of one view, as the online store keeps them (newer wins). */
function recomputing(view: string): { store: FeatureStore; latest: Map<string, Latest>; rows: () => number } {
  const latest = new Map<string, Latest>();
  let rows = 0;
  const take = (row: FeatureRow) => {
    rows++;
    const current = latest.get(row.entity);
    if (current === undefined || row.time >= current.time) latest.set(row.entity, { time: row.time, values: row.values });
  };
  const store: FeatureStore = {
    description: 'recompute',
    async open() {
      return { write: (v, row) => (v.name === view ? take(row) : undefined), pending: 0, flush: async () => {}, close: async () => {} };
    },
  };
  return { store, latest, rows: () => rows };
}

function differs(expected: Latest, found: OnlineFeatures | null): string | undefined {
  if (found === null) return 'missing';
  if (found.time !== expected.time) return `time ${found.time}, expected ${expected.time}`;
  for (const [name, value] of Object.entries(expected.values)) {
    if (found.values[name] !== value) return `${name} ${JSON.stringify(found.values[name])}, expected ${JSON.stringify(value)}`;
  }
  return undefined;
}

const CHUNK = 1000;
const SHOWN = 10;

/**
 * `rtml features verify <topology> --view V --source …`: recomputes the view from the sources (a
 * replay, in this process, writing nothing) and compares each entity's latest values with the
 * online store and with the latest offline rows. Reports mismatches; exit code 1 when any.
 */
export async function featuresVerifyCommand(file: string, options: VerifyOptions): Promise<void> {
  const sources = bindings<SourceConnector>(options.source, '--source', sourceFromUri);
  const { topology, path } = await loadTopology(file);
  const recompute = recomputing(options.view);
  await runTopology(topology, { sources, sinks: {}, defaultSink: nullSink(), features: recompute.store, models: onnxFileModels(), baseDir: dirname(path), warn: () => {} });
  if (recompute.rows() === 0) throw new RtmlError('RTML_E_USAGE', `features verify: the replay computed no rows for view '${options.view}' (does ${path} materialize it?)`);
  const entities = [...recompute.latest.keys()];
  const online = onlineStoreFromUri(options.online);
  const offline = offlineStoreFromUri(options.offline ?? DEFAULT_OFFLINE);
  const ttl = (await offline.views()).find((v) => v.name === options.view)?.ttl ?? Infinity;
  const report: string[] = [];
  const counts = { online: 0, offline: 0, expired: 0 };
  try {
    for (let i = 0; i < entities.length; i += CHUNK) {
      const keys = entities.slice(i, i + CHUNK);
      const [onlineValues, offlineValues] = await Promise.all([online.get(options.view, keys), offline.latest(options.view, keys)]);
      keys.forEach((entity, j) => {
        const expected = recompute.latest.get(entity)!;
        for (const [store, found] of [['offline', offlineValues[j]!], ['online', onlineValues[j]!]] as const) {
          const why = differs(expected, found);
          if (why === undefined) continue;
          // Online values of a view with a ttl may have expired: counted, not a mismatch.
          if (store === 'online' && found === null && Number.isFinite(ttl)) {
            counts.expired++;
            continue;
          }
          counts[store]++;
          if (report.length < SHOWN) report.push(JSON.stringify({ entity, store, problem: why }));
        }
      });
    }
  } finally {
    await Promise.allSettled([online.close(), offline.close()]);
  }
  if (report.length > 0) process.stdout.write(`${report.join('\n')}\n`);
  const n = (x: number) => x.toLocaleString('en-US');
  logLine(`rtml: features verify ${options.view}: ${n(entities.length)} entities recomputed from ${n(recompute.rows())} rows; ` +
      `offline (${offline.description}) ${n(counts.offline)} mismatch(es); online (${online.description}) ${n(counts.online)} mismatch(es)` +
      (counts.expired > 0 ? `, ${n(counts.expired)} expired by ttl` : ''));
  if (counts.online + counts.offline > 0) process.exitCode = 1;
}
