import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { map } from 'rxjs';
import { summaryLine } from '../cli/run.ts';
import { aggregate, count, defineTopology, featureView, keyBy, last, materialize, score, sum, tumbling, window } from '../engine/index.ts';
import type { ModelProvider } from '../engine/modelProvider.ts';
import { runTopology } from '../engine/runtime.ts';
import { memoryFeatureStore, memorySink, memorySource, Undecodable } from './support/memory.ts';
import { runOn } from './support/run.ts';
import { txnSchema } from './support/schemas.ts';

const schema = txnSchema;

const topology = defineTopology('dlq', ({ source, sink }) =>
  source('events', { schema, time: 'ts' }).pipe(
    keyBy('card_id'),
    window(tumbling(10)),
    aggregate({ n: count(), total: sum('amount') }),
    sink('out'),
  ),
);

describe('bad input', () => {
  it('goes to the dlq with reason, source, partition, offset and payload; the counts add up', async () => {
    const good = (card: string, ts: number) => ({ card_id: card, amount: 1, ts });
    const { out, dlq, stats } = await runOn(
      topology,
      [
        [
          good('a', 1),
          new Undecodable('invalid JSON: Unexpected token', '{"card_id": '),
          { card_id: 'a', amount: 'lots', ts: 2 },
          { card_id: 'a', amount: 1 },
          { card_id: 'a', amount: 1, ts: 3, extra: true },
          good('a', 4),
        ],
        [good('b', 5), { card_id: 'b', amount: 1, ts: 'yesterday' }],
      ],
      { bindLate: false },
    );
    assert.deepEqual(
      dlq.map((d) => [d.source, d.partition, d.offset]),
      [
        ['events', 0, 1],
        ['events', 0, 2],
        ['events', 0, 3],
        ['events', 0, 4],
        ['events', 1, 1],
      ],
    );
    const reasons = dlq.map((d) => d.reason as string);
    assert.match(reasons[0]!, /^invalid JSON/);
    assert.match(reasons[1]!, /schema Txn mismatch: field 'amount': expected double, got "lots"/);
    assert.match(reasons[2]!, /field 'ts': missing/);
    assert.match(reasons[3]!, /undeclared field\(s\) extra/);
    assert.match(reasons[4]!, /field 'ts': expected long, got "yesterday"/);
    assert.equal(dlq[0]!.payload, '{"card_id": ');
    assert.deepEqual(dlq[1]!.payload, { card_id: 'a', amount: 'lots', ts: 2 });
    assert.deepEqual(out.map((r) => [r.key, r.n]), [['a', 2], ['b', 1]]);
    assert.deepEqual([stats.in, stats.processed, stats.late, stats.deadLettered], [8, 3, 0, 5]);
    assert.equal(stats.in, stats.processed + stats.late + stats.deadLettered);
  });

  it('dead-letters missing keys, non-numeric aggregate inputs and missing times without a schema', async () => {
    const loose = defineTopology('loose', ({ source, sink }) =>
      source<{ when?: number; user?: string }>('events', { time: (e) => e.when! }).pipe(
        keyBy((e) => e.user!),
        window(tumbling(10)),
        aggregate({ total: sum('amount') }),
        sink('out'),
      ),
    );
    const { out, dlq, stats } = await runOn(
      loose,
      [[{ user: 'u', when: 1, amount: 2 }, { when: 2, amount: 2 }, { user: 'u', when: 3, amount: null }, { user: 'u', amount: 1 }, 'just a string']],
      { bindLate: false },
    );
    assert.deepEqual(
      dlq.map((d) => d.reason),
      [
        'keyBy(fn): key is missing, not a string or finite number',
        "sum('amount'): value is null, not a finite number",
        "source 'events': time function returned undefined, not a finite number",
        "source 'events': time function returned undefined, not a finite number",
      ],
    );
    assert.deepEqual(out.map((r) => r.total), [2]);
    assert.deepEqual([stats.in, stats.processed, stats.deadLettered], [5, 1, 4]);
  });

  it('a failing user map stops the run with the source position of the event', async () => {
    const failing = defineTopology('fails', ({ source, sink }) =>
      source<{ t: number }>('events', { time: 't' }).pipe(
        map((e) => {
          if (e.t === 2) throw new Error('boom');
          return e;
        }),
        sink('out'),
      ),
    );
    await assert.rejects(runOn(failing, [[{ t: 1 }, { t: 2 }]], { bindLate: false }), /topology 'fails' failed at source 'events' partition 0 offset 1: boom/);
  });

  it('without a dlq sink, dead letters are reported and counted', async () => {
    const { runTopology } = await import('../engine/runtime.ts');
    const { memorySink, memorySource } = await import('./support/memory.ts');
    const warnings: string[] = [];
    const stats = await runTopology(topology, {
      sources: { events: memorySource([[{ card_id: 'a', amount: 1 }]]) },
      sinks: { out: memorySink().connector },
      warn: (m) => warnings.push(m),
    });
    assert.equal(stats.deadLettered, 1);
    assert.equal(stats.deadLettersUnbound, 1);
    assert.match(warnings[0]!, /dead letter \(bind --sink dlq=URI to keep them\): events partition 0 offset 0: .*field 'ts': missing/);
  });
});

