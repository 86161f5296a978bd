import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { aggregate, count, defineTopology, keyBy, session, sum, tumbling, window } from '../engine/index.ts';
import { runTopology, type RunOptions } from '../engine/runtime.ts';
import { memorySink, memorySource } from './support/memory.ts';
import { ev, rows } from './support/run.ts';

const topology = defineTopology('ckpt', ({ source, sink }) => {
  const keyed = source('events', { time: 't' }).pipe(keyBy('k'));
  return [
    keyed.pipe(window(tumbling(10), { lateness: 5 }), aggregate({ n: count(), s: sum('v') }), sink('out')),
    keyed.pipe(window(session(4)), aggregate({ n: count() }), sink('sessions')),
  ];
});

const first = [ev('a', 1), ev('b', 2), ev('a', 12), ev('a', 3), ev('b', 14), ev('a', 15)];
const second = [ev('a', 16), ev('b', 25), ev('a', 9), ev('c', 40)];

async function live(partition: unknown[], dir: string, out = memorySink(), sessions = memorySink()) {
  const controller = new AbortController();
  const options: RunOptions = {
    sources: { events: memorySource([partition], { live: true }) },
    sinks: { out: out.connector, sessions: sessions.connector },
    follow: true,
    signal: controller.signal,
    pollInterval: 5,
    checkpoint: { dir, intervalMs: 60_000 },
  };
  const running = runTopology(topology, options);
  await new Promise((r) => setTimeout(r, 100));
  controller.abort();
  return { stats: await running, out, sessions };
}

describe('checkpoints', () => {
  it('a live run stopped and resumed gives the same results as one run over all the input', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rtml-ckpt-'));
    const out = memorySink();
    const sessions = memorySink();
    const stopped = await live(first, dir, out, sessions);
    assert.equal(stopped.stats.checkpoints, 1, 'a live run takes a last checkpoint when stopped');
    // The same source, now with more input: the resumed run skips what was processed.
    const resumed = await live([...first, ...second], dir, out, sessions);
    assert.equal(resumed.stats.resumed, true);
    assert.equal(resumed.stats.in, first.length + second.length, 'counters continue from the checkpoint');

    const whole = memorySink();
    const wholeSessions = memorySink();
    await live([...first, ...second], mkdtempSync(join(tmpdir(), 'rtml-ckpt-')), whole, wholeSessions);
    assert.deepEqual(rows(out.json()), rows(whole.json()));
    assert.deepEqual(rows(sessions.json()), rows(wholeSessions.json()));
    assert.ok(out.json().length > 0 && sessions.json().length > 0);
  });

  it('refuses a checkpoint taken with other bindings or another topology', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rtml-ckpt-'));
    await live(first, dir);
    const other = { ...memorySource([first], { live: true }), uri: 'memory:other' };
    await assert.rejects(
      runTopology(topology, { sources: { events: other }, sinks: { out: memorySink().connector, sessions: memorySink().connector }, checkpoint: { dir } }),
      /was taken with source events = memory:, this run has memory:other/,
    );
    const changed = defineTopology('ckpt', ({ source, sink }) => {
      const keyed = source('events', { time: 't' }).pipe(keyBy('k'));
      return [
        keyed.pipe(window(tumbling(20), { lateness: 5 }), aggregate({ n: count(), s: sum('v') }), sink('out')),
        keyed.pipe(window(session(4)), aggregate({ n: count() }), sink('sessions')),
      ];
    });
    await assert.rejects(
      runTopology(changed, { sources: { events: memorySource([first]) }, sinks: { out: memorySink().connector, sessions: memorySink().connector }, checkpoint: { dir } }),
      /operator ckpt\/tumbling-window-0 was .*"size":10.* and is now .*"size":20.*; the topology changed, so delete the checkpoint/,
    );
  });

  it('a bounded run that completes removes its checkpoint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rtml-ckpt-'));
    const stats = await runTopology(topology, {
      sources: { events: memorySource([[...first, ...second]]) },
      sinks: { out: memorySink().connector, sessions: memorySink().connector },
      batchSize: 2,
      checkpoint: { dir, everyEvents: 2 },
    });
    assert.ok(stats.checkpoints >= 3);
    assert.ok(stats.checkpointBytes > 0);
    assert.deepEqual(readdirSync(dir), []);
  });
});
