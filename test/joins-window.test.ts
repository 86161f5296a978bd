import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { map, merge, type Observable } from 'rxjs';
import { aggregate, avg, coGroup, count, defineTopology, hopping, keyBy, RtmlError, session, sum, tumbling, window, windowJoin, type WindowSpec } from '../engine/index.ts';
import {
  assertLateAndStats,
  assertLike,
  canon,
  coGroupReference,
  dispatchOrder,
  ev,
  eventCount,
  nullIdentity,
  randomInput,
  row,
  runJoin,
  sorted,
  twoSided,
  windowJoinReference,
  type Ev,
  type OutOfOrder,
  type Step,
  type TwoSides,
  type Written,
} from './support/joins.ts';

const OO: OutOfOrder = { left: 3, right: 5 };
const ZERO: OutOfOrder = { left: 0, right: 0 };
/** Dense input for time windows; sparse (more keys, longer steps) so that sessions also end. */
const dense = (seed: number) => randomInput(seed, { keys: 3, step: 2, events: [25, 60], outOfOrder: OO, beyond: 0.15, reach: 30 });
const sparse = (seed: number) => randomInput(seed, { keys: 5, step: 4, events: [25, 60], outOfOrder: OO, beyond: 0.15, reach: 30 });
const SEEDS = [1, 2, 3, 4];

const SPECS: { name: string; spec: WindowSpec; input: (seed: number) => TwoSides }[] = [
  { name: 'tumbling(10)', spec: tumbling(10), input: dense },
  { name: 'hopping(10, 4)', spec: hopping(10, 4), input: dense },
  { name: 'session(3)', spec: session(3), input: sparse },
];

function windowJoined(spec: WindowSpec, lateness: number, type: 'inner' | 'left', oo = OO) {
  return twoSided('window-join', oo, (left, right, sink) => left.pipe(windowJoin(right, spec, { lateness, type, late: 'late' }), sink('out')));
}

const bytes = (written: Written[]) => written.map((w) => `${JSON.stringify(w.raw)} ${String(w.key)} ${w.time}`);
const isNull = (w: Pick<Written, 'value'>) => w.value.right === null;

