import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { map } from 'rxjs';
import { aggregate, count, defineTopology, keyBy, score, tumbling, window } from '../engine/index.ts';
import type { ModelProvider } from '../engine/modelProvider.ts';
import { runTopology } from '../engine/runtime.ts';
import { featureMatrix, predictProbability, trainGbdt, xorData } from '../models/training/index.ts';
import { gbdtToOnnx, loadedFileModels, onnxFileModels } from '../models/onnx/index.ts';
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
  const stats = await runTopology(scoring(maxBatch), { sources: { events: memorySource([input]) }, sinks: { out: out.connector, dlq: dlq.connector }, models: onnxFileModels(), batchSize });
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
    await assert.rejects(runTopology(windowAfter, { sources: { events: memorySource([events]) }, sinks: { out: memorySink().connector } }), /window\(\) at .* cannot follow score\(.*put windows before it/);
    const start = (features: string[], path = modelPath) =>
      runTopology(defineTopology('s', ({ source, sink }) => source('events', { time: 't' }).pipe(score(path, { features }), sink('out'))), { sources: { events: memorySource([events]) }, sinks: { out: memorySink().connector }, models: onnxFileModels() });
    await assert.rejects(start(['x0', 'x1', 'x2']), /takes 4 feature\(s\) \[x0, x1, x2, x3\], but 3 are declared/);
    await assert.rejects(start(['x0', 'x1', 'x2', 'x3'], '/nonexistent/model.onnx'), /model file not found/);
    const corrupt = join(mkdtempSync(join(tmpdir(), 'rtml-score-')), 'bad.onnx');
    writeFileSync(corrupt, 'not a model');
    await assert.rejects(start(['x0', 'x1', 'x2', 'x3'], corrupt), /bad\.onnx/);
  });

  it('a model that fails at run time on some rows dead-letters only those rows, as scoring one by one does, and the run goes on', async () => {
    // The model fails whenever a row of its call has x0 = 99: a batch holding such a row fails as a
    // whole, and is rescored row by row so that only that row is dead-lettered.
    const picky: ModelProvider = {
      async open() {
        const model = {
          version: 'v9',
          featureCount: 4,
          score: (v: Float32Array, rows: number) => {
            for (let i = 0; i < rows; i++) if (v[i * 4] === 99) throw new Error(`ORT exploded on row ${i}`);
            return Float32Array.from({ length: rows }, (_, i) => (v[i * 4 + 1]! > 0 ? 0.7 : 0.2));
          },
        };
        return { current: () => ({ serving: () => model, shadows: [] }), close: async () => {} };
      },
    };
    const input = events.slice(0, 30).map((e) => ({ ...e, x2: e.x2 ?? 0, x0: e.id === 5 || e.id === 23 ? 99 : e.x0 }));
    const runWith = async (maxBatch: number) => {
      const t = defineTopology('picky', ({ source, sink }) => source('events', { time: 't' }).pipe(keyBy('k'), score('registry:m', { features: ['x0', 'x1', 'x2', 'x3'], maxBatch }), sink('out')));
      const out = memorySink();
      const dlq = memorySink();
      const stats = await runTopology(t, { sources: { events: memorySource([input]) }, sinks: { out: out.connector, dlq: dlq.connector }, models: picky, batchSize: 100 });
      return { out: out.json(), dlq: dlq.json(), stats };
    };
    const batched = await runWith(10);
    assert.deepEqual(batched.out.map((r) => r.id), [...Array(30).keys()].filter((i) => i !== 5 && i !== 23));
    assert.deepEqual(batched.dlq.map((d) => d.offset), [5, 23]);
    assert.match(batched.dlq[0]!.reason as string, /the model failed: ORT exploded on row 0/);
    assert.deepEqual([batched.stats.in, batched.stats.processed, batched.stats.deadLettered], [30, 28, 2]);
    const one = await runWith(1);
    assert.deepEqual(batched.out, one.out);
    assert.deepEqual(batched.dlq, one.dlq);
  });

  it('a shadow version that throws is counted and reported, and every served event is still scored', async () => {
    const served = { version: 'v1', featureCount: 4, score: (_v: Float32Array, rows: number) => new Float32Array(rows).fill(0.7) };
    const broken = { version: 'v2', featureCount: 4, score: (): Float32Array => { throw new Error('shadow exploded'); } };
    const provider: ModelProvider = { async open() { return { current: () => ({ serving: () => served, shadows: [broken] }), close: async () => {} }; } };
    const t = defineTopology('shadowed', ({ source, sink }) => source('events', { time: 't' }).pipe(keyBy('k'), score('registry:m', { features: ['x0', 'x1', 'x2', 'x3'], maxBatch: 8 }), sink('out')));
    const out = memorySink();
    const dlq = memorySink();
    const warnings: string[] = [];
    const input = events.slice(0, 30).map((e) => ({ ...e, x2: e.x2 ?? 0 }));
    const stats = await runTopology(t, { sources: { events: memorySource([input]) }, sinks: { out: out.connector, dlq: dlq.connector }, models: provider, batchSize: 100, warn: (m) => warnings.push(m) });
    assert.deepEqual(out.json().map((r) => [r.id, r.score, r.version]), input.map((_, i) => [i, out.json()[0]!.score, 'v1']));
    assert.equal(dlq.json().length, 0);
    assert.deepEqual([stats.in, stats.processed, stats.deadLettered], [30, 30, 0]);
    assert.match(warnings.join('\n'), /shadow m v2 failed \(served results are not affected\): shadow exploded/);
    assert.match(warnings.join('\n'), /shadow m v2 failed 4 time\(s\), on 30 event\(s\) \(shadow failures/);
  });

  it('writes the score to the field `output` names', async () => {
    const t = defineTopology('named', ({ source, sink }) =>
      source('events', { time: 't' }).pipe(keyBy('k'), score(modelPath, { features: ['x0', 'x1', { name: 'x2', default: Number.NaN }, 'x3'], output: 'fraud_p', name: 'xor' }), sink('out')),
    );
    const out = memorySink();
    await runTopology(t, { sources: { events: memorySource([events.slice(0, 50)]) }, sinks: { out: out.connector }, models: onnxFileModels() });
    const reference = (await run(16, 16, events.slice(0, 50))).out;
    assert.equal(out.json().length, 50);
    out.json().forEach((r, i) => {
      assert.equal(r.fraud_p, reference[i]!.score);
      assert.ok(!('score' in r));
      assert.deepEqual([r.label, r.model, r.version], [reference[i]!.label, 'xor', reference[i]!.version]);
    });
    assert.throws(() => score(modelPath, { features: ['x0'], output: 'label' }), /output must be a field name other than label/);
  });

  it('dead-letters an event whose feature is NaN and has no default, naming the feature', async () => {
    const input = [events[0], { ...events[1], x1: Number.NaN }, events[2]];
    const { out, dlq, stats } = await run(16, 16, input as Record<string, unknown>[]);
    assert.deepEqual(out.map((r) => r.id), [0, 2]);
    assert.equal(dlq.length, 1);
    assert.match(dlq[0]!.reason as string, /feature 'x1' is NaN, not a number, and has no default/);
    assert.equal(dlq[0]!.offset, 1);
    assert.deepEqual([stats.in, stats.processed, stats.deadLettered], [3, 2, 1]);
  });

  it('warns once when an A/B split routes events that have no key', async () => {
    const model = { version: 'v1', featureCount: 4, score: (_v: Float32Array, rows: number) => new Float32Array(rows).fill(0.4) };
    const provider: ModelProvider = { async open() { return { current: () => ({ serving: () => model, shadows: [], split: true }), close: async () => {} }; } };
    const t = defineTopology('unkeyed', ({ source, sink }) => source('events', { time: 't' }).pipe(score('registry:m', { features: ['x0', 'x1', 'x2', 'x3'], maxBatch: 8 }), sink('out')));
    const warnings: string[] = [];
    const input = events.slice(0, 30).map((e) => ({ ...e, x2: e.x2 ?? 0 }));
    await runTopology(t, { sources: { events: memorySource([input]) }, sinks: { out: memorySink().connector }, models: provider, batchSize: 100, warn: (m) => warnings.push(m) });
    assert.equal(warnings.filter((w) => /has an A\/B split, but events reach it without a key \(no keyBy\(\) before score\(\)\)/.test(w)).length, 1);
    const keyed = defineTopology('keyed', ({ source, sink }) => source('events', { time: 't' }).pipe(keyBy('k'), score('registry:m', { features: ['x0', 'x1', 'x2', 'x3'] }), sink('out')));
    const quiet: string[] = [];
    await runTopology(keyed, { sources: { events: memorySource([input]) }, sinks: { out: memorySink().connector }, models: provider, warn: (m) => quiet.push(m) });
    assert.ok(!quiet.some((w) => /without a key/.test(w)));
  });

  it('two score() operators on the same model file share one loaded session', async () => {
    let during = -1;
    const t = defineTopology('twice', ({ source, sink }) =>
      source('events', { time: 't' }).pipe(
        keyBy('k'),
        score(modelPath, { features: ['x0', 'x1', { name: 'x2', default: Number.NaN }, 'x3'] }),
        map((e) => ((during = loadedFileModels()), e)),
        score(modelPath, { features: ['x0', 'x1', { name: 'x2', default: Number.NaN }, 'x3'], output: 'again' }),
        sink('out'),
      ),
    );
    const out = memorySink();
    await runTopology(t, { sources: { events: memorySource([events.slice(0, 20)]) }, sinks: { out: out.connector }, models: onnxFileModels() });
    assert.equal(during, 1);
    assert.equal(loadedFileModels(), 0, 'released when the run ends');
    assert.ok(out.json().every((r) => r.score === r.again));
  });
});
