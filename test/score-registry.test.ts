import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { Registry as MetricsRegistry } from 'prom-client';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { choose, modelLoadMetrics, openRegistry, registryModels, type Routing } from '../models/registry/index.ts';
import { InputRecord, type SourceConnector } from '../engine/io.ts';
import type { ModelProvider } from '../engine/modelProvider.ts';
import { defineTopology, keyBy, score } from '../engine/index.ts';
import { runTopology } from '../engine/runtime.ts';
import { POSTGRES_URI } from './support/features.ts';
import { memorySink, memorySource } from './support/memory.ts';
import { cleanModels, uniqueModel, writeModel } from './support/registry.ts';

/** A live source releasing `total` events, `step` every 10 ms; ids count up, keys cycle over 40 cards. */
function trickle(total: number, step: number): SourceConnector {
  return {
    uri: 'trickle:',
    async open() {
      let released = 0;
      let next = 0;
      const timer = setInterval(() => (released = Math.min(total, released + step)), 10);
      return {
        partitions: [0],
        async read(_p, max) {
          const out: InputRecord[] = [];
          for (; out.length < max && next < released; next++) {
            out.push(new InputRecord(next, { id: next, card: `c${next % 40}`, t: next, x0: (next % 7) / 7, x1: (next % 5) / 5, x2: (next % 3) / 3 }));
          }
          return out;
        },
        progress: () => undefined,
        async close() {
          clearInterval(timer);
        },
      };
    },
  };
}

const topology = defineTopology('registry-scoring', ({ source, sink }) =>
  source('events', { time: 't' }).pipe(keyBy('card'), score('registry:MODEL', { features: ['x0', 'x1', 'x2'], maxBatch: 32 }), sink('out')),
);

/** A registry model with v1 in production and v2 registered; `onLoad` hears each version loaded. */
async function setUp(t: TestContext, onLoad?: (name: string, version: number) => void) {
  const name = uniqueModel('scoring');
  cleanModels(t, name);
  const dir = mkdtempSync(join(tmpdir(), 'rtml-score-registry-'));
  const artifacts = join(dir, 'artifacts');
  const registry = openRegistry(POSTGRES_URI, artifacts);
  t.after(() => registry.close());
  await registry.register(name, writeModel(dir, 'a.onnx', { seed: 1 }), { stage: 'production' });
  await registry.register(name, writeModel(dir, 'b.onnx', { seed: 2 }));
  const logs: string[] = [];
  const models = registryModels(POSTGRES_URI, artifacts, (line) => logs.push(line), { onLoad });
  // The topology names its model 'registry:MODEL'; the provider maps that name to this test's model.
  const provider = { open: (_: string, features: readonly string[]) => models.open(name, features), close: () => models.close() };
  return { name, registry, provider, logs, models, artifacts };
}

async function live(provider: ModelProvider & { close(): Promise<void> }, during: () => Promise<void>, total = 1500) {
  const out = memorySink();
  const warnings: string[] = [];
  const controller = new AbortController();
  const running = runTopology(topology, { sources: { events: trickle(total, 20) }, sinks: { out: out.connector }, models: provider, follow: true, signal: controller.signal, pollInterval: 5, warn: (m) => warnings.push(m) });
  await during();
  while (out.values.length < total) await new Promise((r) => setTimeout(r, 20));
  controller.abort();
  await running;
  await provider.close();
  return { rows: out.json(), warnings };
}

