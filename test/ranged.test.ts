import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { Redis } from 'ioredis';
import { EventLog } from '../connectors/log/eventLog.ts';
import { LogReader } from '../connectors/log/logReader.ts';
import { logSource } from '../connectors/log/source.ts';
import { canon, jsonLines, rtml, runSummary } from './support/cli.ts';
import { POSTGRES_URI, REDIS_URI, cleanPostgres, cleanRedis, tempDir, uniqueView } from './support/features.ts';
import { prng } from './support/generate.ts';

/**
 * Ranged runs (rtml replay / backfill with --from/--to) emit only the windows whose events all lie
 * inside the range: a backfill of a range never overwrites correct features with partial ones.
 */

const GAP = 3_000;
const files = tempDir('ranged');
after(() => files.remove());

interface Event {
  card_id: string;
  amount: number;
  ts: number;
}

/** 600 events over 180 s on 6 cards, in time order but for a few late ones (older than 10 s). */
function events(): Event[] {
  const rand = prng(7);
  const out: Event[] = [];
  for (let i = 0; i < 600; i++) {
    const late = i % 97 === 50;
    out.push({ card_id: `c${Math.floor(rand() * 6)}`, amount: Math.floor(rand() * 100), ts: i * 300 - (late ? 12_000 : 0) });
  }
  return out;
}

const tumblingView = uniqueView('ranged_tumbling');
const sessionView = uniqueView('ranged_session');
let topic: string;
let topology: string;

before(() => {
  topic = join(files.dir, 'events');
  const log = EventLog.open(topic, { create: { partitions: 2 } });
  for (const e of events()) log.append(e.card_id, e.ts, 0, Buffer.from(JSON.stringify(e)));
  log.close();
  topology = join(files.dir, 'topo.ts');
  writeFileSync(
    topology,
    `
import { aggregate, count, defineTopology, featureView, keyBy, materialize, session, sum, tumbling, window } from 'rtml';
export const tumblingView = featureView({ name: '${tumblingView}', features: ['n', 'total'] });
export const sessionView = featureView({ name: '${sessionView}', features: ['n', 'total'] });
export default defineTopology('ranged', ({ source, sink }) => {
  const events = source('events', { time: 'ts' }).pipe(keyBy('card_id'));
  return [
    events.pipe(window(tumbling('10s'), { late: 'late' }), aggregate({ n: count(), total: sum('amount') }), materialize(tumblingView), sink('tumble')),
    events.pipe(window(session(${GAP})), aggregate({ n: count(), total: sum('amount') }), materialize(sessionView), sink('sessions')),
  ];
});
`,
  );
});

type Result = { key: string; window_start: number; window_end: number; n: number; total: number };

/** Results per key, in emission order. */
function byKey(results: Result[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const r of results) out.set(r.key, [...(out.get(r.key) ?? []), canon(r)]);
  return out;
}

function sinks(prefix: string): string[] {
  return ['tumble', 'sessions', 'late'].flatMap((name) => ['--sink', `${name}=file:${join(files.dir, `${prefix}-${name}.jsonl`)}`]);
}

const results = (prefix: string, sink: string) => jsonLines(join(files.dir, `${prefix}-${sink}.jsonl`)) as Result[];

async function snapshot(): Promise<{ offline: Record<string, unknown[]>; online: Record<string, Record<string, string>> }> {
  const client = new pg.Client({ connectionString: POSTGRES_URI });
  await client.connect();
  const redis = new Redis(REDIS_URI);
  try {
    const offline: Record<string, unknown[]> = {};
    const online: Record<string, Record<string, string>> = {};
    for (const view of [tumblingView, sessionView]) {
      offline[view] = (await client.query(`SELECT * FROM "fv_${view}" ORDER BY entity, event_time`)).rows;
      for (const key of (await redis.keys(`rtml:fv:${view}:*`)).sort()) online[key] = await redis.hgetall(key);
    }
    return { offline, online };
  } finally {
    await client.end();
    redis.disconnect();
  }
}

