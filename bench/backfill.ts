/**
 * Backfill speed and materialisation throughput: a per-card 5-second tumbling count + sum over 1M
 * events of the embedded log (1000 cards: ~200k feature rows), materialised as a feature view, in this process:
 * (1) store writes excluded (rows handed to a discarding store), (2) written to Postgres (offline,
 * as `rtml backfill` does), (3) written to Redis and Postgres (as a live run does). Each run writes
 * a view (table, Redis keys) of its own, so (2) and (3) both measure inserts, not upserts over rows
 * an earlier run wrote; the views are dropped at the end. Prints one line.
 * Run: node --max-semi-space-size=64 --import tsx bench/backfill.ts [events]
 */
import pg from 'pg';
import { Redis } from 'ioredis';
import { featureStore } from '../connectors/features/featureStore.ts';
import { postgresOffline } from '../connectors/features/postgresOffline.ts';
import { redisOnline } from '../connectors/features/redisOnline.ts';
import type { OnlineStore } from '../connectors/features/stores.ts';
import { logSource } from '../connectors/log/source.ts';
import { nullSink } from '../connectors/null/sink.ts';
import { aggregate, count, defineTopology, featureView, keyBy, materialize, sum, tumbling, window, type FeatureStore } from '../engine/index.ts';
import { runTopology } from '../engine/runtime.ts';
import { producedLog } from './support.ts';

const n = Number(process.argv[2] ?? 1_000_000);
const REDIS = 'redis://127.0.0.1:6379';
const POSTGRES = 'postgres://postgres@127.0.0.1:5432/test';
const { topic } = producedLog('backfill', n);

/** A fresh view (Postgres table fv_<name>, Redis keys rtml:fv:<name>:*) for each run. */
const views: string[] = [];
function topologyWithNewView() {
  const viewName = `bench_backfill_${process.pid}_${views.length}`;
  views.push(viewName);
  const view = featureView({ name: viewName, features: ['n', 'total'] });
  return {
    viewName,
    topology: defineTopology('bench-backfill', ({ source, sink }) =>
      source('events', { time: 'ts', outOfOrder: '5s' }).pipe(keyBy('card_id'), window(tumbling('5s')), aggregate({ n: count(), total: sum('amount') }), materialize(view), sink('out')),
    ),
  };
}

let rows = 0;
const discarding: FeatureStore = {
  description: 'discarding',
  async open() {
    let pending = 0;
    return {
      write: () => void pending++,
      get pending() {
        return pending;
      },
      flush: async () => void ((rows += pending), (pending = 0)),
      close: async () => void ((rows += pending), (pending = 0)),
    };
  },
};
const noOnline: OnlineStore = { description: 'none', write: async () => {}, get: async (_v, e) => e.map(() => null), close: async () => {} };

async function seconds(features: FeatureStore, topology = topologyWithNewView().topology): Promise<number> {
  const stats = await runTopology(topology, { sources: { events: logSource(topic) }, sinks: { out: nullSink() }, features });
  if (stats.in !== n) throw new Error(`processed ${stats.in} of ${n}`);
  return stats.elapsedMs / 1000;
}

await seconds(discarding); // warm-up
rows = 0;
const none = await seconds(discarding);
const viewRows = rows;
const offlineRun = topologyWithNewView();
const offline = await seconds(featureStore({ online: noOnline, offline: postgresOffline(POSTGRES) }), offlineRun.topology);
const bothRun = topologyWithNewView();
const both = await seconds(featureStore({ online: redisOnline(REDIS), offline: postgresOffline(POSTGRES) }), bothRun.topology);

const client = new pg.Client({ connectionString: POSTGRES });
await client.connect();
const rowCount = async (viewName: string) => Number((await client.query(`SELECT count(*) AS c FROM "fv_${viewName}"`)).rows[0].c);
const stored = [await rowCount(offlineRun.viewName), await rowCount(bothRun.viewName)];
const redis = new Redis(REDIS);
for (const viewName of views) {
  await client.query(`DROP TABLE IF EXISTS "fv_${viewName}"`);
  await client.query('DELETE FROM rtml_feature_views WHERE name = $1', [viewName]);
  const keys = await redis.keys(`rtml:fv:${viewName}:*`);
  if (keys.length > 0) await redis.del(...keys);
}
await client.end();
redis.disconnect();

const k = (s: number) => `${Math.round(n / s / 1000)}k ev/s`;
console.log(
  `backfill ${n / 1e6}M log events -> ${viewRows.toLocaleString('en-US')} feature rows: store writes excluded ${none.toFixed(2)}s (${k(none)}, target >= 500k), ` +
    `to Postgres ${offline.toFixed(2)}s (${k(offline)}, ${Math.round(viewRows / offline).toLocaleString('en-US')} rows/s), ` +
    `to Redis+Postgres ${both.toFixed(2)}s (${k(both)}, ${Math.round(viewRows / both).toLocaleString('en-US')} rows/s); each into an empty table, ${stored.map((c) => c.toLocaleString('en-US')).join(' and ')} rows in Postgres`,
);