describe('dead letters are counted per input event', () => {
  // Two models that fail on rows whose first feature is 13 (both) or 14 (the second only).
  const failingOn = (bad: number[]): ModelProvider => ({
    async open() {
      const model = {
        version: 'v1',
        featureCount: 2,
        score(values: Float32Array, rows: number) {
          for (let i = 0; i < rows; i++) if (bad.includes(values[i * 2]!)) throw new Error(`cannot score x=${values[i * 2]}`);
          return new Float32Array(rows).fill(0.5);
        },
      };
      return { current: () => ({ serving: () => model, shadows: [] }), close: async () => {} };
    },
  });
  const models: ModelProvider = {
    open: (name, features) => failingOn(name === 'a' ? [13] : [13, 14]).open(name, features),
  };
  const branches = (maxBatch: number) =>
    defineTopology('branches', ({ source, sink }) => {
      const events = source<{ k: string; t: number; x: number; y?: number }>('events', { time: 't' });
      return [
        // Branch a scores each event alone, inside its dispatch; y has a default.
        events.pipe(keyBy('k'), score('registry:a', { features: ['x', { name: 'y', default: 0 }], maxBatch: 1 }), sink('out')),
        // Branch b batches (letters come after the event's dispatch) and has no default for y.
        events.pipe(keyBy('k'), score('registry:b', { features: ['x', 'y'], maxBatch }), sink('out2')),
        // Branch c makes the events of the first window late once t=25 has been seen.
        events.pipe(keyBy('k'), window(tumbling(10)), aggregate({ n: count() }), sink('agg')),
      ];
    });
  const input = [
    { k: 'a', t: 1, x: 1, y: 1 }, // 0 processed
    { k: 'a', t: 2, x: 13, y: 1 }, // 1 both models fail: 2 letters
    { k: 'a', t: 3, x: 2 }, // 2 b: y missing (in its dispatch)
    { k: 'a', t: 4, x: 13 }, // 3 b: y missing, a: model fails: 2 letters
    { k: 'a', t: 25, x: 1, y: 1 }, // 4 processed
    { k: 'a', t: 5, x: 13, y: 1 }, // 5 late in c, both models fail: 2 letters
    { k: 'a', t: 6, x: 3, y: 1 }, // 6 late in c only
    { k: 'a', t: 7, x: 14, y: 1 }, // 7 late in c, then b's batch fails after its dispatch
    { k: 'a', t: 30, x: 14, y: 1 }, // 8 processed, then b's batch fails after its dispatch
    { k: 'a', t: 31, x: 13, y: 1 }, // 9 both models fail: 2 letters
  ];

  for (const [maxBatch, batchSize] of [[3, 4096], [2, 2], [64, 3], [1, 1]] as const) {
    it(`two branches lettering the same event count it once; letters are all written (maxBatch ${maxBatch}, batches of ${batchSize})`, async () => {
      const dlq = memorySink();
      const stats = await runTopology(branches(maxBatch), {
        sources: { events: memorySource([input]) },
        sinks: { out: memorySink().connector, out2: memorySink().connector, agg: memorySink().connector, dlq: dlq.connector },
        models,
        batchSize,
        warn: () => {},
      });
      const letters = dlq.json();
      const perOffset = new Map<number, number>();
      for (const l of letters) perOffset.set(l.offset as number, (perOffset.get(l.offset as number) ?? 0) + 1);
      assert.deepEqual([...perOffset].sort((a, b) => a[0] - b[0]), [[1, 2], [2, 1], [3, 2], [5, 2], [7, 1], [8, 1], [9, 2]]);
      assert.ok(letters.every((l) => l.result === undefined && l.source === 'events'));
      assert.ok(stats.processed >= 0 && stats.late >= 0);
      assert.deepEqual([stats.in, stats.processed, stats.late, stats.deadLettered, stats.resultsDeadLettered], [10, 2, 1, 7, 0]);
      assert.equal(stats.in, stats.processed + stats.late + stats.deadLettered);
      assert.equal(stats.deadLettered, perOffset.size);
    });
  }
});

