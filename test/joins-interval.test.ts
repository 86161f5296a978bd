import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { filter, map } from 'rxjs';
import { aggregate, count, defineTopology, intervalJoin, keyBy, RtmlError, tumbling, window, type IntervalBound } from '../engine/index.ts';
import {
  acceptedOf,
  assertLike,
  dispatchOrder,
  ev,
  eventCount,
  intervalReference,
  randomInput,
  row,
  runJoin,
  twoSided,
  type Ev,
  type IntervalSpec,
  type OutOfOrder,
  type TwoSides,
  type Written,
} from './support/joins.ts';

const OO: OutOfOrder = { left: 3, right: 5 };
const random = (seed: number) => randomInput(seed, { keys: 3, step: 2, events: [25, 70], outOfOrder: OO, beyond: 0.15, reach: 25 });
const SEEDS = [1, 2, 3, 4, 5];

const CASES: { name: string; spec: IntervalSpec }[] = [
  { name: 'inner [-3, 4]', spec: { lower: -3, upper: 4, lateness: 0, type: 'inner' } },
  { name: 'left [-3, 4]', spec: { lower: -3, upper: 4, lateness: 0, type: 'left' } },
  { name: 'left [-3, 4] lateness 2', spec: { lower: -3, upper: 4, lateness: 2, type: 'left' } },
  { name: 'inner [0, 0] lateness 1', spec: { lower: 0, upper: 0, lateness: 1, type: 'inner' } },
  { name: 'left [-6, -2] lateness 1', spec: { lower: -6, upper: -2, lateness: 1, type: 'left' } },
  { name: 'left [2, 7]', spec: { lower: 2, upper: 7, lateness: 0, type: 'left' } },
];

function joined(spec: IntervalSpec, between: readonly [IntervalBound, IntervalBound] = [spec.lower, spec.upper], oo = OO) {
  return twoSided('interval', oo, (left, right, sink) =>
    left.pipe(intervalJoin(right, { between, lateness: spec.lateness, type: spec.type, late: 'late' }), sink('out')),
  );
}

/** Each written result as bytes: its JSON as written, key and time. */
const bytes = (written: Written[]) => written.map((w) => `${JSON.stringify(w.raw)} ${String(w.key)} ${w.time}`);

