import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { featureMatrix, holdoutSplit, predictProbability, trainGbdt, xorData } from '../models/training/index.ts';
import { gbdtToOnnx, loadOnnxModel, scoreWithOnnx } from '../models/onnx/index.ts';

async function maxDiff(bytes: Uint8Array, expected: Float64Array, matrix: Parameters<typeof scoreWithOnnx>[1]): Promise<number> {
  const got = await scoreWithOnnx(bytes, matrix);
  assert.equal(got.length, expected.length);
  let d = 0;
  for (let i = 0; i < got.length; i++) d = Math.max(d, Math.abs(got[i]! - expected[i]!));
  return d;
}

describe('ONNX export', () => {
  it('scores held-out rows, missing values included, as the TypeScript model does (1e-6)', async () => {
    const { train, heldOut } = holdoutSplit(xorData({ rows: 10_000, features: 5, seed: 21, missing: 0.3 }));
    const model = trainGbdt(train);
    assert.ok(model.trees.some((t) => [...t.feature].includes(2)), 'the column with missing values is used');
    let missingRows = 0;
    for (let i = 0; i < heldOut.matrix.rows; i++) if (Number.isNaN(heldOut.matrix.values[i * 5 + 2]!)) missingRows++;
    assert.ok(missingRows > 100);
    const d = await maxDiff(gbdtToOnnx(model), predictProbability(model, heldOut.matrix), heldOut.matrix);
    assert.ok(d <= 1e-6, `max |ONNX − TS| = ${d}`);
  });

  it('routes rows with every value missing, values outside the training range and exact thresholds alike', async () => {
    const data = xorData({ rows: 4_000, features: 3, seed: 4, missing: 0.2 });
    const model = trainGbdt(data, { trees: 40, depth: 4 });
    const thresholds = model.trees.flatMap((t) => [...t.threshold].filter((_, n) => t.feature[n]! >= 0));
    const rows: number[][] = [
      [Number.NaN, Number.NaN, Number.NaN],
      [-1e6, 1e6, 0.5],
      [2, -2, Number.NaN],
      ...thresholds.slice(0, 50).map((x) => [x, x, x]),
      ...thresholds.slice(0, 50).map((x) => [x + 1e-9, x - 1e-9, Number.NaN]),
    ];
    const matrix = featureMatrix(model.features, rows.length, Float64Array.from(rows.flat()));
    const d = await maxDiff(gbdtToOnnx(model), predictProbability(model, matrix), matrix);
    assert.ok(d <= 1e-6, `max |ONNX − TS| = ${d}`);
  });

  it('a depth-1 model and a model of single-leaf trees export too', async () => {
    const data = xorData({ rows: 1_000, features: 2, seed: 8 });
    for (const model of [trainGbdt(data, { trees: 3, depth: 1 }), trainGbdt(data, { trees: 2, minSamplesLeaf: 1_000 })]) {
      const d = await maxDiff(gbdtToOnnx(model), predictProbability(model, data.matrix), data.matrix);
      assert.ok(d <= 1e-6, `max |ONNX − TS| = ${d}`);
    }
  });

  it('has the features [N, F] → score [N, 1] signature and records features, label, metrics and version', () => {
    const model = trainGbdt(xorData({ rows: 1_000, features: 3, seed: 2 }), { trees: 3 });
    const loaded = loadOnnxModel(gbdtToOnnx(model, { label: 'is_fraud', metrics: { held_out_auc: 0.9, nan: Number.NaN } }));
    assert.equal(loaded.featureCount, 3);
    assert.deepEqual(loaded.features, ['x0', 'x1', 'x2']);
    assert.equal(loaded.metadata['rtml.label'], 'is_fraud');
    assert.deepEqual(JSON.parse(loaded.metadata['rtml.metrics']!), { held_out_auc: 0.9, nan: null });
    assert.equal(JSON.parse(loaded.metadata['rtml.params']!).trees, 3);
    assert.match(loaded.metadata['rtml.version']!, /^\d+\.\d+\.\d+/);
    assert.match(loaded.producer, /^rtml /);
  });
});
