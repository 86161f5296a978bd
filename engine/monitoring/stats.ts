import { chiSquareSf, kolmogorovSf } from './distributions.ts';

/**
 * Drift statistics: pure functions comparing what a model meets in production (the "current"
 * sample of a window) with its reference profile (docs/monitoring.md). Each follows the scipy /
 * Evidently definition its doc names, and test/drift-stats.test.ts checks it against values scipy
 * computed (scripts/drift-fixtures.py).
 *
 * Conventions shared by every function here:
 * - Samples are finite numbers; the ones named `…Sorted` must be sorted ascending. The caller drops
 *   nulls and NaN (and ±∞) first: a NaN, an infinity or an out-of-order value is a bug of the
 *   caller and throws a RangeError rather than giving a silently wrong statistic.
 * - Counts are finite and ≥ 0 (not necessarily integers); two count vectors must be over the same
 *   bins or categories (same length), else a RangeError.
 * - An empty sample, or a count vector summing to 0, leaves a test undefined: it returns NaN (the
 *   statistic and the p-value), never a value that reads as "no drift". The monitor reports such a
 *   window as having no data.
 * - Small samples are noisy, not wrong: two samples of one distribution give a PSI of about
 *   (bins − 1)·(1/n_ref + 1/n_cur) on average (0.09 for 10 bins and a window of 100 against a large
 *   reference, close to the usual 0.1 threshold), and a positive Jensen–Shannon distance and D
 *   likewise; a window needs a minimum size before its verdict means anything.
 */

export { chiSquareSf, kolmogorovSf };

/**
 * The share an empty bin or category is given so that logarithms and divisions stay finite
 * (1e-4, the share Evidently gives empty bins in its PSI test).
 */
export const EMPTY_SHARE = 1e-4;

/**
 * The smallest reference standard deviation normedWasserstein divides by (Evidently's floor): a
 * constant reference then gives W / 0.001 instead of a division by zero.
 */
export const NORMED_WASSERSTEIN_MIN_STD = 0.001;

/**
 * Evenly spaced order statistics of sorted values: the reference profile's quantile sketch.
 *
 * With n values and k = `points`: when n ≤ k, all n values (a copy); else the k values at 0-based
 * ranks ⌊(2i + 1)·n / (2k)⌋, i = 0 … k−1 — the ((i + ½)/k)-quantiles, the midpoints of k equal
 * slices of the data. Each sketch point stands for n/k values, so the sketch's empirical CDF is
 * within 1/(2k) of the full sample's everywhere: KS's D and the Wasserstein distance computed against
 * the sketch differ from those against the full sample by at most about that (the sample's range
 * times 1/(2k) for Wasserstein). The minimum and maximum are not kept (the profile stores them
 * apart). An empty input gives []. `points` must be a positive integer.
 */
export function quantileSketch(sorted: ArrayLike<number>, points: number): number[] {
  if (!Number.isInteger(points) || points < 1) throw new RangeError(`quantileSketch: points must be a positive integer, got ${points}`);
  requireSorted(sorted, 'quantileSketch');
  const n = sorted.length;
  if (n <= points) return Array.from(sorted);
  const sketch = new Array<number>(points);
  for (let i = 0; i < points; i++) sketch[i] = sorted[Math.floor(((2 * i + 1) * n) / (2 * points))]!;
  return sketch;
}

/**
 * Bin edges for numeric tests: the reference's quantiles at 1/bins … (bins−1)/bins (default 10
 * bins: the deciles), duplicates removed, ascending. Quantiles interpolate linearly between order
 * statistics exactly as numpy.quantile's default ('linear', Hyndman–Fan type 7) does, to the bit.
 *
 * Bin i holds edges[i−1] ≤ x < edges[i]; below the first edge is bin 0, at or above the last edge
 * the last bin: `edges.length + 1` bins (binCounts).
 *
 * - Ties collapse edges: a discrete feature gets about one bin per value (values below the smallest
 *   quantile in bin 0).
 * - A constant reference (all values c) gives the single edge [c]: bins "below c" and "c or above".
 *   PSI and Jensen–Shannon then see only a move below c; KS and Wasserstein see any move.
 * - bins = 1 gives [] (one bin holding everything: PSI 0 whatever the data); so does an empty
 *   reference (whose counts then sum to 0: PSI NaN).
 * `bins` must be a positive integer.
 */
export function referenceEdges(referenceSorted: ArrayLike<number>, bins = 10): number[] {
  if (!Number.isInteger(bins) || bins < 1) throw new RangeError(`referenceEdges: bins must be a positive integer, got ${bins}`);
  requireSorted(referenceSorted, 'referenceEdges');
  const edges: number[] = [];
  if (referenceSorted.length === 0) return edges;
  for (let i = 1; i < bins; i++) {
    const q = linearQuantile(referenceSorted, i / bins);
    if (edges.length === 0 || q > edges[edges.length - 1]!) edges.push(q);
  }
  return edges;
}