describe('window join against the brute-force reference', () => {
  for (const { name, spec, input } of SPECS) {
    for (const type of ['inner', 'left'] as const) {
      it(`${name} ${type}, lateness 0: results, late outputs and counts equal the reference's`, async () => {
        let late = 0;
        for (const seed of SEEDS) {
          const events = input(seed);
          const expected = windowJoinReference(dispatchOrder(events, OO), spec, 0, type);
          const run = await runJoin(windowJoined(spec, 0, type), events, { batchSize: 1 + (seed % 5) });
          assertLike(run, expected, eventCount(events), `seed ${seed}`);
          assert.ok(expected.pairs.length > 0, 'the input has pairs');
          if (type === 'left') assert.ok(expected.nulls.length > 0, 'the input has left events without rights');
          late += expected.late.length;
        }
        assert.ok(late > 0, 'the inputs have late events');
      });

      it(`${name} ${type}, lateness 6: every pair once (allowed-late ones too), null rows as the contract pins them`, async () => {
        for (const seed of SEEDS) {
          const events = input(seed);
          const expected = windowJoinReference(dispatchOrder(events, OO), spec, 6, type);
          const run = await runJoin(windowJoined(spec, 6, type), events, { batchSize: 1 + (seed % 5) });
          assert.deepEqual(sorted(run.out.filter((w) => !isNull(w)).map(row)), sorted(expected.pairs.map(row)), `seed ${seed}: pairs`);
          const nulls = run.out.filter(isNull).map((w) => nullIdentity(spec, w.value.key, w.value.window_start, (w.value.left as Ev).id));
          assert.equal(new Set(nulls).size, nulls.length, `seed ${seed}: a left event's null row is emitted once per window`);
          const allowed = new Set(expected.allowedNulls);
          for (const id of nulls) assert.ok(allowed.has(id), `seed ${seed}: null row ${id} is not of an accepted left event of that window`);
          const got = new Set(nulls);
          for (const id of expected.requiredNulls) assert.ok(got.has(id), `seed ${seed}: no null row for ${id}, whose window has no right`);
          for (const w of run.out) assert.equal(w.time, (w.value.window_end as number) - 1);
          assertLateAndStats(run, expected.late, eventCount(events), `seed ${seed}`);
        }
      });
    }
  }

  it('gives byte-identical output sequences at batch sizes 1, 3, 7 and 1000', async () => {
    for (const { spec, input } of SPECS) {
      for (const lateness of [0, 6]) {
        const events = input(11);
        const runs = [];
        for (const batchSize of [1, 3, 7, 1000]) runs.push(await runJoin(windowJoined(spec, lateness, 'left'), events, { batchSize }));
        const [first, ...rest] = runs;
        assert.ok(first!.out.length > 0 && first!.late.length > 0);
        for (const run of rest) {
          assert.deepEqual(bytes(run.out), bytes(first!.out));
          assert.deepEqual(bytes(run.late), bytes(first!.late));
        }
      }
    }
  });

  it('left join, lateness 0: each accepted left event of a window comes out once unmatched or matched with every right of the window, never both', async () => {
    for (const { spec, input } of SPECS) {
      for (const seed of SEEDS) {
        const events = input(seed);
        const expected = windowJoinReference(dispatchOrder(events, OO), spec, 0, 'left');
        const run = await runJoin(windowJoined(spec, 0, 'left'), events);
        const perWindow = new Map<string, { nulls: number; pairs: number }>();
        for (const w of run.out) {
          const id = nullIdentity(spec, w.value.key, w.value.window_start, (w.value.left as Ev).id);
          const c = perWindow.get(id) ?? { nulls: 0, pairs: 0 };
          if (isNull(w)) c.nulls++;
          else c.pairs++;
          perWindow.set(id, c);
        }
        for (const id of expected.allowedNulls) {
          const c = perWindow.get(id) ?? { nulls: 0, pairs: 0 };
          assert.ok((c.nulls === 1 && c.pairs === 0) || (c.nulls === 0 && c.pairs >= 1), `seed ${seed}: ${id}: ${c.nulls} null rows, ${c.pairs} pairs`);
        }
        assert.equal(perWindow.size, expected.allowedNulls.length, `seed ${seed}: only accepted left events of their windows come out`);
      }
    }
  });
});

const aggregates = { left: { ln: count(), lsum: sum('v') }, right: { rn: count(), rsum: sum('v') } };
const countsAndSums = (ls: Ev[], rs: Ev[]) => ({ ln: ls.length, lsum: ls.reduce((a, e) => a + e.v, 0), rn: rs.length, rsum: rs.reduce((a, e) => a + e.v, 0) });

function coGrouped(spec: WindowSpec, lateness: number, emit: 'final' | 'update') {
  return twoSided('cogroup', OO, (left, right, sink) => left.pipe(coGroup(right, spec, aggregates, { lateness, emit, late: 'late' }), sink('out')));
}

describe('coGroup against the brute-force reference', () => {
  for (const { name, spec, input } of SPECS) {
    for (const [lateness, emit] of [[0, 'final'], [6, 'final'], [4, 'update']] as const) {
      it(`${name}, lateness ${lateness}, emit ${emit}: one record per window (and its updates) with count and sum of each side`, async () => {
        let emptySide = 0;
        for (const seed of SEEDS) {
          const events = input(seed);
          const expected = coGroupReference(dispatchOrder(events, OO), spec, lateness, emit, countsAndSums);
          const run = await runJoin(coGrouped(spec, lateness, emit), events, { batchSize: 1 + (seed % 5) });
          assertLike(run, expected, eventCount(events), `seed ${seed}`);
          emptySide += expected.out.filter((o) => o.value.ln === 0 || o.value.rn === 0).length;
        }
        assert.ok(emptySide > 0, 'some windows have events of one side only');
      });
    }
  }

  it('gives byte-identical output sequences at batch sizes 1, 3, 7 and 1000', async () => {
    for (const { spec, input } of SPECS) {
      const events = input(12);
      const runs = [];
      for (const batchSize of [1, 3, 7, 1000]) runs.push(await runJoin(coGrouped(spec, 6, 'final'), events, { batchSize }));
      const [first, ...rest] = runs;
      for (const run of rest) {
        assert.deepEqual(bytes(run.out), bytes(first!.out));
        assert.deepEqual(bytes(run.late), bytes(first!.late));
      }
    }
  });
});

