import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  PutRecordsCommand,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { listShards } from '../../connectors/kinesis/index.ts';
import { freePort } from './features.ts';
import { keyOf } from './generate.ts';

/** The installed kinesis-local package (kinesis-mock compiled to JS): its folder holds main.js and server.json. */
function mockDir(): string {
  const require = createRequire(import.meta.url);
  return path.dirname(require.resolve('kinesis-local/package.json'));
}

export interface KinesisMock {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  stop(): Promise<void>;
}

/**
 * Starts kinesis-mock (`node main.js` from the kinesis-local package, run in its folder so it finds
 * its TLS certificate server.json) on a free plain-HTTP port (`port` to choose it) and a free TLS
 * port, and waits until its /healthcheck answers.
 */
export async function startKinesisMock(options: { port?: number } = {}): Promise<KinesisMock> {
  const plain = options.port ?? (await freePort());
  const tls = await freePort();
  const child: ChildProcess = spawn(process.execPath, ['main.js'], {
    cwd: mockDir(),
    env: {
      ...process.env,
      KINESIS_MOCK_PLAIN_PORT: String(plain),
      KINESIS_MOCK_TLS_PORT: String(tls),
      // Resharding and stream creation complete quickly in tests.
      CREATE_STREAM_DURATION: '100ms',
      DELETE_STREAM_DURATION: '100ms',
      SPLIT_SHARD_DURATION: '100ms',
      MERGE_SHARDS_DURATION: '100ms',
      UPDATE_SHARD_COUNT_DURATION: '100ms',
      SHOULD_PERSIST_DATA: 'false',
      LOAD_DATA_IF_EXISTS: 'false',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  child.stderr!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const endpoint = `http://127.0.0.1:${plain}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`kinesis-mock exited with ${child.exitCode}: ${output}`);
    try {
      const res = await fetch(`${endpoint}/healthcheck`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return { endpoint, stop };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`kinesis-mock did not answer on ${endpoint} within 30 s: ${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

let streams = 0;

export async function waitActive(c: KinesisClient, stream: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      const res = await c.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
      if (res.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    } catch {
      // not created yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`stream ${stream} did not become ACTIVE`);
}

/** A new stream (a name unique to this process) with `shards` shards, once ACTIVE. */
export async function createStream(c: KinesisClient, shards: number): Promise<string> {
  const stream = `s${++streams}-${process.pid}`;
  await c.send(new CreateStreamCommand({ StreamName: stream, ShardCount: shards }));
  await waitActive(c, stream);
  return stream;
}

/** Puts JSON lines with the SDK (keyed by card_id), 500 per call, in order. */
export async function putLines(c: KinesisClient, stream: string, lines: string[]): Promise<void> {
  await putRecords(c, stream, lines.map((line) => ({ key: keyOf(line), data: Buffer.from(line, 'utf8') })));
}

/** Puts records (any bytes, each with its partition key) with the SDK, 500 per call, in order. */
export async function putRecords(c: KinesisClient, stream: string, records: { key: string; data: Uint8Array }[]): Promise<void> {
  for (let i = 0; i < records.length; i += 500) {
    const chunk = records.slice(i, i + 500);
    const res = await c.send(new PutRecordsCommand({ StreamName: stream, Records: chunk.map(({ key, data }) => ({ PartitionKey: key, Data: data })) }));
    assert.equal(res.FailedRecordCount ?? 0, 0);
  }
}

/** Every record of the stream, read with the SDK: shard by shard from TRIM_HORIZON. */
export async function readAll(c: KinesisClient, stream: string): Promise<{ key: string; value: unknown }[]> {
  const out: { key: string; value: unknown }[] = [];
  for (const shard of await listShards(c, stream)) {
    let it = (await c.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: shard.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }))).ShardIterator;
    while (it) {
      const res = await c.send(new GetRecordsCommand({ ShardIterator: it }));
      for (const r of res.Records ?? []) out.push({ key: r.PartitionKey!, value: JSON.parse(Buffer.from(r.Data!).toString('utf8')) });
      if ((res.Records ?? []).length === 0 && res.MillisBehindLatest === 0) break;
      it = res.NextShardIterator;
    }
  }
  return out;
}
