import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import avro from 'avsc';
import { RtmlError } from '../engine/errors.ts';
import type { InputRecord, SourceOpenOptions, SourceReader } from '../engine/io.ts';
import { EventLog } from '../connectors/log/eventLog.ts';
import { LogReader } from '../connectors/log/logReader.ts';
import { partitionFor } from '../connectors/log/partitioner.ts';
import { logSink } from '../connectors/log/sink.ts';
import { logSource } from '../connectors/log/source.ts';

function tempTopic(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rtml-log-source-test-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'topic');
}

const bounded: SourceOpenOptions = { from: 'earliest', follow: false, readerSchema: undefined };

async function open(t: TestContext, topic: string, options: Partial<SourceOpenOptions> = {}): Promise<SourceReader> {
  const reader = await logSource(topic).open({ ...bounded, ...options });
  t.after(() => reader.close());
  return reader;
}

/** Every record of a bounded source, partition by partition, in small batches. */
async function readBounded(reader: SourceReader): Promise<InputRecord[][]> {
  const out: InputRecord[][] = [];
  for (const p of reader.partitions) {
    const records: InputRecord[] = [];
    for (;;) {
      const batch = await reader.read(p, 3);
      if (batch === null) break;
      assert.ok(batch.length > 0, 'a bounded source never returns an empty batch');
      records.push(...batch);
    }
    out.push(records);
  }
  return out;
}

/** Plain objects of decoded values (avsc record instances compared field by field). */
const plain = (records: InputRecord[]) => records.map((r) => ({ ...(r.value as object) }));

const txnV1 = {
  type: 'record',
  name: 'Txn',
  fields: [
    { name: 'card_id', type: 'string' },
    { name: 'amount', type: 'double' },
  ],
};
const txnV2 = { ...txnV1, fields: [...txnV1.fields, { name: 'currency', type: 'string', default: 'EUR' }] };

