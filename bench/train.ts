/**
 * GBDT training speed: 100,000 rows × 20 features (x0 XOR x1 with 2 % label noise, a column with
 * 10 % missing values, a constant one), default parameters (100 trees, depth 6), one core. Scores
 * 20,000 other rows with the model and with its ONNX export through ONNX Runtime. Prints one line:
 * rows × features, training seconds, held-out AUC, max |ONNX − TS|. Run: npx tsx bench/train.ts
 * [rows] [features]. Target: well under a minute.
 */
import { auc, predictProbability, trainGbdt, xorData } from '../models/training/index.ts';
import { gbdtToOnnx, scoreWithOnnx } from '../models/onnx/index.ts';

const ROWS = Number(process.argv[2] ?? 100_000);
const FEATURES = Number(process.argv[3] ?? 20);

const train = xorData({ rows: ROWS, features: FEATURES, noise: 0.02, seed: 1 });
const heldOut = xorData({ rows: 20_000, features: FEATURES, noise: 0.02, seed: 2 });

const started = performance.now();
const model = trainGbdt(train);
const seconds = (performance.now() - started) / 1000;

const p = predictProbability(model, heldOut.matrix);
const onnxP = await scoreWithOnnx(gbdtToOnnx(model), heldOut.matrix);
let diff = 0;
for (let i = 0; i < p.length; i++) diff = Math.max(diff, Math.abs(onnxP[i]! - p[i]!));

console.log(
  `train: ${ROWS.toLocaleString('en-US')} rows × ${FEATURES} features, ${model.trees.length} trees depth ${model.params.depth}: ` +
    `${seconds.toFixed(2)} s training, held-out AUC ${auc(heldOut.labels, p).toFixed(4)}, max |ONNX − TS| ${diff.toExponential(1)}`,
);
