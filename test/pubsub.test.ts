import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PubSub } from '@google-cloud/pubsub';
import { fileSource } from '../connectors/file/source.ts';
import { pubsubSink, pubsubSource } from '../connectors/pubsub/index.ts';
import { aggregate, count, defineTopology, keyBy, sum, tumbling, window } from '../engine/index.ts';
import type { InputRecord, SourceConnector } from '../engine/io.ts';
import { runTopology, type RunOptions } from '../engine/runtime.ts';
import { eventLines } from './support/generate.ts';
import { memorySink, memorySource } from './support/memory.ts';
import { publish, pullMessages, startPubSubEmulator, topicWithSubscription, type PubSubEmulator } from './support/pubsub.ts';
import { freePort } from './support/features.ts';

/**
 * The Pub/Sub connector against the emulator (started once for the file). Pub/Sub does not keep the
 * order of messages across publishes, so the topologies allow 1 h out of order: no event is late
 * whatever the arrival order, every window fires at the end, and results compare as sorted sets
 * (sums rounded to cents, as float addition order differs).
 */

const topology = defineTopology('pubsub', ({ source, sink }) =>
  source('events', { time: 'ts', outOfOrder: '1h' }).pipe(keyBy('card_id'), window(tumbling('10s')), aggregate({ n: count(), total: sum('amount') }), sink('out')),
);

type Row = Record<string, unknown>;

function normalize(rows: Row[]): string[] {
  return rows.map((r) => JSON.stringify({ ...r, total: Math.round((r.total as number) * 100) })).sort();
}

let emulator: PubSubEmulator;
let client: PubSub;
let dir: string;
let savedHost: string | undefined;

before(async () => {
  emulator = await startPubSubEmulator();
  savedHost = process.env.PUBSUB_EMULATOR_HOST;
  process.env.PUBSUB_EMULATOR_HOST = emulator.host;
  client = new PubSub({ projectId: 'test' });
  dir = mkdtempSync(join(tmpdir(), 'rtml-pubsub-'));
});