/** Results as `left+right@start-end` strings, in emission order. */
function pairs(written: Written[]): string[] {
  return written.map((w) => `${(w.value.left as Ev).id}+${(w.value.right as Ev | null)?.id ?? 'null'}@${String(w.value.window_start)}-${String(w.value.window_end)}`);
}

describe('window join rules', () => {
  it("emits a window's pairs when it fires, lefts in arrival order each with the rights in arrival order, at window_end − 1", async () => {
    const input = { left: [[ev('L1', 'a', 1), ev('L3', 'a', 3), ev('B4', 'b', 4)]], right: [[ev('R2', 'a', 2), ev('R5', 'a', 5), ev('X15', 'x', 15)]] };
    const run = await runJoin(windowJoined(tumbling(10), 0, 'inner'), input);
    assert.deepEqual(pairs(run.out), ['L1+R2@0-10', 'L1+R5@0-10', 'L3+R2@0-10', 'L3+R5@0-10']);
    assert.deepEqual(run.out.map((w) => [w.key, w.time]), Array(4).fill(['a', 9]));
    assert.deepEqual(run.out[0]!.value, { key: 'a', window_start: 0, window_end: 10, left: ev('L1', 'a', 1), right: ev('R2', 'a', 2) });
  });

  it('left join: also emits each left event of a window without rights, with right null', async () => {
    const input = { left: [[ev('L1', 'a', 1), ev('L12', 'a', 12), ev('B4', 'b', 4)]], right: [[ev('R2', 'a', 2)]] };
    const inner = await runJoin(windowJoined(tumbling(10), 0, 'inner'), input);
    const left = await runJoin(windowJoined(tumbling(10), 0, 'left'), input);
    assert.deepEqual(pairs(inner.out), ['L1+R2@0-10']);
    assert.deepEqual(sorted(pairs(left.out)), sorted(['L1+R2@0-10', 'B4+null@0-10', 'L12+null@10-20']));
  });

  it('puts a pair in each hopping window both events share', async () => {
    const run = await runJoin(windowJoined(hopping(10, 5), 0, 'inner'), { left: [[ev('L7', 'a', 7)]], right: [[ev('R8', 'a', 8), ev('R12', 'a', 12)]] });
    assert.deepEqual(sorted(pairs(run.out)), sorted(['L7+R8@0-10', 'L7+R8@5-15', 'L7+R12@5-15']));
  });

  it('an allowed-late event into a fired window emits at once only the pairs it adds', async () => {
    // tumbling(10), lateness 10: Z14 makes W = 13 and a@0-10 fires with L1+R2; then L4 (W = 13) and
    // R6 (W = 16, after Y16) come within lateness (10 + 10 > 16): each emits its own pairs at once, none twice.
    const seen: string[] = [];
    const topology = defineTopology('window-join-tapped', ({ source, sink }) => {
      const tap = (e: Ev) => (seen.push(`in:${e.id}`), e);
      const left = source<Ev>('left', { time: 't' }).pipe(map(tap), keyBy('k'));
      const right = source<Ev>('right', { time: 't' }).pipe(map(tap), keyBy('k'));
      return left.pipe(
        windowJoin(right, tumbling(10), { lateness: 10 }),
        map((r) => (seen.push(`out:${r.left.id}+${r.right.id}`), r)),
        sink('out'),
      );
    });
    const input = { left: [[ev('L1', 'a', 1), ev('Z14', 'z', 14), ev('L4', 'a', 4)]], right: [[ev('R2', 'a', 2), ev('Z13', 'z', 13), ev('Y16', 'y', 16), ev('R6', 'a', 6)]] };
    await runJoin(topology, input, { record: ['out'] });
    assert.deepEqual(seen, ['in:L1', 'in:R2', 'in:Z13', 'in:Z14', 'out:L1+R2', 'in:L4', 'out:L4+R2', 'in:Y16', 'in:R6', 'out:L1+R6', 'out:L4+R6', 'out:Z14+Z13']);
  });

  it('cuts sessions from both sides together: an event of either side opens, extends or bridges them', async () => {
    // session(5): L0 and R3 make a@0-8; R9 and L12 a@9-17 (R9's [9, 14) touches L12's [12, 17)); R20 is alone.
    const input = { left: [[ev('L0', 'a', 0), ev('L12', 'a', 12)]], right: [[ev('R3', 'a', 3), ev('R9', 'a', 9), ev('R20', 'a', 20)]] };
    const inner = await runJoin(windowJoined(session(5), 0, 'inner'), input);
    assert.deepEqual(pairs(inner.out), ['L0+R3@0-8', 'L12+R9@9-17']);
    const onlyLeft = await runJoin(windowJoined(session(5), 0, 'left'), { left: [[ev('L0', 'a', 0), ev('L4', 'a', 4), ev('L20', 'a', 20)]], right: [[ev('R22', 'a', 22)]] });
    assert.deepEqual(pairs(onlyLeft.out), ['L0+null@0-9', 'L4+null@0-9', 'L20+R22@20-27']);
  });

  it('sessions merged by an allowed-late event emit only the pairs the merge adds', async () => {
    // session(5), lateness 20: a@0-7 {L0, R2} fires at W = 10 (after RZ), a@10-17 {L10, R12} at W = 21
    // (after LZ); at W = 24 (after RY) R6 bridges them into a@0-17, already due: it emits L0+R6,
    // L0+R12, L10+R2 and L10+R6 at once, not L0+R2 or L10+R12 again.
    const input = { left: [[ev('L0', 'a', 0), ev('L10', 'a', 10), ev('LZ', 'z', 22)]], right: [[ev('R2', 'a', 2), ev('R12', 'a', 12), ev('RZ', 'z', 21), ev('RY', 'y', 24), ev('R6', 'a', 6)]] };
    const run = await runJoin(windowJoined(session(5), 20, 'inner', ZERO), input);
    const got = pairs(run.out);
    assert.deepEqual(got.slice(0, 2), ['L0+R2@0-7', 'L10+R12@10-17']);
    assert.deepEqual(sorted(got.slice(2, 6)), sorted(['L0+R6@0-17', 'L0+R12@0-17', 'L10+R2@0-17', 'L10+R6@0-17']));
    assert.deepEqual(got.slice(6), ['LZ+RZ@21-27']);
    const expected = windowJoinReference(dispatchOrder(input, ZERO), session(5), 20, 'inner');
    assert.deepEqual(sorted(run.out.map(row)), sorted(expected.out.map(row)));
  });

  it('sends an event late for every one of its windows to the late output with its side; one late for some windows only joins the others', async () => {
    // hopping(10, 5), lateness 0: Y20 then X21 make W = 20. L16 is in 10-20 (freed) and 15-25 (kept): not late.
    // Y24 makes W = 24: R12 is in 5-15 and 10-20 (both freed): late; R17 joins L16 in 15-25.
    const input = { left: [[ev('X21', 'x', 21), ev('L16', 'a', 16)]], right: [[ev('Y20', 'y', 20), ev('Y24', 'y', 24), ev('R12', 'a', 12), ev('R17', 'a', 17)]] };
    const run = await runJoin(windowJoined(hopping(10, 5), 0, 'inner', ZERO), input);
    assert.deepEqual(run.late.map((w) => w.value), [{ side: 'right', event: ev('R12', 'a', 12) }]);
    assert.deepEqual(pairs(run.out), ['L16+R17@15-25']);
    assert.deepEqual([run.stats.in, run.stats.processed, run.stats.late], [6, 5, 1]);
  });
});

