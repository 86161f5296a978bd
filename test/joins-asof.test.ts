import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { map } from 'rxjs';
import { aggregate, asOfJoin, count, defineTopology, keyBy, RtmlError, tumbling, window } from '../engine/index.ts';
import { prng } from './support/generate.ts';
import {
  acceptedOf,
  asOfReference,
  assertLike,
  dispatchOrder,
  ev,
  eventCount,
  randomInput,
  row,
  runJoin,
  sorted,
  twoSided,
  type AsOfSpec,
  type Ev,
  type OutOfOrder,
  type TwoSides,
  type Written,
} from './support/joins.ts';

/** The left source is the stream, the right one the table (a changelog of versions). */
const OO: OutOfOrder = { left: 3, right: 5 };
const ZERO: OutOfOrder = { left: 0, right: 0 };
const random = (seed: number) => randomInput(seed, { keys: 3, step: 2, events: [25, 70], outOfOrder: OO, beyond: 0.15, reach: 25 });
const SEEDS = [1, 2, 3, 4, 5];

const CASES: { name: string; spec: AsOfSpec }[] = [
  { name: 'inner, unbounded retention', spec: { retention: Infinity, lateness: 0, type: 'inner' } },
  { name: 'left, unbounded retention, lateness 2', spec: { retention: Infinity, lateness: 2, type: 'left' } },
  { name: 'inner, retention 8, lateness 2', spec: { retention: 8, lateness: 2, type: 'inner' } },
  { name: 'left, retention 4, lateness 4', spec: { retention: 4, lateness: 4, type: 'left' } },
  { name: 'left, retention 0', spec: { retention: 0, lateness: 0, type: 'left' } },
];

function asOf(spec: AsOfSpec, oo = OO) {
  return twoSided('as-of', oo, (stream, table, sink) =>
    stream.pipe(asOfJoin(table, { ...(spec.retention < Infinity ? { retention: spec.retention } : {}), lateness: spec.lateness, type: spec.type, late: 'late' }), sink('out')),
  );
}

const bytes = (written: Written[]) => written.map((w) => `${JSON.stringify(w.raw)} ${String(w.key)} ${w.time}`);
/** Results as `stream→version@time` strings. */
const results = (written: Written[]) => written.map((w) => `${(w.value.left as Ev).id}→${(w.value.right as Ev | null)?.id ?? 'null'}@${w.time}`);

describe('as-of join against the brute-force reference', () => {
  for (const { name, spec } of CASES) {
    it(`${name}: results, late outputs and counts equal the reference's, in the contract's order`, async () => {
      let lateTable = 0;
      let lateStream = 0;
      for (const seed of SEEDS) {
        const input = random(seed);
        const expected = asOfReference(dispatchOrder(input, OO), spec);
        const run = await runJoin(asOf(spec), input, { batchSize: 1 + (seed % 5) });
        assertLike(run, expected, eventCount(input), `seed ${seed}`);
        // Joined at once as they arrive; the rest when W passes them, by time then arrival.
        assert.deepEqual(run.out.map(row), expected.out.map(row), `seed ${seed}: order`);
        lateTable += expected.late.filter((l) => l.side === 'table').length;
        lateStream += expected.late.filter((l) => l.side === 'stream').length;
      }
      assert.ok(lateStream > 0, 'the inputs have late stream events');
      if (spec.retention < Infinity) assert.ok(lateTable > 0, 'the inputs have table events older than retention');
    });
  }

  it('gives byte-identical output sequences at batch sizes 1, 3, 7 and 1000', async () => {
    for (const { spec } of CASES) {
      const input = random(11);
      const runs = [];
      for (const batchSize of [1, 3, 7, 1000]) runs.push(await runJoin(asOf(spec), input, { batchSize }));
      const [first, ...rest] = runs;
      assert.ok(first!.out.length > 0 && first!.late.length > 0);
      for (const run of rest) {
        assert.deepEqual(bytes(run.out), bytes(first!.out));
        assert.deepEqual(bytes(run.late), bytes(first!.late));
      }
    }
  });

  it('left join: every accepted stream event comes out exactly once, with its version or null; inner: at most once, never with null', async () => {
    for (const { spec } of CASES) {
      for (const seed of SEEDS) {
        const input = random(seed);
        const run = await runJoin(asOf(spec), input);
        const late = run.late.map((w) => w.value as { side: string; event: Ev });
        const accepted = acceptedOf(dispatchOrder(input, OO), 'left', late);
        const times = new Map<string, number>();
        for (const w of run.out) {
          const id = (w.value.left as Ev).id;
          times.set(id, (times.get(id) ?? 0) + 1);
          if (spec.type === 'inner') assert.notEqual(w.value.right, null);
        }
        for (const e of accepted) {
          const n = times.get(e.id) ?? 0;
          assert.ok(spec.type === 'left' ? n === 1 : n <= 1, `seed ${seed}: ${e.id} came out ${n} times`);
        }
        assert.equal(run.out.length, spec.type === 'left' ? accepted.length : times.size);
      }
    }
  });
});

