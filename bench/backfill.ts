/**
 * Backfill speed and materialisation throughput: a per-card 5-second tumbling count + sum over 1M
 * events of the embedded log (1000 cards: ~200k feature rows), materialised as a feature view, in this process:
 * (1) store writes excluded (rows handed to a discarding store), (2) written to Postgres (offline,
 * as `rtml backfill` does), (3) written to Redis and Postgres (as a live run does). Prints one line.
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

const viewName = `bench_backfill_${process.pid}`;
const view = featureView({ name: viewName, features: ['n', 'total'] });
const topology = defineTopology('bench-backfill', ({ source, sink }) =>
  source('events', { time: 'ts', outOfOrder: '5s' }).pipe(keyBy('card_id'), window(tumbling('5s')), aggregate({ n: count(), total: sum('amount') }), materialize(view), sink('out')),
);

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

async function seconds(features: FeatureStore): Promise<number> {
  const stats = await runTopology(topology, { sources: { events: logSource(topic) }, sinks: { out: nullSink() }, features });
  if (stats.in !== n) throw new Error(`processed ${stats.in} of ${n}`);
  return stats.elapsedMs / 1000;
}

await seconds(discarding); // warm-up
rows = 0;
const none = await seconds(discarding);
const viewRows = rows;
const offline = await seconds(featureStore({ online: noOnline, offline: postgresOffline(POSTGRES) }));
const both = await seconds(featureStore({ online: redisOnline(REDIS), offline: postgresOffline(POSTGRES) }));

const client = new pg.Client({ connectionString: POSTGRES });
await client.connect();
const stored = Number((await client.query(`SELECT count(*) AS c FROM "fv_${viewName}"`)).rows[0].c);
await client.query(`DROP TABLE "fv_${viewName}"`);
await client.query('DELETE FROM rtml_feature_views WHERE name = $1', [viewName]);
await client.end();
const redis = new Redis(REDIS);
const keys = await redis.keys(`rtml:fv:${viewName}:*`);
if (keys.length > 0) await redis.del(...keys);
redis.disconnect();

const k = (s: number) => `${Math.round(n / s / 1000)}k ev/s`;
console.log(
  `backfill ${n / 1e6}M log events -> ${viewRows.toLocaleString('en-US')} feature rows: store writes excluded ${none.toFixed(2)}s (${k(none)}, target >= 500k), ` +
    `to Postgres ${offline.toFixed(2)}s (${k(offline)}, ${Math.round(viewRows / offline).toLocaleString('en-US')} rows/s), ` +
    `to Redis+Postgres ${both.toFixed(2)}s (${k(both)}, ${Math.round(viewRows / both).toLocaleString('en-US')} rows/s); ${stored.toLocaleString('en-US')} rows in Postgres`,
);