describe('coGroup rules', () => {
  it("aggregates each side of a key's window; a side without events gives its empty values (count 0, avg null)", async () => {
    const topology = twoSided('cogroup-empty', { left: 0, right: 0 }, (left, right, sink) =>
      left.pipe(coGroup(right, tumbling(10), { left: { ln: count(), lavg: avg('v') }, right: { rn: count(), ravg: avg('v') } }), sink('out')),
    );
    const input = { left: [[ev('A1', 'a', 1, 2), ev('A3', 'a', 3, 6), ev('B4', 'b', 4, 5)]], right: [[ev('RA2', 'a', 2, 7), ev('RC6', 'c', 6, 1)]] };
    const run = await runJoin(topology, input, { record: ['out'] });
    const byKey = Object.fromEntries(run.out.map((w) => [String(w.key), w.raw]));
    assert.deepEqual(byKey, {
      a: { key: 'a', window_start: 0, window_end: 10, ln: 2, lavg: 4, rn: 1, ravg: 7 },
      b: { key: 'b', window_start: 0, window_end: 10, ln: 1, lavg: 5, rn: 0, ravg: null },
      c: { key: 'c', window_start: 0, window_end: 10, ln: 0, lavg: null, rn: 1, ravg: 1 },
    });
    assert.deepEqual(run.out.map((w) => w.time), [9, 9, 9]);
  });

  it('refuses the same aggregate name on both sides when the topology is built', async () => {
    const topology = twoSided('cogroup-names', { left: 0, right: 0 }, (left, right, sink) =>
      left.pipe(coGroup(right, tumbling(10), { left: { n: count() }, right: { n: count() } }), sink('out')),
    );
    await assert.rejects(runJoin(topology, { left: [[]], right: [[]] }, { record: ['out'] }), (err: unknown) => err instanceof RtmlError && /\bn\b/.test(err.message));
  });

  it('merges sessions of both sides and emits their sums', async () => {
    const topology = twoSided('cogroup-sessions', { left: 0, right: 0 }, (left, right, sink) => left.pipe(coGroup(right, session(5), aggregates), sink('out')));
    const input = { left: [[ev('L0', 'a', 0, 1), ev('L12', 'a', 12, 2)]], right: [[ev('R3', 'a', 3, 10), ev('R9', 'a', 9, 20), ev('R30', 'a', 30, 40)]] };
    const run = await runJoin(topology, input, { record: ['out'] });
    assert.deepEqual(
      run.out.map((w) => w.value),
      [
        { key: 'a', window_start: 0, window_end: 8, ln: 1, lsum: 1, rn: 1, rsum: 10 },
        { key: 'a', window_start: 9, window_end: 17, ln: 1, lsum: 2, rn: 1, rsum: 20 },
        { key: 'a', window_start: 30, window_end: 35, ln: 0, lsum: 0, rn: 1, rsum: 40 },
      ],
    );
  });
});

