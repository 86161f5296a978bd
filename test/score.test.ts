import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { aggregate, count, defineTopology, keyBy, score, tumbling, window } from '../engine/index.ts';
import type { ModelProvider } from '../engine/models.ts';
import { runTopology } from '../engine/runtime.ts';
import { predictProbability, trainGbdt } from '../models/gbdt.ts';
import { gbdtToOnnx } from '../models/onnxExport.ts';
import { featureMatrix } from '../models/matrix.ts';
import { xorData } from '../models/synthetic.ts';
import { memorySink, memorySource } from './support/memory.ts';

let modelPath: string;
let model: ReturnType<typeof trainGbdt>;
const events: Record<string, unknown>[] = [];

before(() => {
  const data = xorData({ rows: 3000, features: 4, seed: 3 });
  model = trainGbdt(data, { trees: 30, depth: 4 });
  modelPath = join(mkdtempSync(join(tmpdir(), 'rtml-score-')), 'xor.onnx');
  writeFileSync(modelPath, gbdtToOnnx(model));
  for (let i = 0; i < 500; i++) {
    const v = Array.from(data.matrix.values.subarray(i * 4, i * 4 + 4));
    events.push({ id: i, k: `k${i % 7}`, t: i, x0: v[0], x1: v[1], x2: Number.isNaN(v[2]) ? null : v[2], x3: v[3] });
  }
});

function scoring(maxBatch: number) {
  return defineTopology('scoring', ({ source, sink }) =>
    source('events', { time: 't' }).pipe(keyBy('k'), score(modelPath, { features: ['x0', 'x1', { name: 'x2', default: Number.NaN }, 'x3'], maxBatch, name: 'xor' }), sink('out')),
  );
}

async function run(maxBatch: number, batchSize: number, input = events) {
  const out = memorySink();
  const dlq = memorySink();
  const stats = await runTopology(scoring(maxBatch), { sources: { events: memorySource([input]) }, sinks: { out: out.connector, dlq: dlq.connector }, batchSize });
  return { out: out.json(), dlq: dlq.json(), stats };
}

describe('score()', () => {
  it('micro-batched results and order equal scoring one by one, and the TypeScript model to 1e-6', async () => {
    const one = await run(1, 1);
    for (const [maxBatch, batchSize] of [[7, 3], [256, 4096], [64, 50]] as const) {
      assert.deepEqual((await run(maxBatch, batchSize)).out, one.out);
    }
    assert.equal(one.out.length, 500);
    const matrix = featureMatrix(['x0', 'x1', 'x2', 'x3'], 500, Float64Array.from(events.flatMap((e) => [e.x0, e.x1, e.x2 ?? Number.NaN, e.x3] as number[])));
    const expected = predictProbability(model, matrix);
    one.out.forEach((r, i) => {
      assert.equal(r.id, i);
      assert.ok(Math.abs((r.score as number) - expected[i]!) < 1e-6, `row ${i}`);
      assert.equal(r.label, (r.score as number) >= 0.5 ? 1 : 0);
      assert.equal(r.model, 'xor');
      assert.match(r.version as string, /^[0-9a-f]{12}$/);
    });
  });

  it('takes a feature default or dead-letters the event naming the feature', async () => {
    const input = [{ ...events[0], x2: 'oops' }, { ...events[1], x0: undefined }, events[2]];
    const { out, dlq, stats } = await run(16, 16, input as Record<string, unknown>[]);
    assert.deepEqual(out.map((r) => r.id), [0, 2]);
    assert.match(dlq[0]!.reason as string, /feature 'x0' is missing, not a number, and has no default/);
    assert.deepEqual([stats.in, stats.processed, stats.deadLettered], [3, 2, 1]);
  });

  it('refuses at start a window after it, a missing or corrupt model, or a feature list of the wrong width', async () => {
    const windowAfter = defineTopology('w', ({ source, sink }) =>
      source('events', { time: 't' }).pipe(keyBy('k'), score(modelPath, { features: ['x0', 'x1', 'x2', 'x3'] }), window(tumbling(10)), aggregate({ n: count() }), sink('out')),
    );
    await assert.rejects(runTopology(windowAfter, { sources: { events: memorySource([events]) }, sinks: { out: memorySink().connector } }), /window\(\) at .* cannot follow score\(.*put windows before score\(\)/);
    const start = (features: string[], path = modelPath) =>
      runTopology(defineTopology('s', ({ source, sink }) => source('events', { time: 't' }).pipe(score(path, { features }), sink('out'))), { sources: { events: memorySource([events]) }, sinks: { out: memorySink().connector } });
    await assert.rejects(start(['x0', 'x1', 'x2']), /takes 4 feature\(s\) \[x0, x1, x2, x3\], but 3 are declared/);
    await assert.rejects(start(['x0', 'x1', 'x2', 'x3'], '/nonexistent/model.onnx'), /model file not found/);
    const corrupt = join(mkdtempSync(join(tmpdir(), 'rtml-score-')), 'bad.onnx');
    writeFileSync(corrupt, 'not a model');
    await assert.rejects(start(['x0', 'x1', 'x2', 'x3'], corrupt), /bad\.onnx/);
  });

  it('a model that fails at run time dead-letters the events of its batch and the run goes on', async () => {
    let calls = 0;
    const flaky: ModelProvider = {
      async open() {
        const model = { version: 'v9', featureCount: 4, score: (_v: Float32Array, rows: number) => (++calls === 2 ? (() => { throw new Error('ORT exploded'); })() : new Float32Array(rows).fill(0.7)) };
        return { current: () => ({ serving: () => model, shadows: [] }), close: async () => {} };
      },
    };
    const t = defineTopology('flaky', ({ source, sink }) => source('events', { time: 't' }).pipe(keyBy('k'), score('registry:m', { features: ['x0', 'x1', 'x2', 'x3'], maxBatch: 10 }), sink('out')));
    const out = memorySink();
    const dlq = memorySink();
    const input = events.slice(0, 30).map((e) => ({ ...e, x2: e.x2 ?? 0 }));
    const stats = await runTopology(t, { sources: { events: memorySource([input]) }, sinks: { out: out.connector, dlq: dlq.connector }, models: flaky, batchSize: 100 });
    assert.deepEqual(out.json().map((r) => r.id), [...Array(10).keys(), ...Array.from({ length: 10 }, (_, i) => 20 + i)]);
    assert.equal(dlq.json().length, 10);
    assert.match(dlq.json()[0]!.reason as string, /the model failed: ORT exploded/);
    assert.deepEqual(dlq.json().map((d) => d.offset), Array.from({ length: 10 }, (_, i) => 10 + i));
    assert.deepEqual([stats.in, stats.processed, stats.deadLettered], [30, 20, 10]);
  });
});
