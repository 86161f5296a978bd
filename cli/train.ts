import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { RtmlError } from '../engine/errors.ts';
import { auc, holdoutSplit, logloss, predictProbability, readTrainingData, trainGbdt } from '../models/training/index.ts';
import { gbdtToOnnx, scoreWithOnnx } from '../models/onnx/index.ts';

/**
 * `rtml train --data train.csv --label is_fraud --features f1,f2,… --out model.onnx`: trains
 * gradient-boosted trees on the first 80 % of the rows, evaluates on the last 20 % (held out, by
 * row order: the most recent labels in an exported training set), exports ONNX and checks that ONNX
 * Runtime scores the held-out rows as the trained model does before writing the file.
 */

export interface TrainOptions {
  data: string;
  label: string;
  /** Comma-separated feature columns, in the order the model will take them. */
  features: string;
  out: string;
  trees?: number;
  depth?: number;
  learningRate?: number;
}

export interface TrainSummary {
  rows: number;
  trainRows: number;
  heldOutRows: number;
  features: string[];
  trees: number;
  seconds: number;
  metrics: { train_auc: number; train_logloss: number; held_out_auc: number; held_out_logloss: number };
  /** Largest |ONNX − TypeScript| probability on the held-out rows. */
  onnxMaxDiff: number;
}

/** ONNX Runtime must agree with the trained model this closely, or the file is not written. */
const ONNX_TOLERANCE = 1e-6;

export async function trainCommand(options: TrainOptions): Promise<TrainSummary> {
  if (!options.out.toLowerCase().endsWith('.onnx')) throw new RtmlError('RTML_E_USAGE', `--out ${options.out}: the model file name must end in .onnx`);
  const features = options.features.split(',').map((f) => f.trim());
  if (features.some((f) => f === '')) throw new RtmlError('RTML_E_USAGE', `--features ${options.features}: expected comma-separated column names, none empty`);
  const data = await readTrainingData(options.data, { label: options.label, features });
  const { train, heldOut } = holdoutSplit(data);

  const started = performance.now();
  const model = trainGbdt(train, { trees: options.trees, depth: options.depth, learningRate: options.learningRate });
  const seconds = (performance.now() - started) / 1000;

  const trainP = predictProbability(model, train.matrix);
  const heldOutP = predictProbability(model, heldOut.matrix);
  const metrics = {
    train_auc: auc(train.labels, trainP),
    train_logloss: logloss(train.labels, trainP),
    held_out_auc: auc(heldOut.labels, heldOutP),
    held_out_logloss: logloss(heldOut.labels, heldOutP),
  };
  const bytes = gbdtToOnnx(model, { label: options.label, metrics: { rows_train: train.matrix.rows, rows_held_out: heldOut.matrix.rows, ...metrics } });

  const onnxP = await scoreWithOnnx(bytes, heldOut.matrix);
  let onnxMaxDiff = 0;
  for (let i = 0; i < onnxP.length; i++) onnxMaxDiff = Math.max(onnxMaxDiff, Math.abs(onnxP[i]! - heldOutP[i]!));
  if (!(onnxMaxDiff <= ONNX_TOLERANCE)) {
    throw new RtmlError('RTML_E_MODEL', `the exported ONNX model scores held-out rows up to ${onnxMaxDiff} away from the trained model; ${options.out} not written`);
  }
  writeAtomically(options.out, bytes);

  const n = (x: number) => x.toLocaleString('en-US');
  const m = (x: number) => (Number.isNaN(x) ? 'n/a' : x.toFixed(4));
  process.stderr.write(
    `rtml: train: ${n(data.matrix.rows)} rows (${n(train.matrix.rows)} train, ${n(heldOut.matrix.rows)} held out), ${features.length} features, ` +
      `${model.trees.length} trees in ${seconds.toFixed(2)}s; AUC train ${m(metrics.train_auc)} held-out ${m(metrics.held_out_auc)}; ` +
      `logloss train ${m(metrics.train_logloss)} held-out ${m(metrics.held_out_logloss)}; wrote ${options.out}\n`,
  );
  return { rows: data.matrix.rows, trainRows: train.matrix.rows, heldOutRows: heldOut.matrix.rows, features, trees: model.trees.length, seconds, metrics, onnxMaxDiff };
}

/** Temp file then rename: a crash never leaves a half-written model where a server may load it. */
function writeAtomically(path: string, bytes: Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const temp = `${path}.tmp-${process.pid}`;
  writeFileSync(temp, bytes);
  renameSync(temp, path);
}
