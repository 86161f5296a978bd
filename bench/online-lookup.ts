/**
 * Online feature lookup latency against local Redis: getOnlineFeatures for 1 key and for 100 keys
 * (one round trip), next to raw ioredis — HGETALL for 1 key, a pipeline of 100 HGETALL — in the
 * same run, on the same connection, call by call in turn so machine noise hits both alike. Prints
 * one line with p50/p99 and the overhead over raw (20k lookups of 1 key, 5k of 100 keys). Run: npx tsx bench/online-lookup.ts
 * [lookups] [redis-uri]. Targets: p99 < 1 ms for one key, overhead < 20 %.
 */
import { featureView } from '../engine/features.ts';
import { getOnlineFeatures } from '../connectors/features/featureStore.ts';
import { redisOnline } from '../connectors/features/redisOnline.ts';

const LOOKUPS = Number(process.argv[2] ?? 20_000);
const URI = process.argv[3] ?? 'redis://127.0.0.1:6379';
const ENTITIES = 10_000;

const view = featureView({ name: `bench_lookup_${process.pid}`, features: ['n', 'total', 'lo', 'hi', 'mean'] });
const store = redisOnline(URI);
const key = (i: number) => `rtml:fv:${view.name}:card-${i}`;
let cursor = 0;
const nextEntities = (n: number) => Array.from({ length: n }, () => `card-${(cursor = (cursor + 7919) % ENTITIES)}`);

type Lookup = () => Promise<unknown>;
/** A lookup of `n` keys through rtml, and the same keys through raw ioredis. */
function pair(n: number): [Lookup, Lookup] {
  const entities = nextEntities(n);
  const keys = entities.map((e) => `rtml:fv:${view.name}:${e}`);
  const rtml = () => getOnlineFeatures(store, view.name, entities);
  if (n === 1) return [rtml, () => store.client.hgetall(keys[0]!)];
  return [rtml, () => {
    const p = store.client.pipeline();
    for (const k of keys) p.hgetall(k);
    return p.exec();
  }];
}

async function time(lookup: Lookup): Promise<number> {
  const t = process.hrtime.bigint();
  await lookup();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

/**
 * `lookups` pairs, rtml and raw alternating call by call (which goes first alternates too), so
 * both see the same machine noise; keys are chosen outside the timed calls.
 */
async function measure(keys: number, lookups: number): Promise<{ rtml: number[]; raw: number[] }> {
  const out = { rtml: [] as number[], raw: [] as number[] };
  for (let i = 0; i < lookups; i++) {
    const [rtml, raw] = pair(keys);
    if (i % 2 === 0) {
      out.rtml.push(await time(rtml));
      out.raw.push(await time(raw));
    } else {
      out.raw.push(await time(raw));
      out.rtml.push(await time(rtml));
    }
  }
  return out;
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
const ms = (v: number) => v.toFixed(3);

function summary(name: string, rawName: string, s: { rtml: number[]; raw: number[] }): string {
  const r = s.rtml.sort((a, b) => a - b);
  const b = s.raw.sort((a, c) => a - c);
  const overhead = (x: number, y: number) => `${x >= y ? '+' : ''}${Math.round((x / y - 1) * 100)}%`;
  const [r50, r99, b50, b99] = [pct(r, 50), pct(r, 99), pct(b, 50), pct(b, 99)];
  return `${name}: p50 ${ms(r50)} ms p99 ${ms(r99)} ms vs ${rawName} p50 ${ms(b50)} p99 ${ms(b99)} (overhead p50 ${overhead(r50, b50)}, p99 ${overhead(r99, b99)}; ${r.length} lookups)`;
}

async function main(): Promise<void> {
  try {
    const rows = Array.from({ length: ENTITIES }, (_, i) => ({ entity: `card-${i}`, time: 1_700_000_000_000 + i, values: { n: i % 17, total: i * 1.25, lo: 0.5, hi: i, mean: i / 3 } }));
    for (let i = 0; i < rows.length; i += 1000) await store.write(view, rows.slice(i, i + 1000));
    await measure(1, 2000); // warm-up: JIT, script cache
    await measure(100, 500);
    const one = await measure(1, LOOKUPS);
    const hundred = await measure(100, LOOKUPS / 4);
    console.log(`online lookup (local Redis, 5 features): ${summary('1 key', 'raw HGETALL', one)}; ${summary('100 keys', 'raw pipelined HGETALL', hundred)}`);
  } finally {
    let keys: string[] = [];
    for (let i = 0; i < ENTITIES; i++) keys.push(key(i));
    while (keys.length > 0) {
      await store.client.del(...keys.slice(0, 1000));
      keys = keys.slice(1000);
    }
    await store.close();
  }
}

await main();