describe('log sink and source', () => {
  it('round-trips JSON values (schema id 0) with keys, times and offsets, and counts progress', async (t) => {
    const topic = tempTopic(t);
    const sink = await logSink(topic, { partitions: 3 }).open();
    const values = Array.from({ length: 50 }, (_, i) => ({ card: `c${i % 7}`, n: i, nested: { ok: i % 2 === 0 } }));
    for (const v of values) sink.write(v, v.card, 1000 + v.n);
    sink.write({ keyless: true }, undefined, 5);
    sink.write({ numeric: true }, 42, 6);
    assert.ok(sink.pending > 0);
    await sink.flush();
    assert.equal(sink.pending, 0);
    await sink.close();

    const reader = await open(t, topic);
    assert.deepEqual(reader.partitions, [0, 1, 2]);
    assert.deepEqual(reader.progress(), { done: 0, total: 52 });
    const parts = await readBounded(reader);
    assert.deepEqual(reader.progress(), { done: 52, total: 52 });
    for (const [p, records] of parts.entries()) {
      assert.deepEqual(records.map((r) => r.offset), records.map((_, i) => i));
      for (const r of records) {
        assert.equal(r.error, undefined);
        const v = r.value as { card?: string; n?: number };
        if (v.card !== undefined) {
          assert.equal(partitionFor(v.card, 3), p);
          assert.equal(r.timestamp, 1000 + v.n!);
        }
      }
    }
    const all = parts.flat().map((r) => r.value);
    for (const v of values) assert.ok(all.some((x) => JSON.stringify(x) === JSON.stringify(v)));
    assert.ok(parts[partitionFor('42', 3)]!.some((r) => JSON.stringify(r.value) === '{"numeric":true}'));
    assert.ok(all.some((x) => JSON.stringify(x) === '{"keyless":true}'));
  });

  it('writes Avro with the sink schema, rejects a value that does not match it, and decodes on read', async (t) => {
    const topic = tempTopic(t);
    const sink = await logSink(topic, { schema: txnV1 }).open();
    sink.write({ card_id: 'a', amount: 1.5 }, 'a', 10);
    assert.throws(
      () => sink.write({ card_id: 'b', amount: 'lots' }, 'b', 11),
      (err: unknown) => err instanceof RtmlError && err.code === 'RTML_E_SCHEMA' && /field 'amount': expected double, got "lots"/.test(err.message),
    );
    sink.write({ card_id: 'c', amount: 3 }, 'c', 12);
    await sink.close();
    assert.deepEqual(LogReader.open(topic).info().schemas.map((s) => [s.id, s.name]), [[1, 'Txn']]);
    const [records] = await readBounded(await open(t, topic));
    assert.deepEqual(plain(records!), [{ card_id: 'a', amount: 1.5 }, { card_id: 'c', amount: 3 }]);
    assert.deepEqual(records!.map((r) => [r.offset, r.timestamp]), [[0, 10], [1, 12]]);
  });

  it('registers each canonical schema once, in files 1.avsc, 2.avsc…', (t) => {
    const topic = tempTopic(t);
    const log = EventLog.open(topic, { create: { partitions: 1 } });
    assert.equal(log.registerSchema(txnV1), 1);
    assert.equal(log.registerSchema({ ...txnV1, doc: 'same canonical form' }), 1);
    assert.equal(log.registerSchema(avro.Type.forSchema(txnV1 as avro.Schema)), 1);
    assert.equal(log.registerSchema(txnV2), 2);
    assert.throws(() => log.registerSchema({ type: 'record', name: 'Bad', fields: [{ name: 'x', type: 'nope' }] }), (err: unknown) => err instanceof RtmlError && err.code === 'RTML_E_SCHEMA');
    assert.throws(() => log.append(null, 0, 3, Buffer.alloc(1)), (err: unknown) => err instanceof RtmlError && err.code === 'RTML_E_SCHEMA');
    log.close();
    assert.deepEqual(fs.readdirSync(path.join(topic, 'schemas')).sort(), ['1.avsc', '2.avsc']);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(topic, 'schemas', '2.avsc'), 'utf8')).fields[2], { name: 'currency', type: 'string', default: 'EUR' });
    const reopened = EventLog.open(topic);
    assert.equal(reopened.registerSchema(txnV2), 2, 'ids survive reopening');
    reopened.close();
  });

  it('resolves records written with an older schema to the newest (added field gets its default)', async (t) => {
    const topic = tempTopic(t);
    const log = EventLog.open(topic, { create: { partitions: 1 } });
    const v1 = log.registerSchema(txnV1);
    log.append('a', 1, v1, log.schema(v1).toBuffer({ card_id: 'a', amount: 1 }));
    const v2 = log.registerSchema(txnV2);
    log.append('b', 2, v2, log.schema(v2).toBuffer({ card_id: 'b', amount: 2, currency: 'USD' }));
    log.close();
    const expected = [
      { card_id: 'a', amount: 1, currency: 'EUR' },
      { card_id: 'b', amount: 2, currency: 'USD' },
    ];
    const [newest] = await readBounded(await open(t, topic));
    assert.deepEqual(plain(newest!), expected);
    const [explicit] = await readBounded(await open(t, topic, { readerSchema: avro.Type.forSchema(txnV2 as avro.Schema) }));
    assert.deepEqual(plain(explicit!), expected);
  });

  it('turns records whose writer schema the reader schema cannot read into error records', async (t) => {
    const topic = tempTopic(t);
    const log = EventLog.open(topic, { create: { partitions: 1 } });
    const v1 = log.registerSchema(txnV1);
    const payload = log.schema(v1).toBuffer({ card_id: 'a', amount: 1 });
    log.append('a', 7, v1, payload);
    log.close();
    const reader = avro.Type.forSchema({ ...txnV1, fields: [...txnV1.fields, { name: 'merchant', type: 'string' }] } as avro.Schema);
    const [records] = await readBounded(await open(t, topic, { readerSchema: reader }));
    assert.equal(records!.length, 1);
    const [r] = records!;
    assert.equal(r!.value, undefined);
    assert.match(r!.error!, /^schema mismatch: written with schema 1 \(Txn\), which the reader schema \(Txn\) cannot read: /);
    assert.equal(r!.raw, payload.toString('base64'));
    assert.deepEqual([r!.offset, r!.timestamp], [0, 7]);
  });

  it('turns undecodable payloads into error records with the raw bytes and goes on', async (t) => {
    const topic = tempTopic(t);
    const log = EventLog.open(topic, { create: { partitions: 1 } });
    const v1 = log.registerSchema(txnV1);
    const good = log.schema(v1).toBuffer({ card_id: 'a', amount: 1 });
    log.append(null, 1, 0, Buffer.from('{"not json'));
    log.append(null, 2, v1, Buffer.concat([good, Buffer.from([1, 2])]));
    log.append(null, 3, v1, good.subarray(0, 4));
    log.append(null, 4, v1, good);
    log.close();
    const [records] = await readBounded(await open(t, topic));
    assert.deepEqual(records!.map((r) => r.offset), [0, 1, 2, 3]);
    assert.match(records![0]!.error!, /^invalid JSON: /);
    assert.equal(records![0]!.raw, '{"not json');
    assert.match(records![1]!.error!, /has 2 byte\(s\) left over/);
    assert.equal(records![1]!.raw, Buffer.concat([good, Buffer.from([1, 2])]).toString('base64'));
    assert.match(records![2]!.error!, /invalid Avro payload for schema 1/);
    assert.deepEqual(plain([records![3]!]), [{ card_id: 'a', amount: 1 }]);
    assert.equal(records![3]!.error, undefined);
  });

  it('bounded: does not see records appended after open', async (t) => {
    const topic = tempTopic(t);
    const sink = await logSink(topic, { partitions: 2 }).open();
    sink.write({ n: 1 }, 'x', 1);
    await sink.flush();
    const reader = await open(t, topic);
    sink.write({ n: 2 }, 'x', 2);
    await sink.close();
    const parts = await readBounded(reader);
    assert.deepEqual(parts.flat().map((r) => r.value), [{ n: 1 }]);
    assert.equal(await reader.read(0, 10), null);
  });

  it('following: returns [] when idle, then the new records, including ones with a newly registered schema', async (t) => {
    const topic = tempTopic(t);
    const log = EventLog.open(topic, { create: { partitions: 2 } });
    log.append(null, 1, 0, Buffer.from('{"old":true}'), 0);
    log.flush();
    const reader = await open(t, topic, { from: 'latest', follow: true });
    assert.equal(reader.progress(), undefined);
    assert.deepEqual(await reader.read(0, 10), []);
    assert.deepEqual(await reader.read(1, 10), []);

    log.append(null, 2, 0, Buffer.from('{"new":1}'), 0);
    const v1 = log.registerSchema(txnV1);
    log.append(null, 3, v1, log.schema(v1).toBuffer({ card_id: 'z', amount: 9 }), 1);
    log.flush({ fsync: false });
    const got: InputRecord[] = [];
    for (let i = 0; i < 100 && got.length < 2; i++) {
      for (const p of reader.partitions) got.push(...((await reader.read(p, 10)) ?? []));
    }
    log.close();
    assert.deepEqual(got.map((r) => [r.offset, r.error, JSON.stringify(r.value)]), [
      [1, undefined, '{"new":1}'],
      [0, undefined, '{"card_id":"z","amount":9}'],
    ]);
  });

  it('an existing topic keeps its partitions when the sink does not ask for a count', async (t) => {
    const topic = tempTopic(t);
    await (await logSink(topic, { partitions: 4 }).open()).close();
    const sink = await logSink(topic).open();
    await sink.close();
    assert.equal(LogReader.open(topic).partitions, 4);
    await assert.rejects(logSink(topic, { partitions: 2 }).open(), /has 4 partitions, but 2 were requested/);
    assert.equal(logSource(topic).uri, `log:${topic}`);
  });
});