describe('interval join against the brute-force reference', () => {
  for (const { name, spec } of CASES) {
    it(`${name}: results, late outputs and counts equal the reference's, in the contract's order`, async () => {
      let late = 0;
      let nulls = 0;
      for (const seed of SEEDS) {
        const input = random(seed);
        const expected = intervalReference(dispatchOrder(input, OO), spec);
        const run = await runJoin(joined(spec), input, { batchSize: 1 + (seed % 5) });
        assertLike(run, expected, eventCount(input), `seed ${seed}`);
        // Pairs by the arrival of their second event, partners by time then arrival; unmatched rows by time then arrival.
        assert.deepEqual(run.out.map(row), expected.out.map(row), `seed ${seed}: order`);
        late += expected.late.length;
        nulls += expected.out.filter((o) => o.value.right === null).length;
      }
      assert.ok(late > 0, 'the inputs have late events');
      if (spec.type === 'left') assert.ok(nulls > 0, 'the inputs have unmatched left events');
    });
  }

  it('gives byte-identical output sequences at batch sizes 1, 3, 7 and 1000', async () => {
    for (const { spec } of CASES) {
      for (const seed of [11, 12]) {
        const input = random(seed);
        const runs = [];
        for (const batchSize of [1, 3, 7, 1000]) runs.push(await runJoin(joined(spec), input, { batchSize }));
        const [first, ...rest] = runs;
        assert.ok(first!.out.length > 0 && first!.late.length > 0);
        for (const run of rest) {
          assert.deepEqual(bytes(run.out), bytes(first!.out));
          assert.deepEqual(bytes(run.late), bytes(first!.late));
        }
      }
    }
  });

  it('left join: every accepted left event comes out exactly once unmatched or at least once matched, never both; late ones never', async () => {
    for (const { spec } of CASES.filter((c) => c.spec.type === 'left')) {
      for (const seed of SEEDS) {
        const input = random(seed);
        const run = await runJoin(joined(spec), input);
        const late = run.late.map((w) => w.value as { side: string; event: Ev });
        const accepted = acceptedOf(dispatchOrder(input, OO), 'left', late);
        const unmatched = new Map<string, number>();
        const matched = new Map<string, number>();
        for (const w of run.out) {
          const { left, right } = w.value as { left: Ev; right: Ev | null };
          const counts = right === null ? unmatched : matched;
          counts.set(left.id, (counts.get(left.id) ?? 0) + 1);
        }
        for (const l of accepted) {
          const u = unmatched.get(l.id) ?? 0;
          const m = matched.get(l.id) ?? 0;
          assert.ok((u === 1 && m === 0) || (u === 0 && m >= 1), `seed ${seed}: ${l.id} unmatched ${u} times, matched ${m} times`);
        }
        const acceptedIds = new Set(accepted.map((l) => l.id));
        for (const id of [...unmatched.keys(), ...matched.keys()]) assert.ok(acceptedIds.has(id), `${id} is late, yet in the results`);
      }
    }
  });

  it('takes bounds as duration strings, negative ones too', async () => {
    const spec: IntervalSpec = { lower: -3, upper: 4, lateness: 0, type: 'left' };
    const input = random(21);
    const numbers = await runJoin(joined(spec), input);
    const strings = await runJoin(joined(spec, ['-3ms', '4ms']), input);
    assert.deepEqual(bytes(strings.out), bytes(numbers.out));
    const seconds = (t: number) => t * 1000;
    const scaled: TwoSides = { left: input.left.map((p) => p.map((e) => ({ ...e, t: seconds(e.t) }))), right: input.right.map((p) => p.map((e) => ({ ...e, t: seconds(e.t) }))) };
    const oo = { left: seconds(OO.left), right: seconds(OO.right) };
    const inSeconds = await runJoin(joined(spec, ['-3s', '4s'], oo), scaled);
    assert.deepEqual(inSeconds.out.map((w) => (w.value as { left: Ev }).left.id), numbers.out.map((w) => (w.value as { left: Ev }).left.id));
    assert.equal(inSeconds.out.length, numbers.out.length);
  });
});

/** Runs a small case with both sources at `oo`, returning the results as `left+right@time` strings. */
async function small(spec: Partial<IntervalSpec> & { between: [number, number] }, input: TwoSides, oo: OutOfOrder = { left: 100, right: 100 }) {
  const topology = twoSided('interval-small', oo, (left, right, sink) =>
    left.pipe(intervalJoin(right, { between: spec.between, lateness: spec.lateness ?? 0, type: spec.type ?? 'inner', late: 'late' }), sink('out')),
  );
  const run = await runJoin(topology, input);
  const results = run.out.map((w) => {
    const { key, left, right } = w.value as { key: string; left: Ev; right: Ev | null };
    assert.equal(w.key, key, 'results travel with their key');
    return `${left.id}+${right?.id ?? 'null'}@${w.time}`;
  });
  return { run, results, late: run.late.map((w) => `${(w.value as { side: string }).side}:${(w.value as { event: Ev }).event.id}`) };
}

/** A topology that records, in order, each input event it reads and each result the join emits. */
function tapped(between: [number, number], type: 'inner' | 'left', lateness: number, oo: OutOfOrder, seen: string[]) {
  return defineTopology('interval-tapped', ({ source, sink }) => {
    const tap = (e: Ev) => (seen.push(`in:${e.id}`), e);
    const left = source<Ev>('left', { time: 't', outOfOrder: oo.left }).pipe(map(tap), keyBy('k'));
    const right = source<Ev>('right', { time: 't', outOfOrder: oo.right }).pipe(map(tap), keyBy('k'));
    return left.pipe(
      intervalJoin(right, { between, type, lateness }),
      map((r) => (seen.push(`out:${r.left.id}+${r.right?.id ?? 'null'}`), r)),
      sink('out'),
    );
  });
}

