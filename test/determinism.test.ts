import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { merge } from 'rxjs';
import { fileSink } from '../connectors/file/sink.ts';
import { fileSource } from '../connectors/file/source.ts';
import { aggregate, avg, count, defineTopology, distinct, hopping, keyBy, session, sum, tumbling, window } from '../engine/index.ts';
import { runTopology, type RunStats } from '../engine/runtime.ts';
import { eventLines } from './support/generate.ts';

const topology = defineTopology('det', ({ source, sink }) => {
  const events = source('events', { time: 'ts', outOfOrder: '5s' });
  const keyed = events.pipe(keyBy('card_id'));
  return merge(
    keyed.pipe(window(tumbling('1m'), { lateness: '30s', late: 'late' }), aggregate({ n: count(), total: sum('amount') }), sink('tumbling')),
    keyed.pipe(window(hopping('1m', '20s'), { emit: 'update' }), aggregate({ n: count(), uniq: distinct('merchant_id') }), sink('hopping')),
    keyed.pipe(window(session('30s'), { lateness: '1m' }), aggregate({ n: count(), mean: avg('amount') }), sink('sessions')),
  );
});

const SINKS = ['tumbling', 'hopping', 'sessions', 'late', 'dlq'];

async function runWithBatch(dir: string, input: string, batchSize: number): Promise<{ files: Record<string, string>; stats: RunStats }> {
  const out = join(dir, `batch-${batchSize}`);
  const stats = await runTopology(topology, {
    sources: { events: fileSource(input) },
    sinks: Object.fromEntries(SINKS.map((s) => [s, fileSink(join(out, `${s}.jsonl`))])),
    batchSize,
  });
  return { files: Object.fromEntries(SINKS.map((s) => [s, readFileSync(join(out, `${s}.jsonl`), 'utf8')])), stats };
}

describe('determinism', () => {
  it('the same input gives byte-identical outputs whatever the batch size', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rtml-det-'));
    const input = join(dir, 'events.jsonl');
    writeFileSync(input, `${eventLines(20_000, { seed: 7, bad: true }).join('\n')}\n`);
    const runs = [];
    for (const batch of [1, 7, 4096]) runs.push(await runWithBatch(dir, input, batch));
    const [first, ...rest] = runs;
    for (const sink of SINKS) assert.ok(first!.files[sink]!.length > 0, `${sink} has output`);
    for (const run of rest) {
      for (const sink of SINKS) assert.equal(run.files[sink], first!.files[sink], `${sink} differs`);
      assert.deepEqual({ ...run.stats, elapsedMs: 0, eventsPerSecond: 0 }, { ...first!.stats, elapsedMs: 0, eventsPerSecond: 0 });
    }
    const s = first!.stats;
    assert.equal(s.in, 20_000);
    assert.equal(s.in, s.processed + s.late + s.deadLettered);
    assert.ok(s.late > 0 && s.deadLettered > 0, 'the input exercises late events and dead letters');
  });
});
