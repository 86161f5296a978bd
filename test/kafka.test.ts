import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type * as RdKafka from '@confluentinc/kafka-javascript';
import type { KafkaConsumer } from '@confluentinc/kafka-javascript';
import { kafkaSink, kafkaSource, parseKafkaUri } from '../connectors/kafka/index.ts';
import { encodeWire, LocalSchemaIds, wireSchemaId, wirePayloads } from '../connectors/kafka/wireFormat.ts';
import { payloadOf } from '../connectors/payload.ts';
import { loadSchema } from '../engine/avro.ts';
import { RtmlError } from '../engine/errors.ts';
import { eventLines } from './support/generate.ts';
import { consumeTopic, forwarder, produceKeyed, startMockKafka, type MockKafka } from './support/kafka.ts';
import { freePort } from './support/features.ts';

/**
 * The Kafka connector against librdkafka's mock cluster (the real protocol, the real client), with
 * kcat as an independent producer and consumer, and `rtml run` as a child process.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RTML = join(ROOT, 'bin', 'rtml.mjs');
const SCHEMA = join(ROOT, 'schemas', 'transaction.avsc');
const Rd = createRequire(import.meta.url)('@confluentinc/kafka-javascript') as typeof RdKafka;

const topologySource = (schema?: string) => `
import { aggregate, count, defineTopology, keyBy, sum, tumbling, window } from 'rtml';
export default defineTopology('kcount', ({ source, sink }) =>
  source('events', { ${schema ? `schema: ${JSON.stringify(schema)}, ` : ''}time: 'ts', outOfOrder: '10m' }).pipe(keyBy('card_id'), window(tumbling('10s')), aggregate({ n: count(), total: sum('amount') }), sink('out')));
`;

let dir: string;
let kafka: MockKafka;
let wired = false;
let reference: string[];
const EVENTS = eventLines(20_000, { seed: 7, keys: 200 });

function produce(topic: string, lines: readonly string[]): void {
  produceKeyed(kafka, topic, lines);
}

function lines(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').sort();
}

/**
 * `rtml run` as a child process. Until connectors/uri.ts dispatches kafka://, the same run goes
 * through a small runner binding kafka:// URIs to kafkaSource/kafkaSink and the rest as the CLI does.
 */
function rtml(argv: string[]): { exited: Promise<number | null>; stderr: () => string; kill: () => void } {
  const command = wired ? [RTML, 'run', ...argv, '--no-progress'] : ['--import', join(ROOT, 'bin', 'register.mjs'), join(dir, 'runner.ts'), ...argv];
  const child = spawn(process.execPath, command, { cwd: ROOT });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.on('data', () => {});
  return { exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))), stderr: () => stderr, kill: () => child.kill('SIGKILL') };
}

const RUNNER = `
import { dirname } from 'node:path';
import { loadTopology } from ${JSON.stringify(join(ROOT, 'cli', 'loadTopology.ts'))};
import { runTopology } from ${JSON.stringify(join(ROOT, 'engine', 'runtime.ts'))};
import { sinkFromUri, sourceFromUri } from ${JSON.stringify(join(ROOT, 'connectors', 'uri.ts'))};
import { kafkaSink, kafkaSource } from ${JSON.stringify(join(ROOT, 'connectors', 'kafka', 'index.ts'))};
const [file, ...rest] = process.argv.slice(2);
const sources = {}, sinks = {};
let checkpoint, batchSize, follow = false;
for (let i = 0; i < rest.length; i += 2) {
  const [flag, value] = [rest[i], rest[i + 1]];
  if (flag === '--follow') { follow = true; i--; continue; }
  const eq = value.indexOf('=');
  const [name, uri] = [value.slice(0, eq), value.slice(eq + 1)];
  if (flag === '--source') sources[name] = uri.startsWith('kafka:') ? kafkaSource(uri) : sourceFromUri(uri);
  else if (flag === '--sink') sinks[name] = uri.startsWith('kafka:') ? kafkaSink(uri) : sinkFromUri(uri);
  else if (flag === '--checkpoint-dir') checkpoint = { ...checkpoint, dir: value, intervalMs: 10_000 };
  else if (flag === '--checkpoint-every') checkpoint = { ...checkpoint, everyEvents: Number(value) };
  else if (flag === '--batch-size') batchSize = Number(value);
}
const { topology, path } = await loadTopology(file);
await runTopology(topology, { sources, sinks, from: 'earliest', follow, baseDir: dirname(path), batchSize, checkpoint, warn: (m) => process.stderr.write('rtml: ' + m + '\\n') });
`;

