import { BIN_SLOTS, MISSING_BIN, type BinnedFeatures } from './binning.ts';
import { TreeBuilder, type Tree } from './tree.ts';

/**
 * Grows one depth-limited regression tree on gradient statistics (second-order, as XGBoost does).
 *
 * 1. A node's histogram holds, per feature and bin (the missing bin too), the sums of gradient and
 *    hessian and the row count. Only the smaller child's histogram is built from its rows; the
 *    larger one is the parent's minus it (in place, in the parent's buffer).
 * 2. A split "bin <= b goes left" has gain GL²/(HL+λ) + GR²/(HR+λ) − G²/(H+λ). Each candidate is
 *    tried with the node's missing rows on the right, then on the left; the better side becomes
 *    the node's learned default for missing values. When the node saw no missing value, missing
 *    values go to the child with more rows. Both children need `minSamplesLeaf` rows and
 *    `minChildHessian` hessian. Ties keep the first candidate (lowest feature, then bin, then
 *    missing-right), so training is deterministic. A constant feature has no candidate; a feature
 *    that is constant where present can still split present from missing.
 * 3. A leaf's value is the Newton step −G/(H+λ), times the learning rate.
 * 4. Rows are tracked by an index array partitioned in place per node; each leaf adds its value to
 *    its rows' margins, so the boosting loop never routes training rows through the tree.
 */

export interface GrowParams {
  readonly depth: number;
  readonly learningRate: number;
  readonly lambda: number;
  readonly minSamplesLeaf: number;
  readonly minChildHessian: number;
}

const STATS = 3; // gradient, hessian, count per histogram slot
/** Threshold of a "present left, missing right" split: every finite float32 is <= it. */
const FLOAT32_MAX = 3.4028234663852886e38;

interface Split {
  feature: number;
  bin: number;
  threshold: number;
  missingLeft: boolean;
  gain: number;
  /** Gradient and hessian sums of the left child (the right's are the node's minus these). */
  gl: number;
  hl: number;
}

export class TreeGrower {
  private readonly f: number;
  private readonly rows: Uint32Array;
  private readonly pool: Float64Array[] = [];
  private grad: Float64Array = new Float64Array(0);
  private hess: Float64Array = new Float64Array(0);
  private margin: Float64Array = new Float64Array(0);
  private builder = new TreeBuilder();

  constructor(
    private readonly bins: BinnedFeatures,
    rowCount: number,
    private readonly params: GrowParams,
  ) {
    this.f = bins.edges.length;
    this.rows = new Uint32Array(rowCount);
  }

  /** Grows a tree on `grad`/`hess` and adds its leaf values to `margin` (all indexed by row). */
  grow(grad: Float64Array, hess: Float64Array, margin: Float64Array): Tree {
    this.grad = grad;
    this.hess = hess;
    this.margin = margin;
    this.builder = new TreeBuilder();
    const n = this.rows.length;
    for (let i = 0; i < n; i++) this.rows[i] = i;
    let g = 0;
    let h = 0;
    for (let i = 0; i < n; i++) {
      g += grad[i]!;
      h += hess[i]!;
    }
    const hist = this.canSplit(0, n) ? this.histogram(0, n) : null;
    this.node(0, n, 0, hist, g, h);
    return this.builder.freeze();
  }

  private canSplit(depth: number, count: number): boolean {
    return depth < this.params.depth && count >= 2 * this.params.minSamplesLeaf;
  }

  /** Builds the node over rows[start, end) and its subtree; returns its id. `hist` is released. */
  private node(start: number, end: number, depth: number, hist: Float64Array | null, g: number, h: number): number {
    const { lambda, learningRate } = this.params;
    const id = this.builder.add((-g / (h + lambda)) * learningRate);
    const split = hist === null ? null : this.bestSplit(hist, g, h, end - start);
    if (split === null) {
      this.release(hist);
      this.addToMargin(start, end, this.builder.leafValue(id));
      return id;
    }
    const mid = this.partition(start, end, split);
    const nl = mid - start;
    const nr = end - mid;
    const leftSplits = this.canSplit(depth + 1, nl);
    const rightSplits = this.canSplit(depth + 1, nr);
    let leftHist: Float64Array | null = null;
    let rightHist: Float64Array | null = null;
    if (leftSplits || rightSplits) {
      // Build the smaller child's histogram; the larger one is the parent's minus it.
      const smallIsLeft = nl <= nr;
      const small = smallIsLeft ? this.histogram(start, mid) : this.histogram(mid, end);
      subtract(hist!, small);
      leftHist = smallIsLeft ? small : hist;
      rightHist = smallIsLeft ? hist : small;
      if (!leftSplits) leftHist = this.release(leftHist);
      if (!rightSplits) rightHist = this.release(rightHist);
    } else {
      this.release(hist);
    }
    const left = this.node(start, mid, depth + 1, leftHist, split.gl, split.hl);
    const right = this.node(mid, end, depth + 1, rightHist, g - split.gl, h - split.hl);
    this.builder.split(id, split.feature, split.threshold, split.missingLeft, left, right);
    return id;
  }

