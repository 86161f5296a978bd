import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { deserialize } from 'node:v8';
import { Redis } from 'ioredis';
import { EventLog } from '../connectors/log/eventLog.ts';
import { cleanPostgres, cleanRedis, freePort, POSTGRES_URI, REDIS_URI, RedisServer, uniqueView } from './support/features.ts';
import { eventLines } from './support/generate.ts';

/**
 * Redis goes away in the middle of a run: the run backs off and retries with a clear message,
 * and once Redis is back it catches up. The online values end exactly as in a run without outage.
 */

const RTML = fileURLToPath(new URL('../bin/rtml.mjs', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));

const topology = (view: string) => `
import { aggregate, count, defineTopology, featureView, keyBy, materialize, sum, tumbling, window } from 'rtml';
const spend = featureView({ name: '${view}', features: ['n', 'total'] });
export default defineTopology('outage', ({ source, sink }) =>
  source('events', { time: 'ts', outOfOrder: '5s' }).pipe(keyBy('card_id'), window(tumbling('10s')), aggregate({ n: count(), total: sum('amount') }), materialize(spend), sink('out')));
`;

function run(file: string, topic: string, online: string, extra: string[] = []): { exited: Promise<number | null>; stderr: () => string } {
  const child = spawn(process.execPath, [RTML, 'run', file, '--source', `events=log:${topic}`, '--sink', 'out=null:', '--online', online, '--offline', POSTGRES_URI, '--batch-size', '200', ...extra], { cwd: ROOT });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  return { exited: new Promise((resolve) => child.on('exit', resolve)), stderr: () => stderr };
}

async function hashes(uri: string, view: string): Promise<Record<string, Record<string, string>>> {
  const redis = new Redis(uri);
  const out: Record<string, Record<string, string>> = {};
  for (const key of (await redis.keys(`rtml:fv:${view}:*`)).sort()) out[key.slice(`rtml:fv:${view}:`.length)] = await redis.hgetall(key);
  redis.disconnect();
  return out;
}

async function firstWrite(uri: string, view: string): Promise<void> {
  const redis = new Redis(uri);
  try {
    while ((await redis.keys(`rtml:fv:${view}:*`)).length === 0) await new Promise((r) => setTimeout(r, 10));
  } finally {
    redis.disconnect();
  }
}

/**
 * A log of 150k events, the reference run's view materialised to the shared Redis, and a Redis of
 * the test's own (started) for the run that will see the outage, writing to view `outage`.
 */
async function outageSetup(t: TestContext, prefix: string) {
  const dir = mkdtempSync(join(tmpdir(), `rtml-${prefix}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const topic = join(dir, 'events');
  const log = EventLog.open(topic, { create: { partitions: 2 } });
  for (const line of eventLines(150_000, { seed: 4, keys: 500 })) log.append(null, 0, 0, Buffer.from(line));
  log.close();
  const [reference, outage] = [uniqueView(`${prefix}_ref`), uniqueView(prefix)];
  cleanRedis(t, reference);
  cleanPostgres(t, reference, outage);
  writeFileSync(join(dir, 'ref.ts'), topology(reference));
  writeFileSync(join(dir, 'outage.ts'), topology(outage));

  const clean = run(join(dir, 'ref.ts'), topic, REDIS_URI);
  assert.equal(await clean.exited, 0, clean.stderr());

  const server = new RedisServer(await freePort(), mkdtempSync(join(dir, 'redis-')));
  await server.start();
  t.after(() => server.stop());
  return { dir, topic, reference, outage, server };
}

describe('feature store outage', () => {
  it('Redis down mid-run: the run retries, catches up, and loses nothing', async (t) => {
    const { dir, topic, reference, outage, server } = await outageSetup(t, 'outage');
    const faulty = run(join(dir, 'outage.ts'), topic, server.uri);
    // Stop Redis once the run is writing to it, not after a fixed delay: start-up time varies
    // (a cold tsx cache in a fresh clone takes seconds) and the outage must fall inside the run.
    await firstWrite(server.uri, outage);
    await server.stop();
    await new Promise((r) => setTimeout(r, 1500));
    await server.start();
    assert.equal(await faulty.exited, 0, faulty.stderr());
    // The reason depends on when Redis went: ECONNREFUSED, or "connection closed" mid-request.
    assert.match(faulty.stderr(), new RegExp(`feature store ${server.uri.replace(/[/.]/g, '\\$&')} unreachable \\((\\w+|connection closed)\\); retrying in`));
    assert.match(faulty.stderr(), /reachable again after \d+ retr/);
    const expected = await hashes(REDIS_URI, reference);
    assert.ok(Object.keys(expected).length === 500);
    assert.deepEqual(await hashes(server.uri, outage), expected);
  });
});

/** The checkpoint file as it is now: its bytes' identity (mtime, size) and the events it covers. */
function checkpointNow(path: string): { mtimeMs: number; size: number; in: number } | undefined {
  try {
    const { mtimeMs, size } = statSync(path);
    const saved = deserialize(readFileSync(path)) as { counters: { in: number } };
    return { mtimeMs, size, in: saved.counters.in };
  } catch {
    return undefined; // not there (yet), or replaced between stat and read: the caller polls again
  }
}

describe('feature store outage with checkpoints', () => {
  it('while Redis is down no checkpoint is taken past the unwritten rows; after it returns the run completes with the same values', async (t) => {
    const { dir, topic, reference, outage, server } = await outageSetup(t, 'ckoutage');
    const checkpoints = join(dir, 'checkpoints');
    // The topology is named 'outage': its checkpoint is checkpoints/outage.checkpoint.
    const file = join(checkpoints, 'outage.checkpoint');
    const faulty = run(join(dir, 'outage.ts'), topic, server.uri, ['--checkpoint-dir', checkpoints, '--checkpoint-every', '2000', '--checkpoint-interval', '100ms']);
    // Stop Redis once the run writes to it and has checkpointed at least once.
    await firstWrite(server.uri, outage);
    let exited = false;
    void faulty.exited.then(() => (exited = true));
    while (checkpointNow(file) === undefined) {
      assert.ok(!exited, `the run ended before its first checkpoint: ${faulty.stderr()}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    await server.stop();
    // A checkpoint whose rows were all written before Redis went may still be finishing its file.
    await new Promise((r) => setTimeout(r, 300));
    const frozen = checkpointNow(file);
    assert.ok(frozen !== undefined, 'the checkpoint taken before the outage is kept');
    const outageEnds = Date.now() + 2000;
    while (Date.now() < outageEnds) {
      const now = checkpointNow(file);
      if (now !== undefined) assert.deepEqual(now, frozen, 'a checkpoint was taken while Redis was down, past rows it could not write');
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.match(faulty.stderr(), /unreachable \((\w+|connection closed)\); retrying in/);
    await server.start();
    assert.equal(await faulty.exited, 0, faulty.stderr());
    assert.match(faulty.stderr(), /reachable again after \d+ retr/);
    const summary = /checkpoints ([\d,]+) \(last/.exec(faulty.stderr());
    assert.ok(summary && Number(summary[1]!.replace(/,/g, '')) > 1, `checkpoints were taken: ${faulty.stderr()}`);
    assert.ok(!existsSync(file), 'a bounded run that completes removes its checkpoint');
    const expected = await hashes(REDIS_URI, reference);
    assert.equal(Object.keys(expected).length, 500);
    assert.deepEqual(await hashes(server.uri, outage), expected);
  });
});
