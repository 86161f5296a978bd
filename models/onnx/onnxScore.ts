import { InferenceSession, Tensor } from 'onnxruntime-node';
import type { FeatureMatrix } from '../training/index.ts';
import { INPUT_NAME, OUTPUT_NAME } from './onnxFormat.ts';

/**
 * Scores a matrix with an rtml ONNX model through ONNX Runtime (CPU): the values are passed as
 * float32, NaN for missing, and `score` comes back as one P(label = 1) per row. For checks and
 * batch scoring; serving keeps one session open instead of creating one per call.
 */
export async function scoreWithOnnx(model: Uint8Array, matrix: FeatureMatrix): Promise<Float32Array> {
  const session = await InferenceSession.create(model);
  try {
    const input = new Tensor('float32', Float32Array.from(matrix.values), [matrix.rows, matrix.features.length]);
    const out = await session.run({ [INPUT_NAME]: input });
    return out[OUTPUT_NAME]!.data as Float32Array;
  } finally {
    await session.release();
  }
}