/** numpy's 'linear' quantile of non-empty sorted values, with its index and lerp arithmetic. */
function linearQuantile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  const position = (n - 1) * q;
  const below = Math.floor(position);
  if (below >= n - 1) return sorted[n - 1]!;
  const a = sorted[below]!;
  const b = sorted[below + 1]!;
  const t = position - below;
  // numpy interpolates from the nearer neighbour, so that t = 1 gives b exactly.
  return t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t;
}

/**
 * How many values fall in each bin of `edges` (strictly ascending, finite; as referenceEdges makes
 * them): `edges.length + 1` counts, bin i holding edges[i−1] ≤ x < edges[i], below the first edge
 * bin 0, at or above the last edge the last bin. No edges: one bin holding every value. Values need
 * not be sorted (each is placed by binary search).
 */
export function binCounts(values: ArrayLike<number>, edges: readonly number[]): number[] {
  for (let i = 0; i < edges.length; i++) {
    if (!Number.isFinite(edges[i]!) || (i > 0 && !(edges[i]! > edges[i - 1]!))) {
      throw new RangeError(`binCounts: edges must be finite and strictly ascending (edge ${i} is ${edges[i]})`);
    }
  }
  const counts = new Array<number>(edges.length + 1).fill(0);
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!;
    if (!Number.isFinite(x)) throw new RangeError(`binCounts: value ${i} is ${x}; drop nulls and NaN first`);
    // The bin is the number of edges ≤ x.
    let lo = 0;
    let hi = edges.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (edges[mid]! <= x) lo = mid + 1;
      else hi = mid;
    }
    counts[lo]!++;
  }
  return counts;
}

/**
 * Population Stability Index of two count vectors over the same bins (or categories):
 * Σ (a − e)·ln(a / e) over the bins, e and a being the reference's and the current's shares
 * (count / total). A bin empty on one side has its share set to `epsilon` (default EMPTY_SHARE,
 * 1e-4) before the sum, and the shares are not renormalised afterwards — exactly Evidently's PSI
 * (its zero fill happens after normalising counts to shares), so its thresholds (0.1, 0.2) carry
 * over. A bin empty on both sides adds 0. The result is ≥ 0, 0 for proportional vectors.
 *
 * Either total 0 (an empty current window, an empty reference): NaN. Zero bins: NaN.
 * `epsilon` must be positive.
 */
export function psi(referenceCounts: readonly number[], currentCounts: readonly number[], epsilon = EMPTY_SHARE): number {
  if (!(epsilon > 0)) throw new RangeError(`psi: epsilon must be positive, got ${epsilon}`);
  const pair = sharePair(referenceCounts, currentCounts, 'psi');
  if (pair === undefined) return Number.NaN;
  const [reference, current] = pair;
  let sum = 0;
  for (let i = 0; i < reference.length; i++) {
    const e = reference[i] === 0 ? epsilon : reference[i]!;
    const a = current[i] === 0 ? epsilon : current[i]!;
    sum += (a - e) * Math.log(a / e);
  }
  return sum;
}

/**
 * Two-sample Kolmogorov–Smirnov test.
 *
 * statistic: D = sup_x |F_ref(x) − F_cur(x)| over both samples' values, the empirical CDFs taken
 * as "≤ x", so tied values (within or across samples) move both CDFs together, as
 * scipy.stats.ks_2samp does. D ∈ [0, 1] is the fraction |i·m − j·n| / (n·m) divided once, the double
 * nearest the true D: scipy's statistic to the bit up to 10 000 values a side (where scipy rounds
 * it the same way), within an ulp beyond.
 *
 * pValue: the asymptotic Kolmogorov distribution with Stephens' correction (Numerical Recipes'
 * probks): with en = √(n·m / (n + m)), p = Q_KS((en + 0.12 + 0.11/en)·D) (kolmogorovSf). This is
 * not ks_2samp's default p-value (exact for small samples): it is the same formula at every size,
 * approximate when en is below about 4 (small samples) and conservative with many ties. It
 * underflows to 0 once the corrected D·en passes about 19.3 (e.g. D = 0.5 with 3000 values a side).
 *
 * `sizes` overrides n and/or m for the p-value only: when the reference is a quantile sketch of a
 * larger sample (quantileSketch), pass that sample's size. D is still the sketch's, within about
 * 1/(2k) of the full sample's for a k-point sketch, so with huge sizes a difference that small can
 * already be significant; a size must be positive.
 *
 * Either sample empty: { statistic: NaN, pValue: NaN }.
 */
