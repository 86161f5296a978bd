import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { filter, map, pipe, type Observable } from 'rxjs';
import { aggregate, count, defineTopology, featureView, hopping, keyBy, materialize, session, sum, tumbling, window, type Topology } from '../engine/index.ts';
import { runTopology } from '../engine/runtime.ts';
import { rtml } from './support/cli.ts';
import { memoryFeatureStore, memorySink, memorySource } from './support/memory.ts';

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
    // Type checking refuses this (window() takes a keyed stream; `npm run typecheck` fails if it stops
    // refusing it); a topology in plain JavaScript still gets the error at start.
    // @ts-expect-error window() on an unkeyed stream
    const unkeyed = defineTopology('u', ({ source, sink }) => source('events', { time: 't' }).pipe(map((e) => e), window(tumbling(5)), aggregate({ n: count() }), sink('out')));
    await assert.rejects(start(unkeyed), /needs a keyed stream: put keyBy\(\.\.\.\) before it/);
    const nothing = defineTopology('n', () => undefined as never);
    await assert.rejects(start(nothing, []), /the build function must return the stream/);
    const noTime = defineTopology('nt', ({ source, sink }) => source('events', {} as never).pipe(sink('out')));
    await assert.rejects(start(noTime), /source\('events'\) at .* needs a time/);
    assert.throws(() => defineTopology('bad name', () => []), /must start with a letter/);
  });
});

describe('a feature view the results cannot fill fails at start', () => {
  const stats = featureView({ name: 'card_stats', features: ['n', 'totl'], time: 'ts' });
  const results = (events: Observable<{ k: string; t: number; v: number }>) => events.pipe(keyBy('k'), window(tumbling(5)), aggregate({ n: count(), total: sum('v') }));

  it('right after aggregate(), or through sink(...) or an rxjs pipe(): names the view, the missing fields and the fields there are', async () => {
    const direct = defineTopology('direct', ({ source, sink }) => results(source('events', { time: 't' })).pipe(materialize(stats), sink('out')));
    await assert.rejects(start(direct), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'RTML_E_FEATURE_VIEW');
      assert.match(
        err.message,
        /^materialize\('card_stats'\) at \/.*test\/topology-errors\.test\.ts:\d+:\d+: feature view 'card_stats' \(declared at \/.*topology-errors\.test\.ts:\d+:\d+\) names time field 'ts', feature field 'totl', but the results of aggregate\(\) at \/.*topology-errors\.test\.ts:\d+:\d+ have no such field \(they have: key, window_start, window_end, n, total\)$/,
      );
      return true;
    });
    const entity = featureView({ name: 'by_card', features: ['n'], entity: 'card' });
    const throughSink = defineTopology('sunk', ({ source, sink }) => results(source('events', { time: 't' })).pipe(sink('out'), materialize(entity)));
    await assert.rejects(start(throughSink), /materialize\('by_card'\) at .* names entity field 'card', but the results of aggregate\(\) at .* have no such field/);
    const composed = defineTopology('composed', ({ source, sink }) =>
      source('events', { time: 't' }).pipe(keyBy('k'), pipe(window(tumbling(5)), aggregate({ n: count() }), materialize(stats)), sink('out')),
    );
    await assert.rejects(start(composed), /names time field 'ts', feature field 'totl', but the results of aggregate\(\) .* \(they have: key, window_start, window_end, n\)/);
  });

  it('a stream whose shape is not known (an rxjs operator in between) starts, its results are dead-lettered', async () => {
    const filtered = defineTopology('filtered', ({ source, sink }) => results(source('events', { time: 't' })).pipe(filter(() => true), materialize(stats), sink('out')));
    const dlq = memorySink();
    const run = await runTopology(filtered, {
      sources: { events: memorySource([[{ k: 'a', t: 1, v: 1 }]]) },
      sinks: { out: memorySink().connector, dlq: dlq.connector },
      features: memoryFeatureStore().store,
    });
    assert.deepEqual([run.in, run.processed, run.deadLettered, run.resultsDeadLettered], [1, 1, 0, 1]);
    assert.equal(dlq.json()[0]!.result, true);
  });

  it('from the CLI: a non-zero exit and one line with the topology file and the reason', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rtml-view-'));
    const topo = join(dir, 'topo.ts');
    const pipeline = "  source('events', { time: 't' }).pipe(keyBy('k'), window(tumbling(5)), aggregate({ n: count(), total: sum('v') }), materialize(stats), sink('out')),";
    writeFileSync(
      topo,
      [
        "import { aggregate, count, defineTopology, featureView, keyBy, materialize, sum, tumbling, window } from 'rtml';",
        "const stats = featureView({ name: 'card_stats', features: ['n', 'totl'] });",
        "export default defineTopology('views', ({ source, sink }) =>",
        pipeline,
        ');',
        '',
      ].join('\n'),
    );
    const column = (call: string) => pipeline.indexOf(call) + 1;
    const input = join(dir, 'events.jsonl');
    writeFileSync(input, '{"k":"a","t":1,"v":1}\n');
    const r = await rtml(['run', topo, '--source', `events=file:${input}`, '--sink', `out=file:${join(dir, 'out.jsonl')}`]);
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.equal(
      lines[0],
      `rtml: error RTML_E_FEATURE_VIEW (bad feature view): materialize('card_stats') at ${topo}:4:${column('materialize(')}: feature view 'card_stats' (declared at ${topo}:2:15) names feature field 'totl', ` +
        `but the results of aggregate() at ${topo}:4:${column('aggregate(')} have no such field (they have: key, window_start, window_end, n, total)`,
    );
  });
});
