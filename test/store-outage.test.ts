import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
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

function run(file: string, topic: string, online: string): { exited: Promise<number | null>; stderr: () => string } {
  const child = spawn(process.execPath, [RTML, 'run', file, '--source', `events=log:${topic}`, '--sink', 'out=null:', '--online', online, '--offline', POSTGRES_URI, '--batch-size', '200'], { cwd: ROOT });
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

describe('feature store outage', () => {
  it('Redis down mid-run: the run retries, catches up, and loses nothing', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'rtml-outage-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const topic = join(dir, 'events');
    const log = EventLog.open(topic, { create: { partitions: 2 } });
    for (const line of eventLines(150_000, { seed: 4, keys: 500 })) log.append(null, 0, 0, Buffer.from(line));
    log.close();
    const [reference, outage] = [uniqueView('ref'), uniqueView('outage')];
    cleanRedis(t, reference);
    cleanPostgres(t, reference, outage);
    writeFileSync(join(dir, 'ref.ts'), topology(reference));
    writeFileSync(join(dir, 'outage.ts'), topology(outage));

    const clean = run(join(dir, 'ref.ts'), topic, REDIS_URI);
    assert.equal(await clean.exited, 0, clean.stderr());

    const server = new RedisServer(await freePort(), mkdtempSync(join(dir, 'redis-')));
    await server.start();
    t.after(() => server.stop());
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
