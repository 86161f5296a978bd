import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { deserialize, serialize } from 'node:v8';
import { aggregate, defineTopology, hopping, keyBy, session, tumbling, window, type WindowSpec } from '../engine/index.ts';
import { accuracy, calibration, logLoss, precisionRecall, rocAuc, type AccuracyResult, type CalibrationBin } from '../engine/monitoring/accuracy.ts';
import { runOn } from './support/run.ts';

/** A case of test/fixtures/accuracy.json (scripts/accuracy-fixtures.py: numpy and scipy; null for NaN). */
interface Case {
  name: string;
  threshold: number;
  bins: number;
  labels: number[];
  scores: number[];
  expected: {
    auc: number | null;
    logLoss: number | null;
    precision: number | null;
    recall: number | null;
    truePositives: number;
    falsePositives: number;
    falseNegatives: number;
    trueNegatives: number;
    calibration: { bins: { lower: number; upper: number; n: number; meanScore: number | null; positiveRate: number | null }[]; ece: number | null };
  };
}

const { cases } = JSON.parse(readFileSync(new URL('./fixtures/accuracy.json', import.meta.url), 'utf8')) as { cases: Case[] };
const fixture = (name: string): Case => cases.find((c) => c.name === name) ?? assert.fail(`no fixture case '${name}'`);

/**
 * `actual` equals `expected` up to float summation order (numpy sums pairwise, the engine in
 * order); null expected (NaN in Python) wants NaN or null.
 */
function close(actual: number | null, expected: number | null, what: string): void {
  if (expected === null) {
    assert.ok(actual === null || Number.isNaN(actual), `${what}: expected NaN/null, got ${actual}`);
    return;
  }
  assert.ok(actual !== null && Math.abs(actual - expected) <= 1e-12 * Math.max(1, Math.abs(expected)), `${what}: expected ${expected}, got ${actual}`);
}

describe('accuracy metrics against numpy/scipy fixtures', () => {
  it('the fixtures cover ties, one class only, perfect and inverted scores, the threshold and 0/1 scores', () => {
    const names = cases.map((c) => c.name);
    for (const needed of ['ties: scores rounded to one decimal', 'all positive', 'all negative', 'perfect', 'inverted', 'scores exactly at the threshold', 'scores at 0 and 1, some confidently wrong (clipped)', 'no events']) {
      assert.ok(names.includes(needed), needed);
    }
    assert.equal(fixture('perfect').expected.auc, 1);
    assert.equal(fixture('inverted').expected.auc, 0);
  });

  for (const c of cases) {
    it(`${c.name} (${c.labels.length} events)`, () => {
      const { labels, scores, threshold, bins, expected } = c;
      // U counts halves: exact in doubles, so AUC matches scipy to the bit.
      if (expected.auc === null) assert.ok(Number.isNaN(rocAuc(labels, scores)), 'auc is NaN with a class absent');
      else assert.equal(rocAuc(labels, scores), expected.auc, 'auc');
      close(logLoss(labels, scores), expected.logLoss, 'log loss');

      const pr = precisionRecall(labels, scores, threshold);
      close(pr.precision, expected.precision, 'precision');
      close(pr.recall, expected.recall, 'recall');
      assert.deepEqual(
        [pr.truePositives, pr.falsePositives, pr.falseNegatives, pr.trueNegatives],
        [expected.truePositives, expected.falsePositives, expected.falseNegatives, expected.trueNegatives],
        'confusion counts',
      );

      const cal = calibration(labels, scores, bins);
      assert.deepEqual(
        cal.bins.map((b) => [b.lower, b.upper, b.n]),
        expected.calibration.bins.map((b) => [b.lower, b.upper, b.n]),
        'bin bounds and membership',
      );
      cal.bins.forEach((b: CalibrationBin, i) => {
        close(b.meanScore, expected.calibration.bins[i]!.meanScore, `bin ${i} mean score`);
        close(b.positiveRate, expected.calibration.bins[i]!.positiveRate, `bin ${i} positive rate`);
      });
      close(cal.ece, expected.calibration.ece, 'ece');
    });
  }

  it('calibration defaults to 10 bins and puts a score of 1 in the last', () => {
    const cal = calibration([1, 0, 1], [1, 0, 0.95]);
    assert.equal(cal.bins.length, 10);
    assert.deepEqual([cal.bins[9]!.n, cal.bins[9]!.lower, cal.bins[9]!.upper, cal.bins[0]!.n], [2, 0.9, 1, 1]);
  });

  it('reject arrays of different lengths, labels other than 0/1 and scores outside [0, 1]', () => {
    assert.throws(() => rocAuc([1, 0], [0.5]), /rocAuc\(\): 2 labels but 1 scores/);
    assert.throws(() => logLoss([1, 2], [0.5, 0.5]), /logLoss\(\): label 1 is 2, not 0 or 1/);
    assert.throws(() => precisionRecall([1], [1.5], 0.5), /score 0 is 1.5, not a finite number in \[0, 1\]/);
    assert.throws(() => calibration([1], [Number.NaN]), /score 0 is NaN/);
    assert.throws(() => calibration([1], [0.5], 0), /bins must be a positive integer, got 0/);
    assert.throws(() => precisionRecall([1], [0.5], Number.NaN), /threshold must be a finite number/);
  });
});