/**
 * The same events with each partition's arrival order shuffled within outOfOrder: every event
 * arrives at most `oo` behind any event of its partition before it, so none is late, whichever
 * side comes first.
 */
function shuffled(partitions: Ev[][], oo: number, seed: number): Ev[][] {
  const rand = prng(seed);
  return partitions.map((p) =>
    p
      .map((e) => ({ e, at: e.t + rand() * oo }))
      .sort((a, b) => a.at - b.at)
      .map((x) => x.e),
  );
}

/** Two partitions per side in time order; no two versions of a key share a time (their result would depend on arrival, by design). */
function timeOrdered(seed: number): TwoSides {
  const rand = prng(seed);
  const side = (prefix: string, n: number): Ev[][] => {
    const partitions: Ev[][] = [[], []];
    const used = new Set<string>();
    for (let i = 0, t = 0; i < n; i++) {
      t += Math.floor(rand() * 3);
      const k = String.fromCharCode(97 + Math.floor(rand() * 3));
      if (prefix === 'T' && used.has(`${k}@${t}`)) continue;
      used.add(`${k}@${t}`);
      const p = Math.floor(rand() * 2);
      partitions[p]!.push(ev(`${prefix}${p}.${i}`, k, t, i));
    }
    return partitions;
  };
  return { left: side('S', 90), right: side('T', 60) };
}

describe('as-of join: arrival order', () => {
  it('gives the same results whether the table side arrives earlier or later than the stream, within outOfOrder', async () => {
    const oo: OutOfOrder = { left: 6, right: 6 };
    for (const seed of [1, 2, 3]) {
      const { left: stream, right: table } = timeOrdered(100 + seed);
      const variants: [string, TwoSides][] = [
        ['in time order', { left: stream, right: table }],
        ['the table later', { left: stream, right: shuffled(table, oo.right, seed) }],
        ['the stream later', { left: shuffled(stream, oo.left, seed), right: table }],
        ['both shuffled', { left: shuffled(stream, oo.left, seed + 10), right: shuffled(table, oo.right, seed + 20) }],
      ];
      for (const spec of [{ retention: Infinity, lateness: 0, type: 'left' }, { retention: 7, lateness: 0, type: 'inner' }] as const) {
        let first: string[] | undefined;
        for (const [name, input] of variants) {
          const run = await runJoin(asOf(spec, oo), input);
          assert.deepEqual(run.late, [], `${name}: nothing is late`);
          const got = sorted(run.out.map(row));
          assert.deepEqual(got, sorted(asOfReference(dispatchOrder(input, oo), spec).out.map(row)), `${name}: the reference`);
          if (first === undefined) {
            first = got;
            assert.ok(run.out.filter((w) => w.value.right !== null).length > 20, 'stream events find versions');
          } else assert.deepEqual(got, first, `seed ${seed}, ${name}: results differ from the time-ordered run`);
        }
      }
    }
  });
});

/** Stream events and table versions of one test: `S…` stream, `T…` table. */
async function small(spec: Partial<AsOfSpec>, input: TwoSides, oo: OutOfOrder = { left: 100, right: 100 }) {
  const full: AsOfSpec = { retention: Infinity, lateness: 0, type: 'inner', ...spec };
  const run = await runJoin(asOf(full, oo), input);
  for (const w of run.out) assert.equal(w.key, (w.value.left as Ev).k, 'results travel with their key');
  return { run, results: results(run.out), late: run.late.map((w) => `${(w.value as { side: string }).side}:${(w.value as { event: Ev }).event.id}`) };
}

