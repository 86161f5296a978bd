import { readFileSync } from 'node:fs';
import { RtmlError, errorMessage } from '../../engine/errors.ts';
import { INPUT_NAME, META_FEATURES, OUTPUT_NAME, onnx, type OnnxTypes } from './onnxFormat.ts';

/**
 * Loads and validates an ONNX model before anything serves with it. Refused, with the reason, as
 * RTML_E_MODEL:
 *
 * 1. a file that cannot be read or is not an ONNX protobuf (corrupt, truncated, another format);
 * 2. a graph without exactly one input `features` of float [N, F] (F a fixed number) or without an
 *    output `score` of float [N, 1];
 * 3. when `features` are declared: a different count than F, or — when the model records its
 *    feature names (`rtml.features`) — other names or another order.
 *
 * Parsing only: no ONNX Runtime session is created, so it is cheap and synchronous.
 *
 * ```ts
 * const model = loadOnnxModel('models/fraud.onnx', { features: ['card_activity__n', 'card_activity__total'] });
 * ```
 */

export interface LoadedModel {
  readonly bytes: Uint8Array;
  /** Columns of the `features` input (F). */
  readonly featureCount: number;
  /** Feature names the model records (`rtml.features`), or null when it records none. */
  readonly features: readonly string[] | null;
  /** Every metadata_props entry. */
  readonly metadata: Readonly<Record<string, string>>;
  readonly producer: string;
}

export interface LoadOptions {
  /** Feature list the caller will feed, in column order: must match the model. */
  readonly features?: readonly string[];
  /** Name for messages when `source` is bytes (default 'model'). */
  readonly name?: string;
}

export function loadOnnxModel(source: string | Uint8Array, options: LoadOptions = {}): LoadedModel {
  const name = typeof source === 'string' ? source : (options.name ?? 'model');
  const refuse = (why: string) => new RtmlError('RTML_E_MODEL', `${name}: ${why}`);
  let bytes: Uint8Array;
  try {
    bytes = typeof source === 'string' ? readFileSync(source) : source;
  } catch (err) {
    throw refuse(`cannot be read: ${errorMessage(err)}`);
  }
  let proto: OnnxTypes.ModelProto;
  try {
    proto = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw refuse(`not an ONNX model (${errorMessage(err)})`);
  }
  const graph = proto.graph;
  // Arbitrary bytes can decode to a message with no graph: that is not a model either.
  if (!graph || (graph.node ?? []).length === 0 || proto.opsetImport.length === 0) throw refuse('not an ONNX model (no graph or no operator sets)');

  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  const inputs = (graph.input ?? []).filter((i) => !initializers.has(i.name));
  const outputs = graph.output ?? [];
  if (inputs.length !== 1 || inputs[0]!.name !== INPUT_NAME) {
    throw refuse(`expected one input "${INPUT_NAME}", found ${describe(inputs)}`);
  }
  const input = floatShape(inputs[0]!);
  if (input === null || input.length !== 2) throw refuse(`input "${INPUT_NAME}" must be float [N, F], is ${typeText(inputs[0]!)}`);
  const featureCount = input[1]!;
  if (typeof featureCount !== 'number' || featureCount < 1) throw refuse(`input "${INPUT_NAME}" must have a fixed feature count F, has [${input.join(', ')}]`);
  const output = outputs.find((o) => o.name === OUTPUT_NAME);
  if (output === undefined) throw refuse(`expected an output "${OUTPUT_NAME}", found ${describe(outputs)}`);
  const outShape = floatShape(output);
  if (outShape === null || outShape.length !== 2 || (typeof outShape[1] === 'number' && outShape[1] !== 1)) {
    throw refuse(`output "${OUTPUT_NAME}" must be float [N, 1], is ${typeText(output)}`);
  }

  const metadata: Record<string, string> = {};
  for (const p of proto.metadataProps) if (p.key) metadata[p.key] = p.value ?? '';
  const features = recordedFeatures(metadata[META_FEATURES], featureCount, refuse);
  if (options.features !== undefined) {
    const want = options.features;
    if (want.length !== featureCount) {
      throw refuse(`takes ${featureCount} feature(s)${features ? ` [${features.join(', ')}]` : ''}, but ${want.length} are declared [${want.join(', ')}]`);
    }
    const wrong = features === null ? -1 : want.findIndex((f, i) => f !== features[i]);
    if (wrong >= 0) throw refuse(`feature ${wrong + 1} is "${features![wrong]}" in the model but "${want[wrong]}" is declared (model: [${features!.join(', ')}])`);
  }
  return { bytes, featureCount, features, metadata, producer: `${proto.producerName} ${proto.producerVersion}`.trim() };
}

function recordedFeatures(text: string | undefined, count: number, refuse: (why: string) => RtmlError): string[] | null {
  if (text === undefined) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = null;
  }
  if (!Array.isArray(parsed) || !parsed.every((f) => typeof f === 'string')) throw refuse(`metadata ${META_FEATURES} is not a JSON array of names: ${text.slice(0, 80)}`);
  if (parsed.length !== count) throw refuse(`metadata ${META_FEATURES} names ${parsed.length} feature(s) but the input has ${count} columns`);
  return parsed as string[];
}

type Dim = number | string;

/** The dims of a float tensor (a number when fixed, the parameter name or '?' otherwise); null when not a float tensor. */
function floatShape(info: OnnxTypes.IValueInfoProto): Dim[] | null {
  const tensor = info.type?.tensorType;
  if (!tensor || tensor.elemType !== onnx.TensorProto.DataType.FLOAT || !tensor.shape) return null;
  return (tensor.shape.dim ?? []).map((d) => (d.dimValue != null && Number(d.dimValue) > 0 ? Number(d.dimValue) : d.dimParam || '?'));
}

function typeText(info: OnnxTypes.IValueInfoProto): string {
  const tensor = info.type?.tensorType;
  if (!tensor) return 'not a tensor';
  const elem = onnx.TensorProto.DataType[tensor.elemType ?? 0] ?? String(tensor.elemType);
  const dims = tensor.shape ? `[${(tensor.shape.dim ?? []).map((d) => (d.dimValue != null && Number(d.dimValue) > 0 ? Number(d.dimValue) : d.dimParam || '?')).join(', ')}]` : 'of unknown shape';
  return `${elem.toLowerCase()} ${dims}`;
}

function describe(infos: readonly OnnxTypes.IValueInfoProto[]): string {
  return infos.length === 0 ? 'none' : infos.map((i) => `"${i.name}" (${typeText(i)})`).join(', ');
}