describe('interval join rules', () => {
  it('joins pairs with lower ≤ r.t − l.t ≤ upper, both bounds inclusive', async () => {
    const { results } = await small({ between: [-3, 4] }, { left: [[ev('L10', 'a', 10)]], right: [[ev('R7', 'a', 7), ev('R6', 'a', 6), ev('R14', 'a', 14), ev('R15', 'a', 15), ev('B12', 'b', 12)]] });
    assert.deepEqual(results, ['L10+R7@10', 'L10+R14@14']);
  });

  it('emits a pair as soon as its second event arrives, at the later of their times', async () => {
    const seen: string[] = [];
    const out = await runJoin(tapped([0, 5], 'inner', 0, { left: 100, right: 100 }, seen), { left: [[ev('L10', 'a', 10)]], right: [[ev('R12', 'a', 12), ev('R30', 'a', 30)]] }, { record: ['out'] });
    assert.deepEqual(seen, ['in:L10', 'in:R12', 'out:L10+R12', 'in:R30']);
    assert.deepEqual(out.out.map((w) => w.time), [12]);
  });

  it('sends an event with t + lateness < W of either side to the late output, naming the side; t + lateness = W is not late', async () => {
    // Lateness 3. W = 20 once L21 has come (after R20): L17 (17 + 3 = 20) is kept, L16 is late;
    // then the left side has ended and R25 makes W = 25: R22 is kept, R21 is late.
    const input = { left: [[ev('L21', 'a', 21), ev('L17', 'a', 17), ev('L16', 'a', 16)]], right: [[ev('R20', 'a', 20), ev('R25', 'a', 25), ev('R22', 'a', 22), ev('R21', 'a', 21)]] };
    const { run, results, late } = await small({ between: [-1, 1], lateness: 3 }, input, { left: 0, right: 0 });
    assert.deepEqual(results, ['L21+R20@21', 'L21+R22@22']);
    assert.deepEqual(late, ['left:L16', 'right:R21']);
    assert.deepEqual(run.late.map((w) => w.value), [{ side: 'left', event: ev('L16', 'a', 16) }, { side: 'right', event: ev('R21', 'a', 21) }]);
    assert.deepEqual([run.stats.in, run.stats.processed, run.stats.late], [7, 5, 2]);
  });

  it('keeps a left event until W > l.t + upper + lateness: a right event at the bound still joins it', async () => {
    // The left side has ended after L10, so W follows the right side: 14 when R14b arrives.
    const { results, late } = await small({ between: [0, 4] }, { left: [[ev('L10', 'a', 10)]], right: [[ev('R14a', 'b', 14), ev('R14b', 'a', 14), ev('R15', 'b', 15), ev('R14c', 'a', 14)]] }, { left: 0, right: 0 });
    assert.deepEqual(results, ['L10+R14b@14']);
    assert.deepEqual(late, ['right:R14c']);
  });

  it('keeps a right event until W > r.t − lower + lateness: a left event at the lower bound still joins it', async () => {
    // between [-5, 0]: R10 pairs with left events at 10..15; W = 15 when L15 arrives.
    const { results } = await small({ between: [-5, 0] }, { left: [[ev('X15', 'x', 15), ev('L15', 'a', 15), ev('L16', 'a', 16)]], right: [[ev('R10', 'a', 10)]] }, { left: 0, right: 0 });
    assert.deepEqual(results, ['L15+R10@15']);
  });

  it('left join: emits an unmatched left event once, when W passes l.t + upper + lateness, at its own time', async () => {
    const seen: string[] = [];
    // between [0, 4], lateness 1: L10 is freed once W > 15, i.e. after B16 (the left side has ended).
    const input = { left: [[ev('L10', 'a', 10)]], right: [[ev('B12', 'b', 12), ev('B15', 'b', 15), ev('B16', 'b', 16), ev('B17', 'b', 17)]] };
    const run = await runJoin(tapped([0, 4], 'left', 1, { left: 0, right: 0 }, seen), input, { record: ['out'] });
    assert.deepEqual(seen, ['in:L10', 'in:B12', 'in:B15', 'in:B16', 'out:L10+null', 'in:B17']);
    assert.deepEqual(run.out.map((w) => [w.value, w.key, w.time]), [[{ key: 'a', left: ev('L10', 'a', 10), right: null }, 'a', 10]]);
  });

  it('left join: no unmatched row for a left event whose match arrives within lateness after l.t + upper', async () => {
    // between [0, 2], lateness 5: R12 arrives at W = 16 (12 + 5 ≥ 16, not late) and L10 is still kept (16 ≤ 17).
    const { results } = await small({ between: [0, 2], lateness: 5, type: 'left' }, { left: [[ev('L10', 'a', 10)]], right: [[ev('X16', 'x', 16), ev('R12', 'a', 12)]] }, { left: 0, right: 0 });
    assert.deepEqual(results, ['L10+R12@12']);
  });

  it('inner join emits pairs only', async () => {
    const { results } = await small({ between: [0, 2] }, { left: [[ev('L1', 'a', 1), ev('L5', 'a', 5)]], right: [[ev('R2', 'a', 2)]] });
    assert.deepEqual(results, ['L1+R2@2']);
  });

  it("emits one arriving event's partners by time, then arrival", async () => {
    const input = { left: [[ev('X20', 'x', 20), ev('L10', 'a', 10)]], right: [[ev('R12', 'a', 12), ev('R11a', 'a', 11), ev('R11b', 'a', 11)]] };
    const { results } = await small({ between: [0, 5] }, input);
    assert.deepEqual(results, ['L10+R11a@11', 'L10+R11b@11', 'L10+R12@12']);
  });

  it('emits unmatched left rows freed together by time, then arrival', async () => {
    const input = { left: [[ev('A10', 'a', 10), ev('B8', 'b', 8), ev('C8', 'c', 8)]], right: [[ev('Z50', 'z', 50)]] };
    const { results } = await small({ between: [0, 2], type: 'left' }, input);
    assert.deepEqual(results, ['B8+null@8', 'C8+null@8', 'A10+null@10']);
  });

  it('shapes results with select, which gets null for an unmatched left event', async () => {
    const topology = twoSided('interval-select', { left: 0, right: 0 }, (left, right, sink) =>
      left.pipe(intervalJoin(right, { between: [0, 2], type: 'left', select: (l: Ev, r: Ev | null) => ({ id: l.id, other: r === null ? null : r.id, sum: l.v + (r?.v ?? 0) }) }), sink('out')),
    );
    const run = await runJoin(topology, { left: [[ev('L1', 'a', 1, 5), ev('L2', 'b', 2, 7)]], right: [[ev('R3', 'a', 3, 4)]] }, { record: ['out'] });
    assert.deepEqual(run.out.map((w) => [w.value, w.key]), [[{ id: 'L1', other: 'R3', sum: 9 }, 'a'], [{ id: 'L2', other: null, sum: 7 }, 'b']]);
  });

  it('counts and drops late events when no late sink is bound, and says so', async () => {
    // R20, then L21 makes W = 20: L1 is late; R25 makes W = 25: R2 is late.
    const input = { left: [[ev('L21', 'a', 21), ev('L1', 'a', 1)]], right: [[ev('R20', 'a', 20), ev('R25', 'a', 25), ev('R2', 'a', 2)]] };
    const run = await runJoin(joined({ lower: 0, upper: 1, lateness: 0, type: 'inner' }, [0, 1], { left: 0, right: 0 }), input, { record: ['out'] });
    assert.deepEqual([run.stats.late, run.stats.lateDropped, run.stats.processed], [2, 2, 3]);
    assert.equal(run.warnings.length, 1);
    assert.match(run.warnings[0]!, /2 late event\(s\) dropped by interval\/\S+ \(late output 'late' is not bound/);
  });

  it('makes a dead letter downstream of the join the result’s, not the input event’s', async () => {
    const topology = twoSided('interval-dlq', { left: 0, right: 0 }, (left, right, sink) =>
      left.pipe(intervalJoin(right, { between: [0, 1] }), keyBy((r) => (r.left.v > 5 ? (undefined as unknown as string) : r.key)), sink('out')),
    );
    const run = await runJoin(topology, { left: [[ev('L1', 'a', 1, 9), ev('L3', 'a', 3, 1)]], right: [[ev('R1', 'a', 1), ev('R4', 'a', 4)]] }, { record: ['out'] });
    assert.equal(run.out.length, 1);
    assert.equal(run.dlq.length, 1);
    assert.equal(run.dlq[0]!.value.result, true);
    assert.deepEqual([run.stats.in, run.stats.processed, run.stats.deadLettered, run.stats.resultsDeadLettered], [4, 4, 0, 1]);
  });

  it('refuses between with lower > upper when the topology is built', async () => {
    const topology = twoSided('interval-bad', { left: 0, right: 0 }, (left, right, sink) => left.pipe(intervalJoin(right, { between: [5, 1] }), sink('out')));
    await assert.rejects(runJoin(topology, { left: [[]], right: [[]] }, { record: ['out'] }), (err: unknown) => err instanceof RtmlError && /between/.test(err.message));
  });
});

describe('interval join and windows after it', () => {
  for (const spec of [CASES[1]!.spec, CASES[2]!.spec, CASES[3]!.spec, CASES[4]!.spec]) {
    it(`a window after a ${spec.type} join [${spec.lower}, ${spec.upper}] lateness ${spec.lateness} counts every result and every unmatched row: none is late downstream`, async () => {
      const topology = twoSided('interval-windowed', OO, (left, right, sink) => {
        const results = left.pipe(intervalJoin(right, { between: [spec.lower, spec.upper], lateness: spec.lateness, type: spec.type, late: 'late' }));
        const counted = (stream: typeof results) => stream.pipe(keyBy('key'), window(tumbling(5), { late: 'late2' }), aggregate({ n: count() }));
        return [
          counted(results).pipe(sink('all')),
          counted(results.pipe(filter((r) => r.right === null))).pipe(sink('unmatched')),
        ];
      });
      for (const seed of SEEDS) {
        const input = random(seed);
        const expected = intervalReference(dispatchOrder(input, OO), spec);
        const run = await runJoin(topology, input, { record: ['all', 'unmatched', 'late', 'late2'], batchSize: 4 });
        const counts = (rows: typeof expected.out) => {
          const n = new Map<string, number>();
          for (const r of rows) {
            const id = `${String(r.key)}@${Math.floor(r.time / 5) * 5}`;
            n.set(id, (n.get(id) ?? 0) + 1);
          }
          return [...n].map(([id, c]) => `${id}:${c}`).sort();
        };
        const got = (name: string) => run.sinks[name]!.map((w) => `${String(w.value.key)}@${String(w.value.window_start)}:${String(w.value.n)}`).sort();
        assert.deepEqual(run.sinks.late2, [], `seed ${seed}: nothing late after the join`);
        assert.deepEqual(got('all'), counts(expected.out), `seed ${seed}: all results`);
        assert.deepEqual(got('unmatched'), counts(expected.out.filter((r) => r.value.right === null)), `seed ${seed}: unmatched rows`);
        assert.equal(run.stats.late, expected.late.length);
      }
    });
  }
});
