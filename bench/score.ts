/**
 * Scoring throughput: a 100-tree depth-6 model (20 features) inside a topology over 200k events,
 * score() micro-batched (maxBatch 256) against one model call per event (maxBatch 1), same
 * process, warm-up first. Events are generated in this process (no log, no windows, no feature
 * store): this measures score() alone. The whole fraud topology from the embedded log is
 * bench/fraud.ts. For scale, the same ratio for onnxruntime alone (batches of 256 rows against one
 * row per call, no engine): the ceiling the operator's ratio can reach. Prints one line.
 * Run: node --max-semi-space-size=64 --import tsx bench/score.ts [events]
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputRecord, type SourceConnector } from '../engine/io.ts';
import { defineTopology, keyBy, score } from '../engine/index.ts';
import { runTopology } from '../engine/runtime.ts';
import { trainGbdt, xorData } from '../models/training/index.ts';
import { gbdtToOnnx, SyncOnnxSession, onnxFileModels } from '../models/onnx/index.ts';
import { nullSink } from '../connectors/null/sink.ts';

const n = Number(process.argv[2] ?? 200_000);
const F = 20;
const data = xorData({ rows: 20_000, features: F, seed: 7 });
const model = gbdtToOnnx(trainGbdt(data, { trees: 100, depth: 6 }));
const path = join(mkdtempSync(join(tmpdir(), 'rtml-bench-score-')), 'model.onnx');
writeFileSync(path, model);
const names = Array.from({ length: F }, (_, j) => `x${j}`);
/** Events shaped as JSON.parse or Avro decoding makes them (one literal shape), not built key by key. */
const makeEvent = new Function('k', 't', 'v', `return { k, t, ${names.map((n, j) => `${n}: Number.isNaN(v[${j}]) ? null : v[${j}]`).join(', ')} };`) as (
  k: string,
  t: number,
  v: Float64Array,
) => Record<string, unknown>;

/** `n` events cycling through the synthetic rows, generated as read. */
const generated: SourceConnector = {
  uri: 'generated:',
  async open() {
    let next = 0;
    return {
      partitions: [0],
      async read(_p, max) {
        if (next >= n) return null;
        const out: InputRecord[] = [];
        for (; out.length < max && next < n; next++) {
          const row = next % data.matrix.rows;
          out.push(new InputRecord(next, makeEvent(`c${next % 1000}`, next, data.matrix.values.subarray(row * F, row * F + F))));
        }
        return out;
      },
      progress: () => undefined,
      async close() {},
    };
  },
};

async function eventsPerSecond(maxBatch: number): Promise<number> {
  const topology = defineTopology('bench-score', ({ source, sink }) =>
    source('events', { time: 't' }).pipe(keyBy('k'), score(path, { features: names.map((name) => ({ name, default: Number.NaN })), maxBatch }), sink('out')),
  );
  const stats = await runTopology(topology, { sources: { events: generated }, sinks: { out: nullSink() }, models: onnxFileModels() });
  return stats.eventsPerSecond;
}

/** onnxruntime alone: rows/s scoring every row of the data `rounds` times in calls of `batch` rows. */
function ortRowsPerSecond(batch: number, rounds: number): number {
  const session = new SyncOnnxSession(model, F);
  const values = Float32Array.from(data.matrix.values);
  const rows = data.matrix.rows;
  const t = performance.now();
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i + batch <= rows; i += batch) session.score(values.subarray(i * F, (i + batch) * F), batch);
  }
  return (rounds * (rows - (rows % batch)) * 1000) / (performance.now() - t);
}

await eventsPerSecond(256); // warm-up
const batched = await eventsPerSecond(256);
const single = await eventsPerSecond(1);
ortRowsPerSecond(256, 1); // warm-up
const ortBatched = ortRowsPerSecond(256, 10);
const ortSingle = ortRowsPerSecond(1, 10);
const k = (x: number) => `${Math.round(x / 1000)}k`;
console.log(
  `score, 100 trees depth 6, ${F} features, ${n / 1000}k events: micro-batched (256) ${k(batched)} ev/s, ` +
    `one model call per event ${k(single)} ev/s; ${(batched / single).toFixed(1)}x (target >= 5x); ` +
    `onnxruntime alone ${k(ortBatched)} rows/s in batches of 256 vs ${k(ortSingle)} rows/s one per call: ${(ortBatched / ortSingle).toFixed(1)}x`,
);
