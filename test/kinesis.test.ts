import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import avro from 'avsc';
import { CreateStreamCommand, MergeShardsCommand, PutRecordsCommand, SplitShardCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { fileSource } from '../connectors/file/source.ts';
import { kinesisClient, kinesisSink, kinesisSource, listShards, parseKinesisUri } from '../connectors/kinesis/index.ts';
import { aggregate, count, defineTopology, keyBy, sum, tumbling, window } from '../engine/index.ts';
import type { InputRecord, SourceConnector } from '../engine/io.ts';
import { runTopology, type RunOptions } from '../engine/runtime.ts';
import { eventLines } from './support/generate.ts';
import { createStream, putLines, readAll, startKinesisMock, waitActive, type KinesisMock } from './support/kinesis.ts';
import { freePort } from './support/features.ts';
import { memorySink, memorySource } from './support/memory.ts';

/** The Kinesis connector against kinesis-mock (kinesis-local), in-process through runTopology. */

// Out-of-order allowance above the generator's worst lateness (120 s), so no event is late and the
// results cannot depend on how the shards interleave.
const topology = defineTopology('kinesis-counts', ({ source, sink }) =>
  source('events', { time: 'ts', outOfOrder: '3m' }).pipe(keyBy('card_id'), window(tumbling('10s')), aggregate({ n: count(), total: sum('amount') }), sink('out')),
);

let mock: KinesisMock;
let client: KinesisClient;

function uriOf(stream: string, endpoint = mock.endpoint, extra = ''): string {
  return `kinesis://${stream}?region=us-east-1&endpoint=${encodeURIComponent(endpoint)}${extra}`;
}

function tempDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rtml-kinesis-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const sorted = (values: unknown[]): string[] => values.map((v) => JSON.stringify(v)).sort();

async function runOver(source: SourceConnector, options: Partial<RunOptions> = {}) {
  const out = memorySink();
  const dlq = memorySink();
  const stats = await runTopology(topology, { sources: { events: source }, sinks: { out: out.connector, dlq: dlq.connector }, ...options });
  return { out: out.json(), dlq: dlq.json(), stats };
}

describe('kinesis connector (kinesis-mock)', () => {
  before(async () => {
    mock = await startKinesisMock();
    client = kinesisClient(parseKinesisUri(uriOf('x')));
  });
  after(async () => {
    client?.destroy();
    await mock?.stop();
  });

  it('rejects malformed URIs naming the form', () => {
    assert.throws(() => parseKinesisUri('kinesis://'), (e: Error & { code?: string }) => e.code === 'RTML_E_URI' && /kinesis:\/\/<stream>\?region=/.test(e.message) && /"kinesis:\/\/"/.test(e.message));
    assert.throws(() => parseKinesisUri('kinesis://s?region=us-east-1&endpoint=ftp://x'), /endpoint "ftp:\/\/x" must be http/);
    assert.throws(() => parseKinesisUri('kinesis://s?region=us-east-1&bogus=1'), /unknown parameter "bogus"/);
    assert.throws(() => parseKinesisUri('kinesis://bad name?region=us-east-1'), /RTML_E_URI|must be 1-128/);
    assert.deepEqual(parseKinesisUri('kinesis://s1?region=eu-west-1'), { stream: 's1', region: 'eu-west-1', endpoint: undefined, schema: undefined, connectTimeoutMs: 60_000 });
  });

  it('a bounded run over a 2-shard stream gives the results of the same events from a file', async (t) => {
    const dir = tempDir(t);
    const lines = eventLines(3000, { seed: 7, bad: true });
    const file = path.join(dir, 'events.jsonl');
    fs.writeFileSync(file, lines.join('\n') + '\n');
    const stream = await createStream(client, 2);
    await putLines(client, stream, lines);
    const fromFile = await runOver(fileSource(file));
    const fromKinesis = await runOver(kinesisSource(uriOf(stream)));
    assert.equal(fromKinesis.stats.in, lines.length);
    assert.equal(fromKinesis.stats.late, 0);
    assert.ok(fromKinesis.out.length > 100);
    assert.deepEqual(sorted(fromKinesis.out), sorted(fromFile.out));
    assert.ok(fromKinesis.stats.deadLettered > 0, 'the generator wrote bad lines');
    assert.equal(fromKinesis.stats.deadLettered, fromFile.stats.deadLettered);
    // The reader really had two partitions (shards), both with records.
    const reader = await kinesisSource(uriOf(stream)).open({ from: 'earliest', follow: false, readerSchema: undefined });
    try {
      assert.deepEqual(reader.partitions, [0, 1]);
      for (const p of reader.partitions) assert.ok(((await reader.read(p, 10)) ?? []).length > 0);
    } finally {
      await reader.close();
    }
  });

  it('the sink puts each result with its key as partition key and its JSON value, past the 500-record batch', async () => {
    const stream = await createStream(client, 2);
    const events = eventLines(4000, { seed: 3 }).map((l) => JSON.parse(l) as Record<string, unknown>);
    const expected = memorySink();
    await runTopology(topology, { sources: { events: memorySource([events]) }, sinks: { out: expected.connector } });
    const stats = await runTopology(topology, { sources: { events: memorySource([events]) }, sinks: { out: kinesisSink(uriOf(stream)) } });
    const results = expected.json();
    assert.ok(results.length > 500, `${results.length} results: more than one PutRecords call`);
    assert.equal(stats.resultsOut, results.length);
    const got = await readAll(client, stream);
    assert.equal(got.length, results.length);
    for (const r of got) assert.equal(r.key, (r.value as { key: string }).key);
    assert.deepEqual(sorted(got.map((r) => r.value)), sorted(results));
    // Keyless values go under one fixed partition key.
    const writer = await kinesisSink(uriOf(stream)).open();
    writer.write({ hello: 1 }, undefined, 0);
    assert.ok(writer.pending > 0);
    await writer.close();
    const all = await readAll(client, stream);
    assert.deepEqual(all.filter((r) => r.key === 'rtml').map((r) => r.value), [{ hello: 1 }]);
  });

  it('a run stopped midway resumes from its checkpoint (shard sequence numbers) and ends with a clean run\'s results', async (t) => {
    const dir = tempDir(t);
    const lines = eventLines(3000, { seed: 11 });
    const stream = await createStream(client, 2);
    await putLines(client, stream, lines);
    const uri = uriOf(stream);
    const clean = await runOver(kinesisSource(uri));
    assert.equal(clean.stats.in, lines.length);

    const checkpoint = { dir: path.join(dir, 'ckpt'), everyEvents: 250 };
    const controller = new AbortController();
    let seen = 0;
    const inner = kinesisSource(uri);
    // The same source, counting what it hands out and stopping the run after ~1000 records.
    const stopping: SourceConnector = {
      uri,
      async open(options) {
        const reader = await inner.open(options);
        return Object.assign(Object.create(reader) as typeof reader, {
          async read(p: number, max: number): Promise<InputRecord[] | null> {
            const batch = await reader.read(p, max);
            seen += batch?.length ?? 0;
            if (seen >= 1000) controller.abort();
            return batch;
          },
        });
      },
    };
    const first = await runOver(stopping, { checkpoint, signal: controller.signal, batchSize: 100 });
    assert.ok(first.stats.in < lines.length, `stopped midway (${first.stats.in} events)`);
    assert.ok(first.stats.checkpoints >= 1);
    const saved = JSON.stringify(fs.readdirSync(checkpoint.dir).map((f) => fs.readFileSync(path.join(checkpoint.dir, f), 'utf8')));
    assert.match(saved, /shardId-\d+/, 'the checkpoint carries shard positions');

    const second = await runOver(kinesisSource(uri), { checkpoint, batchSize: 100 });
    assert.equal(second.stats.resumed, true);
    assert.equal(second.stats.in, lines.length, 'counters continue from the checkpoint: nothing read twice');
    assert.deepEqual(sorted([...first.out, ...second.out]), sorted(clean.out));
  });

  it('decodes Avro with the reader schema, and turns undecodable payloads into error records', async () => {
    const stream = await createStream(client, 1);
    const type = avro.Type.forSchema({ type: 'record', name: 'Txn', fields: [{ name: 'card_id', type: 'string' }, { name: 'amount', type: 'double' }] });
    await client.send(
      new PutRecordsCommand({
        StreamName: stream,
        Records: [
          { PartitionKey: 'a', Data: type.toBuffer({ card_id: 'a', amount: 2.5 }) },
          { PartitionKey: 'a', Data: Buffer.from([0xff, 0xff, 0xff]) },
        ],
      }),
    );
    const avroReader = await kinesisSource(uriOf(stream)).open({ from: 'earliest', follow: false, readerSchema: type });
    const jsonReader = await kinesisSource(uriOf(stream)).open({ from: 'earliest', follow: false, readerSchema: undefined });
    try {
      const records = (await avroReader.read(0, 10))!;
      assert.deepEqual({ ...(records[0]!.value as object) }, { card_id: 'a', amount: 2.5 });
      assert.deepEqual(records.map((r) => r.offset), [0, 1]);
      assert.ok(Number.isFinite(records[0]!.timestamp), 'the arrival time');
      assert.equal(records[1]!.value, undefined);
      assert.match(records[1]!.error!, /undecodable Avro/);
      assert.equal(records[1]!.raw, Buffer.from([0xff, 0xff, 0xff]).toString('base64'));
      assert.equal(await avroReader.read(0, 10), null);
      const json = (await jsonReader.read(0, 10))!;
      assert.match(json[0]!.error!, /invalid JSON/);
    } finally {
      await avroReader.close();
      await jsonReader.close();
    }
  });

  it('reads a parent shard to its end before its children after a split, keeping per-key order', async () => {
    const stream = await createStream(client, 1);
    const put = async (from: number, to: number) => {
      const lines: string[] = [];
      for (let i = from; i < to; i++) lines.push(JSON.stringify({ card_id: `k${i % 7}`, seq: i, amount: 1, ts: 1_700_000_000_000 + i }));
      await putLines(client, stream, lines);
    };
    await put(0, 300);
    const [parent] = await listShards(client, stream);
    await client.send(new SplitShardCommand({ StreamName: stream, ShardToSplit: parent!.ShardId!, NewStartingHashKey: (2n ** 127n).toString() }));
    await waitActive(client, stream);
    await put(300, 600);
    const shards = await listShards(client, stream);
    assert.equal(shards.length, 3, 'the parent and its two children');

    // Following (where read order is dispatch order), children first: they must hand out nothing
    // before the parent's records.
    const reader = await kinesisSource(uriOf(stream)).open({ from: 'earliest', follow: true, readerSchema: undefined });
    const order: { card_id: string; seq: number }[] = [];
    const firstChildRead: number[] = [];
    const ended = new Set<number>();
    try {
      assert.deepEqual(reader.partitions, [0, 1, 2]);
      const deadline = Date.now() + 15_000;
      while (order.length < 600 && Date.now() < deadline) {
        for (const p of [2, 1, 0].filter((q) => !ended.has(q))) {
          const batch = await reader.read(p, 50);
          if (batch === null) {
            // Only the closed parent ends, once read to its end.
            assert.equal(p, 0);
            assert.equal(order.length >= 300, true);
            ended.add(p);
            continue;
          }
          if (p !== 0 && batch.length > 0 && firstChildRead.length === 0) firstChildRead.push(order.length);
          for (const r of batch) order.push(r.value as { card_id: string; seq: number });
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    } finally {
      await reader.close();
    }
    assert.equal(order.length, 600);
    assert.deepEqual(firstChildRead, [300], 'children start after the 300 records of their parent');
    const last = new Map<string, number>();
    for (const r of order) {
      assert.ok((last.get(r.card_id) ?? -1) < r.seq, `key ${r.card_id}: ${r.seq} after ${last.get(r.card_id)}`);
      last.set(r.card_id, r.seq);
    }
    // Bounded, through the engine: every record of the parent and both children, once.
    const { stats } = await runOver(kinesisSource(uriOf(stream)));
    assert.equal(stats.in, 600);
    assert.equal(stats.deadLettered, 0);
  });

  it('replays a range: offsets as a run from the start numbers them, times from AT_TIMESTAMP, both ends inclusive', async () => {
    const stream = await createStream(client, 2);
    const batch = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => JSON.stringify({ card_id: `k${(from + i) % 9}`, i: from + i, amount: 1, ts: 1_700_000_000_000 + from + i }));
    // Three puts, apart in time, so their arrival timestamps differ.
    for (const [from, to] of [[0, 400], [400, 800], [800, 1200]] as const) {
      await putLines(client, stream, batch(from, to));
      await new Promise((r) => setTimeout(r, 20));
    }
    const readAllOf = async (options: Partial<Parameters<SourceConnector['open']>[0]> = {}) => {
      const reader = await kinesisSource(uriOf(stream)).open({ from: 'earliest', follow: false, readerSchema: undefined, ...options });
      const got = new Map<number, InputRecord[]>();
      try {
        for (const p of reader.partitions) {
          const records: InputRecord[] = [];
          for (let b = await reader.read(p, 100); b !== null; b = await reader.read(p, 100)) records.push(...b);
          got.set(p, records);
        }
      } finally {
        await reader.close();
      }
      return got;
    };
    const full = await readAllOf();
    const i = (r: InputRecord) => (r.value as { i: number }).i;
    assert.equal([...full.values()].flat().length, 1200);

    const byOffset = await readAllOf({ range: { from: { offset: 50 }, to: { offset: 250 } } });
    for (const [p, records] of full) {
      const expected = records.filter((r) => r.offset >= 50 && r.offset <= 250);
      assert.ok(expected.length > 100);
      assert.deepEqual(byOffset.get(p)!.map((r) => [r.offset, i(r)]), expected.map((r) => [r.offset, i(r)]), `partition ${p}`);
    }

    // From the second put's first arrival time to the last arrival time before the third put.
    const all = [...full.values()].flat();
    const fromTime = Math.min(...all.filter((r) => i(r) >= 400).map((r) => r.timestamp));
    const toTime = Math.max(...all.filter((r) => i(r) < 800).map((r) => r.timestamp));
    assert.ok(Math.max(...all.filter((r) => i(r) < 400).map((r) => r.timestamp)) < fromTime && toTime < Math.min(...all.filter((r) => i(r) >= 800).map((r) => r.timestamp)));
    const byTime = await readAllOf({ range: { from: { time: fromTime }, to: { time: toTime } } });
    for (const [p, records] of full) {
      assert.deepEqual(byTime.get(p)!.map(i), records.filter((r) => r.timestamp >= fromTime && r.timestamp <= toTime).map(i), `partition ${p}`);
    }
    assert.deepEqual([...byTime.values()].flat().map(i).sort((a, b) => a - b), Array.from({ length: 400 }, (_, k) => 400 + k));
    // An offset start with a time end, through the engine (rtml replay).
    const { stats } = await runOver(kinesisSource(uriOf(stream)), { range: { from: { offset: 50 }, to: { time: toTime } } });
    assert.equal(stats.in, all.filter((r) => r.offset >= 50 && r.timestamp <= toTime).length);
    await assert.rejects(runOver(kinesisSource(uriOf(stream)), { range: { from: { time: fromTime }, to: { offset: 10 } } }), /cannot end at an offset/);
  });

  it('a live run reads shards created by a split while it runs, after their parent, keeping per-key order, and resumes them from its checkpoint', async (t) => {
    const dir = tempDir(t);
    const stream = await createStream(client, 1);
    const lines = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => JSON.stringify({ card_id: `k${(from + i) % 7}`, seq: from + i, amount: 1, ts: 1_700_000_000_000 + from + i }));
    const checkpoint = { dir: path.join(dir, 'ckpt'), everyEvents: 100 };
    /** A live run that records what it reads and stops once it has read `until` events in all. */
    const live = (until: number) => {
      const seen: { card_id: string; seq: number }[] = [];
      const controller = new AbortController();
      const inner = kinesisSource(uriOf(stream));
      const source: SourceConnector = {
        uri: inner.uri,
        async open(options) {
          const reader = await inner.open(options);
          return Object.assign(Object.create(reader) as typeof reader, {
            async read(p: number, max: number): Promise<InputRecord[] | null> {
              const batch = await reader.read(p, max);
              for (const r of batch ?? []) seen.push(r.value as { card_id: string; seq: number });
              return batch;
            },
          });
        },
      };
      const guard = setTimeout(() => controller.abort(), 60_000); // a failure, not a timing: it reads less
      const running = runOver(source, {
        follow: true,
        signal: controller.signal,
        pollInterval: 10,
        checkpoint,
        onProgress: (p) => {
          if (p.stats.in >= until) controller.abort();
        },
      }).finally(() => clearTimeout(guard));
      return { seen, running };
    };

    await putLines(client, stream, lines(0, 300));
    const first = live(600);
    await new Promise<void>((resolve) => {
      const check = () => (first.seen.length >= 300 ? resolve() : setTimeout(check, 20));
      check();
    });
    const [parent] = await listShards(client, stream);
    await client.send(new SplitShardCommand({ StreamName: stream, ShardToSplit: parent!.ShardId!, NewStartingHashKey: (2n ** 127n).toString() }));
    await waitActive(client, stream);
    assert.equal((await listShards(client, stream)).length, 3);
    await putLines(client, stream, lines(300, 600));
    const run1 = await first.running;
    assert.equal(run1.stats.in, 600, 'the children of the split were read without a restart');
    assert.deepEqual(first.seen.slice(0, 300).map((v) => v.seq), Array.from({ length: 300 }, (_, k) => k), 'the parent first');
    const last = new Map<string, number>();
    for (const v of first.seen) {
      assert.ok((last.get(v.card_id) ?? -1) < v.seq, `key ${v.card_id}: ${v.seq} after ${last.get(v.card_id)}`);
      last.set(v.card_id, v.seq);
    }

    // Resumed (the children are partitions of their own now): exactly the records put since.
    await putLines(client, stream, lines(600, 700));
    const second = live(700);
    const run2 = await second.running;
    assert.equal(run2.stats.resumed, true);
    assert.equal(run2.stats.in, 700);
    assert.deepEqual(second.seen.map((v) => v.seq).sort((a, b) => a - b), Array.from({ length: 100 }, (_, k) => 600 + k));
  });

  it('a live run reads the shard a merge creates while it runs, after both parents, keeping per-key order', async () => {
    const stream = await createStream(client, 2);
    const lines = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => JSON.stringify({ card_id: `k${(from + i) % 7}`, seq: from + i, amount: 1, ts: 1_700_000_000_000 + from + i }));
    const reader = await kinesisSource(uriOf(stream)).open({ from: 'earliest', follow: true, readerSchema: undefined });
    const seen: { card_id: string; seq: number }[] = [];
    const ended = new Set<number>();
    const readUntil = async (n: number) => {
      const deadline = Date.now() + 30_000; // a failure, not a timing: fewer records are read
      while (seen.length < n && Date.now() < deadline) {
        for (const p of reader.partitions.filter((q) => !ended.has(q))) {
          const batch = await reader.read(p, 50);
          if (batch === null) ended.add(p);
          for (const r of batch ?? []) seen.push(r.value as { card_id: string; seq: number });
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    try {
      assert.deepEqual(reader.partitions, [0, 1]);
      await putLines(client, stream, lines(0, 200));
      await readUntil(200);
      const [a, b] = await listShards(client, stream);
      await client.send(new MergeShardsCommand({ StreamName: stream, ShardToMerge: a!.ShardId!, AdjacentShardToMerge: b!.ShardId! }));
      await waitActive(client, stream);
      await putLines(client, stream, lines(200, 400));
      await readUntil(400);
      // Partition 1's shard is closed and its child is read in partition 0: it ends.
      for (let i = 0; i < 5 && !ended.has(1); i++) if ((await reader.read(1, 50)) === null) ended.add(1);
    } finally {
      await reader.close();
    }
    assert.equal(seen.length, 400, 'the merged shard was read without a restart');
    assert.deepEqual(seen.slice(0, 200).map((v) => v.seq).sort((x, y) => x - y), Array.from({ length: 200 }, (_, k) => k), 'both parents first');
    assert.ok(ended.has(1));
    const last = new Map<string, number>();
    for (const v of seen) {
      assert.ok((last.get(v.card_id) ?? -1) < v.seq, `key ${v.card_id}: ${v.seq} after ${last.get(v.card_id)}`);
      last.set(v.card_id, v.seq);
    }
  });

  it('retries a stream that is not reachable at start, logging it, and proceeds once it is', async () => {
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    const stream = 'late-start';
    const logged: string[] = [];
    const controller = new AbortController();
    const lines = eventLines(200, { seed: 5 });
    let later: KinesisMock | undefined;
    try {
      const running = runOver(kinesisSource(uriOf(stream, endpoint, '&connect-timeout=30s'), { log: (m) => logged.push(m) }), {
        follow: true,
        signal: controller.signal,
        pollInterval: 10,
        onProgress: (p) => {
          if (p.stats.in >= lines.length) controller.abort();
        },
      });
      const guard = setTimeout(() => controller.abort(), 40_000);
      while (logged.length === 0) await new Promise((r) => setTimeout(r, 50));
      assert.match(logged[0]!, /^rtml: kinesis late-start unreachable \(.+\); retrying in \d/);
      later = await startKinesisMock({ port });
      const c = kinesisClient(parseKinesisUri(uriOf(stream, endpoint)));
      await c.send(new CreateStreamCommand({ StreamName: stream, ShardCount: 2 }));
      await waitActive(c, stream);
      await putLines(c, stream, lines);
      c.destroy();
      const { stats } = await running;
      clearTimeout(guard);
      assert.equal(stats.in, lines.length, logged.join('\n'));
      assert.ok(logged.some((l) => /reachable again/.test(l)), logged.join('\n'));
    } finally {
      controller.abort();
      await later?.stop();
    }
  });
});