describe('results materialize() cannot take', () => {
  const named = featureView({ name: 'named', features: ['n', 'tag'] });
  const tagged = (shape: 'known' | 'mapped') =>
    defineTopology('tagged', ({ source, sink }) => {
      const results = source<{ k: string; t: number; tag: unknown }>('events', { time: 't' }).pipe(keyBy('k'), window(tumbling(10)), aggregate({ n: count(), tag: last('tag') }));
      return (shape === 'known' ? results : results.pipe(map((r) => ({ ...r })))).pipe(materialize(named), sink('out'));
    });

  for (const shape of ['known', 'mapped'] as const) {
    it(`are result letters: the result as payload, the firing event's place, a separate count (${shape} shape)`, async () => {
      const { store, rows } = memoryFeatureStore();
      const { out, dlq, stats } = await runOn(
        tagged(shape),
        [
          [
            { k: 'a', t: 1, tag: 'x' },
            { k: 'a', t: 2, tag: 'y' },
            { k: 'b', t: 5, tag: 7 },
            { k: 'a', t: 12, tag: 'z' }, // fires a [0,10) (tag 'y': a letter) and b [0,10) (a row)
            { k: 'b', t: 25, tag: 'w' }, // fires a [10,20) (tag 'z': a letter)
          ],
        ],
        { features: store, bindLate: false },
      );
      assert.deepEqual(dlq, [
        { reason: "materialize('named'): feature 'tag' is \"y\", not a finite number or null", source: 'events', partition: 0, offset: 3, payload: { key: 'a', window_start: 0, window_end: 10, n: 2, tag: 'y' }, result: true },
        { reason: "materialize('named'): feature 'tag' is \"z\", not a finite number or null", source: 'events', partition: 0, offset: 4, payload: { key: 'a', window_start: 10, window_end: 20, n: 1, tag: 'z' }, result: true },
        // b [20,30) is fired by the end of the input, not by an input event.
        { reason: "materialize('named'): feature 'tag' is \"w\", not a finite number or null", source: null, partition: null, offset: null, payload: { key: 'b', window_start: 20, window_end: 30, n: 1, tag: 'w' }, result: true },
      ]);
      assert.equal(out.length, 4); // results pass on
      assert.deepEqual(rows.get('named')!.map((r) => [r.entity, r.time, r.values.tag]), [['b', 10, 7]]);
      // Every input event was processed; the results are counted apart.
      assert.deepEqual([stats.in, stats.processed, stats.late, stats.deadLettered, stats.resultsDeadLettered], [5, 5, 0, 0, 3]);
      assert.match(summaryLine(stats), /dead-lettered 0, results out 4, results dead-lettered 3, elapsed/);
    });
  }

  it('without a dlq sink they are reported as results', async () => {
    const { store } = memoryFeatureStore();
    const warnings: string[] = [];
    const stats = await runTopology(tagged('known'), {
      sources: { events: memorySource([[{ k: 'a', t: 1, tag: 'x' }, { k: 'a', t: 12, tag: 1 }]]) },
      sinks: { out: memorySink().connector },
      features: store,
      warn: (m) => warnings.push(m),
    });
    assert.deepEqual([stats.in, stats.processed, stats.deadLettered, stats.resultsDeadLettered, stats.deadLettersUnbound], [2, 2, 0, 1, 1]);
    assert.deepEqual(warnings, ["dead letter (bind --sink dlq=URI to keep them): a result fired by events partition 0 offset 1: materialize('named'): feature 'tag' is \"x\", not a finite number or null"]);
    assert.doesNotMatch(summaryLine(stats).replace('results dead-lettered 1', ''), /results dead-lettered/);
  });

  it('a view the results (of unknown shape) never match: letters and one report, the run goes on', async () => {
    const wrong = featureView({ name: 'wrong', features: ['total'], time: 'ts' });
    const t = defineTopology('unknown', ({ source, sink }) =>
      source<{ k: string; t: number }>('events', { time: 't' }).pipe(keyBy('k'), window(tumbling(10)), aggregate({ n: count() }), map((r) => r), materialize(wrong), sink('out')),
    );
    const { store, rows } = memoryFeatureStore();
    const input = Array.from({ length: 150 }, (_, i) => ({ k: `k${i}`, t: i % 10 }));
    const { out, dlq, stats, warnings } = await runOn(t, [input], { features: store, bindLate: false });
    assert.equal(out.length, 150);
    assert.equal(dlq.length, 150);
    assert.equal(dlq[0]!.reason, "materialize('wrong'): time field 'ts' is missing, not whole epoch ms");
    assert.equal(rows.get('wrong'), undefined);
    assert.deepEqual([stats.in, stats.processed, stats.deadLettered, stats.resultsDeadLettered], [150, 150, 0, 150]);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /materialize\('wrong'\) at .*dead-letters\.test\.ts:\d+:\d+: the first 100 results all lack time field 'ts', feature field 'total' of feature view 'wrong' \(declared at .*dead-letters\.test\.ts:\d+:\d+\)/);
  });
});