after(async () => {
  await client?.close();
  await emulator?.stop();
  if (savedHost === undefined) delete process.env.PUBSUB_EMULATOR_HOST;
  else process.env.PUBSUB_EMULATOR_HOST = savedHost;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The same topology over the same events from a file. */
async function fileRun(name: string, lines: string[]): Promise<Row[]> {
  const path = join(dir, `${name}.jsonl`);
  writeFileSync(path, `${lines.join('\n')}\n`);
  const out = memorySink();
  await runTopology(topology, { sources: { events: fileSource(path) }, sinks: { out: out.connector }, warn: () => {} });
  return out.json();
}

/** Wraps a source: counts the records read and the positions committed, and can stop the run. */
function watched(source: SourceConnector, stop?: { after: number; how: 'abort' | 'crash'; controller?: AbortController }) {
  const seen = { records: 0, committed: [] as number[], offsets: [] as number[], values: [] as unknown[] };
  const connector: SourceConnector = {
    uri: source.uri,
    async open(options) {
      const reader = await source.open(options);
      return {
        partitions: reader.partitions,
        decodesWithReaderSchema: reader.decodesWithReaderSchema,
        async read(p: number, max: number): Promise<InputRecord[] | null> {
          if (stop && seen.records >= stop.after) {
            if (stop.how === 'crash') throw new Error('simulated crash');
            stop.controller!.abort();
          }
          const batch = await reader.read(p, stop ? Math.min(max, 50) : max);
          if (batch) {
            seen.records += batch.length;
            for (const r of batch) {
              seen.offsets.push(r.offset);
              seen.values.push(r.value);
            }
          }
          return batch;
        },
        async committed(positions) {
          seen.committed.push(positions.get(0) ?? -1);
          await reader.committed!(positions);
        },
        commitWanted: () => reader.commitWanted?.() ?? false,
        progress: () => reader.progress(),
        close: () => reader.close(),
      };
    },
  };
  return { connector, seen };
}

describe('pubsub:// connector (emulator)', { timeout: 300_000 }, () => {
  it('a bounded keyed tumbling count/sum over a subscription equals the same run over a file (bad messages dead-lettered), and acknowledges at the end', async () => {
    // Published without ordering keys (an ordered subscription delivers more of a key only once
    // earlier messages are acknowledged, i.e. at checkpoints): the 1 h outOfOrder makes order moot.
    const lines = [...eventLines(1500, { seed: 11, keys: 30 }), '{"card_id": "c1", "amount":'];
    await topicWithSubscription(client, 'events-a');
    await publish(client, 'events-a', lines, false);
    const out = memorySink();
    const dlq = memorySink();
    const stats = await runTopology(topology, {
      sources: { events: pubsubSource('pubsub://test/events-a-sub?idle=1000') },
      sinks: { out: out.connector, dlq: dlq.connector },
      warn: () => {},
    });
    const expected = await fileRun('a', lines);
    assert.deepEqual([stats.in, stats.deadLettered], [lines.length, 1]);
    const letter = dlq.json()[0]!;
    assert.match(String(letter.reason), /invalid JSON: /);
    assert.equal(letter.payload, '{"card_id": "c1", "amount":');
    assert.ok(expected.length > 50);
    assert.deepEqual(normalize(out.json()), normalize(expected));
    // Acknowledged at the end of the completed run: a second run finds nothing.
    const second = await runTopology(topology, { sources: { events: pubsubSource('pubsub://test/events-a-sub?idle=500') }, sinks: { out: memorySink().connector }, warn: () => {} });
    assert.equal(second.in, 0);
  });

  it('from a time: seeks the subscription (a replay of retained messages) and processes only what was published since; offsets and an end are refused', async () => {
    const early = eventLines(200, { seed: 21, keys: 10 });
    const late = eventLines(300, { seed: 22, keys: 10 });
    await topicWithSubscription(client, 'events-t', { retainAcked: true });
    await publish(client, 'events-t', early, false);
    await new Promise((r) => setTimeout(r, 1100));
    const since = Date.now();
    await new Promise((r) => setTimeout(r, 1100));
    await publish(client, 'events-t', late, false);
    const source = 'pubsub://test/events-t-sub?idle=1000';
    // A first run reads and acknowledges everything; the replay from `since` brings back the late ones.
    assert.equal((await runTopology(topology, { sources: { events: pubsubSource(source) }, sinks: { out: memorySink().connector }, warn: () => {} })).in, early.length + late.length);
    const out = memorySink();
    const replay = await runTopology(topology, { sources: { events: pubsubSource(source) }, sinks: { out: out.connector }, range: { from: { time: since } }, warn: () => {} });
    assert.equal(replay.in, late.length);
    assert.deepEqual(normalize(out.json()), normalize(await fileRun('t', late)));
    for (const range of [{ from: { offset: 3 } }, { to: { time: since } }]) {
      await assert.rejects(runTopology(topology, { sources: { events: pubsubSource(source) }, sinks: { out: memorySink().connector }, range, warn: () => {} }), /replays from a time only/);
    }
  });

  it('the sink publishes results with attribute key = the result key and JSON values (ordering keys with ?ordering=true)', async () => {
    await topicWithSubscription(client, 'results', { ordering: true });
    const events = eventLines(600, { seed: 5, keys: 10 }).map((l) => JSON.parse(l) as Row);
    const expected = memorySink();
    await runTopology(topology, { sources: { events: memorySource([events]) }, sinks: { out: expected.connector }, warn: () => {} });
    const stats = await runTopology(topology, { sources: { events: memorySource([events]) }, sinks: { out: pubsubSink('pubsub://test/results?ordering=true') }, warn: () => {} });
    assert.equal(stats.resultsOut, expected.values.length);
    const got = (await pullMessages(client, 'results-sub', expected.values.length)).map((m) => ({
      key: m.attributes.key,
      value: JSON.parse(m.data.toString('utf8')) as Row,
      orderingKey: m.orderingKey || undefined,
    }));
    assert.ok(got.length > 20);
    for (const g of got) {
      assert.equal(g.key, g.value.key);
      assert.equal(g.orderingKey, g.value.key);
    }
    assert.deepEqual(normalize(got.map((g) => g.value)), normalize(expected.json()));
    // Per key (ordering key), results arrive in the order they were written.
    const order = (rows: Row[]) => rows.filter((r) => r.key === 'c3').map((r) => r.window_start);
    assert.deepEqual(order(got.map((g) => g.value)), order(expected.json()));
  });

  for (const how of ['abort', 'crash'] as const) {
    it(`acknowledges only what a checkpoint covers: ${how === 'abort' ? 'stopped midway by the signal' : 'crashed midway'}, the next run gets the rest redelivered and ends with a clean run's results`, async () => {
      const name = `ckpt-${how}`;
      const lines = eventLines(2000, { seed: 23, keys: 25 });
      await topicWithSubscription(client, name);
      await publish(client, name, lines, false);
      const expected = await fileRun(name, lines);
      const uri = `pubsub://test/${name}-sub?idle=1500`;
      const checkpoint = { dir: join(dir, `${name}-checkpoint`), everyEvents: 300 };
      const controller = new AbortController();
      const first = watched(pubsubSource(uri), { after: 1000, how, controller });
      const out1 = memorySink();
      const options = (source: SourceConnector, out: ReturnType<typeof memorySink>): RunOptions => ({
        sources: { events: source },
        sinks: { out: out.connector },
        checkpoint,
        batchSize: 50,
        signal: controller.signal,
        warn: () => {},
      });
      if (how === 'crash') await assert.rejects(runTopology(topology, options(first.connector, out1)), /simulated crash/);
      else await runTopology(topology, options(first.connector, out1));
      assert.ok(first.seen.records >= 1000 && first.seen.records < lines.length, `run 1 read ${first.seen.records}`);
      assert.ok(first.seen.committed.length >= 2, 'checkpoints committed');
      const covered = first.seen.committed.at(-1)! + 1; // offsets 0.. of run 1 acknowledged
      if (how === 'crash') assert.ok(covered < first.seen.records, 'records read after the last checkpoint were not acknowledged');
      else assert.equal(covered, first.seen.records, 'the stop took a last checkpoint of everything processed');

      const second = watched(pubsubSource(uri));
      const out2 = memorySink();
      const stats = await runTopology(topology, { ...options(second.connector, out2), signal: undefined });
      assert.equal(stats.resumed, true);
      // Nothing lost, nothing twice: run 2 gets exactly what the checkpoint did not cover.
      assert.equal(second.seen.records, lines.length - covered);
      assert.equal(second.seen.offsets[0], covered, 'offsets continue after the checkpoint');
      assert.equal(stats.in, lines.length);
      assert.deepEqual(normalize([...out1.json(), ...out2.json()]), normalize(expected));
    });
  }

  it('an ordered subscription with a backlog over 10k messages: a bounded run without checkpoints reads it all, each ordering key in publish order', async () => {
    // Pub/Sub sends an ordering key's next messages only once earlier ones are acknowledged, and
    // the client holds at most MAX_UNACKED: the reader asks the run for commits as it goes.
    const lines = eventLines(12_000, { seed: 31, keys: 40 }).map((l, i) => JSON.stringify({ ...(JSON.parse(l) as Row), i }));
    await topicWithSubscription(client, 'ordered-big', { ordering: true });
    await publish(client, 'ordered-big', lines, true);
    const expected = await fileRun('ordered-big', lines);
    const read = watched(pubsubSource('pubsub://test/ordered-big-sub?idle=1500'));
    const out = memorySink();
    const stats = await runTopology(topology, { sources: { events: read.connector }, sinks: { out: out.connector }, warn: () => {} });
    assert.equal(stats.in, lines.length);
    assert.ok(read.seen.committed.length >= 2, `committed ${read.seen.committed.length} time(s): during the run, not only at its end`);
    const last = new Map<string, number>();
    for (const v of read.seen.values as { card_id: string; i: number }[]) {
      assert.ok((last.get(v.card_id) ?? -1) < v.i, `key ${v.card_id}: ${v.i} after ${last.get(v.card_id)}`);
      last.set(v.card_id, v.i);
    }
    assert.deepEqual(normalize(out.json()), normalize(expected));
    const second = await runTopology(topology, { sources: { events: pubsubSource('pubsub://test/ordered-big-sub?idle=500') }, sinks: { out: memorySink().connector }, warn: () => {} });
    assert.equal(second.in, 0, 'all acknowledged');
  });

  it('a bounded run over more than 10k messages whose checkpoints are not due takes one when flow control holds the rest back, and reads everything', async () => {
    const lines = eventLines(12_000, { seed: 37, keys: 40 });
    await topicWithSubscription(client, 'unordered-big');
    await publish(client, 'unordered-big', lines, false);
    const expected = await fileRun('unordered-big', lines);
    const out = memorySink();
    const stats = await runTopology(topology, {
      sources: { events: pubsubSource('pubsub://test/unordered-big-sub?idle=1500') },
      sinks: { out: out.connector },
      checkpoint: { dir: join(dir, 'unordered-big-checkpoint'), intervalMs: 3_600_000, everyEvents: 1_000_000 },
      warn: () => {},
    });
    assert.equal(stats.in, lines.length);
    assert.ok(stats.checkpoints >= 1, 'a checkpoint acknowledged the first 10k');
    assert.deepEqual(normalize(out.json()), normalize(expected));
  });

  it('retries a server that is not reachable at start, logging it, and proceeds once it is up', async () => {
    // The "server" is a TCP proxy to the emulator on a port that refuses connections until the test
    // starts listening: the emulator coming up, without racing its startup against topic creation.
    const port = await freePort();
    const lines = eventLines(200, { seed: 3, keys: 5 });
    const logged: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      logged.push(String(chunk));
      return (write as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof process.stderr.write;
    process.env.PUBSUB_EMULATOR_HOST = `127.0.0.1:${port}`;
    let proxy: Server | undefined;
    const sockets = new Set<Socket>();
    try {
      const out = memorySink();
      const started = Date.now();
      const running = runTopology(topology, { sources: { events: pubsubSource('pubsub://test/late-start-sub?idle=1000') }, sinks: { out: out.connector }, warn: () => {} });
      const deadline = Date.now() + 10_000;
      while (!logged.some((l) => /^rtml: pubsub test unreachable \(.+\); retrying in \d+ ms\n$/.test(l)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.ok(logged.some((l) => l.startsWith('rtml: pubsub test unreachable (')), `no retry line in ${JSON.stringify(logged)}`);
      await topicWithSubscription(client, 'late-start');
      await publish(client, 'late-start', lines, false);
      const [host, emuPort] = emulator.host.split(':');
      proxy = createServer((socket) => {
        const upstream = createConnection(Number(emuPort), host);
        sockets.add(socket).add(upstream);
        socket.pipe(upstream).pipe(socket);
        socket.on('error', () => upstream.destroy());
        upstream.on('error', () => socket.destroy());
      });
      await new Promise<void>((resolve) => proxy!.listen(port, '127.0.0.1', resolve));
      const stats = await running;
      assert.equal(stats.in, lines.length);
      assert.deepEqual(normalize(out.json()), normalize(await fileRun('late-start', lines)));
      assert.ok(Date.now() - started < 60_000);
    } finally {
      process.stderr.write = write;
      process.env.PUBSUB_EMULATOR_HOST = emulator.host;
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()));
    }
  });

  it('rejects bad URIs naming the URI and the expected form', () => {
    assert.throws(() => pubsubSource('pubsub://test'), (err: Error & { code?: string }) => err.code === 'RTML_E_URI' && /"pubsub:\/\/test".*pubsub:\/\/<project>\/<subscription>/.test(err.message));
    assert.throws(() => pubsubSink('pubsub://test/results?ordering=yes'), /ordering=yes must be true or false.*pubsub:\/\/<project>\/<topic>/);
    assert.throws(() => pubsubSource('pubsub://test/sub?bogus=1'), /unknown parameter "bogus"/);
  });
});
