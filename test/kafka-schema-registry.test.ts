import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import avro, { type Type } from 'avsc';
import type * as RdKafka from '@confluentinc/kafka-javascript';
import { kafkaSink, kafkaSource } from '../connectors/kafka/index.ts';
import { parseRegistryUrl, REGISTRY_CONTENT_TYPE, SchemaRegistry } from '../connectors/kafka/schemaRegistry.ts';
import { encodeWire, LocalSchemaIds } from '../connectors/kafka/wireFormat.ts';
import { loadSchema } from '../engine/avro.ts';
import { RtmlError } from '../engine/errors.ts';
import { freePort } from './support/features.ts';
import { eventLines } from './support/generate.ts';
import { startMockKafka, type MockKafka } from './support/kafka.ts';

/**
 * The Kafka connector with a Confluent Schema Registry (`--schema-registry`), against librdkafka's
 * mock cluster.
 *
 * Limitation: no real Schema Registry can run here (it is a Java service; no Maven Central, no
 * Docker, no PyPI), so the peer is the small HTTP server below, implementing the REST subset rtml
 * uses as Confluent documents it: ids assigned by the server (a counter from 1001, never rtml's
 * local ids), one id per distinct schema across subjects, BACKWARD compatibility per subject (409),
 * 404 with error_code 40403 for an unknown id, 401 without the configured basic auth, 415 for a
 * wrong content type, 5xx on demand. Debian's python3-confluent-kafka (1.7.0) ships
 * confluent_kafka.schema_registry, but its AvroSerializer needs fastavro (and requests), which no
 * Debian package provides, so there is no Python cross-check.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RTML = join(ROOT, 'bin', 'rtml.mjs');
const SCHEMA = join(ROOT, 'schemas', 'transaction.avsc');
const Rd = createRequire(import.meta.url)('@confluentinc/kafka-javascript') as typeof RdKafka;

// ---------------------------------------------------------------------------------------------
// The test registry.

interface Registered {
  subject: string;
  schema: string;
}

interface RegistryState {
  /** Schema text by global id. */
  schemas: Map<number, string>;
  /** Per subject, the ids of its versions in order. */
  subjects: Map<string, number[]>;
  nextId: number;
}

interface MockRegistry {
  port: number;
  state: RegistryState;
  /** Every request: method, path and the headers rtml must send. */
  requests: { method: string; path: string; contentType?: string; accept?: string; authorization?: string }[];
  /** The next this-many requests answer 500 (error_code 50001). */
  failNext: number;
  registered: Registered[];
  close(): Promise<void>;
}

function newState(): RegistryState {
  return { schemas: new Map(), subjects: new Map(), nextId: 1001 };
}

async function startRegistry(options: { port?: number; auth?: string; state?: RegistryState } = {}): Promise<MockRegistry> {
  const state = options.state ?? newState();
  const registry: MockRegistry = { port: 0, state, requests: [], failNext: 0, registered: [], close: async () => {} };
  const answer = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': REGISTRY_CONTENT_TYPE });
    res.end(JSON.stringify(body));
  };
  const handle = (req: IncomingMessage, res: ServerResponse, text: string) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    registry.requests.push({ method: req.method ?? '', path, contentType: req.headers['content-type'], accept: req.headers.accept, authorization: req.headers.authorization });
    if (registry.failNext > 0) {
      registry.failNext--;
      return answer(res, 500, { error_code: 50001, message: 'Error in the backend data store' });
    }
    if (options.auth !== undefined && req.headers.authorization !== `Basic ${Buffer.from(options.auth).toString('base64')}`) {
      return answer(res, 401, { error_code: 401, message: 'Unauthorized' });
    }
    const byId = /^\/schemas\/ids\/(\d+)$/.exec(path);
    if (req.method === 'GET' && byId) {
      const schema = state.schemas.get(Number(byId[1]));
      return schema === undefined ? answer(res, 404, { error_code: 40403, message: `Schema ${byId[1]} not found` }) : answer(res, 200, { schema });
    }
    const versions = /^\/subjects\/([^/]+)\/versions$/.exec(path);
    if (req.method === 'POST' && versions) {
      if (!/^application\/(vnd\.schemaregistry(\.v1)?\+)?json/.test(req.headers['content-type'] ?? '')) {
        return answer(res, 415, { error_code: 415, message: 'HTTP 415 Unsupported Media Type' });
      }
      const subject = decodeURIComponent(versions[1]!);
      let type: Type;
      let schema: string;
      try {
        const body = JSON.parse(text) as { schema: string; schemaType?: string };
        schema = JSON.stringify(JSON.parse(body.schema));
        type = avro.Type.forSchema(JSON.parse(schema) as avro.Schema);
      } catch (err) {
        return answer(res, 422, { error_code: 42201, message: `Invalid schema: ${String(err)}` });
      }
      const ids = state.subjects.get(subject) ?? [];
      const existing = [...state.schemas].find(([, s]) => s === schema)?.[0];
      if (existing !== undefined && ids.includes(existing)) return answer(res, 200, { id: existing });
      const latest = ids.at(-1);
      if (latest !== undefined) {
        // BACKWARD (the registry's default): the new schema must read data written with the latest.
        try {
          type.createResolver(avro.Type.forSchema(JSON.parse(state.schemas.get(latest)!) as avro.Schema));
        } catch {
          return answer(res, 409, { error_code: 409, message: `Schema being registered is incompatible with an earlier schema for subject "${subject}"` });
        }
      }
      const id = existing ?? state.nextId++;
      state.schemas.set(id, schema);
      state.subjects.set(subject, [...ids, id]);
      registry.registered.push({ subject, schema });
      return answer(res, 200, { id });
    }
    return answer(res, 404, { error_code: 404, message: 'HTTP 404 Not Found' });
  };
  const server: Server = createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (text += d));
    req.on('end', () => handle(req, res, text));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  registry.port = (server.address() as AddressInfo).port;
  registry.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return registry;
}

