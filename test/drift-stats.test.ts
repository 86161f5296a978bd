import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  binCounts,
  chiSquareSf,
  chiSquareTest,
  EMPTY_SHARE,
  jensenShannonDistance,
  kolmogorovSf,
  ksTest,
  normedWasserstein,
  psi,
  quantileSketch,
  referenceEdges,
  wassersteinDistance,
} from '../engine/monitoring/stats.ts';

/** A numeric case of test/fixtures/drift.json (scripts/drift-fixtures.py: numpy and scipy). */
interface NumericCase {
  name: string;
  reference: string;
  current: string;
  bins: number;
  /** The reference is the 1000-point quantile sketch of a sample of this size. */
  sketchOf?: number;
  referenceStd: number;
  edges: number[];
  referenceCounts: number[];
  currentCounts: number[];
  psi: number;
  jensenShannon: number;
  ks: { statistic: number; pValue: number };
  wasserstein: number;
  normedWasserstein: number;
}

interface CategoricalCase {
  name: string;
  referenceCounts: number[];
  currentCounts: number[];
  chiSquare: { statistic: number; pValue: number; dof: number };
  psi: number;
  jensenShannon: number;
}

interface Fixtures {
  sketch: { of: string; points: number; values: number[] };
  numeric: NumericCase[];
  categorical: CategoricalCase[];
  kolmogorovSf: [x: number, sf: number][];
  chiSquareSf: [x: number, dof: number, sf: number][];
  samples: Record<string, number[]>;
}

const fixtures = JSON.parse(readFileSync(new URL('./fixtures/drift.json', import.meta.url), 'utf8')) as Fixtures;
const sample = (name: string): number[] => fixtures.samples[name] ?? assert.fail(`no fixture sample '${name}'`);

/**
 * Relative tolerance where the computation is the same as scipy's but for summation order (numpy
 * sums pairwise) or the special function's own rounding (scipy's and ours are both good to about
 * 1e-13): far looser than either error, far tighter than any mistake.
 */
const REL = 1e-9;
/** p-values below this are subnormal (fewer significant bits on both sides): compared absolutely. */
const TINY = 1e-300;