interface Scored {
  k: string;
  t: number;
  score: unknown;
  label?: unknown;
}

function accuracyTopology(spec: WindowSpec, options: { lateness?: number; threshold?: number; bins?: number } = {}) {
  const { lateness = 0, ...metric } = options;
  return defineTopology('acc', ({ source, sink }) =>
    source<Scored>('events', { time: 't' }).pipe(
      keyBy('k'),
      window(spec, { lateness }),
      aggregate({ acc: accuracy<Scored>({ score: 'score', label: 'label', ...metric }) }),
      sink('out'),
    ),
  );
}

/** The result computed over the window's events directly, with the pure functions. */
function assertComputedDirectly(result: AccuracyResult, labels: number[], scores: number[], threshold = 0.5, bins = 10): void {
  const pr = precisionRecall(labels, scores, threshold);
  assert.deepEqual([result.labelled, result.positives, result.threshold], [labels.length, pr.truePositives + pr.falseNegatives, threshold]);
  close(result.auc, rocAuc(labels, scores), 'auc');
  close(result.log_loss, logLoss(labels, scores), 'log loss');
  close(result.precision, pr.precision, 'precision');
  close(result.recall, pr.recall, 'recall');
  close(result.ece, calibration(labels, scores, bins).ece, 'ece');
}

const eventsOf = (c: Case, k: string, time: (i: number) => number): Scored[] => c.labels.map((label, i) => ({ k, t: time(i), score: c.scores[i], label }));