export function ksTest(
  referenceSorted: ArrayLike<number>,
  currentSorted: ArrayLike<number>,
  sizes?: { reference?: number; current?: number },
): { statistic: number; pValue: number } {
  requireSorted(referenceSorted, 'ksTest');
  requireSorted(currentSorted, 'ksTest');
  const n = referenceSorted.length;
  const m = currentSorted.length;
  if (n === 0 || m === 0) return { statistic: Number.NaN, pValue: Number.NaN };
  const nEffective = sizes?.reference ?? n;
  const mEffective = sizes?.current ?? m;
  if (!(nEffective > 0) || !(mEffective > 0) || !Number.isFinite(nEffective) || !Number.isFinite(mEffective)) {
    throw new RangeError(`ksTest: sizes must be positive, got ${nEffective} and ${mEffective}`);
  }
  // |F_ref − F_cur| = |i·m − j·n| / (n·m): integers, exact below 2^53, divided once at the end.
  let gap = 0;
  let i = 0;
  let j = 0;
  // Past the end of either sample the gap only narrows, so the walk may stop there.
  while (i < n && j < m) {
    const x = Math.min(referenceSorted[i]!, currentSorted[j]!);
    while (i < n && referenceSorted[i] === x) i++;
    while (j < m && currentSorted[j] === x) j++;
    gap = Math.max(gap, Math.abs(i * m - j * n));
  }
  const statistic = gap / (n * m);
  const en = Math.sqrt((nEffective * mEffective) / (nEffective + mEffective));
  return { statistic, pValue: kolmogorovSf((en + 0.12 + 0.11 / en) * statistic) };
}

/**
 * Jensen–Shannon distance, base 2, of two count vectors over the same bins or categories, each
 * normalised to shares: √(JS divergence) with JS = ½ KL(p‖m) + ½ KL(q‖m), m = (p + q)/2, as
 * scipy.spatial.distance.jensenshannon(p, q, base=2). Symmetric, in [0, 1]: 0 for proportional
 * vectors, 1 for disjoint supports. Empty bins need no fill (0·ln 0 = 0). Rounding is clamped
 * into [0, 1] (scipy can return NaN for a divergence rounded below 0).
 *
 * Either total 0: NaN. Zero bins: NaN.
 */
export function jensenShannonDistance(p: readonly number[], q: readonly number[]): number {
  const pair = sharePair(p, q, 'jensenShannonDistance');
  if (pair === undefined) return Number.NaN;
  const [ps, qs] = pair;
  let left = 0;
  let right = 0;
  for (let i = 0; i < ps.length; i++) {
    const mid = (ps[i]! + qs[i]!) / 2;
    left += relativeEntropy(ps[i]!, mid);
    right += relativeEntropy(qs[i]!, mid);
  }
  const divergence = (left + right) / Math.LN2 / 2;
  return Math.min(1, Math.sqrt(Math.max(0, divergence)));
}

/** scipy.special.rel_entr where y ≥ x/2 > 0 or x = 0 (the only cases Jensen–Shannon meets). */
function relativeEntropy(x: number, y: number): number {
  return x === 0 ? 0 : x * Math.log(x / y);
}

/**
 * 1-D Wasserstein (earth mover's) distance of two samples: ∫ |F_a − F_b| dx over the real line, as
 * scipy.stats.wasserstein_distance(a, b) (unweighted). In the samples' units, ≥ 0, 0 for samples
 * with the same values in the same proportions. Either sample empty: NaN (scipy raises).
 */
export function wassersteinDistance(aSorted: ArrayLike<number>, bSorted: ArrayLike<number>): number {
  requireSorted(aSorted, 'wassersteinDistance');
  requireSorted(bSorted, 'wassersteinDistance');
  const n = aSorted.length;
  const m = bSorted.length;
  if (n === 0 || m === 0) return Number.NaN;
  let distance = 0;
  let i = 0;
  let j = 0;
  let previous = Math.min(aSorted[0]!, bSorted[0]!);
  // Between two successive values of either sample both CDFs are flat: add |F_a − F_b| × width.
  while (i < n || j < m) {
    const x = Math.min(i < n ? aSorted[i]! : Number.POSITIVE_INFINITY, j < m ? bSorted[j]! : Number.POSITIVE_INFINITY);
    distance += Math.abs(i / n - j / m) * (x - previous);
    while (i < n && aSorted[i] === x) i++;
    while (j < m && bSorted[j] === x) j++;
    previous = x;
  }
  return distance;
}

