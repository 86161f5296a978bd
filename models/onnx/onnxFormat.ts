import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';

/**
 * The ONNX contract of every rtml model, shared by the exporter and the loader:
 * one float input `features` of shape [N, F] (columns in the declared feature order, NaN =
 * missing) and one float output `score` of shape [N, 1] = P(label = 1). Metadata keys under
 * `rtml.` describe how it was made.
 */

// onnx-proto is CommonJS: its namespace object comes through the default import, its types by name.
export const { onnx } = onnxProto;
export type { OnnxTypes };

export const INPUT_NAME = 'features';
export const OUTPUT_NAME = 'score';
export const ML_DOMAIN = 'ai.onnx.ml';

export const META_FEATURES = 'rtml.features';
export const META_LABEL = 'rtml.label';
export const META_METRICS = 'rtml.metrics';
export const META_PARAMS = 'rtml.params';
export const META_VERSION = 'rtml.version';
/** The training data's reference profile (engine/monitoring/profile.ts), JSON. */
export const META_PROFILE = 'rtml.profile';
