import { readFileSync } from 'node:fs';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { RtmlError, errorMessage } from '../../engine/errors.ts';
import { parseProfile, type ReferenceProfile } from '../../engine/monitoring/profile.ts';
import { INPUT_NAME, META_METRICS, META_PROFILE, OUTPUT_NAME, loadOnnxModel } from '../onnx/index.ts';

/**
 * What the registry checks before it stores a model, and what it records about it. Refused, as
 * RTML_E_MODEL with the reason:
 *
 * 1. whatever `loadOnnxModel` refuses: unreadable, corrupt or truncated files, another format, the
 *    wrong input/output signature, a declared feature list of another width or order;
 * 2. a model without feature names: none recorded (`rtml.features`) and none declared, since
 *    serving must know which features to feed;
 * 3. `rtml.metrics` metadata that is not a JSON object of numbers (or nulls), or `rtml.profile`
 *    metadata that is not a reference profile;
 * 4. a model that parses but ONNX Runtime cannot load (unknown operator, bad attributes) or run:
 *    one row of zeros is scored and must give one number.
 */

export type Metrics = Readonly<Record<string, number | null>>;

export interface ModelSignature {
  readonly input: { readonly name: string; readonly type: 'float32'; readonly shape: readonly ['N', number] };
  readonly output: { readonly name: string; readonly type: 'float32'; readonly shape: readonly ['N', 1] };
}

export interface InspectedModel {
  readonly bytes: Uint8Array;
  readonly features: readonly string[];
  readonly signature: ModelSignature;
  /** From `rtml.metrics`; null when the model records none. */
  readonly metrics: Metrics | null;
  /** From `rtml.profile`; null when the model records none (a model trained elsewhere). */
  readonly profile: ReferenceProfile | null;
}

export async function inspectModel(file: string, declared?: readonly string[]): Promise<InspectedModel> {
  const refuse = (why: string) => new RtmlError('RTML_E_MODEL', `${file}: ${why}`);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw refuse(`cannot be read: ${errorMessage(err)}`);
  }
  const loaded = loadOnnxModel(bytes, { name: file, features: declared });
  const features = declared ?? loaded.features;
  if (features === null) throw refuse(`records no feature names (metadata rtml.features); declare its ${loaded.featureCount} input column(s) with --features a,b,…`);
  const metrics = parseMetrics(loaded.metadata[META_METRICS], refuse);
  const profileText = loaded.metadata[META_PROFILE];
  const profile = profileText === undefined ? null : parseProfile(profileText, file);
  await checkRuns(bytes, loaded.featureCount, refuse);
  return {
    bytes,
    features: [...features],
    metrics,
    profile,
    signature: {
      input: { name: INPUT_NAME, type: 'float32', shape: ['N', loaded.featureCount] },
      output: { name: OUTPUT_NAME, type: 'float32', shape: ['N', 1] },
    },
  };
}

function parseMetrics(text: string | undefined, refuse: (why: string) => RtmlError): Metrics | null {
  if (text === undefined) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const ok =
    typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) && Object.values(parsed).every((v) => v === null || typeof v === 'number');
  if (!ok) throw refuse(`metadata ${META_METRICS} is not a JSON object of numbers: ${text.slice(0, 80)}`);
  return parsed as Metrics;
}

/** Loads the model in ONNX Runtime and scores one row: a file that parses is not always one that runs. */
async function checkRuns(bytes: Uint8Array, featureCount: number, refuse: (why: string) => RtmlError): Promise<void> {
  let session: InferenceSession;
  try {
    session = await InferenceSession.create(bytes);
  } catch (err) {
    throw refuse(`ONNX Runtime cannot load it: ${firstLine(err)}`);
  }
  try {
    const out = await session.run({ [INPUT_NAME]: new Tensor('float32', new Float32Array(featureCount), [1, featureCount]) });
    const score = out[OUTPUT_NAME];
    if (score === undefined || score.data.length !== 1) throw new Error(`output "${OUTPUT_NAME}" has ${score?.data.length ?? 0} value(s) for one row`);
  } catch (err) {
    throw refuse(`ONNX Runtime cannot run it: ${firstLine(err)}`);
  } finally {
    await session.release();
  }
}

function firstLine(err: unknown): string {
  return errorMessage(err).split('\n')[0]!.trim();
}
