import { RtmlError } from '../../engine/errors.ts';
import { binFeatures } from './binning.ts';
import { TreeGrower } from './growTree.ts';
import type { FeatureMatrix, LabelledData } from './matrix.ts';
import { treeValue, type Tree } from './tree.ts';

/**
 * Gradient-boosted decision trees for binary labels (logistic loss), histogram-based.
 *
 * 1. The margin starts at the base score, the log-odds of the label mean (float32).
 * 2. Each round computes per row the gradient p − y and hessian p(1 − p) of the logistic loss at
 *    p = sigmoid(margin), grows one tree on them (growTree.ts) and adds its leaves to the margins.
 * 3. P(label = 1) = sigmoid(base score + Σ trees).
 *
 * Deterministic: no sampling, no randomness; the same data and parameters give the same trees.
 *
 * ```ts
 * const model = trainGbdt({ matrix, labels }, { trees: 100, depth: 6 });
 * const p = predictProbability(model, heldOut.matrix);
 * ```
 */

export interface GbdtParams {
  /** Boosting rounds (default 100). */
  readonly trees: number;
  /** Maximum depth: splits on a path from root to leaf (default 6, so at most 64 leaves). */
  readonly depth: number;
  /** Shrinkage of each tree's leaf values (default 0.1). */
  readonly learningRate: number;
  /** L2 regularisation λ of leaf values: leaf = −G/(H + λ) (default 1). */
  readonly lambda: number;
  /** Fewest training rows in a leaf (default 20). */
  readonly minSamplesLeaf: number;
  /** Smallest hessian sum in a leaf (default 1e-3): stops splits on rows the model is already sure of. */
  readonly minChildHessian: number;
}

export const DEFAULT_GBDT_PARAMS: GbdtParams = { trees: 100, depth: 6, learningRate: 0.1, lambda: 1, minSamplesLeaf: 20, minChildHessian: 1e-3 };

export interface GbdtModel {
  /** Feature names in input column order. */
  readonly features: readonly string[];
  /** Initial margin: log-odds of the training label mean (a float32 value). */
  readonly baseScore: number;
  readonly trees: readonly Tree[];
  readonly params: GbdtParams;
}

export function trainGbdt(data: LabelledData, params: Partial<GbdtParams> = {}): GbdtModel {
  const p = { ...DEFAULT_GBDT_PARAMS, ...definedOnly(params) };
  checkParams(p);
  const { matrix, labels } = data;
  const n = matrix.rows;
  if (n === 0) throw new RtmlError('RTML_E_TRAIN', 'no training rows');
  let positives = 0;
  for (let i = 0; i < n; i++) {
    if (labels[i]! > 1) throw new RtmlError('RTML_E_TRAIN', `label of row ${i + 1} is ${labels[i]}: labels are 0 or 1`);
    positives += labels[i]!;
  }
  if (positives === 0 || positives === n) {
    throw new RtmlError('RTML_E_TRAIN', `every training label is ${positives === 0 ? 0 : 1}: a classifier needs rows of both classes`);
  }
  const mean = positives / n;
  const baseScore = Math.fround(Math.log(mean / (1 - mean)));

  const grower = new TreeGrower(binFeatures(matrix), n, p);
  const margin = new Float64Array(n).fill(baseScore);
  const grad = new Float64Array(n);
  const hess = new Float64Array(n);
  const trees: Tree[] = [];
  for (let t = 0; t < p.trees; t++) {
    for (let i = 0; i < n; i++) {
      const prob = sigmoid(margin[i]!);
      grad[i] = prob - labels[i]!;
      // Floor the hessian: a row predicted with certainty must not make H + λ vanish when λ = 0.
      hess[i] = Math.max(prob * (1 - prob), 1e-16);
    }
    trees.push(grower.grow(grad, hess, margin));
  }
  return { features: [...matrix.features], baseScore, trees, params: p };
}

/** The margin (log-odds) per row: base score plus every tree's leaf value, trees in order. */
export function predictMargin(model: GbdtModel, matrix: FeatureMatrix): Float64Array {
  checkColumns(model, matrix);
  const f = matrix.features.length;
  const out = new Float64Array(matrix.rows);
  for (let i = 0; i < matrix.rows; i++) {
    let sum = 0;
    for (const tree of model.trees) sum += treeValue(tree, matrix.values, i * f);
    out[i] = sum + model.baseScore;
  }
  return out;
}

/** P(label = 1) per row. */
export function predictProbability(model: GbdtModel, matrix: FeatureMatrix): Float64Array {
  const margin = predictMargin(model, matrix);
  for (let i = 0; i < margin.length; i++) margin[i] = sigmoid(margin[i]!);
  return margin;
}

export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

function checkColumns(model: GbdtModel, matrix: FeatureMatrix): void {
  const want = model.features;
  const got = matrix.features;
  if (want.length !== got.length || want.some((name, i) => name !== got[i])) {
    throw new RtmlError('RTML_E_MODEL', `the model takes features [${want.join(', ')}] in this order, got [${got.join(', ')}]`);
  }
}

function checkParams(p: GbdtParams): void {
  const bad = (name: string, why: string) => new RtmlError('RTML_E_TRAIN', `${name} = ${p[name as keyof GbdtParams]}: ${why}`);
  if (!Number.isInteger(p.trees) || p.trees < 1) throw bad('trees', 'expected a whole number >= 1');
  if (!Number.isInteger(p.depth) || p.depth < 1 || p.depth > 16) throw bad('depth', 'expected a whole number from 1 to 16');
  if (!(p.learningRate > 0 && p.learningRate <= 1)) throw bad('learningRate', 'expected a number in (0, 1]');
  if (!(p.lambda >= 0) || !Number.isFinite(p.lambda)) throw bad('lambda', 'expected a finite number >= 0');
  if (!Number.isInteger(p.minSamplesLeaf) || p.minSamplesLeaf < 1) throw bad('minSamplesLeaf', 'expected a whole number >= 1');
  if (!(p.minChildHessian >= 0) || !Number.isFinite(p.minChildHessian)) throw bad('minChildHessian', 'expected a finite number >= 0');
}

/** `{ ...defaults, ...params }` without letting an explicit `undefined` erase a default. */
function definedOnly(params: Partial<GbdtParams>): Partial<GbdtParams> {
  return Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined)) as Partial<GbdtParams>;
}