/**
 * Wasserstein distance in units of the reference's spread (Evidently's "normed" Wasserstein, whose
 * default drift threshold is 0.1): wassersteinDistance(reference, current) /
 * max(referenceStd, NORMED_WASSERSTEIN_MIN_STD).
 *
 * `referenceStd` is the reference's population standard deviation (ddof 0, as numpy.std and the
 * reference profile's `std`), finite and ≥ 0. A constant (or nearly constant) reference has it
 * floored at 0.001, as Evidently does: a feature that stays constant gives 0, one that moves by δ
 * gives δ / 0.001 (so drift for any move above 1e-4 at the default threshold), rather than ∞ or
 * NaN. Either sample empty: NaN.
 */
export function normedWasserstein(referenceSorted: ArrayLike<number>, currentSorted: ArrayLike<number>, referenceStd: number): number {
  if (!(referenceStd >= 0) || !Number.isFinite(referenceStd)) {
    throw new RangeError(`normedWasserstein: referenceStd must be finite and ≥ 0, got ${referenceStd}`);
  }
  return wassersteinDistance(referenceSorted, currentSorted) / Math.max(referenceStd, NORMED_WASSERSTEIN_MIN_STD);
}

/**
 * Pearson's χ² goodness of fit of observed counts against expected shares, as
 * scipy.stats.chisquare(observed, f_exp) with f_exp = shares × n (n = Σ observed):
 * statistic Σ (o − e)² / e, dof = categories − 1, p-value chiSquareSf(statistic, dof).
 *
 * - `expectedShares` (usually the reference's category frequencies) are normalised to sum 1 first;
 *   they need not be shares already.
 * - A category with expected share 0 (new in the current window, never seen in the reference) gets
 *   the share EMPTY_SHARE (1e-4), and the shares are renormalised to sum 1, so that a few
 *   occurrences of a new value raise the statistic by about (o − n·1e-4)²/(n·1e-4) instead of
 *   making it infinite (p = 0 at the first new value, as a plain f_exp of 0 would). A category
 *   missing from the current window (o = 0) needs nothing: it adds its e.
 * - dof counts every category passed, so pass only categories seen in the reference or the window.
 * - Fewer than two categories (with n > 0): nothing can differ: { statistic: 0, pValue: 1, dof: 0 }.
 * - n = 0 (an empty window) or shares summing to 0 (no reference): statistic and p-value NaN.
 * - The p-value underflows to 0 for a statistic far in the tail (about 1490 with 1 dof; below about 1e-308 it is subnormal).
 */
export function chiSquareTest(observed: readonly number[], expectedShares: readonly number[]): { statistic: number; pValue: number; dof: number } {
  const pair = sharePair(observed, expectedShares, 'chiSquareTest');
  const dof = Math.max(0, observed.length - 1);
  if (pair === undefined) return { statistic: Number.NaN, pValue: Number.NaN, dof };
  if (dof === 0) return { statistic: 0, pValue: 1, dof };
  const filled = pair[1].map((s) => (s === 0 ? EMPTY_SHARE : s));
  const filledTotal = sum(filled);
  const n = sum(observed);
  let statistic = 0;
  for (let i = 0; i < filled.length; i++) {
    const expected = (filled[i]! / filledTotal) * n;
    statistic += (observed[i]! - expected) ** 2 / expected;
  }
  return { statistic, pValue: chiSquareSf(statistic, dof), dof };
}

/**
 * Two count vectors over the same bins as shares (count / total), or undefined when either total
 * is 0 (or there are no bins): the test is then undefined.
 */
function sharePair(a: readonly number[], b: readonly number[], fn: string): [number[], number[]] | undefined {
  if (a.length !== b.length) throw new RangeError(`${fn}: the count vectors have ${a.length} and ${b.length} entries`);
  for (const counts of [a, b]) {
    for (let i = 0; i < counts.length; i++) {
      if (!(counts[i]! >= 0) || !Number.isFinite(counts[i]!)) throw new RangeError(`${fn}: count ${i} is ${counts[i]}; counts must be finite and ≥ 0`);
    }
  }
  const totalA = sum(a);
  const totalB = sum(b);
  if (!(totalA > 0) || !(totalB > 0)) return undefined;
  return [a.map((c) => c / totalA), b.map((c) => c / totalB)];
}

function sum(values: readonly number[]): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}

function requireSorted(values: ArrayLike<number>, fn: string): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) throw new RangeError(`${fn}: value ${i} is ${v}; drop nulls and NaN first`);
    if (i > 0 && v < values[i - 1]!) throw new RangeError(`${fn}: values must be sorted ascending (value ${i} is below value ${i - 1})`);
  }
}