describe('as-of join rules', () => {
  it('joins each stream event with the version valid at its time (greatest time ≤ it), at the stream event’s time', async () => {
    const input = { left: [[ev('S0', 'a', 0), ev('S1', 'a', 1), ev('S4', 'a', 4), ev('S5', 'a', 5), ev('S9', 'a', 9), ev('SB', 'b', 9)]], right: [[ev('T1', 'a', 1), ev('T5', 'a', 5), ev('TB', 'b', 10)]] };
    assert.deepEqual((await small({}, input)).results, ['S1→T1@1', 'S4→T1@4', 'S5→T5@5', 'S9→T5@9']);
    assert.deepEqual((await small({ type: 'left' }, input)).results, ['S0→null@0', 'S1→T1@1', 'S4→T1@4', 'S5→T5@5', 'S9→T5@9', 'SB→null@9']);
    const { run } = await small({}, input);
    assert.deepEqual(run.out[0]!.value, { key: 'a', left: ev('S1', 'a', 1), right: ev('T1', 'a', 1) });
  });

  it('waits until W > e.t, so a version arriving after the stream event, within outOfOrder, still counts', async () => {
    const seen: string[] = [];
    const topology = defineTopology('as-of-tapped', ({ source, sink }) => {
      const tap = (e: Ev) => (seen.push(`in:${e.id}`), e);
      const stream = source<Ev>('left', { time: 't', outOfOrder: 10 }).pipe(map(tap), keyBy('k'));
      const table = source<Ev>('right', { time: 't', outOfOrder: 10 }).pipe(map(tap), keyBy('k'));
      return stream.pipe(
        asOfJoin(table),
        map((r) => (seen.push(`out:${r.left.id}→${r.right.id}`), r)),
        sink('out'),
      );
    });
    // T8 then T4 (4 is within outOfOrder of 8): T4 arrives after S5, yet is S5's version. S5 is due
    // once W > 5: after X20 and T30 (W = min(20, 30) − 10 = 10).
    const input = { left: [[ev('S5', 'a', 5), ev('X20', 'x', 20)]], right: [[ev('T8', 'a', 8), ev('T4', 'a', 4), ev('T30', 'y', 30)]] };
    await runJoin(topology, input, { record: ['out'] });
    assert.deepEqual(seen, ['in:S5', 'in:T8', 'in:T4', 'in:X20', 'in:T30', 'out:S5→T4']);
  });

  it('takes the later arrival of two versions with the same time', async () => {
    const input = { left: [[ev('S5', 'a', 5)]], right: [[ev('T3a', 'a', 3, 1), ev('T3b', 'a', 3, 2), ev('T3c', 'b', 3)]] };
    assert.deepEqual((await small({}, input)).results, ['S5→T3b@5']);
  });

  it('sends a table event older than W − retention to the late output as side table; one within retention but behind W only changes later results', async () => {
    // retention 5, lateness 5. SZ makes W = 30: SA12 joins TA10; SA27 is behind W but not late:
    // joined at once, with TA10. TQ makes W = 31: TA24 (24 < 31 − 5) is late, TA26 is kept, and
    // SA36 (joined at once at W = 40) gets it. SZ waits for W > 31 and gets TZ.
    const input = {
      left: [[ev('SA12', 'a', 12), ev('SZ31', 'z', 31), ev('SA27', 'a', 27), ev('SY40', 'y', 40), ev('SA36', 'a', 36)]],
      right: [[ev('TA10', 'a', 10), ev('TZ30', 'z', 30), ev('TQ32', 'q', 32), ev('TA24', 'a', 24), ev('TA26', 'a', 26)]],
    };
    const { run, results: got, late } = await small({ retention: 5, lateness: 5, type: 'left' }, input, ZERO);
    assert.deepEqual(got, ['SA12→TA10@12', 'SA27→TA10@27', 'SZ31→TZ30@31', 'SA36→TA26@36', 'SY40→null@40']);
    assert.deepEqual(late, ['table:TA24']);
    assert.deepEqual(run.late[0]!.value, { side: 'table', event: ev('TA24', 'a', 24) });
    assert.deepEqual([run.stats.in, run.stats.processed, run.stats.late], [10, 9, 1]);
    assert.deepEqual(got, results(asOfReference(dispatchOrder(input, ZERO), { retention: 5, lateness: 5, type: 'left' }).out as Written[]));
  });

  it('sends a stream event with t + lateness < W to the late output as side stream', async () => {
    // TZ20 then X21 make W = 20: S17 (17 + 3 = 20) is joined at once, S16 is late.
    const input = { left: [[ev('X21', 'x', 21), ev('S17', 'a', 17), ev('S16', 'a', 16)]], right: [[ev('T1', 'a', 1), ev('TZ20', 'z', 20), ev('TZ30', 'z', 30)]] };
    const { results: got, late } = await small({ lateness: 3 }, input, ZERO);
    assert.deepEqual(got, ['S17→T1@17']);
    assert.deepEqual(late, ['stream:S16']);
  });

  it('keeps the versions a due result needs when the watermark jumps past retention (a partition ending)', async () => {
    // retention 5: S5 waits (W = −∞: the second stream partition has no event yet); X100 makes
    // W = 100 at once. S5's version is T1, though 1 < 100 − 5 by then.
    const input = { left: [[ev('S5', 'a', 5)], [ev('X100', 'x', 100)]], right: [[ev('T1', 'a', 1, 1), ev('T8', 'a', 8, 2)]] };
    const { results: got } = await small({ retention: 5, type: 'left' }, input, ZERO);
    assert.deepEqual(got, ['S5→T1@5', 'X100→null@100']);
  });

  it('emits results due at the same watermark by time, then arrival', async () => {
    const input = { left: [[ev('S9', 'a', 9), ev('S3', 'b', 3), ev('S3c', 'c', 3), ev('S1', 'a', 1)]], right: [[ev('T0', 'a', 0), ev('TB', 'b', 0), ev('TC', 'c', 0)]] };
    assert.deepEqual((await small({}, input)).results, ['S1→T0@1', 'S3→TB@3', 'S3c→TC@3', 'S9→T0@9']);
  });

  it('refuses lateness greater than retention when the topology is built', async () => {
    const topology = twoSided('as-of-bad', ZERO, (stream, table, sink) => stream.pipe(asOfJoin(table, { retention: 5, lateness: 6 }), sink('out')));
    await assert.rejects(runJoin(topology, { left: [[]], right: [[]] }, { record: ['out'] }), (err: unknown) => err instanceof RtmlError && /lateness/.test(err.message));
  });
});