describe('windows after a window join or coGroup', () => {
  for (const { name, spec, input } of SPECS) {
    for (const kind of ['windowJoin', 'coGroup'] as const) {
      it(`a window after a ${name} ${kind === 'windowJoin' ? 'left window join' : 'coGroup'} with lateness 6 counts every result: none is late downstream`, async () => {
        const topology = twoSided('window-join-windowed', OO, (left, right, sink) => {
          const results: Observable<{ key: string | number }> =
            kind === 'windowJoin' ? left.pipe(windowJoin(right, spec, { lateness: 6, type: 'left', late: 'late' })) : left.pipe(coGroup(right, spec, aggregates, { lateness: 6, late: 'late' }));
          return results.pipe(sink('results'), keyBy((r) => r.key), window(tumbling(7), { late: 'late2' }), aggregate({ n: count() }), sink('counts'));
        });
        for (const seed of SEEDS) {
          const events = input(seed);
          const run = await runJoin(topology, events, { record: ['results', 'counts', 'late', 'late2'], batchSize: 3 });
          const steps = dispatchOrder(events, OO);
          if (kind === 'windowJoin') {
            assert.deepEqual(sorted(run.sinks.results!.filter((w) => !isNull(w)).map(row)), sorted(windowJoinReference(steps, spec, 6, 'left').pairs.map(row)), `seed ${seed}: pairs`);
          } else {
            assert.deepEqual(sorted(run.sinks.results!.map(row)), sorted(coGroupReference(steps, spec, 6, 'final', countsAndSums).out.map(row)), `seed ${seed}: coGroup records`);
          }
          assert.deepEqual(run.sinks.late2!.map((w) => row(w)), [], `seed ${seed}: nothing late after the join`);
          assert.deepEqual(countsOf(run.sinks.counts!), bucketed(run.sinks.results!, 7), `seed ${seed}: every result counted downstream`);
        }
      });
    }
  }
});