/** A consumer of `group` (connected, never assigned), for reading watermarks and committed offsets. */
async function withConsumer<T>(group: string, fn: (consumer: KafkaConsumer) => Promise<T>): Promise<T> {
  const consumer = new Rd.KafkaConsumer({ 'bootstrap.servers': kafka.bootstrap, 'group.id': group, 'enable.auto.commit': false, log_level: 0 }, {});
  await new Promise<void>((resolve, reject) => consumer.connect({ timeout: 5000 }, (err) => (err ? reject(err) : resolve())));
  try {
    return await fn(consumer);
  } finally {
    await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
  }
}

async function partitionCount(consumer: KafkaConsumer, topic: string): Promise<number> {
  const metadata = await new Promise<{ topics: { name: string; partitions: unknown[] }[] }>((resolve, reject) =>
    consumer.getMetadata({ topic, timeout: 5000 }, (err, data) => (err ? reject(err) : resolve(data))),
  );
  return metadata.topics.find((t) => t.name === topic)?.partitions.length ?? 0;
}

/** The group's committed offset per partition (negative for none), read by an independent consumer. */
function groupOffsets(group: string, topic: string): Promise<number[]> {
  return withConsumer(group, async (consumer) => {
    const n = await partitionCount(consumer, topic);
    const toppars = Array.from({ length: n }, (_, partition) => ({ topic, partition }));
    const offsets = await new Promise<{ partition: number; offset: number }[]>((resolve, reject) =>
      consumer.committed(toppars, 5000, (err, data) => (err ? reject(err) : resolve(data))),
    );
    return offsets.sort((a, b) => a.partition - b.partition).map((o) => (typeof o.offset === 'number' ? o.offset : -1));
  });
}

function highWatermarks(topic: string): Promise<number[]> {
  return withConsumer('rtml-test-watermarks', async (consumer) => {
    const n = await partitionCount(consumer, topic);
    return Promise.all(
      Array.from({ length: n }, (_, p) =>
        new Promise<number>((resolve, reject) => consumer.queryWatermarkOffsets(topic, p, 5000, (err, marks) => (err ? reject(err) : resolve(marks.highOffset)))),
      ),
    );
  });
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rtml-kafka-'));
  kafka = await startMockKafka();
  writeFileSync(join(dir, 'count.ts'), topologySource());
  writeFileSync(join(dir, 'avro.ts'), topologySource(SCHEMA));
  writeFileSync(join(dir, 'pass.ts'), `import { defineTopology } from 'rtml';\nexport default defineTopology('pass', ({ source, sink }) => source('events', { time: 'ts' }).pipe(sink('out')));\n`);
  writeFileSync(join(dir, 'runner.ts'), RUNNER);
  writeFileSync(join(dir, 'events.jsonl'), EVENTS.join('\n') + '\n');
  const { sourceFromUri } = await import('../connectors/uri.ts');
  try {
    sourceFromUri('kafka://127.0.0.1:9/probe');
    wired = true;
  } catch {
    wired = false;
  }
  const run = rtml([join(dir, 'count.ts'), '--source', `events=file:${join(dir, 'events.jsonl')}`, '--sink', `out=file:${join(dir, 'reference.jsonl')}`]);
  assert.equal(await run.exited, 0, run.stderr());
  reference = lines(join(dir, 'reference.jsonl'));
  assert.ok(reference.length > 1000);
});

