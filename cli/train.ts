import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { RtmlError } from '../engine/errors.ts';
import { trainModel, type TrainedModel } from '../models/retrain/index.ts';
import { readTrainingData } from '../models/training/index.ts';
import { logLine } from '../engine/log.ts';

/**
 * `rtml train --data train.csv --label is_fraud --features f1,f2,… --out model.onnx`: trains
 * gradient-boosted trees on the first 80 % of the rows, evaluates on the last 20 % (held out, by
 * row order: the most recent labels in an exported training set), exports ONNX with the training
 * data's reference profile and checks that ONNX Runtime scores the held-out rows as the trained
 * model does before writing the file (models/retrain/trainModel.ts).
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

export interface TrainSummary extends Omit<TrainedModel, 'bytes'> {
  features: string[];
}

export async function trainCommand(options: TrainOptions): Promise<TrainSummary> {
  if (!options.out.toLowerCase().endsWith('.onnx')) throw new RtmlError('RTML_E_USAGE', `--out ${options.out}: the model file name must end in .onnx`);
  const features = options.features.split(',').map((f) => f.trim());
  if (features.some((f) => f === '')) throw new RtmlError('RTML_E_USAGE', `--features ${options.features}: expected comma-separated column names, none empty`);
  const data = await readTrainingData(options.data, { label: options.label, features });
  const trained = await trainModel(data, { label: options.label, params: { trees: options.trees, depth: options.depth, learningRate: options.learningRate } });
  writeAtomically(options.out, trained.bytes);
  const { bytes: _bytes, ...summary } = trained;
  const n = (x: number) => x.toLocaleString('en-US');
  const m = (x: number) => (Number.isNaN(x) ? 'n/a' : x.toFixed(4));
  const { metrics } = trained;
  logLine(
    `rtml: train: ${n(trained.rows)} rows (${n(trained.trainRows)} train, ${n(trained.heldOutRows)} held out), ${features.length} features, ` +
      `${trained.trees} trees in ${trained.seconds.toFixed(2)}s; AUC train ${m(metrics.train_auc)} held-out ${m(metrics.held_out_auc)}; ` +
      `logloss train ${m(metrics.train_logloss)} held-out ${m(metrics.held_out_logloss)}; reference profile of ${features.length} features and the score; wrote ${options.out}`,
  );
  return { ...summary, features };
}

/** Temp file then rename: a crash never leaves a half-written model where a server may load it. */
function writeAtomically(path: string, bytes: Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const temp = `${path}.tmp-${process.pid}`;
  writeFileSync(temp, bytes);
  renameSync(temp, path);
}