// ---------------------------------------------------------------------------------------------

const topologySource = (schema?: string) => `
import { aggregate, count, defineTopology, keyBy, sum, tumbling, window } from 'rtml';
export default defineTopology('kcount', ({ source, sink }) =>
  source('events', { ${schema ? `schema: ${JSON.stringify(schema)}, ` : ''}time: 'ts', outOfOrder: '10m' }).pipe(keyBy('card_id'), window(tumbling('10s')), aggregate({ n: count(), total: sum('amount') }), sink('out')));
`;

const RESULT_SCHEMA = {
  type: 'record',
  name: 'KCount',
  namespace: 'rtml.test',
  fields: [
    { name: 'key', type: 'string' },
    { name: 'window_start', type: 'long' },
    { name: 'window_end', type: 'long' },
    { name: 'n', type: 'long' },
    { name: 'total', type: 'double' },
  ],
};

/** v2 of transaction.avsc: an added field with a default, as a compatible evolution adds it. */
function transactionV2(): object {
  const v1 = JSON.parse(readFileSync(SCHEMA, 'utf8')) as { fields: object[] };
  return { ...v1, fields: [...v1.fields, { name: 'channel', type: 'string', default: 'web' }] };
}

const EVENTS = eventLines(3000, { seed: 11, keys: 100 });
/** An id the test registry never assigns. */
const UNKNOWN_ID = 424_242;

let dir: string;
let kafka: MockKafka;
let registry: MockRegistry;
let reference: string[];
let v1: Type;
let v2: Type;
let id1: number;
let id2: number;

function lines(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').sort();
}

function rtml(argv: string[]): { exited: Promise<number | null>; stderr: () => string } {
  const child = spawn(process.execPath, [RTML, ...argv, '--no-progress'], { cwd: ROOT });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.on('data', () => {});
  return { exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))), stderr: () => stderr };
}

function registryUrl(port: number): string {
  return `http://127.0.0.1:${port}`;
}

/** Produces wire-format messages (keyed by card) with an independent producer: KafkaJS-style API of the native client. */
async function produce(topic: string, messages: { key: string; value: Buffer }[]): Promise<void> {
  const { Kafka, logLevel } = Rd.KafkaJS;
  const producer = new Kafka({ kafkaJS: { brokers: kafka.bootstrap.split(','), logLevel: logLevel.ERROR } }).producer();
  await producer.connect();
  try {
    for (let i = 0; i < messages.length; i += 500) await producer.send({ topic, messages: messages.slice(i, i + 500) });
  } finally {
    await producer.disconnect();
  }
}

/** The events with the fields transaction.avsc needs, every other one written with v2 (channel 'app'). */
function wireEvents(): { key: string; value: Buffer }[] {
  return EVENTS.map((l, i) => {
    const e = JSON.parse(l) as { card_id: string; merchant_id: string; amount: number; ts: number };
    const value = { txn_id: `t${i}`, card_id: e.card_id, merchant_id: e.merchant_id, amount: e.amount, ts: e.ts };
    return { key: e.card_id, value: i % 2 === 0 ? encodeWire(v1, id1, value) : encodeWire(v2, id2, { ...value, channel: 'app' }) };
  });
}

