import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import avro from 'avsc';
import { EventLog } from '../connectors/log/eventLog.ts';
import { jsonLines, rtml, runSummary } from './support/cli.ts';

/**
 * Dead letters end to end: `rtml run` as a child process over a JSON-lines file and over a log topic
 * holding every kind of bad input, with --sink dlq=file:... (docs/semantics.md, bad input).
 */

// `ts` may be missing or a string as far as the schema goes, so the time checks are what reject those.
const schema = {
  type: 'record',
  name: 'Txn',
  fields: [
    { name: 'card_id', type: 'string' },
    { name: 'amount', type: 'double' },
    { name: 'ts', type: ['null', 'long', 'string'], default: null },
  ],
};

const topologySource = `
import { aggregate, count, defineTopology, keyBy, sum, tumbling, window } from 'rtml';

export default defineTopology('dead', ({ source, sink }) =>
  source('events', { schema: 'txn.avsc', time: 'ts' }).pipe(
    keyBy('card_id'),
    window(tumbling('10s')),
    aggregate({ n: count(), total: sum('amount') }),
    sink('out'),
  ),
);
`;

interface Letter {
  reason: string;
  source: string;
  partition: number;
  offset: number;
  payload: unknown;
}

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'rtml-dlq-e2e-'));
  writeFileSync(join(dir, 'txn.avsc'), JSON.stringify(schema));
  writeFileSync(join(dir, 'topo.ts'), topologySource);
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function runOver(uri: string, name: string) {
  const dlq = join(dir, `${name}-dlq.jsonl`);
  const out = join(dir, `${name}-out.jsonl`);
  const r = await rtml(['run', join(dir, 'topo.ts'), '--source', `events=${uri}`, '--sink', `out=file:${out}`, '--sink', `dlq=file:${dlq}`]);
  assert.equal(r.code, 0, r.stderr);
  const summary = runSummary('dead', r.stderr);
  assert.equal(summary.in, summary.processed + summary.late + summary.deadLettered, r.stderr);
  const letters = jsonLines(dlq) as Letter[];
  for (const l of letters) assert.deepEqual(Object.keys(l), ['reason', 'source', 'partition', 'offset', 'payload']);
  return { summary, letters, out: jsonLines(out) as Record<string, unknown>[] };
}

describe('dead letters, end to end (rtml run as a child process)', () => {
  it('a JSON-lines file: unparseable JSON, schema mismatch, missing and non-numeric time', async () => {
    const lines = [
      JSON.stringify({ card_id: 'a', amount: 1, ts: 1000 }), // 0
      '{"card_id": "a", "amount": ', // 1: not JSON
      JSON.stringify({ card_id: 'a', amount: 'lots', ts: 2000 }), // 2: schema mismatch
      JSON.stringify({ card_id: 'a', amount: 2 }), // 3: no time
      JSON.stringify({ card_id: 'a', amount: 3, ts: 'yesterday' }), // 4: time not a number
      JSON.stringify({ card_id: 'b', amount: 4, ts: 25_000 }), // 5
      JSON.stringify({ card_id: 'a', amount: 5, ts: 3000 }), // 6: late (W = 25 s passed a's window [0, 10 s))
    ];
    const file = join(dir, 'events.jsonl');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const { summary, letters, out } = await runOver(`file:${file}`, 'file');
    assert.deepEqual(letters.map((l) => [l.source, l.partition, l.offset]), [
      ['events', 0, 1],
      ['events', 0, 2],
      ['events', 0, 3],
      ['events', 0, 4],
    ]);
    assert.match(letters[0]!.reason, /^invalid JSON: /);
    assert.equal(letters[0]!.payload, lines[1]);
    assert.equal(letters[1]!.reason, `source 'events': schema Txn mismatch: field 'amount': expected double, got "lots"`);
    assert.deepEqual(letters[1]!.payload, { card_id: 'a', amount: 'lots', ts: 2000 });
    assert.equal(letters[2]!.reason, `source 'events': event time field 'ts' is missing`);
    assert.deepEqual(letters[2]!.payload, { card_id: 'a', amount: 2 });
    assert.equal(letters[3]!.reason, `source 'events': event time field 'ts' is "yesterday", not a finite number`);
    assert.deepEqual(letters[3]!.payload, { card_id: 'a', amount: 3, ts: 'yesterday' });
    assert.deepEqual(summary, { in: 7, processed: 2, late: 1, deadLettered: 4, resultsOut: 2 });
    assert.deepEqual(out.map((r) => `${r.key}@${r.window_start}:${r.n}`), ['a@0:1', 'b@20000:1']);
  });

  it('a log topic: corrupt Avro bytes, an unresolvable writer schema, a JSON payload failing the schema', async () => {
    const topic = join(dir, 'txns');
    const log = EventLog.open(topic, { create: { partitions: 2 } });
    const id = log.registerSchema(schema);
    const type = avro.Type.forSchema(schema as avro.Schema);
    // A writer schema the reader schema cannot read: it has no 'amount' (and no default for it).
    const otherSchema = { type: 'record', name: 'Txn', fields: [{ name: 'card_id', type: 'string' }, { name: 'mcc', type: 'int' }] };
    const otherId = log.registerSchema(otherSchema);
    const other = avro.Type.forSchema(otherSchema as avro.Schema);
    const good = (card_id: string, ts: number) => type.toBuffer({ card_id, amount: 1, ts });
    // Record 1.0: a string of length -1 (zigzag 0x01); the log's CRC covers these bytes, so it is intact.
    const garbage = Buffer.from([0x01, 0xff, 0xff, 0xff, 0x7f]);
    const badJson = { card_id: 'z', amount: 'lots', ts: 4000 };
    log.append('a', 1000, id, good('a', 1000), 0); // 0.0
    log.append('a', 2000, id, good('a', 2000), 0); // 0.1
    log.append('x', 1500, id, garbage, 1); // 1.0: corrupt Avro
    log.append('y', 1600, otherId, other.toBuffer({ card_id: 'y', mcc: 5411 }), 1); // 1.1: unresolvable writer schema
    log.append('z', 4000, 0, Buffer.from(JSON.stringify(badJson)), 1); // 1.2: JSON failing the schema
    log.append('b', 3000, 0, Buffer.from(JSON.stringify({ card_id: 'b', amount: 2, ts: 3000 })), 1); // 1.3: good JSON
    log.close();
    const { summary, letters, out } = await runOver(`log:${topic}`, 'log');
    assert.deepEqual(letters.map((l) => [l.source, l.partition, l.offset]), [
      ['events', 1, 0],
      ['events', 1, 1],
      ['events', 1, 2],
    ]);
    assert.match(letters[0]!.reason, new RegExp(`^invalid Avro payload for schema ${id}: `));
    assert.equal(letters[0]!.payload, garbage.toString('base64'));
    assert.match(letters[1]!.reason, new RegExp(`^schema mismatch: written with schema ${otherId} \\(Txn\\), which the reader schema \\(Txn\\) cannot read`));
    assert.equal(letters[1]!.payload, other.toBuffer({ card_id: 'y', mcc: 5411 }).toString('base64'));
    assert.equal(letters[2]!.reason, `source 'events': schema Txn mismatch: field 'amount': expected double, got "lots"`);
    assert.deepEqual(letters[2]!.payload, badJson);
    assert.deepEqual(summary, { in: 6, processed: 3, late: 0, deadLettered: 3, resultsOut: 2 });
    assert.deepEqual(out.map((r) => `${r.key}@${r.window_start}:${r.n}`).sort(), ['a@0:2', 'b@0:1']);
  });
});