describe("score('registry:…')", () => {
  it('picks up a promotion without restart: every event scored once, by v1 then v2, never back', async (t) => {
    const { name, registry, provider, logs } = await setUp(t);
    const { rows } = await live(provider, async () => {
      await new Promise((r) => setTimeout(r, 250));
      await registry.promote(name, 2, 'production');
    });
    assert.deepEqual(rows.map((r) => r.id), Array.from({ length: 1500 }, (_, i) => i));
    const versions = rows.map((r) => r.version);
    const firstV2 = versions.indexOf('v2');
    assert.ok(firstV2 > 0, 'some events were scored by v1 before the promotion');
    assert.ok(versions.slice(firstV2).every((v) => v === 'v2'), 'after the swap, only v2');
    assert.ok(versions.slice(0, firstV2).every((v) => v === 'v1'));
    assert.match(logs.join('\n'), new RegExp(`model ${name}: now serving revision \\d+ \\(production v2\\)`));
  });

  it('keeps scoring with the current routing when a promoted version cannot be loaded, and counts the failure', async (t) => {
    const { name, registry, provider, logs, models, artifacts } = await setUp(t);
    const v2 = await registry.get(name, 2);
    writeFileSync(join(artifacts, `${v2.sha256}.onnx`), 'not the registered bytes');
    const { rows } = await live(provider, async () => {
      await new Promise((r) => setTimeout(r, 250));
      await registry.promote(name, 2, 'production');
      while (!logs.some((l) => l.includes('keeping the current routing'))) await new Promise((r) => setTimeout(r, 20));
    });
    assert.deepEqual(rows.map((r) => r.id), Array.from({ length: 1500 }, (_, i) => i));
    assert.ok(rows.every((r) => r.version === 'v1'), 'every event is scored by v1');
    assert.match(logs.join('\n'), new RegExp(`model ${name}: keeping the current routing, the new one cannot be loaded: model artifact .* is damaged`));
    assert.deepEqual(models.loadFailures().map((f) => [f.model, f.version, f.count]), [[name, 2, 1]]);
    const metrics = new MetricsRegistry();
    modelLoadMetrics(metrics, models);
    assert.match(await metrics.metrics(), new RegExp(`rtml_model_load_failures_total\\{model="${name}",version="v2"\\} 1\n`));
  });

  it('splits entities between versions by their key, deterministically', async (t) => {
    const { name, registry, provider } = await setUp(t);
    await registry.ab(name, [{ version: 1, percent: 50 }, { version: 2, percent: 50 }]);
    const { rows } = await live(provider, async () => {}, 400);
    const byCard = new Map<string, Set<unknown>>();
    for (const r of rows) byCard.set(r.card as string, (byCard.get(r.card as string) ?? new Set()).add(r.version));
    assert.ok([...byCard.values()].every((v) => v.size === 1), 'one version per card');
    const used = new Set(rows.map((r) => r.version));
    assert.deepEqual([...used].sort(), ['v1', 'v2']);
  });

  it('scores shadow versions beside the serving one and reports them, never returning their scores', async (t) => {
    const { name, registry, provider } = await setUp(t);
    await registry.shadow(name, [2]);
    const out = memorySink();
    const warnings: string[] = [];
    const events = Array.from({ length: 100 }, (_, i) => ({ id: i, card: `c${i % 9}`, t: i, x0: (i % 7) / 7, x1: (i % 5) / 5, x2: (i % 3) / 3 }));
    await runTopology(topology, { sources: { events: memorySource([events]) }, sinks: { out: out.connector }, models: provider, warn: (m) => warnings.push(m) });
    await provider.close();
    assert.ok(out.json().every((r) => r.version === 'v1'));
    assert.match(warnings.join('\n'), /shadow MODEL v2 scored 100 event\(s\), its label differed on \d+/);
  });
  it('picks up a rollback under load: every event scored once, by v2 then v1 from one point on', async (t) => {
    const { name, registry, provider, logs } = await setUp(t);
    await registry.promote(name, 2, 'production');
    const { rows } = await live(provider, async () => {
      await new Promise((r) => setTimeout(r, 250));
      await registry.rollback(name);
    });
    assert.deepEqual(rows.map((r) => r.id), Array.from({ length: 1500 }, (_, i) => i));
    const versions = rows.map((r) => r.version);
    const firstV1 = versions.indexOf('v1');
    assert.ok(firstV1 > 0, 'some events were scored by v2 before the rollback');
    assert.ok(versions.slice(0, firstV1).every((v) => v === 'v2'));
    assert.ok(versions.slice(firstV1).every((v) => v === 'v1'), 'after the swap, only v1');
    assert.match(logs.join('\n'), new RegExp(`model ${name}: now serving revision \\d+ \\(production v1\\)`));
  });

  it('picks up an A/B split started under load: every event scored once, each card by its bucket from one point on', async (t) => {
    const { name, registry, provider } = await setUp(t);
    let split: Routing | undefined;
    const { rows } = await live(provider, async () => {
      await new Promise((r) => setTimeout(r, 250));
      split = (await registry.ab(name, [{ version: 1, percent: 50 }, { version: 2, percent: 50 }])).routing;
    });
    assert.deepEqual(rows.map((r) => r.id), Array.from({ length: 1500 }, (_, i) => i));
    const versions = rows.map((r) => r.version);
    const firstV2 = versions.indexOf('v2');
    assert.ok(firstV2 > 0, 'some events were scored before the split');
    assert.ok(versions.slice(0, firstV2).every((v) => v === 'v1'));
    // From the swap on, each card is served by the version of its bucket (and both buckets occur).
    const after = rows.slice(firstV2);
    assert.ok(after.every((r) => r.version === `v${choose(split!, r.card as string)}`), 'after the swap, every card by its bucket');
    assert.deepEqual([...new Set(after.map((r) => r.version))].sort(), ['v1', 'v2']);
  });

  it('two score() operators on the same registry model load each version once', async (t) => {
    const loads: string[] = [];
    const { name, provider } = await setUp(t, (n, v) => loads.push(`${n} v${v}`));
    const twice = defineTopology('registry-twice', ({ source, sink }) =>
      source('events', { time: 't' }).pipe(
        keyBy('card'),
        score('registry:MODEL', { features: ['x0', 'x1', 'x2'] }),
        score('registry:MODEL', { features: ['x0', 'x1', 'x2'], output: 'again' }),
        sink('out'),
      ),
    );
    const out = memorySink();
    const events = Array.from({ length: 50 }, (_, i) => ({ id: i, card: `c${i % 9}`, t: i, x0: (i % 7) / 7, x1: (i % 5) / 5, x2: (i % 3) / 3 }));
    await runTopology(twice, { sources: { events: memorySource([events]) }, sinks: { out: out.connector }, models: provider });
    await provider.close();
    assert.deepEqual(loads, [`${name} v1`]);
    assert.equal(out.json().length, 50);
    assert.ok(out.json().every((r) => r.score === r.again && r.version === 'v1'));
  });
});