/** A downstream count per window as `key@start:n`. */
function countsOf(written: Written[]): string[] {
  return written.map((w) => `${String(w.value.key)}@${String(w.value.window_start)}:${String(w.value.n)}`).sort();
}

/** Results counted per key and tumbling window of `size` by their event times, as `key@start:n`. */
function bucketed(results: Pick<Written, 'key' | 'time'>[], size: number): string[] {
  const n = new Map<string, number>();
  for (const r of results) {
    const id = `${String(r.key)}@${Math.floor(r.time / size) * size}`;
    n.set(id, (n.get(id) ?? 0) + 1);
  }
  return [...n].map(([id, c]) => `${id}:${c}`).sort();
}

describe('the reference', () => {
  // The references share the simulation of dispatch order, watermark and windows; these check it
  // against the engine's own windows (window() + aggregate() over both sources merged).
  function merged(spec: WindowSpec, lateness: number, emit: 'final' | 'update', seen: string[]) {
    return defineTopology('reference', ({ source, sink }) => {
      const left = source<Ev>('left', { time: 't', outOfOrder: OO.left }).pipe(map((e) => (seen.push(e.id), e)));
      const right = source<Ev>('right', { time: 't', outOfOrder: OO.right }).pipe(map((e) => (seen.push(e.id), e)));
      return merge(left, right).pipe(keyBy('k'), window(spec, { lateness, late: 'late', emit }), aggregate({ n: count(), s: sum('v') }), sink('out'));
    });
  }
  const cases: [string, WindowSpec, number][] = [
    ['tumbling', tumbling(10), 0],
    ['tumbling, lateness 6', tumbling(10), 6],
    ['hopping, lateness 3', hopping(10, 4), 3],
    ['session', session(3), 0],
    ['session, lateness 5', session(3), 5],
  ];
  for (const [name, spec, lateness] of cases) {
    it(`simulates the dispatch order, the watermark and ${name} windows as the engine runs them`, async () => {
      for (const emit of ['final', 'update'] as const) {
        for (const seed of SEEDS) {
          const events = spec.kind === 'session' ? sparse(seed) : dense(seed);
          const seen: string[] = [];
          const run = await runJoin(merged(spec, lateness, emit, seen), events, { batchSize: 1 + (seed % 4) });
          const steps = dispatchOrder(events, OO);
          assert.deepEqual(seen, steps.filter((s): s is Extract<Step, { kind: 'event' }> => s.kind === 'event').map((s) => s.event.id));
          const expected = coGroupReference(steps, spec, lateness, emit, (ls, rs) => ({ n: ls.length + rs.length, s: [...ls, ...rs].reduce((a, e) => a + e.v, 0) }));
          assert.deepEqual(sorted(run.out.map(row)), sorted(expected.out.map(row)));
          assert.deepEqual(sorted(run.late.map((w) => canon(w.value))), sorted(expected.late.map((l) => canon(l.event))));
          assert.ok(expected.late.length > 0, 'some events are late');
        }
      }
    });
  }
});