describe('as-of join and windows after it', () => {
  for (const spec of [CASES[1]!.spec, CASES[3]!.spec]) {
    it(`a window after a ${spec.type} as-of join with lateness ${spec.lateness} counts every result: none is late downstream`, async () => {
      const topology = twoSided('as-of-windowed', OO, (stream, table, sink) =>
        stream.pipe(
          asOfJoin(table, { ...(spec.retention < Infinity ? { retention: spec.retention } : {}), lateness: spec.lateness, type: spec.type, late: 'late' }),
          keyBy('key'),
          window(tumbling(5), { late: 'late2' }),
          aggregate({ n: count() }),
          sink('counts'),
        ),
      );
      for (const seed of SEEDS) {
        const input = random(seed);
        const expected = asOfReference(dispatchOrder(input, OO), spec);
        const run = await runJoin(topology, input, { record: ['counts', 'late', 'late2'], batchSize: 4 });
        const n = new Map<string, number>();
        for (const r of expected.out) n.set(`${String(r.key)}@${Math.floor(r.time / 5) * 5}`, (n.get(`${String(r.key)}@${Math.floor(r.time / 5) * 5}`) ?? 0) + 1);
        assert.deepEqual(run.sinks.late2, [], `seed ${seed}: nothing late after the join`);
        assert.deepEqual(
          run.sinks.counts!.map((w) => `${String(w.value.key)}@${String(w.value.window_start)}:${String(w.value.n)}`).sort(),
          [...n].map(([id, c]) => `${id}:${c}`).sort(),
          `seed ${seed}`,
        );
      }
    });
  }
});
