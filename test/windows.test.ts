import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { filter, map } from 'rxjs';
import { aggregate, count, defineTopology, hopping, keyBy, session, sum, tumbling, window, type WindowSpec, type WindowOptions } from '../engine/index.ts';
import { runTopology } from '../engine/runtime.ts';
import { memorySink, memorySource } from './support/memory.ts';
import { ev, rows, runOn } from './support/run.ts';

function counting(spec: WindowSpec, options: WindowOptions = {}, outOfOrder = 0) {
  return defineTopology('t', ({ source, sink }) =>
    source('events', { time: 't', outOfOrder }).pipe(
      keyBy('k'),
      window(spec, { late: 'late', ...options }),
      aggregate({ n: count(), s: sum('v') }),
      sink('out'),
    ),
  );
}

describe('tumbling windows', () => {
  it('are half-open [start, end) per key and fire when the watermark reaches the end', async () => {
    const { out, stats } = await runOn(counting(tumbling(10)), [[ev('a', 0), ev('a', 9), ev('b', 5), ev('a', 10), ev('b', 25), ev('a', 30)]]);
    // a@0-10 and b@0-10 fire when t=10 arrives (W=10 >= end); a@10-20 when t=25; the rest at the end.
    assert.deepEqual(rows(out), ['a@0-10:2', 'b@0-10:1', 'a@10-20:1', 'b@20-30:1', 'a@30-40:1']);
    assert.deepEqual([stats.in, stats.processed, stats.late, stats.deadLettered, stats.resultsOut], [6, 6, 0, 0, 5]);
  });

  it('fire in event-time order as the watermark passes, not at the end of input only', async () => {
    const seen: string[] = [];
    const topology = defineTopology('t', ({ source, sink }) =>
      source<{ k: string; t: number }>('events', { time: 't' }).pipe(
        map((e) => (seen.push(`in:${e.t}`), e)),
        keyBy('k'),
        window(tumbling(10)),
        aggregate({ n: count() }),
        map((r) => (seen.push(`out:${r.window_end}`), r)),
        sink('out'),
      ),
    );
    await runOn(topology, [[ev('a', 1), ev('a', 11), ev('a', 21)]], { bindLate: false });
    assert.deepEqual(seen, ['in:1', 'in:11', 'out:10', 'in:21', 'out:20', 'out:30']);
  });

  it('accept out-of-order events within outOfOrder', async () => {
    const { out, late } = await runOn(counting(tumbling(10), {}, 5), [[ev('a', 12), ev('a', 8), ev('a', 14), ev('a', 16), ev('a', 3)]]);
    // W after 16 is 11 >= 10: window 0-10 fires with 8 only; 3 arrives later than that and is late.
    assert.deepEqual(rows(out), ['a@0-10:1', 'a@10-20:3']);
    assert.deepEqual(late.map((e) => e.t), [3]);
  });
});

describe('hopping windows', () => {
  it('put each event in every window start = k*advance with start <= t < start + size', async () => {
    const { out } = await runOn(counting(hopping(30, 10)), [[ev('a', 5), ev('a', 25)]]);
    assert.deepEqual(rows(out).sort(), ['a@-10-20:1', 'a@-20-10:1', 'a@0-30:2', 'a@10-40:1', 'a@20-50:1'].sort());
  });

  it('take an event late for some windows only into those still kept', async () => {
    // size 30, advance 10, lateness 0: after t=45 (W=45), an event at t=22 belongs to 0-30 (freed),
    // 10-40 (freed) and 20-50 (kept): only the last takes it, and it is not late.
    const { out, late, stats } = await runOn(counting(hopping(30, 10)), [[ev('a', 21), ev('a', 45), ev('a', 22)]]);
    const w2050 = out.filter((r) => r.window_start === 20).map((r) => r.n);
    assert.deepEqual(w2050, [3]);
    assert.equal(late.length, 0);
    assert.equal(stats.late, 0);
  });
});

