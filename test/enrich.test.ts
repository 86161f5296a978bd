import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { aggregate, count, defineTopology, enrich, featureView, keyBy, materialize, sum, tumbling, window } from '../engine/index.ts';
import { FeatureTable } from '../engine/featureTable.ts';
import { runTopology } from '../engine/runtime.ts';
import { featureStore } from '../connectors/features/featureStore.ts';
import { postgresOffline } from '../connectors/features/postgresOffline.ts';
import { redisOnline } from '../connectors/features/redisOnline.ts';
import { POSTGRES_URI, REDIS_URI, cleanPostgres, cleanRedis, uniqueView } from './support/features.ts';
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

  it("applies the view's ttl in event time, and frees expired values", async () => {
    const short = featureView({ name: 'short', features: ['n'], ttl: 50 });
    const t = defineTopology('ttl', ({ source, sink }) => {
      const events = source<{ card: string; t: number }>('events', { time: 't' });
      return [
        events.pipe(keyBy('card'), window(tumbling(100), { emit: 'update' }), aggregate({ n: count() }), materialize(short), sink('features')),
        events.pipe(keyBy('card'), enrich(short), sink('enriched')),
      ];
    });
    const enriched = memorySink();
    await runTopology(t, {
      sources: { events: memorySource([[{ card: 'a', t: 1 }, { card: 'a', t: 2 }, { card: 'a', t: 149 }, { card: 'a', t: 249 }, { card: 'a', t: 450 }]]) },
      sinks: { features: memorySink().connector, enriched: enriched.connector },
      features: memoryFeatureStore().store,
    });
    // Window [0,100)'s rows have time 100, valid until 150; [100,200)'s time 200, until 250; a@249
    // opens [200,300), valid until 350: a@450 is past it (without the ttl it would see n 1).
    assert.deepEqual(enriched.json().map((e) => [e.t, e.n]), [[1, null], [2, 1], [149, 2], [249, 1], [450, null]]);

    const table = new FeatureTable(50);
    table.enriched = true;
    table.stage({ entity: 'x', time: 100, values: { n: 1 } });
    table.stage({ entity: 'y', time: 140, values: { n: 2 } });
    table.commit();
    table.advance(160);
    assert.equal(table.get('x', 120), undefined, 'the watermark passed its expiry: gone even for an earlier event');
    assert.deepEqual(table.get('y', 120), { n: 2 });
    assert.deepEqual(table.snapshot().map(([entity]) => entity), ['y']);
  });

  describe("from: 'online' (a view another pipeline materialises)", () => {
    const materialising = (v: ReturnType<typeof featureView>) =>
      defineTopology('writer', ({ source, sink }) =>
        source<{ card: string; amount: number; t: number }>('events', { time: 't' }).pipe(keyBy('card'), window(tumbling(100)), aggregate({ n: count(), total: sum('amount') }), materialize(v), sink('out')),
      );
    const reading = (v: ReturnType<typeof featureView>) =>
      defineTopology('reader', ({ source, sink }) =>
        source<{ card: string; amount: number; t: number }>('payments', { time: 't' }).pipe(keyBy('card'), enrich(v, { from: 'online', prefix: 'f_' }), sink('out')),
      );
    const stores = () => featureStore({ online: redisOnline(REDIS_URI), offline: postgresOffline(POSTGRES_URI), log: () => {} });

    it('reads the online store in bursts and passes events on in order', async (t) => {
      const name = uniqueView('enrich_online');
      cleanRedis(t, name);
      cleanPostgres(t, name);
      const v = featureView({ name, features: ['n', 'total'] });
      await runTopology(materialising(v), { sources: { events: memorySource([input]) }, sinks: { out: memorySink().connector }, features: stores() });

      const payments = Array.from({ length: 300 }, (_, i) => ({ card: ['a', 'b', 'zz'][i % 3]!, amount: i, t: 1000 + i }));
      for (const batchSize of [1, 7, 4096]) {
        const out = memorySink();
        const stats = await runTopology(reading(v), { sources: { payments: memorySource([payments]) }, sinks: { out: out.connector }, features: stores(), batchSize });
        assert.equal(stats.processed, 300);
        const got = out.json();
        assert.deepEqual(got.map((e) => e.amount), payments.map((p) => p.amount), `order kept with batch size ${batchSize}`);
        const byCard = Object.fromEntries(got.map((e) => [e.card, [e.f_n, e.f_total]]));
        assert.deepEqual(byCard, { a: [3, 60], b: [1, 5], zz: [null, null] });
      }

      // A dead letter further down is the held event's, counted once: in = processed + dead-lettered.
      const rekeyed = defineTopology('rekeyed', ({ source, sink }) =>
        source<{ card: string; t: number; owner?: string }>('payments', { time: 't' }).pipe(keyBy('card'), enrich(v, { from: 'online' }), keyBy('owner'), sink('out')),
      );
      const dlq = memorySink();
      const owners = payments.map((p, i) => (i % 10 === 3 ? p : { ...p, owner: `o${i % 4}` }));
      const stats = await runTopology(rekeyed, { sources: { payments: memorySource([owners]) }, sinks: { out: memorySink().connector, dlq: dlq.connector }, features: stores() });
      assert.deepEqual([stats.in, stats.processed, stats.deadLettered], [300, 270, 30]);
      assert.deepEqual(dlq.json().map((l) => l.offset), owners.flatMap((_, i) => (i % 10 === 3 ? [i] : [])));
      assert.deepEqual(dlq.json()[0]!.payload, owners[3]);
    });

    it('is refused for a view the topology materialises, after a window, or without a store that reads', async () => {
      const v = featureView({ name: 'both', features: ['n'] });
      const both = defineTopology('both', ({ source, sink }) => {
        const events = source<{ card: string; t: number }>('events', { time: 't' });
        return [events.pipe(keyBy('card'), window(tumbling(100)), aggregate({ n: count() }), materialize(v), sink('a')), events.pipe(keyBy('card'), enrich(v, { from: 'online' }), sink('b'))];
      });
      await assert.rejects(
        runTopology(both, { sources: { events: memorySource([input]) }, sinks: { a: memorySink().connector, b: memorySink().connector }, features: memoryFeatureStore().store }),
        /reads feature view 'both' from the online store, but this topology materializes it/,
      );
      const windowed = defineTopology('w', ({ source, sink }) =>
        source<{ card: string; t: number }>('events', { time: 't' }).pipe(keyBy('card'), enrich(v, { from: 'online' }), window(tumbling(100)), aggregate({ n: count() }), sink('out')),
      );
      await assert.rejects(runTopology(windowed, { sources: { events: memorySource([input]) }, sinks: { out: memorySink().connector }, features: memoryFeatureStore().store }), /window\(\) at .* cannot follow enrich\('both'\) at .*: it holds events back in batches/);
      await assert.rejects(
        runTopology(reading(v), { sources: { payments: memorySource([input]) }, sinks: { out: memorySink().connector }, features: memoryFeatureStore().store }),
        /no feature store that can read it/,
      );
    });
  });
});
