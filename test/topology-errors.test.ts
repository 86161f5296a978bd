import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { map } from 'rxjs';
import { aggregate, count, defineTopology, hopping, keyBy, session, tumbling, window, type Topology } from '../engine/index.ts';
import { runTopology } from '../engine/runtime.ts';
import { memorySink, memorySource } from './support/memory.ts';

function start(topology: Topology, sinks = ['out'], sources = ['events']) {
  return runTopology(topology, {
    sources: Object.fromEntries(sources.map((s) => [s, memorySource([[{ k: 'a', t: 1 }]])])),
    sinks: Object.fromEntries(sinks.map((s) => [s, memorySink().connector])),
  });
}

describe('topology mistakes fail at start with the place and the reason', () => {
  it('bad durations and window sizes name the topology line', () => {
    assert.throws(() => tumbling('5 minutes' as never), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'RTML_E_DURATION');
      assert.match(err.message, /tumbling\(\) size: "5 minutes" is not a duration .* at \/.*test\/topology-errors\.test\.ts:\d+:\d+/);
      return true;
    });
    assert.throws(() => hopping('1m', '2m'), /advance \(120000 ms\) must not exceed its size \(60000 ms\)/);
    assert.throws(() => session(0), /session\(\) gap must be greater than 0/);
    assert.throws(() => tumbling(-5), /is not a duration/);
    assert.throws(() => window(tumbling(1), { emit: 'sometimes' as never }), /emit must be 'final' or 'update'/);
    assert.throws(() => window(tumbling(1), { latenes: 5 } as never), /unknown option 'latenes'/);
    assert.throws(() => window({ kind: 'sliding' } as never), /needs tumbling\(size\), hopping\(size, advance\) or session\(gap\)/);
  });

  it('unbound and unknown sources and sinks list what the topology has', async () => {
    const t = defineTopology('two', ({ source, sink }) => [
      source('events', { time: 't' }).pipe(keyBy('k'), window(tumbling(5), { late: 'late' }), aggregate({ n: count() }), sink('out')),
      source('clicks', { time: 't' }).pipe(sink('raw')),
    ]);
    await assert.rejects(start(t, ['out', 'raw']), /source 'clicks' is not bound: add --source clicks=URI \(topology 'two' has sources: events, clicks; sinks: out, raw; late outputs \(optional\): late; dead letters \(optional\): dlq\)/);
    await assert.rejects(start(t, ['out'], ['events', 'clicks']), /sink 'raw' is not bound: add --sink raw=URI/);
    await assert.rejects(start(t, ['out', 'raw', 'outt'], ['events', 'clicks']), /--sink outt: no such sink/);
    await assert.rejects(start(t, ['out', 'raw'], ['events', 'clicks', 'evnts']), /--source evnts: no such source/);
  });

  it('misplaced operators are named', async () => {
    const noAggregate = defineTopology('w', ({ source, sink }) => source('events', { time: 't' }).pipe(keyBy('k'), window(tumbling(5)), sink('out')));
    await assert.rejects(start(noAggregate), /window\(\) at .*topology-errors\.test\.ts:\d+:\d+ must be followed directly by aggregate/);
    const noWindow = defineTopology('a', ({ source, sink }) => source('events', { time: 't' }).pipe(keyBy('k'), aggregate({ n: count() }) as never, sink('out')));
    await assert.rejects(start(noWindow), /aggregate\(\) at .* must directly follow window/);
    const unkeyed = defineTopology('u', ({ source, sink }) => source('events', { time: 't' }).pipe(map((e) => e), window(tumbling(5)), aggregate({ n: count() }), sink('out')));
    await assert.rejects(start(unkeyed), /needs a keyed stream: put keyBy\(\.\.\.\) before it/);
    const nothing = defineTopology('n', () => undefined as never);
    await assert.rejects(start(nothing, []), /the build function must return the stream/);
    const noTime = defineTopology('nt', ({ source, sink }) => source('events', {} as never).pipe(sink('out')));
    await assert.rejects(start(noTime), /source\('events'\) at .* needs a time/);
    assert.throws(() => defineTopology('bad name', () => []), /must start with a letter/);
  });
});