describe('allowed lateness', () => {
  it('re-emits an updated result at once for an allowed-late event, and sends later ones to the late sink', async () => {
    const { out, late, stats } = await runOn(counting(tumbling(10), { lateness: 5 }), [
      [ev('a', 1), ev('a', 12), ev('a', 2, 10), ev('a', 15), ev('a', 3, 100)],
    ]);
    // t=12 fires a@0-10 (n=1); t=2 is within lateness (W=12 < 10+5): re-emitted with n=2 at once.
    // t=15 makes W=15 >= 15: the window is freed; t=3 is late.
    assert.deepEqual(rows(out, 's'), ['a@0-10:1', 'a@0-10:11', 'a@10-20:2']);
    assert.deepEqual(late.map((e) => e.v), [100]);
    assert.deepEqual([stats.processed, stats.late], [4, 1]);
  });

  it('counts and reports late events when no late sink is bound', async () => {
    const { stats, warnings } = await runOn(counting(tumbling(10)), [[ev('a', 20), ev('a', 1), ev('a', 2)]], { bindLate: false });
    assert.deepEqual([stats.in, stats.processed, stats.late, stats.lateDropped], [3, 1, 2, 2]);
    assert.match(warnings.join('\n'), /2 late event\(s\) dropped by t\/tumbling-window-0 \(late output 'late' is not bound/);
  });

  it('creates a window for an allowed-late event whose window never existed, and emits it at once', async () => {
    const { out } = await runOn(counting(tumbling(10), { lateness: 20 }), [[ev('a', 25), ev('b', 3)]]);
    assert.deepEqual(rows(out), ['b@0-10:1', 'a@20-30:1']);
  });
});

describe("emit: 'update'", () => {
  it('emits the current result after every event and once more when the window fires', async () => {
    const { out } = await runOn(counting(tumbling(10), { emit: 'update' }), [[ev('a', 1), ev('a', 2), ev('b', 3), ev('a', 11)]]);
    assert.deepEqual(rows(out), ['a@0-10:1', 'a@0-10:2', 'b@0-10:1', 'a@10-20:1', 'a@0-10:2', 'b@0-10:1', 'a@10-20:1']);
  });
});

describe('session windows', () => {
  it('merge events closer than the gap; touching sessions stay apart', async () => {
    const { out } = await runOn(counting(session(10)), [[ev('a', 0), ev('b', 1), ev('a', 5), ev('a', 15), ev('a', 25)]]);
    // a: [0,10) + [5,15) merge to [0,15); 15 only touches it; 25 touches [15,25). At W=15 both
    // b's [1,11) and a's [0,15) fire, by end.
    assert.deepEqual(rows(out), ['b@1-11:1', 'a@0-15:2', 'a@15-25:1', 'a@25-35:1']);
  });

  it('merges two sessions bridged by a late event and emits the merged session', async () => {
    const { out, late } = await runOn(counting(session(10), { lateness: 100 }), [[ev('a', 0), ev('a', 18), ev('a', 50), ev('a', 9)]]);
    // W=50 fired [0,10) and [18,28). t=9 opens [9,19): intersects both -> merged [0,28) with 3
    // events, W=50 >= 28: emitted at once; the results of the sessions it absorbed stay emitted.
    assert.deepEqual(rows(out), ['a@0-10:1', 'a@18-28:1', 'a@0-28:3', 'a@50-60:1']);
    assert.equal(late.length, 0);
  });

  it('sends an event late for its session to the late sink', async () => {
    const { out, late } = await runOn(counting(session(10), { lateness: 5 }), [[ev('a', 0), ev('a', 40), ev('a', 20)]]);
    // W=40: [20,30) ends at 30, 30 + 5 <= 40: late.
    assert.deepEqual(rows(out), ['a@0-10:1', 'a@40-50:1']);
    assert.deepEqual(late.map((e) => e.t), [20]);
  });

  it('emits updates with the merged bounds', async () => {
    const { out } = await runOn(counting(session(10), { emit: 'update' }), [[ev('a', 0), ev('a', 5)]]);
    assert.deepEqual(rows(out), ['a@0-10:1', 'a@0-15:2', 'a@0-15:2']);
  });
});

describe('watermarks', () => {
  it('still fire windows when a filter drops the events that advanced the watermark', async () => {
    const topology = defineTopology('t', ({ source, sink }) =>
      source<{ k: string; t: number }>('events', { time: 't' }).pipe(
        filter((e) => e.k === 'a'),
        keyBy('k'),
        window(tumbling(10)),
        aggregate({ n: count() }),
        sink('out'),
      ),
    );
    const { out } = await runOn(topology, [[ev('a', 1), ev('b', 50)]], { bindLate: false });
    assert.deepEqual(out.map((r) => r.window_end), [10]);
    // It fired on b's watermark, not at the end of input: a live (follow) input never ends.
    const controller = new AbortController();
    const sink = memorySink();
    const running = runTopology(topology, { sources: { events: memorySource([[ev('a', 1), ev('b', 50)]], { live: true }) }, sinks: { out: sink.connector }, follow: true, signal: controller.signal });
    await waitFor(() => sink.values.length === 1);
    controller.abort();
    await running;
    assert.deepEqual(sink.json().map((r) => r.window_end), [10]);
  });

  it('take the min over partitions: a lagging partition holds windows back', async () => {
    // Live, so partitions are not merged into one time order: partition 0 runs ahead to t=30 while
    // partition 1 stays at t=2. The watermark is the min (2): nothing fires until partition 1 passes 10.
    const partitions: unknown[][] = [[ev('a', 1), ev('a', 30)], [ev('b', 2)]];
    const sink = memorySink();
    const controller = new AbortController();
    const running = runTopology(counting(tumbling(10)), {
      sources: { events: memorySource(partitions, { live: true }) },
      sinks: { out: sink.connector, late: memorySink().connector },
      follow: true,
      signal: controller.signal,
      pollInterval: 5,
    });
    await new Promise((r) => setTimeout(r, 150));
    assert.deepEqual(rows(sink.json()), [], 'partition 1 at t=2 holds back a@0-10 though partition 0 is at t=30');
    partitions[1]!.push(ev('b', 12));
    await waitFor(() => sink.values.length === 2);
    controller.abort();
    const stats = await running;
    assert.deepEqual(rows(sink.json()), ['a@0-10:1', 'b@0-10:1']);
    assert.deepEqual([stats.in, stats.processed, stats.late], [4, 4, 0]);
  });
});

describe('idle partitions', () => {
  it('are left out of the watermark after idleTimeout (processing time, injectable clock)', async () => {
    const topology = (idleTimeout?: number) =>
      defineTopology('idle', ({ source, sink }) =>
        source('events', { time: 't', ...(idleTimeout === undefined ? {} : { idleTimeout }) }).pipe(keyBy('k'), window(tumbling(10)), aggregate({ n: count() }), sink('out')),
      );
    const run = async (idleTimeout?: number) => {
      let now = 0;
      const sink = memorySink();
      const controller = new AbortController();
      // Partition 1 has one early event, then nothing: live, it holds the watermark at 2.
      const running = runTopology(topology(idleTimeout), {
        sources: { events: memorySource([[ev('a', 1), ev('a', 30)], [ev('b', 2)]], { live: true }) },
        sinks: { out: sink.connector },
        follow: true,
        signal: controller.signal,
        clock: () => now,
        pollInterval: 5,
      });
      await new Promise((r) => setTimeout(r, 100));
      const before = sink.json().length;
      now = 60_000;
      await new Promise((r) => setTimeout(r, 100));
      controller.abort();
      await running;
      return { before, after: rows(sink.json()) };
    };
    const idle = await run(1000);
    assert.equal(idle.before, 0, 'nothing fires while partition 1 is within its idle timeout');
    assert.deepEqual(idle.after, ['a@0-10:1', 'b@0-10:1']);
    const never = await run();
    assert.deepEqual(never.after, [], 'without idleTimeout the quiet partition holds the watermark back');
  });

  it('do not move the watermark when every partition went idle before any event', async () => {
    // Both partitions idle past idleTimeout with nothing seen yet: the watermark stays where it was
    // (it must not jump to +inf, which would make every later event late).
    let now = 0;
    const partitions: unknown[][] = [[], []];
    const sink = memorySink();
    const late = memorySink();
    const controller = new AbortController();
    const topology = defineTopology('idle', ({ source, sink }) =>
      source('events', { time: 't', idleTimeout: '1s' }).pipe(keyBy('k'), window(tumbling(10), { late: 'late' }), aggregate({ n: count() }), sink('out')),
    );
    const running = runTopology(topology, {
      sources: { events: memorySource(partitions, { live: true }) },
      sinks: { out: sink.connector, late: late.connector },
      follow: true,
      signal: controller.signal,
      clock: () => now,
      pollInterval: 5,
    });
    await new Promise((r) => setTimeout(r, 50));
    now = 60_000;
    await new Promise((r) => setTimeout(r, 100));
    partitions[0]!.push(ev('a', 1), ev('a', 5), ev('a', 30));
    await waitFor(() => sink.values.length === 1);
    controller.abort();
    const stats = await running;
    // Partition 0 is active again; partition 1 (idle, no events) is left out: W=30 fires a@0-10.
    assert.deepEqual(rows(sink.json()), ['a@0-10:2']);
    assert.deepEqual(late.json(), []);
    assert.deepEqual([stats.in, stats.processed, stats.late], [3, 3, 0]);
  });
});

async function waitFor(condition: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
