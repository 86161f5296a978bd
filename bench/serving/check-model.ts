import { readFileSync } from 'node:fs';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import type { ModelFiles } from './model.ts';
import { MODEL_FEATURES, modelRow, type PredictBody } from './workload.ts';

/** How far apart two servers' scores for the same request may be: float32 trees against scikit-learn's float64 sums. */
export const SCORE_TOLERANCE = 1e-5;

/** Scores rows with ONNX Runtime's public API, as the Node peers do. */
export async function onnxScores(onnxFile: string, rows: readonly (readonly number[])[]): Promise<Float32Array> {
  const session = await InferenceSession.create(onnxFile);
  try {
    const out = await session.run({ features: new Tensor('float32', Float32Array.from(rows.flat()), [rows.length, MODEL_FEATURES.length]) });
    return out.score!.data as Float32Array;
  } finally {
    await session.release();
  }
}

/**
 * Checks that the ONNX file is the pickled model: ONNX Runtime's scores of the held-out rows
 * train_model.py wrote must equal scikit-learn's predict_proba[:, 1] within SCORE_TOLERANCE.
 * Returns the largest difference.
 */
export async function checkModel(model: ModelFiles): Promise<number> {
  const check = JSON.parse(readFileSync(model.check, 'utf8')) as { features: string[]; rows: number[][]; proba: number[] };
  if (check.features.join() !== MODEL_FEATURES.join()) throw new Error(`the model's features are [${check.features.join(', ')}], not [${MODEL_FEATURES.join(', ')}]`);
  const scores = await onnxScores(model.onnx, check.rows);
  let worst = 0;
  check.proba.forEach((p, i) => (worst = Math.max(worst, Math.abs(p - scores[i]!))));
  if (!(worst <= SCORE_TOLERANCE)) throw new Error(`ONNX Runtime and scikit-learn disagree by up to ${worst} on ${check.rows.length} rows`);
  return worst;
}

/** What every server must answer for `bodies`: the ONNX model on the request's features and the card's stored ones. */
export async function expectedScores(model: ModelFiles, bodies: readonly PredictBody[]): Promise<Float32Array> {
  return onnxScores(model.onnx, bodies.map(modelRow));
}
