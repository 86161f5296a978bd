import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { aggregate, count, defineTopology, enrich, featureView, keyBy, materialize, sum, tumbling, window } from '../engine/index.ts';
import { runTopology } from '../engine/runtime.ts';
import { memoryFeatureStore, memorySink, memorySource } from './support/memory.ts';

const spend = featureView({ name: 'spend', features: ['n', 'total'], ttl: '1h' });

function topology(enrichFirst: boolean) {
  return defineTopology('enriching', ({ source, sink }) => {
    const events = source<{ card: string; amount: number; t: number }>('events', { time: 't' });
    const features = events.pipe(keyBy('card'), window(tumbling(100), { emit: 'update' }), aggregate({ n: count(), total: sum('amount') }), materialize(spend), sink('features'));
    const enriched = events.pipe(keyBy('card'), enrich(spend), sink('enriched'));
    return enrichFirst ? [enriched, features] : [features, enriched];
  });
}

const input = [
  { card: 'a', amount: 10, t: 1 },
  { card: 'a', amount: 20, t: 2 },
  { card: 'b', amount: 5, t: 3 },
  { card: 'a', amount: 30, t: 4 },
];

describe('enrich()', () => {
  for (const enrichFirst of [true, false]) {
    it(`attaches the features computed from earlier events only (enrich branch ${enrichFirst ? 'first' : 'second'})`, async () => {
      const { store, rows } = memoryFeatureStore();
      const enriched = memorySink();
      await runTopology(topology(enrichFirst), {
        sources: { events: memorySource([input]) },
        sinks: { features: memorySink().connector, enriched: enriched.connector },
        features: store,
      });
      assert.deepEqual(
        enriched.json().map((e) => [e.card, e.amount, e.n, e.total]),
        [
          ['a', 10, null, null],
          ['a', 20, 1, 10],
          ['b', 5, null, null],
          ['a', 30, 2, 30],
        ],
      );
      // Every update was materialised, with the window end as its time.
      assert.deepEqual(rows.get('spend')!.map((r) => [r.entity, r.time, r.values.n]).slice(0, 3), [['a', 100, 1], ['a', 100, 2], ['b', 100, 1]]);
    });
  }

  it('needs the view materialised in the same topology', async () => {
    const t = defineTopology('x', ({ source, sink }) => source('events', { time: 't' }).pipe(keyBy('card'), enrich(spend), sink('out')));
    await assert.rejects(
      runTopology(t, { sources: { events: memorySource([input]) }, sinks: { out: memorySink().connector } }),
      /enrich\('spend'\) at .*enrich\.test\.ts:\d+:\d+ reads feature view 'spend', which this topology does not materialize/,
    );
  });

  it('rejects bad feature view declarations at start', () => {
    assert.throws(() => featureView({ name: 'Bad-Name', features: ['n'] }), /name must be lower case letters/);
    assert.throws(() => featureView({ name: 'v', features: [] }), /features must list at least one/);
    assert.throws(() => featureView({ name: 'v', features: ['n', 'n'] }), /feature 'n' is listed twice/);
    assert.throws(() => featureView({ name: 'v', features: ['key'] }), /also the entity or time field/);
    assert.throws(() => featureView({ name: 'v', features: ['n'], ttl: 'soon' as never }), /is not a duration/);
  });

  it('dead-letters results whose features are not numbers', async () => {
    const view = featureView({ name: 'names', features: ['who'], time: 't', entity: 'card' });
    const t = defineTopology('y', ({ source, sink }) => source('events', { time: 't' }).pipe(materialize(view), sink('out')));
    const dlq = memorySink();
    const { store, rows } = memoryFeatureStore();
    const stats = await runTopology(t, {
      sources: { events: memorySource([[{ card: 'a', t: 1, who: 'x' }, { card: 'a', t: 2, who: 3 }]]) },
      sinks: { out: memorySink().connector, dlq: dlq.connector },
      features: store,
    });
    assert.equal(stats.deadLettered, 1);
    assert.match(dlq.json()[0]!.reason as string, /materialize\('names'\): feature 'who' is "x", not a finite number or null/);
    assert.deepEqual(rows.get('names')!.map((r) => r.values.who), [3]);
  });
});