const cutCount = (stderr: string): number => Number(/, ([\d,]+) result\(s\) cut by the range edges (not emitted|\(emitted from part)/.exec(stderr)?.[1]?.replaceAll(',', '') ?? 0);

describe('ranged runs never write windows the range cuts over the stores, and can emit only whole ones', () => {
  it('a ranged backfill leaves the correct offline (Postgres) and online (Redis) features unchanged', async (t) => {
    cleanPostgres(t, tumblingView, sessionView);
    cleanRedis(t, tumblingView, sessionView);
    const full = await rtml(['run', topology, '--source', `events=log:${topic}`, ...sinks('full'), '--online', REDIS_URI, '--offline', POSTGRES_URI, '--no-progress']);
    assert.equal(full.code, 0, full.stderr);
    assert.equal(cutCount(full.stderr), 0);
    const before = await snapshot();
    assert.ok(before.offline[tumblingView]!.length > 50 && before.offline[sessionView]!.length > 50, 'the full run materialised both views');
    assert.ok(Object.keys(before.online).length === 12);

    // A range whose edges cut tumbling windows ([40 s, 50 s) and [130 s, 140 s)) and sessions.
    const backfill = await rtml(['backfill', topology, '--source', `events=log:${topic}`, '--online', REDIS_URI, '--offline', POSTGRES_URI, '--from', 't:47500', '--to', new Date(131_700).toISOString(), '--no-progress']);
    assert.equal(backfill.code, 0, backfill.stderr);
    assert.ok(cutCount(backfill.stderr) >= 12, `windows cut at both edges: ${backfill.stderr}`);
    const rows = Number(/features: ([\d,]+) row\(s\) written/.exec(backfill.stderr)?.[1]?.replaceAll(',', ''));
    assert.ok(rows > 50, `the backfill wrote the complete windows again: ${backfill.stderr}`);
    // Its outputs are discarded by design: late events are counted, not reported as an unbound output.
    assert.doesNotMatch(backfill.stderr, /is not bound/);
    assert.ok(runSummary('ranged', backfill.stderr).late > 0, backfill.stderr);
    assert.deepEqual(await snapshot(), before);

    // A ranged replay materialising the same views emits the cut windows (docs/semantics.md: every open
    // window fires at the end of a replay range) but never writes them to the stores either.
    const replay = await rtml(['replay', topology, '--source', `events=log:${topic}`, ...sinks('replayed'), '--online', REDIS_URI, '--offline', POSTGRES_URI, '--from', 't:47500', '--to', new Date(131_700).toISOString(), '--no-progress']);
    assert.equal(replay.code, 0, replay.stderr);
    assert.match(replay.stderr, /result\(s\) cut by the range edges \(emitted from part of their events, not written to the feature stores\)/);
    assert.ok(results('replayed', 'tumble').some((r) => r.window_start === 40_000), 'the cut window [40 s, 50 s) was emitted');
    assert.deepEqual(await snapshot(), before);
  });

  it('a ranged replay with --complete-windows gives exactly the full run\'s results for the windows inside the range, and none of the cut ones', async () => {
    const full = await rtml(['replay', topology, '--source', `events=log:${topic}`, ...sinks('all'), '--offline', 'pglite:' + join(files.dir, 'pglite'), '--no-progress']);
    assert.equal(full.code, 0, full.stderr);
    const from = 47_500;
    const to = 131_700;
    const ranged = await rtml(['replay', topology, '--source', `events=log:${topic}`, ...sinks('range'), '--offline', 'pglite:' + join(files.dir, 'pglite'), '--from', `t:${from}`, '--to', `t:${to}`, '--complete-windows', '--no-progress']);
    assert.equal(ranged.code, 0, ranged.stderr);
    const inside = { tumble: (r: Result) => r.window_start >= from && r.window_end <= to + 1, sessions: (r: Result) => r.window_start >= from + GAP && r.window_end <= to + 1 };
    let cut = 0;
    for (const sink of ['tumble', 'sessions'] as const) {
      const all = results('all', sink);
      const overlapping = all.filter((r) => r.window_end > from && r.window_start <= to);
      const expected = all.filter(inside[sink]);
      cut += overlapping.length - expected.length;
      assert.ok(expected.length > 20 && overlapping.length > expected.length, `${sink}: the range holds windows and cuts some`);
      assert.deepEqual(byKey(results('range', sink)), byKey(expected), `${sink} results`);
    }
    assert.ok(cut > 0 && cutCount(ranged.stderr) > 0, ranged.stderr);

    // By offsets: the edges come from the event times read; whatever it emits is exactly a full-run result.
    const byOffset = await rtml(['replay', topology, '--source', `events=log:${topic}`, ...sinks('offsets'), '--offline', 'pglite:' + join(files.dir, 'pglite'), '--from', '40', '--to', '250', '--complete-windows', '--no-progress']);
    assert.equal(byOffset.code, 0, byOffset.stderr);
    assert.ok(cutCount(byOffset.stderr) > 0, byOffset.stderr);
    for (const sink of ['tumble', 'sessions'] as const) {
      const all = new Set(results('all', sink).map(canon));
      const got = results('offsets', sink);
      assert.ok(got.length > 20, `${sink}: windows inside the offset range are emitted`);
      for (const r of got) assert.ok(all.has(canon(r)), `${sink}: ${canon(r)} is not a result of the full run`);
    }
  });

  it('progress of a range counts up to its end and reaches 100 %', async () => {
    const ends = LogReader.open(topic).info().partitions.map((p) => p.endOffset);
    const readAll = async (range: { from?: { time: number } | { offset: number }; to?: { time: number } | { offset: number } }) => {
      const reader = await logSource(topic).open({ from: 'earliest', follow: false, readerSchema: undefined, range });
      const start = reader.progress()!;
      assert.equal(start.done, 0);
      let read = 0;
      for (const p of reader.partitions) {
        for (let batch = await reader.read(p, 50); batch !== null; batch = await reader.read(p, 50)) read += batch.length;
      }
      const end = reader.progress()!;
      await reader.close();
      assert.equal(end.done, end.total, 'a finished range is at 100 %');
      return { total: start.total, read };
    };
    const whole = await readAll({});
    assert.equal(whole.total, ends[0]! + ends[1]!);
    // Offsets: exactly the records of the range.
    const offsets = await readAll({ from: { offset: 40 }, to: { offset: 250 } });
    const inRange = ends.reduce((sum, end) => sum + Math.max(0, Math.min(end, 251) - 40), 0);
    assert.equal(offsets.total, inRange);
    assert.equal(offsets.read, inRange);
    // Times: up to the first record stamped after --to (records skipped before --from count too).
    const times = await readAll({ from: { time: 47_500 }, to: { time: 131_700 } });
    const stamped = events().filter((e) => e.ts <= 131_700).length;
    assert.ok(times.total < whole.total && Math.abs(times.total - stamped) <= 5, `total ${times.total}, records up to --to ${stamped}`);
    assert.ok(times.read <= times.total);
  });
});