after(async () => {
  await kafka?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('kafka connector', () => {
  it('parses kafka:// URIs and rejects bad ones naming the expected form', () => {
    assert.deepEqual(parseKafkaUri('kafka://a:9092,b:9093/events?group=g1&schema=s.avsc'), {
      brokers: ['a:9092', 'b:9093'], topic: 'events', group: 'g1', schema: 's.avsc', connectTimeoutMs: 60_000, security: {},
      exactlyOnce: false, isolation: 'read_committed',
    });
    assert.equal(parseKafkaUri('kafka://a:9092/events').group, 'rtml-events');
    const eos = parseKafkaUri('kafka://a:9092/events?exactly-once=true&isolation=read_uncommitted');
    assert.deepEqual([eos.exactlyOnce, eos.isolation], [true, 'read_uncommitted']);
    for (const bad of ['kafka://a/events', 'kafka://a:9092/', 'kafka:a:9092/events', 'kafka://a:9092/ev?grp=x', 'kafka://a:9092/e v', 'kafka://a:9092/ev?exactly-once=yes', 'kafka://a:9092/ev?isolation=dirty']) {
      assert.throws(() => parseKafkaUri(bad), (err: unknown) => err instanceof RtmlError && err.code === 'RTML_E_URI' && err.message.includes(JSON.stringify(bad)) && err.message.includes('kafka://host:port'));
    }
  });

  it('a bounded run over a 3-partition topic equals the same run over a file, and commits the end', async () => {
    await kafka.createTopic('events-a', 3);
    produce('events-a', EVENTS);
    const out = join(dir, 'a-out.jsonl');
    const dlq = join(dir, 'a-dlq.jsonl');
    const run = rtml([join(dir, 'count.ts'), '--source', `events=kafka://${kafka.bootstrap}/events-a?group=ga`, '--sink', `out=file:${out}`, '--sink', `dlq=file:${dlq}`]);
    assert.equal(await run.exited, 0, run.stderr());
    assert.deepEqual(lines(out), reference);
    assert.equal(existsSync(dlq) ? lines(dlq).length : 0, 0);
    const high = await highWatermarks('events-a');
    assert.equal(high.length, 3);
    assert.ok(high.every((h) => h > 0), 'every partition got events');
    assert.deepEqual(await groupOffsets('ga', 'events-a'), high);
  });

  it('--from <time> starts every partition at its first message stamped at or after it, bounded or live (--follow)', async () => {
    await kafka.createTopic('events-t', 3);
    const [early, mid, late] = [EVENTS.slice(0, 100), EVENTS.slice(100, 250), EVENTS.slice(250, 300)];
    produce('events-t', early);
    await new Promise((r) => setTimeout(r, 1100));
    const since = Date.now();
    await new Promise((r) => setTimeout(r, 1100));
    produce('events-t', mid);
    const canon = (ls: readonly string[]) => ls.map((l) => JSON.stringify(JSON.parse(l))).sort();
    const bounded = join(dir, 't-bounded.jsonl');
    const run = rtml([join(dir, 'pass.ts'), '--source', `events=kafka://${kafka.bootstrap}/events-t?group=gt1`, '--sink', `out=file:${bounded}`, '--from', `t:${since}`]);
    assert.equal(await run.exited, 0, run.stderr());
    assert.deepEqual(canon(lines(bounded)), canon(mid), run.stderr());
    const live = join(dir, 't-live.jsonl');
    const follower = rtml([join(dir, 'pass.ts'), '--source', `events=kafka://${kafka.bootstrap}/events-t?group=gt2`, '--sink', `out=file:${live}`, '--from', `t:${since}`, '--follow']);
    const count = () => (existsSync(live) ? lines(live).length : 0);
    for (const [want, next] of [[mid.length, late], [mid.length + late.length, undefined]] as const) {
      const deadline = Date.now() + 30_000;
      while (count() < want && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      if (next) produce('events-t', next);
    }
    follower.kill();
    await follower.exited;
    assert.deepEqual(canon(lines(live)), canon([...mid, ...late]), follower.stderr());
  });

  it('a Kafka sink: keys are the results\' keys and values their JSON (read back with kcat)', async () => {
    const run = rtml([join(dir, 'count.ts'), '--source', `events=file:${join(dir, 'events.jsonl')}`, '--sink', `out=kafka://${kafka.bootstrap}/results-b`]);
    assert.equal(await run.exited, 0, run.stderr());
    const messages = consumeTopic(kafka, 'results-b');
    assert.equal(messages.length, reference.length);
    for (const [key, value] of messages) assert.equal(key, (JSON.parse(value) as { key: string }).key);
    assert.deepEqual(messages.map(([, value]) => value).sort(), reference);
  });

  it('offsets are committed only with checkpoints: kill -9 mid-run, resume, same results, group at the end', async () => {
    // Not a multiple of --checkpoint-every: the last count-triggered checkpoint falls before the end.
    const many = eventLines(122_500, { seed: 9, keys: 300 });
    writeFileSync(join(dir, 'c-events.jsonl'), many.join('\n') + '\n');
    await kafka.createTopic('events-c', 3);
    produce('events-c', many);
    const args = (out: string, checkpoints: boolean, follow = false) => [
      join(dir, 'count.ts'), '--source', `events=kafka://${kafka.bootstrap}/events-c?group=gc${checkpoints ? '' : '-clean'}`, '--sink', `out=file:${out}`,
      '--batch-size', '500', ...(checkpoints ? ['--checkpoint-dir', join(dir, 'c-checkpoints'), '--checkpoint-every', '5000'] : []),
      ...(follow ? ['--follow'] : []),
    ];
    const clean = rtml(args(join(dir, 'c-clean.jsonl'), false));
    assert.equal(await clean.exited, 0, clean.stderr());
    const high = await highWatermarks('events-c');
    assert.equal(high.reduce((a, b) => a + b, 0), many.length);

    const out = join(dir, 'c-crashed.jsonl');
    // The first run follows the topic (so it cannot end before the kill), killed once a checkpoint
    // has committed offsets; the second is bounded and resumes from the checkpoint.
    const first = rtml(args(out, true, true));
    let exited = false;
    void first.exited.then(() => (exited = true));
    let committed: number[] = [];
    const checkpointFile = join(dir, 'c-checkpoints', 'kcount.checkpoint');
    while (!exited) {
      if (existsSync(checkpointFile)) {
        committed = await groupOffsets('gc', 'events-c');
        if (committed.some((o) => o > 0)) break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    const endedEarly = exited;
    first.kill();
    await first.exited;
    assert.ok(!endedEarly, `the run ended before it could be killed: ${first.stderr()}`);
    committed = await groupOffsets('gc', 'events-c');
    const sum = committed.reduce((a, b) => a + Math.max(0, b), 0);
    assert.ok(sum > 0 && sum < many.length, `after the kill, the group has committed a checkpoint's offsets, not the end (${committed} of ${high})`);

    const second = rtml(args(out, true));
    assert.equal(await second.exited, 0, second.stderr());
    assert.deepEqual([...new Set(lines(out))].sort(), [...new Set(lines(join(dir, 'c-clean.jsonl')))].sort());
    assert.deepEqual(await groupOffsets('gc', 'events-c'), high);
  });

  it('Avro in the Confluent wire format: round trip, and a wrong magic byte goes to the dlq with its reason', async () => {
    const type = loadSchema(SCHEMA, [ROOT], 'test');
    const ids = new LocalSchemaIds();
    const id = ids.add(type);
    assert.equal(id, LocalSchemaIds.idOf(loadSchema(SCHEMA, [ROOT], 'again')), 'the same schema gets the same id');
    assert.ok(id >= 0 && id < 2 ** 31);
    const value = { txn_id: 't1', card_id: 'c1', merchant_id: 'm1', amount: 12.5, ts: 1_700_000_000_000 };
    const wire = encodeWire(type, id, value);
    assert.equal(wire[0], 0);
    assert.equal(wire.readUInt32BE(1), id);
    assert.equal(wireSchemaId(wire), id);
    const decodeWire = (buf: Buffer, schemas: LocalSchemaIds, reader: typeof type) => wirePayloads(schemas, reader).decode(payloadOf(buf, 0, Number.NaN));
    assert.deepEqual({ ...(decodeWire(wire, ids, type).value as object) }, value);
    assert.match(decodeWire(Buffer.concat([Buffer.from([1]), wire.subarray(1)]), ids, type).error!, /magic byte 1/);
    assert.match(decodeWire(wire.subarray(0, 8), ids, type).error!, /invalid Avro payload/);
    const other = Buffer.from(wire);
    other.writeUInt32BE((id + 1) % 2 ** 31, 1);
    assert.match(decodeWire(other, ids, type).error!, /unknown schema id/);

    // Good records through the Kafka sink with ?schema=, one bad record by kcat, read by a topology.
    await kafka.createTopic('events-d', 2);
    const good = EVENTS.slice(0, 2000).map((l, i) => ({ txn_id: `t${i}`, merchant_id: 'm', ...(JSON.parse(l) as { card_id: string; amount: number; ts: number }) }));
    const sink = await kafkaSink(`kafka://${kafka.bootstrap}/events-d?schema=${SCHEMA}`).open();
    for (const v of good) sink.write({ txn_id: v.txn_id, card_id: v.card_id, merchant_id: v.merchant_id, amount: v.amount, ts: v.ts }, v.card_id, v.ts);
    assert.ok(sink.pending > 0);
    await sink.close();
    execFileSync('kcat', ['-P', '-b', kafka.bootstrap, '-t', 'events-d', '-K:'], { input: 'c1:Xnot avro\n' });
    const out = join(dir, 'd-out.jsonl');
    const dlq = join(dir, 'd-dlq.jsonl');
    const run = rtml([join(dir, 'avro.ts'), '--source', `events=kafka://${kafka.bootstrap}/events-d`, '--sink', `out=file:${out}`, '--sink', `dlq=file:${dlq}`]);
    assert.equal(await run.exited, 0, run.stderr());
    const dead = lines(dlq).map((l) => JSON.parse(l) as { reason: string });
    assert.equal(dead.length, 1, JSON.stringify(dead));
    assert.match(dead[0]!.reason, /magic byte 88 \(expected 0\)/);
    const results = lines(out).map((l) => JSON.parse(l) as { n: number });
    assert.equal(results.reduce((s, r) => s + r.n, 0), good.length);
  });

  it('broker down at start: the source logs the retry and runs once the broker appears', async () => {
    await kafka.createTopic('events-e', 2);
    produce('events-e', EVENTS.slice(0, 500));
    const port = await freePort();
    const logged: string[] = [];
    const source = kafkaSource(`kafka://127.0.0.1:${port}/events-e?group=ge`, { log: (m) => logged.push(m) });
    let proxy: { close(): Promise<void> } | undefined;
    const appear = new Promise<void>((resolve) =>
      setTimeout(async () => {
        proxy = await forwarder(port, kafka.bootstrap.split(',')[0]!);
        resolve();
      }, 3000),
    );
    try {
      const reader = await source.open({ from: 'earliest', follow: false, readerSchema: undefined });
      await appear;
      let n = 0;
      for (const p of reader.partitions) {
        for (let batch = await reader.read(p, 100); batch !== null; batch = await reader.read(p, 100)) n += batch.length;
      }
      await reader.close();
      assert.equal(n, 500);
      assert.match(logged.join('\n'), new RegExp(`rtml: kafka 127\\.0\\.0\\.1:${port} unreachable \\(.+\\); retrying in`));
      assert.match(logged.join('\n'), /reachable again after \d+ retr/);
    } finally {
      await appear;
      await proxy?.close();
    }
  });

  it('gives up with RTML_E_BINDING after connect-timeout when the cluster never appears', async () => {
    const port = await freePort();
    const logged: string[] = [];
    const started = Date.now();
    await assert.rejects(
      kafkaSource(`kafka://127.0.0.1:${port}/x?connect-timeout=1s`, { log: (m) => logged.push(m) }).open({ from: 'earliest', follow: false, readerSchema: undefined }),
      (err: unknown) => err instanceof RtmlError && err.code === 'RTML_E_BINDING' && /unreachable for 1 s/.test(err.message),
    );
    assert.ok(Date.now() - started < 10_000);
  });
});