/** Messages of a topic as raw bytes, read by kcat: `%S:%s` is each value's length, ':', its bytes. */
function readRaw(topic: string): Buffer[] {
  const out = execFileSync('kcat', ['-C', '-e', '-q', '-b', kafka.bootstrap, '-t', topic, '-f', '%S:%s'], { maxBuffer: 1 << 28 });
  const values: Buffer[] = [];
  for (let at = 0; at < out.length; ) {
    const colon = out.indexOf(0x3a, at);
    const size = Number(out.subarray(at, colon).toString());
    values.push(out.subarray(colon + 1, colon + 1 + size));
    at = colon + 1 + size;
  }
  return values;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rtml-kafka-sr-'));
  kafka = await startMockKafka();
  registry = await startRegistry();
  writeFileSync(join(dir, 'count.ts'), topologySource());
  writeFileSync(join(dir, 'avro.ts'), topologySource(SCHEMA));
  writeFileSync(join(dir, 'events.jsonl'), EVENTS.join('\n') + '\n');
  writeFileSync(join(dir, 'result.avsc'), JSON.stringify(RESULT_SCHEMA));
  v1 = loadSchema(SCHEMA, [ROOT], 'v1');
  v2 = loadSchema(transactionV2(), [ROOT], 'v2');
  // The writers register their schemas with the registry client, as a producer's serializer does.
  const writer = new SchemaRegistry(registryUrl(registry.port));
  id1 = await writer.register('events-sr-value', v1);
  id2 = await writer.register('events-sr-value', v2);
  await kafka.createTopic('events-sr', 3);
  const messages = wireEvents();
  // One record whose id the registry does not know (its body is fine v1 Avro).
  messages.splice(1234, 0, { key: 'c1', value: encodeWire(v1, UNKNOWN_ID, { txn_id: 'x', card_id: 'c1', merchant_id: 'm', amount: 1, ts: 1_700_000_000_000 }) });
  await produce('events-sr', messages);
  const run = rtml(['run', join(dir, 'count.ts'), '--source', `events=file:${join(dir, 'events.jsonl')}`, '--sink', `out=file:${join(dir, 'reference.jsonl')}`]);
  assert.equal(await run.exited, 0, run.stderr());
  reference = lines(join(dir, 'reference.jsonl'));
  assert.ok(reference.length > 500);
});

