import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import avro from 'avsc';
import { EventLog } from '../connectors/log/eventLog.ts';
import { fileSink } from '../connectors/file/sink.ts';
import { fileSource } from '../connectors/file/source.ts';
import { logSource } from '../connectors/log/source.ts';
import { aggregate, count, defineTopology, distinct, hopping, keyBy, last, sum, tumbling, window } from '../engine/index.ts';
import { runTopology, type RunStats } from '../engine/runtime.ts';
import { prng } from './support/generate.ts';
import { txnSchema } from './support/schemas.ts';

/** Topologies over the embedded log, as `rtml run` runs them: watermarks, evolution, torn tails. */

const v1 = txnSchema;
const v2 = { ...v1, fields: [...v1.fields, { name: 'channel', type: 'string', default: 'web' }] };

function tempDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rtml-log-run-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function append(topic: string, partitions: number, schema: object, events: Record<string, unknown>[]): void {
  const log = EventLog.open(topic, { create: { partitions } });
  const id = log.registerSchema(schema);
  const type = avro.Type.forSchema(schema as avro.Schema);
  for (const e of events) log.append(String(e.card_id), e.ts as number, id, type.toBuffer(e));
  log.close();
}

async function run(dir: string, topic: string, name: string, topology: ReturnType<typeof defineTopology>, batchSize?: number): Promise<{ out: string; dlq: string; stats: RunStats }> {
  const out = path.join(dir, `${name}.jsonl`);
  const dlq = path.join(dir, `${name}-dlq.jsonl`);
  const stats = await runTopology(topology, { sources: { events: logSource(topic) }, sinks: { out: fileSink(out), dlq: fileSink(dlq) }, batchSize });
  return { out: fs.readFileSync(out, 'utf8'), dlq: fs.readFileSync(dlq, 'utf8'), stats };
}

