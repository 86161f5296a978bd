import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EventLog } from '../connectors/log/eventLog.ts';
import { Redis } from 'ioredis';
import pg from 'pg';
import { POSTGRES_URI, REDIS_URI, uniqueView } from './support/features.ts';
import { startRtml, writtenAfter, type CrashableRun } from './support/crashable.ts';
import { eventLines, prng } from './support/generate.ts';

/**
 * Crash recovery for real: `rtml run` over the embedded log as a child process, killed with SIGKILL
 * at random points (and in the middle of checkpoint writes), restarted until it completes; its
 * outputs must equal those of a run that was never interrupted.
 */

const SINKS = ['out', 'sessions', 'paired', 'versions', 'late', 'dlq'];

/** The topology under test; `view` names the feature view it materialises (one per run kind). */
const topologySource = (view: string) => `
import { filter, map } from 'rxjs';
import { aggregate, asOfJoin, avg, count, defineTopology, distinct, featureView, hopping, intervalJoin, keyBy, materialize, session, sum, window } from 'rtml';
const spend = featureView({ name: '${view}', features: ['n', 'total', 'uniq'], ttl: '1d' });
export default defineTopology('crashy', ({ source, sink }) => {
  const keyed = source('events', { time: 'ts', outOfOrder: '5s' }).pipe(keyBy('card_id'));
  // The joins' buffers (both sides, unmatched left rows, table versions, waiting events) are state too.
  const small = keyed.pipe(filter((e) => e.amount < 50));
  return [
    keyed.pipe(intervalJoin(small, { between: ['-1m', '30s'], lateness: '10s', type: 'left', late: 'late' }), map((r) => ({ key: r.key, t: r.left.ts, small: r.right === null ? null : r.right.ts })), sink('paired')),
    keyed.pipe(asOfJoin(small, { retention: '5m', lateness: '10s', type: 'left', late: 'late' }), map((r) => ({ key: r.key, t: r.left.ts, version: r.right === null ? null : r.right.ts })), sink('versions')),
    keyed.pipe(window(hopping('1m', '20s'), { lateness: '30s', late: 'late' }), aggregate({ n: count(), total: sum('amount'), uniq: distinct('merchant_id') }), materialize(spend), sink('out')),
    keyed.pipe(window(session('20s'), { lateness: '10s' }), aggregate({ n: count(), mean: avg('amount') }), sink('sessions')),
  ];
});
`;

let dir: string;
let topic: string;
const views = { clean: uniqueView('clean'), crashed: uniqueView('crashed') };

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'rtml-recovery-'));
  topic = join(dir, 'events');
  for (const [kind, view] of Object.entries(views)) writeFileSync(join(dir, `${kind}.ts`), topologySource(view));
  // JSON payloads, so bad input (a missing time, an unparseable amount) is in the log too.
  const log = EventLog.open(topic, { create: { partitions: 3 } });
  for (const line of eventLines(150_000, { seed: 11, keys: 300, bad: true })) {
    let key: string | null = null;
    try {
      key = String((JSON.parse(line) as { card_id?: string }).card_id ?? null);
    } catch {
      // an unparseable line: round-robin
    }
    log.append(key, 0, 0, Buffer.from(line));
  }
  log.close();
});