after(async () => {
  await kafka?.stop();
  await registry?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('kafka connector with a schema registry', () => {
  it('the client: ids assigned by the registry, cached both ways, basic auth, its content type, errors with error_code', async () => {
    const secured = await startRegistry({ auth: 'rtml:p@ss word' });
    try {
      const client = new SchemaRegistry(`http://rtml:p%40ss%20word@127.0.0.1:${secured.port}/`);
      assert.equal(client.url, registryUrl(secured.port), 'no credentials in messages');
      const a = await client.register('orders-value', v1);
      assert.equal(a, 1001, 'the id the registry assigned');
      assert.notEqual(a, LocalSchemaIds.idOf(v1));
      assert.equal(await client.register('orders-value', v1), a);
      assert.equal(secured.requests.length, 1, 'the second registration came from the cache');
      const b = await client.register('orders-value', v2);
      assert.equal(b, 1002);
      assert.deepEqual(secured.state.subjects.get('orders-value'), [a, b]);
      // What was registered keeps the default (compatibility checks need it).
      assert.match(secured.registered[1]!.schema, /"default":"web"/);

      const fresh = new SchemaRegistry(`http://rtml:p%40ss%20word@127.0.0.1:${secured.port}`);
      const [x, y] = await Promise.all([fresh.lookup(b), fresh.lookup(b)]);
      assert.ok(x.type !== undefined && x.type === y.type);
      assert.ok(x.type.fingerprint().equals(v2.fingerprint()));
      assert.equal((await fresh.lookup(b)).type, x.type);
      assert.equal(secured.requests.filter((r) => r.path === `/schemas/ids/${b}`).length, 1, 'one request for concurrent and later lookups');
      for (const r of secured.requests) {
        assert.equal(r.authorization, `Basic ${Buffer.from('rtml:p@ss word').toString('base64')}`);
        assert.equal(r.accept, REGISTRY_CONTENT_TYPE);
        if (r.method === 'POST') assert.equal(r.contentType, REGISTRY_CONTENT_TYPE);
      }

      assert.match((await fresh.lookup(UNKNOWN_ID)).error ?? '', new RegExp(`schema id ${UNKNOWN_ID} is not in schema registry .*error_code 40403: Schema ${UNKNOWN_ID} not found`));

      // Incompatible (a field without a default): the registry's 409 with its error_code and message.
      const v3 = loadSchema({ ...transactionV2(), fields: [...(transactionV2() as { fields: object[] }).fields, { name: 'region', type: 'string' }] }, [ROOT], 'v3');
      await assert.rejects(client.register('orders-value', v3), (err: unknown) =>
        err instanceof RtmlError && err.code === 'RTML_E_SCHEMA' && /subject orders-value failed: HTTP 409, error_code 409: Schema being registered is incompatible/.test(err.message),
      );
      const wrong = new SchemaRegistry(`http://rtml:nope@127.0.0.1:${secured.port}`);
      await assert.rejects(wrong.lookup(a), (err: unknown) => err instanceof RtmlError && /HTTP 401, error_code 401: Unauthorized/.test(err.message) && !err.message.includes('nope'));

      // 5xx is retried (logged), then the answer is used.
      const logged: string[] = [];
      const retrying = new SchemaRegistry(registryUrl(secured.port).replace('//', '//rtml:p%40ss%20word@'), { log: (m) => logged.push(m) });
      secured.failNext = 2;
      assert.equal((await retrying.lookup(a)).type?.fingerprint().equals(v1.fingerprint()), true);
      assert.equal(logged.filter((m) => /unavailable while looking up schema id 1001 \(HTTP 500, error_code 50001: Error in the backend data store\); retrying in/.test(m)).length, 2, logged.join('\n'));
      assert.match(logged.at(-1)!, /answered again after 2 retries/);
    } finally {
      await secured.close();
    }
    for (const bad of ['ftp://h:1', 'not a url', 'http://h:1/?x=1']) {
      assert.throws(() => parseRegistryUrl(bad), (err: unknown) => err instanceof RtmlError && err.code === 'RTML_E_USAGE' && err.message.includes('--schema-registry'));
    }
  });

  it('rtml run --schema-registry: v1 and v2 writers by registry id into the v1 reader equal the file run; an unknown id is a dead letter', async () => {
    assert.notEqual(id1, LocalSchemaIds.idOf(v1));
    const before = registry.requests.length;
    const out = join(dir, 'b-out.jsonl');
    const dlq = join(dir, 'b-dlq.jsonl');
    const run = rtml(['run', join(dir, 'avro.ts'), '--source', `events=kafka://${kafka.bootstrap}/events-sr?group=gb`, '--sink', `out=file:${out}`, '--sink', `dlq=file:${dlq}`, '--schema-registry', registryUrl(registry.port)]);
    assert.equal(await run.exited, 0, run.stderr());
    assert.deepEqual(lines(out), reference);
    const dead = lines(dlq).map((l) => JSON.parse(l) as { reason: string });
    assert.equal(dead.length, 1, JSON.stringify(dead));
    assert.match(dead[0]!.reason, new RegExp(`schema id ${UNKNOWN_ID} is not in schema registry http://127\\.0\\.0\\.1:${registry.port} \\(HTTP 404, error_code 40403: Schema ${UNKNOWN_ID} not found\\)`));
    const lookups = registry.requests.slice(before).map((r) => r.path);
    assert.equal(lookups.filter((p) => p === `/schemas/ids/${id1}`).length, 1, 'each writer schema looked up once');
    assert.equal(lookups.filter((p) => p === `/schemas/ids/${id2}`).length, 1);

    // The same topic without the flag: registry ids are not local ids, so nothing decodes.
    const local = rtml(['replay', join(dir, 'avro.ts'), '--source', `events=kafka://${kafka.bootstrap}/events-sr?group=gb-local`, '--sink', `out=file:${join(dir, 'b-local.jsonl')}`, '--sink', `dlq=file:${join(dir, 'b-local-dlq.jsonl')}`]);
    assert.equal(await local.exited, 0, local.stderr());
    assert.equal(lines(join(dir, 'b-local-dlq.jsonl')).length, EVENTS.length + 1);
  });

  it('schema evolution: v1 records read with a v2 reader get the default, v2 records keep their value', async () => {
    const source = kafkaSource(`kafka://${kafka.bootstrap}/events-sr?group=gc`, { schemaRegistry: new SchemaRegistry(registryUrl(registry.port)) });
    const reader = await source.open({ from: 'earliest', follow: false, readerSchema: v2 });
    const channels = new Map<string, string>();
    const errors: string[] = [];
    try {
      for (const p of reader.partitions) {
        for (let batch = await reader.read(p, 1000); batch !== null; batch = await reader.read(p, 1000)) {
          for (const r of batch) {
            if (r.error !== undefined) errors.push(r.error);
            else channels.set((r.value as { txn_id: string }).txn_id, (r.value as { channel: string }).channel);
          }
        }
      }
    } finally {
      await reader.close();
    }
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /error_code 40403/);
    assert.equal(channels.size, EVENTS.length);
    for (const [txn, channel] of channels) assert.equal(channel, Number(txn.slice(1)) % 2 === 0 ? 'web' : 'app', txn);
  });

  it('a sink with --schema-registry registers <topic>-value and writes its id; the registry resolves every message', async () => {
    const run = rtml(['run', join(dir, 'count.ts'), '--source', `events=file:${join(dir, 'events.jsonl')}`, '--sink', `out=kafka://${kafka.bootstrap}/results-sr?schema=${join(dir, 'result.avsc')}`, '--schema-registry', registryUrl(registry.port)]);
    assert.equal(await run.exited, 0, run.stderr());
    const ids = registry.state.subjects.get('results-sr-value');
    assert.equal(ids?.length, 1, 'registered under the TopicNameStrategy subject');
    const id = ids![0]!;
    assert.notEqual(id, LocalSchemaIds.idOf(loadSchema(RESULT_SCHEMA, [ROOT], 'result')));
    // Decoded independently: the schema as the registry serves it, over plain HTTP.
    const served = (await (await fetch(`${registryUrl(registry.port)}/schemas/ids/${id}`)).json()) as { schema: string };
    const type = avro.Type.forSchema(JSON.parse(served.schema) as avro.Schema);
    const values = readRaw('results-sr');
    assert.equal(values.length, reference.length);
    const decoded = values.map((v) => {
      assert.equal(v[0], 0, 'magic byte');
      assert.equal(v.readUInt32BE(1), id, 'the registry id in the header');
      return JSON.stringify(type.fromBuffer(v.subarray(5)));
    });
    assert.deepEqual(decoded.sort(), reference);
  });

  it('registry down at start: replay logs its retries and goes on once the registry answers', async () => {
    const port = await freePort();
    const out = join(dir, 'e-out.jsonl');
    // replay: the flag reaches kafka bindings on both commands (run is covered above).
    const run = rtml(['replay', join(dir, 'avro.ts'), '--source', `events=kafka://${kafka.bootstrap}/events-sr?group=ge`, '--sink', `out=file:${out}`, '--sink', `dlq=file:${join(dir, 'e-dlq.jsonl')}`, '--schema-registry', registryUrl(port)]);
    let exited = false;
    void run.exited.then(() => (exited = true));
    while (!exited && !run.stderr().includes(`rtml: schema registry ${registryUrl(port)} unavailable while looking up schema id`)) await new Promise((r) => setTimeout(r, 20));
    assert.ok(!exited, `the run ended before the registry came up: ${run.stderr()}`);
    const late = await startRegistry({ port, state: registry.state });
    try {
      assert.equal(await run.exited, 0, run.stderr());
      assert.match(run.stderr(), /ECONNREFUSED.*retrying in/);
      assert.match(run.stderr(), new RegExp(`schema registry ${registryUrl(port)} answered again after \\d+ retr`));
      assert.deepEqual(lines(out), reference);
    } finally {
      await late.close();
    }
  });

  it('a registry that never answers: a sink gives up with RTML_E_BINDING naming it and the cause, after logged retries', async () => {
    const port = await freePort();
    const logged: string[] = [];
    const sink = kafkaSink(`kafka://${kafka.bootstrap}/results-down?schema=${join(dir, 'result.avsc')}`, {
      schemaRegistry: new SchemaRegistry(registryUrl(port), { retryForMs: 1000, log: (m) => logged.push(m) }),
    });
    await assert.rejects(sink.open(), (err: unknown) =>
      err instanceof RtmlError && err.code === 'RTML_E_BINDING' &&
      new RegExp(`schema registry ${registryUrl(port)}: registering a schema under subject results-down-value failed \\d+ time\\(s\\) over 1 s \\(last: .*ECONNREFUSED.*\\); giving up`).test(err.message),
    );
    assert.ok(logged.length >= 1 && logged.every((m) => m.includes('retrying in')), logged.join('\n'));
  });
});
