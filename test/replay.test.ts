import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { EventLog } from '../connectors/log/eventLog.ts';
import { prng } from './support/generate.ts';

const RTML = fileURLToPath(new URL('../bin/rtml.mjs', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));

const topologySource = `
import { aggregate, count, defineTopology, keyBy, sum, tumbling, window } from 'rtml';
export default defineTopology('replayed', ({ source, sink }) =>
  source('events', { time: 'ts', outOfOrder: '2s' }).pipe(
    keyBy('card_id'),
    window(tumbling('10s'), { lateness: '5s', late: 'late' }),
    aggregate({ n: count(), total: sum('amount') }),
    sink('out'),
  ));
`;

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'rtml-replay-'));
  writeFileSync(join(dir, 'topo.ts'), topologySource);
});
after(() => rmSync(dir, { recursive: true, force: true }));

function events(n: number, start: number, seed: number): { card_id: string; amount: number; ts: number }[] {
  const rand = prng(seed);
  return Array.from({ length: n }, (_, i) => ({ card_id: `c${Math.floor(rand() * 20)}`, amount: Math.floor(rand() * 100), ts: start + i * 100 - Math.floor(rand() * 3000) }));
}

function append(topic: string, batch: { card_id: string; amount: number; ts: number }[]): void {
  const log = EventLog.open(topic, { create: { partitions: 2 } });
  for (const e of batch) log.append(e.card_id, e.ts, 0, Buffer.from(JSON.stringify(e)));
  log.close();
}

function rtml(args: string[]) {
  const r = spawnSync(process.execPath, [RTML, ...args], { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status, stderr: r.stderr };
}

function byKey(file: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of readFileSync(file, 'utf8').trim().split('\n')) {
    const key = (JSON.parse(line) as { key: string }).key;
    out.set(key, [...(out.get(key) ?? []), line]);
  }
  return out;
}

describe('replay', () => {
  it('re-runs a range of the log given by offsets or by event times', () => {
    const topic = join(dir, 'ranged');
    const log = EventLog.open(topic, { create: { partitions: 2 } });
    for (let i = 0; i < 100; i++) log.append(null, 1_000 * i, 0, Buffer.from(JSON.stringify({ card_id: 'c', amount: 1, ts: 1_000 * i })), i % 2);
    log.close();
    const out = join(dir, 'ranged.jsonl');
    const windows = () => readFileSync(out, 'utf8').trim().split('\n').map((l) => [JSON.parse(l).window_start, JSON.parse(l).n]);
    const byOffset = rtml(['replay', join(dir, 'topo.ts'), '--source', `events=log:${topic}`, '--sink', `out=file:${out}`, '--from', '10', '--to', '39']);
    assert.equal(byOffset.code, 0, byOffset.stderr);
    assert.match(byOffset.stderr, /events in 60, processed 60/);
    // Partition 0 holds even seconds, partition 1 odd ones: offsets 10..39 are seconds 20..79. At the
    // end of the range every window fires (docs/semantics.md); the two that records outside the range
    // could reach are counted as cut.
    assert.deepEqual(windows(), [[20_000, 10], [30_000, 10], [40_000, 10], [50_000, 10], [60_000, 10], [70_000, 10]]);
    assert.match(byOffset.stderr, /, 2 result\(s\) cut by the range edges \(emitted from part of their events, not written to the feature stores\)/);
    const complete = rtml(['replay', join(dir, 'topo.ts'), '--source', `events=log:${topic}`, '--sink', `out=file:${out}`, '--from', '10', '--to', '39', '--complete-windows']);
    assert.equal(complete.code, 0, complete.stderr);
    // --complete-windows: only the windows no record outside the range can reach: records before it may
    // be stamped up to outOfOrder (2 s) after each partition's first (21 s), records after it up to
    // outOfOrder before each partition's last (78 s), and a window takes late events for 5 s.
    assert.deepEqual(windows(), [[30_000, 10], [40_000, 10], [50_000, 10], [60_000, 10]]);
    assert.match(complete.stderr, /, 2 result\(s\) cut by the range edges not emitted/);
    const byTime = rtml(['replay', join(dir, 'topo.ts'), '--source', `events=log:${topic}`, '--sink', `out=file:${out}`, '--from', 't:50000', '--to', new Date(64_000).toISOString()]);
    assert.equal(byTime.code, 0, byTime.stderr);
    assert.match(byTime.stderr, /events in 15, processed 15/);
    const bad = rtml(['replay', join(dir, 'topo.ts'), '--source', `events=log:${topic}`, '--sink', `out=file:${out}`, '--from', 'yesterday']);
    assert.match(bad.stderr, /--from yesterday: use an offset \(a whole number\), an ISO date-time or t:<epoch ms>/);
  });

  it('gives the same results per key as the live run that processed the appends as they came', async (t) => {
    const topic = join(dir, 'live');
    append(topic, events(200, 0, 1));
    const live = followLive(t, topic, 'live');
    for (let chunk = 1; chunk <= 5; chunk++) {
      await new Promise((r) => setTimeout(r, 300));
      append(topic, events(200, chunk * 20_000, chunk + 1));
    }
    appendEnd(topic);
    await live.stopOnceCaughtUp();
    assertSameAsReplay(topic, 'live');
  });

  it('gives the same results per key as a live run catching up on a backlog, whatever its batch size', async (t) => {
    const topic = join(dir, 'backlog');
    for (let chunk = 0; chunk <= 5; chunk++) append(topic, events(200, chunk * 20_000, chunk + 1));
    appendEnd(topic);
    // Small batches: the partitions' buffers run dry at different points of the backlog.
    for (const batchSize of ['7', '64']) {
      await followLive(t, topic, `backlog-${batchSize}`, ['--batch-size', batchSize]).stopOnceCaughtUp();
      assertSameAsReplay(topic, `backlog-${batchSize}`);
    }
  });
});