after(async () => {
  rmSync(dir, { recursive: true, force: true });
  const redis = new Redis(REDIS_URI);
  const client = new pg.Client({ connectionString: POSTGRES_URI });
  await client.connect();
  for (const view of Object.values(views)) {
    const keys = await redis.keys(`rtml:fv:${view}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await client.query(`DROP TABLE IF EXISTS "fv_${view}"`);
    await client.query('DELETE FROM rtml_feature_views WHERE name = $1', [view]);
  }
  redis.disconnect();
  await client.end();
});

/** Online values (without ttl) and offline rows of a view, for comparing two runs. */
async function storeState(view: string): Promise<{ online: Record<string, Record<string, string>>; offline: unknown[] }> {
  const redis = new Redis(REDIS_URI);
  const online: Record<string, Record<string, string>> = {};
  for (const key of (await redis.keys(`rtml:fv:${view}:*`)).sort()) online[key.slice(`rtml:fv:${view}:`.length)] = await redis.hgetall(key);
  redis.disconnect();
  const client = new pg.Client({ connectionString: POSTGRES_URI });
  await client.connect();
  const { rows } = await client.query(`SELECT * FROM "fv_${view}" ORDER BY entity, event_time`);
  await client.end();
  return { online, offline: rows };
}

function args(outDir: string, checkpoint: boolean): string[] {
  return [
    'run', join(dir, checkpoint ? 'crashed.ts' : 'clean.ts'), '--source', `events=log:${topic}`,
    '--online', REDIS_URI, '--offline', POSTGRES_URI,
    ...SINKS.flatMap((s) => ['--sink', `${s}=file:${join(outDir, `${s}.jsonl`)}`]),
    '--batch-size', '500', '--no-progress',
    ...(checkpoint ? ['--checkpoint-dir', join(outDir, 'checkpoints'), '--checkpoint-every', '2000', '--checkpoint-interval', '200ms'] : []),
  ];
}

function outputs(outDir: string): Record<string, string> {
  return Object.fromEntries(SINKS.map((s) => [s, readFileSync(join(outDir, `${s}.jsonl`), 'utf8')]));
}

describe('crash recovery', () => {
  it('killed with SIGKILL at 12 points (4 of them mid-checkpoint) and restarted, a run ends exactly like an uninterrupted one: files, Redis and Postgres', async () => {
    const clean = join(dir, 'clean');
    const cleanRun = startRtml(args(clean, false), {}, ['--max-semi-space-size=64']);
    assert.equal((await cleanRun.exited).code, 0, cleanRun.stderr());
    const expected = outputs(clean);

    const crashed = join(dir, 'crashed');
    const rand = prng(5);
    const kills: string[] = [];
    let finished: CrashableRun | undefined;
    // Kill the first 12 runs (every third while it is writing a checkpoint), then let one finish.
    while (!finished) {
      const kill = kills.length < 12;
      const midCheckpoint = kill && kills.length % 3 === 0;
      const child = startRtml(args(crashed, true), midCheckpoint ? { RTML_TEST_CHECKPOINT_PAUSE_MS: '2000' } : {}, ['--max-semi-space-size=64']);
      if (kill) {
        // A random kill comes at a random time after the run's first checkpoint, so runs make
        // progress however slow the machine is.
        const reached = midCheckpoint
          ? await child.waitFor('checkpoint write paused half-done')
          : (await writtenAfter(join(crashed, 'checkpoints', 'crashy.checkpoint'), Date.now(), child)) &&
            (await new Promise((r) => setTimeout(() => r(true), Math.floor(rand() * 400))));
        child.kill();
        if (reached) kills.push(midCheckpoint ? 'mid-checkpoint' : 'random');
      }
      const { code, signal } = await child.exited;
      if (code === 0) finished = child;
      else assert.equal(signal, 'SIGKILL', child.stderr());
    }
    assert.ok(kills.length >= 10, `killed ${kills.length} times`);
    assert.ok(kills.filter((k) => k === 'mid-checkpoint').length >= 3, `kills: ${kills.join(', ')}`);
    assert.match(finished.stderr(), /resumed from a checkpoint/);
    assert.match(finished.stderr(), /events in 150,000, processed [\d,]+, late [\d,]+, dead-lettered [\d,]+/);
    const got = outputs(crashed);
    for (const sink of SINKS) assert.equal(got[sink], expected[sink], `${sink} differs from the uninterrupted run`);
    // Redis (latest values per card) and Postgres (every value) end exactly as after the clean run.
    const [cleanStores, crashedStores] = [await storeState(views.clean), await storeState(views.crashed)];
    assert.ok(Object.keys(cleanStores.online).length > 100 && cleanStores.offline.length > 1000);
    assert.deepEqual(crashedStores.online, cleanStores.online);
    assert.deepEqual(crashedStores.offline, cleanStores.offline);
    assert.ok(expected.late!.length > 0 && expected.dlq!.length > 0, 'the input exercises late events and dead letters');
    assert.ok(/"small":null/.test(expected.paired!) && /"small":\d/.test(expected.paired!), 'the interval join has pairs and unmatched rows');
    assert.ok(/"version":null/.test(expected.versions!) && /"version":\d/.test(expected.versions!), 'the as-of join has versions and events without one');
    assert.match(expected.late!, /"side":"right"/);
    // A completed run removes its checkpoint; a write cut off by a crash left no temp file behind.
    assert.deepEqual(existsSync(join(crashed, 'checkpoints')) ? readdirSync(join(crashed, 'checkpoints')) : [], []);
  });
});
