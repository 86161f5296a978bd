import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { aggregate, count, defineTopology, distinct, hopping, keyBy, session, sum, tumbling, window } from '../engine/index.ts';
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

  it('expired window state is not checkpointed: over a long stream with a bounded number of open windows, checkpoints stay the same size', async () => {
    // 100 cards, one event each per second of event time (10 ms apart overall): at any time each
    // card has one tumbling window (plus one kept for lateness), four hopping windows and one
    // session open, whatever the length of the stream.
    const windowed = defineTopology('ckpt-flat', ({ source, sink }) => {
      const keyed = source('events', { time: 't' }).pipe(keyBy('k'));
      return [
        keyed.pipe(window(tumbling('1s'), { lateness: '500ms' }), aggregate({ n: count(), s: sum('v'), d: distinct('v') }), sink('out')),
        keyed.pipe(window(hopping('2s', '500ms')), aggregate({ n: count(), d: distinct('v') }), sink('out')),
        keyed.pipe(window(session('300ms')), aggregate({ n: count() }), sink('out')),
      ];
    });
    const events = (n: number) => Array.from({ length: n }, (_, i) => ev(`k${i % 100}`, i * 10, i % 7));
    /** Size of the last checkpoint of a bounded run over `n` events, checkpointing every 10k (taken after exactly 10k, 20k, … events). */
    async function lastCheckpoint(n: number): Promise<{ bytes: number; checkpoints: number; results: number }> {
      const dir = mkdtempSync(join(tmpdir(), 'rtml-ckpt-flat-'));
      const out = memorySink();
      const stats = await runTopology(windowed, {
        sources: { events: memorySource([events(n)]) },
        sinks: { out: out.connector },
        batchSize: 1000,
        checkpoint: { dir, everyEvents: 10_000, intervalMs: 3_600_000 },
      });
      assert.equal(stats.in, n);
      return { bytes: stats.checkpointBytes, checkpoints: stats.checkpoints, results: out.values.length };
    }
    const short = await lastCheckpoint(10_000);
    const long = await lastCheckpoint(100_000);
    assert.equal(short.checkpoints, 1);
    assert.equal(long.checkpoints, 10);
    assert.ok(long.results > 9 * short.results, 'the long run fired windows all along');
    assert.ok(short.bytes > 0);
    // Ten times the input, the same open windows: the checkpoint must not grow with the stream.
    assert.ok(long.bytes < short.bytes * 1.5, `checkpoint after 10k events ${short.bytes} bytes, after 100k ${long.bytes} bytes`);
  });
});
