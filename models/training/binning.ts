import type { FeatureMatrix } from './matrix.ts';

/**
 * Histogram binning: every feature is cut once, before training, into at most 255 quantile bins,
 * and every value is replaced by its bin code (one byte). Trees then only ever look at codes, so
 * finding a split costs one pass over a 256-slot histogram instead of a sort.
 *
 * 1. Bin edges are *values seen in the data*, rounded to float32: bin `b` holds the values `v` with
 *    `edges[b-1] < fround(v) <= edges[b]`. A split "bin <= b" is therefore exactly the test
 *    `fround(v) <= edges[b]` that the exported ONNX tree (float32 input and thresholds) makes, so
 *    the model routes every training row in training as it does in ONNX Runtime.
 * 2. With ≤ 255 distinct values each gets its own bin; otherwise edges sit at the 1/255, 2/255, …
 *    quantiles (repeated values collapse, so a heavy value never straddles two bins).
 * 3. Missing values (NaN) get the code 255, apart from every real bin.
 * 4. A feature with fewer than two bins (constant, or all missing) cannot be split on.
 */

export const MAX_BINS = 255;
export const MISSING_BIN = 255;
/** Histogram slots per feature: the real bins and the missing bin. */
export const BIN_SLOTS = 256;

export interface BinnedFeatures {
  /** Per feature: increasing float32 upper edges of its bins. */
  readonly edges: readonly Float64Array[];
  /** `rows × features` bin codes, row-major like the matrix. */
  readonly codes: Uint8Array;
}

export function binFeatures(matrix: FeatureMatrix): BinnedFeatures {
  const f = matrix.features.length;
  const edges: Float64Array[] = [];
  const codes = new Uint8Array(matrix.rows * f);
  const column = new Float64Array(matrix.rows);
  for (let j = 0; j < f; j++) {
    let n = 0;
    for (let i = 0; i < matrix.rows; i++) {
      const v = matrix.values[i * f + j]!;
      if (!Number.isNaN(v)) column[n++] = Math.fround(v);
    }
    const e = quantileEdges(column.subarray(0, n));
    edges.push(e);
    for (let i = 0; i < matrix.rows; i++) codes[i * f + j] = binOf(e, matrix.values[i * f + j]!);
  }
  return { edges, codes };
}

/** Sorts `values` in place and returns at most MAX_BINS increasing edges; the last is the maximum. */
function quantileEdges(values: Float64Array): Float64Array {
  values.sort();
  const n = values.length;
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (i === 0 || values[i] !== values[i - 1]) out.push(values[i]!);
  if (out.length <= MAX_BINS) return Float64Array.from(out);
  out.length = 0;
  for (let k = 1; k <= MAX_BINS; k++) {
    const edge = values[Math.ceil((k * n) / MAX_BINS) - 1]!;
    if (out.length === 0 || edge > out[out.length - 1]!) out.push(edge);
  }
  return Float64Array.from(out);
}

/** The first bin whose edge is >= fround(v); values above the last edge (unseen) go to the last bin. */
function binOf(edges: Float64Array, v: number): number {
  if (Number.isNaN(v)) return MISSING_BIN;
  if (edges.length === 0) return 0;
  const x = Math.fround(v);
  let lo = 0;
  let hi = edges.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (x <= edges[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