function close(actual: number, expected: number, what: string, abs = 0): void {
  const tolerance = Math.max(REL * Math.abs(expected), abs);
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: got ${actual}, scipy ${expected} (tolerance ${tolerance})`);
}

describe('drift statistics against scipy (test/fixtures/drift.json)', () => {
  it('quantileSketch keeps the order statistics at ranks ⌊(2i+1)n/2k⌋ (the fixture sketch of 5000 values)', () => {
    const { of, points, values } = fixtures.sketch;
    assert.deepEqual(quantileSketch(sample(of), points), values);
  });

  for (const c of fixtures.numeric) {
    it(`numeric: ${c.name}`, () => {
      const reference = c.sketchOf === undefined ? sample(c.reference) : quantileSketch(sample(c.reference), fixtures.sketch.points);
      const current = sample(c.current);
      // The same index and lerp arithmetic as numpy.quantile: equal to the bit.
      assert.deepEqual(referenceEdges(reference, c.bins), c.edges, 'edges');
      assert.deepEqual(binCounts(reference, c.edges), c.referenceCounts, 'reference bin counts');
      assert.deepEqual(binCounts(current, c.edges), c.currentCounts, 'current bin counts');
      close(psi(c.referenceCounts, c.currentCounts), c.psi, 'psi');
      close(jensenShannonDistance(c.referenceCounts, c.currentCounts), c.jensenShannon, 'jensen-shannon');
      const ks = ksTest(reference, current, c.sketchOf === undefined ? undefined : { reference: c.sketchOf });
      // D is a difference of the same two quotients scipy takes: equal to the bit.
      assert.equal(ks.statistic, c.ks.statistic, 'ks statistic');
      close(ks.pValue, c.ks.pValue, 'ks p-value', TINY);
      close(wassersteinDistance(reference, current), c.wasserstein, 'wasserstein');
      close(normedWasserstein(reference, current, c.referenceStd), c.normedWasserstein, 'normed wasserstein');
    });
  }

  for (const c of fixtures.categorical) {
    it(`categorical: ${c.name}`, () => {
      const result = chiSquareTest(c.currentCounts, c.referenceCounts);
      close(result.statistic, c.chiSquare.statistic, 'chi-square statistic');
      close(result.pValue, c.chiSquare.pValue, 'chi-square p-value', TINY);
      assert.equal(result.dof, c.chiSquare.dof);
      close(psi(c.referenceCounts, c.currentCounts), c.psi, 'psi');
      close(jensenShannonDistance(c.referenceCounts, c.currentCounts), c.jensenShannon, 'jensen-shannon');
    });
  }

  it('kolmogorovSf matches scipy.stats.kstwobign.sf from 0 to past its underflow', () => {
    for (const [x, sf] of fixtures.kolmogorovSf) close(kolmogorovSf(x), sf, `Q_KS(${x})`, TINY);
    assert.ok(fixtures.kolmogorovSf.some(([, sf]) => sf === 0), 'the grid reaches the underflow');
  });

  it('chiSquareSf matches scipy.stats.chi2.sf for 0.5 to 1000 degrees of freedom, deep into the tail', () => {
    for (const [x, dof, sf] of fixtures.chiSquareSf) close(chiSquareSf(x, dof), sf, `chi2.sf(${x}, ${dof})`, TINY);
    assert.ok(fixtures.chiSquareSf.some(([, , sf]) => sf > 0 && sf < 1e-200), 'the grid reaches tiny p-values');
  });
});

describe('drift statistics: properties and edge cases', () => {
  const counts = [12, 0, 7, 30, 1];
  const other = [3, 9, 0, 25, 8];

  it('PSI is 0 for identical or proportional counts, symmetric and positive otherwise', () => {
    assert.equal(psi(counts, counts), 0);
    assert.ok(Math.abs(psi(counts, counts.map((c) => c * 3))) < 1e-15);
    assert.ok(psi(counts, other) > 0);
    close(psi(counts, other), psi(other, counts), 'symmetry');
  });

  it('PSI fills an empty bin with epsilon, not renormalised: one bin empty on one side', () => {
    // Reference shares [1, 0], current [0.5, 0.5]: (0.5 − 1) ln 0.5 + (0.5 − ε) ln(0.5 / ε).
    const expected = -0.5 * Math.log(0.5) + (0.5 - EMPTY_SHARE) * Math.log(0.5 / EMPTY_SHARE);
    close(psi([10, 0], [5, 5]), expected, 'default epsilon');
    close(psi([10, 0], [5, 5], 0.01), -0.5 * Math.log(0.5) + (0.5 - 0.01) * Math.log(0.5 / 0.01), 'epsilon 0.01');
    assert.equal(psi([10, 0, 4], [5, 0, 2]), 0, 'a bin empty on both sides adds nothing');
  });

  it('Jensen–Shannon distance is symmetric, 0 for the same shares, 1 for disjoint supports, in [0, 1]', () => {
    assert.equal(jensenShannonDistance(counts, counts.map((c) => c * 2)), 0);
    assert.equal(jensenShannonDistance(counts, other), jensenShannonDistance(other, counts));
    assert.equal(jensenShannonDistance([1, 2, 0, 0], [0, 0, 5, 1]), 1);
    const d = jensenShannonDistance(counts, other);
    assert.ok(d > 0 && d < 1, `${d}`);
  });

  it('KS: D in [0, 1], 0 with p = 1 for the same sample, 1 for disjoint samples, the same both ways', () => {
    const a = sample('norm_50');
    const b = sample('norm_shift1_30');
    assert.deepEqual(ksTest(a, a), { statistic: 0, pValue: 1 });
    assert.equal(ksTest([1, 2, 3], [4, 5]).statistic, 1);
    const ab = ksTest(a, b);
    assert.ok(ab.statistic > 0 && ab.statistic < 1 && ab.pValue > 0 && ab.pValue < 1);
    assert.deepEqual(ksTest(b, a), ab);
  });

  it('KS: sizes override the p-value only; larger samples make the same D more significant', () => {
    const a = sample('norm_50');
    const b = sample('norm_shift1_30');
    const plain = ksTest(a, b);
    const scaled = ksTest(a, b, { reference: 5000, current: 3000 });
    assert.equal(scaled.statistic, plain.statistic);
    assert.ok(scaled.pValue < plain.pValue);
    const en = Math.sqrt((5000 * 30) / 5030);
    assert.equal(ksTest(a, b, { reference: 5000 }).pValue, kolmogorovSf((en + 0.12 + 0.11 / en) * plain.statistic));
    assert.throws(() => ksTest(a, b, { reference: 0 }), RangeError);
  });

  it('kolmogorovSf is 1 at 0, falls monotonically to 0, and is continuous where its series switch', () => {
    assert.equal(kolmogorovSf(0), 1);
    assert.equal(kolmogorovSf(-1), 1);
    assert.equal(kolmogorovSf(40), 0);
    assert.ok(Number.isNaN(kolmogorovSf(Number.NaN)));
    let previous = 1;
    for (let x = 0.01; x < 25; x += 0.01) {
      const sf = kolmogorovSf(x);
      assert.ok(sf <= previous && sf >= 0, `Q_KS(${x}) = ${sf} after ${previous}`);
      previous = sf;
    }
    close(kolmogorovSf(1.18 - 1e-12), kolmogorovSf(1.18), 'continuity at 1.18');
  });

  it('chiSquareSf is 1 at 0, falls monotonically in x, rises with the degrees of freedom', () => {
    for (const dof of [1, 2, 7, 40]) {
      assert.equal(chiSquareSf(0, dof), 1);
      assert.equal(chiSquareSf(Number.POSITIVE_INFINITY, dof), 0);
      let previous = 1;
      for (let x = 0.05; x < 3 * dof + 60; x += 0.05) {
        const sf = chiSquareSf(x, dof);
        assert.ok(sf <= previous && sf >= 0, `chi2.sf(${x}, ${dof}) = ${sf} after ${previous}`);
        previous = sf;
      }
    }
    assert.ok(chiSquareSf(5, 3) < chiSquareSf(5, 4));
    assert.throws(() => chiSquareSf(1, 0), RangeError);
  });

  it('Wasserstein: symmetric, and a sample moved by c is at distance c', () => {
    const a = sample('exp_200');
    const b = sample('exp_scale1.3_200');
    assert.equal(wassersteinDistance(a, b), wassersteinDistance(b, a));
    close(wassersteinDistance(a, a.map((x) => x + 0.25)), 0.25, 'shift');
    assert.equal(wassersteinDistance(a, a), 0);
  });

  it('normed Wasserstein floors the reference standard deviation at 0.001 (a constant reference)', () => {
    assert.equal(normedWasserstein([5, 5, 5], [5, 5], 0), 0);
    close(normedWasserstein([5, 5, 5], [5.5, 5.5], 0), 500, 'moved by 0.5');
    close(normedWasserstein([0, 1], [1, 2], 0.5), 2, 'divided by the std');
    assert.throws(() => normedWasserstein([0, 1], [1, 2], -1), RangeError);
  });

  it('bins: a value on an edge goes up, a constant reference has one edge, one bin or no data has none', () => {
    assert.deepEqual(binCounts([0, 1, 1.5, 2, 3], [1, 2]), [1, 2, 2]);
    assert.deepEqual(binCounts([3, 1, 2], []), [3]);
    assert.deepEqual(referenceEdges([4, 4, 4, 4]), [4]);
    assert.deepEqual(referenceEdges([1, 2, 3], 1), []);
    assert.deepEqual(referenceEdges([]), []);
    assert.deepEqual(referenceEdges([0, 10], 4), [2.5, 5, 7.5]);
    assert.throws(() => referenceEdges([1, 2], 0), RangeError);
    assert.throws(() => binCounts([1], [2, 2]), RangeError);
  });

  it('quantileSketch: all values when n ≤ k, a copy; none for no values', () => {
    const values = [1, 2, 2, 5];
    const sketch = quantileSketch(values, 4);
    assert.deepEqual(sketch, values);
    assert.notEqual(sketch, values);
    assert.deepEqual(quantileSketch(values, 2), [2, 5]);
    assert.deepEqual(quantileSketch(new Float64Array([]), 10), []);
    assert.throws(() => quantileSketch(values, 0), RangeError);
  });

  it('χ² test: a new category costs (o − n·ε)²/(n·ε) rather than infinity; one category tells nothing', () => {
    // Reference [0.5, 0.5, 0]: shares become [0.5, 0.5, ε] / (1 + ε), n = 100.
    const n = 100;
    const e = [0.5, 0.5, EMPTY_SHARE].map((s) => (s / (1 + EMPTY_SHARE)) * n);
    const observed = [49, 50, 1];
    const statistic = observed.reduce((sum, o, i) => sum + (o - e[i]!) ** 2 / e[i]!, 0);
    const result = chiSquareTest(observed, [10, 10, 0]);
    close(result.statistic, statistic, 'statistic');
    assert.equal(result.dof, 2);
    close(result.pValue, chiSquareSf(statistic, 2), 'p-value');
    assert.deepEqual(chiSquareTest([7], [3]), { statistic: 0, pValue: 1, dof: 0 });
  });

  it('an empty current sample (or reference) gives NaN, never "no drift"', () => {
    const a = [1, 2, 3];
    assert.ok(Number.isNaN(psi([1, 2], [0, 0])));
    assert.ok(Number.isNaN(psi([0, 0], [1, 2])));
    assert.ok(Number.isNaN(jensenShannonDistance([1, 2], [0, 0])));
    const ks = ksTest(a, []);
    assert.ok(Number.isNaN(ks.statistic) && Number.isNaN(ks.pValue));
    assert.ok(Number.isNaN(wassersteinDistance(a, [])));
    assert.ok(Number.isNaN(normedWasserstein([], a, 1)));
    const chi = chiSquareTest([0, 0], [1, 1]);
    assert.ok(Number.isNaN(chi.statistic) && Number.isNaN(chi.pValue));
    assert.equal(chi.dof, 1);
  });

  it('NaN, infinite or unsorted samples and bad counts are refused with a RangeError', () => {
    assert.throws(() => ksTest([1, Number.NaN, 3], [1]), RangeError);
    assert.throws(() => ksTest([Number.NaN], [1]), RangeError);
    assert.throws(() => wassersteinDistance([1, 2], [3, Number.POSITIVE_INFINITY]), RangeError);
    assert.throws(() => referenceEdges([2, 1]), RangeError);
    assert.throws(() => binCounts([Number.NaN], [1]), RangeError);
    assert.throws(() => psi([1, 2], [1, 2, 3]), RangeError);
    assert.throws(() => psi([1, -2], [1, 2]), RangeError);
    assert.throws(() => jensenShannonDistance([1, Number.NaN], [1, 2]), RangeError);
    assert.throws(() => chiSquareTest([1, 2], [1, 2, 3]), RangeError);
  });
});