describe('accuracy() aggregate in a topology run', () => {
  it('gives each key and tumbling window the fixture values; boolean labels count as 0/1; unlabelled events are counted apart', async () => {
    const keys: Record<string, Case> = { random: fixture('random'), ties: fixture('ties: scores rounded to one decimal'), onlyPositives: fixture('all positive') };
    const events: Scored[] = Object.entries(keys).flatMap(([k, c]) => eventsOf(c, k, (i) => i));
    // Labels of the ties case as booleans; unlabelled predictions (null, or no label field) beside them.
    for (const e of events) if (e.k === 'ties') e.label = e.label === 1;
    events.push({ k: 'random', t: 5, score: 0.9, label: null }, { k: 'random', t: 6, score: 0.1 }, { k: 'noLabels', t: 7, score: 0.4, label: null });
    events.sort((a, b) => a.t - b.t);
    const { out, stats } = await runOn(accuracyTopology(tumbling(1000)), [events], { bindLate: false });
    const byKey = new Map(out.map((r) => [r.key as string, r.acc as AccuracyResult]));
    assert.deepEqual([...byKey.keys()].sort(), ['noLabels', 'onlyPositives', 'random', 'ties']);
    for (const [k, c] of Object.entries(keys)) {
      const result = byKey.get(k)!;
      const { expected } = c;
      assert.deepEqual([result.labelled, result.positives, result.unlabelled], [c.labels.length, expected.truePositives + expected.falseNegatives, k === 'random' ? 2 : 0], k);
      // Through JSON (the memory sink's round trip), as a sink stores it: NaN must already be null.
      assert.equal(result.auc, expected.auc, `${k} auc`);
      close(result.log_loss, expected.logLoss, `${k} log loss`);
      close(result.precision, expected.precision, `${k} precision`);
      close(result.recall, expected.recall, `${k} recall`);
      close(result.ece, expected.calibration.ece, `${k} ece`);
    }
    assert.deepEqual(byKey.get('noLabels'), { labelled: 0, unlabelled: 1, positives: 0, auc: null, log_loss: null, precision: null, recall: null, ece: null, threshold: 0.5 });
    assert.equal(stats.deadLettered, 0);
  });

  it('merges accumulators when sessions merge: the merged session equals the metrics over all its events', async () => {
    const c = fixture('random');
    // Gap 10: the first half at t 0..9 is session [0, 19), the second at 25..34 is [25, 44); an
    // allowed-late event at t=17 ([17, 27)) bridges them into one session [0, 44).
    const half = c.labels.length / 2;
    const events = eventsOf(c, 'a', (i) => (i < half ? Math.floor((i * 10) / half) : 25 + Math.floor(((i - half) * 10) / half)));
    events.push({ k: 'a', t: 17, score: 0.5, label: 1 });
    const { out } = await runOn(accuracyTopology(session(10), { lateness: 100, threshold: 0.3, bins: 7 }), [events], { bindLate: false });
    assert.deepEqual(out.map((r) => [r.window_start, r.window_end]), [[0, 19], [0, 44]]);
    const labels = [...c.labels, 1];
    const scores = [...c.scores, 0.5];
    assertComputedDirectly(out[0]!.acc as AccuracyResult, labels.slice(0, half), scores.slice(0, half), 0.3, 7);
    assertComputedDirectly(out[1]!.acc as AccuracyResult, labels, scores, 0.3, 7);
  });

  it('gives every hopping window the metrics over exactly the events in [start, end)', async () => {
    const c = fixture('ties: scores rounded to one decimal');
    const time = (i: number) => Math.floor((i * 60) / c.labels.length);
    const { out } = await runOn(accuracyTopology(hopping(30, 10)), [eventsOf(c, 'a', time)], { bindLate: false });
    assert.deepEqual(out.map((r) => r.window_start), [-20, -10, 0, 10, 20, 30, 40, 50]);
    for (const r of out) {
      const inside = c.labels.map((_, i) => i).filter((i) => time(i) >= (r.window_start as number) && time(i) < (r.window_end as number));
      assertComputedDirectly(r.acc as AccuracyResult, inside.map((i) => c.labels[i]!), inside.map((i) => c.scores[i]!));
    }
  });

  it('dead-letters an event whose score is not a probability or whose label is not 0/1/true/false, with the reason', async () => {
    const bad: Scored[] = [
      { k: 'a', t: 1, score: 1.2, label: 1 },
      { k: 'a', t: 2, score: Number.NaN, label: 0 },
      { k: 'a', t: 3, score: '0.3', label: 1 },
      { k: 'a', t: 4, score: undefined, label: 1 },
      { k: 'a', t: 5, score: 0.3, label: 2 },
      { k: 'a', t: 6, score: 0.3, label: 'yes' },
      { k: 'a', t: 7, score: -0.1, label: null },
    ];
    const good: Scored[] = [
      { k: 'a', t: 0, score: 0.8, label: 1 },
      { k: 'a', t: 8, score: 0.2, label: false },
      { k: 'a', t: 9, score: 0, label: null },
    ];
    const { out, dlq, stats } = await runOn(accuracyTopology(tumbling(100)), [[good[0]!, ...bad, ...good.slice(1)]], { bindLate: false });
    assert.deepEqual(
      dlq.map((d) => d.reason),
      [
        "accuracy('score', 'label'): score is 1.2, not a finite number in [0, 1]",
        "accuracy('score', 'label'): score is NaN, not a finite number in [0, 1]",
        'accuracy(\'score\', \'label\'): score is "0.3", not a finite number in [0, 1]',
        "accuracy('score', 'label'): score is undefined, not a finite number in [0, 1]",
        "accuracy('score', 'label'): label is 2, not 0, 1, true or false (null or missing: not labelled yet)",
        'accuracy(\'score\', \'label\'): label is "yes", not 0, 1, true or false (null or missing: not labelled yet)',
        "accuracy('score', 'label'): score is -0.1, not a finite number in [0, 1]",
      ],
    );
    assert.deepEqual([stats.processed, stats.deadLettered], [good.length, bad.length]);
    // Both labelled events predicted right; ECE: bins 8 and 2 each hold half, off by |1 − 0.8| and |0 − 0.2|.
    const ece = (1 - 0.8 + 0.2) / 2;
    assert.deepEqual(out.map((r) => r.acc), [{ labelled: 2, unlabelled: 1, positives: 1, auc: 1, log_loss: -Math.log(0.8), precision: 1, recall: 1, ece, threshold: 0.5 }]);
  });
});

describe('accuracy() accumulator', () => {
  const agg = accuracy<Scored>({ score: (e) => e.score, label: 'label', threshold: 0.4, bins: 5 });
  const fill = (c: Case, from: number, to: number) => {
    let acc = agg.init();
    for (let i = from; i < to; i++) acc = agg.add(acc, { k: 'a', t: i, score: c.scores[i], label: c.labels[i] }, i);
    return acc;
  };

  it('survives a checkpoint (v8 serialize) and merges without touching its second argument', () => {
    const c = fixture('random, threshold 0.3, 20 bins');
    const a = fill(c, 0, 600);
    const b = fill(c, 600, c.labels.length);
    const restored = deserialize(serialize(a)) as typeof a;
    assert.deepEqual(agg.result(restored), agg.result(a));
    const bBefore = structuredClone(b);
    const merged = agg.merge(restored, b);
    assert.deepEqual(b, bBefore);
    assertComputedDirectly(agg.result(merged), c.labels, c.scores, 0.4, 5);
  });

  it('rejects bad options when the topology is built', () => {
    assert.throws(() => accuracy({ score: 's', label: 'l', threshold: Number.NaN }), /accuracy\('s', 'l'\): threshold must be a finite number, got NaN/);
    assert.throws(() => accuracy({ score: 's', label: 'l', bins: 2.5 }), /bins must be a positive integer, got 2.5/);
    assert.throws(() => accuracy({ score: '', label: 'l' }), /score needs a field name or a function/);
  });
});
