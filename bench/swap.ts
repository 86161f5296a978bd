/**
 * Model swap under load: score('registry:…') over a live stream (about 20k events/s) while the
 * registry (Postgres LISTEN/NOTIFY) alternates `promote` v2 and `rollback` (back to v1), 7 swaps;
 * for each, the time from the routing change's commit to the first event scored by the new
 * version. Prints the first swap (a promotion that also loads v2) on its own, then the median and
 * max of the other 6 (3 rollbacks, 3 promotions, both versions loaded). At the end it checks that
 * every event came out exactly once — the sink received stats.in events, ids 0, 1, 2, … in order
 * (none scored twice or skipped, also across the abort) — and that each swap went to the expected
 * version; a failed check sets exit code 1. Prints one line.
 * Run: node --max-semi-space-size=64 --import tsx bench/swap.ts
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openRegistry, registryModels } from '../models/registry/index.ts';
import { InputRecord, type SinkConnector, type SourceConnector } from '../engine/io.ts';
import { defineTopology, keyBy, score } from '../engine/index.ts';
import { runTopology } from '../engine/runtime.ts';
import { trainGbdt, xorData } from '../models/training/index.ts';
import { gbdtToOnnx } from '../models/onnx/index.ts';

const POSTGRES = 'postgres://postgres@127.0.0.1:5432/test';
const name = `bench_swap_${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), 'rtml-bench-swap-'));
const registry = openRegistry(POSTGRES, join(dir, 'artifacts'));
/** The sha256 prefix of each registered version's file (score() reports registry versions as `v<n>`, files by this). */
const hashes: Record<number, string> = {};
for (const seed of [1, 2]) {
  const file = join(dir, `m${seed}.onnx`);
  writeFileSync(file, gbdtToOnnx(trainGbdt(xorData({ rows: 5000, features: 3, seed }), { trees: 100, depth: 6 })));
  hashes[seed] = createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 12);
  await registry.register(name, file, { stage: seed === 1 ? 'production' : undefined, features: ['x0', 'x1', 'x2'] });
}

let released = 0;
const source: SourceConnector = {
  uri: 'live:',
  async open() {
    let next = 0;
    const timer = setInterval(() => (released += 200), 10);
    return {
      partitions: [0],
      async read(_p, max) {
        const out: InputRecord[] = [];
        for (; out.length < max && next < released; next++) out.push(new InputRecord(next, { id: next, card: `c${next % 100}`, t: next, x0: (next % 7) / 7, x1: (next % 5) / 5, x2: (next % 3) / 3 }));
        return out;
      },
      progress: () => undefined,
      close: async () => clearInterval(timer),
    };
  },
};
let expectedId = 0;
let broken = 0;
let written = 0;
let lastVersion = '';
let switchedAt = 0;
let switchedTo = '';
const sink: SinkConnector = {
  uri: 'timing:',
  async open() {
    return {
      pending: 0,
      write(value) {
        const r = value as { id: number; version: string };
        written++;
        // Skipped or repeated: resynchronise on this id, so one fault counts once.
        if (r.id !== expectedId) broken++;
        expectedId = r.id + 1;
        if (r.version !== lastVersion && lastVersion !== '' && switchedAt === 0) {
          switchedAt = performance.now();
          switchedTo = r.version;
        }
        lastVersion = r.version;
      },
      flush: async () => {},
      close: async () => {},
    };
  },
};
const topology = defineTopology('bench-swap', ({ source: s, sink: k }) =>
  s('events', { time: 't' }).pipe(keyBy('card'), score(`registry:${name}`, { features: ['x0', 'x1', 'x2'] }), k('out')),
);
const models = registryModels(POSTGRES, join(dir, 'artifacts'), () => {});
const controller = new AbortController();
const running = runTopology(topology, { sources: { events: source }, sinks: { out: sink }, models, follow: true, signal: controller.signal, pollInterval: 2 });
const swaps: number[] = [];
let first = 0;
const wrongVersion: string[] = [];
await new Promise((r) => setTimeout(r, 500));
for (let i = 0; i < 7; i++) {
  switchedAt = 0;
  // Even swaps promote v2; odd ones roll back to the previous production version, v1.
  const number = i % 2 === 0 ? 2 : 1;
  const expected = [`v${number}`, hashes[number]!];
  const committed = performance.now();
  if (i % 2 === 0) await registry.promote(name, 2, 'production');
  else await registry.rollback(name);
  const deadline = performance.now() + 10_000;
  while (switchedAt === 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 1));
  if (switchedAt === 0) throw new Error(`swap ${i + 1} (${i % 2 === 0 ? 'promote' : 'rollback'}) not seen within 10 s`);
  if (!expected.includes(switchedTo)) wrongVersion.push(`swap ${i + 1}: ${switchedTo}, expected v${number}`);
  if (i === 0) first = switchedAt - committed; // includes loading v2
  else swaps.push(switchedAt - committed);
  await new Promise((r) => setTimeout(r, 200));
}
controller.abort();
const stats = await running;
await models.close();
await registry.close();
const client = new pg.Client({ connectionString: POSTGRES });
await client.connect();
for (const table of ['rtml_model_versions', 'rtml_model_routing', 'rtml_model_events']) await client.query(`DELETE FROM ${table} WHERE name = $1`, [name]);
await client.end();
swaps.sort((a, b) => a - b);
const exact = written === stats.in && expectedId === stats.in && broken === 0 && stats.deadLettered === 0 && wrongVersion.length === 0;
if (!exact) process.exitCode = 1;
console.log(
  `model swap under load (${Math.round(stats.eventsPerSecond / 1000)}k ev/s, 100-tree model), routing change commit -> first event scored by the new version: ` +
    `first promotion (loads v2) ${first.toFixed(1)} ms; then promote/rollback (both loaded) median ${swaps[swaps.length >> 1]!.toFixed(1)} ms, ` +
    `max ${swaps[swaps.length - 1]!.toFixed(1)} ms over ${swaps.length} swaps (target < 100 ms); ` +
    `${stats.in.toLocaleString('en-US')} events in, ${written.toLocaleString('en-US')} out (${written === stats.in ? '=' : '!='} stats.in), ` +
    `${broken} scored twice or skipped, ${stats.deadLettered} failed` +
    (wrongVersion.length > 0 ? `, wrong version after ${wrongVersion.join('; ')}` : '') +
    `: ${exact ? 'OK' : 'FAILED'}`,
);
