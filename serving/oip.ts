import { Type, type Static } from '@sinclair/typebox';
import { RtmlError } from '../engine/errors.ts';
import type { RegistryModel } from '../models/registry/provider.ts';
import type { ModelVersion } from '../models/registry/store.ts';
import type { Prediction } from './batcher.ts';
import { describeJson, type Instance } from './instances.ts';

/**
 * The Open Inference Protocol (KServe v2, Triton) on rtml's models. A model has one input
 * `features` FP32 [-1, F] and one output `score` FP32 [-1, 1]; rtml adds the output `label`
 * (INT64 [-1, 1], score ≥ threshold) on request. An infer request gives either the `features`
 * tensor (shape [N, F] or [F], data flat or nested, row-major) or one input per feature name
 * (shape [N] or [N, 1]), as Triton clients that name columns do.
 */

const NUMERIC = ['FP16', 'FP32', 'FP64', 'INT8', 'INT16', 'INT32', 'INT64', 'UINT8', 'UINT16', 'UINT32', 'UINT64'] as const;
const OUTPUTS = ['score', 'label'] as const;
type OutputName = (typeof OUTPUTS)[number];

const TensorSchema = Type.Object({
  name: Type.String({ minLength: 1 }),
  shape: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, maxItems: 2, description: '[N] or [N, F]: 1 or 2 positive integers' }),
  datatype: Type.Union(NUMERIC.map((t) => Type.Literal(t))),
  // Typed by the handler, not here: a value that is not a number is a feature error (422), as for /predict.
  data: Type.Unknown({ description: 'numbers, row-major: a flat array, or nested arrays' }),
});

/** `POST /v2/models/{name}[/versions/{v}]/infer`. */
export const InferRequestSchema = Type.Object({
  id: Type.Optional(Type.String()),
  inputs: Type.Array(TensorSchema, { minItems: 1 }),
  outputs: Type.Optional(Type.Array(Type.Object({ name: Type.Union(OUTPUTS.map((o) => Type.Literal(o))) }))),
});
export type InferRequestBody = Static<typeof InferRequestSchema>;

export interface InferRequest {
  readonly id: string | undefined;
  readonly instances: Instance[];
  readonly outputs: readonly OutputName[];
}

interface Tensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

const bad = (message: string) => new RtmlError('RTML_E_HTTP_REQUEST', message);
const SCORE_ONLY: readonly OutputName[] = ['score'];

/** The rows of a validated infer request for `model`: what the schema cannot say (sizes, names) is checked here. */
export function inferRequest(body: InferRequestBody, model: RegistryModel): InferRequest {
  const { id, inputs, outputs } = body;
  const tensors = inputs.map(tensor);
  const wanted = outputs === undefined ? SCORE_ONLY : outputs.map((o) => o.name);
  if (tensors.length === 1 && tensors[0]!.name === 'features') return { id, instances: matrixRows(tensors[0]!, model), outputs: wanted };
  return { id, instances: namedRows(tensors, model), outputs: wanted };
}

function tensor(input: Static<typeof TensorSchema>): Tensor {
  const { name, shape, data } = input;
  const size = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(size);
  let n = 0;
  const flatten = (value: unknown, depth: number): void => {
    if (typeof value === 'number') {
      if (n < size) values[n] = value;
      n++;
    } else if (Array.isArray(value) && depth < 3) for (const v of value) flatten(v, depth + 1);
    else throw new RtmlError('RTML_E_FEATURE', `input '${name}': data must hold numbers only, found ${describeJson(value)}`);
  };
  flatten(data, 0);
  if (n !== size) throw bad(`input '${name}': shape ${JSON.stringify(shape)} holds ${size} values, data has ${n}`);
  return { name, shape, data: values };
}

function matrixRows(t: Tensor, model: RegistryModel): Instance[] {
  const width = t.shape.length === 1 ? t.shape[0]! : t.shape[1]!;
  const rows = t.shape.length === 1 ? 1 : t.shape[0]!;
  if (width !== model.featureCount) throw new RtmlError('RTML_E_FEATURE', `input 'features': model ${model.name} ${model.version} takes ${model.featureCount} features per row (${model.features.join(', ')}), got ${width}`);
  const instances: Instance[] = [];
  for (let r = 0; r < rows; r++) instances.push({ features: null, vector: t.data.subarray(r * width, (r + 1) * width), entity: '', hasEntity: false });
  return instances;
}

function namedRows(tensors: readonly Tensor[], model: RegistryModel): Instance[] {
  const known = new Set(model.features);
  const unknown = tensors.filter((t) => !known.has(t.name)).map((t) => t.name);
  if (unknown.length > 0) throw new RtmlError('RTML_E_FEATURE', `model ${model.name} has no input ${unknown.map((n) => `'${n}'`).join(', ')}: send 'features' [N, ${model.featureCount}] or one input per feature (${model.features.join(', ')})`);
  const rows = tensors[0]!.shape[0]!;
  for (const t of tensors) {
    if (t.shape[0] !== rows || (t.shape.length === 2 && t.shape[1] !== 1)) throw bad(`input '${t.name}': every feature input must have shape [${rows}] or [${rows}, 1], got ${JSON.stringify(t.shape)}`);
  }
  const instances: Instance[] = [];
  for (let r = 0; r < rows; r++) {
    const features: Record<string, number> = {};
    for (const t of tensors) features[t.name] = t.data[r]!;
    instances.push({ features, vector: null, entity: '', hasEntity: false });
  }
  return instances;
}

export function inferResponse(name: string, request: InferRequest, predictions: readonly Prediction[]): string {
  const versions = new Set(predictions.map((p) => p.version));
  const outputs = request.outputs.map((output) =>
    output === 'score'
      ? { name: 'score', datatype: 'FP32', shape: [predictions.length, 1], data: predictions.map((p) => p.score) }
      : { name: 'label', datatype: 'INT64', shape: [predictions.length, 1], data: predictions.map((p) => p.label) },
  );
  return JSON.stringify({ model_name: name, model_version: versions.size === 1 ? [...versions][0]!.slice(1) : [...versions].join(','), ...(request.id === undefined ? {} : { id: request.id }), outputs });
}

/** `GET /v2/models/{name}[/versions/{v}]`: the model's tensors, its versions, and rtml's feature names. */
export function modelMetadata(model: RegistryModel, versions: readonly ModelVersion[]): object {
  return {
    name: model.name,
    versions: versions.map((v) => String(v.version)),
    platform: 'onnxruntime_onnx',
    inputs: [{ name: 'features', datatype: 'FP32', shape: [-1, model.featureCount] }],
    outputs: [{ name: 'score', datatype: 'FP32', shape: [-1, 1] }],
    parameters: { version: model.number, features: model.features },
  };
}
