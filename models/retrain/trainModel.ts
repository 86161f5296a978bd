import { buildProfile, type ReferenceProfile } from '../../engine/monitoring/profile.ts';
import { RtmlError } from '../../engine/errors.ts';
import { gbdtToOnnx, scoreWithOnnx } from '../onnx/index.ts';
import { auc, column, holdoutSplit, logloss, predictProbability, trainGbdt, type GbdtParams, type LabelledData } from '../training/index.ts';

/**
 * Trains a model file from labelled data: gradient-boosted trees on the first 80 % of the rows,
 * evaluated on the last 20 % (held out by row order: the most recent labels of an exported training
 * set), exported as ONNX with its metrics and the training data's reference profile (features over
 * every row, the score over the held-out rows), and checked: ONNX Runtime must score the held-out
 * rows as the trained model does. `rtml train` and `rtml retrain` both train through it.
 */

export interface TrainedModel {
  readonly bytes: Uint8Array;
  readonly rows: number;
  readonly trainRows: number;
  readonly heldOutRows: number;
  readonly trees: number;
  readonly seconds: number;
  readonly metrics: { train_auc: number; train_logloss: number; held_out_auc: number; held_out_logloss: number };
  readonly profile: ReferenceProfile;
  /** Largest |ONNX − TypeScript| probability on the held-out rows. */
  readonly onnxMaxDiff: number;
}

/** ONNX Runtime must agree with the trained model this closely, or no model is made. */
const ONNX_TOLERANCE = 1e-6;

export async function trainModel(data: LabelledData, options: { label: string; params?: Partial<GbdtParams> }): Promise<TrainedModel> {
  const { train, heldOut } = holdoutSplit(data);
  const started = performance.now();
  const model = trainGbdt(train, options.params ?? {});
  const seconds = (performance.now() - started) / 1000;
  const trainP = predictProbability(model, train.matrix);
  const heldOutP = predictProbability(model, heldOut.matrix);
  const metrics = {
    train_auc: auc(train.labels, trainP),
    train_logloss: logloss(train.labels, trainP),
    held_out_auc: auc(heldOut.labels, heldOutP),
    held_out_logloss: logloss(heldOut.labels, heldOutP),
  };
  const profile = buildProfile(
    data.matrix.features.map((name, j) => ({ name, values: column(data.matrix, j) })),
    heldOutP,
  );
  const bytes = gbdtToOnnx(model, { label: options.label, metrics: { rows_train: train.matrix.rows, rows_held_out: heldOut.matrix.rows, ...metrics }, profile });
  const onnxP = await scoreWithOnnx(bytes, heldOut.matrix);
  let onnxMaxDiff = 0;
  for (let i = 0; i < onnxP.length; i++) onnxMaxDiff = Math.max(onnxMaxDiff, Math.abs(onnxP[i]! - heldOutP[i]!));
  if (!(onnxMaxDiff <= ONNX_TOLERANCE)) {
    throw new RtmlError('RTML_E_MODEL', `the exported ONNX model scores held-out rows up to ${onnxMaxDiff} away from the trained model`);
  }
  return { bytes, rows: data.matrix.rows, trainRows: train.matrix.rows, heldOutRows: heldOut.matrix.rows, trees: model.trees.length, seconds, metrics, profile, onnxMaxDiff };
}