  /** Returns a histogram buffer to the pool (at most depth + 2 are ever live); null for chaining. */
  private release(hist: Float64Array | null): null {
    if (hist !== null) this.pool.push(hist);
    return null;
  }

  private histogram(start: number, end: number): Float64Array {
    const f = this.f;
    const hist = this.pool.pop() ?? new Float64Array(f * BIN_SLOTS * STATS);
    hist.fill(0);
    const { rows, grad, hess } = this;
    const codes = this.bins.codes;
    for (let i = start; i < end; i++) {
      const r = rows[i]!;
      const g = grad[r]!;
      const h = hess[r]!;
      const base = r * f;
      for (let j = 0; j < f; j++) {
        const o = (j * BIN_SLOTS + codes[base + j]!) * STATS;
        hist[o] += g;
        hist[o + 1] += h;
        hist[o + 2] += 1;
      }
    }
    return hist;
  }

  private bestSplit(hist: Float64Array, g: number, h: number, n: number): Split | null {
    const { lambda, minSamplesLeaf, minChildHessian } = this.params;
    const parent = (g * g) / (h + lambda);
    let best: Split | null = null;
    let bestGain = 0;
    const ok = (cn: number, ch: number) => cn >= minSamplesLeaf && ch >= minChildHessian;
    for (let j = 0; j < this.f; j++) {
      const edges = this.bins.edges[j]!;
      const base = j * BIN_SLOTS * STATS;
      const m = base + MISSING_BIN * STATS;
      const gm = hist[m]!;
      const hm = hist[m + 1]!;
      const nm = hist[m + 2]!;
      let gl = 0;
      let hl = 0;
      let nl = 0;
      for (let b = 0; b < edges.length; b++) {
        const o = base + b * STATS;
        gl += hist[o]!;
        hl += hist[o + 1]!;
        nl += hist[o + 2]!;
        if (nl === 0) continue;
        const last = b === edges.length - 1;
        // Missing on the right, then (when there are any) on the left. After the last bin only
        // "present left, missing right" is a split: missingness itself.
        for (let side = 0; side < (nm > 0 && !last ? 2 : 1); side++) {
          const lg = side === 0 ? gl : gl + gm;
          const lh = side === 0 ? hl : hl + hm;
          const ln = side === 0 ? nl : nl + nm;
          const rg = g - lg;
          const rh = h - lh;
          const rn = n - ln;
          if (!ok(ln, lh) || !ok(rn, rh)) continue;
          const gain = (lg * lg) / (lh + lambda) + (rg * rg) / (rh + lambda) - parent;
          if (gain > bestGain) {
            bestGain = gain;
            const missingLeft = nm > 0 ? side === 1 : ln >= rn;
            best = { feature: j, bin: b, threshold: last ? FLOAT32_MAX : edges[b]!, missingLeft, gain, gl: lg, hl: lh };
          }
        }
      }
    }
    return best;
  }

  /** Moves the rows going left to the front of rows[start, end); returns where the right ones start. */
  private partition(start: number, end: number, split: Split): number {
    const { rows, f } = this;
    const codes = this.bins.codes;
    const { feature, bin, missingLeft } = split;
    let i = start;
    let k = end - 1;
    const goesLeft = (r: number) => {
      const c = codes[r * f + feature]!;
      return c === MISSING_BIN ? missingLeft : c <= bin;
    };
    while (i <= k) {
      if (goesLeft(rows[i]!)) i++;
      else {
        const t = rows[i]!;
        rows[i] = rows[k]!;
        rows[k--] = t;
      }
    }
    return i;
  }

  private addToMargin(start: number, end: number, value: number): void {
    for (let i = start; i < end; i++) this.margin[this.rows[i]!] += value;
  }
}

function subtract(from: Float64Array, part: Float64Array): void {
  for (let i = 0; i < from.length; i++) from[i] -= part[i]!;
}
