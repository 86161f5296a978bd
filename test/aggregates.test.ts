import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { aggregate, avg, count, defineAggregate, defineTopology, distinct, first, keyBy, last, max, min, session, sum, tumbling, window } from '../engine/index.ts';
import { runOn } from './support/run.ts';

const events = [
  { k: 'a', t: 3, amount: 5, m: 'x' },
  { k: 'a', t: 1, amount: 2.5, m: 'y' },
  { k: 'b', t: 2, amount: 7, m: 'x' },
  { k: 'a', t: 4, amount: -1, m: 'x' },
  { k: 'a', t: 1, amount: 9, m: 'z' },
];

const median = defineAggregate<{ amount: number }, number[], number>({
  name: 'median(amount)',
  init: () => [],
  add: (acc, e) => (acc.push(e.amount), acc),
  merge: (a, b) => a.concat(b),
  result(acc) {
    const s = [...acc].sort((x, y) => x - y);
    const mid = s.length >> 1;
    return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  },
});

describe('aggregations', () => {
  it('count, sum, min, max, avg, distinct (exact), first, last and a user-defined aggregate', async () => {
    const topology = defineTopology('aggs', ({ source, sink }) =>
      source('events', { time: 't' }).pipe(
        keyBy('k'),
        window(tumbling(100)),
        aggregate({
          n: count(),
          total: sum('amount'),
          lo: min('amount'),
          hi: max('amount'),
          mean: avg('amount'),
          uniq: distinct('m'),
          firstM: first('m'),
          lastM: last('m'),
          big: sum((e: { amount: number }) => (e.amount > 4 ? 1 : 0)),
          med: median,
        }),
        sink('out'),
      ),
    );
    const { out } = await runOn(topology, [events], { bindLate: false });
    assert.deepEqual(out, [
      // first: earliest event time, ties by arrival (t=1: 'y' before 'z'); last: latest time (t=4).
      { key: 'a', window_start: 0, window_end: 100, n: 4, total: 15.5, lo: -1, hi: 9, mean: 3.875, uniq: 3, firstM: 'y', lastM: 'x', big: 2, med: 3.75 },
      { key: 'b', window_start: 0, window_end: 100, n: 1, total: 7, lo: 7, hi: 7, mean: 7, uniq: 1, firstM: 'x', lastM: 'x', big: 1, med: 7 },
    ]);
  });

  it('merge accumulators when sessions merge (distinct stays exact)', async () => {
    const topology = defineTopology('merge', ({ source, sink }) =>
      source('events', { time: 't' }).pipe(
        keyBy('k'),
        window(session(10), { lateness: 100 }),
        aggregate({ n: count(), uniq: distinct('m'), mean: avg('amount'), firstM: first('m'), lastM: last('m'), lo: min('amount'), med: median }),
        sink('out'),
      ),
    );
    const { out } = await runOn(
      topology,
      [[{ k: 'a', t: 0, m: 'x', amount: 1 }, { k: 'a', t: 30, m: 'y', amount: 3 }, { k: 'a', t: 15, m: 'x', amount: 8 }, { k: 'a', t: 22, m: 'z', amount: 4 }]],
      { bindLate: false },
    );
    // W=30 when t=15 arrives: [15,25) is allowed late and emitted at once; t=22 then bridges it
    // with [30,40) into one session [15,40) whose accumulators are merged.
    assert.deepEqual(out, [
      { key: 'a', window_start: 0, window_end: 10, n: 1, uniq: 1, mean: 1, firstM: 'x', lastM: 'x', lo: 1, med: 1 },
      { key: 'a', window_start: 15, window_end: 25, n: 1, uniq: 1, mean: 8, firstM: 'x', lastM: 'x', lo: 8, med: 8 },
      { key: 'a', window_start: 15, window_end: 40, n: 3, uniq: 3, mean: 5, firstM: 'x', lastM: 'y', lo: 3, med: 4 },
    ]);
  });

  it('reject bad aggregate definitions at start', () => {
    assert.throws(() => defineAggregate({ name: 'x', init: () => 0 } as never), /needs a add\(\) function/);
    assert.throws(() => aggregate({}), /needs at least one aggregation/);
    assert.throws(() => aggregate({ key: count() }), /'key' is a reserved result field/);
    assert.throws(() => aggregate({ n: 42 as never }), /'n' is not an aggregate/);
    assert.throws(() => sum(''), /needs a field name or a function/);
  });
});