describe('topologies over the embedded log', () => {
  it('give byte-identical results across batch sizes with several partitions (merged by event time)', async (t) => {
    const dir = tempDir(t);
    const topic = path.join(dir, 'txns');
    const rand = prng(3);
    const events = Array.from({ length: 5000 }, (_, i) => ({ card_id: `c${Math.floor(rand() * 40)}`, amount: Math.floor(rand() * 100), ts: i * 50 - Math.floor(rand() * 2000) - (i % 50 === 0 ? 20_000 : 0) }));
    append(topic, 3, v1, events);
    const topology = defineTopology('multi', ({ source, sink }) =>
      source('events', { time: 'ts', outOfOrder: '1s' }).pipe(keyBy('card_id'), window(hopping('10s', '5s'), { lateness: '500ms' }), aggregate({ n: count(), total: sum('amount') }), sink('out')),
    );
    const runs = [];
    for (const batch of [1, 13, 4096]) runs.push(await run(dir, topic, `b${batch}`, topology, batch));
    for (const r of runs.slice(1)) assert.equal(r.out, runs[0]!.out);
    const s = runs[0]!.stats;
    assert.equal(s.in, 5000);
    assert.equal(s.in, s.processed + s.late + s.deadLettered);
    assert.ok(s.late > 0, 'the input has late events, so merge order matters');
  });

  it('read records written with an older schema through the newer reader schema (defaults filled in)', async (t) => {
    const dir = tempDir(t);
    const topic = path.join(dir, 'txns');
    append(topic, 2, v1, [{ card_id: 'a', amount: 1, ts: 1 }, { card_id: 'b', amount: 2, ts: 2 }]);
    append(topic, 2, v2, [{ card_id: 'a', amount: 3, ts: 3, channel: 'app' }]);
    const topology = defineTopology('evolve', ({ source, sink }) =>
      source('events', { schema: v2, time: 'ts' }).pipe(keyBy('card_id'), window(tumbling(100)), aggregate({ n: count(), channels: distinct('channel'), lastChannel: last('channel') }), sink('out')),
    );
    const { out, dlq, stats } = await run(dir, topic, 'out', topology);
    assert.equal(dlq, '');
    assert.equal(stats.processed, 3);
    assert.deepEqual(
      out.trim().split('\n').map((l) => JSON.parse(l)),
      [
        { key: 'a', window_start: 0, window_end: 100, n: 2, channels: 2, lastChannel: 'app' },
        { key: 'b', window_start: 0, window_end: 100, n: 1, channels: 1, lastChannel: 'web' },
      ],
    );
  });

  it('dead-letter records whose writer schema the reader schema cannot read, with their position', async (t) => {
    const dir = tempDir(t);
    const topic = path.join(dir, 'txns');
    append(topic, 1, v1, [{ card_id: 'a', amount: 1, ts: 1 }]);
    const other = { type: 'record', name: 'Txn', fields: [{ name: 'card_id', type: 'string' }, { name: 'ts', type: 'long' }, { name: 'mcc', type: 'int' }] };
    const topology = defineTopology('mismatch', ({ source, sink }) => source('events', { schema: other, time: 'ts' }).pipe(sink('out')));
    const { dlq, stats } = await run(dir, topic, 'out', topology);
    const letter = JSON.parse(dlq) as { reason: string; partition: number; offset: number; payload: string };
    assert.match(letter.reason, /schema mismatch/);
    assert.deepEqual([letter.partition, letter.offset], [0, 0]);
    assert.equal(Buffer.from(letter.payload, 'base64').length > 0, true);
    assert.deepEqual([stats.in, stats.deadLettered], [1, 1]);
  });

  it('validate JSON payloads against the declared schema as file input is, dead-lettering a mismatch with the same reason', async (t) => {
    const dir = tempDir(t);
    const topic = path.join(dir, 'txns');
    append(topic, 1, v1, [{ card_id: 'a', amount: 1, ts: 1 }]); // Avro, decoded with the reader schema
    const good = { card_id: 'a', amount: 2, ts: 2 };
    const bad = { card_id: 'b', amount: 'lots', ts: 3 };
    const extra = { card_id: 'c', amount: 4, ts: 4, note: 'x' };
    const log = EventLog.open(topic);
    for (const e of [good, bad, extra]) log.append(e.card_id, e.ts, 0, Buffer.from(JSON.stringify(e)));
    log.close();
    const topology = defineTopology('json-in-log', ({ source, sink }) =>
      source('events', { schema: v1, time: 'ts' }).pipe(keyBy('card_id'), window(tumbling(100)), aggregate({ n: count(), total: sum('amount') }), sink('out')),
    );
    const { out, dlq, stats } = await run(dir, topic, 'out', topology);
    const letters = dlq.trim().split('\n').map((l) => JSON.parse(l) as { reason: string; source: string; partition: number; offset: number; payload: unknown });
    assert.deepEqual(letters.map((l) => [l.source, l.partition, l.offset]), [['events', 0, 2], ['events', 0, 3]]);
    assert.deepEqual(letters.map((l) => l.payload), [bad, extra]);
    assert.deepEqual(out.trim().split('\n').map((l) => JSON.parse(l)), [{ key: 'a', window_start: 0, window_end: 100, n: 2, total: 3 }]);
    assert.deepEqual([stats.in, stats.processed, stats.late, stats.deadLettered], [4, 2, 0, 2]);
    // The same lines from a file: the same reasons, word for word.
    const file = path.join(dir, 'same.jsonl');
    fs.writeFileSync(file, [good, bad, extra].map((e) => JSON.stringify(e)).join('\n') + '\n');
    const fileDlq = path.join(dir, 'file-dlq.jsonl');
    await runTopology(topology, { sources: { events: fileSource(file) }, sinks: { out: fileSink(path.join(dir, 'file-out.jsonl')), dlq: fileSink(fileDlq) } });
    const fileReasons = fs.readFileSync(fileDlq, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { reason: string }).reason);
    assert.deepEqual(letters.map((l) => l.reason), fileReasons);
    assert.match(fileReasons[0]!, /^source 'events': schema Txn mismatch: field 'amount'/);
    assert.match(fileReasons[1]!, /undeclared field\(s\) note/);
  });

  it('read a timestamp-micros time field in ms by the schema it was written with when the topology declares none', async (t) => {
    const dir = tempDir(t);
    const topic = path.join(dir, 'txns');
    const micros = { ...v1, fields: [v1.fields[0], v1.fields[1], { name: 'ts', type: { type: 'long', logicalType: 'timestamp-micros' } }] };
    // Events at 1.5 s, 2.5 s and 7 s (epoch ms 1500, 2500, 7000), written in microseconds.
    const log = EventLog.open(topic, { create: { partitions: 1 } });
    const id = log.registerSchema(micros);
    const type = avro.Type.forSchema(micros as avro.Schema);
    for (const [card_id, ms] of [['a', 1500], ['a', 2500], ['a', 7000]] as const) log.append(card_id, ms, id, type.toBuffer({ card_id, amount: 1, ts: ms * 1000 }));
    log.close();
    const topology = defineTopology('micros', ({ source, sink }) => source('events', { time: 'ts' }).pipe(keyBy('card_id'), window(tumbling('5s')), aggregate({ n: count() }), sink('out')));
    const { out, dlq, stats } = await run(dir, topic, 'out', topology);
    assert.equal(dlq, '');
    assert.deepEqual(stats.processed, 3);
    assert.deepEqual(
      out.trim().split('\n').map((l) => JSON.parse(l)),
      [
        { key: 'a', window_start: 0, window_end: 5000, n: 2 },
        { key: 'a', window_start: 5000, window_end: 10000, n: 1 },
      ],
    );
  });

  it('never deliver a torn tail: a run stops before it, and the next writer cuts it and continues the offsets', async (t) => {
    const dir = tempDir(t);
    const topic = path.join(dir, 'txns');
    append(topic, 1, v1, [1, 2, 3].map((ts) => ({ card_id: 'a', amount: ts, ts })));
    const segment = path.join(topic, 'partition-0', fs.readdirSync(path.join(topic, 'partition-0')).find((f) => f.endsWith('.log'))!);
    fs.truncateSync(segment, fs.statSync(segment).size - 3); // a crash mid-append of record 2
    const topology = defineTopology('torn', ({ source, sink }) => source('events', { schema: v1, time: 'ts' }).pipe(keyBy('card_id'), window(tumbling(100)), aggregate({ total: sum('amount') }), sink('out')));
    const first = await run(dir, topic, 'first', topology);
    assert.equal(first.dlq, '');
    assert.deepEqual([first.stats.in, first.stats.processed], [2, 2]);
    assert.equal(JSON.parse(first.out).total, 3);
    append(topic, 1, v1, [{ card_id: 'a', amount: 10, ts: 4 }]);
    const second = await run(dir, topic, 'second', topology);
    assert.equal(JSON.parse(second.out).total, 13);
    assert.equal(second.stats.in, 3);
  });
});
