import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { auc, featureMatrix, holdoutSplit, mulberry32, predictProbability, trainGbdt, xorData, type LabelledData } from '../models/training/index.ts';
import { gbdtToOnnx } from '../models/onnx/index.ts';

const splitFeatures = (model: ReturnType<typeof trainGbdt>) => new Set(model.trees.flatMap((t) => [...t.feature].filter((f) => f >= 0)));

describe('trainGbdt', () => {
  it('learns x0 > 0.5 XOR x1 > 0.5 with 2 % label noise: held-out AUC > 0.95', () => {
    const { train, heldOut } = holdoutSplit(xorData({ rows: 20_000, features: 6, noise: 0.02, seed: 7 }));
    const model = trainGbdt(train);
    const score = auc(heldOut.labels, predictProbability(model, heldOut.matrix));
    assert.ok(score > 0.95, `held-out AUC ${score}`);
    assert.equal(model.trees.length, 100);
    assert.ok(model.trees.every((t) => maxDepth(t.left, t.right) <= 6));
  });

  it('never splits on a constant feature or an all-missing one', () => {
    const data = xorData({ rows: 5_000, features: 5, seed: 3 });
    for (let i = 0; i < data.matrix.rows; i++) data.matrix.values[i * 5 + 4] = Number.NaN;
    const model = trainGbdt(data, { trees: 30 });
    const used = splitFeatures(model);
    assert.ok(!used.has(3), 'column 3 is constant');
    assert.ok(!used.has(4), 'column 4 is always missing');
    assert.ok(used.has(0) && used.has(1));
  });

  it('learns a side for missing values: missing like high values, then like low ones', () => {
    for (const missingIsPositive of [true, false]) {
      const data = thresholdData(4_000, (rand) => (rand() < 0.2 ? Number.NaN : rand()), (x) => (Number.isNaN(x) ? missingIsPositive : x > 0.5));
      const model = trainGbdt(data, { trees: 20 });
      const p = predictProbability(model, featureMatrix(['x'], 3, new Float64Array([Number.NaN, 0.9, 0.1])));
      assert.equal(p[0]! > 0.5, missingIsPositive, `missing → ${p[0]}`);
      assert.ok(p[1]! > 0.8 && p[2]! < 0.2);
    }
  });

  it('splits present from missing on a feature that is constant where present', () => {
    const data = thresholdData(2_000, (rand) => (rand() < 0.5 ? Number.NaN : 1), (x) => Number.isNaN(x));
    const model = trainGbdt(data, { trees: 50 });
    const p = predictProbability(model, featureMatrix(['x'], 2, new Float64Array([Number.NaN, 1])));
    assert.ok(p[0]! > 0.9 && p[1]! < 0.1, `${p}`);
  });

  it('is deterministic: the same data gives byte-identical ONNX', () => {
    const a = gbdtToOnnx(trainGbdt(xorData({ rows: 3_000, features: 4, seed: 11 }), { trees: 20 }), { label: 'y' });
    const b = gbdtToOnnx(trainGbdt(xorData({ rows: 3_000, features: 4, seed: 11 }), { trees: 20 }), { label: 'y' });
    assert.deepEqual(Buffer.from(a), Buffer.from(b));
  });

  it('uses the label log-odds as base score and respects minSamplesLeaf', () => {
    const data = xorData({ rows: 2_000, features: 3, seed: 5 });
    let positives = 0;
    for (const y of data.labels) positives += y;
    const model = trainGbdt(data, { trees: 5, minSamplesLeaf: 300 });
    assert.equal(model.baseScore, Math.fround(Math.log(positives / (data.labels.length - positives))));
    // Count training rows per leaf by routing them.
    for (const tree of model.trees) {
      const counts = new Map<number, number>();
      for (let i = 0; i < data.matrix.rows; i++) {
        let node = 0;
        while (tree.feature[node]! >= 0) {
          const v = data.matrix.values[i * 3 + tree.feature[node]!]!;
          node = (Number.isNaN(v) ? tree.missingLeft[node] === 1 : Math.fround(v) <= tree.threshold[node]!) ? tree.left[node]! : tree.right[node]!;
        }
        counts.set(node, (counts.get(node) ?? 0) + 1);
      }
      assert.ok([...counts.values()].every((n) => n >= 300), `leaf sizes ${[...counts.values()]}`);
    }
  });

  it('refuses one-class labels and bad parameters', () => {
    const data = xorData({ rows: 100, features: 2 });
    assert.throws(() => trainGbdt({ matrix: data.matrix, labels: new Uint8Array(100) }), { code: 'RTML_E_TRAIN', message: /both classes/ });
    assert.throws(() => trainGbdt(data, { trees: 0 }), { code: 'RTML_E_TRAIN', message: /trees = 0/ });
    assert.throws(() => trainGbdt(data, { learningRate: 2 }), { code: 'RTML_E_TRAIN', message: /learningRate/ });
    assert.throws(() => trainGbdt(data, { depth: 1.5 }), { code: 'RTML_E_TRAIN', message: /depth/ });
  });

  it('refuses to predict on columns in another order', () => {
    const data = xorData({ rows: 500, features: 2 });
    const model = trainGbdt(data, { trees: 2 });
    assert.throws(() => predictProbability(model, featureMatrix(['x1', 'x0'], 0)), { code: 'RTML_E_MODEL' });
  });
});

/** One feature `x` drawn by `draw`, label `rule(x)`. */
function thresholdData(rows: number, draw: (rand: () => number) => number, rule: (x: number) => boolean): LabelledData {
  const rand = mulberry32(99);
  const matrix = featureMatrix(['x'], rows);
  const labels = new Uint8Array(rows);
  for (let i = 0; i < rows; i++) {
    matrix.values[i] = draw(rand);
    labels[i] = rule(matrix.values[i]!) ? 1 : 0;
  }
  return { matrix, labels };
}

function maxDepth(left: Int32Array, right: Int32Array, node = 0): number {
  return left[node]! < 0 ? 0 : 1 + Math.max(maxDepth(left, right, left[node]!), maxDepth(left, right, right[node]!));
}
