/**
 * Model swap under load: score('registry:…') over a live stream (about 20k events/s), a promotion
 * made through the registry (Postgres LISTEN/NOTIFY), and the time from the promotion's commit to
 * the first event scored by the new version; every event must come out exactly once. Best of 5
 * swaps. Prints one line. Run: node --max-semi-space-size=64 --import tsx bench/swap.ts
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { registryModels } from '../models/registry/provider.ts';
import { InputRecord, type SinkConnector, type SourceConnector } from '../engine/io.ts';
import { defineTopology, keyBy, score } from '../engine/index.ts';
import { runTopology } from '../engine/runtime.ts';
import { trainGbdt } from '../models/gbdt.ts';
import { gbdtToOnnx } from '../models/onnxExport.ts';
import { openRegistry } from '../models/registry/index.ts';
import { xorData } from '../models/synthetic.ts';

const POSTGRES = 'postgres://postgres@127.0.0.1:5432/test';
const name = `bench_swap_${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), 'rtml-bench-swap-'));
const registry = openRegistry(POSTGRES, join(dir, 'artifacts'));
for (const seed of [1, 2]) {
  const file = join(dir, `m${seed}.onnx`);
  writeFileSync(file, gbdtToOnnx(trainGbdt(xorData({ rows: 5000, features: 3, seed }), { trees: 100, depth: 6 })));
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
let lastVersion = '';
let switchedAt = 0;
const sink: SinkConnector = {
  uri: 'timing:',
  async open() {
    return {
      pending: 0,
      write(value) {
        const r = value as { id: number; version: string };
        if (r.id !== expectedId++) broken++;
        if (r.version !== lastVersion && lastVersion !== '') switchedAt ||= performance.now();
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
await new Promise((r) => setTimeout(r, 500));
for (let i = 0; i < 6; i++) {
  switchedAt = 0;
  const committed = performance.now();
  await registry.promote(name, i % 2 === 0 ? 2 : 1, 'production');
  while (switchedAt === 0) await new Promise((r) => setTimeout(r, 1));
  if (i > 0) swaps.push(switchedAt - committed); // the first includes loading v2
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
console.log(
  `model swap under load (${Math.round(stats.eventsPerSecond / 1000)}k ev/s, 100-tree model): promotion commit -> first event scored by the new version ` +
    `median ${swaps[swaps.length >> 1]!.toFixed(1)} ms, max ${swaps[swaps.length - 1]!.toFixed(1)} ms over ${swaps.length} swaps (target < 100 ms); ` +
    `${stats.in.toLocaleString('en-US')} events, ${broken} scored twice or skipped, ${stats.deadLettered} failed`,
);