/** A far-future event in each partition: a live run then fires every window of the data before it. */
function appendEnd(topic: string): void {
  const log = EventLog.open(topic);
  for (const p of [0, 1]) log.append('zz-end', 10_000_000, 0, Buffer.from(JSON.stringify({ card_id: 'zz-end', amount: 0, ts: 10_000_000 })), p);
  log.close();
}

/** `rtml run --follow` over `topic` into `<name>-out.jsonl` / `<name>-late.jsonl`; stopped (SIGTERM) once it fired the last window. */
function followLive(t: TestContext, topic: string, name: string, extra: string[] = []) {
  const out = join(dir, `${name}-out.jsonl`);
  const child = spawn(process.execPath, [RTML, 'run', join(dir, 'topo.ts'), '--source', `events=log:${topic}`, '--sink', `out=file:${out}`, '--sink', `late=file:${join(dir, `${name}-late.jsonl`)}`, '--follow', ...extra], { cwd: ROOT });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  t.after(() => child.kill('SIGKILL'));
  return {
    async stopOnceCaughtUp(): Promise<void> {
      // Generous: a loaded CI machine runs other test files beside this one.
      const until = Date.now() + 30_000;
      while (!(existsSync(out) && readFileSync(out, 'utf8').includes('"window_end":120000'))) {
        if (Date.now() > until) throw new Error(`live run did not catch up: ${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      await new Promise((r) => setTimeout(r, 300));
      child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr);
    },
  };
}

/** The results of the live run written to `<name>-out.jsonl` / `<name>-late.jsonl` equal a replay of `topic`, per key. */
function assertSameAsReplay(topic: string, name: string): void {
  const replayOut = join(dir, `${name}-replay-out.jsonl`);
  const replayLate = join(dir, `${name}-replay-late.jsonl`);
  const replay = rtml(['replay', join(dir, 'topo.ts'), '--source', `events=log:${topic}`, '--sink', `out=file:${replayOut}`, '--sink', `late=file:${replayLate}`]);
  assert.equal(replay.code, 0, replay.stderr);
  const live = byKey(join(dir, `${name}-out.jsonl`));
  const replayed = byKey(replayOut);
  replayed.delete('zz-end'); // fired only by the end of the replay's input
  assert.deepEqual([...live.keys()].sort(), [...replayed.keys()].sort());
  for (const [key, lines] of live) assert.deepEqual(lines, replayed.get(key), `results of ${key} differ`);
  assert.equal(readFileSync(join(dir, `${name}-late.jsonl`), 'utf8'), readFileSync(replayLate, 'utf8'));
}
